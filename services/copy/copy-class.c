/* SPDX-License-Identifier: MIT */
/*
 * copy-class.c - the copy-engine device class: DMA copy and fill between a client's registered
 * buffers, on the dk-hwsim copy engine (docs/devices/copy.md).
 *
 * Commands (struct dk_sqe, validated here after the generic checks):
 *   DK_OP_NOP          nothing; completes at once
 *   COPY_OP_COPY (1)   buf[0] (access READ) -> buf[1] (access WRITE), equal lengths
 *   COPY_OP_FILL (2)   buf[0] (access WRITE) filled with the byte sqe.param (0..255)
 * Lengths are 1..16 MiB per job. The result of a completed job is its length in bytes.
 *
 * The driver: every registered buffer is mapped whole into the device's DMA windows (through
 * the broker) with the access its rights allow; a job becomes one 32-byte descriptor in a
 * command ring that lives in DMA memory the driver allocated and mapped; RING_TAIL and the
 * doorbell hand it over; the interrupt (or the watchdog) harvests by RING_HEAD. A descriptor
 * fault stops the engine: the faulting job fails with device-fault, the engine is reset and
 * the jobs queued behind it are posted again in order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dk/dk.h>
#include <dk/service/device.h>

#include "copy-class.h"
#include "copy-regs.h"

#define RING_SIZE 256u                    /* descriptors in the command ring */
#define HW_SLOTS 128u                     /* jobs on the engine at once (two of its batches) */
#define DMA_WAIT_NS (2 * DK_NSEC_PER_SEC) /* a map or unmap through the broker */
#define RESET_WAIT_NS DK_NSEC_PER_SEC     /* the engine acknowledging a reset */

struct copy_dev {
	struct dk_svc_device base; /* first: the library's view */
	volatile uint32_t *regs;
	int doorbell;
	struct dk_buffer_registry *registry;
	struct dk_buffer *ring_buf; /* the command ring, in DMA memory */
	struct dk_copy_desc *ring;
	uint64_t ring_iova;
	uint32_t tail;                        /* next descriptor index to fill (free-running) */
	uint32_t done;                        /* next index to harvest (free-running) */
	bool masked;                          /* the library polls: IRQ_ENABLE clear */
	struct dk_svc_job *slots[RING_SIZE]; /* job at each ring slot, NULL when free */
};

static const struct dk_device_ops copy_ops;

static uint32_t reg_read(struct copy_dev *c, uint32_t off)
{
	return __atomic_load_n(&c->regs[off / 4], __ATOMIC_ACQUIRE);
}

static void reg_write(struct copy_dev *c, uint32_t off, uint32_t v)
{
	__atomic_store_n(&c->regs[off / 4], v, __ATOMIC_RELEASE);
}

/* Acknowledge @bits of IRQ_STATUS at the next doorbell. OR, not store: an acknowledgement
 * written earlier that the engine has not taken yet still counts. */
static void irq_ack(struct copy_dev *c, uint32_t bits)
{
	__atomic_fetch_or(&c->regs[DK_COPY_REG_IRQ_ACK / 4], bits, __ATOMIC_RELEASE);
}

static void ring_doorbell(struct copy_dev *c)
{
	uint64_t one = 1;

	if (write(c->doorbell, &one, sizeof(one)) != sizeof(one))
		return; /* an eventfd counter at its limit: the engine is being rung anyway */
}

static uint32_t control(const struct copy_dev *c)
{
	return DK_COPY_CONTROL_ENABLE | (c->masked ? 0 : DK_COPY_CONTROL_IRQ_ENABLE);
}

/* Program the ring and enable the engine (after probe or a reset). */
static void engine_start(struct copy_dev *c)
{
	reg_write(c, DK_COPY_REG_RING_BASE_LO, (uint32_t)c->ring_iova);
	reg_write(c, DK_COPY_REG_RING_BASE_HI, (uint32_t)(c->ring_iova >> 32));
	reg_write(c, DK_COPY_REG_RING_SIZE, RING_SIZE);
	reg_write(c, DK_COPY_REG_RING_TAIL, 0);
	reg_write(c, DK_COPY_REG_CONTROL, control(c));
	ring_doorbell(c);
	c->tail = c->done = 0;
}

/* Reset the engine and wait (bounded) until it says so: CONTROL reads 0 again. */
static int engine_reset(struct copy_dev *c)
{
	uint64_t deadline = dk_now_ns() + RESET_WAIT_NS;

	reg_write(c, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_RESET);
	ring_doorbell(c);
	while (reg_read(c, DK_COPY_REG_CONTROL) & DK_COPY_CONTROL_RESET) {
		struct timespec pause = {0, 100 * 1000};

		if (dk_now_ns() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL); /* the engine resets on its own thread */
	}
	engine_start(c);
	return 0;
}

/* Write @job's descriptor at the tail and hand it to the engine (no doorbell). */
static void post(struct copy_dev *c, struct dk_svc_job *job)
{
	struct dk_copy_desc *d = &c->ring[c->tail % RING_SIZE];
	const struct dk_sqe *sqe = &job->sqe;

	d->op = sqe->opcode == COPY_OP_COPY ? DK_COPY_OP_COPY : DK_COPY_OP_FILL;
	d->flags = 0;
	if (sqe->opcode == COPY_OP_COPY) {
		d->length = (uint32_t)sqe->buf[1].length;
		d->src = job->scratch[0] + sqe->buf[0].offset;
		d->dst = job->scratch[1] + sqe->buf[1].offset;
	} else {
		d->length = (uint32_t)sqe->buf[0].length;
		d->src = sqe->param;
		d->dst = job->scratch[0] + sqe->buf[0].offset;
	}
	d->tag = c->tail;
	d->status = UINT32_MAX; /* not yet executed */
	c->slots[c->tail % RING_SIZE] = job;
	c->tail++;
	reg_write(c, DK_COPY_REG_RING_TAIL, c->tail);
}

static int copy_probe(struct dk_svc *svc, const struct dk_device_hw *hw,
		      struct dk_svc_device **ret_dev)
{
	struct dk_buffer_registry_limits rl = {
		.max_buffer_bytes = RING_SIZE * sizeof(struct dk_copy_desc),
		.max_live_buffers = 1,
	};
	struct copy_dev *c;
	void *ring;
	int err;

	if (!hw || hw->regs_size != DK_COPY_REGS_SIZE || strcmp(hw->model, "copy") != 0)
		return -ENODEV;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	dk_svc_device_init(&c->base, &copy_ops, svc);
	c->regs = hw->regs;
	c->doorbell = hw->doorbell_fd;
	c->base.irq_fd = hw->irq_fd;
	c->base.caps.hw_slots = HW_SLOTS;
	/* A doorbell to an engine that drained its ring wakes its thread (~10 us here): keep
	 * HW_SLOTS jobs on it and take as many of a queue per pass, so the engine finds the next
	 * batch rung before it sleeps (docs/devices/copy.md, "Batches"). */
	c->base.caps.take_batch = HW_SLOTS;
	c->base.caps.reset_policy = DK_RESET_RESUBMIT_ONCE; /* copy and fill are idempotent */
	c->base.caps.time_limit_ns[DK_QOS_FRUGAL] = 2 * DK_NSEC_PER_SEC;
	c->base.caps.time_limit_ns[DK_QOS_NORMAL] = DK_NSEC_PER_SEC;
	c->base.caps.time_limit_ns[DK_QOS_BURST] = DK_NSEC_PER_SEC / 2;
	err = -ENODEV;
	if (reg_read(c, DK_COPY_REG_ID) != DK_COPY_ID ||
	    reg_read(c, DK_COPY_REG_VERSION) != DK_COPY_VERSION)
		goto fail;
	err = dk_buffer_registry_create(&rl, &c->registry);
	if (err == 0)
		err = dk_buffer_create(c->registry, NULL, rl.max_buffer_bytes, 0, &c->ring_buf);
	if (err == 0)
		err = dk_buffer_map(c->ring_buf, DK_RIGHT_READ | DK_RIGHT_WRITE, &ring);
	if (err == 0)
		err = dk_svc_dma_map(svc, c->ring_buf, DK_DMA_READ | DK_DMA_WRITE, 0,
				     rl.max_buffer_bytes, dk_now_ns() + DMA_WAIT_NS, &c->ring_iova);
	if (err < 0)
		goto fail;
	c->ring = ring;
	err = engine_reset(c);
	if (err < 0)
		goto fail;
	*ret_dev = &c->base;
	return 0;
fail:
	if (c->ring_buf)
		dk_buffer_release(c->ring_buf);
	dk_buffer_registry_destroy(c->registry);
	free(c);
	return err;
}

static void copy_destroy(struct dk_svc_device *dev)
{
	struct copy_dev *c = (struct copy_dev *)dev;

	reg_write(c, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_RESET);
	ring_doorbell(c);
	dk_svc_dma_unmap(dev->svc, c->ring_iova, dk_now_ns() + DMA_WAIT_NS);
	dk_buffer_unmap(c->ring_buf, c->ring);
	dk_buffer_release(c->ring_buf);
	dk_buffer_registry_destroy(c->registry);
	free(c);
}

static int check_len(uint64_t len)
{
	return len >= 1 && len <= DK_COPY_LENGTH_MAX ? 0 : -EINVAL;
}

static int copy_validate(struct dk_svc_device *dev, struct dk_svc_job *job)
{
	const struct dk_sqe *sqe = &job->sqe;
	struct dk_buffer *b;
	uint64_t len, cookie = 0, cookie1;
	int err = 0;

	switch (sqe->opcode) {
	case DK_OP_NOP:
		return sqe->n_buffers == 0 && sqe->param == 0 ? 0 : -EINVAL;
	case COPY_OP_COPY:
		if (sqe->n_buffers != 2 || sqe->param != 0 || sqe->buf[0].access != DK_RIGHT_READ ||
		    sqe->buf[1].access != DK_RIGHT_WRITE || sqe->buf[0].length != sqe->buf[1].length)
			return -EINVAL;
		err = dk_svc_job_buffer(job, 1, &b, &cookie1);
		job->scratch[1] = cookie1;
		break;
	case COPY_OP_FILL:
		if (sqe->n_buffers != 1 || sqe->param > 0xff || sqe->buf[0].access != DK_RIGHT_WRITE)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	len = sqe->buf[0].length;
	if (err == 0)
		err = check_len(len);
	if (err == 0)
		err = dk_svc_job_buffer(job, 0, &b, &cookie);
	job->scratch[0] = cookie;
	/* A copy within one buffer must not overlap itself (the engine copies forwards). */
	if (err == 0 && sqe->opcode == COPY_OP_COPY && sqe->buf[0].index == sqe->buf[1].index &&
	    sqe->buf[0].offset < sqe->buf[1].offset + len &&
	    sqe->buf[1].offset < sqe->buf[0].offset + len)
		err = -EINVAL;
	/* Fair shares count bytes moved: one unit per MiB started. */
	job->cost = 1 + (uint32_t)(len >> 20);
	if (job->cost > DK_SVC_JOB_COST_MAX)
		job->cost = DK_SVC_JOB_COST_MAX;
	return err;
}

static int copy_buffer_added(struct dk_svc_device *dev, uint64_t session_id,
			     struct dk_buffer *buffer, uint64_t *ret_cookie)
{
	uint32_t rights = dk_buffer_rights(buffer), access = 0;

	if (rights & DK_RIGHT_READ)
		access |= DK_DMA_READ;
	if (rights & DK_RIGHT_WRITE)
		access |= DK_DMA_WRITE;
	return dk_svc_dma_map(dev->svc, buffer, access, 0, dk_buffer_size(buffer),
			      dk_now_ns() + DMA_WAIT_NS, ret_cookie);
}

static void copy_buffer_removed(struct dk_svc_device *dev, uint64_t session_id,
				struct dk_buffer *buffer, uint64_t cookie)
{
	dk_svc_dma_unmap(dev->svc, cookie, dk_now_ns() + DMA_WAIT_NS);
}

static int copy_submit(struct dk_svc_device *dev, struct dk_svc_job *job)
{
	struct copy_dev *c = (struct copy_dev *)dev;

	if (job->sqe.opcode == DK_OP_NOP)
		return dk_svc_job_done(dev->svc, job, 0, DK_REASON_NONE, 0);
	if (c->tail - c->done >= RING_SIZE - 1)
		return -EBUSY;
	post(c, job);
	return 0; /* the doorbell rings once for the pass, in copy_commit() */
}

static void copy_commit(struct dk_svc_device *dev)
{
	ring_doorbell((struct copy_dev *)dev);
}

/* The engine stopped on a fault: fail the faulting job, reset, post the rest again. */
static void recover_fault(struct copy_dev *c)
{
	struct dk_svc_job *rest[RING_SIZE];
	uint32_t n = 0, kind = reg_read(c, DK_COPY_REG_FAULT_KIND);
	struct dk_svc_job *guilty = c->slots[c->done % RING_SIZE];

	c->slots[c->done % RING_SIZE] = NULL;
	for (uint32_t i = c->done + 1; i != c->tail; i++) {
		rest[n] = c->slots[i % RING_SIZE];
		c->slots[i % RING_SIZE] = NULL;
		if (rest[n])
			n++;
	}
	if (guilty)
		dk_svc_job_done(c->base.svc, guilty, -EIO, DK_REASON_DEVICE_FAULT, kind);
	if (engine_reset(c) < 0) {
		/* The engine does not come back: the watchdog's reset path decides (it fails). */
		for (uint32_t i = 0; i < n; i++)
			c->slots[i] = rest[i];
		c->tail = n;
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		post(c, rest[i]);
	if (n)
		ring_doorbell(c);
}

static void harvest(struct dk_svc_device *dev)
{
	struct copy_dev *c = (struct copy_dev *)dev;
	uint32_t irq = reg_read(c, DK_COPY_REG_IRQ_STATUS);
	uint32_t head = reg_read(c, DK_COPY_REG_RING_HEAD);

	/* Never trust the window further than the ring: at most what was handed over. */
	if (head - c->done > c->tail - c->done)
		head = c->tail;
	for (; c->done != head; c->done++) {
		uint32_t slot = c->done % RING_SIZE;
		struct dk_svc_job *job = c->slots[slot];
		uint32_t status = __atomic_load_n(&c->ring[slot].status, __ATOMIC_ACQUIRE);

		c->slots[slot] = NULL;
		if (!job)
			continue;
		if (status == DK_COPY_DESC_STATUS_DONE)
			dk_svc_job_done(dev->svc, job, 0, DK_REASON_NONE, c->ring[slot].length);
		else
			dk_svc_job_done(dev->svc, job, -EIO, DK_REASON_DEVICE_FAULT, status);
	}
	/* Masked, IRQ_STATUS stays as it is: unmasking then signals what is pending. */
	if (irq && !c->masked) {
		irq_ack(c, irq);
		ring_doorbell(c);
	}
	if (reg_read(c, DK_COPY_REG_STATUS) & DK_COPY_STATUS_FAULTED && c->done != c->tail)
		recover_fault(c);
}

static int copy_reset(struct dk_svc_device *dev)
{
	struct copy_dev *c = (struct copy_dev *)dev;

	memset(c->slots, 0, sizeof(c->slots)); /* the library owns what was on the engine */
	c->masked = false;
	return engine_reset(c);
}

/*
 * Masking clears IRQ_ENABLE for the engine to take at the next doorbell (the commit that hands
 * over the jobs being polled for). Unmasking rings at once: the engine signals the interrupt
 * if IRQ_STATUS has a bit pending when IRQ_ENABLE comes back (docs/devices/copy.md).
 *
 * That edge is only there if the engine saw the mask. When it was busy, the commit's doorbell
 * and this one reach it as one (an eventfd adds them up): IRQ_ENABLE never went away as far as
 * it knows, so lifting it signals nothing, while the COMPLETION bit left unacknowledged during
 * the poll keeps every later completion silent too (the interrupt is signalled only when a bit
 * is new). The jobs still on the engine would then wait for the watchdog. So unmasking also
 * acknowledges COMPLETION in the same doorbell: the engine signals again at once for anything
 * it completed since its last interrupt, edge or no edge.
 */
static void copy_irq_mask(struct dk_svc_device *dev, bool masked)
{
	struct copy_dev *c = (struct copy_dev *)dev;

	c->masked = masked;
	if (!masked)
		irq_ack(c, reg_read(c, DK_COPY_REG_IRQ_STATUS) & DK_COPY_IRQ_COMPLETION);
	reg_write(c, DK_COPY_REG_CONTROL, control(c));
	if (!masked)
		ring_doorbell(c);
}

static const struct dk_device_ops copy_ops = {
	.version = DK_DEVICE_OPS_VERSION,
	.flags = DK_DEVICE_F_HARDWARE | DK_DEVICE_F_POLL,
	.class_name = "copy",
	.probe = copy_probe,
	.destroy = copy_destroy,
	.validate = copy_validate,
	.buffer_added = copy_buffer_added,
	.buffer_removed = copy_buffer_removed,
	.submit = copy_submit,
	.harvest = harvest,
	.commit = copy_commit,
	.reset = copy_reset,
	.irq_mask = copy_irq_mask,
};

const struct dk_device_ops *copy_class_ops(void)
{
	return &copy_ops;
}
