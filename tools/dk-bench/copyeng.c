/* SPDX-License-Identifier: MIT */
/*
 * P1-copy, P2-copy, P3-copy: the copy engine of the emulated board through the real stack.
 *
 * copy0 is dk-copy (the copy class on libdk-service) driving the dk-hwsim copy engine
 * (docs/devices/copy.md): a job is validated by the service, becomes a 32-byte descriptor in a
 * command ring in DMA memory, RING_TAIL and a doorbell (eventfd) hand it to the engine, which
 * runs on its own thread in the dk-hwsim process, copies through its DMA windows (the client's
 * registered buffers, mapped whole) and raises its interrupt (eventfd); the service harvests by
 * RING_HEAD and posts the completion. So a round trip crosses one more process than P1's null
 * service: client -> dk-copy -> dk-hwsim -> dk-copy -> client.
 *
 * The baselines are the same engine driven raw by one process (rawcopy.c): a device class is
 * judged against its own hardware's limit (PERF.md), and this hardware is a thread of another
 * process that sleeps until its doorbell, so a hand-over to it is a kernel wake-up whoever
 * drives it. What the figures measure is what DriverKit adds: the client's queue, the service's
 * validation against the session's buffers and rights, scheduling, the completion and fence.
 *
 * P1-copy: P1's loop (ring.c, bench_roundtrip_rep(), Normal QoS: the client blocks on the
 * fence) with a 4 KiB COPY, against raw-engine-roundtrip (the raw driver blocks on the
 * interrupt), judged by P1's goal (<= 1.3x).
 *
 * P2-copy: the same with Burst QoS (the client spins on its CQ, the service polls the engine),
 * against raw-engine-spin-roundtrip (the raw driver spins on COMPLETED), judged by P2's goal
 * (<= 3x).
 *
 * P3-copy: P3's loop (bench_batch_rep(): batches of 32, SQ 512 / CQ 1024, Burst QoS, windows of
 * 1024 completions) with 64-byte COPYs, against raw-engine-batch32 (the raw driver keeping the
 * engine's ring full, 32 per doorbell). P3's own goal (>= 1.5x io_uring) is a claim about
 * beating the kernel's submission path; a framework cannot beat the raw driver of the same
 * device, so the goal is P1's allowance turned round: at least 1/1.3 of the raw throughput.
 *
 * P1-copy's notes split the round trip at the completion's time stamps (struct bench_phases):
 * submit -> taken (the service's wake-up), taken -> started (0: one clock reading stamps both),
 * started -> completed (doorbell, the engine's thread, the copy, the interrupt, the service
 * harvesting and publishing), completed -> client (the client's wake-up).
 *
 * Both copy between two registered buffers of BENCH_COPY_BUF_BYTES (64 KiB), the slot advancing
 * with each job; when the queue opens, one copy of a pattern is checked byte for byte.
 */
#include <errno.h>
#include <string.h>

#include <dk/qos.h>
#include <dk/ring.h>
#include <dk/time.h>

#include "harness.h"
#include "stackbench.h"

#define P1_COPY_LEN 4096u
#define P3_COPY_LEN 64u

static struct bench_phases p1_copy_phases;

static const struct bench_queue copy_4k = {.kind = BENCH_QUEUE_STACK_COPY,
					   .copy_len = P1_COPY_LEN,
					   .phases = &p1_copy_phases};
static const struct bench_queue copy_4k_burst = {.kind = BENCH_QUEUE_STACK_COPY,
						 .copy_len = P1_COPY_LEN};
static const struct bench_queue copy_64 = {.kind = BENCH_QUEUE_STACK_COPY,
					   .copy_len = P3_COPY_LEN};

int bench_copy_check(struct stackbench_client *c, uint64_t len, struct bench_error *error)
{
	struct dk_sqe *sqe;
	struct dk_cqe cqe;
	uint64_t i;
	int ret;

	if (len >= c->buf_bytes)
		return bench_fail(error, -EINVAL, "copy check of %llu bytes",
				  (unsigned long long)len);
	for (i = 0; i < c->buf_bytes; i++)
		c->src_map[i] = (uint8_t)(i * 13 + 7);
	memset(c->dst_map, 0, c->buf_bytes);
	sqe = dk_ring_get_sqe(c->ring, NULL);
	if (!sqe)
		return bench_fail(error, -EAGAIN, "copy check: dk_ring_get_sqe");
	stackbench_sqe_copy(c, sqe, 0, 0, len, UINT64_MAX);
	ret = dk_ring_submit(c->ring);
	if (ret != 1)
		return bench_fail(error, ret < 0 ? ret : -EPROTO, "copy check: dk_ring_submit");
	ret = dk_ring_wait_cqe(c->ring, &cqe, dk_deadline_in(BENCH_WAIT_NS));
	if (ret < 0)
		return bench_fail(error, ret, "copy check: dk_ring_wait_cqe");
	if (cqe.status != 0 || cqe.result != len || cqe.user_data != UINT64_MAX)
		return bench_fail(error, cqe.status ? cqe.status : -EPROTO,
				  "copy check: status %d, reason %u, result %llu", cqe.status,
				  cqe.reason, (unsigned long long)cqe.result);
	if (memcmp(c->src_map, c->dst_map, len) != 0 || c->dst_map[len] != 0)
		return bench_fail(error, -EIO, "copy check: the destination is not the copy");
	return 0;
}

int bench_p1_copy(const struct bench_opts *opts, struct bench_samples *samples,
		  struct bench_error *error)
{
	return bench_roundtrip_rep(opts, DK_QOS_NORMAL, 0, &copy_4k, samples, error);
}

/* Notes of P1-copy: the median of each phase of the round trip (struct bench_phases). */
void bench_p1_copy_notes(FILE *out, bool json)
{
	static const char *const names[] = {
		"submit_to_taken", "taken_to_started", "started_to_completed", "completed_to_client",
	};
	struct bench_samples *ph[] = {
		&p1_copy_phases.to_taken, &p1_copy_phases.to_started,
		&p1_copy_phases.to_completed, &p1_copy_phases.to_client,
	};
	double med[4];
	struct bench_summary s;
	unsigned int i, n = 0;

	for (i = 0; i < 4; i++) {
		if (bench_summarize(ph[i], &s) < 0)
			break;
		med[n++] = s.median;
	}
	if (json) {
		bench_json_named_numbers(out, "phase_medians_us", names, med, n);
		return;
	}
	if (n == 4)
		fprintf(out,
			"    phases (medians): submit -> taken %.2f us, taken -> started %.2f us, "
			"started -> completed %.2f us, completed -> client %.2f us\n",
			med[0], med[1], med[2], med[3]);
}

int bench_p2_copy(const struct bench_opts *opts, struct bench_samples *samples,
		  struct bench_error *error)
{
	return bench_roundtrip_rep(opts, DK_QOS_BURST, 0, &copy_4k_burst, samples, error);
}

int bench_p3_copy(const struct bench_opts *opts, struct bench_samples *samples,
		  struct bench_error *error)
{
	return bench_batch_rep(opts, &copy_64, samples, error);
}
