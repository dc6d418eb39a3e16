/* SPDX-License-Identifier: MIT */
/*
 * dk/transfer.h - passing buffers and fences between processes.
 *
 * A handle travels as one frame (dk/frame.h, opcode DK_OP_HANDLE of the core protocol) on an
 * AF_UNIX SOCK_SEQPACKET socket, with its descriptors attached (SCM_RIGHTS). The frame says
 * what the sender claims (object type, rights, size); the receiver checks every descriptor
 * against that claim with the kernel (fstat, F_GETFL, F_GET_SEALS, the fence page's magic) and
 * refuses anything that does not match. Received descriptors are closed on every refusal.
 */
#ifndef DK_TRANSFER_H
#define DK_TRANSFER_H

#include <stdint.h>

#include <dk/common.h>
#include <dk/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dk_buffer;
struct dk_buffer_registry;
struct dk_budget;
struct dk_fence;
struct dk_ring;

/* Opcodes of the core protocol. */
enum dk_core_op {
	DK_OP_HANDLE = 0x0001,
};

/* Payload of DK_OP_HANDLE, 32 bytes, little-endian. */
enum dk_handle_type {
	DK_HANDLE_BUFFER = 1,
	DK_HANDLE_FENCE = 2,
	DK_HANDLE_RING = 3, /* the queue's memfd, then its completion fence (wait-only) */
};
#define DK_HANDLE_PAYLOAD 32u
#define DK_HANDLE_F_SEALED (1u << 0) /* buffer: the sender says it is sealed read-only */

/* The core protocol's frame table, for dk_frame_decode(). */
DK_EXPORT extern const struct dk_frame_proto dk_core_proto;

/* A received handle: exactly one of @buffer / @fence / @ring is set, as @type says. */
struct dk_handle {
	uint32_t type;   /* enum dk_handle_type */
	uint32_t rights; /* the rights the handle carries */
	uint64_t tag;    /* the sender's frame seq, echoed for matching */
	struct dk_buffer *buffer;
	struct dk_fence *fence;
	struct dk_ring *ring; /* the producer (client) side, attached */
};

/*
 * dk_buffer_send - send @buffer with @rights (dk_buffer_export() rules) and @tag.
 * Returns 0; the errors of dk_buffer_export(); -EMSGSIZE / -EPIPE / another send errno.
 * Counts the frame as control bytes and the buffer size as bulk bytes.
 */
DK_EXPORT int dk_buffer_send(int sock, struct dk_buffer *buffer, uint32_t rights, uint64_t tag);

/* dk_fence_send - send @fence with @rights (dk_fence_export() rules) and @tag. */
DK_EXPORT int dk_fence_send(int sock, struct dk_fence *fence, uint32_t rights, uint64_t tag);

/*
 * dk_ring_send - send the queue @ring (the service side) to its client: the memfd, and a
 * wait-only handle of its completion fence (which seals the fence: only the service signals).
 */
DK_EXPORT int dk_ring_send(int sock, struct dk_ring *ring, uint64_t tag);

/*
 * dk_handle_recv - receive one handle, waiting until @deadline_ns.
 * @registry, @budget: where a received buffer is registered and charged.
 * A ring arrives attached (dk_ring_attach() checks the memfd and its header).
 * Returns 0 and the handle (caller owns the object in it); -ETIMEDOUT; -EPROTO for a malformed
 * or lying frame (wrong descriptor count, type, size); -EBADF for a descriptor that is not what
 * the frame claims; -EPIPE when the peer closed; the errors of dk_buffer_import().
 */
DK_EXPORT int dk_handle_recv(int sock, uint64_t deadline_ns,
			     struct dk_buffer_registry *registry, struct dk_budget *budget,
			     struct dk_handle *ret_handle);

#ifdef __cplusplus
}
#endif

#endif /* DK_TRANSFER_H */
