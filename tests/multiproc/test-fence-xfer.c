/* SPDX-License-Identifier: MIT */
/*
 * Fences across processes: a signal in one process wakes a waiter in another; errors travel
 * with their reason; a wait-only holder cannot signal by any route the kernel offers; a
 * signaller handed over before the seal signals from the other process.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/buffer.h>
#include <dk/error.h>
#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/time.h>
#include <dk/transfer.h>

#include "mp.h"

static struct dk_fence *recv_fence(int sock, uint32_t expect_rights)
{
	struct dk_buffer_registry *reg;
	struct dk_handle h;

	if (dk_buffer_registry_create(NULL, &reg) < 0)
		_exit(200);
	if (dk_handle_recv(sock, dk_deadline_in(30 * DK_NSEC_PER_SEC), reg, NULL, &h) < 0)
		_exit(201);
	dk_buffer_registry_destroy(reg);
	if (h.type != DK_HANDLE_FENCE || h.rights != expect_rights)
		_exit(202);
	return h.fence;
}

/* ---- signal in one process, waiter in the other ---- */

static void child_waits(int sock, void *arg)
{
	struct dk_fence *f = recv_fence(sock, DK_RIGHTS_FENCE_WAIT);
	uint8_t go = 1;

	(void)arg;
	/* Tell the parent we are about to wait (the wait may or may not sleep: either way the
	 * result must be the same). */
	CHILD_CHECK(write(sock, &go, 1) == 1);
	for (uint64_t v = 1; v <= 1000; v++)
		CHILD_CHECK(dk_fence_wait(f, v, dk_deadline_in(30 * DK_NSEC_PER_SEC)) == 0);
	dk_fence_unref(f);
}

static void test_signal_wakes_other_process(void **state)
{
	struct dk_fence *f;
	uint8_t go;
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_waits, sv[1], sv[0], NULL);
	close(sv[1]);
	assert_int_equal(dk_fence_send(sv[0], f, DK_RIGHTS_FENCE_WAIT, 1), 0);
	assert_int_equal(read(sv[0], &go, 1), 1);
	for (uint64_t v = 1; v <= 1000; v++)
		assert_int_equal(dk_fence_signal(f, v), 0);
	assert_int_equal(mp_join(pid), 0);
	close(sv[0]);
	dk_fence_unref(f);
}

/* ---- error with reason reaches the other process ---- */

static void child_sees_error(int sock, void *arg)
{
	struct dk_fence *f = recv_fence(sock, DK_RIGHTS_FENCE_WAIT);
	struct dk_fence_state st;
	uint32_t reason = 0;

	(void)arg;
	CHILD_CHECK(dk_fence_wait(f, 1000, dk_deadline_in(30 * DK_NSEC_PER_SEC)) == -ENODEV);
	CHILD_CHECK(dk_fence_status(f, 1000, &reason) == -ENODEV);
	CHILD_CHECK(reason == DK_REASON_DRIVER_CRASHED);
	CHILD_CHECK(dk_fence_query(f, &st) == 0);
	CHILD_CHECK(st.error_point == 4 && st.value == UINT64_MAX);
	/* Points signalled cleanly before the error stay clean. */
	CHILD_CHECK(dk_fence_wait(f, 3, dk_deadline_in(0)) == 0);
	dk_fence_unref(f);
}

static void test_error_reaches_other_process(void **state)
{
	struct dk_fence *f;
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(dk_fence_signal(f, 3), 0);
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_sees_error, sv[1], sv[0], NULL);
	close(sv[1]);
	assert_int_equal(dk_fence_send(sv[0], f, DK_RIGHTS_FENCE_WAIT, 1), 0);
	/* What the reaper does for a crashed driver: every point fails. */
	assert_int_equal(dk_fence_signal_error(f, UINT64_MAX, -ENODEV, DK_REASON_DRIVER_CRASHED),
			 0);
	assert_int_equal(mp_join(pid), 0);
	close(sv[0]);
	dk_fence_unref(f);
}

/* ---- a wait-only holder cannot signal ---- */

static int reopen_rdwr(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDWR | O_CLOEXEC);
}

static void child_tries_to_signal(int sock, void *arg)
{
	const int *fds = arg; /* raw wait-only descriptors, inherited */
	struct dk_fence *f;
	uint64_t forged = 99;
	void *p;
	int fd2;

	(void)sock;
	/* Through the API. */
	CHILD_CHECK(dk_fence_import(fds, DK_RIGHT_WAIT | DK_RIGHT_SIGNAL, &f) == -EBADF);
	CHILD_CHECK(dk_fence_import(fds, DK_RIGHT_WAIT, &f) == 0);
	CHILD_CHECK(dk_fence_signal(f, 99) == -EPERM);
	CHILD_CHECK(dk_fence_signal_error(f, 99, -EIO, DK_REASON_HANG) == -EPERM);
	/* A writable mapping of the descriptor. */
	CHILD_CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0) == MAP_FAILED);
	/* mprotect of a read-only mapping. */
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fds[0], 0);
	CHILD_CHECK(p != MAP_FAILED);
	CHILD_CHECK(mprotect(p, 4096, PROT_READ | PROT_WRITE) < 0);
	munmap(p, 4096);
	/* write() on the descriptor. */
	CHILD_CHECK(pwrite(fds[0], &forged, sizeof(forged), 16) < 0);
	/* Reopen writable through /proc, with and without fchmod first. */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (attempt == 1)
			(void)!fchmod(fds[0], 0666);
		fd2 = reopen_rdwr(fds[0]);
		if (fd2 < 0)
			continue;
		CHILD_CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0) ==
			    MAP_FAILED);
		CHILD_CHECK(pwrite(fd2, &forged, sizeof(forged), 16) < 0);
		close(fd2);
	}
	dk_fence_unref(f);
}

static void test_wait_only_holder_cannot_signal(void **state)
{
	struct dk_fence_state st;
	struct dk_fence *f;
	int fds[DK_FENCE_NR_FDS];
	pid_t pid;

	(void)state;
	assert_int_equal(dk_fence_create(5, &f), 0);
	assert_int_equal(dk_fence_export(f, DK_RIGHTS_FENCE_WAIT, fds), 0);
	pid = mp_fork(child_tries_to_signal, -1, -1, fds);
	assert_int_equal(mp_join(pid), 0);
	/* Nothing moved. */
	assert_int_equal(dk_fence_query(f, &st), 0);
	assert_int_equal(st.value, 5);
	assert_int_equal(st.error, 0);
	for (int i = 0; i < DK_FENCE_NR_FDS; i++)
		close(fds[i]);
	dk_fence_unref(f);
}

/* ---- a signaller in another process ---- */

static void child_signals(int sock, void *arg)
{
	struct dk_fence *f = recv_fence(sock, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT);

	(void)arg;
	for (uint64_t v = 1; v <= 500; v++)
		CHILD_CHECK(dk_fence_signal(f, v) == 0);
	CHILD_CHECK(dk_fence_signal_error(f, 501, -ECANCELED, DK_REASON_CLIENT_KILLED) == 0);
	dk_fence_unref(f);
}

static void test_remote_signaller(void **state)
{
	struct dk_fence *f;
	uint32_t reason;
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_signals, sv[1], sv[0], NULL);
	close(sv[1]);
	assert_int_equal(dk_fence_send(sv[0], f, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT, 1), 0);
	for (uint64_t v = 1; v <= 500; v++)
		assert_int_equal(dk_fence_wait(f, v, dk_deadline_in(30 * DK_NSEC_PER_SEC)), 0);
	assert_int_equal(dk_fence_wait(f, 501, dk_deadline_in(30 * DK_NSEC_PER_SEC)), -ECANCELED);
	assert_int_equal(dk_fence_status(f, 501, &reason), -ECANCELED);
	assert_int_equal(reason, DK_REASON_CLIENT_KILLED);
	assert_int_equal(mp_join(pid), 0);
	/* Once the signaller is in place, seal: no further signaller can join. */
	assert_int_equal(dk_fence_seal(f), 0);
	assert_int_equal(dk_fence_send(sv[0], f, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT, 2), -EPERM);
	close(sv[0]);
	dk_fence_unref(f);
}

/* ---- a waiter in another process times out at its deadline ---- */

static void child_times_out(int sock, void *arg)
{
	struct dk_fence *f = recv_fence(sock, DK_RIGHTS_FENCE_WAIT);
	uint64_t deadline = dk_deadline_in(5 * DK_NSEC_PER_MSEC);

	(void)arg;
	CHILD_CHECK(dk_fence_wait(f, 1, deadline) == -ETIMEDOUT);
	CHILD_CHECK(dk_now_ns() >= deadline);
	dk_fence_unref(f);
}

static void test_remote_waiter_deadline(void **state)
{
	struct dk_fence *f;
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_times_out, sv[1], sv[0], NULL);
	close(sv[1]);
	assert_int_equal(dk_fence_send(sv[0], f, DK_RIGHTS_FENCE_WAIT, 1), 0);
	assert_int_equal(mp_join(pid), 0);
	close(sv[0]);
	dk_fence_unref(f);
}

/* ---- a signaller that dies holding the signallers' lock does not block the reaper ---- */

static void child_dies_holding_lock(int sock, void *arg)
{
	const int *fds = arg; /* signaller descriptors, inherited */
	volatile uint32_t *page;
	uint8_t ready = 1;

	/* Take the lock the way a signaller in the middle of a signal holds it (offset 28 of
	 * the timeline page, docs/abi.md), then die there. */
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	CHILD_CHECK(page != MAP_FAILED);
	page[7] = (uint32_t)gettid();
	CHILD_CHECK(write(sock, &ready, 1) == 1);
	raise(SIGKILL);
}

static void test_reaper_takes_over_dead_holders_lock(void **state)
{
	struct dk_fence *f, *w;
	int fds[DK_FENCE_NR_FDS], sv[2];
	uint32_t reason = 0;
	uint8_t ready;
	pid_t pid;

	(void)state;
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(dk_fence_dup(f, DK_RIGHT_WAIT, &w), 0);
	assert_int_equal(dk_fence_export(f, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT, fds), 0);
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_dies_holding_lock, sv[1], sv[0], fds);
	close(sv[1]);
	assert_int_equal(read(sv[0], &ready, 1), 1);
	assert_int_equal(mp_join(pid), 1000 + SIGKILL);
	/* The holder is dead: the reaper's error still goes through, and waiters see it. */
	assert_int_equal(dk_fence_signal_error(f, UINT64_MAX, -ENODEV, DK_REASON_DRIVER_CRASHED),
			 0);
	assert_int_equal(dk_fence_wait(w, 1, dk_deadline_in(30 * DK_NSEC_PER_SEC)), -ENODEV);
	assert_int_equal(dk_fence_status(w, 1, &reason), -ENODEV);
	assert_int_equal(reason, DK_REASON_DRIVER_CRASHED);
	for (int i = 0; i < DK_FENCE_NR_FDS; i++)
		close(fds[i]);
	close(sv[0]);
	dk_fence_unref(w);
	dk_fence_unref(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signal_wakes_other_process),
		cmocka_unit_test(test_error_reaches_other_process),
		cmocka_unit_test(test_wait_only_holder_cannot_signal),
		cmocka_unit_test(test_remote_signaller),
		cmocka_unit_test(test_remote_waiter_deadline),
		cmocka_unit_test(test_reaper_takes_over_dead_holders_lock),
	};

	return cmocka_run_group_tests_name("fence-xfer", tests, NULL, NULL);
}
