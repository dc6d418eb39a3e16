/* SPDX-License-Identifier: MIT */
/*
 * P1, P2: submit -> complete round trip through the null service (nullsvc.h), Normal and Burst
 * QoS. One iteration: dk_ring_get_sqe() (a NOP), dk_ring_submit(), dk_ring_wait_cqe(); one
 * sample is the full round trip in microseconds, the metric of the *-roundtrip baselines.
 * Normal: the service sleeps in dk_ring_idle() and the client on the completion fence, so a
 * round trip is two kernel wake-ups, like the futex ping-pong -- except that Normal lets the
 * service poll 20 us before it sleeps (src/core/qos.c), so back-to-back round trips find it
 * awake. P1-idle therefore busy-waits BENCH_IDLE_GAP_NS before each submission, so the service
 * is asleep every time: the doorbell wake and the fence wake are both paid, and it is compared
 * with the futex ping-pong given the same gap. Burst: both sides spin first (the QoS spin
 * budgets), like the spin ping-pong.
 *
 * P3: batched submissions across processes, Burst QoS. The client keeps the SQ full: whenever
 * it has room for 32 entries it fills 32 NOPs and submits them with one dk_ring_submit(); it
 * reaps every completion available (dk_ring_peek_cqe()), and waits (dk_ring_wait_cqe()) only
 * when there is none. The service takes up to 64 entries per dk_ring_consume(), completes each
 * and publishes once per pass. One sample: the throughput over a window of P3_WINDOW
 * completions, in millions of entries per second.
 *
 * The same loops run on three kinds of queue (struct bench_queue): the forked null service
 * (P1, P1-idle, P2, P3), null0 of the real stack (P1-stack, P2-stack, P3-stack), and copy0 of
 * the real stack, whose jobs are COPYs between two registered buffers instead of NOPs (P1-copy,
 * P3-copy; copyeng.c).
 */
#include <errno.h>
#include <stdint.h>

#include <dk/qos.h>
#include <dk/ring.h>
#include <dk/time.h>

#include "bench.h"
#include "nullsvc.h"
#include "stackbench.h"

#define RTT_ENTRIES 64u
#define P3_BATCH 32u
#define P3_REAP 64u /* completions reaped per dk_ring_reap() */
#define P3_WINDOW 1024u
#define P3_SQ_ENTRIES 512u
#define P3_CQ_ENTRIES 1024u /* room for the service to run ahead while the client reaps */

const struct bench_queue bench_queue_nullsvc = {.kind = BENCH_QUEUE_NULLSVC};
const struct bench_queue bench_queue_stack_null = {.kind = BENCH_QUEUE_STACK_NULL};

/* The queue of one repetition: a forked null service, or null0 or copy0 of the real stack. */
struct rep_queue {
	enum bench_queue_kind kind;
	struct nullsvc_client c;
	struct stackbench_client s;
	struct dk_ring *ring;
	uint64_t copy_len; /* BENCH_QUEUE_STACK_COPY: the length of each COPY job */
};

static int rep_queue_open(const struct bench_opts *opts, const struct dk_ring_params *params,
			  uint64_t total, const struct bench_queue *what, struct rep_queue *q,
			  struct bench_error *error)
{
	int ret;

	q->kind = what->kind;
	q->copy_len = what->copy_len;
	switch (what->kind) {
	case BENCH_QUEUE_STACK_NULL:
		ret = stackbench_open(params, &q->s, error);
		q->ring = q->s.ring;
		break;
	case BENCH_QUEUE_STACK_COPY:
		if (!what->copy_len || BENCH_COPY_BUF_BYTES % what->copy_len)
			return bench_fail(error, -EINVAL, "copy length %llu",
					  (unsigned long long)what->copy_len);
		ret = stackbench_open_device("copy0", params, BENCH_COPY_BUF_BYTES, &q->s, error);
		q->ring = q->s.ring;
		if (ret == 0) {
			ret = bench_copy_check(&q->s, what->copy_len, error);
			if (ret < 0)
				stackbench_close(&q->s);
		}
		break;
	default:
		ret = nullsvc_start(opts, params, total, 0, &q->c, error);
		q->ring = q->c.ring;
		break;
	}
	return ret;
}

static int rep_queue_close(struct rep_queue *q, bool failed, struct bench_error *error)
{
	if (q->kind != BENCH_QUEUE_NULLSVC) {
		stackbench_close(&q->s);
		return 0;
	}
	return nullsvc_stop(&q->c, failed, error);
}

/*
 * The job number @n of a repetition: a NOP, or a COPY of q->copy_len bytes between the same
 * slot of the source and the destination buffer, the slots used in turn.
 */
static void rep_queue_fill(const struct rep_queue *q, struct dk_sqe *sqe, uint64_t n)
{
	uint64_t off;

	if (q->kind != BENCH_QUEUE_STACK_COPY) {
		nullsvc_sqe_nop(sqe, n);
		return;
	}
	off = n % (BENCH_COPY_BUF_BYTES / q->copy_len) * q->copy_len;
	stackbench_sqe_copy(&q->s, sqe, off, off, q->copy_len, n);
}

static int reserve_phases(struct bench_phases *ph, size_t n)
{
	if (bench_samples_reserve(&ph->to_taken, n) < 0 ||
	    bench_samples_reserve(&ph->to_started, n) < 0 ||
	    bench_samples_reserve(&ph->to_completed, n) < 0 ||
	    bench_samples_reserve(&ph->to_client, n) < 0)
		return -ENOMEM;
	return 0;
}

/* The microseconds from @a to @b, 0 when the clocks disagree (never negative). */
static double span_us(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) / 1000.0 : 0.0;
}

/* One round trip's phases: submitted at @t0, in the client's hands at @t1. */
static void push_phases(struct bench_phases *ph, const struct dk_cqe *cqe, uint64_t t0,
			uint64_t t1)
{
	bench_samples_push(&ph->to_taken, span_us(t0, cqe->t_taken_ns));
	bench_samples_push(&ph->to_started, span_us(cqe->t_taken_ns, cqe->t_started_ns));
	bench_samples_push(&ph->to_completed, span_us(cqe->t_started_ns, cqe->t_completed_ns));
	bench_samples_push(&ph->to_client, span_us(cqe->t_completed_ns, t1));
}

int bench_roundtrip_rep(const struct bench_opts *opts, uint32_t qos, uint64_t gap_ns,
			const struct bench_queue *what, struct bench_samples *samples,
			struct bench_error *error)
{
	const struct dk_ring_params params = {
		.sq_entries = RTT_ENTRIES,
		.cq_entries = RTT_ENTRIES,
		.qos = qos,
	};
	unsigned int warmup = bench_warmup_iters(opts);
	uint64_t total = (uint64_t)warmup + opts->iters, i, t0, t1;
	struct rep_queue q;
	struct dk_sqe proto = {0};
	struct dk_cqe cqe;
	int ret;

	ret = bench_samples_reserve(samples, opts->iters);
	if (ret < 0)
		return bench_fail(error, ret, "samples");
	ret = rep_queue_open(opts, &params, total, what, &q, error);
	if (ret < 0)
		return ret;
	if (what->phases && (ret = reserve_phases(what->phases, opts->iters)) < 0) {
		rep_queue_close(&q, true, error);
		return bench_fail(error, ret, "samples");
	}
	rep_queue_fill(&q, &proto, 0);
	for (i = 1; i <= total; i++) {
		bench_busy_wait(gap_ns);
		t0 = dk_now_ns();
		ret = nullsvc_roundtrip(q.ring, i, &proto, &cqe, error);
		if (ret < 0)
			break;
		t1 = dk_now_ns();
		if (i <= warmup)
			continue;
		bench_samples_push(samples, (double)(t1 - t0) / 1000.0);
		if (what->phases)
			push_phases(what->phases, &cqe, t0, t1);
	}
	if (rep_queue_close(&q, ret < 0, error) < 0 && ret == 0)
		ret = -EIO;
	return ret;
}

int bench_p1_roundtrip_normal(const struct bench_opts *opts, struct bench_samples *samples,
			      struct bench_error *error)
{
	return bench_roundtrip_rep(opts, DK_QOS_NORMAL, 0, &bench_queue_nullsvc, samples, error);
}

int bench_p1_stack(const struct bench_opts *opts, struct bench_samples *samples,
		   struct bench_error *error)
{
	return bench_roundtrip_rep(opts, DK_QOS_NORMAL, 0, &bench_queue_stack_null, samples,
				   error);
}

int bench_p2_stack(const struct bench_opts *opts, struct bench_samples *samples,
		   struct bench_error *error)
{
	return bench_roundtrip_rep(opts, DK_QOS_BURST, 0, &bench_queue_stack_null, samples, error);
}

int bench_p1_roundtrip_idle(const struct bench_opts *opts, struct bench_samples *samples,
			    struct bench_error *error)
{
	return bench_roundtrip_rep(opts, DK_QOS_NORMAL, BENCH_IDLE_GAP_NS, &bench_queue_nullsvc,
				   samples, error);
}

int bench_p2_roundtrip_burst(const struct bench_opts *opts, struct bench_samples *samples,
			     struct bench_error *error)
{
	return bench_roundtrip_rep(opts, DK_QOS_BURST, 0, &bench_queue_nullsvc, samples, error);
}

/* Windows of P3 run before measuring. */
static unsigned int p3_warmup_windows(const struct bench_opts *opts)
{
	unsigned int w = opts->iters / 10;

	return w < 10 ? 10 : w > 200 ? 200 : w;
}

/* Reap one completion of P3 (checked) and note the window it closes. */
static int p3_reaped(const struct dk_cqe *cqe, uint64_t *reaped, uint64_t warm_entries,
		     uint64_t *t_window, struct bench_samples *samples, struct bench_error *error)
{
	uint64_t now;

	if (cqe->status != 0)
		return bench_fail(error, cqe->status, "completion %llu",
				  (unsigned long long)cqe->user_data);
	if (++*reaped % P3_WINDOW)
		return 0;
	now = dk_now_ns();
	if (*reaped > warm_entries)
		bench_samples_push(samples, (double)P3_WINDOW * 1000.0 / (double)(now - *t_window));
	*t_window = now;
	return 0;
}

int bench_batch_rep(const struct bench_opts *opts, const struct bench_queue *what,
		    struct bench_samples *samples, struct bench_error *error)
{
	const struct dk_ring_params params = {
		.sq_entries = P3_SQ_ENTRIES,
		.cq_entries = P3_CQ_ENTRIES,
		.qos = DK_QOS_BURST,
	};
	uint64_t warm = (uint64_t)p3_warmup_windows(opts) * P3_WINDOW;
	uint64_t total = warm + (uint64_t)opts->iters * P3_WINDOW;
	uint64_t submitted = 0, reaped = 0, t_window, before;
	struct rep_queue q;
	struct dk_cqe cqe, cqes[P3_REAP];
	struct dk_sqe *sqe;
	unsigned int k;
	int ret;

	ret = bench_samples_reserve(samples, opts->iters);
	if (ret < 0)
		return bench_fail(error, ret, "samples");
	ret = rep_queue_open(opts, &params, total, what, &q, error);
	if (ret < 0)
		return ret;
	t_window = dk_now_ns();
	while (reaped < total) {
		/* Keep the SQ full, 32 entries per submit. */
		while (submitted < total && dk_ring_sq_space(q.ring) >= P3_BATCH) {
			for (k = 0; k < P3_BATCH; k++) {
				sqe = dk_ring_get_sqe(q.ring, NULL);
				if (!sqe) {
					ret = bench_fail(error, -EAGAIN, "dk_ring_get_sqe");
					goto out;
				}
				rep_queue_fill(&q, sqe, submitted + k + 1);
			}
			ret = dk_ring_submit(q.ring);
			if (ret != (int)P3_BATCH) {
				ret = bench_fail(error, ret < 0 ? ret : -EPROTO, "dk_ring_submit");
				goto out;
			}
			submitted += P3_BATCH;
		}
		/* Reap everything there is; wait only when there is nothing. */
		before = reaped;
		while ((ret = dk_ring_reap(q.ring, cqes, P3_REAP)) > 0) {
			for (k = 0; k < (unsigned int)ret; k++) {
				int r2 = p3_reaped(&cqes[k], &reaped, warm, &t_window, samples,
						   error);

				if (r2 < 0) {
					ret = r2;
					goto out;
				}
			}
		}
		if (ret < 0) {
			bench_fail(error, ret, "dk_ring_reap");
			goto out;
		}
		if (reaped == before) {
			ret = dk_ring_wait_cqe(q.ring, &cqe, dk_deadline_in(BENCH_WAIT_NS));
			if (ret < 0) {
				bench_fail(error, ret, "dk_ring_wait_cqe (%llu reaped)",
					   (unsigned long long)reaped);
				goto out;
			}
			ret = p3_reaped(&cqe, &reaped, warm, &t_window, samples, error);
			if (ret < 0)
				goto out;
		}
	}
out:
	if (rep_queue_close(&q, ret < 0, error) < 0 && ret == 0)
		ret = -EIO;
	return ret;
}

int bench_p3_batch32(const struct bench_opts *opts, struct bench_samples *samples,
		     struct bench_error *error)
{
	return bench_batch_rep(opts, &bench_queue_nullsvc, samples, error);
}

int bench_p3_stack(const struct bench_opts *opts, struct bench_samples *samples,
		   struct bench_error *error)
{
	return bench_batch_rep(opts, &bench_queue_stack_null, samples, error);
}
