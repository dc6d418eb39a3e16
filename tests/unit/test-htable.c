/* SPDX-License-Identifier: MIT */
/*
 * Handle tables: registered indices for buffers and fences, type and rights checked on lookup,
 * stale indices refused after a slot is reused, a fixed capacity, and removal refused (changing
 * nothing) while a buffer is mapped or device-owned.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dk/buffer.h>
#include <dk/fence.h>
#include <dk/htable.h>
#include <dk/rights.h>
#include <dk/time.h>

struct ctx {
	struct dk_buffer_registry *reg;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	assert_int_equal(dk_buffer_registry_create(NULL, &c->reg), 0);
	*state = c;
	return 0;
}

static uint64_t live_buffers(struct ctx *c)
{
	struct dk_buffer_stats st;

	dk_buffer_registry_stats(c->reg, &st);
	return st.live_buffers;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(live_buffers(c), 0); /* every test releases what it made */
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

static struct dk_fence *mkfence(void)
{
	struct dk_fence *f = NULL;

	assert_int_equal(dk_fence_create(0, &f), 0);
	return f;
}

static struct dk_htable *mktable(uint32_t capacity)
{
	struct dk_htable *t = NULL;

	assert_int_equal(dk_htable_create(capacity, &t), 0);
	assert_non_null(t);
	assert_int_equal(dk_htable_count(t), 0);
	return t;
}

/* ---- capacity ---- */

static void test_capacity_bounds(void **state)
{
	struct dk_htable *t = (struct dk_htable *)0x1;

	(void)state;
	assert_int_equal(dk_htable_create(0, &t), -EINVAL);
	assert_int_equal(dk_htable_create(DK_HTABLE_MAX + 1, &t), -EINVAL);
	assert_int_equal(dk_htable_create(UINT32_MAX, &t), -EINVAL);
	assert_ptr_equal(t, (struct dk_htable *)0x1); /* not written on failure */

	t = mktable(1);
	dk_htable_destroy(t);
	t = mktable(DK_HTABLE_MAX);
	dk_htable_destroy(t);
	dk_htable_destroy(NULL);
}

static void test_capacity_max_usable(void **state)
{
	struct dk_htable *t = mktable(DK_HTABLE_MAX);
	struct dk_fence *f = mkfence(), *x = mkfence(), *got;
	static uint32_t idx[DK_HTABLE_MAX];
	uint32_t extra = 77;

	(void)state;
	for (uint32_t i = 0; i < DK_HTABLE_MAX; i++) {
		assert_int_equal(dk_htable_add_fence(t, dk_fence_ref(f), &idx[i]), 0);
		assert_int_not_equal(idx[i], DK_HANDLE_NONE);
	}
	assert_int_equal(dk_htable_count(t), DK_HTABLE_MAX);
	assert_int_equal(dk_htable_add_fence(t, x, &extra), -ENOSPC);
	assert_int_equal(extra, 77);
	/* Every index distinct and reaching its entry. */
	for (uint32_t i = 0; i < DK_HTABLE_MAX; i++) {
		assert_int_equal(dk_htable_fence(t, idx[i], DK_RIGHT_WAIT, &got), 0);
		assert_ptr_equal(got, f);
		if (i > 0)
			assert_int_not_equal(idx[i], idx[i - 1]);
	}
	dk_htable_destroy(t);
	dk_fence_unref(x);
	dk_fence_unref(f);
}

/* ---- add and look up ---- */

static void test_add_lookup_buffer(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(8);
	struct dk_buffer *b = mkbuf(c, 4096), *got = NULL;
	uint32_t idx = 12345;

	assert_int_equal(dk_htable_add_buffer(t, b, &idx), 0);
	assert_int_not_equal(idx, DK_HANDLE_NONE);
	assert_int_equal(dk_htable_count(t), 1);
	assert_int_equal(dk_htable_buffer(t, idx, DK_RIGHT_READ, &got), 0);
	assert_ptr_equal(got, b);
	got = NULL;
	assert_int_equal(dk_htable_buffer(t, idx, DK_RIGHT_READ | DK_RIGHT_WRITE | DK_RIGHT_MAP,
					  &got),
			 0);
	assert_ptr_equal(got, b);
	got = NULL;
	assert_int_equal(dk_htable_buffer(t, idx, 0, &got), 0);
	assert_ptr_equal(got, b);
	assert_int_equal(live_buffers(c), 1);
	assert_int_equal(dk_htable_remove(t, idx), 0);
	assert_int_equal(dk_htable_count(t), 0);
	assert_int_equal(live_buffers(c), 0); /* the table released it */
	dk_htable_destroy(t);
}

static void test_add_lookup_fence(void **state)
{
	struct dk_htable *t = mktable(8);
	struct dk_fence *f = mkfence(), *got = NULL;
	uint32_t idx = 12345;

	(void)state;
	assert_int_equal(dk_htable_add_fence(t, dk_fence_ref(f), &idx), 0);
	assert_int_not_equal(idx, DK_HANDLE_NONE);
	assert_int_equal(dk_htable_count(t), 1);
	assert_int_equal(dk_htable_fence(t, idx, DK_RIGHT_WAIT, &got), 0);
	assert_ptr_equal(got, f);
	got = NULL;
	assert_int_equal(dk_htable_fence(t, idx, DK_RIGHT_WAIT | DK_RIGHT_SIGNAL, &got), 0);
	assert_ptr_equal(got, f);
	/* The looked-up object is the real one: signalling it is seen through ours. */
	assert_int_equal(dk_fence_signal(got, 3), 0);
	assert_int_equal(dk_fence_wait(f, 3, dk_deadline_in(0)), 0);
	assert_int_equal(dk_htable_remove(t, idx), 0);
	assert_int_equal(dk_htable_count(t), 0);
	/* The table dropped only its own reference: ours still works. */
	assert_int_equal(dk_fence_signal(f, 4), 0);
	dk_fence_unref(f);
	dk_htable_destroy(t);
}

static void test_many_mixed_entries(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(16);
	struct dk_buffer *b[8], *gb;
	struct dk_fence *f[8], *gf;
	uint32_t bi[8], fi[8];

	for (int i = 0; i < 8; i++) {
		b[i] = mkbuf(c, 4096 * (uint64_t)(i + 1));
		f[i] = mkfence();
		assert_int_equal(dk_htable_add_buffer(t, b[i], &bi[i]), 0);
		assert_int_equal(dk_htable_add_fence(t, f[i], &fi[i]), 0);
	}
	assert_int_equal(dk_htable_count(t), 16);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(dk_htable_buffer(t, bi[i], DK_RIGHT_READ, &gb), 0);
		assert_ptr_equal(gb, b[i]);
		assert_int_equal(dk_buffer_size(gb), 4096 * (uint64_t)(i + 1));
		assert_int_equal(dk_htable_fence(t, fi[i], DK_RIGHT_WAIT, &gf), 0);
		assert_ptr_equal(gf, f[i]);
	}
	dk_htable_destroy(t); /* releases the buffers, unrefs the fences */
	assert_int_equal(live_buffers(c), 0);
}

/* ---- refusals ---- */

static void test_wrong_type_ebadf(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(4);
	struct dk_buffer *b = mkbuf(c, 4096), *gb = (struct dk_buffer *)0x1;
	struct dk_fence *f = mkfence(), *gf = (struct dk_fence *)0x1;
	uint32_t bi, fi;

	assert_int_equal(dk_htable_add_buffer(t, b, &bi), 0);
	assert_int_equal(dk_htable_add_fence(t, f, &fi), 0);
	assert_int_equal(dk_htable_fence(t, bi, DK_RIGHT_WAIT, &gf), -EBADF);
	assert_int_equal(dk_htable_fence(t, bi, 0, &gf), -EBADF);
	assert_int_equal(dk_htable_buffer(t, fi, DK_RIGHT_READ, &gb), -EBADF);
	assert_int_equal(dk_htable_buffer(t, fi, 0, &gb), -EBADF);
	assert_ptr_equal(gb, (struct dk_buffer *)0x1);
	assert_ptr_equal(gf, (struct dk_fence *)0x1);
	dk_htable_destroy(t);
}

static void test_out_of_range_ebadf(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(4);
	struct dk_buffer *b = mkbuf(c, 4096), *gb = (struct dk_buffer *)0x1;
	struct dk_fence *gf = (struct dk_fence *)0x1;
	uint32_t bi, gen, bad[8];

	assert_int_equal(dk_htable_add_buffer(t, b, &bi), 0);
	gen = bi & 0xffff0000u;
	bad[0] = DK_HANDLE_NONE;
	bad[1] = gen | 4;       /* the first slot past the capacity, with a live generation */
	bad[2] = gen | 0xffffu; /* the largest slot */
	bad[3] = 4;
	bad[4] = 0xffffu;
	bad[5] = 0x7fffffffu;
	bad[6] = gen | DK_HTABLE_MAX;
	bad[7] = 0x0000ffffu | 0x00010000u;
	for (int i = 0; i < 8; i++) {
		if (bad[i] == bi)
			continue;
		assert_int_equal(dk_htable_buffer(t, bad[i], DK_RIGHT_READ, &gb), -EBADF);
		assert_int_equal(dk_htable_fence(t, bad[i], DK_RIGHT_WAIT, &gf), -EBADF);
		assert_int_equal(dk_htable_remove(t, bad[i]), -EBADF);
	}
	assert_ptr_equal(gb, (struct dk_buffer *)0x1);
	assert_ptr_equal(gf, (struct dk_fence *)0x1);
	assert_int_equal(dk_htable_count(t), 1);
	dk_htable_destroy(t);
}

static void test_free_slot_ebadf(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(4);
	struct dk_buffer *b = mkbuf(c, 4096), *gb;
	uint32_t bi;

	assert_int_equal(dk_htable_add_buffer(t, b, &bi), 0);
	/* The other slots (in range, never used) are free. */
	for (uint32_t s = 0; s < 4; s++) {
		uint32_t idx = (bi & 0xffff0000u) | s;

		if (idx == bi)
			continue;
		assert_int_equal(dk_htable_buffer(t, idx, DK_RIGHT_READ, &gb), -EBADF);
		assert_int_equal(dk_htable_remove(t, idx), -EBADF);
	}
	dk_htable_destroy(t);
}

static void test_removed_index_ebadf(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(4);
	struct dk_buffer *b = mkbuf(c, 4096), *gb = (struct dk_buffer *)0x1;
	struct dk_fence *f = mkfence(), *gf = (struct dk_fence *)0x1;
	uint32_t bi, fi;

	assert_int_equal(dk_htable_add_buffer(t, b, &bi), 0);
	assert_int_equal(dk_htable_add_fence(t, f, &fi), 0);
	assert_int_equal(dk_htable_remove(t, bi), 0);
	assert_int_equal(dk_htable_remove(t, fi), 0);
	assert_int_equal(dk_htable_count(t), 0);
	assert_int_equal(dk_htable_buffer(t, bi, DK_RIGHT_READ, &gb), -EBADF);
	assert_int_equal(dk_htable_fence(t, fi, DK_RIGHT_WAIT, &gf), -EBADF);
	/* Removing twice is refused, not a double release. */
	assert_int_equal(dk_htable_remove(t, bi), -EBADF);
	assert_int_equal(dk_htable_remove(t, fi), -EBADF);
	assert_ptr_equal(gb, (struct dk_buffer *)0x1);
	assert_ptr_equal(gf, (struct dk_fence *)0x1);
	dk_htable_destroy(t);
}

static void test_stale_index_after_reuse(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(1); /* one slot: every add reuses it */
	struct dk_buffer *a = mkbuf(c, 4096), *b = mkbuf(c, 8192), *gb;
	struct dk_fence *f = mkfence(), *gf;
	uint32_t ai, bi, fi;

	assert_int_equal(dk_htable_add_buffer(t, a, &ai), 0);
	assert_int_equal(dk_htable_remove(t, ai), 0);
	assert_int_equal(dk_htable_add_buffer(t, b, &bi), 0);
	assert_int_equal(bi & 0xffffu, ai & 0xffffu); /* the same slot ... */
	assert_int_not_equal(bi, ai);                 /* ... under a new generation */
	/* The old index does not reach the new object. */
	gb = (struct dk_buffer *)0x1;
	assert_int_equal(dk_htable_buffer(t, ai, DK_RIGHT_READ, &gb), -EBADF);
	assert_ptr_equal(gb, (struct dk_buffer *)0x1);
	assert_int_equal(dk_htable_remove(t, ai), -EBADF);
	assert_int_equal(dk_htable_count(t), 1);
	assert_int_equal(dk_htable_buffer(t, bi, DK_RIGHT_READ, &gb), 0);
	assert_ptr_equal(gb, b);
	assert_int_equal(dk_buffer_size(gb), 8192);

	/* Also across types: a fence in the reused slot is not reachable by old indices. */
	assert_int_equal(dk_htable_remove(t, bi), 0);
	assert_int_equal(dk_htable_add_fence(t, f, &fi), 0);
	assert_int_not_equal(fi, ai);
	assert_int_not_equal(fi, bi);
	assert_int_equal(dk_htable_fence(t, ai, DK_RIGHT_WAIT, &gf), -EBADF);
	assert_int_equal(dk_htable_fence(t, bi, DK_RIGHT_WAIT, &gf), -EBADF);
	assert_int_equal(dk_htable_remove(t, bi), -EBADF);
	assert_int_equal(dk_htable_fence(t, fi, DK_RIGHT_WAIT, &gf), 0);
	assert_ptr_equal(gf, f);
	dk_htable_destroy(t);
}

static void test_stale_index_many_cycles(void **state)
{
	struct dk_htable *t = mktable(2);
	struct dk_fence *f = mkfence(), *gf;
	uint32_t prev = DK_HANDLE_NONE, cur;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(dk_htable_add_fence(t, dk_fence_ref(f), &cur), 0);
		assert_int_not_equal(cur, prev);
		if (prev != DK_HANDLE_NONE) {
			assert_int_equal(dk_htable_fence(t, prev, DK_RIGHT_WAIT, &gf), -EBADF);
			assert_int_equal(dk_htable_remove(t, prev), -EBADF);
		}
		assert_int_equal(dk_htable_fence(t, cur, DK_RIGHT_WAIT, &gf), 0);
		assert_int_equal(dk_htable_remove(t, cur), 0);
		assert_int_equal(dk_htable_count(t), 0);
		prev = cur;
	}
	dk_htable_destroy(t);
	dk_fence_unref(f);
}

static void test_rights_eperm(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(4);
	struct dk_buffer *ro = mkbuf(c, 4096), *gb = (struct dk_buffer *)0x1;
	struct dk_fence *f = mkfence(), *w, *s, *gf = (struct dk_fence *)0x1;
	uint32_t bi, wi, si;

	assert_int_equal(dk_buffer_seal_readonly(ro), 0);
	assert_false(dk_rights_has(dk_buffer_rights(ro), DK_RIGHT_WRITE));
	assert_int_equal(dk_fence_dup(f, DK_RIGHT_WAIT, &w), 0);
	assert_int_equal(dk_fence_dup(f, DK_RIGHT_SIGNAL, &s), 0);
	assert_int_equal(dk_htable_add_buffer(t, ro, &bi), 0);
	assert_int_equal(dk_htable_add_fence(t, w, &wi), 0);
	assert_int_equal(dk_htable_add_fence(t, s, &si), 0);

	assert_int_equal(dk_htable_buffer(t, bi, DK_RIGHT_WRITE, &gb), -EPERM);
	assert_int_equal(dk_htable_buffer(t, bi, DK_RIGHT_READ | DK_RIGHT_WRITE, &gb), -EPERM);
	assert_ptr_equal(gb, (struct dk_buffer *)0x1);
	assert_int_equal(dk_htable_buffer(t, bi, DK_RIGHT_READ, &gb), 0);
	assert_ptr_equal(gb, ro);

	assert_int_equal(dk_htable_fence(t, wi, DK_RIGHT_SIGNAL, &gf), -EPERM);
	assert_int_equal(dk_htable_fence(t, si, DK_RIGHT_WAIT, &gf), -EPERM);
	assert_ptr_equal(gf, (struct dk_fence *)0x1);
	assert_int_equal(dk_htable_fence(t, wi, DK_RIGHT_WAIT, &gf), 0);
	assert_ptr_equal(gf, w);
	assert_int_equal(dk_htable_fence(t, si, DK_RIGHT_SIGNAL, &gf), 0);
	assert_ptr_equal(gf, s);
	/* A failed rights check leaves the entry registered. */
	assert_int_equal(dk_htable_count(t), 3);
	dk_htable_destroy(t);
	dk_fence_unref(f);
}

static void test_full_enospc_object_stays_callers(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(2);
	struct dk_buffer *a = mkbuf(c, 4096), *b = mkbuf(c, 4096), *x = mkbuf(c, 4096);
	struct dk_fence *f = mkfence();
	uint32_t ai, bi, xi = 77, fi = 78;
	uint8_t byte = 0x5a, back = 0;

	assert_int_equal(dk_htable_add_buffer(t, a, &ai), 0);
	assert_int_equal(dk_htable_add_buffer(t, b, &bi), 0);
	assert_int_equal(dk_htable_add_buffer(t, x, &xi), -ENOSPC);
	assert_int_equal(dk_htable_add_fence(t, f, &fi), -ENOSPC);
	assert_int_equal(xi, 77);
	assert_int_equal(fi, 78);
	assert_int_equal(dk_htable_count(t), 2);
	/* The refused objects are still alive and the caller's. */
	assert_int_equal(live_buffers(c), 3);
	assert_int_equal(dk_buffer_write(x, 0, &byte, 1), 0);
	assert_int_equal(dk_buffer_read(x, 0, &back, 1), 0);
	assert_int_equal(back, 0x5a);
	assert_int_equal(dk_fence_signal(f, 1), 0);
	/* Room again after a removal. */
	assert_int_equal(dk_htable_remove(t, ai), 0);
	assert_int_equal(dk_htable_add_buffer(t, x, &xi), 0);
	assert_int_equal(dk_htable_count(t), 2);
	dk_htable_destroy(t);
	assert_int_equal(live_buffers(c), 0);
	dk_fence_unref(f); /* the table never took it */
}

static void test_remove_mapped_ebusy(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(2);
	struct dk_buffer *b = mkbuf(c, 4096), *gb;
	uint32_t bi;
	void *p;

	assert_int_equal(dk_htable_add_buffer(t, b, &bi), 0);
	assert_int_equal(dk_buffer_map(b, DK_RIGHT_READ | DK_RIGHT_WRITE, &p), 0);
	assert_int_equal(dk_htable_remove(t, bi), -EBUSY);
	/* Nothing changed: still registered, still reachable, still alive. */
	assert_int_equal(dk_htable_count(t), 1);
	assert_int_equal(dk_htable_buffer(t, bi, DK_RIGHT_READ, &gb), 0);
	assert_ptr_equal(gb, b);
	assert_int_equal(live_buffers(c), 1);
	((volatile uint8_t *)p)[0] = 1; /* the mapping is intact */
	assert_int_equal(dk_buffer_unmap(b, p), 0);
	assert_int_equal(dk_htable_remove(t, bi), 0);
	assert_int_equal(live_buffers(c), 0);
	dk_htable_destroy(t);
}

static void test_remove_device_owned_ebusy(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(2);
	struct dk_buffer *b = mkbuf(c, 4096), *gb;
	struct dk_fence *f = mkfence();
	uint32_t bi;

	assert_int_equal(dk_htable_add_buffer(t, b, &bi), 0);
	assert_int_equal(dk_buffer_submit(b, f, 1), 0);
	assert_int_equal(dk_buffer_owner(b), DK_BUFFER_OWNER_DEVICE);
	assert_int_equal(dk_htable_remove(t, bi), -EBUSY);
	assert_int_equal(dk_htable_count(t), 1);
	assert_int_equal(dk_htable_buffer(t, bi, DK_RIGHT_READ, &gb), 0);
	assert_ptr_equal(gb, b);
	assert_int_equal(dk_buffer_owner(b), DK_BUFFER_OWNER_DEVICE);
	assert_int_equal(live_buffers(c), 1);
	assert_int_equal(dk_fence_signal(f, 1), 0);
	assert_int_equal(dk_buffer_reclaim(b, dk_deadline_in(DK_NSEC_PER_SEC), NULL), 0);
	assert_int_equal(dk_htable_remove(t, bi), 0);
	assert_int_equal(live_buffers(c), 0);
	dk_htable_destroy(t);
	dk_fence_unref(f);
}

static void test_destroy_releases_everything(void **state)
{
	struct ctx *c = *state;
	struct dk_htable *t = mktable(64);
	struct dk_fence *f = mkfence(), *w;
	uint32_t idx;

	for (int i = 0; i < 20; i++)
		assert_int_equal(dk_htable_add_buffer(t, mkbuf(c, 4096), &idx), 0);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(dk_fence_dup(f, DK_RIGHT_WAIT, &w), 0);
		assert_int_equal(dk_htable_add_fence(t, w, &idx), 0);
	}
	/* Leave holes: removal and destroy both release. */
	assert_int_equal(dk_htable_remove(t, idx), 0);
	assert_int_equal(dk_htable_count(t), 39);
	assert_int_equal(live_buffers(c), 20);
	dk_htable_destroy(t);
	assert_int_equal(live_buffers(c), 0);
	/* Our own handle is unaffected by the table's references going away. */
	assert_int_equal(dk_fence_signal(f, 9), 0);
	assert_int_equal(dk_fence_wait(f, 9, dk_deadline_in(0)), 0);
	dk_fence_unref(f); /* ASan's leak check catches a fence the table kept */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capacity_bounds),
		cmocka_unit_test(test_capacity_max_usable),
		cmocka_unit_test_setup_teardown(test_add_lookup_buffer, setup, teardown),
		cmocka_unit_test(test_add_lookup_fence),
		cmocka_unit_test_setup_teardown(test_many_mixed_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_type_ebadf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range_ebadf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_slot_ebadf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_index_ebadf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_index_after_reuse, setup, teardown),
		cmocka_unit_test(test_stale_index_many_cycles),
		cmocka_unit_test_setup_teardown(test_rights_eperm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_enospc_object_stays_callers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_mapped_ebusy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_device_owned_ebusy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_releases_everything, setup, teardown),
	};

	return cmocka_run_group_tests_name("htable", tests, NULL, NULL);
}
