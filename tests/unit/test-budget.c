/* SPDX-License-Identifier: MIT */
/* Budgets: refusals change nothing; releases never underflow. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dk/budget.h>

static struct dk_budget *mk(uint64_t bytes, uint32_t buffers, uint32_t inflight)
{
	struct dk_budget_limits l = {bytes, buffers, inflight};
	struct dk_budget *b = NULL;

	assert_int_equal(dk_budget_create(&l, &b), 0);
	return b;
}

static void test_create_refuses_zero_limits(void **state)
{
	struct dk_budget_limits l = {0, 1, 1};
	struct dk_budget *b = NULL;

	(void)state;
	assert_int_equal(dk_budget_create(&l, &b), -EINVAL);
	assert_int_equal(dk_budget_create(NULL, &b), -EINVAL);
	assert_null(b);
}

static void test_charge_within_limits(void **state)
{
	struct dk_budget *b = mk(100, 2, 1);
	struct dk_budget_usage u;

	(void)state;
	assert_int_equal(dk_budget_charge(b, 60, 1), 0);
	assert_int_equal(dk_budget_charge(b, 40, 1), 0);
	dk_budget_usage(b, &u);
	assert_int_equal(u.bytes, 100);
	assert_int_equal(u.buffers, 2);
	dk_budget_destroy(b);
}

static void test_refusal_changes_nothing(void **state)
{
	struct dk_budget *b = mk(100, 2, 1);
	struct dk_budget_usage before, after;

	(void)state;
	assert_int_equal(dk_budget_charge(b, 60, 1), 0);
	dk_budget_usage(b, &before);
	/* Over on bytes only, over on buffers only: neither counter moves. */
	assert_int_equal(dk_budget_charge(b, 41, 1), -ENOSPC);
	assert_int_equal(dk_budget_charge(b, 1, 2), -ENOSPC);
	dk_budget_usage(b, &after);
	assert_int_equal(after.bytes, before.bytes);
	assert_int_equal(after.buffers, before.buffers);
	assert_int_equal(after.refusals, before.refusals + 2);
	dk_budget_destroy(b);
}

static void test_huge_charge_does_not_wrap(void **state)
{
	struct dk_budget *b = mk(UINT64_MAX, UINT32_MAX, 1);
	struct dk_budget_usage u;

	(void)state;
	assert_int_equal(dk_budget_charge(b, UINT64_MAX - 5, 1), 0);
	/* Would wrap around to a small number: refused as overflow, not accepted. */
	assert_int_equal(dk_budget_charge(b, 10, 1), -EOVERFLOW);
	dk_budget_usage(b, &u);
	assert_int_equal(u.bytes, UINT64_MAX - 5);
	assert_int_equal(u.buffers, 1);
	dk_budget_destroy(b);
}

static void test_release_never_underflows(void **state)
{
	struct dk_budget *b = mk(100, 4, 1);
	struct dk_budget_usage u;

	(void)state;
	assert_int_equal(dk_budget_charge(b, 10, 1), 0);
	assert_int_equal(dk_budget_release(b, 11, 1), -EOVERFLOW);
	assert_int_equal(dk_budget_release(b, 10, 2), -EOVERFLOW);
	dk_budget_usage(b, &u);
	assert_int_equal(u.bytes, 10);
	assert_int_equal(u.buffers, 1);
	assert_int_equal(dk_budget_release(b, 10, 1), 0);
	assert_int_equal(dk_budget_release(b, 0, 1), -EOVERFLOW);
	dk_budget_usage(b, &u);
	assert_int_equal(u.bytes, 0);
	assert_int_equal(u.buffers, 0);
	dk_budget_destroy(b);
}

static void test_inflight_bound(void **state)
{
	struct dk_budget *b = mk(100, 4, 2);
	struct dk_budget_usage u;

	(void)state;
	assert_int_equal(dk_budget_inflight_acquire(b), 0);
	assert_int_equal(dk_budget_inflight_acquire(b), 0);
	assert_int_equal(dk_budget_inflight_acquire(b), -ENOSPC);
	dk_budget_usage(b, &u);
	assert_int_equal(u.inflight, 2);
	assert_int_equal(dk_budget_inflight_release(b), 0);
	assert_int_equal(dk_budget_inflight_release(b), 0);
	assert_int_equal(dk_budget_inflight_release(b), -EOVERFLOW);
	dk_budget_usage(b, &u);
	assert_int_equal(u.inflight, 0);
	dk_budget_destroy(b);
}

static void test_ids_unique(void **state)
{
	struct dk_budget *a = mk(1, 1, 1), *b = mk(1, 1, 1);

	(void)state;
	assert_true(dk_budget_id(a) != dk_budget_id(b));
	assert_true(dk_budget_id(a) != 0);
	dk_budget_destroy(a);
	dk_budget_destroy(b);
	dk_budget_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_refuses_zero_limits),
		cmocka_unit_test(test_charge_within_limits),
		cmocka_unit_test(test_refusal_changes_nothing),
		cmocka_unit_test(test_huge_charge_does_not_wrap),
		cmocka_unit_test(test_release_never_underflows),
		cmocka_unit_test(test_inflight_bound),
		cmocka_unit_test(test_ids_unique),
	};

	return cmocka_run_group_tests_name("budget", tests, NULL, NULL);
}
