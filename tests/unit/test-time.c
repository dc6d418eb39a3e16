/* SPDX-License-Identifier: MIT */
/* Deadlines: mandatory, capped; a past deadline is valid (it polls). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dk/time.h>

static void test_now_monotonic(void **state)
{
	uint64_t a = dk_now_ns(), b = dk_now_ns();

	(void)state;
	assert_true(a > 0);
	assert_true(b >= a);
}

/*
 * The fast clock tracks CLOCK_MONOTONIC: every reading lies between a clock read just before
 * and one just after it, give or take the bound dk/time.h documents (2000 counter ticks, 1 us
 * at 2 GHz; FAST_SLACK_NS leaves room for a 0.4 GHz counter), and never goes back. Run over
 * 30 ms of readings: past the first rate measurement (~4 ms here), across many re-anchorings
 * (every 2^22 counter ticks, ~2 ms here). When the clock reads are too slow to calibrate on
 * (sanitizers, valgrind) the fast clock is dk_now_ns() itself, and the bounds hold trivially.
 */
#define FAST_SLACK_NS 5000u
#define FAST_SPAN_NS (30ull * DK_NSEC_PER_MSEC)

static void test_now_fast_tracks_monotonic(void **state)
{
	uint64_t start = dk_now_ns(), before = start, fast, after, prev = 0, n = 0;

	(void)state;
	while (before - start < FAST_SPAN_NS) {
		before = dk_now_ns();
		fast = dk_now_fast_ns();
		after = dk_now_ns();
		assert_true(fast + FAST_SLACK_NS >= before);
		assert_true(fast <= after + FAST_SLACK_NS);
		assert_true(fast >= prev);
		prev = fast;
		/* Readings in a row, as on a hot path: extrapolated, not sampled. */
		for (int i = 0; i < 64; i++) {
			fast = dk_now_fast_ns();
			assert_true(fast >= prev);
			prev = fast;
		}
		n++;
	}
	assert_true(n > 0);
}

static void test_deadline_check(void **state)
{
	uint64_t now = dk_now_ns();

	(void)state;
	assert_int_equal(dk_deadline_check(0), -EINVAL);
	assert_int_equal(dk_deadline_check(1), 0); /* in the past: acceptable */
	assert_int_equal(dk_deadline_check(now + DK_NSEC_PER_SEC), 0);
	assert_int_equal(dk_deadline_check(now + DK_WAIT_MAX_NS + DK_NSEC_PER_SEC), -EINVAL);
	assert_int_equal(dk_deadline_check(UINT64_MAX), -EINVAL);
}

static void test_deadline_in_clamps(void **state)
{
	(void)state;
	assert_int_equal(dk_deadline_check(dk_deadline_in(UINT64_MAX)), 0);
	assert_int_equal(dk_deadline_check(dk_deadline_in(0)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_now_monotonic),
		cmocka_unit_test(test_now_fast_tracks_monotonic),
		cmocka_unit_test(test_deadline_check),
		cmocka_unit_test(test_deadline_in_clamps),
	};

	return cmocka_run_group_tests_name("time", tests, NULL, NULL);
}
