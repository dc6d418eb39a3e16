/* SPDX-License-Identifier: MIT */
/*
 * Fence stress, run under ThreadSanitizer in CI: many threads signalling and waiting at once.
 * A lost wake-up shows as a wait that reaches its (generous) deadline, which fails the test;
 * nothing here depends on timing to pass.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <dk/error.h>
#include <dk/fence.h>
#include <dk/time.h>
#include <dk/waitset.h>

#define SIGNALLERS 4
#define WAITERS 6
#define TICKETS 40000u
#define PINGPONG 20000u

struct shared {
	struct dk_fence *f;
	_Atomic uint64_t next_ticket;
	_Atomic int failures;
};

static void *signaller(void *p)
{
	struct shared *s = p;
	uint64_t t;
	int r;

	while ((t = atomic_fetch_add(&s->next_ticket, 1)) <= TICKETS) {
		r = dk_fence_signal(s->f, t);
		/* Another signaller may already be past t: refused, never rolled back. */
		if (r != 0 && r != -EINVAL)
			atomic_fetch_add(&s->failures, 1);
	}
	return NULL;
}

static void *waiter(void *p)
{
	struct shared *s = p;
	uint64_t target = 0;
	unsigned int seed = (unsigned int)(uintptr_t)&target;

	while (target < TICKETS) {
		target += 1 + (uint64_t)(rand_r(&seed) % 97);
		if (target > TICKETS)
			target = TICKETS;
		if (dk_fence_wait(s->f, target, dk_deadline_in(60 * DK_NSEC_PER_SEC)) != 0)
			atomic_fetch_add(&s->failures, 1);
	}
	return NULL;
}

static void test_many_signallers_many_waiters(void **state)
{
	pthread_t sig[SIGNALLERS], w[WAITERS];
	struct shared s = {0};
	struct dk_fence_state st;

	(void)state;
	assert_int_equal(dk_fence_create(0, &s.f), 0);
	atomic_init(&s.next_ticket, 1);
	for (int i = 0; i < WAITERS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, waiter, &s), 0);
	for (int i = 0; i < SIGNALLERS; i++)
		assert_int_equal(pthread_create(&sig[i], NULL, signaller, &s), 0);
	for (int i = 0; i < SIGNALLERS; i++)
		pthread_join(sig[i], NULL);
	/* The highest ticket may have lost to nobody: make sure the end is signalled. */
	assert_int_equal(dk_fence_signal(s.f, TICKETS), 0);
	for (int i = 0; i < WAITERS; i++)
		pthread_join(w[i], NULL);
	assert_int_equal(atomic_load(&s.failures), 0);
	assert_int_equal(dk_fence_query(s.f, &st), 0);
	assert_int_equal(st.value, TICKETS);
	dk_fence_unref(s.f);
}

struct pingpong {
	struct dk_fence *ping, *pong;
	_Atomic int failures;
};

static void *ponger(void *p)
{
	struct pingpong *pp = p;

	for (uint64_t i = 1; i <= PINGPONG; i++) {
		if (dk_fence_wait(pp->ping, i, dk_deadline_in(60 * DK_NSEC_PER_SEC)) != 0 ||
		    dk_fence_signal(pp->pong, i) != 0) {
			atomic_fetch_add(&pp->failures, 1);
			break;
		}
	}
	return NULL;
}

static void test_pingpong_no_lost_wakeup(void **state)
{
	struct pingpong pp = {0};
	pthread_t t;

	(void)state;
	assert_int_equal(dk_fence_create(0, &pp.ping), 0);
	assert_int_equal(dk_fence_create(0, &pp.pong), 0);
	assert_int_equal(pthread_create(&t, NULL, ponger, &pp), 0);
	for (uint64_t i = 1; i <= PINGPONG; i++) {
		assert_int_equal(dk_fence_signal(pp.ping, i), 0);
		assert_int_equal(dk_fence_wait(pp.pong, i, dk_deadline_in(60 * DK_NSEC_PER_SEC)), 0);
	}
	pthread_join(t, NULL);
	assert_int_equal(atomic_load(&pp.failures), 0);
	dk_fence_unref(pp.ping);
	dk_fence_unref(pp.pong);
}

struct errwait {
	struct dk_fence *f;
	int result;
	uint32_t reason;
};

static void *error_waiter(void *p)
{
	struct errwait *e = p;

	e->result = dk_fence_wait(e->f, 1000000, dk_deadline_in(60 * DK_NSEC_PER_SEC));
	dk_fence_status(e->f, 1000000, &e->reason);
	return NULL;
}

static void *racing_error(void *p)
{
	struct errwait *e = p;

	/* Several signallers race to report an error: exactly one record wins, whole. */
	dk_fence_signal_error(e->f, UINT64_MAX, -ENODEV, DK_REASON_DRIVER_CRASHED);
	return NULL;
}

static void test_racing_errors_one_record(void **state)
{
	struct errwait e[8], racer = {0};
	pthread_t t[8], r[4];
	struct dk_fence_state st;
	struct dk_fence *f;

	(void)state;
	assert_int_equal(dk_fence_create(0, &f), 0);
	racer.f = f;
	for (int i = 0; i < 8; i++) {
		e[i] = (struct errwait){.f = f};
		assert_int_equal(pthread_create(&t[i], NULL, error_waiter, &e[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&r[i], NULL, racing_error, &racer), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(r[i], NULL);
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(e[i].result, -ENODEV);
		assert_int_equal(e[i].reason, DK_REASON_DRIVER_CRASHED);
	}
	assert_int_equal(dk_fence_query(f, &st), 0);
	assert_int_equal(st.error, -ENODEV);
	assert_int_equal(st.error_point, 1);
	dk_fence_unref(f);
}

struct wsarg {
	struct dk_fence **f;
	int n;
	_Atomic int failures;
};

static void *waitset_waiter(void *p)
{
	struct wsarg *a = p;
	struct dk_waitset *ws;
	struct dk_waitset_result r;
	uint64_t seen = 0;

	if (dk_waitset_create((uint32_t)a->n, &ws) < 0) {
		atomic_fetch_add(&a->failures, 1);
		return NULL;
	}
	for (int i = 0; i < a->n; i++)
		dk_waitset_add_fence(ws, a->f[i], 1, (uint64_t)i);
	/* Each fence is signalled once; the waitset reports each as it comes. */
	while (seen != (1ull << a->n) - 1) {
		if (dk_waitset_wait(ws, DK_WAIT_ANY, dk_deadline_in(60 * DK_NSEC_PER_SEC), &r) != 0) {
			atomic_fetch_add(&a->failures, 1);
			break;
		}
		seen |= 1ull << r.index;
		dk_waitset_remove(ws, (uint32_t)r.index);
	}
	dk_waitset_destroy(ws);
	return NULL;
}

static void test_waitsets_under_concurrent_signals(void **state)
{
	struct dk_fence *f[16];
	struct wsarg a = {.f = f, .n = 16};
	pthread_t t[3];

	(void)state;
	for (int i = 0; i < 16; i++)
		assert_int_equal(dk_fence_create(0, &f[i]), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, waitset_waiter, &a), 0);
	for (int i = 15; i >= 0; i--)
		assert_int_equal(dk_fence_signal(f[i], 1), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&a.failures), 0);
	for (int i = 0; i < 16; i++)
		dk_fence_unref(f[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_signallers_many_waiters),
		cmocka_unit_test(test_pingpong_no_lost_wakeup),
		cmocka_unit_test(test_racing_errors_one_record),
		cmocka_unit_test(test_waitsets_under_concurrent_signals),
	};

	return cmocka_run_group_tests_name("stress-fence", tests, NULL, NULL);
}
