/* SPDX-License-Identifier: MIT */
/*
 * QoS classes: only the three typed values are accepted (never clamped), each maps to a target
 * in-flight depth (Frugal 1, Normal about half the ring, Burst the whole ring, always >= 1),
 * and only Frugal gathers submissions over a coalescing window.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <dk/qos.h>

static const uint32_t valid[] = {DK_QOS_FRUGAL, DK_QOS_NORMAL, DK_QOS_BURST};
static const uint32_t invalid[] = {0, 4, 5, 255, 256, 0x80000000u, UINT32_MAX};

static void test_check_valid_classes(void **state)
{
	(void)state;
	assert_int_equal(DK_QOS_FRUGAL, 1);
	assert_int_equal(DK_QOS_NORMAL, 2);
	assert_int_equal(DK_QOS_BURST, 3);
	for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
		assert_int_equal(dk_qos_check(valid[i]), 0);
}

static void test_check_invalid_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		assert_int_equal(dk_qos_check(invalid[i]), -EINVAL);
}

static void test_params_invalid_untouched(void **state)
{
	struct dk_qos_params p, before;

	(void)state;
	memset(&p, 0xa5, sizeof(p));
	before = p;
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		assert_int_equal(dk_qos_params(invalid[i], &p), -EINVAL);
		assert_memory_equal(&p, &before, sizeof(p)); /* written only on success */
	}
}

static void test_params_valid(void **state)
{
	struct dk_qos_params p[4];

	(void)state;
	for (uint32_t q = DK_QOS_FRUGAL; q <= DK_QOS_BURST; q++) {
		memset(&p[q], 0xa5, sizeof(p[q]));
		assert_int_equal(dk_qos_params(q, &p[q]), 0);
		/* The depth is at least one entry (dk_qos_depth()), whatever the percentage. */
		assert_true(p[q].depth_percent <= 100);
	}
	/* Burst is the whole ring; the classes are ordered by depth. */
	assert_int_equal(p[DK_QOS_BURST].depth_percent, 100);
	assert_true(p[DK_QOS_FRUGAL].depth_percent <= p[DK_QOS_NORMAL].depth_percent);
	assert_true(p[DK_QOS_NORMAL].depth_percent <= p[DK_QOS_BURST].depth_percent);
	/* Only Frugal gathers submissions; Normal and Burst are served at once. */
	assert_true(p[DK_QOS_FRUGAL].coalesce_ns > 0);
	assert_int_equal(p[DK_QOS_NORMAL].coalesce_ns, 0);
	assert_int_equal(p[DK_QOS_BURST].coalesce_ns, 0);
	/* The params are stable: asking twice gives the same answer. */
	for (uint32_t q = DK_QOS_FRUGAL; q <= DK_QOS_BURST; q++) {
		struct dk_qos_params again;

		assert_int_equal(dk_qos_params(q, &again), 0);
		assert_memory_equal(&again, &p[q], sizeof(again));
	}
}

static void test_depth_frugal_is_one(void **state)
{
	(void)state;
	for (uint32_t n = 1; n <= 4096; n *= 2)
		assert_int_equal(dk_qos_depth(DK_QOS_FRUGAL, n), 1);
	assert_int_equal(dk_qos_depth(DK_QOS_FRUGAL, 3), 1);
	assert_int_equal(dk_qos_depth(DK_QOS_FRUGAL, 1000), 1);
}

static void test_depth_normal_about_half(void **state)
{
	(void)state;
	for (uint32_t n = 2; n <= 4096; n *= 2) {
		uint32_t d = dk_qos_depth(DK_QOS_NORMAL, n);

		assert_true(d >= 1);
		assert_true(d <= n);
		/* About half: within one entry of n / 2. */
		assert_true(d + 1 >= n / 2);
		assert_true(d <= n / 2 + 1);
	}
	assert_int_equal(dk_qos_depth(DK_QOS_NORMAL, 256), 128);
}

static void test_depth_burst_whole_ring(void **state)
{
	(void)state;
	for (uint32_t n = 1; n <= 4096; n *= 2)
		assert_int_equal(dk_qos_depth(DK_QOS_BURST, n), n);
	assert_int_equal(dk_qos_depth(DK_QOS_BURST, 1000), 1000);
}

static void test_depth_at_least_one(void **state)
{
	(void)state;
	for (uint32_t q = DK_QOS_FRUGAL; q <= DK_QOS_BURST; q++) {
		assert_int_equal(dk_qos_depth(q, 1), 1);
		for (uint32_t n = 1; n <= 64; n++) {
			uint32_t d = dk_qos_depth(q, n);

			assert_true(d >= 1);
			assert_true(d <= n);
		}
		assert_true(dk_qos_depth(q, 2) >= 1);
	}
}

static void test_depth_monotonic_in_class(void **state)
{
	(void)state;
	for (uint32_t n = 1; n <= 4096; n *= 2) {
		assert_true(dk_qos_depth(DK_QOS_FRUGAL, n) <= dk_qos_depth(DK_QOS_NORMAL, n));
		assert_true(dk_qos_depth(DK_QOS_NORMAL, n) <= dk_qos_depth(DK_QOS_BURST, n));
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(dk_qos_name(DK_QOS_FRUGAL), "frugal");
	assert_string_equal(dk_qos_name(DK_QOS_NORMAL), "normal");
	assert_string_equal(dk_qos_name(DK_QOS_BURST), "burst");
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		assert_string_equal(dk_qos_name(invalid[i]), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_valid_classes),
		cmocka_unit_test(test_check_invalid_refused),
		cmocka_unit_test(test_params_invalid_untouched),
		cmocka_unit_test(test_params_valid),
		cmocka_unit_test(test_depth_frugal_is_one),
		cmocka_unit_test(test_depth_normal_about_half),
		cmocka_unit_test(test_depth_burst_whole_ring),
		cmocka_unit_test(test_depth_at_least_one),
		cmocka_unit_test(test_depth_monotonic_in_class),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("qos", tests, NULL, NULL);
}
