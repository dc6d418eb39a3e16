/* SPDX-License-Identifier: MIT */
/*
 * dk-test-dev - a device class for the tests of libdk-service (built only with the tests).
 *
 * Its hardware is emulated in-process: TD_SLOTS_MAX slots (caps.hw_slots of them used), an
 * "interrupt" eventfd the library watches, and an engine thread that waits (dk_waitset, no
 * polling) on the fences of TD_OP_HOLD jobs and on a kick eventfd. The commands (test-dev.h)
 * let a test hold jobs on the hardware, finish them, hang the device or lose an interrupt.
 * The interrupt can be masked (irq_mask): what would be raised meanwhile is held pending and
 * written at unmasking, unless a harvest took every finished job first (level-triggered).
 * The library's ops run on the serving thread; the engine thread only touches the slots, under
 * the lock, and never a job: so the job pointers stay the serving thread's.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <dk/dk.h>
#include <dk/service/device.h>

#include "test-dev.h"

struct tslot {
	bool used;
	bool done;
	struct dk_svc_job *job;
	uint32_t op;
	struct dk_fence *hold; /* TD_OP_HOLD: the job's reference (dropped in retire) */
	uint64_t point;
	int status;
	uint32_t reason;
	uint64_t result;
	uint64_t cookies[DK_SQE_MAX_BUFFERS];
	uint32_t n_cookies;
	uint64_t gen; /* which use of the slot */
};

struct testdev {
	struct dk_svc_device base; /* first */
	pthread_mutex_t lock;
	pthread_t engine;
	bool engine_started;
	bool quit;
	int kick;
	int irq;
	struct dk_waitset *ws; /* the engine's */
	uint64_t next_gen;
	uint32_t n_slots;
	uint32_t real_slots; /* past these, submit says -EBUSY */
	struct tslot slots[TD_SLOTS_MAX];
	uint64_t exec_seq;
	uint64_t next_cookie, removed, bad_removals, resets, retired, busy, commits;
	bool masked;      /* irq_mask(true) in force */
	bool irq_pending; /* an interrupt raised while masked, not written yet */
	uint64_t irqs, mask_calls, handover_unmasks;
};

/* struct dk_svc_job.scratch[]: the held fence and point (TD_OP_HOLD), and the mask at validate. */
enum { SCRATCH_HOLD_FENCE = 0, SCRATCH_HOLD_POINT = 1, SCRATCH_MASKED = 2 };

static const struct dk_device_ops testdev_ops;
static struct dk_device_ops ops_in_use; /* testdev_ops, with DK_DEVICE_F_POLL on request */

static struct testdev *td_of(struct dk_svc_device *dev)
{
	return (struct testdev *)dev;
}

static void raise_irq(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0)
		abort(); /* an eventfd write cannot fail short of overflow */
}

static void kick(struct testdev *td)
{
	raise_irq(td->kick);
}

/* The hardware raises its interrupt (lock held): written, or held while masked. */
static void interrupt(struct testdev *td)
{
	if (td->masked) {
		td->irq_pending = true;
		return;
	}
	td->irqs++;
	raise_irq(td->irq);
}

/* The hardware finished @s (lock held). */
static void finish(struct testdev *td, struct tslot *s, int status, uint32_t reason)
{
	s->done = true;
	s->status = status;
	s->reason = reason;
	s->result = status == 0 ? ((uint64_t)s->job->attempts << 32) | ++td->exec_seq : 0;
}

/*
 * The engine: finishes held jobs whose fence reached its point. It waits on one waitset that
 * lives as long as the device (made in probe, so the service's descriptors are the same from
 * the start): the kick eventfd, plus one member per held job, removed (under the lock, before
 * the interrupt) as soon as the job is finished or gone.
 */
static void *engine(void *arg)
{
	struct testdev *td = arg;
	int32_t member[TD_SLOTS_MAX];
	uint64_t member_gen[TD_SLOTS_MAX];

	for (uint32_t i = 0; i < TD_SLOTS_MAX; i++)
		member[i] = -1;
	for (;;) {
		struct dk_waitset_result res;
		bool irq = false;
		uint64_t count;

		pthread_mutex_lock(&td->lock);
		if (td->quit) {
			pthread_mutex_unlock(&td->lock);
			break;
		}
		for (uint32_t i = 0; i < td->n_slots; i++) {
			struct tslot *s = &td->slots[i];
			bool held = s->used && !s->done && s->op == TD_OP_HOLD;

			if (held && dk_fence_status(s->hold, s->point, NULL) != -EAGAIN) {
				finish(td, s, 0, DK_REASON_NONE);
				irq = true;
				held = false;
			}
			if (member[i] >= 0 && (!held || member_gen[i] != s->gen)) {
				dk_waitset_remove(td->ws, (uint32_t)member[i]);
				member[i] = -1;
			}
			if (held && member[i] < 0) {
				member[i] = dk_waitset_add_fence(td->ws, s->hold, s->point, i + 1);
				if (member[i] < 0)
					abort();
				member_gen[i] = s->gen;
			}
		}
		if (irq)
			interrupt(td);
		pthread_mutex_unlock(&td->lock);
		dk_waitset_wait(td->ws, DK_WAIT_ANY, dk_deadline_in(60 * DK_NSEC_PER_SEC), &res);
		if (read(td->kick, &count, sizeof(count)) < 0 && errno != EAGAIN)
			abort();
	}
	return NULL;
}

static int env_u32(const char *name, uint32_t dflt, uint32_t min, uint32_t max)
{
	const char *s = getenv(name);
	unsigned long x;

	if (!s || !*s)
		return (int)dflt;
	x = strtoul(s, NULL, 10);
	return x < min || x > max ? (int)dflt : (int)x;
}

static int td_probe(struct dk_svc *svc, const struct dk_device_hw *hw,
		    struct dk_svc_device **ret_dev)
{
	struct testdev *td = calloc(1, sizeof(*td));
	const char *limits = getenv(TD_ENV_LIMITS), *reset = getenv(TD_ENV_RESET);
	int err;

	if (!td)
		return -ENOMEM;
	dk_svc_device_init(&td->base, &ops_in_use, svc);
	td->n_slots = (uint32_t)env_u32(TD_ENV_SLOTS, 1, 1, TD_SLOTS_MAX);
	td->base.caps.hw_slots = td->n_slots;
	td->real_slots = (uint32_t)env_u32(TD_ENV_REAL_SLOTS, td->n_slots, 1, td->n_slots);
	if (getenv(TD_ENV_TAKE_BATCH))
		td->base.caps.take_batch = (uint32_t)strtoul(getenv(TD_ENV_TAKE_BATCH), NULL, 10);
	td->base.caps.reset_policy = reset && !strcmp(reset, "fail") ? DK_RESET_FAIL
								     : DK_RESET_RESUBMIT_ONCE;
	if (limits) {
		unsigned long long ms[3] = {0};

		if (sscanf(limits, "%llu,%llu,%llu", &ms[0], &ms[1], &ms[2]) != 3) {
			free(td);
			return -EINVAL;
		}
		for (uint32_t q = DK_QOS_FRUGAL; q <= DK_QOS_BURST; q++)
			td->base.caps.time_limit_ns[q] = ms[q - DK_QOS_FRUGAL] * DK_NSEC_PER_MSEC;
	}
	td->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	td->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (td->kick < 0 || td->irq < 0) {
		err = -errno;
		goto out_close;
	}
	td->base.irq_fd = td->irq;
	err = dk_waitset_create(TD_SLOTS_MAX + 1, &td->ws);
	if (err == 0 && dk_waitset_add_fd(td->ws, td->kick, POLLIN, 0) < 0)
		err = -ENOMEM;
	if (err < 0)
		goto out_close;
	pthread_mutex_init(&td->lock, NULL);
	err = -pthread_create(&td->engine, NULL, engine, td);
	if (err < 0)
		goto out_close;
	td->engine_started = true;
	*ret_dev = &td->base;
	return 0;

out_close:
	dk_waitset_destroy(td->ws);
	if (td->kick >= 0)
		close(td->kick);
	if (td->irq >= 0)
		close(td->irq);
	free(td);
	return err;
}

static void td_destroy(struct dk_svc_device *dev)
{
	struct testdev *td = td_of(dev);

	pthread_mutex_lock(&td->lock);
	td->quit = true;
	pthread_mutex_unlock(&td->lock);
	kick(td);
	if (td->engine_started)
		pthread_join(td->engine, NULL);
	dk_waitset_destroy(td->ws);
	close(td->kick);
	close(td->irq);
	pthread_mutex_destroy(&td->lock);
	free(td);
}

static int td_validate(struct dk_svc_device *dev, struct dk_svc_job *job)
{
	struct dk_fence *f;
	int err;

	/* Written only on the serving thread (irq_mask, reset), where validate runs too. */
	job->scratch[SCRATCH_MASKED] = td_of(dev)->masked;
	switch (job->sqe.opcode) {
	case TD_OP_NOP:
	case TD_OP_HANG:
	case TD_OP_LOST_IRQ:
	case TD_OP_FAIL:
		return job->sqe.param == 0 ? 0 : -EINVAL;
	case TD_OP_STAT:
		return job->sqe.param < TD_STAT_COUNT ? 0 : -EINVAL;
	case TD_OP_HOLD:
		err = dk_svc_job_fence(job, (uint32_t)job->sqe.param, DK_RIGHT_WAIT, &f);
		if (err < 0)
			return err;
		job->scratch[SCRATCH_HOLD_FENCE] = (uint64_t)(uintptr_t)dk_fence_ref(f);
		job->scratch[SCRATCH_HOLD_POINT] = job->sqe.param >> 32;
		return 0;
	default:
		return -EINVAL;
	}
}

static void td_retire(struct dk_svc_device *dev, struct dk_svc_job *job)
{
	td_of(dev)->retired++;
	if (job->sqe.opcode == TD_OP_HOLD)
		dk_fence_unref((struct dk_fence *)(uintptr_t)job->scratch[SCRATCH_HOLD_FENCE]);
}

static int td_buffer_added(struct dk_svc_device *dev, uint64_t session_id,
			   struct dk_buffer *buffer, uint64_t *ret_cookie)
{
	*ret_cookie = ++td_of(dev)->next_cookie;
	return 0;
}

static void td_buffer_removed(struct dk_svc_device *dev, uint64_t session_id,
			      struct dk_buffer *buffer, uint64_t cookie)
{
	struct testdev *td = td_of(dev);

	pthread_mutex_lock(&td->lock);
	td->removed++;
	for (uint32_t i = 0; i < td->n_slots; i++)
		for (uint32_t k = 0; td->slots[i].used && k < td->slots[i].n_cookies; k++)
			if (td->slots[i].cookies[k] == cookie)
				td->bad_removals++;
	pthread_mutex_unlock(&td->lock);
}

static uint64_t stat(struct testdev *td, uint32_t which)
{
	static struct dk_svc_trace_record rec[DK_SVC_TRACE_RECORDS];
	struct dk_svc_stats st;

	dk_svc_stats(td->base.svc, &st);
	switch (which) {
	case TD_STAT_SESSIONS:
		return st.sessions;
	case TD_STAT_BUFFERS:
		return st.buffers;
	case TD_STAT_BYTES:
		return st.bytes;
	case TD_STAT_KILLS:
		return st.kills;
	case TD_STAT_RESETS:
		return st.resets;
	case TD_STAT_HANGS:
		return st.hangs;
	case TD_STAT_LOST_IRQS:
		return st.lost_irqs;
	case TD_STAT_RESUBMITTED:
		return st.resubmitted;
	case TD_STAT_VIOLATIONS:
		return st.violations;
	case TD_STAT_REMOVED:
		return td->removed;
	case TD_STAT_BAD_REMOVALS:
		return td->bad_removals;
	case TD_STAT_DEV_RESETS:
		return td->resets;
	case TD_STAT_TRACE:
		return dk_svc_trace_read(td->base.svc, 0, rec, DK_SVC_TRACE_RECORDS);
	case TD_STAT_FENCE_WAKEUPS:
		return st.fence_wakeups;
	case TD_STAT_RETIRED:
		return td->retired;
	case TD_STAT_BUSY:
		return td->busy;
	case TD_STAT_COMMITS:
		return td->commits;
	case TD_STAT_IRQS:
		return td->irqs;
	case TD_STAT_MASKED:
		return td->masked;
	case TD_STAT_MASK_CALLS:
		return td->mask_calls;
	case TD_STAT_HANDOVER_UNMASKS:
		return td->handover_unmasks;
	default:
		return 0;
	}
}

static int td_submit(struct dk_svc_device *dev, struct dk_svc_job *job)
{
	struct testdev *td = td_of(dev);
	struct tslot *s = NULL;
	bool irq = true;
	/* Taken masked, handed over unmasked: the library unmasked for this job. */
	bool handover_unmask = job->scratch[SCRATCH_MASKED] && !td->masked;

	if (job->sqe.opcode == TD_OP_STAT) {
		uint64_t value;

		pthread_mutex_lock(&td->lock);
		td->handover_unmasks += handover_unmask;
		value = stat(td, (uint32_t)job->sqe.param);
		pthread_mutex_unlock(&td->lock);
		return dk_svc_job_done(dev->svc, job, 0, DK_REASON_NONE, value);
	}
	pthread_mutex_lock(&td->lock);
	for (uint32_t i = 0, used = 0; i < td->n_slots && !s; i++) {
		used += td->slots[i].used;
		if (!td->slots[i].used && used < td->real_slots)
			s = &td->slots[i];
	}
	if (!s) {
		td->busy++;
		pthread_mutex_unlock(&td->lock);
		return -EBUSY;
	}
	*s = (struct tslot){.used = true, .job = job, .op = job->sqe.opcode, .gen = ++td->next_gen};
	td->handover_unmasks += handover_unmask;
	for (uint32_t k = 0; k < job->sqe.n_buffers; k++)
		if (dk_svc_job_buffer(job, k, NULL, &s->cookies[s->n_cookies]) == 0)
			s->n_cookies++;
	switch (s->op) {
	case TD_OP_NOP:
		finish(td, s, 0, DK_REASON_NONE);
		break;
	case TD_OP_LOST_IRQ:
		finish(td, s, 0, DK_REASON_NONE);
		irq = false;
		break;
	case TD_OP_FAIL:
		finish(td, s, -EIO, DK_REASON_DEVICE_FAULT);
		break;
	case TD_OP_HOLD:
		s->hold = (struct dk_fence *)(uintptr_t)job->scratch[SCRATCH_HOLD_FENCE];
		s->point = job->scratch[SCRATCH_HOLD_POINT];
		irq = false;
		break;
	default: /* TD_OP_HANG */
		irq = false;
		break;
	}
	if (irq)
		interrupt(td);
	pthread_mutex_unlock(&td->lock);
	if (s->op == TD_OP_HOLD)
		kick(td);
	return 0;
}

static void td_harvest(struct dk_svc_device *dev)
{
	struct testdev *td = td_of(dev);
	struct tslot done[TD_SLOTS_MAX];
	uint32_t n = 0;

	pthread_mutex_lock(&td->lock);
	for (uint32_t i = 0; i < td->n_slots; i++) {
		if (td->slots[i].used && td->slots[i].done) {
			done[n++] = td->slots[i];
			td->slots[i].used = false;
		}
	}
	td->irq_pending = false; /* nothing finished is left unreported */
	pthread_mutex_unlock(&td->lock);
	for (uint32_t i = 0; i < n; i++)
		dk_svc_job_done(dev->svc, done[i].job, done[i].status, done[i].reason,
				done[i].result);
}

/* Nothing to start (the engine runs each job at submit): only counted. */
static void td_commit(struct dk_svc_device *dev)
{
	struct testdev *td = td_of(dev);

	pthread_mutex_lock(&td->lock);
	td->commits++;
	pthread_mutex_unlock(&td->lock);
}

static int td_reset(struct dk_svc_device *dev)
{
	struct testdev *td = td_of(dev);
	uint64_t count;

	pthread_mutex_lock(&td->lock);
	for (uint32_t i = 0; i < td->n_slots; i++)
		td->slots[i].used = false;
	td->resets++;
	/* A pending interrupt belongs to jobs that are gone; the library takes the interrupt to
	 * be unmasked after a reset. */
	if (read(td->irq, &count, sizeof(count)) < 0 && errno != EAGAIN)
		abort();
	td->irq_pending = false;
	td->masked = false;
	pthread_mutex_unlock(&td->lock);
	kick(td);
	return 0;
}

/*
 * Masked: interrupts are held pending. Unmasked: takes effect at once, and a pending one is
 * written then (the library relies on that not to miss a completion).
 */
static void td_irq_mask(struct dk_svc_device *dev, bool masked)
{
	struct testdev *td = td_of(dev);

	pthread_mutex_lock(&td->lock);
	td->mask_calls++;
	td->masked = masked;
	if (!masked && td->irq_pending) {
		td->irq_pending = false;
		interrupt(td);
	}
	pthread_mutex_unlock(&td->lock);
}

static const struct dk_device_ops testdev_ops = {
	.version = DK_DEVICE_OPS_VERSION,
	.class_name = "test",
	.probe = td_probe,
	.destroy = td_destroy,
	.validate = td_validate,
	.buffer_added = td_buffer_added,
	.buffer_removed = td_buffer_removed,
	.submit = td_submit,
	.harvest = td_harvest,
	.commit = td_commit,
	.reset = td_reset,
	.retire = td_retire,
	.irq_mask = td_irq_mask,
};

int main(int argc, char **argv)
{
	ops_in_use = testdev_ops;
	if (getenv(TD_ENV_POLL))
		ops_in_use.flags |= DK_DEVICE_F_POLL;
	return dk_svc_main(&ops_in_use, argc, argv);
}
