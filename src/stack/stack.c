/* SPDX-License-Identifier: MIT */
/*
 * stack.c - start and stop a private stack (stack.h): find the binaries, write a default
 * manifest and policy when none is given, run dk-supervisor as a child and wait for its ready
 * notification.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dk/dk.h>

#include "stack.h"

/* The binaries, relative to this executable: installed side by side, or the build tree. */
static const char *const build_dirs[] = {
	"../../daemons/supervisor", "../../daemons/logd", "../../daemons/policyd",
	"../../daemons/broker",     "../../daemons/hwsim",      "../../services/null",
	"../../services/copy",
};

int dk_stack_bin_path(char *buf, size_t size)
{
	char exe[PATH_MAX], probe[PATH_MAX + 64], *slash;
	const char *env = getenv("DK_BIN_PATH");
	ssize_t n;
	size_t len = 0;

	if (env && *env) {
		if (strlen(env) >= size)
			return -ENAMETOOLONG;
		strcpy(buf, env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	buf[0] = '\0';
	snprintf(probe, sizeof(probe), "%s/../../daemons/supervisor/dk-supervisor", exe);
	if (access(probe, X_OK) == 0) {
		for (size_t i = 0; i < sizeof(build_dirs) / sizeof(build_dirs[0]); i++) {
			int k = snprintf(buf + len, size - len, "%s%s/%s", len ? ":" : "", exe,
					 build_dirs[i]);

			if (k < 0 || (size_t)k >= size - len)
				return -ENAMETOOLONG;
			len += (size_t)k;
		}
		return 0;
	}
	if ((size_t)snprintf(buf, size, "%s:%s/../sbin:%s/../libexec/driverkit", exe, exe, exe) >=
	    size)
		return -ENAMETOOLONG;
	return 0;
}

/* The first directory of @path holding an executable @name. */
static int find_exe(const char *path, const char *name, char *out, size_t size)
{
	const char *p = path;

	while (*p) {
		const char *end = strchr(p, ':');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len && (size_t)snprintf(out, size, "%.*s/%s", (int)len, p, name) < size &&
		    access(out, X_OK) == 0)
			return 0;
		p += len + (end ? 1 : 0);
	}
	return -ENOENT;
}

int dk_stack_find_bin(const char *name, char *out, size_t size)
{
	char path[4096];
	int err = dk_stack_bin_path(path, sizeof(path));

	return err < 0 ? err : find_exe(path, name, out, size);
}

static int write_file(const char *dir, const char *name, const char *text, char *path,
		      size_t size)
{
	FILE *f;

	if ((size_t)snprintf(path, size, "%s/%s", dir, name) >= size)
		return -ENAMETOOLONG;
	f = fopen(path, "wx");
	if (!f)
		return -errno;
	fputs(text, f);
	if (fclose(f) != 0)
		return -EIO;
	return 0;
}

int dk_stack_write_config(struct dk_stack *st, const char *conf_dir)
{
	return dk_stack_write_config_ex(st, conf_dir, 0);
}

int dk_stack_write_config_ex(struct dk_stack *st, const char *conf_dir, uint32_t flags)
{
	bool copy = flags & DK_STACK_COPY, fast = flags & DK_STACK_FAST_RESTART;
	char text[4 * PATH_MAX], copy_rules[1024];
	int n;
	int err;

	if (flags & ~(DK_STACK_COPY | DK_STACK_FAST_RESTART))
		return -EINVAL;
	if (copy) {
		err = write_file(conf_dir, "hwsim.ini",
				 "; Written by DriverKit tools: the emulated board.\n"
				 "[device copy0]\nmodel = copy\n",
				 st->hwsim, sizeof(st->hwsim));
		if (err < 0)
			return err;
		st->wrote_hwsim = true;
	}
	n = snprintf(text, sizeof(text),
		 "; Written by DriverKit tools: the default stack%s.\n"
		 "[stack]\n"
		 "%s"
		 "policy = %s/policy.conf\n"
		 "\n[service logd]\nkind = logd\nexec = dk-logd\n"
		 "\n[service policyd]\nkind = policyd\nexec = dk-policyd\n"
		 "%s%s"
		 "\n[service broker]\nkind = broker\nexec = dk-broker\n"
		 "\n[service null]\nkind = device\nexec = dk-null\ndevice = null0\nclass = null\n"
		 "%s",
		 copy ? ": a null device and a copy engine on the emulated board" : ", one null device",
		 fast ? "restart_delay_ms = 1\nrestart_delay_max_ms = 1\nrestart_window_ms = 1\n" : "",
		 conf_dir, copy ? "\n[service hwsim]\nkind = hwsim\nexec = dk-hwsim\nconfig = " : "",
		 copy ? st->hwsim : "",
		 copy ? "\n\n[service copy]\nkind = device\nexec = dk-copy\ndevice = copy0\n"
			"class = copy\n"
		      : "");
	if (n < 0 || (size_t)n >= sizeof(text))
		return -ENAMETOOLONG;
	err = write_file(conf_dir, "manifest.ini", text, st->manifest, sizeof(st->manifest));
	if (err < 0)
		return err;
	st->wrote_manifest = true;
	copy_rules[0] = '\0';
	if (copy)
		snprintf(copy_rules, sizeof(copy_rules),
			 "\n[rule copy-service]\nservice = copy\ndevice = copy0\n"
			 "rights = read, write, map, wait, signal, transfer\nqos = burst\n"
			 "max_bytes = 1G\nmax_buffers = 1024\nmax_inflight = 4096\nmax_fences = 1024\n"
			 "\n[rule user-copy]\nuid = %u\nclass = copy\n"
			 "rights = read, write, map, wait, signal, transfer\nqos = burst\n"
			 "max_bytes = 256M\nmax_buffers = 64\nmax_inflight = 256\nmax_fences = 64\n",
			 (unsigned)getuid());
	snprintf(text, sizeof(text),
		 "; Written by DriverKit tools: deny by default; each service drives its device, and\n"
		 "; this user (uid %u) may open any null-class%s device.\n"
		 "[rule null-service]\nservice = null\ndevice = null0\n"
		 "rights = read, write, map, wait, signal, transfer\nqos = burst\n"
		 "max_bytes = 1G\nmax_buffers = 1024\nmax_inflight = 4096\nmax_fences = 1024\n"
		 "\n[rule user-null]\nuid = %u\nclass = null\n"
		 "rights = read, write, map, wait, signal, transfer\nqos = burst\n"
		 "max_bytes = 256M\nmax_buffers = 64\nmax_inflight = 256\nmax_fences = 64\n"
		 "%s",
		 (unsigned)getuid(), copy ? " and copy-class" : "", (unsigned)getuid(), copy_rules);
	err = write_file(conf_dir, "policy.conf", text, st->policy, sizeof(st->policy));
	if (err < 0)
		return err;
	st->wrote_policy = true;
	return 0;
}

int dk_stack_start(struct dk_stack *st, uint64_t deadline_ns)
{
	char bin_path[4 * PATH_MAX], exe[PATH_MAX + 64], line[16];
	int pipefd[2], err;
	pid_t pid;

	err = dk_stack_bin_path(bin_path, sizeof(bin_path));
	if (err < 0)
		return err;
	if (find_exe(bin_path, "dk-supervisor", exe, sizeof(exe)) < 0) {
		fprintf(stderr, "dk-supervisor not found in %s (set DK_BIN_PATH)\n",
			bin_path);
		return -ENOENT;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return err;
	}
	if (pid == 0) {
		char fdbuf[16];

		snprintf(fdbuf, sizeof(fdbuf), "%d", pipefd[1]);
		fcntl(pipefd[1], F_SETFD, 0);
		if (st->quiet) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

			if (null >= 0) {
				dup2(null, STDOUT_FILENO);
				dup2(null, STDERR_FILENO);
			}
		}
		execl(exe, "dk-supervisor", "--manifest", st->manifest, "--runtime-dir",
		      st->runtime_dir, "--bin-path", bin_path, "--ready-fd", fdbuf, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	st->pid = pid;
	/* READY\n, or EOF when the supervisor gave up (its reason is on stderr). */
	err = dk_socket_wait(pipefd[0], POLLIN, deadline_ns);
	if (err == 0) {
		ssize_t n = read(pipefd[0], line, sizeof(line) - 1);

		err = n >= 5 && memcmp(line, "READY", 5) == 0 ? 0 : -ECHILD;
	}
	close(pipefd[0]);
	if (err < 0) {
		dk_stack_stop(st, dk_now_ns() + 5 * DK_NSEC_PER_SEC, NULL);
		return err;
	}
	return 0;
}

int dk_stack_stop(struct dk_stack *st, uint64_t deadline_ns, int *ret_status)
{
	int status = 0;
	pid_t r = 0;

	if (st->pid > 0) {
		int pidfd = (int)syscall(SYS_pidfd_open, st->pid, 0);

		kill(st->pid, SIGTERM);
		/* The supervisor bounds its own shutdown; this bounds waiting for it. */
		if (pidfd >= 0) {
			dk_socket_wait(pidfd, POLLIN, deadline_ns);
			close(pidfd);
		}
		r = waitpid(st->pid, &status, WNOHANG);
		if (r == 0) {
			kill(st->pid, SIGKILL);
			waitpid(st->pid, &status, 0);
		}
		st->pid = 0;
	}
	if (st->wrote_manifest)
		unlink(st->manifest);
	if (st->wrote_policy)
		unlink(st->policy);
	if (st->wrote_hwsim)
		unlink(st->hwsim);
	if (st->made_dir)
		rmdir(st->runtime_dir);
	st->wrote_manifest = st->wrote_policy = st->wrote_hwsim = st->made_dir = false;
	if (ret_status)
		*ret_status = status;
	return r == 0 ? -ETIMEDOUT : 0;
}

int dk_stack_start_private(struct dk_stack *st, const char *template, uint32_t flags,
			   uint64_t deadline_ns)
{
	int err;

	memset(st, 0, sizeof(*st));
	if (strlen(template) >= sizeof(st->runtime_dir))
		return -ENAMETOOLONG;
	strcpy(st->runtime_dir, template);
	if (!mkdtemp(st->runtime_dir))
		return -errno;
	st->made_dir = true;
	st->quiet = flags & DK_STACK_QUIET;
	err = dk_stack_write_config_ex(st, st->runtime_dir, flags & ~DK_STACK_QUIET);
	if (err == 0)
		err = dk_stack_start(st, deadline_ns);
	if (err < 0)
		dk_stack_stop(st, deadline_ns, NULL);
	return err;
}
