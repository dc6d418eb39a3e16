/* SPDX-License-Identifier: MIT */
/* Waitsets: many members, which one woke, bounded, nothing left registered after return. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/error.h>
#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/time.h>
#include <dk/waitset.h>

static struct dk_waitset *mkws(uint32_t cap)
{
	struct dk_waitset *ws = NULL;

	assert_int_equal(dk_waitset_create(cap, &ws), 0);
	return ws;
}

static void test_create_bounds(void **state)
{
	struct dk_waitset *ws = NULL;

	(void)state;
	assert_int_equal(dk_waitset_create(0, &ws), -EINVAL);
	assert_int_equal(dk_waitset_create(DK_WAITSET_MAX_MEMBERS + 1, &ws), -EINVAL);
	assert_null(ws);
	ws = mkws(DK_WAITSET_MAX_MEMBERS);
	dk_waitset_destroy(ws);
	dk_waitset_destroy(NULL);
}

static void test_64_fences_which_woke(void **state)
{
	struct dk_fence *f[64];
	struct dk_waitset *ws = mkws(64);
	struct dk_waitset_result r;

	(void)state;
	for (int i = 0; i < 64; i++) {
		assert_int_equal(dk_fence_create(0, &f[i]), 0);
		assert_int_equal(dk_waitset_add_fence(ws, f[i], 1, 1000 + (uint64_t)i), i);
	}
	assert_int_equal(dk_waitset_count(ws), 64);
	assert_int_equal(dk_fence_signal(f[37], 1), 0);
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ANY, dk_deadline_in(DK_NSEC_PER_SEC), &r), 0);
	assert_int_equal(r.index, 37);
	assert_int_equal(r.cookie, 1037);
	assert_int_equal(r.state, DK_MEMBER_SIGNALLED);
	assert_int_equal(r.error, 0);
	/* The fences may go: the waitset holds its own references. */
	for (int i = 0; i < 64; i++)
		dk_fence_unref(f[i]);
	assert_int_equal(dk_waitset_member(ws, 37, &r), 0);
	assert_int_equal(r.state, DK_MEMBER_SIGNALLED);
	assert_int_equal(dk_waitset_member(ws, 36, &r), 0);
	assert_int_equal(r.state, DK_MEMBER_PENDING);
	dk_waitset_destroy(ws);
}

static void test_over_capacity_enospc(void **state)
{
	struct dk_waitset *ws = mkws(2);
	struct dk_fence *f;
	int p[2];

	(void)state;
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(dk_waitset_add_fence(ws, f, 1, 0), 0);
	assert_int_equal(dk_waitset_add_timer(ws, dk_deadline_in(DK_NSEC_PER_SEC), 0), 1);
	assert_int_equal(dk_waitset_add_fence(ws, f, 2, 0), -ENOSPC);
	assert_int_equal(dk_waitset_add_fd(ws, p[0], POLLIN, 0), -ENOSPC);
	assert_int_equal(dk_waitset_add_timer(ws, dk_deadline_in(DK_NSEC_PER_SEC), 0), -ENOSPC);
	assert_int_equal(dk_waitset_count(ws), 2); /* nothing partial */
	assert_int_equal(dk_waitset_remove(ws, 1), 0);
	assert_int_equal(dk_waitset_remove(ws, 1), -EINVAL);
	assert_int_equal(dk_waitset_remove(ws, 99), -EINVAL);
	assert_int_equal(dk_waitset_add_fd(ws, p[0], POLLIN, 0), 1);
	dk_waitset_destroy(ws);
	dk_fence_unref(f);
	close(p[0]);
	close(p[1]);
}

static void test_error_member(void **state)
{
	struct dk_waitset *ws = mkws(4);
	struct dk_waitset_result r;
	struct dk_fence *f;

	(void)state;
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(dk_waitset_add_fence(ws, f, 5, 77), 0);
	assert_int_equal(dk_fence_signal_error(f, 5, -EIO, DK_REASON_DEVICE_FAULT), 0);
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ANY, dk_deadline_in(DK_NSEC_PER_SEC), &r), 0);
	assert_int_equal(r.index, 0);
	assert_int_equal(r.cookie, 77);
	assert_int_equal(r.state, DK_MEMBER_ERROR);
	assert_int_equal(r.error, -EIO);
	assert_int_equal(r.reason, DK_REASON_DEVICE_FAULT);
	dk_waitset_destroy(ws);
	dk_fence_unref(f);
}

static void test_timeout_leaves_no_poller(void **state)
{
	struct dk_waitset *ws = mkws(4);
	struct dk_waitset_result r;
	struct dk_fence *f;
	uint64_t cnt;

	(void)state;
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(dk_waitset_add_fence(ws, f, 1, 0), 0);
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ANY, 1, &r), -ETIMEDOUT);
	assert_int_equal(r.index, -1);
	assert_int_equal(r.state, DK_MEMBER_PENDING);
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ANY,
					 dk_deadline_in(2 * DK_NSEC_PER_MSEC), &r),
			 -ETIMEDOUT);
	/* After return nobody is registered: a signal kicks no eventfd. */
	assert_int_equal(dk_fence_signal(f, 1), 0);
	assert_int_equal(read(dk_fence_poll_fd(f), &cnt, sizeof(cnt)), -1);
	assert_int_equal(errno, EAGAIN);
	dk_waitset_destroy(ws);
	dk_fence_unref(f);
}

static void test_bad_calls(void **state)
{
	struct dk_waitset *ws = mkws(4);
	struct dk_waitset_result r;
	struct dk_fence *f, *sig;

	(void)state;
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ANY, dk_deadline_in(0), &r), -EINVAL);
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(dk_fence_dup(f, DK_RIGHT_SIGNAL, &sig), 0);
	assert_int_equal(dk_waitset_add_fence(ws, sig, 1, 0), -EPERM);
	assert_int_equal(dk_waitset_add_fence(ws, NULL, 1, 0), -EINVAL);
	assert_int_equal(dk_waitset_add_fd(ws, -1, POLLIN, 0), -EINVAL);
	assert_int_equal(dk_waitset_add_fd(ws, 0, 0, 0), -EINVAL);
	assert_int_equal(dk_waitset_add_fd(ws, 1000000, POLLIN, 0), -EINVAL);
	assert_int_equal(dk_waitset_add_timer(ws, 0, 0), -EINVAL);
	assert_int_equal(dk_waitset_count(ws), 0);
	assert_int_equal(dk_waitset_add_fence(ws, f, 1, 0), 0);
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ANY, 0, &r), -EINVAL);
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ANY, UINT64_MAX, &r), -EINVAL);
	assert_int_equal(dk_waitset_wait(ws, (enum dk_wait_mode)7, dk_deadline_in(0), &r),
			 -EINVAL);
	assert_int_equal(dk_waitset_member(ws, 3, &r), -EINVAL);
	dk_waitset_destroy(ws);
	dk_fence_unref(sig);
	dk_fence_unref(f);
}

static void test_fd_and_timer_members(void **state)
{
	struct dk_waitset *ws = mkws(4);
	struct dk_waitset_result r;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(dk_waitset_add_fd(ws, p[0], POLLIN, 5), 0);
	/* A timer 1 ms out wakes a wait whose own deadline is far. */
	assert_int_equal(dk_waitset_add_timer(ws, dk_deadline_in(DK_NSEC_PER_MSEC), 6), 1);
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ANY, dk_deadline_in(10 * DK_NSEC_PER_SEC), &r),
			 0);
	assert_int_equal(r.index, 1);
	assert_int_equal(r.cookie, 6);
	assert_int_equal(r.state, DK_MEMBER_SIGNALLED);
	assert_int_equal(dk_waitset_remove(ws, 1), 0);

	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ANY, dk_deadline_in(DK_NSEC_PER_SEC), &r), 0);
	assert_int_equal(r.index, 0);
	assert_true(r.revents & POLLIN);
	/* Hang-up of a drained pipe is an error state. */
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[1]);
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ANY, dk_deadline_in(DK_NSEC_PER_SEC), &r), 0);
	assert_int_equal(r.state, DK_MEMBER_ERROR);
	assert_int_equal(r.error, -EPIPE);
	dk_waitset_destroy(ws);
	close(p[0]);
}

static void test_wait_all(void **state)
{
	struct dk_waitset *ws = mkws(8);
	struct dk_waitset_result r;
	struct dk_fence *f[3];
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dk_fence_create(0, &f[i]), 0);
		assert_int_equal(dk_waitset_add_fence(ws, f[i], 1, (uint64_t)i), i);
	}
	assert_int_equal(dk_waitset_add_fd(ws, p[0], POLLIN, 3), 3);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(dk_fence_signal(f[0], 1), 0);
	assert_int_equal(dk_fence_signal(f[2], 1), 0);
	/* One fence still pending: ALL times out (and does not spin on the ready pipe). */
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ALL, dk_deadline_in(2 * DK_NSEC_PER_MSEC), &r),
			 -ETIMEDOUT);
	assert_int_equal(dk_fence_signal_error(f[1], 1, -ECANCELED, DK_REASON_CANCELLED), 0);
	assert_int_equal(dk_waitset_wait(ws, DK_WAIT_ALL, dk_deadline_in(DK_NSEC_PER_SEC), &r), 0);
	/* The result names the member in error. */
	assert_int_equal(r.index, 1);
	assert_int_equal(r.state, DK_MEMBER_ERROR);
	assert_int_equal(r.error, -ECANCELED);
	for (int i = 0; i < 3; i++)
		dk_fence_unref(f[i]);
	dk_waitset_destroy(ws);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_bounds),
		cmocka_unit_test(test_64_fences_which_woke),
		cmocka_unit_test(test_over_capacity_enospc),
		cmocka_unit_test(test_error_member),
		cmocka_unit_test(test_timeout_leaves_no_poller),
		cmocka_unit_test(test_bad_calls),
		cmocka_unit_test(test_fd_and_timer_members),
		cmocka_unit_test(test_wait_all),
	};

	return cmocka_run_group_tests_name("waitset", tests, NULL, NULL);
}
