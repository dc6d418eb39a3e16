/* SPDX-License-Identifier: MIT */
/*
 * dk-broker - the DriverKit device registry (man/dk-broker.8, docs/broker.md).
 *
 * Parses the command line, blocks SIGTERM/SIGINT into a signalfd, listens on the broker socket,
 * tells the supervisor it is ready (READY on the control socket) and serves until SIGTERM or
 * SIGINT. Exits 0 on a clean shutdown, 1 on a runtime error, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/runtime.h>
#include <dk/time.h>

#include "broker.h"

#define READY_TIMEOUT_NS (5 * DK_NSEC_PER_SEC)

static void usage(FILE *out)
{
	fprintf(out, "usage: dk-broker --runtime-dir DIR\n"
		     "       dk-broker --socket PATH --policyd PATH [--logd PATH]\n"
		     "options: [--control-fd FD] [--max-clients N] [--session-timeout-ms MS]\n"
		     "         [--ready-fd FD]\n");
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void report(void *data, const char *line)
{
	(void)data;
	fprintf(stderr, "dk-broker: %s\n", line);
}

/* @buf = @dir/@name unless the option set it already. Returns 0 or -ENAMETOOLONG. */
static int default_path(const char **path, const char *dir, const char *name, char *buf)
{
	if (*path || !dir)
		return 0;
	*path = buf;
	return dk_runtime_path(dir, name, buf, DK_RT_PATH_MAX);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"runtime-dir", required_argument, NULL, 'r'},
		{"socket", required_argument, NULL, 's'},
		{"policyd", required_argument, NULL, 'p'},
		{"logd", required_argument, NULL, 'l'},
		{"control-fd", required_argument, NULL, 'c'},
		{"max-clients", required_argument, NULL, 'm'},
		{"session-timeout-ms", required_argument, NULL, 't'},
		{"ready-fd", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct dk_broker_config cfg = {
		.control_fd = -1,
		.max_clients = DK_BROKER_CLIENTS_MAX,
		.session_timeout_ns = DK_BROKER_SESSION_TIMEOUT_DEFAULT_NS,
		.report = report,
	};
	char sock[DK_RT_PATH_MAX], pol[DK_RT_PATH_MAX], logd[DK_RT_PATH_MAX];
	const char *dir = NULL;
	uint64_t v, ready_fd = UINT64_MAX, control_fd = UINT64_MAX;
	struct dk_broker_counters st;
	struct dk_broker *b;
	struct stat sb;
	sigset_t mask;
	int opt, err, sfd;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		err = 0;
		switch (opt) {
		case 'r':
			dir = optarg;
			break;
		case 's':
			cfg.socket_path = optarg;
			break;
		case 'p':
			cfg.policyd_path = optarg;
			break;
		case 'l':
			cfg.logd_path = optarg;
			break;
		case 'c':
			err = parse_u64(optarg, 0, INT_MAX, &control_fd);
			if (err == 0 && (fstat((int)control_fd, &sb) < 0 || !S_ISSOCK(sb.st_mode)))
				err = -EBADF;
			break;
		case 'm':
			err = parse_u64(optarg, 1, DK_BROKER_CLIENTS_MAX, &v);
			cfg.max_clients = (uint32_t)v;
			break;
		case 't':
			err = parse_u64(optarg, 1,
					DK_BROKER_SESSION_TIMEOUT_MAX_NS / DK_NSEC_PER_MSEC, &v);
			cfg.session_timeout_ns = v * DK_NSEC_PER_MSEC;
			break;
		case 'R':
			err = parse_u64(optarg, 0, INT_MAX, &ready_fd);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (err < 0) {
			fprintf(stderr, "dk-broker: invalid value for %s: %s\n", argv[optind - 1],
				optarg);
			return 2;
		}
	}
	/* Started by the supervisor: the runtime directory comes in the environment. */
	if (!dir && !cfg.socket_path)
		dir = getenv(DK_ENV_RUNTIME_DIR);
	if (default_path(&cfg.socket_path, dir, DK_RT_BROKER_SOCKET, sock) < 0 ||
	    default_path(&cfg.policyd_path, dir, DK_RT_POLICYD_SOCKET, pol) < 0 ||
	    default_path(&cfg.logd_path, dir, DK_RT_LOGD_SOCKET, logd) < 0) {
		fprintf(stderr, "dk-broker: runtime directory path too long: %s\n", dir);
		return 2;
	}
	if (optind != argc || !cfg.socket_path || !cfg.policyd_path) {
		usage(stderr);
		return 2;
	}
	if (control_fd != UINT64_MAX) {
		cfg.control_fd = (int)control_fd;
	} else {
		err = dk_child_control_fd();
		if (err == -EBADF) {
			fprintf(stderr, "dk-broker: $%s does not name a socket\n",
				DK_ENV_SUPERVISOR_FD);
			return 1;
		}
		cfg.control_fd = err >= 0 ? err : -1; /* -ENOENT: no supervisor, no devices */
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "dk-broker: signalfd: %s\n", strerror(errno));
		return 1;
	}
	err = dk_broker_create(&cfg, &b);
	if (err < 0) {
		fprintf(stderr, "dk-broker: cannot start on %s: %s\n", cfg.socket_path,
			strerror(-err));
		close(sfd);
		return 1;
	}
	if (cfg.control_fd >= 0) {
		err = dk_broker_ready(b, dk_deadline_in(READY_TIMEOUT_NS));
		if (err < 0) {
			fprintf(stderr, "dk-broker: READY: %s\n", dk_strerror(err));
			dk_broker_destroy(b);
			close(sfd);
			return 1;
		}
	}
	if (ready_fd != UINT64_MAX) {
		ssize_t w = write((int)ready_fd, "READY\n", 6);

		(void)w;
		close((int)ready_fd);
	}
	err = dk_broker_run(b, sfd);
	dk_broker_counters(b, &st);
	fprintf(stderr,
		"dk-broker: stopping: %" PRIu64 " opens, %" PRIu64 " denials, %" PRIu64
		" failed, %" PRIu64 " audited, %" PRIu64 " unaudited, %" PRIu64
		" policy unreachable, %" PRIu64 " frames refused, %" PRIu64 " clients refused\n",
		st.opens, st.denials, st.failures, st.audited, st.unaudited, st.policy_unreachable,
		st.refused, st.clients_refused);
	dk_broker_destroy(b);
	close(sfd);
	if (err < 0) {
		fprintf(stderr, "dk-broker: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
