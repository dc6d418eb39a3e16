/* SPDX-License-Identifier: MIT */
/*
 * The copy engine model of dk-hwsim, driven the way its driver will: the test maps the register
 * window, programs the ring, queues descriptors, rings the doorbell and waits on the interrupt
 * (rig.h). Covers copy and fill, every fault kind with "no byte anywhere changed", FAULTED
 * until reset, GRANT and UNMAP taking windows away, IRQ_ENABLE as a level-triggered mask, and
 * every injection mode.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rig.h"

#define RW (DK_DMA_READ | DK_DMA_WRITE)
#define MIB (1024u * 1024u)

/* A board with copy0 granted and a 64-entry ring in its own READ|WRITE window. */
struct env {
	struct rig R;
	struct drv D;
	struct buf ring;
	uint64_t ring_iova;
};

static void env_up(struct env *E)
{
	rig_start(&E->R, RIG_BOARD);
	drv_grant(&E->R, "copy0", &E->D);
	buf_new(&E->ring, 4096);
	assert_int_equal(rig_map(&E->R, "copy0", E->ring.fd, RW, 0, 4096, &E->ring_iova), 0);
	drv_ring(&E->D, &E->ring, E->ring_iova, 64);
}

static void env_down(struct env *E)
{
	drv_close(&E->D);
	buf_free(&E->ring);
	rig_stop(&E->R);
}

/* A zeroed 4 KiB buffer, mapped read-write for copy0. Returns its IOVA. */
static uint64_t dst_mapped(struct env *E, struct buf *B)
{
	uint64_t iova;

	buf_new(B, 4096);
	memset(B->p, 0, B->size);
	assert_int_equal(rig_map(&E->R, "copy0", B->fd, RW, 0, B->size, &iova), 0);
	return iova;
}

static void fill_pattern(struct buf *B, uint32_t seed)
{
	for (size_t i = 0; i < B->size; i++) {
		seed = seed * 1103515245u + 12345u;
		B->p[i] = (uint8_t)(seed >> 16);
	}
}

/* A private copy of a buffer's bytes, to prove later that none changed. */
static uint8_t *snapshot(const struct buf *B)
{
	uint8_t *s = malloc(B->size);

	assert_non_null(s);
	memcpy(s, B->p, B->size);
	return s;
}

static void assert_unchanged(const struct buf *B, uint8_t *snap)
{
	assert_memory_equal(B->p, snap, B->size);
	free(snap);
}

static uint64_t fault_addr(struct drv *D)
{
	return reg(D, DK_COPY_REG_FAULT_ADDR_LO) |
	       (uint64_t)reg(D, DK_COPY_REG_FAULT_ADDR_HI) << 32;
}

/* The device stopped on a fault of @kind at @addr on descriptor @index, and said so. */
static void assert_fault(struct drv *D, uint32_t kind, uint64_t addr, uint32_t index)
{
	assert_int_equal(drv_wait_irq(D), 1);
	assert_int_equal(reg(D, DK_COPY_REG_FAULT_KIND), kind);
	assert_int_equal(fault_addr(D), addr);
	assert_int_equal(reg(D, DK_COPY_REG_FAULT_DESC), index);
	assert_true(reg(D, DK_COPY_REG_STATUS) & DK_COPY_STATUS_FAULTED);
	assert_false(reg(D, DK_COPY_REG_STATUS) & DK_COPY_STATUS_BUSY);
	assert_true(reg(D, DK_COPY_REG_IRQ_STATUS) & DK_COPY_IRQ_FAULT);
	assert_int_equal(reg(D, DK_COPY_REG_RING_HEAD), index);
}

/*
 * Wait until every wakeup the device may have under way is over, interrupt included. One
 * drv_sync() may be answered by a wakeup that was still running (its ID written after ours, its
 * interrupt still to come); the second can only be answered by a later one, and the device
 * thread runs one wakeup at a time.
 */
static void settle(struct drv *D)
{
	drv_sync(D);
	drv_sync(D);
}

/* ---- copy and fill ---- */

static void copy_1mib(void **state)
{
	struct env E;
	struct buf src, dst;
	struct dk_hwsim_stats st;
	uint64_t si, di;
	uint32_t idx;

	(void)state;
	env_up(&E);
	buf_new(&src, MIB);
	buf_new(&dst, MIB);
	fill_pattern(&src, 1);
	memset(dst.p, 0, dst.size);
	assert_int_equal(rig_map(&E.R, "copy0", src.fd, DK_DMA_READ, 0, MIB, &si), 0);
	assert_int_equal(rig_map(&E.R, "copy0", dst.fd, DK_DMA_WRITE, 0, MIB, &di), 0);
	idx = drv_submit(&E.D, DK_COPY_OP_COPY, MIB, si, di);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(reg(&E.D, DK_COPY_REG_COMPLETED), 1);
	assert_int_equal(reg(&E.D, DK_COPY_REG_RING_HEAD), 1);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), DK_COPY_IRQ_COMPLETION);
	assert_int_equal(reg(&E.D, DK_COPY_REG_STATUS), DK_COPY_STATUS_ENABLED);
	assert_int_equal(drv_desc(&E.D, idx)->status, 0);
	assert_int_equal(drv_desc(&E.D, idx)->tag, 0x7a6 + idx);
	assert_memory_equal(dst.p, src.p, MIB);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.descriptors, 1);
	assert_int_equal(st.faults, 0);
	assert_int_equal(st.irqs, 1);
	assert_int_equal(st.windows, 3);
	buf_free(&src);
	buf_free(&dst);
	env_down(&E);
}

static void fill_and_wrap(void **state)
{
	struct env E;
	struct buf dst;
	uint64_t di;

	(void)state;
	env_up(&E);
	drv_ring(&E.D, &E.ring, E.ring_iova, 4); /* small: ten descriptors wrap it twice */
	buf_new(&dst, 8192);
	memset(dst.p, 0x11, dst.size);
	assert_int_equal(rig_map(&E.R, "copy0", dst.fd, RW, 0, dst.size, &di), 0);
	for (uint32_t i = 0; i < 10; i++) {
		uint32_t idx = drv_submit(&E.D, DK_COPY_OP_FILL, 100, 0xff00u | (0xa0 + i),
					  di + 1000 + i * 100);

		assert_int_equal(drv_wait_irq(&E.D), 1);
		assert_int_equal(reg(&E.D, DK_COPY_REG_COMPLETED), i + 1);
		assert_int_equal(drv_desc(&E.D, idx)->status, 0);
		drv_ack(&E.D); /* so the next completion raises the interrupt again */
	}
	for (size_t i = 0; i < dst.size; i++) {
		uint8_t want = 0x11;

		if (i >= 1000 && i < 2000)
			want = (uint8_t)(0xa0 + (i - 1000) / 100);
		if (dst.p[i] != want)
			fail_msg("byte %zu is 0x%02x, not 0x%02x", i, dst.p[i], want);
	}
	buf_free(&dst);
	env_down(&E);
}

/* Two descriptors in one doorbell complete in order; one interrupt until acknowledged, and an
 * acknowledgement with completions unreported signals again. */
static void batch_and_irq_ack(void **state)
{
	struct env E;
	struct buf a;
	uint64_t ai;

	(void)state;
	env_up(&E);
	buf_new(&a, 4096);
	memset(a.p, 0, a.size);
	assert_int_equal(rig_map(&E.R, "copy0", a.fd, RW, 0, a.size, &ai), 0);
	drv_queue(&E.D, DK_COPY_OP_FILL, 10, 1, ai);
	drv_queue(&E.D, DK_COPY_OP_COPY, 10, ai, ai + 2048); /* what the first one filled */
	drv_kick(&E.D);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	drv_wait_reg(&E.D, DK_COPY_REG_COMPLETED, ~0u, 2);
	for (int i = 0; i < 10; i++)
		assert_int_equal(a.p[2048 + i], 1);
	/* Still pending, not acknowledged: a completion now raises no interrupt. */
	drv_submit(&E.D, DK_COPY_OP_FILL, 1, 2, ai + 100);
	drv_wait_reg(&E.D, DK_COPY_REG_COMPLETED, ~0u, 3);
	settle(&E.D);
	assert_int_equal(drv_irq_count(&E.D), 0);
	/* Acknowledged while that completion is unreported: the line stays asserted, so the
	 * acknowledgement signals again at once (docs/devices/copy.md). */
	drv_ack(&E.D);
	drv_sync(&E.D);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), DK_COPY_IRQ_COMPLETION);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_ACK), 0);
	/* Acknowledged with nothing unreported: IRQ_STATUS clears, the next one interrupts. */
	drv_ack(&E.D);
	settle(&E.D);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_ACK), 0);
	assert_int_equal(drv_irq_count(&E.D), 0);
	drv_submit(&E.D, DK_COPY_OP_FILL, 1, 3, ai + 101);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(a.p[100], 2);
	assert_int_equal(a.p[101], 3);
	buf_free(&a);
	env_down(&E);
}

/* More work in one doorbell than one wakeup does (descriptors, then bytes): all of it done. */
static void long_batches(void **state)
{
	struct env E;
	struct buf ring, dst, big_src, big_dst;
	uint64_t ri, di, bsi, bdi;

	(void)state;
	env_up(&E);
	buf_new(&ring, 256 * 32);
	buf_new(&dst, 4096);
	memset(dst.p, 0, dst.size);
	assert_int_equal(rig_map(&E.R, "copy0", ring.fd, RW, 0, ring.size, &ri), 0);
	assert_int_equal(rig_map(&E.R, "copy0", dst.fd, RW, 0, dst.size, &di), 0);
	drv_ring(&E.D, &ring, ri, 256);
	for (uint32_t i = 0; i < 200; i++)
		drv_queue(&E.D, DK_COPY_OP_FILL, 1, i + 1, di + i);
	drv_kick(&E.D);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	drv_wait_reg(&E.D, DK_COPY_REG_COMPLETED, ~0u, 200);
	for (uint32_t i = 0; i < 200; i++)
		assert_int_equal(dst.p[i], (uint8_t)(i + 1));
	assert_int_equal(dst.p[200], 0);
	/* Three full-size copies: more bytes than one wakeup moves. */
	buf_new(&big_src, DK_COPY_LENGTH_MAX);
	buf_new(&big_dst, 3 * (size_t)DK_COPY_LENGTH_MAX);
	fill_pattern(&big_src, 6);
	assert_int_equal(rig_map(&E.R, "copy0", big_src.fd, DK_DMA_READ, 0, big_src.size, &bsi),
			 0);
	assert_int_equal(rig_map(&E.R, "copy0", big_dst.fd, DK_DMA_WRITE, 0, big_dst.size, &bdi),
			 0);
	drv_ack(&E.D);
	for (uint32_t i = 0; i < 3; i++)
		drv_queue(&E.D, DK_COPY_OP_COPY, DK_COPY_LENGTH_MAX, bsi,
			  bdi + (uint64_t)i * DK_COPY_LENGTH_MAX);
	drv_kick(&E.D);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	drv_wait_reg(&E.D, DK_COPY_REG_COMPLETED, ~0u, 203);
	for (uint32_t i = 0; i < 3; i++)
		assert_memory_equal(big_dst.p + (size_t)i * DK_COPY_LENGTH_MAX, big_src.p,
				    DK_COPY_LENGTH_MAX);
	buf_free(&big_src);
	buf_free(&big_dst);
	buf_free(&ring);
	buf_free(&dst);
	env_down(&E);
}

/* What the driver writes into RO registers changes nothing: the device rewrites them. */
static void ro_registers_rewritten(void **state)
{
	struct env E;

	(void)state;
	env_up(&E);
	drv_sync(&E.D);
	assert_int_equal(reg(&E.D, DK_COPY_REG_VERSION), DK_COPY_VERSION);
	assert_int_equal(reg(&E.D, DK_COPY_REG_CAPS), DK_COPY_CAPS_COPY | DK_COPY_CAPS_FILL);
	reg_set(&E.D, DK_COPY_REG_STATUS, 0xffffffffu);
	reg_set(&E.D, DK_COPY_REG_COMPLETED, 77);
	reg_set(&E.D, DK_COPY_REG_RING_HEAD, 5);
	reg_set(&E.D, DK_COPY_REG_FAULT_KIND, 3);
	reg_set(&E.D, DK_COPY_REG_IRQ_STATUS, 3);
	reg_set(&E.D, DK_COPY_REG_VERSION, 9);
	drv_sync(&E.D);
	assert_int_equal(reg(&E.D, DK_COPY_REG_STATUS), DK_COPY_STATUS_ENABLED);
	assert_int_equal(reg(&E.D, DK_COPY_REG_COMPLETED), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_RING_HEAD), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_FAULT_KIND), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_VERSION), DK_COPY_VERSION);
	/* A ring whose tail is more than a ring ahead of head is malformed. */
	reg_set(&E.D, DK_COPY_REG_RING_TAIL, 65);
	doorbell(&E.D);
	assert_fault(&E.D, DK_COPY_FAULT_MALFORMED, E.ring_iova, 0);
	env_down(&E);
}

/* ---- faults ---- */

/* The destination runs one byte past its window: a write fault at the window's end, and no
 * byte changed anywhere, not even right after the window in the same memfd. */
static void fault_write_one_past(void **state)
{
	struct env E;
	struct buf src, dst;
	uint8_t *snap_src, *snap_dst, *snap_ring;
	uint64_t si, di;
	uint32_t idx;

	(void)state;
	env_up(&E);
	buf_new(&src, 8192);
	buf_new(&dst, 16384);
	fill_pattern(&src, 2);
	memset(dst.p, 0x5a, dst.size);
	assert_int_equal(rig_map(&E.R, "copy0", src.fd, DK_DMA_READ, 0, 8192, &si), 0);
	/* The window covers [4096, 12288) of the memfd: bytes live on either side of it. */
	assert_int_equal(rig_map(&E.R, "copy0", dst.fd, DK_DMA_WRITE, 4096, 8192, &di), 0);
	snap_src = snapshot(&src);
	snap_dst = snapshot(&dst);
	idx = drv_submit(&E.D, DK_COPY_OP_COPY, 8192, si, di + 1);
	snap_ring = snapshot(&E.ring);
	assert_fault(&E.D, DK_COPY_FAULT_WRITE, di + 8192, idx);
	assert_int_equal(reg(&E.D, DK_COPY_REG_COMPLETED), 0);
	assert_int_equal(drv_desc(&E.D, idx)->status, DK_COPY_FAULT_WRITE);
	/* The ring changed in that status word only. */
	memcpy(snap_ring + (size_t)idx * 32 + DK_COPY_DESC_STATUS_OFFSET,
	       &drv_desc(&E.D, idx)->status, 4);
	assert_unchanged(&E.ring, snap_ring);
	assert_unchanged(&src, snap_src);
	assert_unchanged(&dst, snap_dst);
	/* A fill one byte past is refused the same way. */
	drv_reset(&E.D);
	drv_ring(&E.D, &E.ring, E.ring_iova, 64);
	snap_dst = snapshot(&dst);
	idx = drv_submit(&E.D, DK_COPY_OP_FILL, 8193, 0, di);
	assert_fault(&E.D, DK_COPY_FAULT_WRITE, di + 8192, idx);
	assert_unchanged(&dst, snap_dst);
	buf_free(&src);
	buf_free(&dst);
	env_down(&E);
}

static void fault_read_outside(void **state)
{
	struct env E;
	struct buf src, dst, wo;
	uint8_t *snap;
	uint64_t si, di, wi;
	uint32_t idx;

	(void)state;
	env_up(&E);
	buf_new(&src, 8192);
	buf_new(&dst, 8192);
	buf_new(&wo, 4096);
	fill_pattern(&src, 3);
	memset(dst.p, 0, dst.size);
	assert_int_equal(rig_map(&E.R, "copy0", src.fd, DK_DMA_READ, 0, 4096, &si), 0);
	assert_int_equal(rig_map(&E.R, "copy0", dst.fd, DK_DMA_WRITE, 0, 8192, &di), 0);
	assert_int_equal(rig_map(&E.R, "copy0", wo.fd, DK_DMA_WRITE, 0, 4096, &wi), 0);
	snap = snapshot(&dst);
	/* Source runs one byte past its window. */
	idx = drv_submit(&E.D, DK_COPY_OP_COPY, 4097, si, di);
	assert_fault(&E.D, DK_COPY_FAULT_READ, si + 4096, idx);
	assert_int_equal(drv_desc(&E.D, idx)->status, DK_COPY_FAULT_READ);
	assert_unchanged(&dst, snap);
	/* Source in a window the device may only write. */
	drv_reset(&E.D);
	drv_ring(&E.D, &E.ring, E.ring_iova, 64);
	snap = snapshot(&dst);
	idx = drv_submit(&E.D, DK_COPY_OP_COPY, 16, wi, di);
	assert_fault(&E.D, DK_COPY_FAULT_READ, wi, idx);
	assert_unchanged(&dst, snap);
	/* Source in the gap right before a window. */
	drv_reset(&E.D);
	drv_ring(&E.D, &E.ring, E.ring_iova, 64);
	idx = drv_submit(&E.D, DK_COPY_OP_COPY, 16, di - 1, di);
	assert_fault(&E.D, DK_COPY_FAULT_READ, di - 1, idx);
	buf_free(&src);
	buf_free(&dst);
	buf_free(&wo);
	env_down(&E);
}

static void fault_ring_outside(void **state)
{
	struct env E;
	struct buf ro, dst;
	uint8_t *snap;
	uint64_t roi, di;

	(void)state;
	env_up(&E);
	di = dst_mapped(&E, &dst);
	/* A ring no window covers: nothing to fetch, nothing to write back. */
	drv_ring(&E.D, &E.ring, DK_HWSIM_IOVA_BASE + (1ull << 40), 64);
	drv_submit(&E.D, DK_COPY_OP_FILL, 10, 1, di);
	assert_fault(&E.D, DK_COPY_FAULT_RING, DK_HWSIM_IOVA_BASE + (1ull << 40), 0);
	/* A ring the device may read but not write back to: not executed, status untouched. */
	buf_new(&ro, 4096);
	assert_int_equal(rig_map(&E.R, "copy0", ro.fd, DK_DMA_READ, 0, ro.size, &roi), 0);
	drv_reset(&E.D);
	drv_ring(&E.D, &ro, roi, 64);
	snap = snapshot(&dst);
	drv_submit(&E.D, DK_COPY_OP_FILL, 10, 1, di);
	assert_fault(&E.D, DK_COPY_FAULT_RING, roi, 0);
	assert_int_equal(drv_desc(&E.D, 0)->status, 0xffffffffu);
	assert_unchanged(&dst, snap);
	/* Slot 2 of a ring whose window holds only two slots. */
	drv_reset(&E.D);
	assert_int_equal(rig_unmap(&E.R, "copy0", roi), 0);
	assert_int_equal(rig_map(&E.R, "copy0", ro.fd, RW, 0, 64, &roi), 0);
	drv_ring(&E.D, &ro, roi, 4);
	drv_queue(&E.D, DK_COPY_OP_FILL, 1, 1, di);
	drv_queue(&E.D, DK_COPY_OP_FILL, 1, 2, di + 1);
	drv_queue(&E.D, DK_COPY_OP_FILL, 1, 3, di + 2);
	drv_kick(&E.D); /* one wakeup: two completions and the fault, one interrupt */
	assert_fault(&E.D, DK_COPY_FAULT_RING, roi + 64, 2);
	assert_int_equal(reg(&E.D, DK_COPY_REG_COMPLETED), 2);
	assert_int_equal(dst.p[2], 0);
	buf_free(&ro);
	buf_free(&dst);
	env_down(&E);
}

static void fault_malformed(void **state)
{
	static const struct {
		uint16_t op, flags;
		uint32_t length;
	} bad[] = {
		{0, 0, 16}, {3, 0, 16}, {DK_COPY_OP_FILL, 1, 16}, {DK_COPY_OP_FILL, 0, 0},
		{DK_COPY_OP_FILL, 0, DK_COPY_LENGTH_MAX + 1},
	};
	struct env E;
	struct buf dst;
	uint8_t *snap;
	uint64_t di;

	(void)state;
	env_up(&E);
	di = dst_mapped(&E, &dst);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dk_copy_desc *d = drv_desc(&E.D, 0);

		snap = snapshot(&dst);
		d->op = bad[i].op;
		d->flags = bad[i].flags;
		d->length = bad[i].length;
		d->src = 0x42;
		d->dst = di;
		d->status = 0xffffffffu;
		E.D.tail = 1;
		reg_set(&E.D, DK_COPY_REG_RING_TAIL, 1);
		doorbell(&E.D);
		assert_fault(&E.D, DK_COPY_FAULT_MALFORMED, E.ring_iova, 0);
		assert_int_equal(d->status, DK_COPY_FAULT_MALFORMED);
		assert_unchanged(&dst, snap);
		drv_reset(&E.D);
		drv_ring(&E.D, &E.ring, E.ring_iova, 64);
	}
	/* A ring size that is not a power of two, and an unaligned ring base. */
	reg_set(&E.D, DK_COPY_REG_RING_SIZE, 48);
	drv_submit(&E.D, DK_COPY_OP_FILL, 1, 1, di);
	assert_fault(&E.D, DK_COPY_FAULT_MALFORMED, E.ring_iova, 0);
	drv_reset(&E.D);
	drv_ring(&E.D, &E.ring, E.ring_iova + 16, 64);
	drv_submit(&E.D, DK_COPY_OP_FILL, 1, 1, di);
	assert_fault(&E.D, DK_COPY_FAULT_MALFORMED, E.ring_iova + 16, 0);
	assert_int_equal(dst.p[0], 0);
	buf_free(&dst);
	env_down(&E);
}

/* A faulted device executes nothing until reset; after the reset it works again. */
static void faulted_until_reset(void **state)
{
	struct env E;
	struct buf dst;
	struct dk_hwsim_stats st;
	uint64_t di;

	(void)state;
	env_up(&E);
	di = dst_mapped(&E, &dst);
	drv_submit(&E.D, DK_COPY_OP_FILL, 4097, 7, di);
	assert_fault(&E.D, DK_COPY_FAULT_WRITE, di + 4096, 0);
	/* Valid work queued behind it, acknowledged, rung again: still stopped. */
	drv_ack(&E.D);
	drv_submit(&E.D, DK_COPY_OP_FILL, 16, 7, di);
	settle(&E.D);
	assert_true(reg(&E.D, DK_COPY_REG_STATUS) & DK_COPY_STATUS_FAULTED);
	assert_int_equal(reg(&E.D, DK_COPY_REG_COMPLETED), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_RING_HEAD), 0);
	assert_int_equal(drv_irq_count(&E.D), 0);
	assert_int_equal(dst.p[0], 0);
	/* Reset: registers back to power-on, ring to program again. */
	drv_reset(&E.D);
	assert_int_equal(reg(&E.D, DK_COPY_REG_STATUS), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_FAULT_KIND), 0);
	assert_int_equal(fault_addr(&E.D), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_RING_SIZE), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_RING_BASE_LO), 0);
	drv_ring(&E.D, &E.ring, E.ring_iova, 64);
	drv_submit(&E.D, DK_COPY_OP_FILL, 16, 7, di);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(reg(&E.D, DK_COPY_REG_COMPLETED), 1);
	assert_int_equal(dst.p[15], 7);
	assert_int_equal(dst.p[16], 0);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.faults, 1);
	assert_int_equal(st.descriptors, 1);
	assert_int_equal(st.resets, 2); /* the GRANT and ours */
	buf_free(&dst);
	env_down(&E);
}

/* ---- windows taken away ---- */

static void grant_again_drops_windows(void **state)
{
	struct env E;
	struct buf src, dst, ring2;
	struct dk_hwsim_stats st;
	uint64_t si, di, ri2, si2;

	(void)state;
	env_up(&E);
	buf_new(&src, 4096);
	buf_new(&dst, 4096);
	memset(dst.p, 0, dst.size);
	assert_int_equal(rig_map(&E.R, "copy0", src.fd, DK_DMA_READ, 0, 4096, &si), 0);
	/* A new driver: the device is reset and every window of the old one is gone. */
	drv_close(&E.D);
	drv_grant(&E.R, "copy0", &E.D);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.windows, 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_STATUS), 0);
	buf_new(&ring2, 4096);
	assert_int_equal(rig_map(&E.R, "copy0", ring2.fd, RW, 0, 4096, &ri2), 0);
	assert_int_equal(rig_map(&E.R, "copy0", dst.fd, DK_DMA_WRITE, 0, 4096, &di), 0);
	assert_int_equal(rig_map(&E.R, "copy0", src.fd, DK_DMA_READ, 0, 4096, &si2), 0);
	/* IOVAs are not reused: the old one reaches nothing. */
	assert_true(ri2 > si && di > si && si2 > si);
	drv_ring(&E.D, &ring2, ri2, 64);
	drv_submit(&E.D, DK_COPY_OP_COPY, 16, si, di);
	assert_fault(&E.D, DK_COPY_FAULT_READ, si, 0);
	/* The old ring's IOVA is gone too. */
	drv_reset(&E.D);
	drv_ring(&E.D, &E.ring, E.ring_iova, 64);
	drv_submit(&E.D, DK_COPY_OP_FILL, 16, 1, di);
	assert_fault(&E.D, DK_COPY_FAULT_RING, E.ring_iova, 0);
	assert_int_equal(dst.p[0], 0);
	buf_free(&ring2);
	buf_free(&src);
	buf_free(&dst);
	env_down(&E);
}

static void unmap_window(void **state)
{
	struct env E;
	struct buf src, dst;
	struct dk_hwsim_stats st;
	uint64_t si, di;

	(void)state;
	env_up(&E);
	buf_new(&src, 4096);
	buf_new(&dst, 4096);
	memset(src.p, 0x33, src.size);
	memset(dst.p, 0, dst.size);
	assert_int_equal(rig_map(&E.R, "copy0", src.fd, DK_DMA_READ, 0, 4096, &si), 0);
	assert_int_equal(rig_map(&E.R, "copy0", dst.fd, DK_DMA_WRITE, 0, 4096, &di), 0);
	drv_submit(&E.D, DK_COPY_OP_COPY, 64, si, di);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(dst.p[63], 0x33);
	drv_ack(&E.D);
	assert_int_equal(rig_unmap(&E.R, "copy0", si), 0);
	assert_int_equal(rig_unmap(&E.R, "copy0", si), -ENOENT);
	assert_int_equal(rig_unmap(&E.R, "copy0", di + 1), -ENOENT); /* not a window's start */
	assert_int_equal(rig_unmap(&E.R, "nosuch", di), -ENODEV);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.windows, 2);
	drv_submit(&E.D, DK_COPY_OP_COPY, 64, si, di + 64);
	assert_fault(&E.D, DK_COPY_FAULT_READ, si, 1);
	assert_int_equal(dst.p[64], 0);
	buf_free(&src);
	buf_free(&dst);
	env_down(&E);
}

/* Windows are per device: copy1 cannot reach what copy0 maps. */
static void windows_per_device(void **state)
{
	struct env E;
	struct drv D1;
	struct buf ring1, dst;
	uint64_t r1, di;

	(void)state;
	env_up(&E);
	di = dst_mapped(&E, &dst);
	drv_grant(&E.R, "copy1", &D1);
	buf_new(&ring1, 4096);
	assert_int_equal(rig_map(&E.R, "copy1", ring1.fd, RW, 0, 4096, &r1), 0);
	drv_ring(&D1, &ring1, r1, 64);
	/* Both IOVA spaces start at DK_HWSIM_IOVA_BASE: di is copy0's dst, nothing on copy1. */
	drv_submit(&D1, DK_COPY_OP_FILL, 16, 9, di);
	assert_fault(&D1, DK_COPY_FAULT_WRITE, di, 0);
	assert_int_equal(dst.p[0], 0);
	/* copy0 itself is untouched by copy1's fault. */
	assert_int_equal(reg(&E.D, DK_COPY_REG_STATUS), 0);
	drv_close(&D1);
	buf_free(&ring1);
	buf_free(&dst);
	env_down(&E);
}

/* ---- IRQ_ENABLE as a mask ---- */

/*
 * Masked (CONTROL without IRQ_ENABLE), a completion sets IRQ_STATUS.COMPLETION and signals
 * nothing; the doorbell that sets IRQ_ENABLE again finds it pending and signals it, once, with
 * no new descriptor (level-triggered). Masking and unmasking again while it is still pending
 * signals it again; once acknowledged, nothing.
 */
static void irq_masked_then_unmasked(void **state)
{
	struct env E;
	struct buf dst;
	struct dk_hwsim_stats st;
	uint64_t di;

	(void)state;
	env_up(&E);
	di = dst_mapped(&E, &dst);
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE);
	drv_submit(&E.D, DK_COPY_OP_FILL, 16, 8, di);
	drv_wait_reg(&E.D, DK_COPY_REG_COMPLETED, ~0u, 1);
	settle(&E.D);
	assert_int_equal(drv_irq_count(&E.D), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), DK_COPY_IRQ_COMPLETION);
	assert_int_equal(reg(&E.D, DK_COPY_REG_STATUS), DK_COPY_STATUS_ENABLED);
	assert_int_equal(dst.p[15], 8);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.irqs, 0);
	assert_int_equal(st.irqs_lost, 0);

	/* Unmasked: the pending completion is signalled at once, and only once. */
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE | DK_COPY_CONTROL_IRQ_ENABLE);
	drv_sync(&E.D);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	settle(&E.D); /* doorbells with IRQ_ENABLE staying set: nothing more */
	assert_int_equal(drv_irq_count(&E.D), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_COMPLETED), 1);
	assert_int_equal(reg(&E.D, DK_COPY_REG_RING_HEAD), 1);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), DK_COPY_IRQ_COMPLETION);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.irqs, 1);
	assert_int_equal(st.descriptors, 1);

	/* Still unacknowledged: masked and unmasked again, it is signalled again. */
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE);
	settle(&E.D);
	assert_int_equal(drv_irq_count(&E.D), 0);
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE | DK_COPY_CONTROL_IRQ_ENABLE);
	drv_sync(&E.D);
	assert_int_equal(drv_wait_irq(&E.D), 1);

	/* Acknowledged (nothing unreported): cleared, and unmasking signals nothing. */
	drv_ack(&E.D);
	settle(&E.D);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), 0);
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE);
	settle(&E.D);
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE | DK_COPY_CONTROL_IRQ_ENABLE);
	settle(&E.D);
	assert_int_equal(drv_irq_count(&E.D), 0);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.irqs, 2);
	/* And the next completion interrupts as usual. */
	drv_submit(&E.D, DK_COPY_OP_FILL, 16, 9, di + 16);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(dst.p[31], 9);
	buf_free(&dst);
	env_down(&E);
}

/* IRQ_ENABLE set with nothing pending in IRQ_STATUS signals nothing, on a fresh device too. */
static void irq_unmask_nothing_pending(void **state)
{
	struct env E;
	struct dk_hwsim_stats st;

	(void)state;
	env_up(&E);
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE);
	settle(&E.D);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), 0);
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE | DK_COPY_CONTROL_IRQ_ENABLE);
	settle(&E.D);
	assert_int_equal(drv_irq_count(&E.D), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_STATUS), DK_COPY_STATUS_ENABLED);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.irqs, 0);
	env_down(&E);
}

/*
 * A mask the engine never saw: the driver clears IRQ_ENABLE, then sets it again before any
 * doorbell (or the two doorbells reach a busy engine as one). No edge, so lifting the mask
 * signals nothing, and with IRQ_STATUS.COMPLETION still unacknowledged, neither does the next
 * completion: the driver would wait for its watchdog. Acknowledging COMPLETION in the unmasking
 * doorbell (what dk-copy does) signals at once what completed since the last interrupt.
 */
static void irq_unmask_unseen_mask(void **state)
{
	struct env E;
	struct buf dst;
	uint64_t di;

	(void)state;
	env_up(&E);
	di = dst_mapped(&E, &dst);
	drv_submit(&E.D, DK_COPY_OP_FILL, 16, 1, di);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), DK_COPY_IRQ_COMPLETION);

	/* Masked and unmasked with one doorbell, a new descriptor under it: silence. */
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE);
	drv_queue(&E.D, DK_COPY_OP_FILL, 16, 2, di + 16);
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE | DK_COPY_CONTROL_IRQ_ENABLE);
	drv_kick(&E.D);
	drv_wait_reg(&E.D, DK_COPY_REG_COMPLETED, ~0u, 2);
	settle(&E.D);
	assert_int_equal(drv_irq_count(&E.D), 0);
	assert_int_equal(dst.p[31], 2);

	/* The same unmask with COMPLETION acknowledged in its doorbell: signalled, once. */
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE);
	reg_set(&E.D, DK_COPY_REG_IRQ_ACK, DK_COPY_IRQ_COMPLETION);
	reg_set(&E.D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE | DK_COPY_CONTROL_IRQ_ENABLE);
	doorbell(&E.D);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	settle(&E.D);
	assert_int_equal(drv_irq_count(&E.D), 0);
	/* Acknowledged with nothing unreported since: no further interrupt. */
	drv_ack(&E.D);
	settle(&E.D);
	assert_int_equal(drv_irq_count(&E.D), 0);
	assert_int_equal(reg(&E.D, DK_COPY_REG_IRQ_STATUS), 0);
	buf_free(&dst);
	env_down(&E);
}

/* ---- injection ---- */

static void inject_hang(void **state)
{
	struct env E;
	struct buf dst;
	struct dk_hwsim_stats st;
	uint64_t di;

	(void)state;
	env_up(&E);
	di = dst_mapped(&E, &dst);
	assert_int_equal(rig_inject(&E.R, "copy0", DK_HWSIM_FAULT_HANG), 0);
	drv_submit(&E.D, DK_COPY_OP_FILL, 16, 5, di);
	settle(&E.D);
	assert_int_equal(reg(&E.D, DK_COPY_REG_COMPLETED), 0);
	assert_true(reg(&E.D, DK_COPY_REG_STATUS) & DK_COPY_STATUS_BUSY);
	assert_false(reg(&E.D, DK_COPY_REG_STATUS) & DK_COPY_STATUS_FAULTED);
	assert_int_equal(drv_irq_count(&E.D), 0);
	assert_int_equal(dst.p[0], 0);
	/* A reset ends the hang (and the mode). */
	drv_reset(&E.D);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.fault_mode, DK_HWSIM_FAULT_NONE);
	drv_ring(&E.D, &E.ring, E.ring_iova, 64);
	drv_submit(&E.D, DK_COPY_OP_FILL, 16, 5, di);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(dst.p[15], 5);
	buf_free(&dst);
	env_down(&E);
}

static void inject_lost_irq(void **state)
{
	struct env E;
	struct buf dst;
	struct dk_hwsim_stats st;
	uint64_t di;

	(void)state;
	env_up(&E);
	di = dst_mapped(&E, &dst);
	assert_int_equal(rig_inject(&E.R, "copy0", DK_HWSIM_FAULT_LOST_IRQ), 0);
	drv_submit(&E.D, DK_COPY_OP_FILL, 16, 6, di);
	drv_wait_reg(&E.D, DK_COPY_REG_COMPLETED, ~0u, 1);
	settle(&E.D); /* every wakeup is over: any interrupt raised is counted */
	assert_int_equal(drv_irq_count(&E.D), 0);
	assert_true(reg(&E.D, DK_COPY_REG_IRQ_STATUS) & DK_COPY_IRQ_COMPLETION);
	assert_int_equal(dst.p[15], 6);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.irqs_lost, 1);
	assert_int_equal(st.irqs, 0);
	assert_int_equal(st.fault_mode, DK_HWSIM_FAULT_NONE); /* one completion only */
	/* The next one interrupts again. */
	drv_ack(&E.D);
	drv_submit(&E.D, DK_COPY_OP_FILL, 16, 7, di + 16);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(dst.p[31], 7);
	buf_free(&dst);
	env_down(&E);
}

static void inject_corrupt(void **state)
{
	struct env E;
	struct buf src, dst;
	uint8_t *snap;
	uint64_t si, di;
	uint32_t idx;

	(void)state;
	env_up(&E);
	buf_new(&src, 4096);
	buf_new(&dst, 4096);
	fill_pattern(&src, 4);
	memset(dst.p, 0, dst.size);
	assert_int_equal(rig_map(&E.R, "copy0", src.fd, DK_DMA_READ, 0, 4096, &si), 0);
	assert_int_equal(rig_map(&E.R, "copy0", dst.fd, DK_DMA_WRITE, 0, 4096, &di), 0);
	assert_int_equal(rig_inject(&E.R, "copy0", DK_HWSIM_FAULT_CORRUPT), 0);
	snap = snapshot(&dst);
	idx = drv_submit(&E.D, DK_COPY_OP_COPY, 4096, si, di);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(reg(&E.D, DK_COPY_REG_COMPLETED), 1);
	assert_int_equal(drv_desc(&E.D, idx)->status, DK_COPY_DESC_STATUS_CORRUPT);
	assert_false(reg(&E.D, DK_COPY_REG_STATUS) & DK_COPY_STATUS_FAULTED);
	assert_unchanged(&dst, snap);
	/* Only the next one. */
	drv_ack(&E.D);
	idx = drv_submit(&E.D, DK_COPY_OP_COPY, 4096, si, di);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	assert_int_equal(drv_desc(&E.D, idx)->status, 0);
	assert_memory_equal(dst.p, src.p, 4096);
	buf_free(&src);
	buf_free(&dst);
	env_down(&E);
}

static void inject_dma_oob(void **state)
{
	struct env E;
	struct buf src, dst;
	uint8_t *snap_src, *snap_dst;
	uint64_t si, di;
	uint32_t idx;

	(void)state;
	env_up(&E);
	buf_new(&src, 4096);
	buf_new(&dst, 8192);
	fill_pattern(&src, 5);
	memset(dst.p, 0, dst.size);
	assert_int_equal(rig_map(&E.R, "copy0", src.fd, DK_DMA_READ, 0, 4096, &si), 0);
	assert_int_equal(rig_map(&E.R, "copy0", dst.fd, DK_DMA_WRITE, 0, 4096, &di), 0);
	assert_int_equal(rig_inject(&E.R, "copy0", DK_HWSIM_FAULT_DMA_OOB), 0);
	snap_src = snapshot(&src);
	snap_dst = snapshot(&dst);
	idx = drv_submit(&E.D, DK_COPY_OP_COPY, 100, si, di + 10);
	assert_fault(&E.D, DK_COPY_FAULT_WRITE, di + 4096 + (1ull << 30), idx);
	assert_int_equal(drv_desc(&E.D, idx)->status, DK_COPY_FAULT_WRITE);
	assert_unchanged(&src, snap_src);
	assert_unchanged(&dst, snap_dst);
	buf_free(&src);
	buf_free(&dst);
	env_down(&E);
}

static void inject_slow(void **state)
{
	struct env E;
	struct buf dst;
	struct dk_hwsim_stats st;
	uint64_t di;

	(void)state;
	env_up(&E);
	di = dst_mapped(&E, &dst);
	assert_int_equal(rig_inject(&E.R, "copy0", DK_HWSIM_FAULT_SLOW), 0);
	drv_submit(&E.D, DK_COPY_OP_FILL, 8, 1, di);
	drv_submit(&E.D, DK_COPY_OP_FILL, 8, 2, di + 8);
	/* Slow, not stuck: the other devices and the protocol answer meanwhile. */
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.fault_mode, DK_HWSIM_FAULT_SLOW);
	assert_int_equal(drv_wait_irq(&E.D), 1);
	drv_wait_reg(&E.D, DK_COPY_REG_COMPLETED, ~0u, 2);
	assert_int_equal(dst.p[7], 1);
	assert_int_equal(dst.p[15], 2);
	assert_int_equal(rig_inject(&E.R, "copy0", DK_HWSIM_FAULT_NONE), 0);
	rig_stats(&E.R, "copy0", &st);
	assert_int_equal(st.fault_mode, DK_HWSIM_FAULT_NONE);
	assert_int_equal(st.descriptors, 2);
	buf_free(&dst);
	env_down(&E);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(copy_1mib),
		cmocka_unit_test(fill_and_wrap),
		cmocka_unit_test(batch_and_irq_ack),
		cmocka_unit_test(long_batches),
		cmocka_unit_test(ro_registers_rewritten),
		cmocka_unit_test(fault_write_one_past),
		cmocka_unit_test(fault_read_outside),
		cmocka_unit_test(fault_ring_outside),
		cmocka_unit_test(fault_malformed),
		cmocka_unit_test(faulted_until_reset),
		cmocka_unit_test(grant_again_drops_windows),
		cmocka_unit_test(unmap_window),
		cmocka_unit_test(windows_per_device),
		cmocka_unit_test(irq_masked_then_unmasked),
		cmocka_unit_test(irq_unmask_nothing_pending),
		cmocka_unit_test(irq_unmask_unseen_mask),
		cmocka_unit_test(inject_hang),
		cmocka_unit_test(inject_lost_irq),
		cmocka_unit_test(inject_corrupt),
		cmocka_unit_test(inject_dma_oob),
		cmocka_unit_test(inject_slow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
