/* SPDX-License-Identifier: MIT */
/*
 * service.c - one supervised service: spawn (socketpairs, environment, exec), READY, death
 * (drain, reap, report), the restart policy and the timers behind it.
 *
 * Death is seen on a pidfd; the exit status comes from waitpid() on that pid right after, so
 * nothing else (no SIGCHLD handler) reaps our children.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dk/time.h>
#include <dk/wire.h>

#include "supervisor-internal.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1u << 2)
#endif

/* Longest argv: exec, seven set by kind, the manifest's args, NULL. */
#define ARGV_MAX (1 + 7 + DK_SUPD_ARGS_MAX + 1)

static bool is_device(const struct dk_supd_service *v)
{
	return v->cfg->kind == DK_SUPD_KIND_DEVICE;
}

static struct dk_supd_service *broker(struct dk_supd *s)
{
	return &s->svcs[s->broker];
}

/* What a device needs running before it starts: the broker, and dk-hwsim when there is one. */
static bool deps_running(struct dk_supd *s)
{
	return broker(s)->state == DK_SERVICE_RUNNING &&
	       (s->hwsim < 0 || s->svcs[s->hwsim].state == DK_SERVICE_RUNNING);
}

/* ---- timers ---- */

static void arm_timer(struct dk_supd_service *v, enum dk_supd_timer what, uint64_t ms)
{
	struct itimerspec its = {0};

	its.it_value.tv_sec = (time_t)(ms / 1000);
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (ms == 0)
		its.it_value.tv_nsec = 1; /* 0 would disarm */
	timerfd_settime(v->timer_fd, 0, &its, NULL);
	v->timer = what;
}

static void disarm_timer(struct dk_supd_service *v)
{
	struct itimerspec its = {0};

	if (v->timer_fd >= 0)
		timerfd_settime(v->timer_fd, 0, &its, NULL);
	v->timer = DK_SUPD_TIMER_NONE;
}

/* ---- init / finish ---- */

int dk_supd_service_init(struct dk_supd *s, struct dk_supd_service *v, uint32_t index)
{
	int err;

	memset(v, 0, sizeof(*v));
	v->timer_fd = -1;
	v->cfg = &s->m->services[index];
	v->exec = s->cfg.exec[index];
	v->index = index;
	v->state = DK_SERVICE_STOPPED;
	v->pidfd = v->ctl_fd = v->broker_peer_fd = -1;
	v->last_exit = -1;
	v->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (v->timer_fd < 0)
		return -errno;
	v->crash_ns = calloc(s->m->restart_limit + 1u, sizeof(*v->crash_ns));
	if (!v->crash_ns)
		return -ENOMEM;
	err = dk_supd_watch(s, v->timer_fd, DK_SUPD_EV(DK_SUPD_EV_TIMER, index));
	return err;
}

static void close_fd(struct dk_supd *s, int *fd, bool watched)
{
	if (*fd < 0)
		return;
	if (watched)
		dk_supd_unwatch(s, *fd);
	close(*fd);
	*fd = -1;
}

/* Decode a wait status into last_exit / last_signal. */
static void note_status(struct dk_supd_service *v, int status, bool known)
{
	v->last_exit = -1;
	v->last_signal = 0;
	if (!known)
		return;
	if (WIFEXITED(status))
		v->last_exit = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		v->last_signal = (uint32_t)WTERMSIG(status);
}

void dk_supd_service_finish(struct dk_supd *s, struct dk_supd_service *v)
{
	if (!v->cfg)
		return; /* never initialised, or finished already */
	if (v->pid > 0) {
		int status;

		/* Last resort (the orderly path stopped it already): bounded by SIGKILL. */
		kill(v->pid, SIGKILL);
		if (v->pidfd >= 0) {
			struct pollfd pfd = {.fd = v->pidfd, .events = POLLIN};

			poll(&pfd, 1, 5000);
		}
		waitpid(v->pid, &status, WNOHANG);
		v->pid = 0;
		if (v->ctl_fd >= 0)
			dk_supd_control_read(s, v, 0);
	}
	dk_supd_registry_reap(v, NULL);
	free(v->fences);
	v->fences = NULL;
	close_fd(s, &v->pidfd, true);
	close_fd(s, &v->ctl_fd, true);
	close_fd(s, &v->broker_peer_fd, false);
	close_fd(s, &v->timer_fd, true);
	free(v->crash_ns);
	v->crash_ns = NULL;
	v->cfg = NULL;
}

/* ---- spawn ---- */

/* The child between fork and exec: only the descriptors and environment it is meant to have. */
__attribute__((noreturn)) static void child_exec(struct dk_supd *s, struct dk_supd_service *v,
						 char **argv, int ctl, int bfd, pid_t parent)
{
	char num[24];
	sigset_t none;
	int fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL); /* an ignored signal stays ignored across exec */
	/* If the supervisor dies without its orderly shutdown, so does the stack. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (s->nofile_raised)
		setrlimit(RLIMIT_NOFILE, &s->nofile);
	/* Out of the terminal's process group: only the supervisor decides who stops. */
	setpgid(0, 0);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
		_exit(127);
	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
		long max = sysconf(_SC_OPEN_MAX);

		for (int i = 3; i < (max > 0 && max < 65536 ? max : 65536); i++)
			fcntl(i, F_SETFD, FD_CLOEXEC);
	}
	if (fcntl(ctl, F_SETFD, 0) < 0 || (bfd >= 0 && fcntl(bfd, F_SETFD, 0) < 0))
		_exit(127);
	snprintf(num, sizeof(num), "%d", ctl);
	setenv(DK_ENV_SUPERVISOR_FD, num, 1);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)v->generation);
	setenv(DK_ENV_GENERATION, num, 1);
	setenv(DK_ENV_RUNTIME_DIR, s->rt, 1);
	setenv(DK_ENV_SERVICE, v->cfg->name, 1);
	if (bfd >= 0) {
		snprintf(num, sizeof(num), "%d", bfd);
		setenv(DK_ENV_BROKER_FD, num, 1);
		setenv(DK_ENV_DEVICE, v->cfg->device, 1);
		setenv(DK_ENV_DEVICE_CLASS, v->cfg->device_class, 1);
	} else {
		unsetenv(DK_ENV_BROKER_FD);
		unsetenv(DK_ENV_DEVICE);
		unsetenv(DK_ENV_DEVICE_CLASS);
	}
	execv(v->exec, argv);
	_exit(127);
}

/* argv for @v's kind (docs/supervisor.md, "Services"); @args is the caller's scratch copy. */
static void build_argv(struct dk_supd *s, struct dk_supd_service *v, char **argv, char *args)
{
	int n = 0, k;

	argv[n++] = (char *)v->exec;
	switch (v->cfg->kind) {
	case DK_SUPD_KIND_LOGD:
		argv[n++] = "--socket";
		argv[n++] = s->logd_sock;
		argv[n++] = "--dir";
		argv[n++] = s->journal_dir;
		break;
	case DK_SUPD_KIND_POLICYD:
		argv[n++] = "--socket";
		argv[n++] = s->policyd_sock;
		argv[n++] = "--policy";
		argv[n++] = (char *)s->m->policy;
		argv[n++] = "--logd";
		argv[n++] = s->logd_sock;
		break;
	case DK_SUPD_KIND_BROKER:
		argv[n++] = "--runtime-dir";
		argv[n++] = s->rt;
		break;
	case DK_SUPD_KIND_HWSIM:
		argv[n++] = "--runtime-dir";
		argv[n++] = s->rt;
		if (v->cfg->config[0]) {
			argv[n++] = "--config";
			argv[n++] = (char *)v->cfg->config; /* absolute (dk_supd_manifest_load()) */
		}
		break;
	default:
		break;
	}
	strcpy(args, v->cfg->args);
	k = dk_supd_split_args(args, argv + n, DK_SUPD_ARGS_MAX); /* checked by the parser */
	argv[n + (k > 0 ? k : 0)] = NULL;
}

static void died(struct dk_supd *s, struct dk_supd_service *v, uint64_t t_death, int status,
		 bool known);

static int spawn(struct dk_supd *s, struct dk_supd_service *v)
{
	char *argv[ARGV_MAX], args[DK_SUPD_LINE_MAX + 1];
	int ctl[2], bp[2] = {-1, -1}, err;
	pid_t parent = getpid(), pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
		return -errno;
	if (is_device(v) && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, bp) < 0) {
		err = -errno;
		goto out_close_ctl;
	}
	build_argv(s, v, argv, args);
	if (v->generation)
		v->restarts++;
	v->generation = ++s->generation;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out_close_bp;
	}
	if (pid == 0)
		child_exec(s, v, argv, ctl[1], bp[1], parent);
	close(ctl[1]);
	if (bp[1] >= 0)
		close(bp[1]);
	v->pid = pid;
	v->ctl_fd = ctl[0];
	v->broker_peer_fd = bp[0];
	v->attached = v->violated = v->ready_seen = false;
	v->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (v->pidfd < 0 ||
	    dk_supd_watch(s, v->pidfd, DK_SUPD_EV(DK_SUPD_EV_PIDFD, v->index)) < 0 ||
	    dk_supd_watch(s, v->ctl_fd, DK_SUPD_EV(DK_SUPD_EV_CONTROL, v->index)) < 0) {
		int status = 0;
		bool known;

		/* Without a pidfd we cannot watch it: take it down now (bounded by SIGKILL). */
		err = v->pidfd < 0 ? -errno : -ENOMEM;
		dk_supd_report(s, "cannot watch service %s: %s", v->cfg->name, strerror(-err));
		kill(pid, SIGKILL);
		known = waitpid(pid, &status, 0) == pid;
		died(s, v, dk_now_ns(), status, known);
		return 0;
	}
	v->state = DK_SERVICE_STARTING;
	if (!v->t0_valid) {
		v->t0_ns = dk_now_ns();
		v->t0_valid = true;
	}
	arm_timer(v, DK_SUPD_TIMER_START, s->m->start_timeout_ms);
	return 0;

out_close_bp:
	if (bp[0] >= 0) {
		close(bp[0]);
		close(bp[1]);
	}
out_close_ctl:
	close(ctl[0]);
	close(ctl[1]);
	return err;
}

void dk_supd_service_start(struct dk_supd *s, struct dk_supd_service *v)
{
	int err;

	if (s->shutting_down || v->pid > 0 || v->state == DK_SERVICE_FAILED)
		return;
	disarm_timer(v);
	/* A device is reachable only through the broker, and its hardware (if any) is dk-hwsim's:
	 * it starts when both run. */
	if (is_device(v) && !deps_running(s)) {
		v->wait_deps = true;
		return;
	}
	v->wait_deps = false;
	err = spawn(s, v);
	if (err < 0) {
		dk_supd_report(s, "cannot start service %s: %s", v->cfg->name, strerror(-err));
		dk_supd_journal(s, DK_LOG_ERROR, "supervisor.start", "cannot start service",
				"service=%s error=%d", v->cfg->name, err);
		/* Counted as a crash: retried with back-off, and given up at the limit. */
		died(s, v, dk_now_ns(), 0, false);
	}
}

void dk_supd_service_stop(struct dk_supd *s, struct dk_supd_service *v)
{
	if (v->pid <= 0)
		return;
	v->stop_requested = true;
	v->state = DK_SERVICE_STOPPING;
	kill(v->pid, SIGTERM);
	arm_timer(v, DK_SUPD_TIMER_STOP, s->m->stop_timeout_ms);
}

void dk_supd_service_cancel(struct dk_supd *s, struct dk_supd_service *v)
{
	(void)s;
	v->wait_deps = false;
	if (v->pid > 0)
		return;
	disarm_timer(v);
	if (v->state == DK_SERVICE_BACKOFF)
		v->state = DK_SERVICE_STOPPED;
}

void dk_supd_service_violation(struct dk_supd *s, struct dk_supd_service *v, const char *what,
			       int err)
{
	if (!v->violated) {
		v->violated = true;
		dk_supd_journal(s, DK_LOG_ERROR, "supervisor.protocol",
				"service broke the control protocol",
				"service=%s pid=%d generation=%llu violation=\"%s\" error=%d",
				v->cfg->name, (int)v->pid, (unsigned long long)v->generation, what,
				err);
	}
	/* Its fences are reaped at its death: the registry's guarantee holds. */
	if (v->pid > 0 && !v->dying)
		kill(v->pid, SIGKILL);
}

/* ---- ready ---- */

static void start_waiting_devices(struct dk_supd *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		struct dk_supd_service *d = &s->svcs[i];

		if (is_device(d) && d->wait_deps && d->pid == 0)
			dk_supd_service_start(s, d);
	}
}

void dk_supd_service_ready(struct dk_supd *s, struct dk_supd_service *v)
{
	uint64_t now = dk_now_ns();

	if (v->ready_seen || v->state != DK_SERVICE_STARTING)
		return; /* a second READY changes nothing */
	v->ready_seen = true;
	v->state = DK_SERVICE_RUNNING;
	if (v->timer == DK_SUPD_TIMER_START)
		disarm_timer(v);
	v->last_ready_ns = v->t0_valid ? now - v->t0_ns : 0;
	v->t0_valid = false;
	/* The broker first: once the record below can be read, ATTACH is in its socket. */
	if (is_device(v) && !v->dying && dk_supd_send_attach(s, v) == 0)
		v->attached = true;
	if (v->cfg->kind == DK_SUPD_KIND_LOGD && !v->dying)
		dk_supd_journal_flush(s);
	dk_supd_journal(s, DK_LOG_INFO, "supervisor.ready", "service ready",
			"service=%s pid=%d generation=%llu restarts=%u ready_ns=%llu", v->cfg->name,
			(int)v->pid, (unsigned long long)v->generation, v->restarts,
			(unsigned long long)v->last_ready_ns);
	if (v->dying)
		return; /* READY drained after its death: nothing more to do */
	if (v->cfg->kind == DK_SUPD_KIND_BROKER || v->cfg->kind == DK_SUPD_KIND_HWSIM) {
		/* A new start of either needs a new channel between them, in the broker's
		 * control socket before any ATTACH of a device started from now on. */
		dk_supd_hwsim_connect(s);
		start_waiting_devices(s);
	}
	dk_supd_boot_advance(s);
}

/* ---- death and the restart policy ---- */

/* Note a crash at @now; returns the crashes within the window, this one included. */
static uint32_t count_crash(struct dk_supd *s, struct dk_supd_service *v, uint64_t now)
{
	uint64_t window = (uint64_t)s->m->restart_window_ms * DK_NSEC_PER_MSEC;
	uint32_t keep = 0, cap = s->m->restart_limit + 1;

	for (uint32_t i = 0; i < v->n_crashes; i++)
		if (now - v->crash_ns[i] < window)
			v->crash_ns[keep++] = v->crash_ns[i];
	if (keep == cap) {
		memmove(v->crash_ns, v->crash_ns + 1, (cap - 1) * sizeof(*v->crash_ns));
		keep--;
	}
	v->crash_ns[keep++] = now;
	v->n_crashes = keep;
	return keep;
}

static uint64_t backoff_ms(struct dk_supd *s, uint32_t crashes)
{
	uint64_t ms = s->m->restart_delay_ms;

	for (uint32_t i = 1; i < crashes && ms < s->m->restart_delay_max_ms; i++)
		ms *= 2;
	return ms < s->m->restart_delay_max_ms ? ms : s->m->restart_delay_max_ms;
}

/*
 * The broker is gone, so are the channels of every device; or dk-hwsim is gone, so is the state
 * of every device's hardware. Either way the device services are restarted once it is back.
 */
static void deps_gone(struct dk_supd *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		struct dk_supd_service *d = &s->svcs[i];

		if (!is_device(d) || d->state == DK_SERVICE_FAILED)
			continue;
		d->wait_deps = true;
		if (d->pid > 0 && !d->stop_requested)
			dk_supd_service_stop(s, d);
	}
}

static void crashed(struct dk_supd *s, struct dk_supd_service *v, uint64_t t_death, pid_t pid,
		    uint32_t n_reaped, uint64_t reap_ns, bool was_attached)
{
	uint32_t crashes = count_crash(s, v, t_death);
	bool give_up = crashes > s->m->restart_limit;

	v->state = give_up ? DK_SERVICE_FAILED : DK_SERVICE_BACKOFF;
	dk_supd_crash_report(s, v, pid, n_reaped, reap_ns);
	if (give_up) {
		dk_supd_report(s, "service %s: %u crashes within %u ms, not restarted",
			       v->cfg->name, crashes, s->m->restart_window_ms);
		dk_supd_journal(s, DK_LOG_AUDIT, "supervisor.crash-loop",
				"service crash-looping, not restarted",
				"service=%s crashes=%u window_ms=%u restarts=%u", v->cfg->name,
				crashes, s->m->restart_window_ms, v->restarts);
		v->wait_deps = false;
		if (is_device(v))
			dk_supd_send_detach(s, v, DK_DEVICE_FAILED);
		else
			dk_supd_shutdown(s, -ENODEV); /* the stack cannot work without it */
		return;
	}
	if (is_device(v) && was_attached)
		dk_supd_send_detach(s, v, DK_DEVICE_RESTARTING);
	v->t0_ns = t_death;
	v->t0_valid = true;
	if (!s->shutting_down)
		arm_timer(v, DK_SUPD_TIMER_BACKOFF, backoff_ms(s, crashes));
}

static void died(struct dk_supd *s, struct dk_supd_service *v, uint64_t t_death, int status,
		 bool known)
{
	bool requested = v->stop_requested, was_attached = v->attached;
	pid_t pid = v->pid;
	uint32_t n_reaped;
	uint64_t reap_ns;

	/* First every frame it sent before it died: a registration made just before counts. */
	v->dying = true;
	if (v->ctl_fd >= 0)
		dk_supd_control_read(s, v, 0);
	n_reaped = dk_supd_registry_reap(v, &reap_ns);
	reap_ns -= t_death;
	v->dying = false;
	v->fences_reaped += n_reaped;
	close_fd(s, &v->pidfd, true);
	close_fd(s, &v->ctl_fd, true);
	close_fd(s, &v->broker_peer_fd, false);
	disarm_timer(v);
	note_status(v, status, known);
	v->pid = 0;
	v->stop_requested = false;
	v->attached = false;
	if (v->cfg->kind == DK_SUPD_KIND_LOGD)
		dk_supd_journal_disconnect(s);
	if (!requested) {
		crashed(s, v, t_death, pid, n_reaped, reap_ns, was_attached);
	} else {
		v->state = DK_SERVICE_STOPPED;
		dk_supd_journal(s, DK_LOG_NOTICE, "supervisor.stop", "service stopped",
				"service=%s pid=%d generation=%llu exit=%d signal=%u "
				"fences_reaped=%u reap_ns=%llu",
				v->cfg->name, (int)pid, (unsigned long long)v->generation,
				v->last_exit, v->last_signal, n_reaped,
				(unsigned long long)reap_ns);
		if (v->wait_deps && !s->shutting_down) {
			v->t0_ns = t_death;
			v->t0_valid = true;
		}
	}
	if ((v->cfg->kind == DK_SUPD_KIND_BROKER || v->cfg->kind == DK_SUPD_KIND_HWSIM) &&
	    !s->shutting_down)
		deps_gone(s);
	if (requested && is_device(v) && v->wait_deps && !s->shutting_down)
		dk_supd_service_start(s, v); /* waits for the broker and dk-hwsim to be back */
	if (s->shutting_down)
		dk_supd_shutdown_advance(s);
	else
		dk_supd_boot_advance(s);
}

void dk_supd_service_died(struct dk_supd *s, struct dk_supd_service *v)
{
	uint64_t t_death = dk_now_ns();
	int status = 0;
	pid_t r;

	do {
		r = waitpid(v->pid, &status, WNOHANG);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return; /* not dead after all */
	died(s, v, t_death, status, r == v->pid);
}

void dk_supd_service_timer(struct dk_supd *s, struct dk_supd_service *v)
{
	uint64_t ticks;
	enum dk_supd_timer what = v->timer;

	if (read(v->timer_fd, &ticks, sizeof(ticks)) != (ssize_t)sizeof(ticks))
		return; /* disarmed or re-armed since it fired */
	v->timer = DK_SUPD_TIMER_NONE;
	switch (what) {
	case DK_SUPD_TIMER_START:
		if (v->pid <= 0 || v->state != DK_SERVICE_STARTING)
			break;
		dk_supd_journal(s, DK_LOG_ERROR, "supervisor.start", "service not ready in time",
				"service=%s pid=%d generation=%llu start_timeout_ms=%u",
				v->cfg->name, (int)v->pid, (unsigned long long)v->generation,
				s->m->start_timeout_ms);
		kill(v->pid, SIGKILL); /* its death counts as a crash */
		break;
	case DK_SUPD_TIMER_STOP:
		if (v->pid <= 0)
			break;
		dk_supd_journal(s, DK_LOG_WARNING, "supervisor.stop",
				"service did not stop in time",
				"service=%s pid=%d stop_timeout_ms=%u", v->cfg->name, (int)v->pid,
				s->m->stop_timeout_ms);
		kill(v->pid, SIGKILL);
		break;
	case DK_SUPD_TIMER_BACKOFF:
		dk_supd_service_start(s, v);
		break;
	case DK_SUPD_TIMER_NONE:
		break;
	}
}
