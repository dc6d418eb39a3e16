/* SPDX-License-Identifier: MIT */
/*
 * journal.c - the supervisor as a client of dk-logd (name "supervisor"): its own records, the
 * crash reports, and the queue of records that wait while dk-logd is down or restarting.
 *
 * Every call is bounded (DK_SUPD_LOG_TIMEOUT_NS) so a stuck journal cannot stall supervision
 * for long. Records never carry secrets: only names, numbers, and the crashed service's own
 * messages (never its fields).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dk/time.h>

#include "supervisor-internal.h"

/* Records of the crashed process read per QUERY page, and the whole query's time budget. */
#define QUERY_PAGE 64u
#define QUERY_TIMEOUT_NS (2000ull * 1000 * 1000)

void dk_supd_journal_disconnect(struct dk_supd *s)
{
	dk_log_close(s->log);
	s->log = NULL;
}

static bool connect_log(struct dk_supd *s)
{
	struct dk_supd_service *l = &s->svcs[s->logd];

	if (s->log)
		return true;
	if (l->state != DK_SERVICE_RUNNING || l->pid <= 0)
		return false;
	if (dk_log_connect(s->logd_sock, "supervisor", dk_deadline_in(DK_SUPD_LOG_TIMEOUT_NS),
			   &s->log) < 0) {
		s->log = NULL;
		return false;
	}
	return true;
}

/* Append now. 0; -ENOTCONN (no journal); the record's own refusal (-EAGAIN, -EMSGSIZE...). */
static int append(struct dk_supd *s, uint8_t severity, const char *scope, const char *message,
		  const char *fields)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int err;

		if (!connect_log(s))
			return -ENOTCONN;
		err = dk_log_append(s->log, severity, scope, message, fields,
				    dk_deadline_in(DK_SUPD_LOG_TIMEOUT_NS), NULL);
		if (err == 0 || err == -EAGAIN || err == -EMSGSIZE || err == -EPROTO ||
		    err == -EINVAL)
			return err;
		/* The connection broke (dk-logd restarted?): reconnect once. */
		dk_supd_journal_disconnect(s);
	}
	return -ENOTCONN;
}

void dk_supd_journal_flush(struct dk_supd *s)
{
	uint32_t done = 0;

	while (done < s->n_pending) {
		const struct dk_supd_pending *p = &s->pending[done];

		if (append(s, p->severity, p->scope, p->message, p->fields) == -ENOTCONN)
			break;
		done++;
	}
	memmove(s->pending, s->pending + done, (s->n_pending - done) * sizeof(s->pending[0]));
	s->n_pending -= done;
}

static void journal_fields(struct dk_supd *s, uint8_t severity, const char *scope,
			  const char *message, const char *fields)
{
	int err;

	if (s->n_pending)
		dk_supd_journal_flush(s);
	err = s->n_pending ? -ENOTCONN : append(s, severity, scope, message, fields);
	if (err == 0)
		return;
	if (severity >= DK_LOG_WARNING)
		dk_supd_report(s, "%s: %s: %s", scope, message, fields);
	if (err != -ENOTCONN || s->shutting_down || s->n_pending == DK_SUPD_PENDING_MAX)
		return;
	/* dk-logd is down: keep it for when it is back. */
	s->pending[s->n_pending].severity = severity;
	snprintf(s->pending[s->n_pending].scope, DK_LOG_SCOPE_MAX + 1, "%s", scope);
	snprintf(s->pending[s->n_pending].message, DK_LOG_MESSAGE_MAX + 1, "%s", message);
	snprintf(s->pending[s->n_pending].fields, DK_LOG_FIELDS_MAX + 1, "%s", fields);
	s->n_pending++;
}

void dk_supd_journal(struct dk_supd *s, uint8_t severity, const char *scope,
		     const char *message, const char *fields_fmt, ...)
{
	char fields[DK_LOG_FIELDS_MAX + 1];
	va_list ap;

	va_start(ap, fields_fmt);
	vsnprintf(fields, sizeof(fields), fields_fmt, ap);
	va_end(ap);
	journal_fields(s, severity, scope, message, fields);
}

/*
 * The last @want records process @pid wrote, oldest first, into @keep (a ring of @want).
 * Returns how many, or 0 when the journal cannot be asked.
 */
static uint32_t last_records(struct dk_supd *s, pid_t pid, uint32_t want,
			     struct dk_log_record *keep)
{
	struct dk_log_query q = {.pid = (uint32_t)pid};
	uint64_t deadline = dk_deadline_in(QUERY_TIMEOUT_NS), next;
	struct dk_log_record *page;
	uint64_t total = 0;
	uint32_t n, first;

	if (want == 0 || pid <= 0 || !connect_log(s))
		return 0;
	page = malloc(QUERY_PAGE * sizeof(*page));
	if (!page)
		return 0;
	do {
		int r = dk_log_query(s->log, &q, page, QUERY_PAGE, deadline, &next);

		if (r < 0) {
			if (r != -ETIMEDOUT && r != -EAGAIN)
				dk_supd_journal_disconnect(s);
			break;
		}
		for (int i = 0; i < r; i++)
			keep[total++ % want] = page[i];
		q.seq_min = next;
	} while (next);
	free(page);
	/* Rotate the ring so the oldest kept record comes first. */
	n = total < want ? (uint32_t)total : want;
	first = total < want ? 0 : (uint32_t)(total % want);
	if (first) {
		struct dk_log_record *tmp = malloc(n * sizeof(*tmp));

		if (!tmp)
			return 0;
		for (uint32_t i = 0; i < n; i++)
			tmp[i] = keep[(first + i) % want];
		memcpy(keep, tmp, n * sizeof(*tmp));
		free(tmp);
	}
	return n;
}
/*
 * Why a service died, for the crash report: SIGSYS is what the driver sandbox's seccomp filter
 * kills with (docs/sandbox.md), so it is named as a sandbox violation.
 */
static const char *death_cause(int exit_status, unsigned int sig)
{
	switch (sig) {
	case 0:
		return exit_status == 0 ? "exited" : "exit-status";
	case SIGSYS:
		return "sandbox-violation";
	case SIGKILL:
		return "killed";
	case SIGSEGV:
	case SIGBUS:
	case SIGILL:
	case SIGFPE:
	case SIGABRT:
		return "fault";
	default:
		return "signal";
	}
}


void dk_supd_crash_report(struct dk_supd *s, struct dk_supd_service *v, pid_t pid,
			  uint32_t n_reaped, uint64_t reap_ns)
{
	uint32_t want = s->m->crash_log_lines, n = 0;
	struct dk_log_record *lines = NULL;
	char message[DK_LOG_MESSAGE_MAX + 1];

	dk_supd_report(s, "service %s (pid %d, generation %" PRIu64 ") died: exit %d signal %u, "
			  "%u fences reaped in %" PRIu64 " ns",
		       v->cfg->name, (int)pid, v->generation, v->last_exit, v->last_signal,
		       n_reaped, reap_ns);
	/* Its lines first, while they are the newest of that pid; dk-logd itself has none. */
	if (v->cfg->kind != DK_SUPD_KIND_LOGD && want) {
		lines = malloc(want * sizeof(*lines));
		if (lines)
			n = last_records(s, pid, want, lines);
	}
	snprintf(message, sizeof(message), "service %s died", v->cfg->name);
	dk_supd_journal(s, DK_LOG_ERROR, "supervisor.crash", message,
			"service=%s pid=%d generation=%" PRIu64 " exit=%d signal=%u restarts=%u "
			"fences_reaped=%u reap_ns=%" PRIu64 " cause=%s",
			v->cfg->name, (int)pid, v->generation, v->last_exit, v->last_signal,
			v->restarts, n_reaped, reap_ns, death_cause(v->last_exit, v->last_signal));
	for (uint32_t i = 0; i < n; i++)
		dk_supd_journal(s, lines[i].severity, "supervisor.crash.log", lines[i].message,
				"service=%s pid=%d seq=%" PRIu64, v->cfg->name, (int)pid,
				lines[i].seq);
	free(lines);
}
