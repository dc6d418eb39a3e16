/* SPDX-License-Identifier: MIT */
/*
 * Buffers: caps, budgets, slices, the mapping cache, the pool, and the kernel-enforced write
 * protection of sealed buffers and read-only handles (including the known ways around a
 * read-only descriptor: reopening through /proc/self/fd, fchmod, mprotect).
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
#include <dk/rights.h>

struct ctx {
	struct dk_buffer_registry *reg;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_int_equal(dk_buffer_registry_create(NULL, &c->reg), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer_stats st;

	dk_buffer_registry_stats(c->reg, &st);
	assert_int_equal(st.live_buffers, 0); /* every test releases what it made */
	dk_buffer_registry_destroy(c->reg);
	free(c);
	return 0;
}

static struct dk_buffer *mkbuf(struct ctx *c, uint64_t size)
{
	struct dk_buffer *b = NULL;

	assert_int_equal(dk_buffer_create(c->reg, NULL, size, 0, &b), 0);
	return b;
}

static int reopen_rdwr(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_RDWR | O_CLOEXEC);
}

/* ---- creation, caps and budgets ---- */

static void test_create_refusals(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = (struct dk_buffer *)0x1;

	assert_int_equal(dk_buffer_create(c->reg, NULL, 0, 0, &b), -EINVAL);
	assert_int_equal(dk_buffer_create(c->reg, NULL, 4096, 0x80, &b), -EINVAL);
	assert_int_equal(dk_buffer_create(c->reg, NULL, DK_BUFFER_MAX_BYTES_DEFAULT + 1, 0, &b),
			 -EFBIG);
	/* Huge sizes never wrap into acceptance. */
	assert_int_equal(dk_buffer_create(c->reg, NULL, UINT64_MAX, 0, &b), -EFBIG);
	assert_ptr_equal(b, (struct dk_buffer *)0x1); /* not written on failure */
}

static void test_registry_limits_checked(void **state)
{
	struct dk_buffer_registry_limits l = {.max_buffer_bytes = DK_BUFFER_MAX_BYTES_HARD + 1};
	struct dk_buffer_registry *reg = NULL;

	(void)state;
	assert_int_equal(dk_buffer_registry_create(&l, &reg), -EINVAL);
	l = (struct dk_buffer_registry_limits){.max_live_buffers = DK_BUFFER_LIVE_HARD + 1};
	assert_int_equal(dk_buffer_registry_create(&l, &reg), -EINVAL);
	assert_null(reg);
}

static void test_live_cap(void **state)
{
	struct dk_buffer_registry_limits l = {.max_live_buffers = 2};
	struct dk_buffer_registry *reg;
	struct dk_buffer *a, *b, *x = NULL;
	struct dk_buffer_stats st;

	(void)state;
	assert_int_equal(dk_buffer_registry_create(&l, &reg), 0);
	assert_int_equal(dk_buffer_create(reg, NULL, 4096, 0, &a), 0);
	assert_int_equal(dk_buffer_create(reg, NULL, 4096, 0, &b), 0);
	assert_int_equal(dk_buffer_create(reg, NULL, 4096, 0, &x), -ENOSPC);
	assert_null(x);
	dk_buffer_registry_stats(reg, &st);
	assert_int_equal(st.live_buffers, 2);
	assert_int_equal(st.refusals, 1);
	assert_int_equal(dk_buffer_release(a), 0);
	assert_int_equal(dk_buffer_create(reg, NULL, 4096, 0, &x), 0);
	assert_int_equal(dk_buffer_release(x), 0);
	assert_int_equal(dk_buffer_release(b), 0);
	dk_buffer_registry_destroy(reg);
}

static void test_budget_refusal_changes_nothing(void **state)
{
	struct ctx *c = *state;
	struct dk_budget_limits lim = {.max_bytes = 8192, .max_buffers = 2, .max_inflight = 1};
	struct dk_buffer_stats before, after;
	struct dk_budget_usage u;
	struct dk_budget *bud;
	struct dk_buffer *a, *x = NULL;

	assert_int_equal(dk_budget_create(&lim, &bud), 0);
	assert_int_equal(dk_buffer_create(c->reg, bud, 4096, 0, &a), 0);
	dk_buffer_registry_stats(c->reg, &before);
	assert_int_equal(dk_buffer_create(c->reg, bud, 8192, 0, &x), -ENOSPC);
	assert_null(x);
	dk_buffer_registry_stats(c->reg, &after);
	assert_int_equal(after.live_buffers, before.live_buffers);
	assert_int_equal(after.live_bytes, before.live_bytes);
	dk_budget_usage(bud, &u);
	assert_int_equal(u.bytes, 4096);
	assert_int_equal(u.buffers, 1);

	assert_int_equal(dk_buffer_release(a), 0);
	dk_budget_usage(bud, &u);
	assert_int_equal(u.bytes, 0);
	assert_int_equal(u.buffers, 0);
	dk_budget_destroy(bud);
}

static void test_fresh_buffer_zero_and_size_sealed(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 10000);
	uint8_t *p;
	int seals;

	assert_int_equal(dk_buffer_size(b), 10000);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ, (void **)&p), 0);
	for (size_t i = 0; i < 10000; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	/* Grow and shrink are sealed from the start. */
	seals = fcntl(dk_buffer_fd(b), F_GET_SEALS);
	assert_true(seals & F_SEAL_GROW);
	assert_true(seals & F_SEAL_SHRINK);
	assert_int_equal(ftruncate(dk_buffer_fd(b), 20000), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(dk_buffer_fd(b), 100), -1);
	assert_int_equal(errno, EPERM);
	assert_false(dk_buffer_is_sealed(b));
	assert_int_equal(dk_buffer_release(b), 0);
}

/* ---- slices ---- */

static void test_slice_bounds(void **state)
{
	struct ctx *c = *state;
	struct dk_slice s = {77, 77};
	struct dk_buffer *b;

	assert_int_equal(dk_slice_check(10, 0, 10), 0);
	assert_int_equal(dk_slice_check(10, 9, 1), 0);
	assert_int_equal(dk_slice_check(10, 5, 6), -EINVAL);
	assert_int_equal(dk_slice_check(10, 10, 1), -EINVAL);
	assert_int_equal(dk_slice_check(10, 0, 0), -EINVAL);
	assert_int_equal(dk_slice_check(10, UINT64_MAX, 2), -EOVERFLOW);
	assert_int_equal(dk_slice_check(10, 2, UINT64_MAX), -EOVERFLOW);
	assert_int_equal(dk_slice_check(UINT64_MAX, UINT64_MAX - 1, 1), 0);

	b = mkbuf(c, 4096);
	assert_int_equal(dk_buffer_slice(b, 4000, 97, &s), -EINVAL);
	assert_int_equal(s.offset, 77); /* untouched */
	assert_int_equal(dk_buffer_slice(b, 4000, 96, &s), 0);
	assert_int_equal(s.offset, 4000);
	assert_int_equal(s.length, 96);
	assert_int_equal(dk_buffer_release(b), 0);
}

static void test_read_write_range_checked(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 64);
	uint8_t in[64], out[64];
	struct dk_buffer_stats st;

	for (int i = 0; i < 64; i++)
		in[i] = (uint8_t)i;
	assert_int_equal(dk_buffer_write(b, 0, in, 64), 0);
	assert_int_equal(dk_buffer_write(b, 1, in, 64), -EINVAL);
	assert_int_equal(dk_buffer_write(b, UINT64_MAX, in, 2), -EOVERFLOW);
	assert_int_equal(dk_buffer_read(b, 60, out, 5), -EINVAL);
	assert_int_equal(dk_buffer_read(b, 0, out, 64), 0);
	assert_memory_equal(in, out, 64);
	dk_buffer_registry_stats(c->reg, &st);
	assert_int_equal(st.copy_fallbacks, 2); /* copies are counted, never hidden */
	assert_int_equal(st.copy_bytes, 128);
	assert_int_equal(dk_buffer_release(b), 0);
}

/* ---- mapping cache ---- */

static void test_map_cache_hits(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 8192);
	struct dk_buffer_stats st;
	void *p1, *p2, *p3;

	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, &p1), 0);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, &p2), 0);
	assert_ptr_equal(p1, p2);
	assert_int_equal(dk_buffer_unmap(b, p1), 0);
	assert_int_equal(dk_buffer_unmap(b, p2), 0);
	/* Read access reuses the writable mapping of a writable object. */
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ, &p3), 0);
	assert_ptr_equal(p3, p1);
	assert_int_equal(dk_buffer_unmap(b, p3), 0);
	dk_buffer_registry_stats(c->reg, &st);
	assert_int_equal(st.map_misses, 1);
	assert_int_equal(st.map_hits, 2);
	/* Unmapping what is not mapped is refused. */
	assert_int_equal(dk_buffer_unmap(b, p1), -EINVAL);
	assert_int_equal(dk_buffer_unmap(b, NULL), -EINVAL);
	assert_int_equal(dk_buffer_release(b), 0);
}

static void test_map_refusals(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 4096);
	void *p = (void *)0x1;

	assert_int_equal(dk_buffer_map(b, 0, &p), -EINVAL);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_WRITE, &p), -EINVAL);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_SIGNAL, &p), -EINVAL);
	assert_ptr_equal(p, (void *)0x1);
	/* Release while mapped is refused; the mapping stays usable. */
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ, &p), 0);
	assert_int_equal(dk_buffer_release(b), -EBUSY);
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	assert_int_equal(dk_buffer_release(b), 0);
}

/* ---- read-only seal ---- */

static void test_seal_then_writable_map_fails(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 4096);
	uint8_t *p, byte = 1;
	int fd2;

	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p), 0);
	memcpy(p, "sealed", 6);
	/* In use for writing: cannot seal. */
	assert_int_equal(dk_buffer_seal_readonly(b), -EBUSY);
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	assert_int_equal(dk_buffer_seal_readonly(b), 0);
	assert_true(dk_buffer_is_sealed(b));
	assert_false(dk_buffer_rights(b) & DK_RIGHT_WRITE);
	assert_int_equal(dk_buffer_seal_readonly(b), 0); /* twice: no-op */

	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p), -EPERM);
	assert_int_equal(dk_buffer_write(b, 0, &byte, 1), -EPERM);
	/* The kernel refuses it on the owner's own O_RDWR descriptor ... */
	assert_ptr_equal(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, dk_buffer_fd(b), 0),
			 MAP_FAILED);
	assert_int_equal(errno, EPERM);
	assert_int_equal(pwrite(dk_buffer_fd(b), &byte, 1, 0), -1);
	assert_int_equal(errno, EPERM);
	/* ... and on any reopened one. */
	fd2 = reopen_rdwr(dk_buffer_fd(b));
	assert_true(fd2 >= 0);
	assert_ptr_equal(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0), MAP_FAILED);
	assert_int_equal(pwrite(fd2, &byte, 1, 0), -1);
	close(fd2);

	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ, (void **)&p), 0);
	assert_memory_equal(p, "sealed", 6);
	/* A read-only mapping of a sealed buffer cannot be upgraded. */
	assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	assert_int_equal(dk_buffer_release(b), 0);
}

/* ---- read-only handles of an unsealed buffer ---- */

static void test_readonly_handle_cannot_write(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 4096), *ro;
	uint8_t *w, *r, byte = 7;
	void *q;
	int fd, fd2;

	/* The producer maps for writing first, then hands out a read-only handle. */
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&w), 0);
	assert_int_equal(dk_buffer_export(b, DK_RIGHTS_BUFFER_RO, &fd), 0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_false(dk_buffer_is_sealed(b)); /* not sealed: the producer still writes */

	/* 1. A writable shared mapping of the read-only descriptor. */
	assert_ptr_equal(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
	assert_int_equal(errno, EACCES);
	/* 2. write() on it. */
	assert_int_equal(pwrite(fd, &byte, 1, 0), -1);
	assert_int_equal(errno, EBADF);
	/* 3. mprotect() of a read-only mapping to writable. */
	q = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	assert_ptr_not_equal(q, MAP_FAILED);
	assert_int_equal(mprotect(q, 4096, PROT_READ | PROT_WRITE), -1);
	assert_int_equal(errno, EACCES);
	munmap(q, 4096);
	/* 4. Reopening it writable through /proc/self/fd (root or owner may open it) ... */
	fd2 = reopen_rdwr(fd);
	if (fd2 >= 0) {
		/* ... gives nothing: the future-write seal is on the file itself. */
		assert_ptr_equal(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0),
				 MAP_FAILED);
		assert_int_equal(errno, EPERM);
		assert_int_equal(pwrite(fd2, &byte, 1, 0), -1);
		assert_int_equal(errno, EPERM);
		close(fd2);
	}
	/* 5. fchmod() to regain permission, then reopen: still refused. */
	assert_int_equal(fchmod(fd, 0666), 0);
	fd2 = reopen_rdwr(fd);
	assert_true(fd2 >= 0);
	assert_ptr_equal(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0), MAP_FAILED);
	close(fd2);
	/* 6. Seals cannot be removed, and a read-only descriptor cannot even add one. */
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL), -1);
	assert_int_equal(errno, EPERM);
	assert_true(fcntl(fd, F_GET_SEALS) & F_SEAL_FUTURE_WRITE);

	/* The importer sees the producer's writes, live. */
	assert_int_equal(dk_buffer_import(c->reg, NULL, fd, DK_RIGHTS_BUFFER_RO, 4096, &ro), 0);
	assert_int_equal(dk_buffer_map(ro, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&r), -EPERM);
	assert_int_equal(dk_buffer_map(ro, DK_RIGHT_READ, (void **)&r), 0);
	w[100] = 42;
	assert_int_equal(r[100], 42);
	assert_int_equal(dk_buffer_write(ro, 0, &byte, 1), -EPERM);
	assert_int_equal(dk_buffer_unmap(ro, r), 0);
	assert_int_equal(dk_buffer_release(ro), 0);

	/* Frozen: no new writable handle can be made. */
	assert_int_equal(dk_buffer_export(b, DK_RIGHTS_BUFFER_RW, &fd), -EPERM);
	assert_int_equal(dk_buffer_unmap(b, w), 0);
	assert_int_equal(dk_buffer_release(b), 0);
}

static void test_export_rights_narrow_only(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 4096), *ro;
	int fd = -1;

	assert_int_equal(dk_buffer_export(b, DK_RIGHT_SIGNAL, &fd), -EPERM);
	assert_int_equal(dk_buffer_export(b, 1u << 20, &fd), -EINVAL);
	assert_int_equal(dk_buffer_export(b, DK_RIGHT_READ | DK_RIGHT_MAP, &fd), 0);
	/* An imported handle without TRANSFER cannot be passed on. */
	assert_int_equal(dk_buffer_import(c->reg, NULL, fd, DK_RIGHT_READ | DK_RIGHT_MAP, 0, &ro),
			 0);
	assert_int_equal(dk_buffer_export(ro, DK_RIGHT_READ, &fd), -EPERM);
	assert_int_equal(dk_buffer_release(ro), 0);
	assert_int_equal(dk_buffer_release(b), 0);
}

/* ---- import checks: nothing the sender says is trusted ---- */

static void test_import_refuses_non_buffers(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *x = NULL;
	char tmpl[] = "/tmp/dk-test-XXXXXX";
	int p[2], tfd, mfd;

	/* A pipe. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(dk_buffer_import(c->reg, NULL, p[0], DK_RIGHTS_BUFFER_RO, 0, &x), -EBADF);
	assert_int_equal(dk_buffer_import(c->reg, NULL, p[1], DK_RIGHTS_BUFFER_RW, 0, &x), -EBADF);
	close(p[0]);
	close(p[1]);
	/* A regular file. */
	tfd = mkstemp(tmpl);
	assert_true(tfd >= 0);
	unlink(tmpl);
	assert_int_equal(ftruncate(tfd, 4096), 0);
	assert_int_equal(dk_buffer_import(c->reg, NULL, tfd, DK_RIGHTS_BUFFER_RW, 0, &x), -EBADF);
	close(tfd);
	/* A memfd whose size is not sealed: it could shrink under the mapping. */
	mfd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(mfd, 4096), 0);
	assert_int_equal(dk_buffer_import(c->reg, NULL, mfd, DK_RIGHTS_BUFFER_RW, 0, &x), -EBADF);
	close(mfd);
	/* A descriptor that is not open at all. */
	assert_int_equal(dk_buffer_import(c->reg, NULL, 1000000, DK_RIGHTS_BUFFER_RW, 0, &x),
			 -EBADF);
	assert_null(x);
}

static void test_import_rights_must_match_descriptor(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b = mkbuf(c, 4096), *x = NULL;
	int rw;

	assert_int_equal(dk_buffer_export(b, DK_RIGHTS_BUFFER_RW, &rw), 0);
	/* A writable, unsealed descriptor presented as read-only: refused (a holder could
	 * write through it). */
	assert_int_equal(dk_buffer_import(c->reg, NULL, rw, DK_RIGHTS_BUFFER_RO, 0, &x), -EBADF);
	/* The size claim must match the object. */
	assert_int_equal(dk_buffer_import(c->reg, NULL, rw, DK_RIGHTS_BUFFER_RW, 8192, &x),
			 -EPROTO);
	assert_int_equal(dk_buffer_import(c->reg, NULL, rw, 1u << 30, 0, &x), -EINVAL);
	assert_null(x);
	assert_int_equal(dk_buffer_import(c->reg, NULL, rw, DK_RIGHTS_BUFFER_RW, 4096, &x), 0);
	assert_int_equal(dk_buffer_size(x), 4096);
	assert_int_equal(dk_buffer_release(x), 0);
	assert_int_equal(dk_buffer_release(b), 0);
}

/* ---- pool: zeroed before another owner gets it ---- */

static void test_pool_zeroes_for_new_owner(void **state)
{
	struct ctx *c = *state;
	struct dk_budget_limits lim = {.max_bytes = 1 << 20, .max_buffers = 8, .max_inflight = 1};
	struct dk_budget *alice, *bob;
	struct dk_buffer *b;
	struct dk_buffer_stats st;
	uint8_t *p;

	assert_int_equal(dk_budget_create(&lim, &alice), 0);
	assert_int_equal(dk_budget_create(&lim, &bob), 0);

	assert_int_equal(dk_buffer_create(c->reg, alice, 65536, 0, &b), 0);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p), 0);
	memset(p, 0xa5, 65536);
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	assert_int_equal(dk_buffer_release(b), 0);

	/* Bob gets the pooled buffer, zeroed. */
	assert_int_equal(dk_buffer_create(c->reg, bob, 65536, 0, &b), 0);
	dk_buffer_registry_stats(c->reg, &st);
	assert_int_equal(st.pool_reuses, 1);
	assert_int_equal(st.pool_zeroed, 1);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ, (void **)&p), 0);
	for (size_t i = 0; i < 65536; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	assert_int_equal(dk_buffer_release(b), 0);

	/* Back to Bob: same owner, reused without zeroing. */
	assert_int_equal(dk_buffer_create(c->reg, bob, 65536, 0, &b), 0);
	dk_buffer_registry_stats(c->reg, &st);
	assert_int_equal(st.pool_reuses, 2);
	assert_int_equal(st.pool_zeroed, 1);
	assert_int_equal(dk_buffer_release(b), 0);

	dk_budget_destroy(alice);
	dk_budget_destroy(bob);
}

static void test_exported_buffer_never_pooled(void **state)
{
	struct ctx *c = *state;
	struct dk_buffer *b;
	struct dk_buffer_stats st;
	int fd;

	assert_int_equal(dk_buffer_create(c->reg, NULL, 12288, 0, &b), 0);
	assert_int_equal(dk_buffer_export(b, DK_RIGHTS_BUFFER_RW, &fd), 0);
	assert_int_equal(dk_buffer_release(b), 0);
	assert_int_equal(dk_buffer_create(c->reg, NULL, 12288, 0, &b), 0);
	dk_buffer_registry_stats(c->reg, &st);
	assert_int_equal(st.pool_reuses, 0); /* another process may still hold the old one */
	assert_int_equal(dk_buffer_release(b), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_refusals, setup, teardown),
		cmocka_unit_test(test_registry_limits_checked),
		cmocka_unit_test(test_live_cap),
		cmocka_unit_test_setup_teardown(test_budget_refusal_changes_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fresh_buffer_zero_and_size_sealed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_slice_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_range_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_cache_hits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_then_writable_map_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_handle_cannot_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_rights_narrow_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_refuses_non_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_rights_must_match_descriptor, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pool_zeroes_for_new_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exported_buffer_never_pooled, setup, teardown),
	};

	return cmocka_run_group_tests_name("buffer", tests, NULL, NULL);
}
