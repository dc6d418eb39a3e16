/* SPDX-License-Identifier: MIT */
/*
 * dk-hwsim - the DriverKit emulated board (man/dk-hwsim.8, docs/hwsim.md).
 *
 * Reads the board configuration, builds the devices, connects to the journal when there is a
 * runtime directory, tells the supervisor it is ready (READY on the control socket) and serves
 * until SIGTERM or SIGINT. Exits 0 on a clean shutdown, 1 on a runtime error, 2 on bad usage
 * or a bad configuration.
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

#include "hwsim-board.h"

#define READY_TIMEOUT_NS (2 * DK_NSEC_PER_SEC)

static void usage(FILE *out)
{
	fprintf(out, "usage: dk-hwsim --config FILE [--runtime-dir DIR] [--channel-fd FD]\n");
}

static void report(void *data, const char *line)
{
	(void)data;
	fprintf(stderr, "dk-hwsim: %s\n", line);
}

static int parse_fd(const char *s, int *ret_fd)
{
	struct stat st;
	char *end;
	long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > INT_MAX)
		return -EINVAL;
	if (fstat((int)v, &st) < 0 || !S_ISSOCK(st.st_mode))
		return -EBADF;
	*ret_fd = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"runtime-dir", required_argument, NULL, 'r'},
		{"channel-fd", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct dk_hwsim_board_config bcfg = {
		.control_fd = -1,
		.channel_fd = -1,
		.report = report,
	};
	struct dk_hwsim_board_counters st;
	struct dk_hwsim_config_error cerr = {0};
	struct dk_hwsim_config cfg;
	struct dk_hwsim_board *b;
	const char *config = NULL, *dir = NULL;
	char logd[DK_RT_PATH_MAX];
	sigset_t mask;
	int opt, err, sfd;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'r':
			dir = optarg;
			break;
		case 'C':
			if (parse_fd(optarg, &bcfg.channel_fd) < 0) {
				fprintf(stderr, "dk-hwsim: --channel-fd %s: not a socket\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !config) {
		usage(stderr);
		return 2;
	}
	err = dk_hwsim_config_load(config, &cfg, &cerr);
	if (err == -EINVAL && cerr.line) {
		fprintf(stderr, "dk-hwsim: %s:%" PRIu32 ": %s\n", config, cerr.line, cerr.message);
		return 2;
	}
	if (err == -EINVAL) {
		fprintf(stderr, "dk-hwsim: %s: %s\n", config, cerr.message);
		return 2;
	}
	if (err < 0) {
		fprintf(stderr, "dk-hwsim: %s: %s\n", config, strerror(-err));
		return 2;
	}
	bcfg.devices = &cfg;

	/* The journal lives in the runtime directory; without one there is no journal. */
	if (!dir) {
		dir = getenv(DK_ENV_RUNTIME_DIR);
		if (dir && !*dir)
			dir = NULL;
	}
	if (dir) {
		if (dk_runtime_path(dir, DK_RT_LOGD_SOCKET, logd, sizeof(logd)) < 0) {
			fprintf(stderr, "dk-hwsim: runtime directory path too long: %s\n", dir);
			return 2;
		}
		bcfg.logd_path = logd;
	}
	err = dk_child_control_fd();
	if (err == -EBADF) {
		fprintf(stderr, "dk-hwsim: $%s does not name a socket\n", DK_ENV_SUPERVISOR_FD);
		return 1;
	}
	bcfg.control_fd = err >= 0 ? err : -1; /* -ENOENT: no supervisor */

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "dk-hwsim: signalfd: %s\n", strerror(errno));
		return 1;
	}
	err = dk_hwsim_board_create(&bcfg, &b);
	if (err < 0) {
		fprintf(stderr, "dk-hwsim: cannot build the board of %s: %s\n", config,
			strerror(-err));
		close(sfd);
		return 1;
	}
	if (bcfg.control_fd >= 0) {
		err = dk_hwsim_board_ready(b, dk_deadline_in(READY_TIMEOUT_NS));
		if (err < 0) {
			fprintf(stderr, "dk-hwsim: READY: %s\n", dk_strerror(err));
			dk_hwsim_board_destroy(b);
			close(sfd);
			return 1;
		}
	}
	err = dk_hwsim_board_run(b, sfd);
	dk_hwsim_board_counters(b, &st);
	fprintf(stderr,
		"dk-hwsim: stopping: %" PRIu64 " requests, %" PRIu64 " frames refused, %" PRIu64
		" control frames refused, %" PRIu64 " channels, %" PRIu64
		" journal records dropped\n",
		st.requests, st.refused, st.control_refused, st.channels, st.journal_dropped);
	dk_hwsim_board_destroy(b);
	close(sfd);
	if (err < 0) {
		fprintf(stderr, "dk-hwsim: %s\n", strerror(-err));
		return 1;
	}
	return 0;
}
