/* SPDX-License-Identifier: MIT */
/* Rights only ever narrow. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dk/rights.h>

static void test_narrow_subset(void **state)
{
	uint32_t r = 0;

	(void)state;
	assert_int_equal(dk_rights_narrow(DK_RIGHTS_ALL, DK_RIGHT_READ | DK_RIGHT_MAP, &r), 0);
	assert_int_equal(r, DK_RIGHT_READ | DK_RIGHT_MAP);
	assert_int_equal(dk_rights_narrow(DK_RIGHT_WAIT, 0, &r), 0);
	assert_int_equal(r, 0);
}

static void test_narrow_refuses_widening(void **state)
{
	uint32_t r = 0xdead;

	(void)state;
	assert_int_equal(dk_rights_narrow(DK_RIGHTS_BUFFER_RO, DK_RIGHT_WRITE, &r), -EPERM);
	assert_int_equal(dk_rights_narrow(DK_RIGHT_WAIT, DK_RIGHT_SIGNAL, &r), -EPERM);
	assert_int_equal(r, 0xdead); /* untouched on failure */
}

static void test_narrow_refuses_unknown_bits(void **state)
{
	uint32_t r = 0xdead;

	(void)state;
	assert_int_equal(dk_rights_narrow(0xffffffffu, 1u << 31, &r), -EINVAL);
	assert_int_equal(r, 0xdead);
}

static void test_has(void **state)
{
	(void)state;
	assert_true(dk_rights_has(DK_RIGHTS_BUFFER_RW, DK_RIGHT_WRITE));
	assert_false(dk_rights_has(DK_RIGHTS_BUFFER_RO, DK_RIGHT_WRITE));
	assert_true(dk_rights_has(0, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_narrow_subset),
		cmocka_unit_test(test_narrow_refuses_widening),
		cmocka_unit_test(test_narrow_refuses_unknown_bits),
		cmocka_unit_test(test_has),
	};

	return cmocka_run_group_tests_name("rights", tests, NULL, NULL);
}
