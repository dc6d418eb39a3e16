/* SPDX-License-Identifier: MIT */
/*
 * Peer processes for cross-process figures: fork, die with the parent, pin, report, reap.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/time.h>

#include "bench.h"

/* How long a child that was not killed may take to exit after the parent is done with it. */
#define PEER_EXIT_NS (5ull * DK_NSEC_PER_SEC)

/* A page shared with the child: written by the child before it exits, read after reaping. */
struct bench_peer_shared {
	struct bench_error error;
};

int bench_fail(struct bench_error *error, int err, const char *fmt, ...)
{
	char what[192];
	va_list ap;

	if (error->msg[0])
		return err; /* the first error is the cause, the rest are consequences */
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(error->msg, sizeof(error->msg), "%s: %s", what, dk_strerror(err));
	return err;
}

void bench_sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / DK_NSEC_PER_SEC),
		.tv_nsec = (long)(ns % DK_NSEC_PER_SEC),
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int bench_pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	return 0;
}

static _Noreturn void child_main(const struct bench_opts *opts, pid_t parent,
				 struct bench_peer_shared *shared, bench_child_fn fn, void *arg)
{
	int ret;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
		bench_fail(&shared->error, -errno, "child: prctl(PR_SET_PDEATHSIG)");
		_exit(1);
	}
	if (getppid() != parent)
		_exit(1); /* the parent died before prctl() took effect */
	if (opts->pin) {
		ret = bench_pin_self(1);
		if (ret < 0) {
			bench_fail(&shared->error, ret, "child: pin to CPU 1");
			_exit(1);
		}
	}
	ret = fn(arg, &shared->error);
	/* _exit: never flush stdio buffers inherited from the parent. */
	_exit(ret < 0 ? 1 : 0);
}

int bench_peer_start(const struct bench_opts *opts, bench_child_fn fn, void *arg,
		     struct bench_peer *ret_peer, struct bench_error *error)
{
	struct bench_peer_shared *shared;
	pid_t parent = getpid(), pid;

	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	if (shared == MAP_FAILED)
		return bench_fail(error, -errno, "mmap peer page");
	memset(shared, 0, sizeof(*shared));
	/* Nothing buffered may be written twice. */
	if (fflush(stdout) == EOF || fflush(stderr) == EOF) {
		munmap(shared, sizeof(*shared));
		return bench_fail(error, -EIO, "fflush");
	}
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		munmap(shared, sizeof(*shared));
		return bench_fail(error, err, "fork");
	}
	if (pid == 0)
		child_main(opts, parent, shared, fn, arg);
	ret_peer->pid = pid;
	ret_peer->shared = shared;
	return 0;
}

static int reap(pid_t pid, bool kill_it, int *ret_status)
{
	uint64_t deadline = dk_deadline_in(PEER_EXIT_NS);
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 1000 * 1000};
	pid_t r;

	if (kill_it && kill(pid, SIGKILL) < 0 && errno != ESRCH)
		return -errno;
	for (;;) {
		r = waitpid(pid, ret_status, kill_it ? 0 : WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r == 0 && dk_now_ns() >= deadline) {
			/* Every wait of a child has a deadline, so this is a bug: do not hang. */
			if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
				return -errno;
			kill_it = true;
		}
		if (r == 0)
			nanosleep(&tick, NULL);
	}
}

/* Add what the child reported to @error: the cause when the parent saw nothing wrong. */
static void note_child_error(struct bench_error *error, const char *child_msg)
{
	size_t len = strlen(error->msg);

	if (!child_msg[0])
		return;
	if (!len)
		snprintf(error->msg, sizeof(error->msg), "%s", child_msg);
	else if (len + sizeof(" (peer: )") < sizeof(error->msg))
		snprintf(error->msg + len, sizeof(error->msg) - len, " (peer: %.*s)",
			 (int)(sizeof(error->msg) - len - sizeof(" (peer: )")), child_msg);
}

int bench_peer_finish(struct bench_peer *peer, bool kill_it, struct bench_error *error)
{
	int status = 0, ret;

	if (peer->pid <= 0)
		return 0;
	ret = reap(peer->pid, kill_it, &status);
	peer->pid = 0;
	if (ret < 0) {
		bench_fail(error, ret, "waitpid");
	} else if (!kill_it && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		ret = -EIO;
		if (!peer->shared->error.msg[0] && WIFSIGNALED(status))
			bench_fail(error, ret, "peer killed by signal %d", WTERMSIG(status));
		else if (!peer->shared->error.msg[0])
			bench_fail(error, ret, "peer exited with status %d", WEXITSTATUS(status));
	}
	note_child_error(error, peer->shared->error.msg);
	munmap(peer->shared, sizeof(*peer->shared));
	peer->shared = NULL;
	return ret;
}

/* utime + stime of @pid from /proc/<pid>/stat (fields 14 and 15, in clock ticks). */
static int proc_stat_cpu_ns(pid_t pid, uint64_t *ret_ns)
{
	char path[64], buf[1024], *p;
	unsigned long long utime, stime;
	long tick = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may contain spaces and parentheses: parse after the last ')'. */
	p = strrchr(buf, ')');
	if (!p || tick <= 0 ||
	    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
		   &stime) != 2)
		return -EPROTO;
	*ret_ns = (utime + stime) * (DK_NSEC_PER_SEC / (uint64_t)tick);
	return 0;
}

int bench_cpu_ns(pid_t pid, uint64_t *ret_ns)
{
	clockid_t clk = CLOCK_PROCESS_CPUTIME_ID;
	struct timespec ts;

	if ((pid == 0 || clock_getcpuclockid(pid, &clk) == 0) && clock_gettime(clk, &ts) == 0) {
		*ret_ns = (uint64_t)ts.tv_sec * DK_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
		return 0;
	}
	return proc_stat_cpu_ns(pid ? pid : getpid(), ret_ns);
}

int bench_rss_kib(pid_t pid, uint64_t *ret_kib)
{
	char path[64], line[256];
	unsigned long long kib;
	int ret = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "VmRSS: %llu kB", &kib) == 1) {
			*ret_kib = kib;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}
