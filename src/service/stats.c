/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the service's counters, its trace ring of finished jobs, and its journal records.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service-internal.h"

/* The ring header's SQ tail (the client's) and SQ head (ours): docs/abi.md, "Rings". */
#define RING_SQ_TAIL_OFFSET 64
#define RING_SQ_HEAD_OFFSET 192

void svc_log(struct dk_svc *v, enum dk_log_severity sev, const char *scope, const char *fmt, ...)
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

/* Record @j's end (its completion was just posted) in the trace ring. */
void svc_trace(struct dk_svc *v, const struct job *j, int status, uint32_t reason)
{
	struct dk_svc_trace_record *r = &v->trace[v->trace_seq % DK_SVC_TRACE_RECORDS];

	/* Field by field: this runs for every job, and a compound literal costs a memset. */
	r->seq = ++v->trace_seq;
	r->session_id = j->pub.session_id;
	r->ticket = j->ticket;
	r->t_submitted_ns = j->pub.t_submitted_ns;
	r->t_ready_ns = j->pub.t_ready_ns;
	r->t_started_ns = j->pub.t_started_ns;
	r->t_completed_ns = j->pub.t_completed_ns;
	r->t_signalled_ns = j->pub.t_signalled_ns;
	r->status = status;
	r->reason = reason;
	r->queue_id = j->queue_id;
	r->qos = (uint8_t)j->pub.qos;
	r->opcode = j->pub.sqe.opcode;
	r->attempts = j->pub.attempts > UINT8_MAX ? UINT8_MAX : (uint8_t)j->pub.attempts;
	r->reserved = 0;
}

uint32_t dk_svc_trace_read(const struct dk_svc *v, uint64_t after_seq,
			   struct dk_svc_trace_record *records, uint32_t max)
{
	uint64_t first = v->trace_seq > DK_SVC_TRACE_RECORDS ? v->trace_seq - DK_SVC_TRACE_RECORDS
							      : 0;
	uint32_t n = 0;

	if (after_seq < first)
		after_seq = first;
	for (uint64_t seq = after_seq; seq < v->trace_seq && n < max; seq++)
		records[n++] = v->trace[seq % DK_SVC_TRACE_RECORDS];
	return n;
}

void dk_svc_stats(const struct dk_svc *v, struct dk_svc_stats *ret_stats)
{
	struct dk_svc_stats st = v->st;

	st.sessions = 0;
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX; i++)
		st.sessions += v->sessions[i].state != SESSION_FREE;
	st.queues = v->n_rings;
	st.hw_inflight = v->n_hw;
	st.ready = v->n_ready;
	*ret_stats = st;
}

const char *dk_svc_device_name(const struct dk_svc *v)
{
	return v->device;
}

struct dk_svc_device *dk_svc_device(const struct dk_svc *v)
{
	return v->dev;
}

/* ---- devctl STATS and TRACE (the broker relays them to dkctl top / trace) ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The 50th and 99th percentile of @s's latest completed jobs (0 when none). */
static void latency(const struct session *s, uint64_t *ret_p50, uint64_t *ret_p99)
{
	uint64_t lat[LATENCY_SAMPLES];
	uint32_t n = s->completed < LATENCY_SAMPLES ? (uint32_t)s->completed : LATENCY_SAMPLES;

	*ret_p50 = *ret_p99 = 0;
	if (!n)
		return;
	memcpy(lat, s->latency_ns, n * sizeof(lat[0]));
	qsort(lat, n, sizeof(lat[0]), cmp_u64);
	*ret_p50 = lat[(n - 1) / 2];
	*ret_p99 = lat[(n * 99 + 99) / 100 - 1];
}

/*
 * Submissions the client published in @q's SQ that were not taken yet: its SQ tail minus our
 * SQ head, read from the ring header (dk/ring.h has no consumer-side count of them). The client
 * can write anything there, so the difference is clamped to the SQ depth: it is only reported,
 * never acted on.
 */
static uint32_t queue_pending(const struct squeue *q)
{
	uint8_t h[RING_SQ_HEAD_OFFSET + 4 - RING_SQ_TAIL_OFFSET];
	uint32_t tail, head, depth = dk_ring_sq_entries(q->ring);

	if (pread(dk_ring_fd(q->ring), h, sizeof(h), RING_SQ_TAIL_OFFSET) != (ssize_t)sizeof(h))
		return 0;
	memcpy(&tail, h, sizeof(tail)); /* host-endian: the memory never leaves the machine */
	memcpy(&head, h + RING_SQ_HEAD_OFFSET - RING_SQ_TAIL_OFFSET, sizeof(head));
	return tail - head > depth ? depth : tail - head;
}

/*
 * svc_stats_reply - answer devctl STATS @f (layout: DK_DEVCTL_OP_STATS in dk/runtime.h). The
 * entries are the open sessions (a killed session still draining its hardware jobs counts in
 * "sessions" but has no entry); "pending" is read from each queue's ring header.
 */
int svc_stats_reply(struct dk_svc *v, const struct dk_frame *f)
{
	static uint8_t p[DK_FRAME_MAX_PAYLOAD];
	struct dk_wire_writer w;
	struct dk_svc_stats st;
	uint32_t n = 0, total = 0;

	dk_svc_stats(v, &st);
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX; i++)
		total += v->sessions[i].state == SESSION_LIVE;
	if (total > DK_DEVCTL_STATS_SESSIONS_MAX)
		n = DK_DEVCTL_STATS_SESSIONS_MAX;
	else
		n = total;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, st.sessions);
	dk_wire_put_u32(&w, st.queues);
	dk_wire_put_u32(&w, st.buffers);
	dk_wire_put_u32(&w, st.hw_inflight);
	dk_wire_put_u64(&w, st.bytes);
	dk_wire_put_u32(&w, st.ready);
	dk_wire_put_u32(&w, st.parked);
	dk_wire_put_u64(&w, st.completed);
	dk_wire_put_u64(&w, st.failed);
	dk_wire_put_u64(&w, st.violations);
	dk_wire_put_u64(&w, st.kills);
	dk_wire_put_u64(&w, st.resets);
	dk_wire_put_u64(&w, st.hangs);
	dk_wire_put_u64(&w, st.resubmitted);
	dk_wire_put_u64(&w, st.lost_irqs);
	dk_wire_put_u64(&w, st.fence_wakeups);
	dk_wire_put_u32(&w, n);
	dk_wire_put_u32(&w, total);
	for (uint32_t i = 0, k = 0; i < DK_SERVICE_SESSIONS_MAX && k < n; i++) {
		const struct session *s = &v->sessions[i];
		struct dk_budget_usage u;
		uint64_t p50, p99;
		uint32_t queues = 0, pending = 0;

		if (s->state != SESSION_LIVE)
			continue;
		k++;
		for (uint32_t q = 0; q < DK_SESSION_QUEUES_MAX; q++) {
			if (!s->queues[q])
				continue;
			queues++;
			pending += queue_pending(s->queues[q]);
		}
		dk_budget_usage(s->budget, &u);
		latency(s, &p50, &p99);
		dk_wire_put_u64(&w, s->id);
		dk_wire_put_u32(&w, s->pid);
		dk_wire_put_u32(&w, s->uid);
		dk_wire_put_u32(&w, s->qos);
		dk_wire_put_u32(&w, queues);
		dk_wire_put_u32(&w, pending);
		dk_wire_put_u32(&w, s->inflight);
		dk_wire_put_u64(&w, s->completed);
		dk_wire_put_u64(&w, s->refused);
		dk_wire_put_u64(&w, u.bytes);
		dk_wire_put_u32(&w, s->n_buffers);
		dk_wire_put_u32(&w, s->n_fences);
		dk_wire_put_u32(&w, s->violations > UINT32_MAX ? UINT32_MAX
							       : (uint32_t)s->violations);
		dk_wire_put_u32(&w, 0);
		dk_wire_put_u64(&w, p50);
		dk_wire_put_u64(&w, p99);
	}
	if (dk_wire_writer_error(&w) < 0)
		return -EOVERFLOW;
	/* A broker that does not take it gets nothing more: it asks again. */
	dk_msg_send(v->broker_fd, &dk_devctl_reply_proto, f->opcode, DK_FRAME_F_REPLY, f->seq, p,
		    dk_wire_writer_len(&w), NULL, 0, dk_now_ns() + CTL_DEADLINE_NS);
	return 0;
}

/* svc_trace_reply - answer devctl TRACE @f (layout: DK_DEVCTL_OP_TRACE in dk/runtime.h). */
int svc_trace_reply(struct dk_svc *v, const struct dk_frame *f)
{
	static struct dk_svc_trace_record rec[DK_DEVCTL_TRACE_MAX];
	static uint8_t p[DK_FRAME_MAX_PAYLOAD];
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	uint64_t after;
	uint32_t n;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	after = dk_wire_get_u64(&r);
	if (dk_wire_reader_error(&r) < 0)
		return -EPROTO;
	n = dk_svc_trace_read(v, after, rec, DK_DEVCTL_TRACE_MAX);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, n);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_u64(&w, v->trace_seq);
	for (uint32_t i = 0; i < n; i++) {
		const struct dk_svc_trace_record *t = &rec[i];

		dk_wire_put_u64(&w, t->seq);
		dk_wire_put_u64(&w, t->session_id);
		dk_wire_put_u64(&w, t->ticket);
		dk_wire_put_u64(&w, t->t_submitted_ns);
		dk_wire_put_u64(&w, t->t_ready_ns);
		dk_wire_put_u64(&w, t->t_started_ns);
		dk_wire_put_u64(&w, t->t_completed_ns);
		dk_wire_put_u64(&w, t->t_signalled_ns);
		dk_wire_put_u32(&w, (uint32_t)t->status);
		dk_wire_put_u32(&w, t->reason);
		dk_wire_put_u32(&w, t->queue_id);
		dk_wire_put_u8(&w, t->qos);
		dk_wire_put_u8(&w, t->opcode);
		dk_wire_put_u8(&w, t->attempts);
		dk_wire_put_u8(&w, 0);
	}
	if (dk_wire_writer_error(&w) < 0)
		return -EOVERFLOW;
	/* A broker that does not take it gets nothing more: it asks again. */
	dk_msg_send(v->broker_fd, &dk_devctl_reply_proto, f->opcode, DK_FRAME_F_REPLY, f->seq, p,
		    dk_wire_writer_len(&w), NULL, 0, dk_now_ns() + CTL_DEADLINE_NS);
	return 0;
}
