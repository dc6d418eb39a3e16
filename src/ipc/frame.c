/* SPDX-License-Identifier: MIT */
/*
 * frame.c - encode and decode control-plane frames (dk/frame.h).
 *
 * The header is read and written byte by byte in little-endian order: no struct is laid over
 * the input, no load is unaligned, and the host byte order does not matter. The decoder checks
 * the rules of dk/frame.h in a fixed order, so every input maps to exactly one detail code.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <dk/frame.h>

/* Header field offsets (dk/frame.h, docs/abi.md "Frames"). */
enum {
	FRAME_OFF_MAGIC = 0,
	FRAME_OFF_MAJOR = 4,
	FRAME_OFF_MINOR = 6,
	FRAME_OFF_OPCODE = 8,
	FRAME_OFF_FLAGS = 10,
	FRAME_OFF_LENGTH = 12,
	FRAME_OFF_SEQ = 16,
};

static uint16_t load_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_le64(const uint8_t *p)
{
	return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

static void store_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void store_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void store_le64(uint8_t *p, uint64_t v)
{
	store_le32(p, (uint32_t)v);
	store_le32(p + 4, (uint32_t)(v >> 32));
}

/* Flag combinations a frame may carry: known bits only, and ERROR only on a REPLY. */
static int check_flags(uint16_t flags)
{
	if (flags & ~(uint16_t)DK_FRAME_F_KNOWN)
		return -EINVAL;
	if ((flags & DK_FRAME_F_ERROR) && !(flags & DK_FRAME_F_REPLY))
		return -EINVAL;
	return 0;
}

int dk_frame_encode(void *buf, size_t buf_size, const struct dk_frame_proto *proto, uint16_t opcode,
		    uint16_t flags, uint64_t seq, const void *payload, size_t payload_len)
{
	uint8_t *out = buf;

	if (check_flags(flags) < 0)
		return -EINVAL;
	if (payload_len > DK_FRAME_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (payload_len > 0 && !payload)
		return -EINVAL;
	/* payload_len <= DK_FRAME_MAX_PAYLOAD, so the sum cannot overflow. */
	if (!buf || buf_size < DK_FRAME_HEADER_SIZE + payload_len)
		return -ENOSPC;

	store_le32(out + FRAME_OFF_MAGIC, DK_FRAME_MAGIC);
	store_le16(out + FRAME_OFF_MAJOR, DK_ABI_MAJOR);
	store_le16(out + FRAME_OFF_MINOR, proto ? proto->minor : DK_ABI_MINOR);
	store_le16(out + FRAME_OFF_OPCODE, opcode);
	store_le16(out + FRAME_OFF_FLAGS, flags);
	store_le32(out + FRAME_OFF_LENGTH, (uint32_t)payload_len);
	store_le64(out + FRAME_OFF_SEQ, seq);
	if (payload_len > 0)
		memmove(out + DK_FRAME_HEADER_SIZE, payload, payload_len);

	return (int)(DK_FRAME_HEADER_SIZE + payload_len);
}

const struct dk_frame_opdesc *dk_frame_find_op(const struct dk_frame_proto *proto, uint16_t opcode)
{
	if (!proto || !proto->ops)
		return NULL;
	for (uint16_t i = 0; i < proto->n_ops; i++) {
		if (proto->ops[i].opcode == opcode)
			return &proto->ops[i];
	}
	return NULL;
}

/*
 * Check the payload size of a frame whose opcode is known. @newer says the sender speaks a
 * newer minor than @proto, in which case bytes past @max are allowed and ignored. Writes the
 * number of bytes this receiver understands to @ret_known.
 */
static enum dk_frame_detail check_payload(uint32_t length, uint32_t min, uint32_t max, bool newer,
					  uint32_t *ret_known)
{
	if (length < min)
		return DK_FRAME_ERR_PAYLOAD_SIZE;
	if (!newer && length > max)
		return DK_FRAME_ERR_PAYLOAD_SIZE;
	*ret_known = length < max ? length : max;
	return DK_FRAME_OK;
}

static int frame_refuse(enum dk_frame_detail detail, enum dk_frame_detail *ret_detail)
{
	if (ret_detail)
		*ret_detail = detail;
	return detail == DK_FRAME_ERR_UNKNOWN_OPCODE ? -EOPNOTSUPP : -EPROTO;
}

int dk_frame_decode(const void *buf, size_t len, const struct dk_frame_proto *proto,
		    struct dk_frame *ret_frame, enum dk_frame_detail *ret_detail)
{
	const uint8_t *in = buf;
	const struct dk_frame_opdesc *op;
	enum dk_frame_detail detail;
	struct dk_frame f;
	bool newer;

	if (!in || len < DK_FRAME_HEADER_SIZE)
		return frame_refuse(DK_FRAME_ERR_SHORT, ret_detail);
	if (load_le32(in + FRAME_OFF_MAGIC) != DK_FRAME_MAGIC)
		return frame_refuse(DK_FRAME_ERR_MAGIC, ret_detail);

	f.major = load_le16(in + FRAME_OFF_MAJOR);
	f.minor = load_le16(in + FRAME_OFF_MINOR);
	f.opcode = load_le16(in + FRAME_OFF_OPCODE);
	f.flags = load_le16(in + FRAME_OFF_FLAGS);
	f.length = load_le32(in + FRAME_OFF_LENGTH);
	f.seq = load_le64(in + FRAME_OFF_SEQ);

	if (f.major != DK_ABI_MAJOR)
		return frame_refuse(DK_FRAME_ERR_MAJOR, ret_detail);
	if (check_flags(f.flags) < 0)
		return frame_refuse(DK_FRAME_ERR_FLAGS, ret_detail);
	if (f.length > DK_FRAME_MAX_PAYLOAD)
		return frame_refuse(DK_FRAME_ERR_LENGTH, ret_detail);
	/* f.length <= DK_FRAME_MAX_PAYLOAD, so the sum cannot overflow. */
	if (len < DK_FRAME_HEADER_SIZE + (size_t)f.length)
		return frame_refuse(DK_FRAME_ERR_TRUNCATED, ret_detail);
	if (len > DK_FRAME_HEADER_SIZE + (size_t)f.length)
		return frame_refuse(DK_FRAME_ERR_TRAILING, ret_detail);

	/*
	 * The opcode is looked up first, for error replies too: a reply to an opcode we do not
	 * know cannot answer anything we sent.
	 */
	op = dk_frame_find_op(proto, f.opcode);
	if (!op)
		return frame_refuse(DK_FRAME_ERR_UNKNOWN_OPCODE, ret_detail);

	newer = f.minor > proto->minor;
	if (f.flags & DK_FRAME_F_ERROR) {
		/*
		 * An error reply carries struct dk_frame_error whatever the opcode; the opcode's
		 * since_minor is not checked, since a peer may answer an opcode it does not know
		 * with an error.
		 */
		detail = check_payload(f.length, DK_FRAME_ERROR_PAYLOAD, DK_FRAME_ERROR_PAYLOAD,
				       newer, &f.known_length);
	} else if (op->since_minor > f.minor) {
		detail = DK_FRAME_ERR_MINOR;
	} else {
		detail = check_payload(f.length, op->min_payload, op->max_payload, newer,
				       &f.known_length);
	}
	if (detail != DK_FRAME_OK)
		return frame_refuse(detail, ret_detail);

	f.payload = in + DK_FRAME_HEADER_SIZE;
	f.op = op;

	*ret_frame = f;
	if (ret_detail)
		*ret_detail = DK_FRAME_OK;
	return 0;
}

const char *dk_frame_detail_name(enum dk_frame_detail detail)
{
	switch (detail) {
	case DK_FRAME_OK:
		return "ok";
	case DK_FRAME_ERR_SHORT:
		return "short";
	case DK_FRAME_ERR_MAGIC:
		return "magic";
	case DK_FRAME_ERR_MAJOR:
		return "major";
	case DK_FRAME_ERR_FLAGS:
		return "flags";
	case DK_FRAME_ERR_LENGTH:
		return "length";
	case DK_FRAME_ERR_TRUNCATED:
		return "truncated";
	case DK_FRAME_ERR_TRAILING:
		return "trailing";
	case DK_FRAME_ERR_UNKNOWN_OPCODE:
		return "unknown-opcode";
	case DK_FRAME_ERR_PAYLOAD_SIZE:
		return "payload-size";
	case DK_FRAME_ERR_MINOR:
		return "minor";
	}
	return "unknown";
}
