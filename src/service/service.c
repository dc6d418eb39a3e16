/* SPDX-License-Identifier: MIT */
/*
 * service.c - sessions, queues and the serving loop of a device service (service.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dk/dk.h>
#include <dk/log.h>
#include <dk/policy.h>

#include "service.h"

#define CTL_DEADLINE_NS (2 * DK_NSEC_PER_SEC) /* a control reply that cannot be sent */
#define IDLE_NS DK_NSEC_PER_SEC               /* longest sleep with nothing to do */
#define PARKED_POLL_NS (200 * 1000)           /* re-check input fences of parked jobs */
#define EV_SIGNAL UINT64_MAX
#define EV_BROKER (UINT64_MAX - 1)

struct session;

struct squeue {
	struct dk_ring *ring;
	struct session *s;
	uint32_t id;
	uint64_t tag; /* its completion fence's tag in the supervisor's registry */
	uint32_t n_parked;
	struct dk_ring_job *parked; /* taken, waiting for input fences (<= CQ depth) */
};

struct session {
	bool used;
	int fd;
	uint64_t id;
	uint32_t pid, uid, gid;
	uint32_t rights, qos, max_buffers, max_inflight, max_fences;
	uint64_t max_bytes;
	struct dk_htable *table;
	struct dk_budget *budget;
	uint32_t n_buffers, n_fences, inflight, next_queue_id;
	uint64_t completed, refused;
	bool send_failed; /* a reply could not be sent: the session ends */
	struct squeue *queues[DK_SESSION_QUEUES_MAX];
};

struct svc {
	const struct dk_svc_class *cls;
	int epfd, sigfd, broker_fd;
	uint64_t generation, next_tag;
	char device[DK_RT_NAME_MAX + 1];
	struct dk_buffer_registry *registry;
	struct dk_log_client *log;
	struct session sessions[DK_SERVICE_SESSIONS_MAX];
	struct dk_ring *rings[DK_SVC_QUEUES_MAX]; /* every queue, for dk_ring_idle_wake() */
	struct squeue *ring_q[DK_SVC_QUEUES_MAX];
	uint32_t n_rings, n_parked;
	bool stop;
	/* Shared with the control-watcher thread. */
	uint32_t wake;
	_Atomic uint32_t ctl_pending;
	_Atomic bool quit;
	struct dk_msg msg;
};

static void futex_wake_all(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* The control watcher: sleeps in epoll_wait, wakes the serving thread, waits until served. */
static void *watcher(void *arg)
{
	struct svc *v = arg;
	struct epoll_event ev;

	while (!atomic_load(&v->quit)) {
		int n = epoll_wait(v->epfd, &ev, 1, -1);

		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		atomic_store(&v->ctl_pending, 1);
		dk_ring_wake(&v->wake);
		while (atomic_load(&v->ctl_pending) == 1)
			syscall(SYS_futex, (uint32_t *)&v->ctl_pending, FUTEX_WAIT, 1, NULL, NULL,
				0);
	}
	return NULL;
}

static void svc_log(struct svc *v, enum dk_log_severity sev, const char *scope, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));

static void svc_log(struct svc *v, enum dk_log_severity sev, const char *scope, const char *fmt,
		    ...)
{
	char fields[DK_LOG_FIELDS_MAX + 1];
	va_list ap;

	if (!v->log)
		return;
	va_start(ap, fmt);
	vsnprintf(fields, sizeof(fields), fmt, ap);
	va_end(ap);
	if (dk_log_append_async(v->log, sev, scope, scope, fields) == -EPIPE) {
		dk_log_close(v->log);
		v->log = NULL;
	}
}

/* ---- queues and jobs ---- */

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
		return -EIO;
	default:
		return -ECANCELED;
	}
}

static void finish(struct squeue *q, struct dk_ring_job *job, int status, uint32_t reason,
		   uint64_t result, uint64_t t_started)
{
	struct session *s = q->s;
	const struct dk_sqe *sqe = &job->sqe;
	struct dk_fence *out;

	if (sqe->signal.index != DK_HANDLE_NONE &&
	    dk_htable_fence(s->table, sqe->signal.index, DK_RIGHT_SIGNAL, &out) == 0) {
		int err;

		if (status == 0)
			err = dk_fence_signal(out, sqe->signal.point);
		else
			err = dk_fence_signal_error(out, sqe->signal.point,
						    fence_error_of(reason), reason);
		if (err < 0 && status == 0) {
			/* The point was not ahead of the timeline: the job's own fault. */
			status = err;
			reason = DK_REASON_VALIDATION;
		}
	}
	dk_ring_complete(q->ring, job, status, reason, result, t_started);
	if (status == 0)
		s->completed++;
	else
		s->refused++;
}

/* 0: inputs ready; -EAGAIN: not yet; < 0: an input failed (@ret_reason says why). */
static int inputs_ready(struct session *s, const struct dk_sqe *sqe, uint32_t *ret_reason)
{
	for (uint32_t i = 0; i < sqe->n_waits; i++) {
		struct dk_fence *f;
		uint32_t reason = DK_REASON_NONE;
		int err = dk_htable_fence(s->table, sqe->wait[i].index, DK_RIGHT_WAIT, &f);

		if (err < 0) {
			*ret_reason = DK_REASON_VALIDATION;
			return err;
		}
		err = dk_fence_status(f, sqe->wait[i].point, &reason);
		if (err == -EAGAIN)
			return -EAGAIN;
		if (err < 0) {
			*ret_reason = DK_REASON_DEPENDENCY;
			return -ECANCELED;
		}
	}
	return 0;
}

/*
 * Run a taken job, or park it when its inputs are not ready. Returns 1 when parked.
 * @now: one clock reading per batch (a clock read costs as much as running a null job).
 */
static int run_job(struct svc *v, struct squeue *q, struct dk_ring_job *job, uint64_t now)
{
	struct session *s = q->s;
	uint64_t result = 0;
	uint32_t reason = DK_REASON_NONE;
	int err;

	if (job->sqe.deadline_ns && now > job->sqe.deadline_ns) {
		finish(q, job, -ETIMEDOUT, DK_REASON_DEADLINE, 0, now);
		return 0;
	}
	err = inputs_ready(s, &job->sqe, &reason);
	if (err == -EAGAIN)
		return 1;
	if (err < 0) {
		finish(q, job, err, reason, 0, now);
		return 0;
	}
	err = v->cls->run(v->cls->ctx, &job->sqe, s->table, &result, &reason);
	finish(q, job, err, err < 0 ? reason : DK_REASON_NONE, result, now);
	return 0;
}

/* Serve one queue once. Returns the number of jobs that moved. */
static int serve_queue(struct svc *v, struct squeue *q)
{
	struct dk_ring_job jobs[DK_SVC_BATCH];
	struct session *s = q->s;
	uint32_t room, i, k = 0;
	uint64_t now = q->n_parked ? dk_now_ns() : 0;
	int n, moved = 0;

	/* Parked jobs first: inputs may have become ready. */
	for (i = 0; i < q->n_parked; i++) {
		if (run_job(v, q, &q->parked[i], now) == 1) {
			q->parked[k++] = q->parked[i];
			continue;
		}
		moved++;
	}
	s->inflight -= q->n_parked - k;
	v->n_parked -= q->n_parked - k;
	q->n_parked = k;

	room = s->max_inflight > s->inflight ? s->max_inflight - s->inflight : 0;
	if (room > DK_SVC_BATCH)
		room = DK_SVC_BATCH;
	n = room ? dk_ring_consume(q->ring, jobs, room) : 0;
	if (n < 0) {
		svc_log(v, DK_LOG_WARNING, "service.queue-broken", "session=%" PRIu64 " queue=%u",
			s->id, q->id);
		return moved;
	}
	if (n > 0)
		now = dk_now_ns();
	for (i = 0; i < (uint32_t)n; i++) {
		int err = dk_ring_check_sqe(q->ring, s->table, &jobs[i].sqe);

		moved++;
		if (err < 0) {
			finish(q, &jobs[i], err, DK_REASON_VALIDATION, 0, now);
			continue;
		}
		if (run_job(v, q, &jobs[i], now) == 1) {
			q->parked[q->n_parked++] = jobs[i];
			s->inflight++;
			v->n_parked++;
		}
	}
	if (moved)
		dk_ring_publish(q->ring);
	return moved;
}

static void queue_destroy(struct svc *v, struct squeue *q)
{
	struct session *s = q->s;
	/* Cancelled by the client (DESTROY_QUEUE, session closed), or by the service stopping. */
	uint32_t reason = v->stop ? DK_REASON_SHUTDOWN : DK_REASON_CANCELLED;

	/* Parked jobs never ran: they complete as cancelled, and their fences say why. */
	for (uint32_t i = 0; i < q->n_parked; i++)
		finish(q, &q->parked[i], -ECANCELED, reason, 0, dk_now_ns());
	dk_ring_publish(q->ring);
	s->inflight -= q->n_parked;
	v->n_parked -= q->n_parked;
	for (uint32_t i = 0; i < v->n_rings; i++) {
		if (v->ring_q[i] != q)
			continue;
		v->n_rings--;
		v->rings[i] = v->rings[v->n_rings];
		v->ring_q[i] = v->ring_q[v->n_rings];
		break;
	}
	for (uint32_t i = 0; i < DK_SESSION_QUEUES_MAX; i++)
		if (s->queues[i] == q)
			s->queues[i] = NULL;
	/*
	 * Released when the client let the queue go. When the service stops, the registration
	 * stays: jobs it never took still have waiters, and the supervisor's reaper fails their
	 * points at our exit (as it does for a crash).
	 */
	if (!v->stop)
		dk_child_fence_release(q->tag, dk_now_ns() + CTL_DEADLINE_NS);
	dk_ring_destroy(q->ring);
	free(q->parked);
	free(q);
}

/* ---- session requests ---- */

/*
 * Answer a request without ever waiting: the serving thread is shared by every session, so a
 * client that does not read its replies (its socket full) loses its session instead of
 * stalling everyone else.
 */
static int reply(struct session *s, uint16_t op, uint64_t seq, const void *p, size_t len,
		 const int *fds, uint32_t n_fds)
{
	int err = dk_msg_send(s->fd, &dk_session_reply_proto, op, DK_FRAME_F_REPLY, seq, p, len,
			      fds, n_fds, 0);

	if (err < 0)
		s->send_failed = true;
	return err;
}

static int reply_index(struct session *s, const struct dk_frame *f, uint32_t index)
{
	uint8_t p[8];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, index);
	dk_wire_put_u32(&w, 0);
	return reply(s, f->opcode, f->seq, p, sizeof(p), NULL, 0);
}

static int op_reg_buffer(struct svc *v, struct session *s, struct dk_msg *m)
{
	struct dk_wire_reader r;
	struct dk_buffer *b;
	uint32_t rights, index;
	uint64_t size;
	int err;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	rights = dk_wire_get_u32(&r);
	if (dk_wire_get_u32(&r) != 0 || m->n_fds != 1)
		return -EPROTO;
	size = dk_wire_get_u64(&r);
	if ((rights & ~s->rights) || !(rights & (DK_RIGHT_READ | DK_RIGHT_WRITE)))
		return -EPERM;
	if (s->n_buffers >= s->max_buffers ||
	    dk_htable_count(s->table) >= DK_SESSION_HANDLES_MAX)
		return -ENOSPC;
	err = dk_buffer_import(v->registry, s->budget, m->fds[0], rights, size, &b);
	if (err < 0)
		return err;
	m->fds[0] = -1;
	err = dk_htable_add_buffer(s->table, b, &index);
	if (err < 0) {
		dk_buffer_release(b);
		return err;
	}
	s->n_buffers++;
	return reply_index(s, &m->frame, index);
}

static int op_reg_fence(struct svc *v, struct session *s, struct dk_msg *m)
{
	struct dk_wire_reader r;
	struct dk_fence *f;
	uint32_t rights, index;
	int err;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	rights = dk_wire_get_u32(&r);
	if (dk_wire_get_u32(&r) != 0 || m->n_fds != DK_FENCE_NR_FDS)
		return -EPROTO;
	if ((rights & ~s->rights) || !(rights & (DK_RIGHT_WAIT | DK_RIGHT_SIGNAL)))
		return -EPERM;
	if (s->n_fences >= s->max_fences || dk_htable_count(s->table) >= DK_SESSION_HANDLES_MAX)
		return -ENOSPC;
	err = dk_fence_import(m->fds, rights, &f);
	if (err < 0)
		return err;
	for (uint32_t i = 0; i < DK_FENCE_NR_FDS; i++)
		m->fds[i] = -1;
	err = dk_htable_add_fence(s->table, f, &index);
	if (err < 0) {
		dk_fence_unref(f);
		return err;
	}
	s->n_fences++;
	return reply_index(s, &m->frame, index);
}

static int op_unregister(struct session *s, struct dk_msg *m)
{
	struct dk_wire_reader r;
	struct dk_buffer *b;
	struct dk_fence *f;
	uint32_t index;
	bool is_buffer;
	int err;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	index = dk_wire_get_u32(&r);
	if (dk_wire_get_u32(&r) != 0)
		return -EPROTO;
	is_buffer = dk_htable_buffer(s->table, index, 0, &b) == 0;
	if (!is_buffer && dk_htable_fence(s->table, index, 0, &f) < 0)
		return -EBADF;
	/* A parked job may name any handle: nothing is unregistered while jobs wait. */
	if (s->inflight)
		return -EBUSY;
	err = dk_htable_remove(s->table, index);
	if (err < 0)
		return err;
	if (is_buffer)
		s->n_buffers--;
	else
		s->n_fences--;
	return reply(s, m->frame.opcode, m->frame.seq, NULL, 0, NULL, 0);
}

static int op_create_queue(struct svc *v, struct session *s, struct dk_msg *m)
{
	struct dk_ring_params params;
	struct dk_wire_reader r;
	struct squeue *q;
	uint32_t slot = DK_SESSION_QUEUES_MAX;
	uint8_t p[8];
	struct dk_wire_writer w;
	int fds[1 + DK_FENCE_NR_FDS], err;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	params.sq_entries = dk_wire_get_u32(&r);
	params.cq_entries = dk_wire_get_u32(&r);
	params.qos = dk_wire_get_u32(&r);
	if (dk_wire_get_u32(&r) != 0)
		return -EPROTO;
	if (dk_qos_check(params.qos) < 0)
		return -EINVAL;
	if (params.qos > s->qos)
		return -EPERM;
	for (uint32_t i = 0; i < DK_SESSION_QUEUES_MAX && slot == DK_SESSION_QUEUES_MAX; i++)
		if (!s->queues[i])
			slot = i;
	if (slot == DK_SESSION_QUEUES_MAX || v->n_rings >= DK_SVC_QUEUES_MAX)
		return -ENOSPC;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	err = dk_ring_create(&params, &q->ring);
	if (err < 0) {
		free(q);
		return err;
	}
	q->parked = calloc(dk_ring_cq_entries(q->ring), sizeof(*q->parked));
	if (!q->parked) {
		dk_ring_destroy(q->ring);
		free(q);
		return -ENOMEM;
	}
	q->s = s;
	q->id = ++s->next_queue_id;
	q->tag = ++v->next_tag;
	/* The registry holds the fence before any client can wait on it. */
	err = dk_child_fence_register(dk_ring_fence(q->ring), q->tag,
				      dk_now_ns() + CTL_DEADLINE_NS);
	if (err == -ENOENT)
		err = 0; /* not under a supervisor (a test harness): nobody to register with */
	if (err == 0)
		err = dk_fence_export(dk_ring_fence(q->ring), DK_RIGHTS_FENCE_WAIT, &fds[1]);
	if (err < 0) {
		dk_ring_destroy(q->ring);
		free(q->parked);
		free(q);
		return err;
	}
	fds[0] = dk_ring_fd(q->ring);
	s->queues[slot] = q;
	v->rings[v->n_rings] = q->ring;
	v->ring_q[v->n_rings++] = q;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, q->id);
	dk_wire_put_u32(&w, 0);
	err = reply(s, m->frame.opcode, m->frame.seq, p, sizeof(p), fds, 1 + DK_FENCE_NR_FDS);
	for (int i = 1; i <= DK_FENCE_NR_FDS; i++)
		close(fds[i]);
	return err < 0 ? err : 0;
}

static int op_destroy_queue(struct svc *v, struct session *s, struct dk_msg *m)
{
	struct dk_wire_reader r;
	uint32_t id;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	id = dk_wire_get_u32(&r);
	if (dk_wire_get_u32(&r) != 0)
		return -EPROTO;
	for (uint32_t i = 0; i < DK_SESSION_QUEUES_MAX; i++) {
		if (s->queues[i] && s->queues[i]->id == id) {
			queue_destroy(v, s->queues[i]);
			return reply(s, m->frame.opcode, m->frame.seq, NULL, 0, NULL, 0);
		}
	}
	return -EINVAL;
}

static int op_stats(struct svc *v, struct session *s, struct dk_msg *m)
{
	struct dk_budget_usage u;
	uint8_t p[DK_SESSION_STATS_PAYLOAD];
	struct dk_wire_writer w;
	uint32_t queues = 0;

	for (uint32_t i = 0; i < DK_SESSION_QUEUES_MAX; i++)
		queues += s->queues[i] != NULL;
	dk_budget_usage(s->budget, &u);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, v->generation);
	dk_wire_put_u64(&w, s->id);
	dk_wire_put_u32(&w, s->n_buffers);
	dk_wire_put_u32(&w, s->n_fences);
	dk_wire_put_u64(&w, u.bytes);
	dk_wire_put_u32(&w, queues);
	dk_wire_put_u32(&w, s->inflight);
	dk_wire_put_u64(&w, s->completed);
	dk_wire_put_u64(&w, s->refused);
	return reply(s, m->frame.opcode, m->frame.seq, p, sizeof(p), NULL, 0);
}

static void session_end(struct svc *v, struct session *s)
{
	uint8_t p[8];
	struct dk_wire_writer w;

	for (uint32_t i = 0; i < DK_SESSION_QUEUES_MAX; i++)
		if (s->queues[i])
			queue_destroy(v, s->queues[i]);
	epoll_ctl(v->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	dk_htable_destroy(s->table);
	dk_budget_destroy(s->budget);
	svc_log(v, DK_LOG_INFO, "service.session-end",
		"session=%" PRIu64 " pid=%u completed=%" PRIu64 " refused=%" PRIu64, s->id, s->pid,
		s->completed, s->refused);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, s->id);
	if (v->broker_fd >= 0)
		dk_msg_send(v->broker_fd, &dk_devctl_proto, DK_DEVCTL_OP_SESSION_END, 0, 0, p,
			    sizeof(p), NULL, 0, 0);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

/*
 * Take what session @s published before its request, so that the reply reflects every
 * submission made before the request was sent (within the session's limits and one batch per
 * queue). The serving loop gives control traffic precedence over the queues, and answers a
 * burst of requests without serving in between: without this, a STATS sent right after a
 * submission would be answered before the submission was taken.
 */
static void session_catch_up(struct svc *v, struct session *s)
{
	for (uint32_t i = 0; i < DK_SESSION_QUEUES_MAX; i++)
		if (s->queues[i])
			serve_queue(v, s->queues[i]);
}

/* Serve requests waiting on session @s. */
static void session_readable(struct svc *v, struct session *s)
{
	for (int budget = 0; budget < 16 && s->used; budget++) {
		struct dk_msg *m = &v->msg;
		int err = dk_msg_recv(s->fd, &dk_session_proto, 0, m, NULL);

		if (err == -EAGAIN)
			return;
		if (err == -EPIPE || err == -ECONNRESET || err == -ENOTCONN) {
			session_end(v, s);
			return;
		}
		if (err == 0 && (m->frame.flags & (DK_FRAME_F_REPLY | DK_FRAME_F_ERROR)))
			err = -EPROTO;
		if (err == 0) {
			session_catch_up(v, s);
			switch (m->frame.opcode) {
			case DK_SESSION_OP_REG_BUFFER:
				err = op_reg_buffer(v, s, m);
				break;
			case DK_SESSION_OP_REG_FENCE:
				err = op_reg_fence(v, s, m);
				break;
			case DK_SESSION_OP_UNREGISTER:
				err = op_unregister(s, m);
				break;
			case DK_SESSION_OP_CREATE_QUEUE:
				err = op_create_queue(v, s, m);
				break;
			case DK_SESSION_OP_DESTROY_QUEUE:
				err = op_destroy_queue(v, s, m);
				break;
			case DK_SESSION_OP_STATS:
				err = op_stats(v, s, m);
				break;
			default:
				err = -EOPNOTSUPP;
			}
			dk_msg_close_fds(m);
		}
		if (s->send_failed) {
			session_end(v, s);
			return;
		}
		if (err < 0 && m->have_header) {
			uint32_t reason = err == -EPERM	   ? DK_REASON_POLICY
					  : err == -ENOSPC ? DK_REASON_BUDGET
					  : err == -EPROTO ? DK_REASON_PROTOCOL
							   : DK_REASON_NONE;

			if (dk_msg_reply_error(s->fd, &dk_session_reply_proto, m->raw_opcode,
					       m->raw_seq, err, reason) < 0) {
				session_end(v, s);
				return;
			}
		}
	}
}

/* ---- the broker channel ---- */

static int new_session(struct svc *v, struct dk_msg *m)
{
	struct dk_wire_reader r;
	struct dk_budget_limits lim;
	struct session *s = NULL;
	struct epoll_event ev = {.events = EPOLLIN};
	uint32_t cap;
	int err;

	if (m->n_fds != 1)
		return -EPROTO;
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX && !s; i++)
		if (!v->sessions[i].used)
			s = &v->sessions[i];
	if (!s)
		return -EBUSY;
	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	s->id = dk_wire_get_u64(&r);
	s->pid = dk_wire_get_u32(&r);
	s->uid = dk_wire_get_u32(&r);
	s->gid = dk_wire_get_u32(&r);
	s->rights = dk_wire_get_u32(&r);
	s->qos = dk_wire_get_u32(&r);
	s->max_buffers = dk_wire_get_u32(&r);
	s->max_bytes = dk_wire_get_u64(&r);
	s->max_inflight = dk_wire_get_u32(&r);
	s->max_fences = dk_wire_get_u32(&r);
	if (dk_wire_reader_error(&r) < 0 || dk_qos_check(s->qos) < 0 || !s->max_buffers ||
	    !s->max_bytes || !s->max_inflight || !s->max_fences) {
		memset(s, 0, sizeof(*s));
		return -EPROTO;
	}
	lim.max_bytes = s->max_bytes;
	lim.max_buffers = s->max_buffers;
	lim.max_inflight = s->max_inflight;
	cap = s->max_buffers + s->max_fences;
	if (cap > DK_SESSION_HANDLES_MAX)
		cap = DK_SESSION_HANDLES_MAX;
	err = dk_budget_create(&lim, &s->budget);
	if (err == 0)
		err = dk_htable_create(cap, &s->table);
	s->fd = m->fds[0];
	ev.data.u64 = (uint64_t)(s - v->sessions);
	if (err == 0 && epoll_ctl(v->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		err = -errno;
	if (err < 0) {
		dk_htable_destroy(s->table);
		dk_budget_destroy(s->budget);
		memset(s, 0, sizeof(*s));
		s->fd = -1;
		return err;
	}
	m->fds[0] = -1;
	s->used = true;
	svc_log(v, DK_LOG_INFO, "service.session",
		"session=%" PRIu64 " pid=%u uid=%u qos=%s max_inflight=%u", s->id, s->pid, s->uid,
		dk_qos_name(s->qos), s->max_inflight);
	return 0;
}

static void broker_readable(struct svc *v)
{
	for (int budget = 0; budget < 16; budget++) {
		struct dk_msg *m = &v->msg;
		int err = dk_msg_recv(v->broker_fd, &dk_devctl_proto, 0, m, NULL);

		if (err == -EAGAIN)
			return;
		if (err == -EPIPE || err == -ECONNRESET) {
			/* The broker went away: no new sessions can come. The supervisor restarts
			 * the device services after a broker restart; finish cleanly. */
			v->stop = true;
			return;
		}
		if (err == 0 && m->frame.opcode == DK_DEVCTL_OP_SESSION &&
		    !(m->frame.flags & DK_FRAME_F_REPLY)) {
			err = new_session(v, m);
			if (err == 0)
				dk_msg_send(v->broker_fd, &dk_devctl_reply_proto, m->frame.opcode,
					    DK_FRAME_F_REPLY, m->frame.seq, NULL, 0, NULL, 0,
					    dk_now_ns() + CTL_DEADLINE_NS);
		} else if (err == 0) {
			err = -EPROTO;
		}
		dk_msg_close_fds(m);
		if (err < 0 && m->have_header)
			dk_msg_reply_error(v->broker_fd, &dk_devctl_reply_proto, m->raw_opcode,
					   m->raw_seq, err,
					   err == -EBUSY ? DK_REASON_BUDGET : DK_REASON_PROTOCOL);
	}
}

static void control(struct svc *v)
{
	struct epoll_event evs[32];
	int n = epoll_wait(v->epfd, evs, 32, 0);

	for (int i = 0; i < n; i++) {
		uint64_t id = evs[i].data.u64;

		if (id == EV_SIGNAL) {
			struct signalfd_siginfo si;

			if (read(v->sigfd, &si, sizeof(si)) == sizeof(si))
				v->stop = true;
		} else if (id == EV_BROKER) {
			broker_readable(v);
		} else if (id < DK_SERVICE_SESSIONS_MAX && v->sessions[id].used) {
			session_readable(v, &v->sessions[id]);
		}
	}
}

static int serve(struct svc *v)
{
	while (!v->stop) {
		uint32_t seen;
		int moved = 0;

		if (atomic_load(&v->ctl_pending)) {
			control(v);
			atomic_store(&v->ctl_pending, 0);
			futex_wake_all(&v->ctl_pending);
			continue;
		}
		for (uint32_t i = 0; i < v->n_rings; i++)
			moved += serve_queue(v, v->ring_q[i]);
		if (moved)
			continue;
		seen = __atomic_load_n(&v->wake, __ATOMIC_ACQUIRE);
		if (atomic_load(&v->ctl_pending))
			continue;
		dk_ring_idle_wake(v->rings, v->n_rings, &v->wake, seen,
				  dk_now_ns() + (v->n_parked ? PARKED_POLL_NS : IDLE_NS));
	}
	return 0;
}

static int env_u64(const char *name, uint64_t *ret)
{
	const char *s = getenv(name);
	char *end;

	if (!s || !*s)
		return -ENOENT;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

int dk_svc_main(const struct dk_svc_class *cls)
{
	static struct svc v; /* large; one per process */
	struct dk_buffer_registry_limits rl = {
		/* The largest single buffer the registry can hold; a grant's max_bytes (up to
		 * DK_POLICY_MAX_BYTES_CAP, which is larger) bounds a session's total. */
		.max_buffer_bytes = DK_BUFFER_MAX_BYTES_HARD,
		.max_live_buffers = DK_SERVICE_SESSIONS_MAX * DK_SESSION_HANDLES_MAX,
	};
	struct epoll_event ev = {.events = EPOLLIN};
	const char *dev = getenv(DK_ENV_DEVICE), *rt = getenv(DK_ENV_RUNTIME_DIR);
	const char *name = getenv(DK_ENV_SERVICE);
	char path[DK_RT_PATH_MAX];
	uint64_t fd;
	pthread_t th;
	sigset_t mask;
	int err;

	v.cls = cls;
	if (env_u64(DK_ENV_BROKER_FD, &fd) < 0 || fd > INT_MAX || !dev ||
	    dk_rt_check_name(dev) < 0) {
		fprintf(stderr, "%s: not started by dk-supervisor (%s and %s are needed)\n",
			cls->name, DK_ENV_BROKER_FD, DK_ENV_DEVICE);
		return 2;
	}
	v.broker_fd = (int)fd;
	strcpy(v.device, dev);
	env_u64(DK_ENV_GENERATION, &v.generation);
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX; i++)
		v.sessions[i].fd = -1;
	err = dk_buffer_registry_create(&rl, &v.registry);
	if (err < 0) {
		fprintf(stderr, "%s: buffer registry: %s\n", cls->name, dk_strerror(err));
		return 1;
	}
	if (rt && dk_runtime_path(rt, DK_RT_LOGD_SOCKET, path, sizeof(path)) == 0)
		dk_log_connect(path, name && dk_rt_check_name(name) == 0 ? name : cls->name,
			       dk_now_ns() + CTL_DEADLINE_NS, &v.log);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	v.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	v.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (v.sigfd < 0 || v.epfd < 0) {
		fprintf(stderr, "%s: set-up: %s\n", cls->name, strerror(errno));
		return 1;
	}
	ev.data.u64 = EV_SIGNAL;
	epoll_ctl(v.epfd, EPOLL_CTL_ADD, v.sigfd, &ev);
	ev.data.u64 = EV_BROKER;
	if (epoll_ctl(v.epfd, EPOLL_CTL_ADD, v.broker_fd, &ev) < 0) {
		fprintf(stderr, "%s: broker channel: %s\n", cls->name, strerror(errno));
		return 2;
	}
	err = pthread_create(&th, NULL, watcher, &v);
	if (err) {
		fprintf(stderr, "%s: thread: %s\n", cls->name, strerror(err));
		return 1;
	}
	svc_log(&v, DK_LOG_INFO, "service.start", "device=%s class=%s generation=%" PRIu64,
		v.device, cls->name, v.generation);
	dk_child_ready(dk_now_ns() + CTL_DEADLINE_NS);
	serve(&v);

	/* Orderly end: every session closed (their queues' jobs completed or cancelled). */
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX; i++)
		if (v.sessions[i].used)
			session_end(&v, &v.sessions[i]);
	/* The watcher may sleep in epoll_wait for good: it ends with the process. */
	atomic_store(&v.quit, true);
	atomic_store(&v.ctl_pending, 0);
	futex_wake_all(&v.ctl_pending);
	pthread_detach(th);
	dk_log_close(v.log);
	dk_buffer_registry_destroy(v.registry);
	return 0;
}
