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
		cmocka_unit_test(test_deadline_check),
		cmocka_unit_test(test_deadline_in_clamps),
	};

	return cmocka_run_group_tests_name("time", tests, NULL, NULL);
}
