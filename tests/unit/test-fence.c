/* SPDX-License-Identifier: MIT */
/* Timeline fences in one process: monotonic signals, sticky errors, deadlines, rights. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/error.h>
#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/time.h>

static struct dk_fence *mk(uint64_t v)
{
	struct dk_fence *f = NULL;

	assert_int_equal(dk_fence_create(v, &f), 0);
	return f;
}

static uint64_t value(struct dk_fence *f)
{
	struct dk_fence_state st;

	assert_int_equal(dk_fence_query(f, &st), 0);
	return st.value;
}

static void test_initial_state(void **state)
{
	struct dk_fence *f = mk(7);
	struct dk_fence_state st;

	(void)state;
	assert_int_equal(dk_fence_query(f, &st), 0);
	assert_int_equal(st.value, 7);
	assert_int_equal(st.error, 0);
	assert_int_equal(st.reason, DK_REASON_NONE);
	assert_true(dk_rights_has(dk_fence_rights(f), DK_RIGHT_SIGNAL | DK_RIGHT_WAIT));
	assert_int_equal(dk_fence_wait(f, 7, dk_deadline_in(0)), 0);
	dk_fence_unref(f);
	dk_fence_unref(NULL);
}

static void test_signal_monotonic(void **state)
{
	struct dk_fence *f = mk(0);

	(void)state;
	assert_int_equal(dk_fence_signal(f, 5), 0);
	assert_int_equal(dk_fence_signal(f, 5), 0); /* equal: accepted, nothing changes */
	assert_int_equal(dk_fence_signal(f, 3), -EINVAL);
	assert_int_equal(value(f), 5); /* never a rollback */
	assert_int_equal(dk_fence_signal(f, UINT64_MAX), 0);
	assert_int_equal(dk_fence_signal(f, 0), -EINVAL);
	assert_int_equal(value(f), UINT64_MAX);
	dk_fence_unref(f);
}

static void test_status_and_wait_reached(void **state)
{
	struct dk_fence *f = mk(0);
	uint32_t reason = 77;

	(void)state;
	assert_int_equal(dk_fence_status(f, 1, &reason), -EAGAIN);
	assert_int_equal(dk_fence_signal(f, 2), 0);
	assert_int_equal(dk_fence_status(f, 1, &reason), 0);
	assert_int_equal(reason, DK_REASON_NONE);
	assert_int_equal(dk_fence_wait(f, 2, dk_deadline_in(DK_NSEC_PER_SEC)), 0);
	dk_fence_unref(f);
}

static void test_past_deadline_times_out_at_once(void **state)
{
	struct dk_fence *f = mk(0);

	(void)state;
	assert_int_equal(dk_fence_wait(f, 1, 1), -ETIMEDOUT);
	assert_int_equal(dk_fence_wait(f, 1, dk_now_ns()), -ETIMEDOUT);
	dk_fence_unref(f);
}

static void test_wait_deadline_mandatory_and_capped(void **state)
{
	struct dk_fence *f = mk(0);

	(void)state;
	assert_int_equal(dk_fence_wait(f, 1, 0), -EINVAL);
	assert_int_equal(dk_fence_wait(f, 1, dk_now_ns() + DK_WAIT_MAX_NS + DK_NSEC_PER_SEC),
			 -EINVAL);
	assert_int_equal(dk_fence_wait(f, 1, UINT64_MAX), -EINVAL);
	/* Also when the target is already reached: the call itself is malformed. */
	assert_int_equal(dk_fence_wait(f, 0, 0), -EINVAL);
	dk_fence_unref(f);
}

static void test_short_deadline_expires(void **state)
{
	struct dk_fence *f = mk(0);
	uint64_t deadline = dk_deadline_in(2 * DK_NSEC_PER_MSEC);

	(void)state;
	assert_int_equal(dk_fence_wait(f, 1, deadline), -ETIMEDOUT);
	assert_true(dk_now_ns() >= deadline); /* it did not return early */
	dk_fence_unref(f);
}

static void test_error_sticky_and_reported(void **state)
{
	struct dk_fence *f = mk(0);
	struct dk_fence_state st;
	uint32_t reason = 0;

	(void)state;
	assert_int_equal(dk_fence_signal(f, 4), 0);
	assert_int_equal(dk_fence_signal_error(f, 10, -EIO, DK_REASON_HANG), 0);
	assert_int_equal(dk_fence_query(f, &st), 0);
	assert_int_equal(st.value, 10);
	assert_int_equal(st.error, -EIO);
	assert_int_equal(st.reason, DK_REASON_HANG);
	assert_int_equal(st.error_point, 5); /* the first point not signalled before */

	/* Points signalled before the error are clean; every later one carries it. */
	assert_int_equal(dk_fence_wait(f, 4, dk_deadline_in(0)), 0);
	assert_int_equal(dk_fence_wait(f, 5, dk_deadline_in(0)), -EIO);
	assert_int_equal(dk_fence_wait(f, 10, dk_deadline_in(0)), -EIO);
	assert_int_equal(dk_fence_status(f, 10, &reason), -EIO);
	assert_int_equal(reason, DK_REASON_HANG);

	/* A second error does not replace the first, but the timeline advances. */
	assert_int_equal(dk_fence_signal_error(f, 12, -ECANCELED, DK_REASON_CLIENT_KILLED), 0);
	assert_int_equal(dk_fence_query(f, &st), 0);
	assert_int_equal(st.value, 12);
	assert_int_equal(st.error, -EIO);
	assert_int_equal(st.reason, DK_REASON_HANG);
	assert_int_equal(st.error_point, 5);
	assert_int_equal(dk_fence_signal(f, 20), 0);
	assert_int_equal(dk_fence_wait(f, 15, dk_deadline_in(0)), -EIO);
	dk_fence_unref(f);
}

static void test_error_at_current_value_still_reported(void **state)
{
	struct dk_fence *f = mk(0);

	(void)state;
	assert_int_equal(dk_fence_signal(f, 3), 0);
	/* Reported without advancing: it covers the points still to come. */
	assert_int_equal(dk_fence_signal_error(f, 3, -ENODEV, DK_REASON_DRIVER_CRASHED), 0);
	assert_int_equal(dk_fence_wait(f, 3, dk_deadline_in(0)), 0);
	assert_int_equal(dk_fence_status(f, 4, NULL), -EAGAIN);
	assert_int_equal(dk_fence_signal(f, 4), 0);
	assert_int_equal(dk_fence_wait(f, 4, dk_deadline_in(0)), -ENODEV);
	dk_fence_unref(f);
}

static void test_signal_error_refusals_change_nothing(void **state)
{
	struct dk_fence *f = mk(5);
	struct dk_fence_state st;

	(void)state;
	assert_int_equal(dk_fence_signal_error(f, 6, -ETIMEDOUT, DK_REASON_HANG), -EINVAL);
	assert_int_equal(dk_fence_signal_error(f, 6, 0, DK_REASON_HANG), -EINVAL);
	assert_int_equal(dk_fence_signal_error(f, 6, EIO, DK_REASON_HANG), -EINVAL);
	assert_int_equal(dk_fence_signal_error(f, 6, -EIO, DK_REASON_NONE), -EINVAL);
	assert_int_equal(dk_fence_signal_error(f, 6, -EIO, DK_REASON_COUNT), -EINVAL);
	assert_int_equal(dk_fence_signal_error(f, 4, -EIO, DK_REASON_HANG), -EINVAL);
	assert_int_equal(dk_fence_query(f, &st), 0);
	assert_int_equal(st.value, 5);
	assert_int_equal(st.error, 0);
	dk_fence_unref(f);
}

static void test_rights_enforced(void **state)
{
	struct dk_fence *f = mk(0), *w, *s, *x = NULL;
	struct dk_fence_state st;

	(void)state;
	assert_int_equal(dk_fence_dup(f, DK_RIGHT_WAIT, &w), 0);
	assert_int_equal(dk_fence_dup(f, DK_RIGHT_SIGNAL, &s), 0);
	assert_int_equal(dk_fence_signal(w, 1), -EPERM);
	assert_int_equal(dk_fence_signal_error(w, 1, -EIO, DK_REASON_HANG), -EPERM);
	assert_int_equal(dk_fence_wait(s, 0, dk_deadline_in(0)), -EPERM);
	assert_int_equal(dk_fence_query(s, &st), -EPERM);
	assert_int_equal(dk_fence_poll_begin(s), -EPERM);
	/* Narrow only. */
	assert_int_equal(dk_fence_dup(w, DK_RIGHT_WAIT | DK_RIGHT_SIGNAL, &x), -EPERM);
	assert_null(x);
	assert_int_equal(dk_fence_signal(s, 1), 0);
	assert_int_equal(dk_fence_wait(w, 1, dk_deadline_in(0)), 0);
	assert_int_equal(dk_fence_id(w), dk_fence_id(f));
	dk_fence_unref(w);
	dk_fence_unref(s);
	dk_fence_unref(f);
}

struct waiter_arg {
	struct dk_fence *f;
	uint64_t target;
	int result;
};

static void *waiter(void *p)
{
	struct waiter_arg *a = p;

	a->result = dk_fence_wait(a->f, a->target, dk_deadline_in(30 * DK_NSEC_PER_SEC));
	return NULL;
}

static void test_signal_wakes_thread(void **state)
{
	struct dk_fence *f = mk(0);
	struct waiter_arg a = {.f = f, .target = 3, .result = 1};
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, waiter, &a), 0);
	assert_int_equal(dk_fence_signal(f, 2), 0); /* not enough */
	assert_int_equal(dk_fence_signal(f, 3), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.result, 0);
	dk_fence_unref(f);
}

static void test_error_wakes_thread(void **state)
{
	struct dk_fence *f = mk(0);
	struct waiter_arg a = {.f = f, .target = 1, .result = 1};
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, waiter, &a), 0);
	assert_int_equal(dk_fence_signal_error(f, UINT64_MAX, -ENODEV, DK_REASON_DRIVER_CRASHED),
			 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(a.result, -ENODEV);
	dk_fence_unref(f);
}

static void test_wait_spin_bounded(void **state)
{
	struct dk_fence *f = mk(0);

	(void)state;
	/* A spin longer than the deadline still ends at the deadline. */
	assert_int_equal(dk_fence_wait_spin(f, 1, dk_deadline_in(DK_NSEC_PER_MSEC), UINT64_MAX),
			 -ETIMEDOUT);
	assert_int_equal(dk_fence_signal(f, 1), 0);
	assert_int_equal(dk_fence_wait_spin(f, 1, dk_deadline_in(0), 1000), 0);
	dk_fence_unref(f);
}

static void test_poll_fd_kicked_only_with_pollers(void **state)
{
	struct dk_fence *f = mk(0);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET};
	uint64_t cnt;
	int ep;

	(void)state;
	ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, dk_fence_poll_fd(f), &ev), 0);
	/* No poller registered: a signal makes no kick. */
	assert_int_equal(dk_fence_signal(f, 1), 0);
	assert_int_equal(epoll_wait(ep, &ev, 1, 0), 0);
	/* With a poller, every signal is an edge. */
	assert_int_equal(dk_fence_poll_begin(f), 0);
	assert_int_equal(dk_fence_signal(f, 2), 0);
	assert_int_equal(epoll_wait(ep, &ev, 1, 0), 1);
	assert_int_equal(dk_fence_signal(f, 3), 0);
	assert_int_equal(epoll_wait(ep, &ev, 1, 0), 1);
	dk_fence_poll_end(f);
	assert_int_equal(read(dk_fence_poll_fd(f), &cnt, sizeof(cnt)), sizeof(cnt));
	assert_int_equal(cnt, 2);
	assert_int_equal(dk_fence_signal(f, 4), 0);
	assert_int_equal(read(dk_fence_poll_fd(f), &cnt, sizeof(cnt)), -1);
	assert_int_equal(errno, EAGAIN);
	close(ep);
	dk_fence_unref(f);
}

static int reopen_rdwr(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDWR | O_CLOEXEC);
}

static void close3(int *fds)
{
	for (int i = 0; i < DK_FENCE_NR_FDS; i++)
		close(fds[i]);
}

static void test_export_wait_only_seals(void **state)
{
	struct dk_fence *f = mk(0), *imp;
	int fds[DK_FENCE_NR_FDS], sfds[DK_FENCE_NR_FDS], fd2;

	(void)state;
	assert_int_equal(dk_fence_export(f, DK_RIGHTS_FENCE_WAIT, fds), 0);
	assert_int_equal(fcntl(fds[0], F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_true(fcntl(fds[0], F_GET_SEALS) & F_SEAL_FUTURE_WRITE);
	/* Reopened writable, the timeline page still cannot be mapped writable. */
	fd2 = reopen_rdwr(fds[0]);
	if (fd2 >= 0) {
		assert_ptr_equal(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0),
				 MAP_FAILED);
		close(fd2);
	}
	/* Claiming SIGNAL on a sealed page is refused. */
	assert_int_equal(dk_fence_import(fds, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT, &imp), -EBADF);
	/* After the seal no new signaller can be exported. */
	assert_int_equal(dk_fence_export(f, DK_RIGHT_SIGNAL | DK_RIGHT_TRANSFER, sfds), -EPERM);

	assert_int_equal(dk_fence_import(fds, DK_RIGHT_WAIT, &imp), 0);
	assert_int_equal(dk_fence_signal(imp, 1), -EPERM);
	assert_int_equal(dk_fence_signal(f, 1), 0); /* the creator's mapping still signals */
	assert_int_equal(dk_fence_wait(imp, 1, dk_deadline_in(0)), 0);
	assert_int_equal(dk_fence_id(imp), dk_fence_id(f));
	/* The imported handle lacks TRANSFER: it cannot be passed on. */
	assert_int_equal(dk_fence_export(imp, DK_RIGHT_WAIT, sfds), -EPERM);
	dk_fence_unref(imp);
	dk_fence_unref(f);
}

static void test_export_signaller_before_seal(void **state)
{
	struct dk_fence *f = mk(0), *sig;
	int fds[DK_FENCE_NR_FDS];

	(void)state;
	assert_int_equal(dk_fence_export(f, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT, fds), 0);
	assert_int_equal(dk_fence_import(fds, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT, &sig), 0);
	assert_int_equal(dk_fence_seal(f), 0);
	assert_int_equal(dk_fence_seal(f), 0); /* idempotent */
	/* A signaller that mapped before the seal keeps signalling. */
	assert_int_equal(dk_fence_signal(sig, 9), 0);
	assert_int_equal(dk_fence_wait(f, 9, dk_deadline_in(0)), 0);
	dk_fence_unref(sig);
	dk_fence_unref(f);
}

static void test_import_refuses_impostors(void **state)
{
	struct dk_fence *f = mk(0), *x = NULL;
	int good[DK_FENCE_NR_FDS], bad[DK_FENCE_NR_FDS], p[2], m;

	(void)state;
	assert_int_equal(dk_fence_export(f, DK_RIGHTS_FENCE_WAIT, good), 0);
	/* A pipe in place of each descriptor. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	for (int i = 0; i < DK_FENCE_NR_FDS; i++) {
		memcpy(bad, good, sizeof(bad));
		bad[i] = p[0];
		assert_int_equal(dk_fence_import(bad, DK_RIGHT_WAIT, &x), -EBADF);
	}
	/* A memfd of the wrong size as timeline page. */
	m = memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(m, 8192), 0);
	assert_int_equal(fcntl(m, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE),
			 0);
	memcpy(bad, good, sizeof(bad));
	bad[0] = m;
	assert_int_equal(dk_fence_import(bad, DK_RIGHT_WAIT, &x), -EBADF);
	close(m);
	/* A well-formed but zeroed page: no magic. */
	m = memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(m, 4096), 0);
	assert_int_equal(fcntl(m, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE),
			 0);
	bad[0] = m;
	assert_int_equal(dk_fence_import(bad, DK_RIGHT_WAIT, &x), -EPROTO);
	close(m);
	assert_int_equal(dk_fence_import(good, 1u << 30, &x), -EINVAL);
	assert_null(x);
	close(p[0]);
	close(p[1]);
	close3(good);
	dk_fence_unref(f);
}

/* A signal nobody waits for makes no system call: the futex word (seq, offset 24 of the
 * timeline page) only moves when a sleeper is registered in the waiter page (offset 8). */
struct sleeper {
	struct dk_fence *f;
	int result;
};

static void *sleeper_thread(void *arg)
{
	struct sleeper *sl = arg;

	sl->result = dk_fence_wait(sl->f, 2, dk_deadline_in(30 * DK_NSEC_PER_SEC));
	return NULL;
}

static void test_signal_without_sleeper_skips_wake(void **state)
{
	struct dk_fence *f = mk(0);
	struct sleeper sl = {.f = f, .result = 77};
	const volatile uint32_t *page, *wpage;
	int fds[DK_FENCE_NR_FDS];
	uint32_t seq;
	uint64_t deadline;
	pthread_t t;

	(void)state;
	assert_int_equal(dk_fence_export(f, DK_RIGHTS_FENCE_WAIT, fds), 0);
	page = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fds[0], 0);
	wpage = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fds[1], 0);
	assert_ptr_not_equal(page, MAP_FAILED);
	assert_ptr_not_equal(wpage, MAP_FAILED);
	seq = page[6];
	assert_int_equal(dk_fence_signal(f, 1), 0);
	assert_int_equal(page[6], seq); /* nobody sleeps: no wake path taken */

	assert_int_equal(pthread_create(&t, NULL, sleeper_thread, &sl), 0);
	deadline = dk_deadline_in(30 * DK_NSEC_PER_SEC);
	while (wpage[2] == 0 && dk_now_ns() < deadline)
		sched_yield();
	assert_int_equal(wpage[2], 1); /* one sleeper registered */
	assert_int_equal(dk_fence_signal(f, 2), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(sl.result, 0);
	assert_true(page[6] != seq); /* the sleeper was woken through the futex word */
	assert_int_equal(wpage[2], 0); /* and deregistered itself */
	munmap((void *)page, 4096);
	munmap((void *)wpage, 4096);
	close3(fds);
	dk_fence_unref(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initial_state),
		cmocka_unit_test(test_signal_monotonic),
		cmocka_unit_test(test_status_and_wait_reached),
		cmocka_unit_test(test_past_deadline_times_out_at_once),
		cmocka_unit_test(test_wait_deadline_mandatory_and_capped),
		cmocka_unit_test(test_short_deadline_expires),
		cmocka_unit_test(test_error_sticky_and_reported),
		cmocka_unit_test(test_error_at_current_value_still_reported),
		cmocka_unit_test(test_signal_error_refusals_change_nothing),
		cmocka_unit_test(test_rights_enforced),
		cmocka_unit_test(test_signal_wakes_thread),
		cmocka_unit_test(test_error_wakes_thread),
		cmocka_unit_test(test_wait_spin_bounded),
		cmocka_unit_test(test_poll_fd_kicked_only_with_pollers),
		cmocka_unit_test(test_signal_without_sleeper_skips_wake),
		cmocka_unit_test(test_export_wait_only_seals),
		cmocka_unit_test(test_export_signaller_before_seal),
		cmocka_unit_test(test_import_refuses_impostors),
	};

	return cmocka_run_group_tests_name("fence", tests, NULL, NULL);
}
