/* SPDX-License-Identifier: MIT */
/*
 * stats-wire.c - dk_broker_device_stats() and dk_broker_trace(): one DEVICE_STATS or TRACE
 * request on a fresh connection each; and the decoders of the reply layouts (the device
 * service's devctl STATS and TRACE replies, which the broker relays verbatim), the one place
 * that knows them on the reading side (broker-client.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dk/msg.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "broker-client.h"

/* Connect, send @opcode with @p, copy the reply payload into @buf, close. */
static int call_payload(const char *socket_path, uint16_t opcode, const void *p, size_t len,
			uint64_t deadline_ns, void *buf, size_t size, size_t *ret_len)
{
	struct dk_msg *m;
	int fd, err;

	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	err = dk_socket_connect(socket_path, deadline_ns, &fd);
	if (err < 0)
		goto out_free;
	err = dk_msg_call(fd, &dk_broker_proto, &dk_broker_reply_proto, opcode, p, len, NULL, 0,
			  deadline_ns, m, NULL);
	if (err == 0 && m->n_fds) {
		dk_msg_close_fds(m);
		err = -EPROTO;
	}
	if (err == 0 && m->frame.length > size)
		err = -EMSGSIZE;
	if (err == 0) {
		memcpy(buf, m->frame.payload, m->frame.length);
		*ret_len = m->frame.length;
	}
	close(fd);
out_free:
	free(m);
	return err;
}

int dk_broker_device_stats(const char *socket_path, const char *device, uint64_t deadline_ns,
			   void *buf, size_t size, size_t *ret_len)
{
	uint8_t p[2 + DK_RT_NAME_MAX];
	struct dk_wire_writer w;

	if (!socket_path || !device || dk_rt_check_name(device) < 0 || !buf || !ret_len)
		return -EINVAL;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	return call_payload(socket_path, DK_BROKER_OP_DEVICE_STATS, p, dk_wire_writer_len(&w),
			    deadline_ns, buf, size, ret_len);
}

int dk_broker_trace(const char *socket_path, const char *device, uint64_t after_seq,
		    uint64_t deadline_ns, void *buf, size_t size, size_t *ret_len)
{
	uint8_t p[2 + DK_RT_NAME_MAX + 8];
	struct dk_wire_writer w;

	if (!socket_path || !device || dk_rt_check_name(device) < 0 || !buf || !ret_len)
		return -EINVAL;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	dk_wire_put_u64(&w, after_seq);
	return call_payload(socket_path, DK_BROKER_OP_TRACE, p, dk_wire_writer_len(&w),
			    deadline_ns, buf, size, ret_len);
}

/* ---- decoders ---- */

int dk_devstats_decode(const void *payload, size_t len, struct dk_devstats *ret_stats,
		       struct dk_devstats_session *sessions, uint32_t max)
{
	struct dk_devstats st = {0};
	struct dk_wire_reader r;

	if (!payload || !ret_stats || (max && !sessions))
		return -EINVAL;
	dk_wire_reader_init(&r, payload, len);
	st.sessions = dk_wire_get_u32(&r);
	st.queues = dk_wire_get_u32(&r);
	st.buffers = dk_wire_get_u32(&r);
	st.hw_inflight = dk_wire_get_u32(&r);
	st.bytes = dk_wire_get_u64(&r);
	st.ready = dk_wire_get_u32(&r);
	st.parked = dk_wire_get_u32(&r);
	st.completed = dk_wire_get_u64(&r);
	st.failed = dk_wire_get_u64(&r);
	st.violations = dk_wire_get_u64(&r);
	st.kills = dk_wire_get_u64(&r);
	st.resets = dk_wire_get_u64(&r);
	st.hangs = dk_wire_get_u64(&r);
	st.resubmitted = dk_wire_get_u64(&r);
	st.lost_irqs = dk_wire_get_u64(&r);
	st.fence_wakeups = dk_wire_get_u64(&r);
	st.n = dk_wire_get_u32(&r);
	st.n_total = dk_wire_get_u32(&r);
	if (dk_wire_reader_error(&r) < 0 || st.n > DK_DEVCTL_STATS_SESSIONS_MAX ||
	    st.n > st.n_total || dk_wire_reader_left(&r) < (size_t)st.n * DK_DEVCTL_STATS_SESSION)
		return -EPROTO;
	for (uint32_t i = 0; i < st.n && i < max; i++) {
		struct dk_devstats_session *s = &sessions[i];
		struct dk_wire_reader e;

		dk_wire_reader_init(&e,
				    (const uint8_t *)payload + DK_DEVCTL_STATS_FIXED +
					    (size_t)i * DK_DEVCTL_STATS_SESSION,
				    DK_DEVCTL_STATS_SESSION);
		memset(s, 0, sizeof(*s));
		s->session_id = dk_wire_get_u64(&e);
		s->pid = dk_wire_get_u32(&e);
		s->uid = dk_wire_get_u32(&e);
		s->qos = dk_wire_get_u32(&e);
		s->queues = dk_wire_get_u32(&e);
		s->pending = dk_wire_get_u32(&e);
		s->inflight = dk_wire_get_u32(&e);
		s->completed = dk_wire_get_u64(&e);
		s->failed = dk_wire_get_u64(&e);
		s->bytes = dk_wire_get_u64(&e);
		s->buffers = dk_wire_get_u32(&e);
		s->fences = dk_wire_get_u32(&e);
		s->violations = dk_wire_get_u32(&e);
		(void)dk_wire_get_u32(&e); /* reserved */
		s->p50_ns = dk_wire_get_u64(&e);
		s->p99_ns = dk_wire_get_u64(&e);
	}
	*ret_stats = st;
	return 0;
}

/* Decode the record at @p (DK_DEVCTL_TRACE_RECORD bytes). */
static void trace_record(const uint8_t *p, struct dk_devtrace_record *t)
{
	struct dk_wire_reader r;

	dk_wire_reader_init(&r, p, DK_DEVCTL_TRACE_RECORD);
	memset(t, 0, sizeof(*t));
	t->seq = dk_wire_get_u64(&r);
	t->session_id = dk_wire_get_u64(&r);
	t->ticket = dk_wire_get_u64(&r);
	t->t_submitted_ns = dk_wire_get_u64(&r);
	t->t_ready_ns = dk_wire_get_u64(&r);
	t->t_started_ns = dk_wire_get_u64(&r);
	t->t_completed_ns = dk_wire_get_u64(&r);
	t->t_signalled_ns = dk_wire_get_u64(&r);
	t->status = (int32_t)dk_wire_get_u32(&r);
	t->reason = dk_wire_get_u32(&r);
	t->queue_id = dk_wire_get_u32(&r);
	t->qos = dk_wire_get_u8(&r);
	t->opcode = dk_wire_get_u8(&r);
	t->attempts = dk_wire_get_u8(&r);
	(void)dk_wire_get_u8(&r); /* reserved */
}

int dk_devtrace_decode(const void *payload, size_t len, uint64_t after_seq,
		       uint64_t *ret_last_seq, struct dk_devtrace_record *records, uint32_t max,
		       uint32_t *ret_n)
{
	const uint8_t *base = (const uint8_t *)payload + DK_DEVCTL_TRACE_FIXED;
	struct dk_wire_reader r;
	uint64_t last_seq, prev = after_seq;
	uint32_t n;

	if (!payload || !ret_last_seq || !ret_n || (max && !records))
		return -EINVAL;
	dk_wire_reader_init(&r, payload, len);
	n = dk_wire_get_u32(&r);
	(void)dk_wire_get_u32(&r); /* reserved */
	last_seq = dk_wire_get_u64(&r);
	if (dk_wire_reader_error(&r) < 0 || n > DK_DEVCTL_TRACE_MAX ||
	    dk_wire_reader_left(&r) < (size_t)n * DK_DEVCTL_TRACE_RECORD)
		return -EPROTO;
	/* Check every seq before writing anything. */
	for (uint32_t i = 0; i < n; i++) {
		struct dk_wire_reader e;
		uint64_t seq;

		dk_wire_reader_init(&e, base + (size_t)i * DK_DEVCTL_TRACE_RECORD, 8);
		seq = dk_wire_get_u64(&e);
		if (seq <= prev || seq > last_seq)
			return -EPROTO;
		prev = seq;
	}
	for (uint32_t i = 0; i < n && i < max; i++)
		trace_record(base + (size_t)i * DK_DEVCTL_TRACE_RECORD, &records[i]);
	*ret_last_seq = last_seq;
	*ret_n = n;
	return 0;
}
