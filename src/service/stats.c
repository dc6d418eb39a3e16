/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the service's counters, its trace ring of finished jobs, and its journal records.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "service-internal.h"

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

	*r = (struct dk_svc_trace_record){
		.seq = ++v->trace_seq,
		.session_id = j->pub.session_id,
		.ticket = j->ticket,
		.t_submitted_ns = j->pub.t_submitted_ns,
		.t_ready_ns = j->pub.t_ready_ns,
		.t_started_ns = j->pub.t_started_ns,
		.t_completed_ns = j->pub.t_completed_ns,
		.t_signalled_ns = j->pub.t_signalled_ns,
		.status = status,
		.reason = reason,
		.queue_id = j->queue_id,
		.qos = (uint8_t)j->pub.qos,
		.opcode = j->pub.sqe.opcode,
		.attempts = j->pub.attempts > UINT8_MAX ? UINT8_MAX : (uint8_t)j->pub.attempts,
	};
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
