/* SPDX-License-Identifier: MIT */
/*
 * sched.c - the scheduler across clients (docs/service.md, "Scheduling").
 *
 * A job whose inputs are met waits in its session's ready heap of its QoS class, ordered by
 * deadline (EDF; ties by the order jobs were taken). Whenever the hardware has a free slot
 * (fewer than caps.hw_slots jobs on it) the next job is picked in three steps:
 *
 *  1. the QoS class, by smooth weighted round-robin among the classes that have ready jobs:
 *     Burst 8, Normal 4, Frugal 1. So Burst gets 8 of every 13 slots when all three wait,
 *     and Frugal is never starved (at least one pick in every 13, in every 9 against Burst).
 *  2. the session, by deficit round-robin among the sessions with ready jobs of that class:
 *     each turn adds the session's weight (1 for every session today) to its deficit, and a
 *     job costs its cost (1 unless the class says otherwise in validate): with unit costs,
 *     sessions alternate job by job whatever their submission rates.
 *  3. the job: the session's earliest deadline in that class.
 *
 * A job whose own deadline passed while it waited completes with -ETIMEDOUT, reason
 * deadline-missed, without taking a slot.
 */
#include <errno.h>
#include <stdlib.h>

#include "service-internal.h"

static const uint32_t qos_weight[QOS_N] = {
	[DK_QOS_FRUGAL] = 1,
	[DK_QOS_NORMAL] = 4,
	[DK_QOS_BURST] = 8,
};

/* ---- the EDF heap of one session and class ---- */

static bool before(const struct job *a, const struct job *b)
{
	if (a->pub.deadline_ns != b->pub.deadline_ns)
		return a->pub.deadline_ns < b->pub.deadline_ns;
	return a->seq < b->seq;
}

static void heap_set(struct sclass *c, uint32_t i, struct job *j)
{
	c->heap[i] = j;
	j->heap_pos = i;
}

static void heap_up(struct sclass *c, uint32_t i)
{
	struct job *j = c->heap[i];

	while (i > 0 && before(j, c->heap[(i - 1) / 2])) {
		heap_set(c, i, c->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(c, i, j);
}

static void heap_down(struct sclass *c, uint32_t i)
{
	struct job *j = c->heap[i];

	for (;;) {
		uint32_t k = 2 * i + 1;

		if (k >= c->n)
			break;
		if (k + 1 < c->n && before(c->heap[k + 1], c->heap[k]))
			k++;
		if (!before(c->heap[k], j))
			break;
		heap_set(c, i, c->heap[k]);
		i = k;
	}
	heap_set(c, i, j);
}

static void heap_remove_at(struct sclass *c, uint32_t i)
{
	struct job *last;

	c->n--;
	if (i == c->n)
		return;
	last = c->heap[c->n];
	heap_set(c, i, last);
	heap_down(c, i);
	heap_up(c, last->heap_pos);
}

/*
 * sclass_reserve - make room for @n more jobs (a queue of that many CQ entries was created),
 * so that pushing a taken job never fails. 0 or -ENOMEM.
 */
int sclass_reserve(struct sclass *c, uint32_t n)
{
	uint32_t want = c->reserved + n;

	if (want > c->cap) {
		struct job **h = realloc(c->heap, (size_t)want * sizeof(*h));

		if (!h)
			return -ENOMEM;
		c->heap = h;
		c->cap = want;
	}
	c->reserved = want;
	return 0;
}

/* sclass_unreserve - a queue is gone; its room may be used by the next one (kept allocated). */
void sclass_unreserve(struct sclass *c, uint32_t n)
{
	c->reserved -= n;
}

/* ---- ready jobs ---- */

static void activate(struct dk_svc *v, struct session *s, uint32_t qos, bool head)
{
	struct sclass *c = &s->cls[qos];

	if (c->active)
		return;
	c->active = true;
	if (head) {
		/* Given back after a refused submit: its turn goes on where it was. */
		c->turn = true;
		list_add_head(&v->drr[qos], &c->link);
	} else {
		c->turn = false;
		c->deficit = 0;
		list_add_tail(&v->drr[qos], &c->link);
	}
}

static void deactivate(struct sclass *c)
{
	c->active = false;
	c->turn = false;
	c->deficit = 0;
	list_del(&c->link);
}

static void push(struct dk_svc *v, struct job *j, bool head)
{
	struct sclass *c = &j->s->cls[j->pub.qos];

	j->state = JOB_READY;
	/* Room was reserved when the queue was created; a resubmitted job had its place. */
	heap_set(c, c->n++, j);
	heap_up(c, c->n - 1);
	v->n_ready++;
	v->n_ready_qos[j->pub.qos]++;
	activate(v, j->s, j->pub.qos, head);
}

/* sched_push - @j's inputs are met (or it is resubmitted after a reset): make it ready. */
void sched_push(struct dk_svc *v, struct job *j)
{
	push(v, j, false);
}

static void removed(struct dk_svc *v, struct job *j)
{
	struct sclass *c = &j->s->cls[j->pub.qos];

	v->n_ready--;
	if (c->n == 0)
		deactivate(c);
	if (--v->n_ready_qos[j->pub.qos] == 0)
		v->swrr[j->pub.qos] = 0;
	j->state = JOB_NEW;
}

/* sched_remove - take a ready job out (it is being cancelled). */
void sched_remove(struct dk_svc *v, struct job *j)
{
	heap_remove_at(&j->s->cls[j->pub.qos], j->heap_pos);
	removed(v, j);
}

/* Step 1: the class, by smooth weighted round-robin among those with ready jobs. */
static uint32_t pick_qos(struct dk_svc *v)
{
	int64_t total = 0;
	uint32_t best = 0;

	for (uint32_t q = DK_QOS_FRUGAL; q <= DK_QOS_BURST; q++) {
		if (!v->n_ready_qos[q])
			continue;
		v->swrr[q] += qos_weight[q];
		total += qos_weight[q];
		if (!best || v->swrr[q] >= v->swrr[best])
			best = q;
	}
	if (best)
		v->swrr[best] -= total;
	return best;
}

/* Steps 2 and 3: the session by deficit round-robin, then its earliest deadline. */
static struct job *pick_job(struct dk_svc *v, uint32_t qos)
{
	for (;;) {
		struct sclass *c = list_entry(v->drr[qos].next, struct sclass, link);
		struct job *j = c->heap[0];

		if (!c->turn) {
			c->deficit += j->s->weight;
			c->turn = true;
		}
		if (j->pub.cost <= c->deficit) {
			c->deficit -= j->pub.cost;
			heap_remove_at(c, 0);
			removed(v, j);
			return j;
		}
		/* Its turn is over: to the back of the round. */
		c->turn = false;
		list_del(&c->link);
		list_add_tail(&v->drr[qos], &c->link);
	}
}

/* Give back a job submit refused (-EBUSY): first in line again, its cost refunded. */
static void unpick(struct dk_svc *v, struct job *j)
{
	struct sclass *c = &j->s->cls[j->pub.qos];

	c->deficit += j->pub.cost;
	push(v, j, true);
}

/* How long a job of class @qos is polled for on a DK_DEVICE_F_POLL device (0: never). */
static uint64_t poll_ns(const struct dk_svc *v, uint32_t qos)
{
	if (!(v->ops->flags & DK_DEVICE_F_POLL))
		return 0;
	if (qos == DK_QOS_BURST)
		return DK_SVC_POLL_BURST_NS;
	return qos == DK_QOS_NORMAL ? DK_SVC_POLL_NORMAL_NS : 0;
}

/* A job polled for @ns went to the hardware at @now: poll until then at least. */
static void poll_extend(struct dk_svc *v, uint64_t ns, uint64_t now)
{
	if (ns && now + ns > v->poll_until)
		v->poll_until = now + ns;
}

/*
 * Hand @j to the hardware (a slot is free). @now: the caller's clock reading, also used for
 * completions the class reports from submit.
 */
static void dispatch_one(struct dk_svc *v, struct job *j, uint64_t now)
{
	uint64_t poll;
	int err;

	if (j->pub.sqe.deadline_ns && now > j->pub.sqe.deadline_ns) {
		j->state = JOB_NEW;
		svc_post(v, j, -ETIMEDOUT, DK_REASON_DEADLINE, 0, now);
		svc_retire_later(v, j);
		return;
	}
	j->pub.attempts++;
	j->pub.t_started_ns = now;
	j->suspect = false;
	j->expiry_ns = now + svc_time_limit(v, j->pub.qos);
	if (j->pub.sqe.deadline_ns && j->pub.sqe.deadline_ns < j->expiry_ns)
		j->expiry_ns = j->pub.sqe.deadline_ns;
	/* A job that will be polled for needs no interrupt; one that will not needs it, unless
	 * a poll under way finds it (poll_hw() unmasks when the poll ends first). */
	poll = poll_ns(v, j->pub.qos);
	if (poll || !v->poll_until)
		svc_irq_mask(v, poll != 0);
	j->state = JOB_HW;
	list_add_tail(&v->hw_jobs, &j->link);
	v->n_hw++;
	svc_op_enter(v);
	v->now_hint = now;
	err = v->ops->submit(v->dev, &j->pub);
	v->now_hint = 0;
	if (err < 0 && j->state == JOB_HW) {
		list_del(&j->link);
		v->n_hw--;
		j->pub.attempts--;
		j->pub.t_started_ns = 0;
		if (err == -EBUSY && v->n_hw) {
			/* Back in front; tried again once a job left the hardware. */
			unpick(v, j);
			v->hw_busy = true;
		} else {
			/* Busy with nothing on it would never change: a device fault. */
			if (err == -EBUSY)
				err = -EIO;
			j->state = JOB_NEW;
			svc_post(v, j, err, DK_REASON_DEVICE_FAULT, 0, now);
			svc_retire_later(v, j);
		}
	} else if (err == 0) {
		v->uncommitted = true;
	}
	if (j->state == JOB_HW) {
		wd_arm(v, j->expiry_ns);
		poll_extend(v, poll, now);
	}
	svc_op_exit(v);
	/* Masked for a job that did not stay (done in submit, -EBUSY, failed) while no poll is
	 * under way: the jobs still on the hardware need their interrupt. */
	if (j->state != JOB_HW && !v->poll_until && v->n_hw)
		svc_irq_mask(v, false);
}

static bool slot_free(const struct dk_svc *v)
{
	return v->dev && !v->stop && !v->hw_busy && v->n_hw < v->dev->caps.hw_slots;
}

/*
 * sched_ready - @j's inputs are met. With a free slot and no job waiting for one it goes
 * straight to the hardware (the scheduler would pick it: it is the only candidate); otherwise
 * it waits in its ready heap. @now: the caller's clock reading.
 */
void sched_ready(struct dk_svc *v, struct job *j, uint64_t now)
{
	j->pub.t_ready_ns = now;
	if (!v->n_ready && slot_free(v))
		dispatch_one(v, j, now);
	else
		sched_push(v, j);
}

/* sched_dispatch - hand ready jobs to the hardware while it has free slots. */
void sched_dispatch(struct dk_svc *v)
{
	uint64_t now = 0;

	while (v->n_ready && slot_free(v)) {
		uint32_t qos = pick_qos(v);

		if (!qos)
			break;
		if (!now)
			now = dk_now_fast_ns();
		dispatch_one(v, pick_job(v, qos), now);
	}
	svc_retire_all(v);
	svc_commit(v);
}
