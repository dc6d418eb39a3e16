/* SPDX-License-Identifier: MIT */
/* Error and reason names are part of the stable vocabulary (docs/errors.md). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <dk/error.h>

static void test_strerror_vocabulary(void **state)
{
	(void)state;
	assert_string_equal(dk_strerror(0), "ok");
	assert_string_equal(dk_strerror(-EINVAL), "invalid argument");
	assert_string_equal(dk_strerror(-EPERM), "missing right");
	assert_string_equal(dk_strerror(-EACCES), "denied by policy");
	assert_string_equal(dk_strerror(-EBADF), "bad or stale handle");
	assert_string_equal(dk_strerror(-ENOSPC), "bound reached");
	assert_string_equal(dk_strerror(-EAGAIN), "queue full, try again");
	assert_string_equal(dk_strerror(-ETIMEDOUT), "deadline passed");
	assert_string_equal(dk_strerror(-ECANCELED), "cancelled");
	assert_string_equal(dk_strerror(-EIO), "device error");
	assert_string_equal(dk_strerror(-ENODEV), "device gone");
	assert_string_equal(dk_strerror(-EOVERFLOW), "arithmetic overflow");
	assert_string_equal(dk_strerror(-EPROTO), "malformed frame");
	assert_string_equal(dk_strerror(-EBUSY), "in use or in flight");
	/* Positive values name the same error. */
	assert_string_equal(dk_strerror(EPROTO), "malformed frame");
}

static void test_strerror_unknown(void **state)
{
	(void)state;
	assert_string_equal(dk_strerror(-9999), "unknown error");
	assert_string_equal(dk_strerror(INT32_MIN + 1), "unknown error");
}

static void test_reason_names_stable(void **state)
{
	(void)state;
	/* The numeric values are ABI: they must never move. */
	assert_int_equal(DK_REASON_NONE, 0);
	assert_int_equal(DK_REASON_HANG, 1);
	assert_int_equal(DK_REASON_DEVICE_RESET, 2);
	assert_int_equal(DK_REASON_CLIENT_KILLED, 3);
	assert_int_equal(DK_REASON_DRIVER_CRASHED, 4);
	assert_int_equal(DK_REASON_QUEUE_BROKEN, 15);
	assert_string_equal(dk_reason_name(DK_REASON_HANG), "hang");
	assert_string_equal(dk_reason_name(DK_REASON_DRIVER_CRASHED), "driver-crashed");
	assert_string_equal(dk_reason_name(DK_REASON_CLIENT_KILLED), "client-killed");
	assert_string_equal(dk_reason_name(DK_REASON_COUNT), "unknown");
	assert_string_equal(dk_reason_name(UINT32_MAX), "unknown");
}

static void test_every_reason_named(void **state)
{
	(void)state;
	for (uint32_t r = 0; r < DK_REASON_COUNT; r++) {
		const char *n = dk_reason_name(r);

		assert_non_null(n);
		assert_string_not_equal(n, "unknown");
		for (uint32_t q = 0; q < r; q++)
			assert_string_not_equal(n, dk_reason_name(q));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_vocabulary),
		cmocka_unit_test(test_strerror_unknown),
		cmocka_unit_test(test_reason_names_stable),
		cmocka_unit_test(test_every_reason_named),
	};

	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
