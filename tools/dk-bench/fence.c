/* SPDX-License-Identifier: MIT */
/*
 * P4: fence signal -> waiter wakes, other process.
 *
 * The parent creates fences A and B and passes them to a child over an AF_UNIX SOCK_SEQPACKET
 * socket (dk_fence_send / dk_handle_recv): A wait-only (which seals it; the parent keeps its
 * writable mapping), B signal-only. Iteration i: the parent signals A to i and waits for B to
 * reach i; the child waits for A to reach i (blocking dk_fence_wait(), no spin) and signals B
 * to i. One sample: half the round trip in microseconds, the same metric as the futex-wake
 * baseline. Every wait has an absolute deadline BENCH_WAIT_NS away.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/buffer.h>
#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/time.h>
#include <dk/transfer.h>

#include "bench.h"

enum { TAG_A = 1, TAG_B = 2 };

struct p4_child_arg {
	int sock;        /* the child's end */
	int parent_sock; /* the parent's end, closed in the child */
	unsigned int total;
};

/* Receive the fence tagged @tag carrying at least @rights. */
static int recv_fence(int sock, struct dk_buffer_registry *reg, uint64_t tag, uint32_t rights,
		      struct dk_fence **ret_fence, struct bench_error *error)
{
	struct dk_handle h;
	int ret;

	ret = dk_handle_recv(sock, dk_deadline_in(BENCH_WAIT_NS), reg, NULL, &h);
	if (ret < 0)
		return bench_fail(error, ret, "peer: dk_handle_recv");
	if (h.type != DK_HANDLE_FENCE || h.tag != tag || !dk_rights_has(h.rights, rights)) {
		if (h.type == DK_HANDLE_BUFFER)
			dk_buffer_release(h.buffer);
		dk_fence_unref(h.fence);
		return bench_fail(error, -EPROTO, "peer: unexpected handle (type %u, tag %llu)",
				  h.type, (unsigned long long)h.tag);
	}
	*ret_fence = h.fence;
	return 0;
}

static int p4_child(void *arg, struct bench_error *error)
{
	const struct p4_child_arg *a = arg;
	struct dk_buffer_registry *reg = NULL;
	struct dk_fence *fa = NULL, *fb = NULL;
	unsigned int i;
	int ret;

	close(a->parent_sock);
	ret = dk_buffer_registry_create(NULL, &reg);
	if (ret < 0) {
		bench_fail(error, ret, "peer: dk_buffer_registry_create");
		goto out;
	}
	ret = recv_fence(a->sock, reg, TAG_A, DK_RIGHT_WAIT, &fa, error);
	if (ret < 0)
		goto out;
	ret = recv_fence(a->sock, reg, TAG_B, DK_RIGHT_SIGNAL, &fb, error);
	if (ret < 0)
		goto out;
	for (i = 1; i <= a->total; i++) {
		ret = dk_fence_wait(fa, i, dk_deadline_in(BENCH_WAIT_NS));
		if (ret < 0) {
			bench_fail(error, ret, "peer: dk_fence_wait(A, %u)", i);
			goto out;
		}
		ret = dk_fence_signal(fb, i);
		if (ret < 0) {
			bench_fail(error, ret, "peer: dk_fence_signal(B, %u)", i);
			goto out;
		}
	}
out:
	dk_fence_unref(fb);
	dk_fence_unref(fa);
	dk_buffer_registry_destroy(reg);
	close(a->sock);
	return ret;
}

/* The parent's side: pass the fences, then ping-pong. */
static int p4_parent(const struct bench_opts *opts, int sock, unsigned int warmup,
		     struct bench_samples *samples, struct bench_error *error)
{
	struct dk_fence *fa = NULL, *fb = NULL;
	uint64_t t0, t1, i;
	int ret;

	ret = dk_fence_create(0, &fa);
	if (ret < 0)
		return bench_fail(error, ret, "dk_fence_create(A)");
	ret = dk_fence_create(0, &fb);
	if (ret < 0) {
		bench_fail(error, ret, "dk_fence_create(B)");
		goto out;
	}
	ret = dk_fence_send(sock, fa, DK_RIGHT_WAIT, TAG_A);
	if (ret < 0) {
		bench_fail(error, ret, "dk_fence_send(A)");
		goto out;
	}
	ret = dk_fence_send(sock, fb, DK_RIGHT_SIGNAL, TAG_B);
	if (ret < 0) {
		bench_fail(error, ret, "dk_fence_send(B)");
		goto out;
	}
	for (i = 1; i <= (uint64_t)warmup + opts->iters; i++) {
		t0 = dk_now_ns();
		ret = dk_fence_signal(fa, i);
		if (ret < 0) {
			bench_fail(error, ret, "dk_fence_signal(A, %llu)", (unsigned long long)i);
			goto out;
		}
		ret = dk_fence_wait(fb, i, dk_deadline_in(BENCH_WAIT_NS));
		if (ret < 0) {
			bench_fail(error, ret, "dk_fence_wait(B, %llu)", (unsigned long long)i);
			goto out;
		}
		t1 = dk_now_ns();
		if (i > warmup)
			bench_samples_push(samples, (double)(t1 - t0) / 2.0 / 1000.0);
	}
out:
	dk_fence_unref(fb);
	dk_fence_unref(fa);
	return ret;
}

int bench_p4_fence_wake(const struct bench_opts *opts, struct bench_samples *samples,
			struct bench_error *error)
{
	unsigned int warmup = bench_warmup_iters(opts);
	struct bench_peer peer = {0};
	struct p4_child_arg arg;
	int sv[2], ret;

	ret = bench_samples_reserve(samples, opts->iters);
	if (ret < 0)
		return bench_fail(error, ret, "samples");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return bench_fail(error, -errno, "socketpair");
	arg = (struct p4_child_arg){
		.sock = sv[1],
		.parent_sock = sv[0],
		.total = warmup + opts->iters,
	};
	ret = bench_peer_start(opts, p4_child, &arg, &peer, error);
	close(sv[1]);
	if (ret < 0)
		goto out_close;
	ret = p4_parent(opts, sv[0], warmup, samples, error);
	if (bench_peer_finish(&peer, ret < 0, error) < 0 && ret == 0)
		ret = -EIO;
out_close:
	close(sv[0]);
	return ret;
}
