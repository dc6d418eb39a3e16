/* SPDX-License-Identifier: MIT */
/*
 * copy.c - the copy engine model (docs/devices/copy.md; registers in copy-regs.h).
 *
 * The window is the driver's to scribble on, so the model never trusts it: at a doorbell it
 * takes the RW registers it needs once (IRQ_ACK by atomic exchange, CONTROL, RING_*) into its
 * own state, validates them, and after every wakeup rewrites every RO register from that state.
 * A descriptor is copied out of the ring once and then only the copy is looked at. Every byte
 * a descriptor reads or writes is checked against the DMA windows before any is touched.
 *
 * Called by the device thread with the device's mutex held (hwsim-internal.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>

#include "hwsim-internal.h"

/* Descriptor slot size and the byte offset of its status word. */
#define DESC_SIZE ((uint64_t)sizeof(struct dk_copy_desc))

/* Rewrite every RO register from the device's state (release: a driver that reads COMPLETED
 * sees the status words written before). ID goes last: a driver that overwrote ID and waits
 * for it to come back (docs/devices/copy.md, "Register barrier") then sees every other RO
 * register of that wakeup. */
static void publish(struct hwsim_device *dev)
{
	const struct hwsim_copy *c = &dev->copy;

	hwsim_reg_write(dev, DK_COPY_REG_VERSION, DK_COPY_VERSION);
	hwsim_reg_write(dev, DK_COPY_REG_CAPS, DK_COPY_CAPS_COPY | DK_COPY_CAPS_FILL);
	hwsim_reg_write(dev, DK_COPY_REG_FAULT_ADDR_LO, (uint32_t)c->fault_addr);
	hwsim_reg_write(dev, DK_COPY_REG_FAULT_ADDR_HI, (uint32_t)(c->fault_addr >> 32));
	hwsim_reg_write(dev, DK_COPY_REG_FAULT_DESC, c->fault_desc);
	hwsim_reg_write(dev, DK_COPY_REG_FAULT_KIND, c->fault_kind);
	hwsim_reg_write(dev, DK_COPY_REG_IRQ_STATUS, c->irq_status);
	hwsim_reg_write(dev, DK_COPY_REG_RING_HEAD, c->head);
	hwsim_reg_write(dev, DK_COPY_REG_COMPLETED, c->completed);
	hwsim_reg_write(dev, DK_COPY_REG_STATUS, c->status);
	hwsim_reg_write(dev, DK_COPY_REG_ID, DK_COPY_ID);
}

static void slow_disarm(struct hwsim_device *dev)
{
	const struct itimerspec off = {{0, 0}, {0, 0}};

	/* Re-arming also zeroes the expiry count, so a stale expiry is never read. */
	timerfd_settime(dev->timer_fd, 0, &off, NULL);
	dev->copy.slow_armed = false;
	dev->copy.slow_due = false;
}

static void slow_arm(struct hwsim_device *dev)
{
	const struct itimerspec in = {
		.it_value = {.tv_sec = HWSIM_SLOW_NS / 1000000000ull,
			     .tv_nsec = HWSIM_SLOW_NS % 1000000000ull},
	};

	if (timerfd_settime(dev->timer_fd, 0, &in, NULL) == 0)
		dev->copy.slow_armed = true;
	else
		dev->copy.slow_due = true; /* cannot be slow: go on rather than hang */
}

static void copy_reset(struct hwsim_device *dev)
{
	slow_disarm(dev);
	memset(&dev->copy, 0, sizeof(dev->copy));
	if (dev->fault_mode == DK_HWSIM_FAULT_HANG)
		dev->fault_mode = DK_HWSIM_FAULT_NONE; /* a reset is what ends a hang */
	hwsim_regs_clear(dev);
	publish(dev);
}

/*
 * IRQ_STATUS gains @bit. The interrupt is signalled (after the registers are published) only
 * when the bit is new and IRQ_ENABLE is set; "lost-irq" swallows the first such completion.
 */
static void raise_irq(struct hwsim_device *dev, uint32_t bit)
{
	struct hwsim_copy *c = &dev->copy;
	uint32_t gained = bit & ~c->irq_status;

	c->irq_status |= bit;
	if (!gained || !(c->control & DK_COPY_CONTROL_IRQ_ENABLE))
		return;
	if (bit == DK_COPY_IRQ_COMPLETION && dev->fault_mode == DK_HWSIM_FAULT_LOST_IRQ) {
		dev->fault_mode = DK_HWSIM_FAULT_NONE;
		dev->stats.irqs_lost++;
		return;
	}
	c->irq_pending = true;
}

/*
 * Stop on a fault: FAULT_* set, STATUS.FAULTED, IRQ_STATUS.FAULT, the descriptor's status
 * written when @status (its status word) is reachable, and a journal record. Nothing else.
 */
static void fault(struct hwsim_device *dev, uint32_t kind, uint64_t iova, uint8_t *status)
{
	struct hwsim_copy *c = &dev->copy;

	c->fault_kind = kind;
	c->fault_addr = iova;
	c->fault_desc = c->head;
	c->status = (c->status | DK_COPY_STATUS_FAULTED) & ~DK_COPY_STATUS_BUSY;
	if (status)
		memcpy(status, &kind, sizeof(kind)); /* the slot may be unaligned on the host */
	dev->stats.faults++;
	raise_irq(dev, DK_COPY_IRQ_FAULT);
	hwsim_device_journal_fault(dev, kind, iova, c->head);
}

/* A doorbell: take the RW registers. Returns false when it was a reset (nothing else done). */
static bool copy_doorbell(struct hwsim_device *dev)
{
	struct hwsim_copy *c = &dev->copy;
	uint32_t ack, ctrl;

	/* Exchange, not load and store: an ack the driver writes meanwhile is not lost. */
	ack = __atomic_exchange_n((uint32_t *)(dev->regs + DK_COPY_REG_IRQ_ACK), 0u,
				  __ATOMIC_ACQ_REL);
	c->irq_status &= ~ack;
	/* Completions the driver may not have seen when it acknowledged: signal them. */
	if ((ack & DK_COPY_IRQ_COMPLETION) && c->completed != c->completed_signalled)
		raise_irq(dev, DK_COPY_IRQ_COMPLETION);
	ctrl = hwsim_reg_read(dev, DK_COPY_REG_CONTROL);
	if (ctrl & DK_COPY_CONTROL_RESET) {
		copy_reset(dev);
		dev->stats.resets++;
		return false;
	}
	/* IRQ_ENABLE coming back with a bit pending signals it (level-triggered): a driver that
	 * masked the interrupt while polling cannot lose a completion by unmasking. */
	if ((ctrl & DK_COPY_CONTROL_IRQ_ENABLE) && !(c->control & DK_COPY_CONTROL_IRQ_ENABLE) &&
	    c->irq_status)
		c->irq_pending = true;
	c->control = ctrl & (DK_COPY_CONTROL_ENABLE | DK_COPY_CONTROL_IRQ_ENABLE);
	if (c->control & DK_COPY_CONTROL_ENABLE)
		c->status |= DK_COPY_STATUS_ENABLED;
	else
		c->status &= ~DK_COPY_STATUS_ENABLED;
	/* RING_TAIL is read (acquire) before any descriptor it covers. */
	c->tail = hwsim_reg_read(dev, DK_COPY_REG_RING_TAIL);
	c->ring_base = hwsim_reg_read(dev, DK_COPY_REG_RING_BASE_LO) |
		       (uint64_t)hwsim_reg_read(dev, DK_COPY_REG_RING_BASE_HI) << 32;
	c->ring_size = hwsim_reg_read(dev, DK_COPY_REG_RING_SIZE);
	return true;
}

/* The latched ring configuration is usable and RING_TAIL is at most a ring ahead of HEAD. */
static bool ring_ok(const struct hwsim_copy *c)
{
	uint32_t n = c->ring_size;

	if (n < DK_COPY_RING_SIZE_MIN || n > DK_COPY_RING_SIZE_MAX || (n & (n - 1)))
		return false;
	if (c->ring_base % DK_COPY_RING_ALIGN || c->ring_base > UINT64_MAX - n * DESC_SIZE)
		return false;
	return c->tail - c->head <= n;
}

static bool desc_ok(const struct dk_copy_desc *d)
{
	return (d->op == DK_COPY_OP_COPY || d->op == DK_COPY_OP_FILL) && d->flags == 0 &&
	       d->length >= 1 && d->length <= DK_COPY_LENGTH_MAX;
}

/* Execute the descriptor at head. Its length when it completed; -EFAULT when the device
 * faulted. */
static int copy_one(struct hwsim_device *dev)
{
	struct hwsim_copy *c = &dev->copy;
	const uint64_t slot = c->ring_base + (uint64_t)(c->head & (c->ring_size - 1)) * DESC_SIZE;
	uint8_t *ring, *status, *src = NULL, *dst;
	struct dk_copy_desc d;
	uint64_t bad;
	uint32_t done;
	bool oob;

	/* The slot must be fetchable and writable (status write-back) before anything runs. */
	ring = hwsim_iommu_translate(&dev->iommu, slot, DESC_SIZE, DK_DMA_READ, &bad);
	if (!ring || !hwsim_iommu_translate(&dev->iommu, slot, DESC_SIZE, DK_DMA_WRITE, &bad)) {
		fault(dev, DK_COPY_FAULT_RING, bad, NULL);
		return -EFAULT;
	}
	memcpy(&d, ring, sizeof(d)); /* once: the driver may rewrite the slot meanwhile */
	status = ring + DK_COPY_DESC_STATUS_OFFSET;
	if (!desc_ok(&d)) {
		fault(dev, DK_COPY_FAULT_MALFORMED, slot, status);
		return -EFAULT;
	}
	oob = dev->fault_mode == DK_HWSIM_FAULT_DMA_OOB;
	if (oob)
		dev->fault_mode = DK_HWSIM_FAULT_NONE;
	if (d.op == DK_COPY_OP_COPY) {
		src = hwsim_iommu_translate(&dev->iommu, d.src, d.length, DK_DMA_READ, &bad);
		if (!src) {
			fault(dev, DK_COPY_FAULT_READ, bad, status);
			return -EFAULT;
		}
	}
	if (oob) {
		/* The injected bug: the destination lands 1 GiB past its window. The IOMMU
		 * refuses it like any other stray write, so it is reported where it landed. */
		uint64_t end = hwsim_iommu_window_end(&dev->iommu, d.dst);

		bad = end > UINT64_MAX - HWSIM_OOB_DISTANCE ? UINT64_MAX : end + HWSIM_OOB_DISTANCE;
		fault(dev, DK_COPY_FAULT_WRITE, bad, status);
		return -EFAULT;
	}
	dst = hwsim_iommu_translate(&dev->iommu, d.dst, d.length, DK_DMA_WRITE, &bad);
	if (!dst) {
		fault(dev, DK_COPY_FAULT_WRITE, bad, status);
		return -EFAULT;
	}
	if (dev->fault_mode == DK_HWSIM_FAULT_CORRUPT) {
		dev->fault_mode = DK_HWSIM_FAULT_NONE;
		done = DK_COPY_DESC_STATUS_CORRUPT; /* and no data moves */
	} else {
		if (d.op == DK_COPY_OP_COPY)
			memmove(dst, src, d.length); /* the ranges may overlap */
		else
			memset(dst, (int)(d.src & 0xff), d.length);
		done = DK_COPY_DESC_STATUS_DONE;
		dev->stats.descriptors++;
	}
	memcpy(status, &done, sizeof(done));
	c->head++;
	c->completed++;
	raise_irq(dev, DK_COPY_IRQ_COMPLETION);
	return (int)d.length;
}

/* Execute from head towards tail. Returns true when stopped at the batch limit. */
static bool copy_execute(struct hwsim_device *dev)
{
	struct hwsim_copy *c = &dev->copy;

	if (!(c->control & DK_COPY_CONTROL_ENABLE) || (c->status & DK_COPY_STATUS_FAULTED) ||
	    c->head == c->tail) {
		c->status &= ~DK_COPY_STATUS_BUSY;
		return false;
	}
	c->status |= DK_COPY_STATUS_BUSY;
	if (!ring_ok(c)) {
		fault(dev, DK_COPY_FAULT_MALFORMED, c->ring_base, NULL);
		return false;
	}
	for (uint32_t n = 0, bytes = 0; c->head != c->tail; n++) {
		int ret;

		if (n == HWSIM_BATCH || bytes >= HWSIM_BATCH_BYTES)
			return true;
		if (dev->fault_mode == DK_HWSIM_FAULT_HANG)
			return false; /* BUSY stays set until a reset */
		if (dev->fault_mode == DK_HWSIM_FAULT_SLOW && !c->slow_due) {
			if (!c->slow_armed)
				slow_arm(dev);
			if (!c->slow_due)
				return false; /* the timer wakes the thread */
		}
		c->slow_due = false;
		ret = copy_one(dev);
		if (ret < 0)
			return false;
		bytes += (uint32_t)ret;
	}
	c->status &= ~DK_COPY_STATUS_BUSY;
	return false;
}

static bool copy_run(struct hwsim_device *dev, unsigned int events)
{
	struct hwsim_copy *c = &dev->copy;
	bool more = false;

	if ((events & HWSIM_EV_DOORBELL) && !copy_doorbell(dev))
		goto out;
	if ((events & HWSIM_EV_TIMER) && c->slow_armed) {
		c->slow_armed = false;
		c->slow_due = true;
	}
	more = copy_execute(dev);
out:
	publish(dev);
	if (c->irq_pending) {
		/* After the registers: the driver woken by it sees IRQ_STATUS and COMPLETED. */
		c->irq_pending = false;
		c->completed_signalled = c->completed;
		hwsim_device_irq(dev);
	}
	return more;
}

const struct hwsim_model_ops hwsim_copy_ops = {
	.version = 1,
	.kind = DK_HWSIM_MODEL_COPY,
	.dma = true,
	.reset = copy_reset,
	.run = copy_run,
};
