/* SPDX-License-Identifier: MIT */
/*
 * session.c - sessions: the requests of the session protocol (dk/runtime.h), the end of a
 * session (closed by its client, or at service stop) and per-client kill.
 *
 * A session that ends while jobs of it are on the hardware is cancelled at once (completions
 * posted, queues gone, socket closed, the broker told) but drains: its handle table, buffers
 * and budget stay until the hardware gave back its last job (harvest or reset), and only then
 * is buffer_removed called and the budget released. Its slot is reused after that.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "service-internal.h"

/* ---- replies ---- */

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

/* ---- registrations ---- */

static void class_buffer_removed(struct dk_svc *v, struct session *s, struct dk_buffer *b,
				 uint64_t cookie)
{
	if (v->ops->buffer_removed) {
		svc_op_enter(v);
		v->ops->buffer_removed(v->dev, s->id, b, cookie);
		svc_op_exit(v);
	}
}

static void buffer_removed(struct dk_svc *v, struct session *s, struct sbuf *sb)
{
	class_buffer_removed(v, s, sb->buffer, sb->cookie);
	v->st.buffers--;
	v->st.bytes -= sb->size;
}

static int op_reg_buffer(struct dk_svc *v, struct session *s, struct dk_msg *m)
{
	struct dk_wire_reader r;
	struct dk_buffer *b;
	struct sbuf *sb;
	uint32_t rights, index;
	uint64_t size, cookie = 0;
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
	if (v->ops->buffer_added) {
		svc_op_enter(v);
		err = v->ops->buffer_added(v->dev, s->id, b, &cookie);
		svc_op_exit(v);
		if (err > 0)
			err = -EINVAL;
		if (err < 0) {
			dk_buffer_release(b);
			return err;
		}
	}
	err = dk_htable_add_buffer(s->table, b, &index);
	if (err < 0) {
		class_buffer_removed(v, s, b, cookie);
		dk_buffer_release(b);
		return err;
	}
	sb = &s->bufs[index & 0xffffu];
	*sb = (struct sbuf){.buffer = b, .index = index, .cookie = cookie,
			    .size = dk_buffer_size(b)};
	s->n_buffers++;
	v->st.buffers++;
	v->st.bytes += sb->size;
	return reply_index(s, &m->frame, index);
}

static int op_reg_fence(struct session *s, struct dk_msg *m)
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

static int op_unregister(struct dk_svc *v, struct session *s, struct dk_msg *m)
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
	/* A job in flight may name any handle, and so may one the hardware still holds. */
	if (s->inflight || s->n_zombies)
		return -EBUSY;
	if (is_buffer) {
		struct sbuf *sb = &s->bufs[index & 0xffffu];

		buffer_removed(v, s, sb);
		memset(sb, 0, sizeof(*sb));
	}
	err = dk_htable_remove(s->table, index);
	if (err < 0)
		return err; /* cannot happen: the library never maps or submits a buffer */
	if (is_buffer)
		s->n_buffers--;
	else
		s->n_fences--;
	return reply(s, m->frame.opcode, m->frame.seq, NULL, 0, NULL, 0);
}

/* ---- queues ---- */

static void queue_unreserve(struct session *s, uint32_t qos, uint32_t entries)
{
	for (uint32_t c = DK_QOS_FRUGAL; c <= qos; c++)
		sclass_unreserve(&s->cls[c], entries);
}

/*
 * Tear queue @q down: every job of it not yet completed is cancelled with @reason (a job on
 * the hardware stays there, cancelled, until it is given back); @killed also fails the
 * queue's fence so that waiters for submissions never taken wake too.
 */
static void queue_teardown(struct dk_svc *v, struct squeue *q, uint32_t reason, bool killed)
{
	struct session *s = q->s;
	uint64_t now = dk_now_ns();

	while (!list_empty(&q->jobs)) {
		struct job *j = list_entry(q->jobs.next, struct job, qlink);

		svc_cancel(v, j, -ECANCELED, reason, now);
	}
	dk_ring_publish(q->ring);
	if (killed)
		dk_fence_signal_error(dk_ring_fence(q->ring), UINT64_MAX, -ECANCELED, reason);
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
	 * Released when the client let the queue go (or was cut off: the fence failed for every
	 * point). When the service stops, the registration stays: jobs it never took still have
	 * waiters, and the supervisor's reaper fails their points at our exit (as for a crash).
	 */
	if (!v->stop || killed)
		dk_child_fence_release(q->tag, dk_now_ns() + CTL_DEADLINE_NS);
	queue_unreserve(s, q->qos, dk_ring_cq_entries(q->ring));
	dk_ring_destroy(q->ring);
	free(q);
}

static int op_create_queue(struct dk_svc *v, struct session *s, struct dk_msg *m)
{
	struct dk_ring_params params;
	struct dk_wire_reader r;
	struct dk_wire_writer w;
	struct squeue *q;
	uint32_t slot = DK_SESSION_QUEUES_MAX, entries;
	uint8_t p[8];
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
	if (slot == DK_SESSION_QUEUES_MAX || v->n_rings >= SVC_QUEUES_MAX)
		return -ENOSPC;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	err = dk_ring_create(&params, &q->ring);
	if (err < 0)
		goto out_free;
	/* Every job of the queue will have a place in the ready heaps of its session. */
	entries = dk_ring_cq_entries(q->ring);
	for (uint32_t c = DK_QOS_FRUGAL; c <= params.qos && err == 0; c++) {
		err = sclass_reserve(&s->cls[c], entries);
		if (err < 0)
			queue_unreserve(s, c - 1, entries);
	}
	if (err < 0)
		goto out_destroy;
	q->s = s;
	q->qos = params.qos;
	q->id = ++s->next_queue_id;
	q->tag = ++v->next_tag;
	list_init(&q->jobs);
	/* The registry holds the fence before any client can wait on it. */
	err = dk_child_fence_register(dk_ring_fence(q->ring), q->tag,
				      dk_now_ns() + CTL_DEADLINE_NS);
	if (err == -ENOENT)
		err = 0; /* not under a supervisor (a test harness): nobody to register with */
	if (err == 0)
		err = dk_fence_export(dk_ring_fence(q->ring), DK_RIGHTS_FENCE_WAIT, &fds[1]);
	if (err < 0)
		goto out_unreserve;
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

out_unreserve:
	queue_unreserve(s, params.qos, entries);
out_destroy:
	dk_ring_destroy(q->ring);
out_free:
	free(q);
	return err;
}

static int op_destroy_queue(struct dk_svc *v, struct session *s, struct dk_msg *m)
{
	struct dk_wire_reader r;
	uint32_t id;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	id = dk_wire_get_u32(&r);
	if (dk_wire_get_u32(&r) != 0)
		return -EPROTO;
	for (uint32_t i = 0; i < DK_SESSION_QUEUES_MAX; i++) {
		if (s->queues[i] && s->queues[i]->id == id) {
			queue_teardown(v, s->queues[i],
				       v->stop ? DK_REASON_SHUTDOWN : DK_REASON_CANCELLED, false);
			svc_retire_all(v);
			return reply(s, m->frame.opcode, m->frame.seq, NULL, 0, NULL, 0);
		}
	}
	return -EINVAL;
}

static int op_stats(struct dk_svc *v, struct session *s, struct dk_msg *m)
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

/* ---- the end of a session ---- */

/* svc_publish - make every posted completion visible (one fence signal per queue). */
void svc_publish(struct dk_svc *v)
{
	for (uint32_t i = 0; i < v->n_rings; i++) {
		struct squeue *q = v->ring_q[i];

		if (q->dirty) {
			q->dirty = false;
			dk_ring_publish(q->ring);
		}
	}
}

/*
 * session_finalize - the last job of an ended session is gone: the class forgets its buffers,
 * then the handle table (buffers released, budget credited) and the budget go.
 */
void session_finalize(struct dk_svc *v, struct session *s)
{
	for (uint32_t i = 0; i < s->capacity; i++)
		if (s->bufs && s->bufs[i].buffer)
			buffer_removed(v, s, &s->bufs[i]);
	dk_htable_destroy(s->table);
	dk_budget_destroy(s->budget);
	for (uint32_t c = 0; c < QOS_N; c++)
		free(s->cls[c].heap);
	free(s->bufs);
	free(s->watches);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->state = SESSION_FREE;
}

/*
 * session_end - end session @s: its jobs are cancelled with @reason, its queues torn down
 * (@killed: their fences failed too), its socket closed and the broker told. It is finalized
 * now, or once the hardware gave back its last job.
 */
void session_end(struct dk_svc *v, struct session *s, uint32_t reason, bool killed)
{
	uint8_t p[8];
	struct dk_wire_writer w;

	if (s->state != SESSION_LIVE)
		return;
	if (s->kill_pending) {
		s->kill_pending = false;
		v->n_kill_pending--;
	}
	for (uint32_t i = 0; i < DK_SESSION_QUEUES_MAX; i++)
		if (s->queues[i])
			queue_teardown(v, s->queues[i], reason, killed);
	epoll_ctl(v->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->fd = -1;
	svc_log(v, DK_LOG_INFO, "service.session-end",
		"session=%" PRIu64 " pid=%u completed=%" PRIu64 " refused=%" PRIu64
		" reason=%s", s->id, s->pid, s->completed, s->refused, dk_reason_name(reason));
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, s->id);
	s->state = SESSION_DRAINING;
	/* Finalized now unless the hardware holds a job of it (s is reused after that). */
	if (s->n_jobs == 0)
		session_finalize(v, s);
	else
		svc_retire_all(v);
	/* The broker hears of it once everything that can go is gone. */
	if (v->broker_fd >= 0)
		dk_msg_send(v->broker_fd, &dk_devctl_proto, DK_DEVCTL_OP_SESSION_END, 0, 0, p,
			    sizeof(p), NULL, 0, 0);
}

/*
 * session_kill - cut session @s off (the broker's KILL_SESSION, or its violations reached the
 * threshold): like an end, with every waiter woken with -ECANCELED and @reason. Audited.
 */
void session_kill(struct dk_svc *v, struct session *s, uint32_t reason)
{
	if (s->state != SESSION_LIVE)
		return;
	v->st.kills++;
	svc_log(v, DK_LOG_AUDIT, "service.kill",
		"session=%" PRIu64 " pid=%u uid=%u reason=%s violations=%" PRIu64
		" inflight=%u on_hw=%u",
		s->id, s->pid, s->uid, dk_reason_name(reason), s->violations, s->inflight,
		s->n_jobs - s->inflight);
	session_end(v, s, reason, true);
}

/*
 * Take what session @s published before its request, so that the reply reflects every
 * submission made before the request was sent (within the session's limits and one batch per
 * queue), and run what can run. The serving loop gives control traffic precedence over the
 * queues: without this, a STATS sent right after a submission would be answered before the
 * submission was taken.
 */
static void session_catch_up(struct dk_svc *v, struct session *s)
{
	for (uint32_t i = 0; i < DK_SESSION_QUEUES_MAX; i++)
		if (s->queues[i])
			svc_take(v, s->queues[i]);
	sched_dispatch(v);
	svc_publish(v);
}

/* session_readable - serve the requests waiting on session @s. */
void session_readable(struct dk_svc *v, struct session *s)
{
	for (int budget = 0; budget < 16 && s->state == SESSION_LIVE; budget++) {
		struct dk_msg *m = &v->msg;
		int err = dk_msg_recv(s->fd, &dk_session_proto, 0, m, NULL);

		if (err == -EAGAIN)
			return;
		if (err == -EPIPE || err == -ECONNRESET || err == -ENOTCONN) {
			session_end(v, s, v->stop ? DK_REASON_SHUTDOWN : DK_REASON_CANCELLED,
				    false);
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
				err = op_reg_fence(s, m);
				break;
			case DK_SESSION_OP_UNREGISTER:
				err = op_unregister(v, s, m);
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
			session_end(v, s, DK_REASON_CANCELLED, false);
			return;
		}
		if (err < 0 && m->have_header) {
			uint32_t reason = err == -EPERM	   ? DK_REASON_POLICY
					  : err == -ENOSPC ? DK_REASON_BUDGET
					  : err == -EPROTO ? DK_REASON_PROTOCOL
							   : DK_REASON_NONE;

			if (dk_msg_reply_error(s->fd, &dk_session_reply_proto, m->raw_opcode,
					       m->raw_seq, err, reason) < 0) {
				session_end(v, s, DK_REASON_CANCELLED, false);
				return;
			}
		}
	}
}

/* ---- a new session (devctl SESSION) ---- */

int session_new(struct dk_svc *v, struct dk_msg *m)
{
	struct dk_wire_reader r;
	struct dk_budget_limits lim;
	struct session *s = NULL;
	struct epoll_event ev = {.events = EPOLLIN};
	uint32_t cap, max_violations = DK_SESSION_MAX_VIOLATIONS_UNSET, reserved = 0;
	uint32_t len = m->frame.known_length;
	int err;

	/* Without a kill threshold, or with one and its reserved word (what a newer minor adds
	 * after them is not in known_length). */
	if (m->n_fds != 1 ||
	    (len != DK_DEVCTL_SESSION_PAYLOAD && len != DK_DEVCTL_SESSION_PAYLOAD_KILL))
		return -EPROTO;
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX && !s; i++)
		if (v->sessions[i].state == SESSION_FREE)
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
	if (len == DK_DEVCTL_SESSION_PAYLOAD_KILL) {
		max_violations = dk_wire_get_u32(&r);
		reserved = dk_wire_get_u32(&r);
	}
	if (dk_wire_reader_error(&r) < 0 || dk_qos_check(s->qos) < 0 || !s->max_buffers ||
	    !s->max_bytes || !s->max_inflight || !s->max_fences || reserved) {
		memset(s, 0, sizeof(*s));
		s->fd = -1;
		return -EPROTO;
	}
	/* A hardware class takes sessions only once its device is probed. */
	if (!v->dev) {
		memset(s, 0, sizeof(*s));
		s->fd = -1;
		return -ENODEV;
	}
	s->weight = 1;
	/* The policy's threshold wins over the service's option (0: never kill automatically). */
	s->kill_threshold = max_violations != DK_SESSION_MAX_VIOLATIONS_UNSET ? max_violations
									       : v->kill_threshold;
	lim.max_bytes = s->max_bytes;
	lim.max_buffers = s->max_buffers;
	lim.max_inflight = s->max_inflight;
	cap = s->max_buffers + s->max_fences;
	if (cap > DK_SESSION_HANDLES_MAX || cap < s->max_buffers)
		cap = DK_SESSION_HANDLES_MAX;
	s->capacity = cap;
	err = dk_budget_create(&lim, &s->budget);
	if (err == 0)
		err = dk_htable_create(cap, &s->table);
	if (err == 0) {
		s->bufs = calloc(cap, sizeof(*s->bufs));
		s->watches = calloc(cap, sizeof(*s->watches));
		if (!s->bufs || !s->watches)
			err = -ENOMEM;
	}
	s->fd = m->fds[0];
	ev.data.u64 = (uint64_t)(s - v->sessions);
	if (err == 0 && epoll_ctl(v->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		err = -errno;
	if (err < 0) {
		dk_htable_destroy(s->table);
		dk_budget_destroy(s->budget);
		free(s->bufs);
		free(s->watches);
		memset(s, 0, sizeof(*s));
		s->fd = -1;
		return err;
	}
	for (uint32_t i = 0; i < cap; i++)
		s->watches[i].fd = -1;
	m->fds[0] = -1;
	s->state = SESSION_LIVE;
	svc_log(v, DK_LOG_INFO, "service.session",
		"session=%" PRIu64 " pid=%u uid=%u qos=%s max_inflight=%u kill_threshold=%u "
		"kill_threshold_from=%s",
		s->id, s->pid, s->uid, dk_qos_name(s->qos), s->max_inflight, s->kill_threshold,
		max_violations != DK_SESSION_MAX_VIOLATIONS_UNSET ? "policy" : "service");
	return 0;
}
