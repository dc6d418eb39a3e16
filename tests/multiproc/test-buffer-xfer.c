/* SPDX-License-Identifier: MIT */
/*
 * Buffers across processes: a sealed buffer verified byte for byte on the other side and never
 * writable there; a read-only handle that sees the producer's later writes; a writable handle
 * written by the consumer; lying headers refused with every received descriptor closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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

#include <dk/budget.h>
#include <dk/buffer.h>
#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/time.h>
#include <dk/transfer.h>

#include "mp.h"

#define BIG (1u << 20)

static uint8_t pattern(size_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13);
}

static struct dk_buffer_registry *mkreg(void)
{
	struct dk_buffer_registry *reg = NULL;

	assert_int_equal(dk_buffer_registry_create(NULL, &reg), 0);
	return reg;
}

static int reopen_rdwr(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDWR | O_CLOEXEC);
}

/* ---- sealed buffer, verified and never writable in the receiver ---- */

static void child_sealed(int sock, void *arg)
{
	struct dk_buffer_registry *reg;
	struct dk_buffer_stats st;
	struct dk_handle h;
	uint8_t *p, byte = 0;
	int fd2;

	(void)arg;
	CHILD_CHECK(dk_buffer_registry_create(NULL, &reg) == 0);
	CHILD_CHECK(dk_handle_recv(sock, dk_deadline_in(30 * DK_NSEC_PER_SEC), reg, NULL, &h) == 0);
	CHILD_CHECK(h.type == DK_HANDLE_BUFFER && h.tag == 42);
	CHILD_CHECK(dk_buffer_size(h.buffer) == BIG);
	CHILD_CHECK(dk_buffer_is_sealed(h.buffer));
	CHILD_CHECK(!(dk_buffer_rights(h.buffer) & DK_RIGHT_WRITE));
	CHILD_CHECK(dk_buffer_map(h.buffer, DK_RIGHT_READ, (void **)&p) == 0);
	for (size_t i = 0; i < BIG; i++)
		CHILD_CHECK(p[i] == pattern(i));
	/* No way to write it. */
	CHILD_CHECK(dk_buffer_map(h.buffer, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p) == -EPERM);
	CHILD_CHECK(mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_SHARED, dk_buffer_fd(h.buffer), 0) ==
		    MAP_FAILED);
	CHILD_CHECK(mprotect(p, BIG, PROT_READ | PROT_WRITE) < 0);
	fd2 = reopen_rdwr(dk_buffer_fd(h.buffer));
	if (fd2 >= 0) {
		CHILD_CHECK(mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0) ==
			    MAP_FAILED);
		CHILD_CHECK(pwrite(fd2, &byte, 1, 0) < 0);
		close(fd2);
	}
	CHILD_CHECK(fchmod(dk_buffer_fd(h.buffer), 0666) == 0 || errno == EPERM);
	fd2 = reopen_rdwr(dk_buffer_fd(h.buffer));
	if (fd2 >= 0) {
		CHILD_CHECK(mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0) ==
			    MAP_FAILED);
		close(fd2);
	}
	/* Zero-copy is counted honestly: one mapping of the producer's memory, no copies. */
	dk_buffer_registry_stats(reg, &st);
	CHILD_CHECK(st.imported_maps == 1);
	CHILD_CHECK(st.copy_fallbacks == 0);
	CHILD_CHECK(st.bulk_bytes == BIG);
	CHILD_CHECK(st.control_bytes == DK_FRAME_HEADER_SIZE + DK_HANDLE_PAYLOAD);
	CHILD_CHECK(dk_buffer_unmap(h.buffer, p) == 0);
	CHILD_CHECK(dk_buffer_release(h.buffer) == 0);
	dk_buffer_registry_destroy(reg);
}

static void test_sealed_buffer_across_processes(void **state)
{
	struct dk_buffer_registry *reg = mkreg();
	struct dk_buffer *b;
	uint8_t *p;
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(dk_buffer_create(reg, NULL, BIG, 0, &b), 0);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p), 0);
	for (size_t i = 0; i < BIG; i++)
		p[i] = pattern(i);
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	assert_int_equal(dk_buffer_seal_readonly(b), 0);

	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_sealed, sv[1], sv[0], NULL);
	close(sv[1]);
	/* A sealed buffer cannot be sent with WRITE. */
	assert_int_equal(dk_buffer_send(sv[0], b, DK_RIGHTS_BUFFER_RW, 42), -EPERM);
	assert_int_equal(dk_buffer_send(sv[0], b, DK_RIGHTS_BUFFER_RO, 42), 0);
	assert_int_equal(mp_join(pid), 0);
	close(sv[0]);
	assert_int_equal(dk_buffer_release(b), 0);
	dk_buffer_registry_destroy(reg);
}

/* ---- read-only handle of a live buffer, synchronised by a fence ---- */

struct live_arg {
	struct dk_fence *ready; /* inherited: the child waits on the parent's fence */
};

static void child_live(int sock, void *varg)
{
	struct dk_buffer_registry *reg;
	struct dk_handle hb, hf;
	volatile uint8_t *p;

	(void)varg;
	CHILD_CHECK(dk_buffer_registry_create(NULL, &reg) == 0);
	CHILD_CHECK(dk_handle_recv(sock, dk_deadline_in(30 * DK_NSEC_PER_SEC), reg, NULL, &hb) == 0);
	CHILD_CHECK(dk_handle_recv(sock, dk_deadline_in(30 * DK_NSEC_PER_SEC), reg, NULL, &hf) == 0);
	CHILD_CHECK(hb.type == DK_HANDLE_BUFFER && hf.type == DK_HANDLE_FENCE);
	CHILD_CHECK(!dk_buffer_is_sealed(hb.buffer));
	CHILD_CHECK(dk_buffer_map(hb.buffer, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p) ==
		    -EPERM);
	CHILD_CHECK(dk_buffer_map(hb.buffer, DK_RIGHT_READ, (void **)&p) == 0);
	for (uint64_t round = 1; round <= 100; round++) {
		CHILD_CHECK(dk_fence_wait(hf.fence, round, dk_deadline_in(30 * DK_NSEC_PER_SEC)) ==
			    0);
		/* The producer wrote round into every page before signalling it (and may
		 * already be further ahead). */
		for (size_t off = 0; off < 65536; off += 4096)
			CHILD_CHECK(p[off] >= (uint8_t)round);
	}
	CHILD_CHECK(dk_buffer_unmap(hb.buffer, (void *)p) == 0);
	CHILD_CHECK(dk_buffer_release(hb.buffer) == 0);
	dk_fence_unref(hf.fence);
	dk_buffer_registry_destroy(reg);
}

static void test_readonly_handle_sees_live_writes(void **state)
{
	struct dk_buffer_registry *reg = mkreg();
	struct dk_buffer *b;
	struct dk_fence *f;
	uint8_t *p;
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(dk_buffer_create(reg, NULL, 65536, 0, &b), 0);
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p), 0);
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_live, sv[1], sv[0], NULL);
	close(sv[1]);
	assert_int_equal(dk_buffer_send(sv[0], b, DK_RIGHTS_BUFFER_RO, 1), 0);
	assert_int_equal(dk_fence_send(sv[0], f, DK_RIGHTS_FENCE_WAIT, 2), 0);
	for (uint64_t round = 1; round <= 100; round++) {
		for (size_t off = 0; off < 65536; off += 4096)
			p[off] = (uint8_t)round;
		assert_int_equal(dk_fence_signal(f, round), 0);
	}
	assert_int_equal(mp_join(pid), 0);
	close(sv[0]);
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	assert_int_equal(dk_buffer_release(b), 0);
	dk_fence_unref(f);
	dk_buffer_registry_destroy(reg);
}

/* ---- writable handle: the consumer writes, the producer reads ---- */

static void child_writer(int sock, void *arg)
{
	struct dk_buffer_registry *reg;
	struct dk_budget_limits lim = {.max_bytes = 4096, .max_buffers = 1, .max_inflight = 1};
	struct dk_budget *bud;
	struct dk_budget_usage u;
	struct dk_handle h;
	uint8_t *p;

	(void)arg;
	CHILD_CHECK(dk_buffer_registry_create(NULL, &reg) == 0);
	CHILD_CHECK(dk_budget_create(&lim, &bud) == 0);
	CHILD_CHECK(dk_handle_recv(sock, dk_deadline_in(30 * DK_NSEC_PER_SEC), reg, bud, &h) == 0);
	/* The receiver's budget is charged for what it accepts. */
	dk_budget_usage(bud, &u);
	CHILD_CHECK(u.bytes == 4096 && u.buffers == 1);
	CHILD_CHECK(dk_buffer_map(h.buffer, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p) == 0);
	memcpy(p, "written by the consumer", 24);
	CHILD_CHECK(dk_buffer_unmap(h.buffer, p) == 0);
	CHILD_CHECK(dk_buffer_release(h.buffer) == 0);
	dk_budget_usage(bud, &u);
	CHILD_CHECK(u.bytes == 0 && u.buffers == 0);
	dk_budget_destroy(bud);
	dk_buffer_registry_destroy(reg);
}

static void test_writable_handle(void **state)
{
	struct dk_buffer_registry *reg = mkreg();
	struct dk_buffer *b;
	char out[24];
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(dk_buffer_create(reg, NULL, 4096, 0, &b), 0);
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_writer, sv[1], sv[0], NULL);
	close(sv[1]);
	assert_int_equal(dk_buffer_send(sv[0], b, DK_RIGHTS_BUFFER_RW, 3), 0);
	assert_int_equal(mp_join(pid), 0);
	assert_int_equal(dk_buffer_read(b, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "written by the consumer");
	close(sv[0]);
	assert_int_equal(dk_buffer_release(b), 0);
	dk_buffer_registry_destroy(reg);
}

/* ---- lying headers ---- */

static void child_lies(int sock, void *arg)
{
	struct dk_buffer_registry *reg;
	struct dk_budget_limits lim = {.max_bytes = 4096, .max_buffers = 4, .max_inflight = 1};
	struct dk_budget *bud;
	struct dk_handle h;
	int before, i;
	int expect[] = {-EBADF, -EPROTO, -EPROTO, -EBADF, -EPROTO, -EPROTO, -EBADF, -ENOSPC,
			-EPROTO, -EPROTO};

	(void)arg;
	CHILD_CHECK(dk_buffer_registry_create(NULL, &reg) == 0);
	CHILD_CHECK(dk_budget_create(&lim, &bud) == 0);
	before = mp_count_fds();
	for (i = 0; i < (int)(sizeof(expect) / sizeof(expect[0])); i++) {
		int r = dk_handle_recv(sock, dk_deadline_in(30 * DK_NSEC_PER_SEC), reg, bud, &h);

		if (r != expect[i])
			_exit(100 + i);
		/* Every descriptor of a refused message is closed. */
		CHILD_CHECK(mp_count_fds() == before);
	}
	/* After all that, an honest handle still works. */
	CHILD_CHECK(dk_handle_recv(sock, dk_deadline_in(30 * DK_NSEC_PER_SEC), reg, bud, &h) == 0);
	CHILD_CHECK(dk_buffer_release(h.buffer) == 0);
	/* The peer closed: -EPIPE, not a hang. */
	CHILD_CHECK(dk_handle_recv(sock, dk_deadline_in(30 * DK_NSEC_PER_SEC), reg, bud, &h) ==
		    -EPIPE);
	dk_budget_destroy(bud);
	dk_buffer_registry_destroy(reg);
}

static void test_lying_headers_refused(void **state)
{
	struct dk_buffer_registry *reg = mkreg();
	struct dk_buffer *b, *big;
	uint8_t frame[128];
	int sv[2], p[2], fd, fd2, n;
	pid_t pid;

	(void)state;
	assert_int_equal(dk_buffer_create(reg, NULL, 4096, 0, &b), 0);
	assert_int_equal(dk_buffer_create(reg, NULL, 8192, 0, &big), 0);
	assert_int_equal(dk_buffer_export(b, DK_RIGHTS_BUFFER_RW, &fd), 0);
	assert_int_equal(dk_buffer_export(b, DK_RIGHTS_BUFFER_RW, &fd2), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_lies, sv[1], sv[0], NULL);
	close(sv[1]);

	/* 1. A pipe sent as a buffer. */
	n = mp_handle_frame(frame, sizeof(frame), &dk_core_proto, DK_HANDLE_BUFFER,
			    DK_RIGHTS_BUFFER_RO, 4096, 0, 1);
	assert_int_equal(mp_send_raw(sv[0], frame, (size_t)n, &p[0], 1), 0);
	/* 2. The right buffer, the wrong size. */
	n = mp_handle_frame(frame, sizeof(frame), &dk_core_proto, DK_HANDLE_BUFFER,
			    DK_RIGHTS_BUFFER_RW, 65536, 0, 1);
	assert_int_equal(mp_send_raw(sv[0], frame, (size_t)n, &fd, 1), 0);
	/* 3. Descriptor count differs from the header. */
	n = mp_handle_frame(frame, sizeof(frame), &dk_core_proto, DK_HANDLE_BUFFER,
			    DK_RIGHTS_BUFFER_RW, 4096, 0, 1);
	assert_int_equal(mp_send_raw(sv[0], frame, (size_t)n, (int[]){fd, fd2}, 2), 0);
	/* 4. Claims read-only but the descriptor is writable and unsealed. */
	n = mp_handle_frame(frame, sizeof(frame), &dk_core_proto, DK_HANDLE_BUFFER,
			    DK_RIGHTS_BUFFER_RO, 4096, 0, 1);
	assert_int_equal(mp_send_raw(sv[0], frame, (size_t)n, &fd, 1), 0);
	/* 5. A fence header with one buffer descriptor. */
	n = mp_handle_frame(frame, sizeof(frame), &dk_core_proto, DK_HANDLE_FENCE,
			    DK_RIGHTS_FENCE_WAIT, 1, 0, 1);
	assert_int_equal(mp_send_raw(sv[0], frame, (size_t)n, &fd, 1), 0);
	/* 6. Garbage bytes with a descriptor attached. */
	memset(frame, 0xab, 40);
	assert_int_equal(mp_send_raw(sv[0], frame, 40, &fd, 1), 0);
	/* 7. Claims sealed, is not. */
	n = mp_handle_frame(frame, sizeof(frame), &dk_core_proto, DK_HANDLE_BUFFER,
			    DK_RIGHTS_BUFFER_RW, 4096, DK_HANDLE_F_SEALED, 1);
	assert_int_equal(mp_send_raw(sv[0], frame, (size_t)n, &fd, 1), 0);
	/* 8. Honest, but over the receiver's budget. */
	assert_int_equal(dk_buffer_send(sv[0], big, DK_RIGHTS_BUFFER_RW, 8), 0);
	/* 9. Unknown handle type. */
	n = mp_handle_frame(frame, sizeof(frame), &dk_core_proto, 77, DK_RIGHTS_BUFFER_RW, 4096, 0,
			    1);
	assert_int_equal(mp_send_raw(sv[0], frame, (size_t)n, &fd, 1), 0);
	/* 10. A valid frame without descriptors. */
	n = mp_handle_frame(frame, sizeof(frame), &dk_core_proto, DK_HANDLE_BUFFER,
			    DK_RIGHTS_BUFFER_RW, 4096, 0, 1);
	assert_int_equal(mp_send_raw(sv[0], frame, (size_t)n, NULL, 0), 0);
	/* Then an honest one, then hang up. */
	assert_int_equal(dk_buffer_send(sv[0], b, DK_RIGHTS_BUFFER_RW, 11), 0);
	close(sv[0]);
	assert_int_equal(mp_join(pid), 0);

	close(fd);
	close(fd2);
	close(p[0]);
	close(p[1]);
	assert_int_equal(dk_buffer_release(b), 0);
	assert_int_equal(dk_buffer_release(big), 0);
	dk_buffer_registry_destroy(reg);
}

static void test_recv_deadline(void **state)
{
	struct dk_buffer_registry *reg = mkreg();
	struct dk_handle h;
	int sv[2];

	(void)state;
	assert_int_equal(mp_socketpair(sv), 0);
	assert_int_equal(dk_handle_recv(sv[0], dk_deadline_in(DK_NSEC_PER_MSEC), reg, NULL, &h),
			 -ETIMEDOUT);
	assert_int_equal(dk_handle_recv(sv[0], 0, reg, NULL, &h), -EINVAL);
	close(sv[0]);
	close(sv[1]);
	dk_buffer_registry_destroy(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sealed_buffer_across_processes),
		cmocka_unit_test(test_readonly_handle_sees_live_writes),
		cmocka_unit_test(test_writable_handle),
		cmocka_unit_test(test_lying_headers_refused),
		cmocka_unit_test(test_recv_deadline),
	};

	return cmocka_run_group_tests_name("buffer-xfer", tests, NULL, NULL);
}
