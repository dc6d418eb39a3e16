/* SPDX-License-Identifier: MIT */
/*
 * Ring stress, run under ThreadSanitizer in CI: a producer thread and a consumer thread on one
 * ring, random batch sizes on both sides, completions out of order and across batches, and an
 * exact account at the end. A lost wake-up shows as a wait reaching its (generous) deadline,
 * which fails the test; nothing here depends on timing to pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/error.h>
#include <dk/fence.h>
#include <dk/qos.h>
#include <dk/rights.h>
#include <dk/ring.h>
#include <dk/time.h>

#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#ifdef UNDER_TSAN
#define TOTAL 200000u
#else
#define TOTAL 1000000u
#endif

#define WAIT_NS (60 * DK_NSEC_PER_SEC)
#define HOLD_MAX 64u /* jobs the consumer may keep in flight across batches */

static uint64_t ud(uint64_t ticket)
{
	return ticket * 0x9e3779b97f4a7c15ull ^ 0x5a5a5a5aull;
}

struct run {
	struct dk_ring *c, *p;
	uint32_t depth;
	/* Results, each written by one thread and read after the join. */
	uint64_t consumer_taken;
	uint64_t producer_reaped;
	int consumer_error; /* 0 or the line of the first failure */
	int producer_error;
	uint8_t *seen; /* producer: tickets reaped */
};

#define FAIL(slot)                                                                                 \
	do {                                                                                       \
		(slot) = __LINE__;                                                                 \
		return NULL;                                                                       \
	} while (0)

static void *consumer(void *arg)
{
	struct run *r = arg;
	struct dk_ring_job *held = calloc(r->depth + HOLD_MAX, sizeof(*held));
	uint32_t n_held = 0;
	unsigned int seed = 3;
	uint64_t taken = 0;

	if (!held)
		FAIL(r->consumer_error);
	while (taken < TOTAL || n_held > 0) {
		uint32_t max = 1 + (uint32_t)(rand_r(&seed) % r->depth), keep;
		int n = 0;

		if (taken < TOTAL) {
			/* Sleep only with nothing in hand: held jobs are what the producer waits
			 * for. */
			if (n_held == 0) {
				uint64_t deadline = dk_deadline_in(WAIT_NS);
				int w = dk_ring_idle(&r->c, 1, deadline);

				if (w == 0 && dk_now_ns() < deadline) {
					/* dk_ring_idle() returns 0 only at the deadline. */
					r->consumer_error = __LINE__;
					break;
				}
				if (w != 1) {
					r->consumer_error = __LINE__;
					break;
				}
			}
			n = dk_ring_consume(r->c, held + n_held, max);
			if (n < 0) {
				r->consumer_error = __LINE__;
				break;
			}
			for (int i = 0; i < n; i++) {
				const struct dk_ring_job *j = &held[n_held + (uint32_t)i];

				taken++;
				if (j->ticket != taken || j->sqe.user_data != ud(taken) ||
				    j->sqe.param != taken) {
					r->consumer_error = __LINE__;
					goto out;
				}
			}
			n_held += (uint32_t)n;
		}
		/* Complete a random subset in random order; keep the rest for later, unless
		 * nothing new came in (then finish everything, so nobody waits on us). */
		keep = n > 0 ? (uint32_t)(rand_r(&seed) % (HOLD_MAX + 1)) : 0;
		while (n_held > keep) {
			uint32_t pick = (uint32_t)(rand_r(&seed) % n_held);
			const struct dk_ring_job *j = &held[pick];

			if (dk_ring_complete(r->c, j, 0, 0, j->ticket, 0) != 0) {
				r->consumer_error = __LINE__;
				goto out;
			}
			/* A double completion is refused, whatever the order. */
			if ((j->ticket & 1023) == 0 && dk_ring_complete(r->c, j, 0, 0, 0, 0) != -EINVAL) {
				r->consumer_error = __LINE__;
				goto out;
			}
			held[pick] = held[--n_held];
		}
		if (dk_ring_publish(r->c) != 0) {
			r->consumer_error = __LINE__;
			break;
		}
	}
out:
	r->consumer_taken = taken;
	free(held);
	return NULL;
}

static int reap(struct run *r, const struct dk_cqe *cqe)
{
	if (cqe->ticket < 1 || cqe->ticket > TOTAL || r->seen[cqe->ticket] ||
	    cqe->user_data != ud(cqe->ticket) || cqe->result != cqe->ticket || cqe->status != 0)
		return -1;
	r->seen[cqe->ticket] = 1;
	r->producer_reaped++;
	return 0;
}

static void *producer(void *arg)
{
	struct run *r = arg;
	unsigned int seed = 5;
	uint64_t next = 1, iter = 0;
	struct dk_cqe cqe;

	while (r->producer_reaped < TOTAL) {
		uint32_t k = 0, got = 0, space;
		int ret;

		iter++;
		if (next <= TOTAL) {
			k = 1 + (uint32_t)(rand_r(&seed) % r->depth);
			if (k > TOTAL - next + 1)
				k = (uint32_t)(TOTAL - next + 1);
			/* One reading: the consumer may free more between two. */
			space = dk_ring_sq_space(r->p);
			if (k > space)
				k = space;
			for (uint32_t i = 0; i < k; i++) {
				uint64_t t = 0;
				struct dk_sqe *sqe = dk_ring_get_sqe(r->p, &t);

				if (!sqe || t != next)
					FAIL(r->producer_error);
				sqe->user_data = ud(t);
				sqe->param = t;
				next++;
			}
			if (k && dk_ring_submit(r->p) != (int)k)
				FAIL(r->producer_error);
		}
		while ((ret = dk_ring_peek_cqe(r->p, &cqe)) == 0) {
			if (reap(r, &cqe) < 0)
				FAIL(r->producer_error);
			got++;
		}
		if (ret != -EAGAIN)
			FAIL(r->producer_error);
		if (got || (k && next <= TOTAL))
			continue;
		/* Nothing reaped, nothing submitted. Space may never come while the consumer
		 * waits for us to reap, so waiting for space has a short deadline; a completion
		 * always comes, so waiting for one has a long one. */
		if (next <= TOTAL && (iter & 1)) {
			ret = dk_ring_submit_wait(r->p, 1, dk_deadline_in(DK_NSEC_PER_MSEC));
			if (ret != 0 && ret != -ETIMEDOUT)
				FAIL(r->producer_error);
		} else {
			ret = dk_ring_wait_cqe(r->p, &cqe, dk_deadline_in(WAIT_NS));
			if (ret != 0 || reap(r, &cqe) < 0)
				FAIL(r->producer_error);
		}
	}
	return NULL;
}

static void run_pair(uint32_t sq, uint32_t cq, uint32_t qos)
{
	struct dk_ring_params prm = {.sq_entries = sq, .cq_entries = cq, .qos = qos};
	struct dk_ring_stats cs, ps;
	struct dk_fence_state fs;
	struct dk_fence *w;
	struct run r;
	pthread_t tc, tp;
	int fd;

	static uint8_t seen[TOTAL + 1]; /* static: nothing leaks when a check fails */

	memset(&r, 0, sizeof(r));
	memset(seen, 0, sizeof(seen));
	r.depth = sq;
	r.seen = seen;
	assert_int_equal(dk_ring_create(&prm, &r.c), 0);
	fd = fcntl(dk_ring_fd(r.c), F_DUPFD_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(dk_fence_dup(dk_ring_fence(r.c), DK_RIGHT_WAIT, &w), 0);
	assert_int_equal(dk_ring_attach(fd, w, &r.p), 0);

	assert_int_equal(pthread_create(&tc, NULL, consumer, &r), 0);
	assert_int_equal(pthread_create(&tp, NULL, producer, &r), 0);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);

	if (r.producer_error || r.consumer_error) {
		/* Say where each side stopped (the lines are in this file). */
		dk_ring_stats(r.c, &cs);
		dk_ring_stats(r.p, &ps);
		fprintf(stderr,
			"ring-threads: producer failed at line %d, consumer at line %d; consumer took "
			"%llu, completed %llu; producer submitted %llu, reaped %llu\n",
			r.producer_error, r.consumer_error, (unsigned long long)cs.submitted,
			(unsigned long long)cs.completed, (unsigned long long)ps.submitted,
			(unsigned long long)ps.completed);
	}
	assert_int_equal(r.producer_error, 0);
	assert_int_equal(r.consumer_error, 0);
	assert_int_equal(r.consumer_taken, TOTAL);
	assert_int_equal(r.producer_reaped, TOTAL);
	for (uint64_t t = 1; t <= TOTAL; t++)
		assert_int_equal(r.seen[t], 1);
	dk_ring_stats(r.c, &cs);
	dk_ring_stats(r.p, &ps);
	assert_int_equal(cs.submitted, TOTAL);
	assert_int_equal(cs.completed, TOTAL);
	assert_int_equal(cs.abandoned, 0);
	assert_int_equal(cs.inflight, 0);
	assert_int_equal(cs.broken, 0);
	assert_int_equal(ps.submitted, TOTAL);
	assert_int_equal(ps.completed, TOTAL);
	assert_int_equal(dk_fence_query(w, &fs), 0);
	assert_int_equal(fs.value, TOTAL);
	assert_int_equal(fs.error, 0);
	{
		struct dk_cqe cqe;

		assert_int_equal(dk_ring_peek_cqe(r.p, &cqe), -EAGAIN);
	}
	dk_fence_unref(w);
	dk_ring_destroy(r.p);
	dk_ring_destroy(r.c);
}

static void test_burst_equal_queues(void **state)
{
	(void)state;
	run_pair(64, 64, DK_QOS_BURST);
}

static void test_normal_larger_cq(void **state)
{
	(void)state;
	run_pair(32, 128, DK_QOS_NORMAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_equal_queues),
		cmocka_unit_test(test_normal_larger_cq),
	};

	return cmocka_run_group_tests_name("stress-ring", tests, NULL, NULL);
}
