/* SPDX-License-Identifier: MIT */
/*
 * dk-logd - the DriverKit audit journal daemon (man/dk-logd.8, docs/logd.md).
 *
 * Parses the command line, blocks SIGTERM/SIGINT into a signalfd, and runs the journal server
 * until one arrives. Exits 0 on a clean shutdown, 1 on a runtime error, 2 on bad usage.
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
#include <unistd.h>

#include <dk/error.h>
#include <dk/runtime.h>
#include <dk/time.h>

#include "logd.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: dk-logd --socket PATH --dir DIR [--capacity N] [--file-size BYTES]\n"
		"               [--quota BYTES] [--rate N] [--burst N] [--max-clients N]\n"
		"               [--ready-fd FD]\n");
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"dir", required_argument, NULL, 'd'},
		{"capacity", required_argument, NULL, 'c'},
		{"file-size", required_argument, NULL, 'f'},
		{"quota", required_argument, NULL, 'q'},
		{"rate", required_argument, NULL, 'r'},
		{"burst", required_argument, NULL, 'b'},
		{"max-clients", required_argument, NULL, 'm'},
		{"ready-fd", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct dk_logd_config cfg;
	struct dk_logd *d;
	uint64_t v, ready_fd = UINT64_MAX;
	sigset_t mask;
	int opt, err, sfd;

	dk_logd_config_defaults(&cfg);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		err = 0;
		switch (opt) {
		case 's':
			cfg.socket_path = optarg;
			break;
		case 'd':
			cfg.dir = optarg;
			break;
		case 'c':
			err = parse_u64(optarg, UINT32_MAX, &v);
			cfg.capacity = (uint32_t)v;
			break;
		case 'f':
			err = parse_u64(optarg, UINT64_MAX, &cfg.file_size);
			break;
		case 'q':
			err = parse_u64(optarg, UINT64_MAX, &cfg.quota);
			break;
		case 'r':
			err = parse_u64(optarg, UINT32_MAX, &v);
			cfg.rate = (uint32_t)v;
			break;
		case 'b':
			err = parse_u64(optarg, UINT32_MAX, &v);
			cfg.burst = (uint32_t)v;
			break;
		case 'm':
			err = parse_u64(optarg, UINT32_MAX, &v);
			cfg.max_clients = (uint32_t)v;
			break;
		case 'R':
			err = parse_u64(optarg, INT_MAX, &ready_fd);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (err < 0) {
			fprintf(stderr, "dk-logd: invalid value for %s: %s\n",
				argv[optind - 1], optarg);
			return 2;
		}
	}
	if (optind != argc || !cfg.socket_path || !cfg.dir) {
		usage(stderr);
		return 2;
	}
	if (dk_logd_config_check(&cfg) < 0) {
		fprintf(stderr, "dk-logd: invalid configuration: capacity 1..%u, file size "
				"%llu..%llu, quota >= 2 * file size and <= %u files, rate <= %u, "
				"burst 1..%u, max clients 1..%u\n",
			DK_LOGD_CAPACITY_MAX, DK_LOGD_FILE_SIZE_MIN, DK_LOGD_FILE_SIZE_MAX,
			DK_LOGD_FILES_MAX, DK_LOGD_RATE_MAX, DK_LOGD_BURST_MAX,
			DK_LOGD_CLIENTS_MAX);
		return 2;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "dk-logd: signalfd: %s\n", strerror(errno));
		return 1;
	}
	err = dk_logd_create(&cfg, &d);
	if (err < 0) {
		fprintf(stderr, "dk-logd: cannot start on %s (journal %s): %s\n", cfg.socket_path,
			cfg.dir, strerror(-err));
		close(sfd);
		return 1;
	}
	if (ready_fd != UINT64_MAX) {
		/* Listening: tell whoever started us, then let go of the descriptor. */
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
	err = dk_logd_run(d, sfd);
	dk_logd_destroy(d);
	close(sfd);
	if (err < 0) {
		fprintf(stderr, "dk-logd: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
