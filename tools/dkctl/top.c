/* SPDX-License-Identifier: MIT */
/*
 * top.c - dkctl top (the live statistics of every device's service, sampled every interval)
 * and dkctl trace (the services' records of finished jobs as a Chrome / Perfetto trace-event
 * JSON file). Both ask the broker of a running stack (DEVICE_STATS, TRACE), which relays the
 * device services' answers and allows them to its own user and root only (docs/broker.md); the
 * reply layouts are decoded by the broker client library (broker-client.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/qos.h>
#include <dk/runtime.h>
#include <dk/time.h>

#include "broker-client.h"
#include "dkctl.h"

#define TOP_INTERVAL_DEFAULT_NS DK_NSEC_PER_SEC

enum {
	OPT_RUNTIME_DIR = 0x100,
	OPT_TIMEOUT,
	OPT_JSON,
	OPT_INTERVAL,
	OPT_ONCE,
	OPT_OUT,
	OPT_DEVICE,
	OPT_SINCE,
};

/* Whether @err says the broker itself could not be reached (then name its socket). */
static bool unreachable(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

/* The broker's socket of the stack at @runtime_dir (else the default) into @buf. */
static int broker_socket(const char *runtime_dir, char *buf, size_t size)
{
	char rt[DK_RT_PATH_MAX];
	int err = dkctl_runtime_dir(runtime_dir, rt, sizeof(rt));

	if (err < 0)
		return err;
	return dk_runtime_path(rt, DK_RT_BROKER_SOCKET, buf, size);
}

/* Print @ns as microseconds with three decimals, exactly (no floating point rounding). */
static void print_us(FILE *out, uint64_t ns)
{
	fprintf(out, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

/* ---- top ---- */

struct top_opts {
	const char *runtime_dir;
	uint64_t interval_ns, timeout_ns;
	bool once, json;
};

/* What top remembers of a device between two samples, for its throughput. */
struct top_prev {
	char device[DK_RT_NAME_MAX + 1];
	uint64_t generation;
	uint64_t completed;
	uint64_t t_ns; /* when the STATS answer came */
	bool valid;
};

/* One device's sample. */
struct top_dev {
	const struct dk_device_status *status;
	int err; /* of DEVICE_STATS (or the decoder); 0 with @st and @sessions set */
	struct dk_devstats st;
	struct dk_devstats_session sessions[DK_DEVCTL_STATS_SESSIONS_MAX];
	uint64_t t_ns;
	double throughput; /* jobs completed per second since the previous sample; < 0: unknown */
};

static void top_usage(FILE *out)
{
	fprintf(out,
		"Usage: dkctl top [--runtime-dir DIR] [--interval SECONDS] [--once] [--json]\n"
		"                 [--timeout SECONDS]\n"
		"\n"
		"Live statistics of every device's service, through the broker: per device the\n"
		"sessions, jobs on the hardware, ready and parked, completed and failed, resets,\n"
		"kills, lost interrupts and the throughput (jobs completed per second since the\n"
		"previous sample); per client session its pid, uid, QoS, queue depth (submissions\n"
		"not taken yet), jobs in flight, completed and failed, latency percentiles (p50 and\n"
		"p99 of submitted -> signalled over its latest jobs, in microseconds) and budget use\n"
		"(bytes, buffers and fences registered, violations).\n"
		"\n"
		"Refreshes every interval until SIGINT (redrawing the screen when stdout is a\n"
		"terminal, else printing one block per sample).\n"
		"\n"
		"  --runtime-dir DIR   the stack at DIR (default $DK_RUNTIME_DIR, else\n"
		"                      $XDG_RUNTIME_DIR/driverkit)\n"
		"  --interval SECONDS  time between samples (default 1)\n"
		"  --once              print one sample and exit (no throughput)\n"
		"  --json              one JSON object per device and sample\n"
		"  --timeout SECONDS   deadline of each request (default 5)\n"
		"  -h, --help          this text\n"
		"\n"
		"Only the broker's user and root may read a service's statistics.\n");
}

/* Ask for @d's statistics (when it is up) and work out its throughput from @prev. */
static void top_sample(const char *sock, const struct top_opts *o, struct top_dev *d,
		       struct top_prev *prev)
{
	static uint8_t buf[DK_FRAME_MAX_PAYLOAD];
	const struct dk_device_status *s = d->status;
	size_t len;

	d->throughput = -1.0;
	d->err = 0;
	if (s->state != DK_DEVICE_UP) {
		prev->valid = false;
		return;
	}
	d->err = dk_broker_device_stats(sock, s->device, dk_deadline_in(o->timeout_ns), buf,
					sizeof(buf), &len);
	d->t_ns = dk_now_ns();
	if (d->err == 0)
		d->err = dk_devstats_decode(buf, len, &d->st, d->sessions,
					    DK_DEVCTL_STATS_SESSIONS_MAX);
	if (d->err < 0) {
		prev->valid = false;
		return;
	}
	/* The same start of the same service, counters that only grew: a rate. */
	if (prev->valid && prev->generation == s->generation &&
	    d->st.completed >= prev->completed && d->t_ns > prev->t_ns)
		d->throughput = (double)(d->st.completed - prev->completed) * 1e9 /
				(double)(d->t_ns - prev->t_ns);
	memcpy(prev->device, s->device, sizeof(prev->device)); /* same size, NUL-terminated */
	prev->generation = s->generation;
	prev->completed = d->st.completed;
	prev->t_ns = d->t_ns;
	prev->valid = true;
}

static void top_print_json(uint64_t sample, const struct top_dev *d)
{
	const struct dk_device_status *s = d->status;

	printf("{\"sample\":%" PRIu64 ",\"device\":", sample);
	dkctl_json_string(stdout, s->device);
	printf(",\"class\":");
	dkctl_json_string(stdout, s->device_class);
	printf(",\"service\":");
	dkctl_json_string(stdout, s->service);
	printf(",\"state\":\"%s\",\"pid\":%" PRIu32 ",\"generation\":%" PRIu64,
	       dk_device_state_name(s->state), s->pid, s->generation);
	if (s->state != DK_DEVICE_UP) {
		printf("}\n");
		return;
	}
	if (d->err < 0) {
		printf(",\"error\":");
		dkctl_json_string(stdout, dk_strerror(d->err));
		printf("}\n");
		return;
	}
	printf(",\"sessions\":%" PRIu32 ",\"queues\":%" PRIu32 ",\"buffers\":%" PRIu32
	       ",\"bytes\":%" PRIu64 ",\"hw_inflight\":%" PRIu32 ",\"ready\":%" PRIu32
	       ",\"parked\":%" PRIu32 ",\"completed\":%" PRIu64 ",\"failed\":%" PRIu64
	       ",\"violations\":%" PRIu64 ",\"kills\":%" PRIu64 ",\"resets\":%" PRIu64
	       ",\"hangs\":%" PRIu64 ",\"resubmitted\":%" PRIu64 ",\"lost_irqs\":%" PRIu64
	       ",\"fence_wakeups\":%" PRIu64,
	       d->st.sessions, d->st.queues, d->st.buffers, d->st.bytes, d->st.hw_inflight,
	       d->st.ready, d->st.parked, d->st.completed, d->st.failed, d->st.violations,
	       d->st.kills, d->st.resets, d->st.hangs, d->st.resubmitted, d->st.lost_irqs,
	       d->st.fence_wakeups);
	if (d->throughput >= 0)
		printf(",\"throughput\":%.1f", d->throughput);
	else
		printf(",\"throughput\":null");
	printf(",\"sessions_total\":%" PRIu32 ",\"clients\":[", d->st.n_total);
	for (uint32_t i = 0; i < d->st.n; i++) {
		const struct dk_devstats_session *c = &d->sessions[i];

		printf("%s{\"session\":%" PRIu64 ",\"pid\":%" PRIu32 ",\"uid\":%" PRIu32
		       ",\"qos\":\"%s\",\"queues\":%" PRIu32 ",\"queue_depth\":%" PRIu32
		       ",\"inflight\":%" PRIu32 ",\"completed\":%" PRIu64 ",\"failed\":%" PRIu64
		       ",\"p50_us\":",
		       i ? "," : "", c->session_id, c->pid, c->uid, dk_qos_name(c->qos), c->queues,
		       c->pending, c->inflight, c->completed, c->failed);
		print_us(stdout, c->p50_ns);
		printf(",\"p99_us\":");
		print_us(stdout, c->p99_ns);
		printf(",\"bytes\":%" PRIu64 ",\"buffers\":%" PRIu32 ",\"fences\":%" PRIu32
		       ",\"violations\":%" PRIu32 "}",
		       c->bytes, c->buffers, c->fences, c->violations);
	}
	printf("]}\n");
}

static void top_print_text(const struct top_dev *d)
{
	const struct dk_device_status *s = d->status;

	printf("%s  class %s, service %s, pid %" PRIu32 ", generation %" PRIu64 ", %s\n",
	       s->device, s->device_class, s->service, s->pid, s->generation,
	       dk_device_state_name(s->state));
	if (s->state != DK_DEVICE_UP)
		return;
	if (d->err < 0) {
		printf("  statistics: %s\n", dk_strerror(d->err));
		return;
	}
	printf("  sessions %" PRIu32 "  hw in flight %" PRIu32 "  ready %" PRIu32
	       "  parked %" PRIu32 "  completed %" PRIu64 "  failed %" PRIu64 "\n"
	       "  resets %" PRIu64 "  kills %" PRIu64 "  lost irqs %" PRIu64 "  violations %" PRIu64
	       "  throughput ",
	       d->st.sessions, d->st.hw_inflight, d->st.ready, d->st.parked, d->st.completed,
	       d->st.failed, d->st.resets, d->st.kills, d->st.lost_irqs, d->st.violations);
	if (d->throughput >= 0)
		printf("%.1f jobs/s\n", d->throughput);
	else
		printf("-\n");
	if (d->st.n == 0)
		return;
	printf("  %8s %8s %6s %-6s %6s %6s %10s %8s %10s %10s %10s %5s %6s %5s\n", "SESSION",
	       "PID", "UID", "QOS", "QUEUE", "INFL", "COMPLETED", "FAILED", "P50 us", "P99 us",
	       "BYTES", "BUFS", "FENCES", "VIOL");
	for (uint32_t i = 0; i < d->st.n; i++) {
		const struct dk_devstats_session *c = &d->sessions[i];

		printf("  %8" PRIu64 " %8" PRIu32 " %6" PRIu32 " %-6s %6" PRIu32 " %6" PRIu32
		       " %10" PRIu64 " %8" PRIu64 " %10.1f %10.1f %10" PRIu64 " %5" PRIu32
		       " %6" PRIu32 " %5" PRIu32 "\n",
		       c->session_id, c->pid, c->uid, dk_qos_name(c->qos), c->pending, c->inflight,
		       c->completed, c->failed, (double)c->p50_ns / 1e3, (double)c->p99_ns / 1e3,
		       c->bytes, c->buffers, c->fences, c->violations);
	}
	if (d->st.n_total > d->st.n)
		printf("  (%" PRIu32 " more sessions not shown)\n", d->st.n_total - d->st.n);
}

/* Wait until @deadline_ns or a stop signal of @set (blocked). Returns true to stop. */
static bool top_wait(const sigset_t *set, uint64_t deadline_ns)
{
	for (;;) {
		uint64_t now = dk_now_ns(), left;
		struct timespec ts;
		int sig;

		if (now >= deadline_ns)
			return false;
		left = deadline_ns - now;
		ts.tv_sec = (time_t)(left / DK_NSEC_PER_SEC);
		ts.tv_nsec = (long)(left % DK_NSEC_PER_SEC);
		sig = sigtimedwait(set, NULL, &ts);
		if (sig > 0)
			return true;
		if (errno != EAGAIN && errno != EINTR)
			return true;
	}
}

/* Whether SIGINT or SIGTERM is pending (blocked, not yet taken). */
static bool top_stop_pending(void)
{
	sigset_t pending;

	if (sigpending(&pending) < 0)
		return false;
	return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1;
}

/* The remembered sample of @device in @prev (DK_BROKER_DEVICES_MAX entries): its own, else
 * a free entry, else the first (forgotten). */
static struct top_prev *top_prev_of(struct top_prev *prev, const char *device)
{
	struct top_prev *free_one = NULL;

	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++) {
		if (prev[i].valid && !strcmp(prev[i].device, device))
			return &prev[i];
		if (!prev[i].valid && !free_one)
			free_one = &prev[i];
	}
	if (!free_one) {
		free_one = &prev[0];
		free_one->valid = false;
	}
	return free_one;
}

static int top_parse(int argc, char **argv, struct top_opts *o)
{
	static const struct option longopts[] = {
		{"runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR},
		{"interval", required_argument, NULL, OPT_INTERVAL},
		{"once", no_argument, NULL, OPT_ONCE},
		{"json", no_argument, NULL, OPT_JSON},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	o->interval_ns = TOP_INTERVAL_DEFAULT_NS;
	o->timeout_ns = DKCTL_DEFAULT_TIMEOUT_NS;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_RUNTIME_DIR:
			o->runtime_dir = optarg;
			break;
		case OPT_INTERVAL:
			if (dkctl_parse_timeout(optarg, &o->interval_ns) < 0)
				return dkctl_usage_error("top", "bad interval '%s'", optarg);
			break;
		case OPT_ONCE:
			o->once = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_TIMEOUT:
			if (dkctl_parse_timeout(optarg, &o->timeout_ns) < 0)
				return dkctl_usage_error("top", "bad timeout '%s'", optarg);
			break;
		case 'h':
			top_usage(stdout);
			return DKCTL_EXIT_OK;
		case ':':
			return dkctl_usage_error("top", "option '%s' needs an argument",
						 argv[optind - 1]);
		default:
			return dkctl_usage_error("top", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return dkctl_usage_error("top", "unexpected argument '%s'", argv[optind]);
	return -1;
}

static int top_run(int argc, char **argv)
{
	static struct dk_device_status status[DK_BROKER_DEVICES_MAX];
	static struct top_prev prev[DK_BROKER_DEVICES_MAX];
	static struct top_dev dev;
	struct top_opts o = {0};
	char sock[DK_RT_PATH_MAX];
	bool tty = isatty(STDOUT_FILENO) == 1;
	uint64_t next, sample = 0;
	sigset_t set;
	int ret, err;

	ret = top_parse(argc, argv, &o);
	if (ret >= 0)
		return ret;
	err = broker_socket(o.runtime_dir, sock, sizeof(sock));
	if (err < 0)
		return dkctl_fail("runtime directory", err);
	/* SIGINT and SIGTERM are taken in the waits between samples, never mid-line. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (!o.once && sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return dkctl_fail("sigprocmask", -errno);

	next = dk_now_ns();
	for (;;) {
		uint32_t n = 0;

		err = dk_broker_status(sock, dk_deadline_in(o.timeout_ns), status,
				       DK_BROKER_DEVICES_MAX, &n);
		if (err < 0)
			return dkctl_fail(unreachable(err) ? sock : "broker status", err);
		if (n > DK_BROKER_DEVICES_MAX)
			n = DK_BROKER_DEVICES_MAX;
		sample++;
		if (!o.json && tty)
			printf("\033[H\033[2J"); /* home, clear */
		if (!o.json)
			printf("dkctl top: %" PRIu32 " device%s, sample %" PRIu64
			       ", interval %.1f s\n\n",
			       n, n == 1 ? "" : "s", sample, (double)o.interval_ns / 1e9);
		for (uint32_t i = 0; i < n; i++) {
			if (!o.once && top_stop_pending())
				return fflush(stdout) == 0 ? DKCTL_EXIT_OK : DKCTL_EXIT_FAIL;
			dev.status = &status[i];
			top_sample(sock, &o, &dev, top_prev_of(prev, status[i].device));
			if (o.json)
				top_print_json(sample, &dev);
			else
				top_print_text(&dev);
			if (!o.json && i + 1 < n)
				printf("\n");
		}
		if (!o.json && !tty && !o.once)
			printf("\n");
		if (fflush(stdout) != 0)
			return dkctl_fail("write", -EIO);
		if (o.once)
			return DKCTL_EXIT_OK;
		next += o.interval_ns;
		if (next < dk_now_ns())
			next = dk_now_ns(); /* fell behind: no burst of samples */
		if (top_wait(&set, next))
			return DKCTL_EXIT_OK;
	}
}

const struct dkctl_command dkctl_top_command = {
	.name = "top",
	.summary = "live statistics of every device's service and its clients",
	.run = top_run,
	.usage = top_usage,
};

/* ---- trace ---- */

struct trace_opts {
	const char *runtime_dir, *out, *device;
	uint64_t since, timeout_ns;
	bool json;
};

/* The sessions of one device: their client pids (from DEVICE_STATS), which were named. */
struct trace_session {
	uint64_t id;
	uint32_t pid; /* 0: unknown (the session ended before the trace was taken) */
	bool named;   /* its thread_name metadata event was written */
};

/* What was written of one device. */
struct trace_dev {
	const char *name;
	uint32_t pid; /* the trace's process id of the device */
	struct trace_session *sessions;
	uint32_t n_sessions, cap_sessions;
	uint64_t records, events, lost, first_seq, last_seq;
	int err;
};

/* The writer: the file and whether an event was written yet (for the commas). */
struct trace_out {
	FILE *f;
	bool any;
	uint64_t events; /* "X" events (metadata events not counted) */
};

static void trace_usage(FILE *out)
{
	fprintf(out,
		"Usage: dkctl trace --out FILE [--device NAME] [--runtime-dir DIR] [--since SEQ]\n"
		"                   [--timeout SECONDS] [--json]\n"
		"\n"
		"Fetch the records of finished jobs the device services keep (the latest ones) through\n"
		"the broker and write them to FILE as Chrome / Perfetto trace-event JSON: per job one\n"
		"complete event per phase - queued (submitted -> ready), waiting (ready -> started),\n"
		"running (started -> completed), signalling (completed -> signalled) - in\n"
		"microseconds of CLOCK_MONOTONIC; one process per device, one thread per client\n"
		"session. Open FILE in https://ui.perfetto.dev or chrome://tracing.\n"
		"\n"
		"  --out FILE          where the trace goes (required; replaced)\n"
		"  --device NAME       only this device (default: every device that is up)\n"
		"  --runtime-dir DIR   the stack at DIR (default $DK_RUNTIME_DIR, else\n"
		"                      $XDG_RUNTIME_DIR/driverkit)\n"
		"  --since SEQ         only records after SEQ (each device numbers its records 1, 2...)\n"
		"  --timeout SECONDS   deadline of each request (default 5)\n"
		"  --json              the summary as one JSON object\n"
		"  -h, --help          this text\n"
		"\n"
		"Prints how many records were written and how many were lost (overwritten before they\n"
		"were read: a gap in the sequence numbers). Only the broker's user and root may read\n"
		"a service's records.\n");
}

/* A process id for @name, the same in every trace: FNV-1a, 31 bits, never 0. */
static uint32_t trace_device_pid(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	h &= 0x7fffffffu;
	return h ? h : 1;
}

/* Start an event: the comma before it when it is not the first. */
static FILE *trace_event(struct trace_out *t)
{
	fputs(t->any ? ",\n" : "\n", t->f);
	t->any = true;
	return t->f;
}

static void trace_meta(struct trace_out *t, const char *what, uint32_t pid, uint64_t tid,
		       const char *name)
{
	FILE *f = trace_event(t);

	fprintf(f, "{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%" PRIu32 ",\"tid\":%" PRIu64
		   ",\"args\":{\"name\":",
		what, pid, tid);
	dkctl_json_string(f, name);
	fputs("}}", f);
}

/* The session @id of @d, added (pid unknown) when new. NULL when out of memory. */
static struct trace_session *trace_session(struct trace_dev *d, uint64_t id)
{
	struct trace_session *s;

	for (uint32_t i = 0; i < d->n_sessions; i++)
		if (d->sessions[i].id == id)
			return &d->sessions[i];
	if (d->n_sessions == d->cap_sessions) {
		uint32_t cap = d->cap_sessions ? 2 * d->cap_sessions : 16;
		struct trace_session *more = realloc(d->sessions, cap * sizeof(*more));

		if (!more)
			return NULL;
		d->sessions = more;
		d->cap_sessions = cap;
	}
	s = &d->sessions[d->n_sessions++];
	*s = (struct trace_session){.id = id};
	return s;
}

/* One "X" event of phase @name from @t0 to @t1 (ns), when both are known and in order. */
static void trace_phase(struct trace_out *t, const struct trace_dev *d,
			const struct dk_devtrace_record *r, const char *name, uint64_t t0,
			uint64_t t1)
{
	FILE *f;

	if (!t0 || !t1 || t1 < t0)
		return;
	f = trace_event(t);
	t->events++;
	fprintf(f, "{\"name\":\"%s\",\"cat\":\"job\",\"ph\":\"X\",\"ts\":", name);
	print_us(f, t0);
	fputs(",\"dur\":", f);
	print_us(f, t1 - t0);
	fprintf(f,
		",\"pid\":%" PRIu32 ",\"tid\":%" PRIu64 ",\"args\":{\"seq\":%" PRIu64
		",\"ticket\":%" PRIu64 ",\"queue\":%" PRIu32 ",\"qos\":",
		d->pid, r->session_id, r->seq, r->ticket, r->queue_id);
	dkctl_json_string(f, dk_qos_name(r->qos));
	fprintf(f, ",\"opcode\":%u,\"status\":%" PRId32 ",\"reason\":", (unsigned)r->opcode,
		r->status);
	dkctl_json_string(f, dk_reason_name(r->reason));
	fprintf(f, ",\"attempts\":%u}}", (unsigned)r->attempts);
}

static int trace_record(struct trace_out *t, struct trace_dev *d,
			const struct dk_devtrace_record *r)
{
	struct trace_session *s = trace_session(d, r->session_id);

	if (!s)
		return -ENOMEM;
	if (!s->named) {
		char name[64];

		if (s->pid)
			snprintf(name, sizeof(name), "session %" PRIu64 " (pid %" PRIu32 ")", s->id,
				 s->pid);
		else
			snprintf(name, sizeof(name), "session %" PRIu64, s->id);
		trace_meta(t, "thread_name", d->pid, s->id, name);
		s->named = true;
	}
	trace_phase(t, d, r, "queued", r->t_submitted_ns, r->t_ready_ns);
	trace_phase(t, d, r, "waiting", r->t_ready_ns, r->t_started_ns);
	trace_phase(t, d, r, "running", r->t_started_ns, r->t_completed_ns);
	trace_phase(t, d, r, "signalling", r->t_completed_ns, r->t_signalled_ns);
	return 0;
}

/*
 * Write @d's records after @o->since: page with after_seq until a reply holds none, or until
 * the newest record there was when the first page came (records finished later are left for
 * the next trace, so a busy device cannot keep this going). The client pids of live sessions
 * come from DEVICE_STATS (best effort).
 */
static int trace_device(const char *sock, const struct trace_opts *o, struct trace_out *t,
			struct trace_dev *d)
{
	static uint8_t buf[DK_FRAME_MAX_PAYLOAD];
	static struct dk_devstats_session ss[DK_DEVCTL_STATS_SESSIONS_MAX];
	static struct dk_devtrace_record recs[DK_DEVCTL_TRACE_MAX];
	struct dk_devstats st;
	uint64_t after = o->since, target = 0;
	bool first = true;
	size_t len;
	int err;

	if (dk_broker_device_stats(sock, d->name, dk_deadline_in(o->timeout_ns), buf, sizeof(buf),
				   &len) == 0 &&
	    dk_devstats_decode(buf, len, &st, ss, DK_DEVCTL_STATS_SESSIONS_MAX) == 0) {
		for (uint32_t i = 0; i < st.n; i++) {
			struct trace_session *s = trace_session(d, ss[i].session_id);

			if (!s)
				return -ENOMEM;
			s->pid = ss[i].pid;
		}
	}
	trace_meta(t, "process_name", d->pid, 0, d->name);
	for (;;) {
		uint64_t last_seq;
		uint32_t n;

		err = dk_broker_trace(sock, d->name, after, dk_deadline_in(o->timeout_ns), buf,
				      sizeof(buf), &len);
		if (err < 0)
			return err;
		err = dk_devtrace_decode(buf, len, after, &last_seq, recs, DK_DEVCTL_TRACE_MAX, &n);
		if (err < 0)
			return err;
		if (first)
			target = last_seq;
		first = false;
		if (n == 0)
			return 0;
		for (uint32_t i = 0; i < n; i++) {
			/* The decoder checked the seqs increase; a gap is records overwritten. */
			d->lost += recs[i].seq - after - 1;
			if (!d->first_seq)
				d->first_seq = recs[i].seq;
			d->last_seq = recs[i].seq;
			after = recs[i].seq;
			err = trace_record(t, d, &recs[i]);
			if (err < 0)
				return err;
			d->records++;
		}
		if (after >= target)
			return 0;
	}
}

static int trace_parse(int argc, char **argv, struct trace_opts *o)
{
	static const struct option longopts[] = {
		{"out", required_argument, NULL, OPT_OUT},
		{"device", required_argument, NULL, OPT_DEVICE},
		{"runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR},
		{"since", required_argument, NULL, OPT_SINCE},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	o->timeout_ns = DKCTL_DEFAULT_TIMEOUT_NS;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_OUT:
			o->out = optarg;
			break;
		case OPT_DEVICE:
			if (dk_rt_check_name(optarg) < 0)
				return dkctl_usage_error("trace", "invalid device name '%s'",
							 optarg);
			o->device = optarg;
			break;
		case OPT_RUNTIME_DIR:
			o->runtime_dir = optarg;
			break;
		case OPT_SINCE:
			if (dkctl_parse_u64(optarg, 0, UINT64_MAX, &o->since) < 0)
				return dkctl_usage_error("trace", "bad sequence number '%s'",
							 optarg);
			break;
		case OPT_TIMEOUT:
			if (dkctl_parse_timeout(optarg, &o->timeout_ns) < 0)
				return dkctl_usage_error("trace", "bad timeout '%s'", optarg);
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'h':
			trace_usage(stdout);
			return DKCTL_EXIT_OK;
		case ':':
			return dkctl_usage_error("trace", "option '%s' needs an argument",
						 argv[optind - 1]);
		default:
			return dkctl_usage_error("trace", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return dkctl_usage_error("trace", "unexpected argument '%s'", argv[optind]);
	if (!o->out || !o->out[0])
		return dkctl_usage_error("trace", "trace needs --out FILE");
	return -1;
}

/* The summary on stdout; false when it could not be written. */
static bool trace_summary(const struct trace_opts *o, const struct trace_dev *devs, uint32_t n,
			  const struct trace_out *t)
{
	uint64_t records = 0, lost = 0;

	for (uint32_t i = 0; i < n; i++) {
		records += devs[i].records;
		lost += devs[i].lost;
	}
	if (o->json) {
		printf("{\"out\":");
		dkctl_json_string(stdout, o->out);
		printf(",\"records\":%" PRIu64 ",\"events\":%" PRIu64 ",\"lost\":%" PRIu64
		       ",\"devices\":[",
		       records, t->events, lost);
		for (uint32_t i = 0; i < n; i++) {
			printf("%s{\"device\":", i ? "," : "");
			dkctl_json_string(stdout, devs[i].name);
			printf(",\"pid\":%" PRIu32 ",\"records\":%" PRIu64 ",\"lost\":%" PRIu64
			       ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64,
			       devs[i].pid, devs[i].records, devs[i].lost, devs[i].first_seq,
			       devs[i].last_seq);
			if (devs[i].err < 0) {
				printf(",\"error\":");
				dkctl_json_string(stdout, dk_strerror(devs[i].err));
			}
			printf("}");
		}
		printf("]}\n");
	} else {
		for (uint32_t i = 0; i < n; i++) {
			printf("%s: %" PRIu64 " record%s", devs[i].name, devs[i].records,
			       devs[i].records == 1 ? "" : "s");
			if (devs[i].records)
				printf(" (seq %" PRIu64 "..%" PRIu64 ")", devs[i].first_seq,
				       devs[i].last_seq);
			if (devs[i].lost)
				printf(", %" PRIu64 " lost", devs[i].lost);
			if (devs[i].err < 0)
				printf(", incomplete: %s", dk_strerror(devs[i].err));
			printf("\n");
		}
		printf("%" PRIu64 " record%s (%" PRIu64 " events) written to %s; ", records,
		       records == 1 ? "" : "s", t->events, o->out);
		if (lost)
			printf("%" PRIu64 " lost (overwritten before they were read)\n", lost);
		else
			printf("none lost\n");
	}
	return fflush(stdout) == 0;
}

static int trace_run(int argc, char **argv)
{
	static struct dk_device_status status[DK_BROKER_DEVICES_MAX];
	static struct trace_dev devs[DK_BROKER_DEVICES_MAX];
	struct trace_opts o = {0};
	struct trace_out t = {0};
	char sock[DK_RT_PATH_MAX];
	uint32_t n_status = 0, n = 0;
	bool failed = false;
	int ret, err;

	ret = trace_parse(argc, argv, &o);
	if (ret >= 0)
		return ret;
	err = broker_socket(o.runtime_dir, sock, sizeof(sock));
	if (err < 0)
		return dkctl_fail("runtime directory", err);
	if (o.device) {
		devs[n++].name = o.device; /* asked directly: the broker says if it is not up */
	} else {
		err = dk_broker_status(sock, dk_deadline_in(o.timeout_ns), status,
				       DK_BROKER_DEVICES_MAX, &n_status);
		if (err < 0)
			return dkctl_fail(unreachable(err) ? sock : "broker status", err);
		for (uint32_t i = 0; i < n_status && i < DK_BROKER_DEVICES_MAX; i++)
			if (status[i].state == DK_DEVICE_UP)
				devs[n++].name = status[i].device;
	}
	/* Process ids: stable per name; a collision within this trace moves one up. */
	for (uint32_t i = 0; i < n; i++) {
		bool clash;

		devs[i].pid = trace_device_pid(devs[i].name);
		do {
			clash = false;
			for (uint32_t k = 0; k < i && !clash; k++)
				clash = devs[k].pid == devs[i].pid;
			if (clash)
				devs[i].pid = devs[i].pid % 0x7fffffffu + 1;
		} while (clash);
	}

	t.f = fopen(o.out, "w");
	if (!t.f)
		return dkctl_fail(o.out, -errno);
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", t.f);
	for (uint32_t i = 0; i < n; i++) {
		devs[i].err = trace_device(sock, &o, &t, &devs[i]);
		free(devs[i].sessions);
		devs[i].sessions = NULL;
		if (devs[i].err == -ENOMEM || unreachable(devs[i].err)) {
			/* Nothing more will work: say so and leave no half file. */
			fclose(t.f);
			unlink(o.out);
			return dkctl_fail(unreachable(devs[i].err) ? sock : devs[i].name,
					  devs[i].err);
		}
		failed |= devs[i].err < 0;
	}
	fputs("\n]}\n", t.f);
	if (ferror(t.f) | (fclose(t.f) != 0)) {
		unlink(o.out);
		return dkctl_fail(o.out, -EIO);
	}
	if (!trace_summary(&o, devs, n, &t))
		return dkctl_fail("write", -EIO);
	for (uint32_t i = 0; i < n; i++) {
		if (devs[i].err < 0) {
			char what[DK_RT_NAME_MAX + 16];

			snprintf(what, sizeof(what), "trace %s", devs[i].name);
			dkctl_fail(what, devs[i].err);
		}
	}
	return failed ? DKCTL_EXIT_FAIL : DKCTL_EXIT_OK;
}

const struct dkctl_command dkctl_trace_command = {
	.name = "trace",
	.summary = "the services' job records as a Chrome / Perfetto trace file",
	.run = trace_run,
	.usage = trace_usage,
};
