/* SPDX-License-Identifier: MIT */
/*
 * dk-policyd - the DriverKit policy authority (man/dk-policyd.8, docs/policy.md).
 *
 * Parses the command line, blocks SIGTERM/SIGINT/SIGHUP into a signalfd, loads the policy and
 * answers CHECK requests until SIGTERM or SIGINT. SIGHUP reloads the policy file. Exits 0 on a
 * clean shutdown, 1 on a runtime error (including an invalid policy at start), 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <dk/policy.h>
#include <dk/runtime.h>
#include <dk/time.h>

#include "policyd.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: dk-policyd --socket PATH --policy FILE [--logd PATH]\n"
		     "                  [--askers UID[,UID...]] [--max-clients N]\n"
		     "                  [--ready-fd FD]\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret, char **ret_end)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > max || (!ret_end && *end))
		return -EINVAL;
	if (ret_end)
		*ret_end = end;
	*ret = v;
	return 0;
}

static int parse_askers(const char *s, struct dk_policyd_config *cfg)
{
	cfg->n_askers = 0;
	for (;;) {
		uint64_t v;
		char *end;

		if (cfg->n_askers == DK_POLICYD_ASKERS_MAX ||
		    parse_u64(s, UINT32_MAX - 1, &v, &end) < 0)
			return -EINVAL;
		cfg->askers[cfg->n_askers++] = (uint32_t)v;
		if (*end == '\0')
			return 0;
		if (*end != ',')
			return -EINVAL;
		s = end + 1;
	}
}

static void report(void *data, const char *line)
{
	(void)data;
	fprintf(stderr, "dk-policyd: %s\n", line);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"policy", required_argument, NULL, 'p'},
		{"logd", required_argument, NULL, 'l'},
		{"askers", required_argument, NULL, 'a'},
		{"max-clients", required_argument, NULL, 'm'},
		{"ready-fd", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct dk_policyd_config cfg = {
		.max_clients = DK_POLICYD_CLIENTS_DEFAULT,
		.report = report,
	};
	struct dk_policy_error perr = {0};
	struct dk_policyd *d;
	uint64_t v, ready_fd = UINT64_MAX;
	sigset_t mask;
	int opt, err, sfd;

	/* By default only our own uid may ask (the broker runs as the same user). */
	cfg.askers[0] = (uint32_t)getuid();
	cfg.n_askers = 1;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		err = 0;
		switch (opt) {
		case 's':
			cfg.socket_path = optarg;
			break;
		case 'p':
			cfg.policy_path = optarg;
			break;
		case 'l':
			cfg.logd_path = optarg;
			break;
		case 'a':
			err = parse_askers(optarg, &cfg);
			break;
		case 'm':
			err = parse_u64(optarg, DK_POLICYD_CLIENTS_MAX, &v, NULL);
			cfg.max_clients = (uint32_t)v;
			if (err == 0 && v == 0)
				err = -EINVAL;
			break;
		case 'R':
			err = parse_u64(optarg, INT_MAX, &ready_fd, NULL);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (err < 0) {
			fprintf(stderr, "dk-policyd: invalid value for %s: %s\n", argv[optind - 1],
				optarg);
			return 2;
		}
	}
	if (optind != argc || !cfg.socket_path || !cfg.policy_path) {
		usage(stderr);
		return 2;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "dk-policyd: signalfd: %s\n", strerror(errno));
		return 1;
	}
	err = dk_policyd_create(&cfg, &d, &perr);
	if (err < 0) {
		if (perr.message[0] && perr.line)
			fprintf(stderr, "dk-policyd: %s:%u: %s\n", cfg.policy_path, perr.line,
				perr.message);
		else if (perr.message[0])
			fprintf(stderr, "dk-policyd: %s: %s\n", cfg.policy_path, perr.message);
		else
			fprintf(stderr, "dk-policyd: cannot start on %s: %s\n", cfg.socket_path,
				strerror(-err));
		close(sfd);
		return 1;
	}
	if (ready_fd != UINT64_MAX) {
		/* Listening with a policy in force: tell whoever started us, then let go. */
		ssize_t w = write((int)ready_fd, "READY\n", 6);

		(void)w;
		close((int)ready_fd);
	}
	if (dk_child_control_fd() >= 0) {
		/* Started by dk-supervisor: READY on the control socket (docs/supervisor.md). */
		err = dk_child_ready(dk_deadline_in(DK_NSEC_PER_SEC));
		if (err < 0)
			fprintf(stderr, "%s: cannot tell the supervisor: %s\n", argv[0],
				strerror(-err));
	}
	err = dk_policyd_run(d, sfd);
	dk_policyd_destroy(d);
	close(sfd);
	if (err < 0) {
		fprintf(stderr, "dk-policyd: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
