/* SPDX-License-Identifier: MIT */
/*
 * job.c - a job's life outside the scheduler: taken from its ring, checked, parked on its
 * input fences, completed (output fence, completion entry), retired.
 *
 * Input fences are awaited without polling: a parked job's first unreached input fence is
 * watched through its poll descriptor (dk_fence_poll_fd(), edge-triggered in the watcher's
 * epoll set, one registration per fence however many jobs wait on it), and every parked job
 * is re-checked when any watched fence moves. A fence that cannot be watched (epoll refused
 * it) falls back to a bounded re-check every PARKED_POLL_NS; and every parked job is also
 * re-checked when the serving thread wakes from its longest sleep (IDLE_NS), as a safety net.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "service-internal.h"

#define JOB_CHUNK 64u


/* ---- the job pool: chunks of JOB_CHUNK, kept until exit ---- */

int svc_jobs_init(struct dk_svc *v)
{
	list_init(&v->free_jobs);
	list_init(&v->parked);
	list_init(&v->hw_jobs);
	list_init(&v->retired);
	for (uint32_t c = 0; c < QOS_N; c++)
		list_init(&v->drr[c]);
	return 0;
}

void svc_jobs_finish(struct dk_svc *v)
{
	for (uint32_t i = 0; i < v->n_chunks; i++)
		free(v->chunks[i]);
	free(v->chunks);
	v->chunks = NULL;
	v->n_chunks = 0;
	list_init(&v->free_jobs);
}

static struct job *job_alloc(struct dk_svc *v)
{
	struct job *j;

	if (list_empty(&v->free_jobs)) {
		void **chunks = realloc(v->chunks, (v->n_chunks + 1) * sizeof(*chunks));
		struct job *c;

		if (!chunks)
			return NULL;
		v->chunks = chunks;
		c = calloc(JOB_CHUNK, sizeof(*c));
		if (!c)
			return NULL;
		v->chunks[v->n_chunks++] = c;
		for (uint32_t i = 0; i < JOB_CHUNK; i++)
			list_add_tail(&v->free_jobs, &c[i].link);
	}
	j = list_entry(v->free_jobs.next, struct job, link);
	list_del(&j->link);
	return j; /* job_init() sets every field */
}

static void job_free(struct dk_svc *v, struct job *j)
{
	j->state = JOB_FREE;
	list_add_head(&v->free_jobs, &j->link); /* LIFO: the next job is still in the cache */
}

/* ---- device ops and retirement ---- */

void svc_retire_later(struct dk_svc *v, struct job *j)
{
	struct session *s = j->s;

	if ((!j->validated || !v->ops->retire) && s->state == SESSION_LIVE) {
		/* Nothing to tell the class, nothing to finalize: free it now. */
		job_free(v, j);
		s->n_jobs--;
		return;
	}
	j->state = JOB_RETIRED;
	list_add_tail(&v->retired, &j->link);
}

/*
 * Retire every job that is done with: the class's retire, then back to the pool; a session
 * that ended is finalized (buffer_removed, budget released) once its last job is gone. Never
 * inside a device op: the class is not re-entered.
 */
void svc_retire_all_slow(struct dk_svc *v)
{
	while (!list_empty(&v->retired)) {
		struct job *j = list_entry(v->retired.next, struct job, link);
		struct session *s = j->s;

		list_del(&j->link);
		if (j->validated && v->ops->retire) {
			v->in_op++;
			v->ops->retire(v->dev, &j->pub);
			v->in_op--;
		}
		job_free(v, j);
		s->n_jobs--;
		if (s->state == SESSION_DRAINING && s->n_jobs == 0)
			session_finalize(v, s);
	}
}

/* ---- completion ---- */

static int fence_error_of(uint32_t reason)
{
	switch (reason) {
	case DK_REASON_VALIDATION:
	case DK_REASON_PROTOCOL:
		return -EPROTO;
	case DK_REASON_DRIVER_CRASHED:
		return -ENODEV;
	case DK_REASON_POLICY:
		return -EACCES;
	case DK_REASON_DEVICE_FAULT:
	case DK_REASON_HANG:
	case DK_REASON_DEVICE_RESET:
		return -EIO;
	default:
		return -ECANCELED;
	}
}

/*
 * Signal @j's output fence point, or fail it with the error of @reason. Returns the status
 * the job completes with: a point that is not ahead of the timeline is the job's own fault.
 */
static int signal_out(struct job *j, int status, uint32_t reason)
{
	const struct dk_sqe *sqe = &j->pub.sqe;
	struct dk_fence *out;
	int err;

	if (sqe->signal.index == DK_HANDLE_NONE ||
	    dk_htable_fence(j->s->table, sqe->signal.index, DK_RIGHT_SIGNAL, &out) < 0)
		return status;
	if (status == 0)
		err = dk_fence_signal(out, sqe->signal.point);
	else
		err = dk_fence_signal_error(out, sqe->signal.point, fence_error_of(reason),
					    reason);
	return err < 0 && status == 0 ? err : status;
}

/* For a job cancelled on the hardware: now that it is off, its output fence says why. */
void svc_signal_out(struct dk_svc *v, struct job *j, int status, uint32_t reason)
{
	(void)v;
	signal_out(j, status, reason);
}

static void post_cqe(struct dk_svc *v, struct job *j, int status, uint32_t reason,
		     uint64_t result, uint64_t now)
{
	struct squeue *q = j->q;
	struct session *s = j->s;
	struct dk_ring_job rj;

	/* What dk_ring_complete() reads of the taken job. */
	rj.sqe.user_data = j->pub.sqe.user_data;
	rj.ticket = j->ticket;
	rj.slot = j->slot;
	rj.gen = j->gen;
	rj.t_taken_ns = j->pub.t_submitted_ns;
	j->pub.t_signalled_ns = now;
	dk_ring_complete(q->ring, &rj, status, reason, result,
			 j->pub.t_started_ns ? j->pub.t_started_ns : now);
	q->dirty = true;
	list_del(&j->qlink);
	j->q = NULL;
	s->inflight--;
	if (status == 0) {
		s->latency_ns[s->completed % LATENCY_SAMPLES] = now - j->pub.t_submitted_ns;
		s->completed++;
		v->st.completed++;
	} else {
		s->refused++;
		v->st.failed++;
	}
	svc_trace(v, j, status, reason);
}

/*
 * Complete @j (its output fence, then its completion entry). The caller retires it, or keeps
 * it on the hardware. @now: the caller's clock reading.
 */
void svc_post(struct dk_svc *v, struct job *j, int status, uint32_t reason, uint64_t result,
	      uint64_t now)
{
	int st = signal_out(j, status, reason);

	if (st != status) {
		status = st;
		reason = DK_REASON_VALIDATION;
	}
	post_cqe(v, j, status, reason, status == 0 ? result : 0, now);
}

/* Take @j off the parked list (and its fence watch); it is JOB_NEW again. */
static void unpark(struct dk_svc *v, struct job *j)
{
	struct fwatch *w = j->watch;

	if (w && --w->n_jobs == 0) {
		epoll_ctl(v->epfd, EPOLL_CTL_DEL, w->fd, NULL);
		w->fd = -1;
		dk_fence_poll_end(w->fence);
	} else if (!w) {
		v->n_parked_polled--;
	}
	j->watch = NULL;
	list_del(&j->link);
	v->st.parked--;
	j->state = JOB_NEW;
}

/*
 * Cancel @j, wherever it is. Off the hardware it completes now and is retired. On the
 * hardware its completion is posted now, but its output fence fails only once the hardware
 * gave it back (dk_svc_job_done() or a reset): the fence promises that nothing touches the
 * job's buffers any more.
 */
void svc_cancel(struct dk_svc *v, struct job *j, int status, uint32_t reason, uint64_t now)
{
	switch (j->state) {
	case JOB_PARKED:
		unpark(v, j);
		break;
	case JOB_READY:
		sched_remove(v, j);
		break;
	case JOB_HW:
		if (j->posted)
			return;
		post_cqe(v, j, status, reason, 0, now);
		j->posted = true;
		j->cancel_status = status;
		j->cancel_reason = reason;
		j->s->n_zombies++;
		return;
	default:
		break;
	}
	svc_post(v, j, status, reason, 0, now);
	svc_retire_later(v, j);
}

int dk_svc_job_done(struct dk_svc *v, struct dk_svc_job *job, int status, uint32_t reason,
		    uint64_t result)
{
	struct job *j = job_of(job);
	uint64_t now;

	if (!j || j->state != JOB_HW)
		return -EINVAL;
	if (status > 0 || (status == 0 && reason != DK_REASON_NONE) ||
	    (status < 0 && (reason == DK_REASON_NONE || reason >= DK_REASON_COUNT)))
		return -EINVAL;
	now = v->now_hint ? v->now_hint : dk_now_fast_ns();
	list_del(&j->link);
	v->n_hw--;
	v->hw_busy = false;
	j->pub.t_completed_ns = now;
	if (j->suspect) {
		/* Done, but its time limit passed without an interrupt telling us. */
		v->st.lost_irqs++;
		svc_log(v, DK_LOG_WARNING, "service.lost-irq",
			"session=%" PRIu64 " queue=%u ticket=%" PRIu64 " opcode=%u",
			j->pub.session_id, j->queue_id, j->ticket, j->pub.sqe.opcode);
	}
	if (j->posted) {
		/* Cancelled while on the hardware: the completion went out at the cancel. */
		signal_out(j, j->cancel_status, j->cancel_reason);
		j->s->n_zombies--;
	} else {
		svc_post(v, j, status, reason, result, now);
	}
	svc_retire_later(v, j);
	/* Outside an op (cannot happen for a well-behaved class), retire at once. */
	svc_retire_all(v);
	return 0;
}

/* ---- validation failures ---- */

void svc_violation(struct dk_svc *v, struct session *s)
{
	s->violations++;
	v->st.violations++;
	if (s->kill_threshold && s->violations >= s->kill_threshold && !s->kill_pending &&
	    s->state == SESSION_LIVE) {
		s->kill_pending = true;
		v->n_kill_pending++;
	}
}

/* ---- input fences ---- */

/* Watch @f (registered at @index in @s) for @j; NULL when it cannot be watched. */
static struct fwatch *watch(struct dk_svc *v, struct session *s, uint32_t index,
			    struct dk_fence *f)
{
	struct fwatch *w = &s->watches[index & 0xffffu];
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = EV_FENCE};

	if (w->n_jobs) {
		w->n_jobs++;
		return w;
	}
	/*
	 * The fence's own descriptor: the fence stays registered (and its descriptor open) while a
	 * job waits on it, and the watch ends before the job does.
	 */
	w->fd = dk_fence_poll_fd(f);
	/* Announce the poller before the re-check the caller makes (dk/fence.h). */
	dk_fence_poll_begin(f);
	if (epoll_ctl(v->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0) {
		dk_fence_poll_end(f);
		w->fd = -1;
		return NULL;
	}
	w->fence = f;
	w->n_jobs = 1;
	return w;
}

/*
 * Move @j on according to its input fences: parked on the first one not reached, failed when
 * one failed, or ready for the scheduler. @j is JOB_NEW.
 */
static void job_inputs(struct dk_svc *v, struct job *j, uint64_t now)
{
	const struct dk_sqe *sqe = &j->pub.sqe;
	struct session *s = j->s;

	for (uint32_t i = 0; i < sqe->n_waits; i++) {
		struct dk_fence *f;
		uint32_t reason = DK_REASON_NONE;
		int err = dk_htable_fence(s->table, sqe->wait[i].index, DK_RIGHT_WAIT, &f);

		if (err < 0) {
			svc_post(v, j, err, DK_REASON_VALIDATION, 0, now);
			svc_retire_later(v, j);
			return;
		}
		err = dk_fence_status(f, sqe->wait[i].point, &reason);
		if (err == -EAGAIN) {
			j->watch = watch(v, s, sqe->wait[i].index, f);
			j->wait_i = (uint8_t)i;
			if (!j->watch)
				v->n_parked_polled++;
			j->state = JOB_PARKED;
			list_add_tail(&v->parked, &j->link);
			v->st.parked++;
			/* Signalled before the watch began? Then no edge will come: look again. */
			err = dk_fence_status(f, sqe->wait[i].point, &reason);
			if (err == -EAGAIN) {
				if (sqe->deadline_ns)
					wd_arm(v, sqe->deadline_ns + 1);
				return;
			}
			unpark(v, j);
		}
		if (err < 0) {
			svc_post(v, j, -ECANCELED, DK_REASON_DEPENDENCY, 0, now);
			svc_retire_later(v, j);
			return;
		}
	}
	sched_ready(v, j, now);
}

/*
 * Re-check every parked job: its deadline, then its inputs. @ret_next_deadline: the earliest
 * deadline of the jobs still parked (UINT64_MAX when none).
 */
void svc_parked_recheck(struct dk_svc *v, uint64_t now, uint64_t *ret_next_deadline)
{
	struct list *n, *next;
	uint64_t soonest = UINT64_MAX;

	for (n = v->parked.next; n != &v->parked; n = next) {
		struct job *j = list_entry(n, struct job, link);
		const struct dk_sqe *sqe = &j->pub.sqe;

		next = n->next;
		if (sqe->deadline_ns && now > sqe->deadline_ns) {
			unpark(v, j);
			svc_post(v, j, -ETIMEDOUT, DK_REASON_DEADLINE, 0, now);
			svc_retire_later(v, j);
			continue;
		}
		if (j->watch &&
		    dk_fence_status(j->watch->fence, sqe->wait[j->wait_i].point, NULL) == -EAGAIN) {
			/* The fence it waits on has not reached its point: nothing to do. */
			if (sqe->deadline_ns && sqe->deadline_ns < soonest)
				soonest = sqe->deadline_ns;
			continue;
		}
		unpark(v, j);
		job_inputs(v, j, now);
		if (j->state == JOB_PARKED && sqe->deadline_ns && sqe->deadline_ns < soonest)
			soonest = sqe->deadline_ns;
	}
	/* A parked job expires once the clock is past its deadline. */
	if (ret_next_deadline)
		*ret_next_deadline = soonest == UINT64_MAX ? soonest : soonest + 1;
}

/* ---- taking jobs ---- */

/* The class's validate, or the default: DK_OP_NOP with param 0 only. */
static int validate(struct dk_svc *v, struct job *j)
{
	int err;

	if (!v->ops->validate)
		return j->pub.sqe.opcode == DK_OP_NOP && j->pub.sqe.param == 0 ? 0 : -EINVAL;
	svc_op_enter(v);
	err = v->ops->validate(v->dev, &j->pub);
	svc_op_exit(v);
	if (err > 0)
		err = -EINVAL;
	if (j->pub.cost == 0)
		j->pub.cost = 1;
	if (j->pub.cost > DK_SVC_JOB_COST_MAX)
		j->pub.cost = DK_SVC_JOB_COST_MAX;
	return err;
}

/* Check a newly taken job and move it on. */
static void job_admit(struct dk_svc *v, struct job *j, uint64_t now)
{
	struct squeue *q = j->q;
	struct session *s = j->s;
	const struct dk_sqe *sqe = &j->pub.sqe;
	int err = dk_ring_check_sqe(q->ring, s->table, sqe);

	if (err == 0) {
		err = validate(v, j);
		j->validated = err == 0;
	}
	if (err < 0) {
		svc_violation(v, s);
		svc_post(v, j, err, DK_REASON_VALIDATION, 0, now);
		svc_retire_later(v, j);
		return;
	}
	j->pub.deadline_ns = sqe->deadline_ns
				 ? sqe->deadline_ns
				 : j->pub.t_submitted_ns + svc_time_limit(v, j->pub.qos);
	if (sqe->deadline_ns && now > sqe->deadline_ns) {
		svc_post(v, j, -ETIMEDOUT, DK_REASON_DEADLINE, 0, now);
		svc_retire_later(v, j);
		return;
	}
	job_inputs(v, j, now);
}

/*
 * Set every field of a newly taken job, one by one: this runs for every job, and a memset of
 * the whole struct costs more than the rest of taking it.
 */
static void job_init(struct job *j, const struct dk_ring_job *rj, struct squeue *q, uint64_t seq)
{
	struct dk_svc_job *p = &j->pub;

	p->sqe = rj->sqe;
	p->session_id = q->s->id;
	p->qos = rj->sqe.qos ? rj->sqe.qos : q->qos;
	p->attempts = 0;
	p->deadline_ns = 0;
	p->t_submitted_ns = rj->t_taken_ns;
	p->t_ready_ns = 0;
	p->t_started_ns = 0;
	p->t_completed_ns = 0;
	p->t_signalled_ns = 0;
	p->cost = 1;
	p->reserved = 0;
	for (uint32_t k = 0; k < DK_SVC_JOB_SCRATCH_WORDS; k++)
		p->scratch[k] = 0;
	j->ticket = rj->ticket;
	j->slot = rj->slot;
	j->gen = rj->gen;
	j->s = q->s;
	j->q = q;
	list_init(&j->qlink);
	list_init(&j->link);
	j->watch = NULL;
	j->seq = seq;
	j->expiry_ns = 0;
	j->heap_pos = 0;
	j->queue_id = q->id;
	j->cancel_status = 0;
	j->cancel_reason = DK_REASON_NONE;
	j->state = JOB_NEW;
	j->wait_i = 0;
	j->validated = false;
	j->posted = false;
	j->suspect = false;
}

/* Take up to @room (at most SVC_BATCH) from @q. Returns the number taken (0 also when the
 * queue broke: q->broken says so). */
static int take_chunk(struct dk_svc *v, struct squeue *q, uint32_t room)
{
	struct dk_ring_job rjobs[SVC_BATCH];
	struct session *s = q->s;
	uint64_t now;
	int n;

	n = dk_ring_consume(q->ring, rjobs, room);
	if (n < 0) {
		q->broken = true;
		svc_log(v, DK_LOG_WARNING, "service.queue-broken", "session=%" PRIu64 " queue=%u",
			s->id, q->id);
		return 0;
	}
	if (n == 0)
		return 0;
	now = rjobs[0].t_taken_ns;
	for (int i = 0; i < n; i++) {
		struct job *j = job_alloc(v);

		if (!j) {
			/* Out of memory: refused like a budget, nothing else changes. */
			dk_ring_complete(q->ring, &rjobs[i], -ENOMEM, DK_REASON_BUDGET, 0, now);
			q->dirty = true;
			s->refused++;
			v->st.failed++;
			continue;
		}
		job_init(j, &rjobs[i], q, ++v->next_seq);
		list_add_tail(&q->jobs, &j->qlink);
		s->inflight++;
		s->n_jobs++;
		job_admit(v, j, now);
	}
	return n;
}

/*
 * Take what queue @q has, within its session's max_inflight and one pass's batch
 * (v->take_batch, consumed SVC_BATCH at a time). Returns the number of jobs taken.
 */
int svc_take(struct dk_svc *v, struct squeue *q)
{
	struct session *s = q->s;
	uint32_t room;
	int total = 0, n;

	if (q->broken || s->state != SESSION_LIVE)
		return 0;
	room = s->max_inflight > s->inflight ? s->max_inflight - s->inflight : 0;
	if (room > v->take_batch)
		room = v->take_batch;
	while (room) {
		uint32_t chunk = room < SVC_BATCH ? room : SVC_BATCH;

		n = take_chunk(v, q, chunk);
		if (n == 0)
			break;
		total += n;
		room -= (uint32_t)n;
		if ((uint32_t)n < chunk)
			break; /* the SQ is empty */
	}
	return total;
}

/* ---- accessors for the class ---- */

int dk_svc_job_buffer(const struct dk_svc_job *job, uint32_t i, struct dk_buffer **ret_buffer,
		      uint64_t *ret_cookie)
{
	const struct job *j = job_of(job);
	const struct dk_sqe_buffer *b;
	struct dk_buffer *buf;
	int err;

	if (i >= job->sqe.n_buffers || i >= DK_SQE_MAX_BUFFERS)
		return -EINVAL;
	b = &job->sqe.buf[i];
	err = dk_htable_buffer(j->s->table, b->index, 0, &buf);
	if (err < 0)
		return err;
	if (ret_buffer)
		*ret_buffer = buf;
	if (ret_cookie)
		*ret_cookie = j->s->bufs[b->index & 0xffffu].cookie;
	return 0;
}

int dk_svc_job_fence(const struct dk_svc_job *job, uint32_t index, uint32_t rights,
		     struct dk_fence **ret_fence)
{
	return dk_htable_fence(job_of(job)->s->table, index, rights, ret_fence);
}
