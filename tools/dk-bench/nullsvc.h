/* SPDX-License-Identifier: MIT */
/*
 * The null service of the ring figures (P1, P2, P3, P5, P7, P8): a forked process that owns
 * rings and completes every submission at once with status 0, as a device class's `null`
 * backend does, and the client side that attaches to its rings.
 *
 * Set-up, as the runtime will do it: the service creates the ring (dk_ring_create()) and sends
 * the client, over an AF_UNIX SOCK_SEQPACKET socket, first the ring's memfd (one message, raw
 * SCM_RIGHTS, a small header as payload), then a wait-only handle of the completion fence
 * (dk_fence_send()). The client attaches with dk_ring_attach(). For P5 the client then sends
 * buffers (dk_buffer_send()); the service registers them in a dk_htable and answers with their
 * indices (one message of uint32_t), and from then on validates every submission with
 * dk_ring_check_sqe() before completing it.
 *
 * The service serves a known number of submissions (the client submits exactly that many),
 * then waits for the client to close its end of the socket, so the parent can still read the
 * service's /proc entries (CPU time, RSS) after the last completion.
 */
#ifndef DK_BENCH_NULLSVC_H
#define DK_BENCH_NULLSVC_H

#include <stdatomic.h>
#include <stdint.h>

#include <dk/ring.h>

#include "bench.h"

struct dk_buffer;

#define NULLSVC_MAX_BUFFERS 4u
/* The tag of the i-th buffer a client sends (dk_buffer_send()). */
#define NULLSVC_TAG_BUFFER 16u

/* What one service child does (the argument of nullsvc_child()). */
struct nullsvc_arg {
	int sock;        /* the service's end */
	int parent_sock; /* the client's end, closed in the child */
	struct dk_ring_params params;
	uint64_t total;         /* submissions to serve before waiting for the client to go */
	unsigned int n_buffers; /* buffers to receive and register first (<= NULLSVC_MAX_BUFFERS) */
};

/* bench_child_fn: create the ring, send it, (register buffers), serve, wait for EOF. */
int nullsvc_child(void *arg, struct bench_error *error);

/*
 * nullsvc_send_ring - send @ring's memfd and a wait-only handle of its completion fence.
 * Returns 0 or a negative errno with @error filled in.
 */
int nullsvc_send_ring(int sock, struct dk_ring *ring, struct bench_error *error);

/*
 * nullsvc_serve - complete @total submissions from @rings, sleeping in dk_ring_idle() over all
 * of them when none has work. @tables: per ring, a handle table to validate entries against
 * with dk_ring_check_sqe() (NULL: no validation). @progress: optional, the count served so
 * far, stored after every pass (for a parent watching the service).
 */
int nullsvc_serve(struct dk_ring *const *rings, uint32_t n, uint64_t total,
		  struct dk_htable *const *tables, _Atomic uint64_t *progress,
		  struct bench_error *error);

/* nullsvc_wait_eof - wait (bounded) until the peer closes @sock. */
int nullsvc_wait_eof(int sock, struct bench_error *error);

/*
 * nullsvc_attach - the client side of nullsvc_send_ring(): receive the memfd and the fence
 * and attach. Returns 0 and the ring (caller owns it: dk_ring_destroy()).
 */
int nullsvc_attach(int sock, struct dk_ring **ret_ring, struct bench_error *error);

/* A client connected to a service child. */
struct nullsvc_client {
	struct bench_peer peer;
	int sock;
	struct dk_ring *ring;
};

/*
 * nullsvc_start - fork a service child serving @total submissions on a ring of @params,
 * registering @n_buffers buffers first, and attach to its ring.
 * Returns 0 and @ret_client (end it with nullsvc_stop()).
 */
int nullsvc_start(const struct bench_opts *opts, const struct dk_ring_params *params,
		  uint64_t total, unsigned int n_buffers, struct nullsvc_client *ret_client,
		  struct bench_error *error);

/*
 * nullsvc_stop - detach, close the socket (the service then exits) and reap the service,
 * killing it when @failed. Returns 0 or a negative errno (the service failed).
 */
int nullsvc_stop(struct nullsvc_client *client, bool failed, struct bench_error *error);

/*
 * nullsvc_send_buffers - send @n buffers with @rights to the service (which must have been
 * started with @n buffers) and receive their registered indices in @ret_index.
 */
int nullsvc_send_buffers(struct nullsvc_client *client, struct dk_buffer *const *buffers,
			 unsigned int n, uint32_t rights, uint32_t *ret_index,
			 struct bench_error *error);

/* nullsvc_sqe_nop - fill a zeroed entry as a NOP with no buffers or fences. */
void nullsvc_sqe_nop(struct dk_sqe *sqe, uint64_t user_data);

/*
 * nullsvc_roundtrip - one submit -> complete round trip: dk_ring_get_sqe(), fill it from
 * @proto (NULL: a NOP), dk_ring_submit(), dk_ring_wait_cqe(); checks the completion
 * (status 0, @user_data echoed) and copies it to @ret_cqe (optional).
 */
int nullsvc_roundtrip(struct dk_ring *ring, uint64_t user_data, const struct dk_sqe *proto,
		      struct dk_cqe *ret_cqe, struct bench_error *error);

#endif /* DK_BENCH_NULLSVC_H */
