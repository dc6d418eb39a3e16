/* SPDX-License-Identifier: MIT */
/* Every public header compiles alone: see tests/unit/headers/, one translation unit each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dk/dk.h>

static void test_abi_version(void **state)
{
	(void)state;
	assert_int_equal(DK_ABI_MAJOR, 1);
	assert_int_equal(DK_FRAME_HEADER_SIZE, 24);
	assert_int_equal(DK_HANDLE_PAYLOAD, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abi_version),
	};

	return cmocka_run_group_tests_name("headers", tests, NULL, NULL);
}
