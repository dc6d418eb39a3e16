/* SPDX-License-Identifier: MIT */
/*
 * frame-fuzz.c - libFuzzer target for dk_frame_decode() and the payload reader.
 *
 * Every input is decoded against a small protocol. A frame that decodes must re-encode to the
 * very same bytes, and its payload is walked with a dk_wire_reader the way a handler would.
 * Any inconsistency aborts, so the fuzzer (or the corpus replay) reports it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dk/frame.h>
#include <dk/wire.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	OP_PING = 1,  /* no payload */
	OP_OPEN = 2,  /* fixed: u32 flags, u64 handle, u32 mode */
	OP_WRITE = 3, /* variable: u32 offset, string name, bytes */
	OP_FENCE = 4, /* fixed: u64 point; introduced in minor 1 */
};

static const struct dk_frame_opdesc fuzz_ops[] = {
    {.opcode = OP_PING, .since_minor = 0, .min_payload = 0, .max_payload = 0, .name = "ping"},
    {.opcode = OP_OPEN, .since_minor = 0, .min_payload = 16, .max_payload = 16, .name = "open"},
    {.opcode = OP_WRITE, .since_minor = 0, .min_payload = 6, .max_payload = 512, .name = "write"},
    {.opcode = OP_FENCE, .since_minor = 1, .min_payload = 8, .max_payload = 8, .name = "fence"},
};

static const struct dk_frame_proto fuzz_proto = {
    .name = "fuzz",
    .minor = 1,
    .n_ops = sizeof(fuzz_ops) / sizeof(fuzz_ops[0]),
    .ops = fuzz_ops,
};

#define check(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* Re-encode @f with the sender's minor and compare with the input. */
static void check_round_trip(const struct dk_frame *f, const uint8_t *data, size_t size)
{
	static uint8_t out[DK_FRAME_MAX_SIZE];
	struct dk_frame_proto sender = fuzz_proto;
	int n;

	sender.minor = f->minor;
	n = dk_frame_encode(out, sizeof(out), &sender, f->opcode, f->flags, f->seq, f->payload,
			    f->length);
	check(n >= 0 && (size_t)n == size);
	check(memcmp(out, data, size) == 0);

	/* One byte less of room is refused and leaves the buffer alone. */
	memset(out, 0xa5, size);
	check(dk_frame_encode(out, size - 1, &sender, f->opcode, f->flags, f->seq, f->payload,
			      f->length) == -ENOSPC);
	for (size_t i = 0; i < size; i++)
		check(out[i] == 0xa5);
}

/* Walk the payload the way a handler for each opcode would. */
static void read_payload(const struct dk_frame *f)
{
	struct dk_wire_reader r;
	uint8_t rest[64];
	char name[32];
	size_t left, len;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	if (f->flags & DK_FRAME_F_ERROR) {
		int32_t err = (int32_t)dk_wire_get_u32(&r);
		uint32_t reason = dk_wire_get_u32(&r);

		/* known_length is exactly the error payload: both reads succeed. */
		check(dk_wire_reader_error(&r) == 0 && dk_wire_reader_left(&r) == 0);
		(void)err;
		(void)reason;
		return;
	}

	switch (f->opcode) {
	case OP_PING:
		check(dk_wire_reader_left(&r) == 0);
		break;
	case OP_OPEN:
		(void)dk_wire_get_u32(&r);
		(void)dk_wire_get_u64(&r);
		(void)dk_wire_get_u32(&r);
		check(dk_wire_reader_error(&r) == 0 && dk_wire_reader_left(&r) == 0);
		break;
	case OP_WRITE:
		(void)dk_wire_get_u32(&r);
		len = dk_wire_get_string(&r, name, sizeof(name));
		if (dk_wire_reader_error(&r) == 0) {
			check(len < sizeof(name) && strlen(name) == len);
		} else {
			check(len == 0 && name[0] == '\0' && dk_wire_reader_left(&r) == 0);
			break;
		}
		left = dk_wire_reader_left(&r);
		dk_wire_get_bytes(&r, rest, left < sizeof(rest) ? left : sizeof(rest));
		check(dk_wire_reader_error(&r) == 0);
		/* Reading past the end is refused, sticky, and yields zeros. */
		if (dk_wire_reader_left(&r) == 0) {
			check(dk_wire_get_u16(&r) == 0);
			check(dk_wire_reader_error(&r) == -EPROTO);
			check(dk_wire_get_u8(&r) == 0);
		}
		break;
	case OP_FENCE:
		(void)dk_wire_get_u64(&r);
		check(dk_wire_reader_error(&r) == 0 && dk_wire_reader_left(&r) == 0);
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dk_frame f;
	enum dk_frame_detail detail = DK_FRAME_OK;
	int ret;

	memset(&f, 0x5a, sizeof(f));
	ret = dk_frame_decode(data, size, &fuzz_proto, &f, &detail);
	check(dk_frame_detail_name(detail) != NULL);
	if (ret < 0) {
		check(ret == -EPROTO || ret == -EOPNOTSUPP);
		check(detail != DK_FRAME_OK);
		check((ret == -EOPNOTSUPP) == (detail == DK_FRAME_ERR_UNKNOWN_OPCODE));
		check(strcmp(dk_frame_detail_name(detail), "unknown") != 0);
		return 0;
	}

	check(detail == DK_FRAME_OK);
	check(f.major == DK_ABI_MAJOR);
	check(f.length <= DK_FRAME_MAX_PAYLOAD && size == DK_FRAME_HEADER_SIZE + f.length);
	check(f.payload == data + DK_FRAME_HEADER_SIZE);
	check(f.known_length <= f.length);
	check(f.op == dk_frame_find_op(&fuzz_proto, f.opcode) && f.op != NULL);
	check(!(f.flags & ~DK_FRAME_F_KNOWN));
	if (f.minor <= fuzz_proto.minor)
		check(f.known_length == f.length);

	check_round_trip(&f, data, size);
	read_payload(&f);
	return 0;
}
