/* SPDX-License-Identifier: MIT */
/*
 * dk-supervisor - the init of a DriverKit stack (man/dk-supervisor.8, docs/supervisor.md).
 *
 * Parses the command line and the manifest, resolves every service's executable, blocks
 * SIGTERM/SIGINT/SIGHUP into a signalfd and runs the supervisor until the stack has been shut
 * down. Exits 0 after a clean shutdown, 1 on a runtime error, 2 on bad usage or a bad manifest.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "manifest.h"
#include "supervisor.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: dk-supervisor --manifest FILE [--runtime-dir DIR]\n"
		     "                     [--bin-path DIR[:DIR...]] [--ready-fd FD]\n");
}

static int parse_fd(const char *s, int *ret)
{
	char *end;
	long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v > INT_MAX || fcntl((int)v, F_GETFD) < 0)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

static void report(void *data, const char *line)
{
	(void)data;
	fprintf(stderr, "dk-supervisor: %s\n", line);
}

/* The directory of this executable, for finding the stack's binaries beside it. */
static void self_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	char *slash;

	buf[0] = '\0';
	if (n <= 0)
		return;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
	else
		buf[0] = '\0';
}

/* Make sure descriptors 0..2 are open, so no socket of ours can take one of their numbers. */
static int std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			return -EBADF;
	}
	return 0;
}

/* Resolve every exec value; a failure is reported as a manifest error. */
static int resolve_all(const char *manifest_path, const struct dk_supd_manifest *m,
		       const char *bin_path, char (*exec)[PATH_MAX])
{
	char mdir[PATH_MAX], sdir[PATH_MAX];
	int err;

	err = dk_supd_manifest_dir(manifest_path, mdir, sizeof(mdir));
	if (err < 0) {
		fprintf(stderr, "dk-supervisor: %s: %s\n", manifest_path, strerror(-err));
		return err;
	}
	self_dir(sdir, sizeof(sdir));
	for (uint32_t i = 0; i < m->n_services; i++) {
		const struct dk_supd_service_cfg *s = &m->services[i];

		err = dk_supd_resolve_exec(s->exec, mdir, bin_path, sdir[0] ? sdir : NULL, exec[i],
					   PATH_MAX);
		if (err < 0) {
			fprintf(stderr, "dk-supervisor: %s:%u: service '%s': exec '%s': %s\n",
				manifest_path, s->exec_line, s->name, s->exec,
				err == -ENOENT ? "not found (searched --bin-path, $DK_BIN_PATH "
						 "and the supervisor's directory)"
					       : strerror(-err));
			return err;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"manifest", required_argument, NULL, 'm'},
		{"runtime-dir", required_argument, NULL, 'r'},
		{"bin-path", required_argument, NULL, 'b'},
		{"ready-fd", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *manifest_path = NULL, *runtime_dir = NULL, *bin_path = NULL;
	struct dk_supd_config cfg = {.ready_fd = -1, .report = report};
	struct dk_supd_manifest_error merr = {0};
	struct dk_supd_manifest *m = NULL;
	char (*exec)[PATH_MAX] = NULL;
	struct dk_supd *s;
	sigset_t mask;
	int opt, err, sfd, ret = 1;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			manifest_path = optarg;
			break;
		case 'r':
			runtime_dir = optarg;
			break;
		case 'b':
			bin_path = optarg;
			break;
		case 'R':
			if (parse_fd(optarg, &cfg.ready_fd) < 0) {
				fprintf(stderr, "dk-supervisor: invalid value for %s: %s\n",
					argv[optind - 1], optarg);
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
	if (optind != argc || !manifest_path) {
		usage(stderr);
		return 2;
	}
	if (runtime_dir && runtime_dir[0] != '/') {
		fprintf(stderr, "dk-supervisor: --runtime-dir must be an absolute path\n");
		return 2;
	}
	if (std_fds() < 0)
		return 1;
	/* The ready descriptor must not leak into the services. */
	if (cfg.ready_fd >= 0)
		fcntl(cfg.ready_fd, F_SETFD, FD_CLOEXEC);

	err = dk_supd_manifest_load(manifest_path, &m, &merr);
	if (err < 0) {
		if (merr.line)
			fprintf(stderr, "dk-supervisor: %s:%u: %s\n", manifest_path, merr.line,
				merr.message);
		else
			fprintf(stderr, "dk-supervisor: %s: %s\n", manifest_path,
				merr.message[0] ? merr.message : strerror(-err));
		return 2;
	}
	exec = calloc(m->n_services, sizeof(*exec));
	if (!exec)
		goto out_free;
	if (resolve_all(manifest_path, m, bin_path, exec) < 0) {
		ret = 2;
		goto out_free;
	}
	cfg.manifest = m;
	for (uint32_t i = 0; i < m->n_services; i++)
		cfg.exec[i] = exec[i];
	cfg.runtime_dir = runtime_dir;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		goto out_free;
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "dk-supervisor: signalfd: %s\n", strerror(errno));
		goto out_free;
	}
	err = dk_supd_create(&cfg, &s);
	if (err < 0) {
		fprintf(stderr, "dk-supervisor: cannot take the runtime directory %s: %s\n",
			runtime_dir ? runtime_dir : "(default)",
			err == -EADDRINUSE ? "another supervisor serves it" : strerror(-err));
		close(sfd);
		goto out_free;
	}
	err = dk_supd_run(s, sfd);
	dk_supd_destroy(s);
	close(sfd);
	if (err < 0)
		fprintf(stderr, "dk-supervisor: %s\n",
			err == -ENODEV ? "a core service failed for good; the stack was shut down"
				       : strerror(-err));
	ret = err < 0 ? 1 : 0;
out_free:
	free(exec);
	free(m);
	return ret;
}
