/* SPDX-License-Identifier: MIT */
/*
 * dk/msg.h - one frame and its descriptors over a SOCK_SEQPACKET socket.
 *
 * Every control-plane conversation of the runtime (supervisor, broker, device sessions) is a
 * sequence of frames (dk/frame.h), each one seqpacket record, optionally carrying descriptors
 * (SCM_RIGHTS, flag DK_FRAME_F_FDS). These helpers make sending, receiving and the
 * request/reply pattern the same everywhere, with a deadline on every wait.
 *
 * A received message is checked completely before anyone sees it: the frame against the
 * protocol table, the descriptor count against DK_MSG_MAX_FDS, and the FDS flag against the
 * descriptors actually attached (a frame that lies about descriptors is -EPROTO and every
 * descriptor that came with it is closed).
 */
#ifndef DK_MSG_H
#define DK_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include <dk/common.h>
#include <dk/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DK_MSG_MAX_FDS 4u

/* A received message. The frame's payload points into @buf. */
struct dk_msg {
	struct dk_frame frame;
	int fds[DK_MSG_MAX_FDS]; /* owned by the receiver: take them or dk_msg_close_fds() */
	uint32_t n_fds;
	/* Header fields read before validation, so a refusal can still be answered: valid
	 * whenever at least a header arrived (@have_header), whatever the error. */
	bool have_header;
	uint16_t raw_opcode;
	uint64_t raw_seq;
	uint8_t buf[DK_FRAME_MAX_SIZE + 1];
};

/*
 * dk_msg_send - send one frame with @n_fds descriptors (DK_FRAME_F_FDS is set when @n_fds > 0).
 * Waits for room until @deadline_ns (0: never waits, -EAGAIN when the socket is full).
 * The descriptors stay the caller's.
 * Returns 0; -EINVAL (bad arguments, more than DK_MSG_MAX_FDS); -EMSGSIZE; -ETIMEDOUT;
 * -EAGAIN; -EPIPE (peer gone); another send errno.
 */
DK_EXPORT int dk_msg_send(int sock, const struct dk_frame_proto *proto, uint16_t opcode,
			  uint16_t flags, uint64_t seq, const void *payload, size_t len,
			  const int *fds, uint32_t n_fds, uint64_t deadline_ns);

/*
 * dk_msg_recv - receive and check one message, waiting until @deadline_ns (0: never waits).
 * Returns 0; -EAGAIN (deadline 0 and nothing there); -ETIMEDOUT; -EPIPE (peer closed);
 * -EPROTO (malformed frame, truncated record, descriptors that do not match the FDS flag or
 * exceed DK_MSG_MAX_FDS: all closed); -EOPNOTSUPP (unknown opcode; descriptors closed).
 * @ret_detail: optional; which frame rule failed.
 */
DK_EXPORT int dk_msg_recv(int sock, const struct dk_frame_proto *proto, uint64_t deadline_ns,
			  struct dk_msg *msg, enum dk_frame_detail *ret_detail);

/* dk_msg_close_fds - close every descriptor still held by @msg (taken ones set to -1). */
DK_EXPORT void dk_msg_close_fds(struct dk_msg *msg);

/*
 * dk_msg_reply_error - answer request (@opcode, @seq) with an error reply (@err < 0, @reason).
 * Never waits: -EAGAIN when the peer's socket is full. Returns 0 or -errno.
 */
DK_EXPORT int dk_msg_reply_error(int sock, const struct dk_frame_proto *proto, uint16_t opcode,
				 uint64_t seq, int err, uint32_t reason);

/*
 * dk_msg_call - send a request and wait for its reply (the same opcode and seq with
 * DK_FRAME_F_REPLY), until @deadline_ns. Frames that are not this reply are refused (-EPROTO):
 * a request/reply connection carries one outstanding request at a time.
 * @reply_proto: the table replies are checked against (reply payloads differ from requests).
 * @ret_reason: optional; the reason of an error reply (DK_REASON_NONE otherwise).
 * Returns 0 with @reply filled (its descriptors are the caller's); the peer's error (< 0) for
 * an error reply; the errors of dk_msg_send() and dk_msg_recv().
 */
DK_EXPORT int dk_msg_call(int sock, const struct dk_frame_proto *proto,
			  const struct dk_frame_proto *reply_proto, uint16_t opcode,
			  const void *payload, size_t len, const int *fds, uint32_t n_fds,
			  uint64_t deadline_ns, struct dk_msg *reply, uint32_t *ret_reason);

#ifdef __cplusplus
}
#endif

#endif /* DK_MSG_H */
