/* SPDX-License-Identifier: MIT */
/*
 * dk/frame.h - versioned control-plane frames.
 *
 * Every control-plane message in DriverKit is one frame: a fixed 24-byte little-endian header
 * followed by a payload. The layout (docs/abi.md, "Frames"):
 *
 *   offset size field
 *        0    4 magic        DK_FRAME_MAGIC ("DKF1" in memory order)
 *        4    2 major        ABI major version; a frame of another major is refused
 *        6    2 minor        ABI minor version of the sender
 *        8    2 opcode       message type, defined by the protocol that carries the frame
 *       10    2 flags        DK_FRAME_F_*; unknown bits are refused
 *       12    4 length       payload length in bytes (<= DK_FRAME_MAX_PAYLOAD)
 *       16    8 seq          request id chosen by the sender, echoed by replies
 *       24    - payload
 *
 * Version rules (CONTRACTS section 10): a different major is refused; a minor newer than ours
 * is accepted for opcodes we know, and payload bytes past what we understand are ignored; an
 * opcode we do not know is refused cleanly (-EOPNOTSUPP) without touching anything else.
 *
 * The decoder is bounded and total: every input of any length either decodes into a frame
 * whose fields are all checked, or is refused with -EPROTO (malformed) or -EOPNOTSUPP (well
 * formed, unknown opcode) and a detail code saying which rule failed.
 */
#ifndef DK_FRAME_H
#define DK_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DK_FRAME_MAGIC 0x31464b44u /* "DKF1" */
#define DK_FRAME_HEADER_SIZE 24u
#define DK_FRAME_MAX_PAYLOAD 4096u
#define DK_FRAME_MAX_SIZE (DK_FRAME_HEADER_SIZE + DK_FRAME_MAX_PAYLOAD)

/* Frame flags. */
enum dk_frame_flag {
	DK_FRAME_F_REPLY = 1u << 0, /* this frame answers the request with the same seq */
	DK_FRAME_F_ERROR = 1u << 1, /* a reply carrying an error (payload: struct dk_frame_error) */
	DK_FRAME_F_FDS = 1u << 2,   /* file descriptors travel with this frame (SCM_RIGHTS) */
};
#define DK_FRAME_F_KNOWN (DK_FRAME_F_REPLY | DK_FRAME_F_ERROR | DK_FRAME_F_FDS)

/* Which rule a refused frame broke; stable values, for diagnostics and tests. */
enum dk_frame_detail {
	DK_FRAME_OK = 0,
	DK_FRAME_ERR_SHORT = 1,          /* fewer bytes than a header */
	DK_FRAME_ERR_MAGIC = 2,          /* wrong magic */
	DK_FRAME_ERR_MAJOR = 3,          /* another major version */
	DK_FRAME_ERR_FLAGS = 4,          /* unknown flag bits, or ERROR without REPLY */
	DK_FRAME_ERR_LENGTH = 5,         /* length field larger than DK_FRAME_MAX_PAYLOAD */
	DK_FRAME_ERR_TRUNCATED = 6,      /* fewer payload bytes than the length field says */
	DK_FRAME_ERR_TRAILING = 7,       /* bytes after the payload */
	DK_FRAME_ERR_UNKNOWN_OPCODE = 8, /* opcode not in the protocol (-EOPNOTSUPP) */
	DK_FRAME_ERR_PAYLOAD_SIZE = 9,   /* payload size outside the opcode's bounds */
	DK_FRAME_ERR_MINOR = 10,         /* opcode introduced in a minor newer than the sender's */
};

/*
 * One opcode of a protocol: the payload it carries at the minor version that introduced it.
 * A frame from a sender with our minor (or older) must carry between min_payload and
 * max_payload bytes; a sender with a newer minor may append bytes up to DK_FRAME_MAX_PAYLOAD,
 * which the receiver ignores.
 */
struct dk_frame_opdesc {
	uint16_t opcode;
	uint16_t since_minor; /* minor version that introduced the opcode */
	uint32_t min_payload;
	uint32_t max_payload; /* <= DK_FRAME_MAX_PAYLOAD */
	const char *name;     /* for diagnostics */
};

/* A protocol: the opcodes one kind of endpoint accepts. Static, caller-owned. */
struct dk_frame_proto {
	const char *name;
	uint16_t minor; /* our minor version of this protocol */
	uint16_t n_ops;
	const struct dk_frame_opdesc *ops;
};

/* A decoded frame. @payload points into the caller's input buffer. */
struct dk_frame {
	uint16_t major;
	uint16_t minor;
	uint16_t opcode;
	uint16_t flags;
	uint32_t length; /* payload bytes present */
	uint64_t seq;
	const uint8_t *payload;
	uint32_t known_length; /* bytes of payload this receiver understands (<= length) */
	const struct dk_frame_opdesc *op;
};

/* Payload of a reply with DK_FRAME_F_ERROR. */
struct dk_frame_error {
	int32_t error;   /* negative errno */
	uint32_t reason; /* enum dk_reason */
};
#define DK_FRAME_ERROR_PAYLOAD 8u

/*
 * dk_frame_encode - write a frame into @buf.
 * @buf, @buf_size: destination; must hold DK_FRAME_HEADER_SIZE + @payload_len bytes.
 * @opcode, @flags, @seq: header fields; the version is DK_ABI_MAJOR / @proto->minor (or
 *   DK_ABI_MINOR when @proto is NULL).
 * @payload, @payload_len: payload bytes (may be NULL when @payload_len is 0).
 * Returns the frame size in bytes; -EINVAL for unknown flags, ERROR without REPLY, or a NULL
 * payload with a non-zero length; -EMSGSIZE if the payload is
 * larger than DK_FRAME_MAX_PAYLOAD, -ENOSPC if @buf is too small. Nothing is written on error.
 */
DK_EXPORT int dk_frame_encode(void *buf, size_t buf_size, const struct dk_frame_proto *proto,
			      uint16_t opcode, uint16_t flags, uint64_t seq, const void *payload,
			      size_t payload_len);

/*
 * dk_frame_decode - check and decode exactly one frame.
 * @buf, @len: the bytes received (one datagram / seqpacket record).
 * @proto: the protocol the receiver speaks; opcodes outside it are refused.
 * @ret_frame: the decoded frame, pointing into @buf (written only on success).
 * @ret_detail: optional; which rule failed (DK_FRAME_OK on success). Written always if non-NULL.
 * Returns 0; -EPROTO for a malformed frame; -EOPNOTSUPP for a well-formed frame whose opcode
 * @proto does not know (checked before payload sizes). Error replies (DK_FRAME_F_ERROR) are
 * checked against DK_FRAME_ERROR_PAYLOAD rather than the opcode's bounds, and not against the
 * opcode's since_minor, so an older peer can refuse an opcode it does not know yet.
 */
DK_EXPORT int dk_frame_decode(const void *buf, size_t len, const struct dk_frame_proto *proto,
			      struct dk_frame *ret_frame, enum dk_frame_detail *ret_detail);

/* dk_frame_detail_name - a stable short name for a detail code ("truncated", ...). */
DK_EXPORT const char *dk_frame_detail_name(enum dk_frame_detail detail);

/*
 * dk_frame_find_op - the descriptor of @opcode in @proto, or NULL.
 */
DK_EXPORT const struct dk_frame_opdesc *dk_frame_find_op(const struct dk_frame_proto *proto,
							 uint16_t opcode);

#ifdef __cplusplus
}
#endif

#endif /* DK_FRAME_H */
