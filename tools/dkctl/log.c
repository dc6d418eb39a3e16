/* SPDX-License-Identifier: MIT */
/*
 * dkctl log - query, follow and count the journal of dk-logd through the log client API.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dk/error.h>
#include <dk/log.h>
#include <dk/runtime.h>
#include <dk/time.h>

#include "dkctl.h"

/* How long one dk_log_next() call may wait while following, so a signal is seen promptly. */
#define FOLLOW_POLL_NS (200ull * 1000000ull)

struct log_opts {
	const char *socket, *runtime_dir, *service;
	bool json, follow, stats;
	uint64_t timeout_ns;
	struct dk_log_query query;
	uint64_t limit; /* 0: no limit */
};

static volatile sig_atomic_t stop_requested;

static void log_usage(FILE *out)
{
	fprintf(out,
		"Usage: dkctl log [WHERE] [--json] [--min-severity LEVEL] [--pid N | --service NAME]\n"
		"                 [--scope PREFIX] [--since SEQ] [--limit N] [--timeout SECONDS]\n"
		"       dkctl log -f [WHERE] [--json] [--min-severity LEVEL] [--pid N | --service NAME]\n"
		"                 [--scope PREFIX] [--timeout SECONDS]\n"
		"       dkctl log --stats [WHERE] [--json] [--timeout SECONDS]\n"
		"WHERE: --socket PATH, or --runtime-dir DIR (default $DK_RUNTIME_DIR, else\n"
		"$XDG_RUNTIME_DIR/driverkit): the journal of that stack\n"
		"\n"
		"Query the dk-logd journal, follow new records (-f, until SIGINT or SIGTERM)\n"
		"or print its statistics (--stats).\n"
		"\n"
		"  --socket PATH         the dk-logd socket\n"
		"  --runtime-dir DIR     the stack whose journal to read\n"
		"  --service NAME        only records of the service's current process (its pid,\n"
		"                        from the supervisor)\n"
		"  --json                one JSON object per line\n"
		"  --min-severity LEVEL  debug, info, notice, warning, error or audit\n"
		"  --pid N               only records from the authenticated pid N\n"
		"  --scope PREFIX        only records whose scope starts with PREFIX\n"
		"  --since SEQ           start at sequence number SEQ\n"
		"  --limit N             print at most N records\n"
		"  --timeout SECONDS     deadline of each request (default 5)\n"
		"  -f, --follow          follow new records\n"
		"  --stats               journal statistics\n"
		"  -h, --help            this text\n"
		"\n"
		"The sender name is a claim made by the client (shown as claim=NAME); pid and uid\n"
		"are authenticated by the daemon.\n");
}

static int parse_severity(const char *s, uint8_t *ret_severity)
{
	uint32_t i;

	for (i = 0; i <= DK_LOG_SEVERITY_MAX; i++) {
		if (strcmp(s, dk_log_severity_name(i)) == 0) {
			*ret_severity = (uint8_t)i;
			return 0;
		}
	}
	return -EINVAL;
}

static void format_time(uint64_t realtime_ns, char *buf, size_t size)
{
	time_t secs = (time_t)(realtime_ns / DK_NSEC_PER_SEC);
	struct tm tm;
	char base[32];

	if (!gmtime_r(&secs, &tm) || !strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(buf, size, "@%llu", (unsigned long long)realtime_ns);
		return;
	}
	snprintf(buf, size, "%s.%06lluZ", base,
		 (unsigned long long)(realtime_ns % DK_NSEC_PER_SEC / 1000u));
}

static void print_record(const struct dk_log_record *r, bool json)
{
	char when[64];

	format_time(r->realtime_ns, when, sizeof(when));
	if (json) {
		printf("{\"seq\":%llu,\"time\":\"%s\",\"realtime_ns\":%llu,\"monotonic_ns\":%llu,"
		       "\"severity\":\"%s\",\"scope\":",
		       (unsigned long long)r->seq, when, (unsigned long long)r->realtime_ns,
		       (unsigned long long)r->monotonic_ns, dk_log_severity_name(r->severity));
		dkctl_json_string(stdout, r->scope);
		printf(",\"pid\":%u,\"uid\":%u,\"gid\":%u,\"name_claim\":", r->pid, r->uid,
		       r->gid);
		dkctl_json_string(stdout, r->name_claim);
		fputs(",\"message\":", stdout);
		dkctl_json_string(stdout, r->message);
		fputs(",\"fields\":", stdout);
		dkctl_json_string(stdout, r->fields);
		printf(",\"redacted\":%s}\n", (r->flags & DK_LOG_RECORD_F_REDACTED) ? "true" : "false");
	} else {
		printf("%llu %s %-7s %s pid=%u uid=%u", (unsigned long long)r->seq, when,
		       dk_log_severity_name(r->severity), r->scope, r->pid, r->uid);
		if (r->name_claim[0])
			printf(" claim=%s", r->name_claim);
		printf(": %s", r->message);
		if (r->fields[0])
			printf(" [%s]", r->fields);
		putchar('\n');
	}
}

static bool scope_matches(const struct log_opts *o, const struct dk_log_record *r)
{
	const char *p = o->query.scope_prefix;

	return !p || !p[0] || strncmp(r->scope, p, strlen(p)) == 0;
}

static int do_query(struct dk_log_client *c, struct log_opts *o)
{
	struct dk_log_record *page;
	uint64_t printed = 0, next;
	int n, i;

	page = calloc(DK_LOGD_QUERY_PAGE_MAX, sizeof(*page));
	if (!page)
		return dkctl_fail("query", -ENOMEM);
	for (;;) {
		size_t want = DK_LOGD_QUERY_PAGE_MAX;

		if (o->limit && o->limit - printed < want)
			want = (size_t)(o->limit - printed);
		n = dk_log_query(c, &o->query, page, want, dk_deadline_in(o->timeout_ns), &next);
		if (n < 0) {
			free(page);
			return dkctl_fail("query", n);
		}
		for (i = 0; i < n; i++)
			print_record(&page[i], o->json);
		printed += (uint64_t)n;
		if (n == 0 || next == 0 || (o->limit && printed >= o->limit))
			break;
		o->query.seq_min = next;
	}
	free(page);
	return fflush(stdout) == 0 ? DKCTL_EXIT_OK : dkctl_fail("write", -EIO);
}

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int do_follow(struct dk_log_client *c, struct log_opts *o)
{
	struct sigaction sa;
	struct dk_log_record r;
	int err;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
		return dkctl_fail("sigaction", -errno);
	err = dk_log_follow(c, o->query.min_severity, o->query.pid, dk_deadline_in(o->timeout_ns),
			    NULL);
	if (err < 0)
		return dkctl_fail("follow", err);
	while (!stop_requested) {
		err = dk_log_next(c, dk_deadline_in(FOLLOW_POLL_NS), &r);
		if (err == -ETIMEDOUT || err == -EINTR)
			continue;
		if (err < 0)
			return dkctl_fail("follow", err);
		if (!scope_matches(o, &r))
			continue;
		print_record(&r, o->json);
		fflush(stdout);
	}
	return DKCTL_EXIT_OK;
}

static int do_stats(struct dk_log_client *c, struct log_opts *o)
{
	struct dk_log_stats *s;
	uint32_t i;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return dkctl_fail("stats", -ENOMEM);
	err = dk_log_stats(c, dk_deadline_in(o->timeout_ns), s);
	if (err < 0) {
		free(s);
		return dkctl_fail("stats", err);
	}
#define U(x) ((unsigned long long)(x))
	if (o->json) {
		printf("{\"records\":%llu,\"capacity\":%u,\"accepted\":%llu,\"bytes\":%llu,"
		       "\"dropped\":%llu,\"suppressed\":%llu,\"refused\":%llu,"
		       "\"followers\":%u,\"followers_dropped\":%llu,\"clients\":%u,"
		       "\"clients_refused\":%llu,\"files\":%u,\"disk_bytes\":%llu,"
		       "\"file_errors\":%llu,\"next_seq\":%llu,\"n_senders_total\":%u,\"senders\":[",
		       U(s->records), s->capacity, U(s->accepted), U(s->bytes), U(s->dropped),
		       U(s->suppressed), U(s->refused), s->followers, U(s->followers_dropped),
		       s->clients, U(s->clients_refused), s->files, U(s->disk_bytes),
		       U(s->file_errors), U(s->next_seq), s->n_senders_total);
		for (i = 0; i < s->n_senders && i < DK_LOG_STATS_MAX_SENDERS; i++)
			printf("%s{\"pid\":%u,\"uid\":%u,\"accepted\":%llu,\"suppressed\":%llu,"
			       "\"refused\":%llu}",
			       i ? "," : "", s->senders[i].pid, s->senders[i].uid,
			       U(s->senders[i].accepted), U(s->senders[i].suppressed),
			       U(s->senders[i].refused));
		printf("]}\n");
	} else {
		printf("records:           %llu of %u\n", U(s->records), s->capacity);
		printf("accepted:          %llu (%llu bytes)\n", U(s->accepted), U(s->bytes));
		printf("dropped:           %llu\n", U(s->dropped));
		printf("suppressed:        %llu\n", U(s->suppressed));
		printf("refused:           %llu\n", U(s->refused));
		printf("followers:         %u (%llu dropped)\n", s->followers,
		       U(s->followers_dropped));
		printf("clients:           %u (%llu refused)\n", s->clients, U(s->clients_refused));
		printf("files:             %u (%llu bytes, %llu errors)\n", s->files,
		       U(s->disk_bytes), U(s->file_errors));
		printf("next seq:          %llu\n", U(s->next_seq));
		printf("senders:           %u\n", s->n_senders_total);
		for (i = 0; i < s->n_senders && i < DK_LOG_STATS_MAX_SENDERS; i++)
			printf("  pid=%u uid=%u accepted=%llu suppressed=%llu refused=%llu\n",
			       s->senders[i].pid, s->senders[i].uid, U(s->senders[i].accepted),
			       U(s->senders[i].suppressed), U(s->senders[i].refused));
	}
#undef U
	free(s);
	return fflush(stdout) == 0 ? DKCTL_EXIT_OK : dkctl_fail("write", -EIO);
}

enum {
	OPT_SOCKET = 0x100,
	OPT_JSON,
	OPT_MIN_SEVERITY,
	OPT_PID,
	OPT_SCOPE,
	OPT_SINCE,
	OPT_LIMIT,
	OPT_TIMEOUT,
	OPT_STATS,
	OPT_RUNTIME_DIR,
	OPT_SERVICE,
};

static int log_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"json", no_argument, NULL, OPT_JSON},
		{"min-severity", required_argument, NULL, OPT_MIN_SEVERITY},
		{"pid", required_argument, NULL, OPT_PID},
		{"scope", required_argument, NULL, OPT_SCOPE},
		{"since", required_argument, NULL, OPT_SINCE},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"stats", no_argument, NULL, OPT_STATS},
		{"runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR},
		{"service", required_argument, NULL, OPT_SERVICE},
		{"follow", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct log_opts o = {.timeout_ns = DKCTL_DEFAULT_TIMEOUT_NS};
	static char socket_path[DK_RT_PATH_MAX];
	bool query_opts = false;
	struct dk_log_client *c;
	uint64_t v;
	int opt, err, ret;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":fh", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_SOCKET:
			o.socket = optarg;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_MIN_SEVERITY:
			if (parse_severity(optarg, &o.query.min_severity) < 0)
				return dkctl_usage_error("log", "bad severity '%s'", optarg);
			break;
		case OPT_PID:
			if (dkctl_parse_u64(optarg, 1, UINT32_MAX, &v) < 0)
				return dkctl_usage_error("log", "bad pid '%s'", optarg);
			o.query.pid = (uint32_t)v;
			break;
		case OPT_SCOPE:
			if (!optarg[0] || strlen(optarg) > DK_LOG_SCOPE_MAX)
				return dkctl_usage_error("log", "bad scope prefix '%s'", optarg);
			o.query.scope_prefix = optarg;
			break;
		case OPT_SINCE:
			if (dkctl_parse_u64(optarg, 0, UINT64_MAX, &o.query.seq_min) < 0)
				return dkctl_usage_error("log", "bad sequence number '%s'", optarg);
			query_opts = true;
			break;
		case OPT_LIMIT:
			if (dkctl_parse_u64(optarg, 1, UINT64_MAX, &o.limit) < 0)
				return dkctl_usage_error("log", "bad limit '%s'", optarg);
			query_opts = true;
			break;
		case OPT_TIMEOUT:
			if (dkctl_parse_timeout(optarg, &o.timeout_ns) < 0)
				return dkctl_usage_error("log", "bad timeout '%s'", optarg);
			break;
		case OPT_STATS:
			o.stats = true;
			break;
		case OPT_RUNTIME_DIR:
			o.runtime_dir = optarg;
			break;
		case OPT_SERVICE:
			o.service = optarg;
			break;
		case 'f':
			o.follow = true;
			break;
		case 'h':
			log_usage(stdout);
			return DKCTL_EXIT_OK;
		case ':':
			return dkctl_usage_error("log", "option '%s' needs an argument",
						 argv[optind - 1]);
		default:
			return dkctl_usage_error("log", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return dkctl_usage_error("log", "unexpected argument '%s'", argv[optind]);
	if (o.socket && o.runtime_dir)
		return dkctl_usage_error("log", "--socket and --runtime-dir exclude each other");
	if (o.service && o.query.pid)
		return dkctl_usage_error("log", "--service and --pid exclude each other");
	if (!o.socket || o.service) {
		char rt[DK_RT_PATH_MAX];

		err = dkctl_runtime_dir(o.runtime_dir, rt, sizeof(rt));
		if (err == 0 && !o.socket)
			err = dk_runtime_path(rt, DK_RT_LOGD_SOCKET, socket_path, sizeof(socket_path));
		if (err < 0)
			return dkctl_fail("runtime directory", err);
		if (!o.socket)
			o.socket = socket_path;
		if (o.service) {
			err = dkctl_service_pid(rt, o.service, o.timeout_ns, &o.query.pid);
			if (err == -ESRCH)
				return dkctl_fail(o.service, err); /* no such service running */
			if (err < 0)
				return dkctl_fail("asking the supervisor", err);
		}
	}
	if (o.stats && o.follow)
		return dkctl_usage_error("log", "--stats and --follow exclude each other");
	if (o.stats && (query_opts || o.query.pid || o.query.scope_prefix || o.query.min_severity))
		return dkctl_usage_error("log", "--stats takes no filter");
	if (o.follow && query_opts)
		return dkctl_usage_error("log", "--since and --limit do not apply to --follow");

	err = dk_log_connect(o.socket, "dkctl", dk_deadline_in(o.timeout_ns), &c);
	if (err < 0)
		return dkctl_fail(o.socket, err);
	if (o.stats)
		ret = do_stats(c, &o);
	else if (o.follow)
		ret = do_follow(c, &o);
	else
		ret = do_query(c, &o);
	dk_log_close(c);
	return ret;
}

const struct dkctl_command dkctl_log_command = {
	.name = "log",
	.summary = "query, follow (-f) or count (--stats) the dk-logd journal",
	.run = log_run,
	.usage = log_usage,
};
