/* SPDX-License-Identifier: MIT */
/*
 * supervisor.c - the supervisor itself (supervisor.h): the runtime directory, one epoll loop
 * over the signalfd, supervisor.sock and every child's pidfd, control socket and timer, and the
 * start and stop orders of the stack.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dk/socket.h>
#include <dk/time.h>

#include "supervisor-internal.h"

void dk_supd_report(struct dk_supd *s, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	if (!s->cfg.report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->cfg.report(s->cfg.report_data, line);
}

int dk_supd_watch(struct dk_supd *s, int fd, uint64_t ev)
{
	struct epoll_event e = {.events = EPOLLIN, .data.u64 = ev};

	return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

void dk_supd_unwatch(struct dk_supd *s, int fd)
{
	if (fd >= 0)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
}

const char *dk_supd_runtime_dir(const struct dk_supd *s)
{
	return s->rt;
}

/* ---- start and stop orders ---- */

static void write_ready(struct dk_supd *s)
{
	ssize_t w;

	if (s->ready_fd < 0)
		return;
	w = write(s->ready_fd, "READY\n", 6);
	(void)w;
	close(s->ready_fd);
	s->ready_fd = -1;
}

void dk_supd_boot_advance(struct dk_supd *s)
{
	while (!s->booted && !s->shutting_down && s->boot_next < s->n) {
		struct dk_supd_service *v = &s->svcs[s->order[s->boot_next]];

		if (v->state == DK_SERVICE_RUNNING || v->state == DK_SERVICE_FAILED ||
		    v->ready_seen) {
			s->boot_next++;
			continue;
		}
		/* Never started: start it. Started (or waiting for the broker): wait for it. */
		if (v->state == DK_SERVICE_STOPPED && v->generation == 0 && !v->wait_deps &&
		    v->pid == 0)
			dk_supd_service_start(s, v);
		return;
	}
	if (!s->booted && !s->shutting_down) {
		s->booted = true;
		dk_supd_journal(s, DK_LOG_NOTICE, "supervisor.ready", "stack ready",
				"services=%u boot_ns=%llu", s->n,
				(unsigned long long)(dk_now_ns() - s->start_ns));
		write_ready(s);
	}
}

void dk_supd_shutdown_advance(struct dk_supd *s)
{
	while (s->shutting_down && s->shutdown_pos < s->n) {
		struct dk_supd_service *v = &s->svcs[s->order[s->n - 1 - s->shutdown_pos]];

		if (v->pid > 0) {
			if (v->state != DK_SERVICE_STOPPING)
				dk_supd_service_stop(s, v);
			return; /* its death brings us back here */
		}
		if (v->state != DK_SERVICE_FAILED)
			v->state = DK_SERVICE_STOPPED;
		s->shutdown_pos++;
	}
	if (s->shutting_down)
		s->done = true;
}

void dk_supd_shutdown(struct dk_supd *s, int err)
{
	if (s->shutting_down)
		return;
	s->shutting_down = true;
	s->exit_err = err;
	for (uint32_t i = 0; i < s->n; i++)
		dk_supd_service_cancel(s, &s->svcs[i]);
	dk_supd_journal(s, DK_LOG_NOTICE, "supervisor.shutdown", "stack shutting down",
			"error=%d", err);
	dk_supd_shutdown_advance(s);
}

/* ---- the runtime directory ---- */

static int pick_runtime_dir(struct dk_supd *s, const char *dir)
{
	char def[DK_RT_PATH_MAX];
	struct stat st;
	int err;

	if (!dir) {
		err = dk_runtime_dir_default(def, sizeof(def));
		if (err == -ENOENT) {
			strcpy(s->rt, "/tmp/driverkit-XXXXXX");
			if (!mkdtemp(s->rt))
				return -errno;
			s->rt_created = true;
			return 0;
		}
		if (err < 0)
			return err;
		dir = def;
	}
	if (dir[0] != '/')
		return -EINVAL;
	if (strlen(dir) >= sizeof(s->rt))
		return -ENAMETOOLONG;
	strcpy(s->rt, dir);
	if (mkdir(s->rt, 0700) == 0) {
		s->rt_created = true;
		return 0;
	}
	if (errno != EEXIST)
		return -errno;
	if (stat(s->rt, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Remove @dir's regular files, then @dir (only what dk-logd writes there). */
static void remove_journal_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_type == DT_REG || e->d_type == DT_UNKNOWN)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

static void remove_runtime_files(struct dk_supd *s)
{
	if (!s->owns_runtime)
		return;
	unlink(s->sock_path);
	/* The daemons remove their own sockets on a clean exit; a killed one leaves it. */
	unlink(s->logd_sock);
	unlink(s->policyd_sock);
	unlink(s->broker_sock);
	if (s->journal_created)
		remove_journal_dir(s->journal_dir);
	if (s->rt_created)
		rmdir(s->rt);
}

static int runtime_paths(struct dk_supd *s)
{
	struct {
		char *buf;
		const char *name;
	} p[] = {
		{s->sock_path, DK_RT_SUPERVISOR_SOCKET}, {s->logd_sock, DK_RT_LOGD_SOCKET},
		{s->policyd_sock, DK_RT_POLICYD_SOCKET}, {s->broker_sock, DK_RT_BROKER_SOCKET},
		{s->journal_dir, DK_RT_JOURNAL_DIR},
	};

	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		int err = dk_runtime_path(s->rt, p[i].name, p[i].buf, DK_RT_PATH_MAX);

		if (err < 0)
			return err;
	}
	return 0;
}

/* ---- create, run, destroy ---- */

static void order_services(struct dk_supd *s)
{
	/* dk-hwsim before the broker: the broker's first READY can then hand it the channel. */
	static const uint32_t kinds[] = {DK_SUPD_KIND_LOGD, DK_SUPD_KIND_POLICYD,
					 DK_SUPD_KIND_HWSIM, DK_SUPD_KIND_BROKER,
					 DK_SUPD_KIND_DEVICE};
	uint32_t n = 0;

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (uint32_t i = 0; i < s->n; i++) {
			if (s->m->services[i].kind != kinds[k])
				continue;
			s->order[n++] = i;
			if (kinds[k] == DK_SUPD_KIND_LOGD)
				s->logd = (int)i;
			else if (kinds[k] == DK_SUPD_KIND_POLICYD)
				s->policyd = (int)i;
			else if (kinds[k] == DK_SUPD_KIND_HWSIM)
				s->hwsim = (int)i;
			else if (kinds[k] == DK_SUPD_KIND_BROKER)
				s->broker = (int)i;
		}
	}
	s->ordered = true;
}

/*
 * The registry holds three descriptors per fence (up to DK_SUPCTL_FENCES_MAX per service), and
 * a registration whose descriptors cannot be received looks malformed: take the hard limit.
 * Services get the limit we found (service.c).
 */
static void raise_nofile(struct dk_supd *s)
{
	struct rlimit rl;

	s->fd_limit = 1024;
	if (getrlimit(RLIMIT_NOFILE, &s->nofile) < 0)
		return;
	s->fd_limit = s->nofile.rlim_cur;
	rl = s->nofile;
	rl.rlim_cur = rl.rlim_max;
	if (rl.rlim_cur != s->nofile.rlim_cur && setrlimit(RLIMIT_NOFILE, &rl) == 0) {
		s->nofile_raised = true;
		s->fd_limit = rl.rlim_cur;
	}
}

int dk_supd_create(const struct dk_supd_config *cfg, struct dk_supd **ret_supd)
{
	struct dk_supd *s;
	struct stat st;
	int err;

	if (!cfg || !cfg->manifest || !ret_supd || cfg->manifest->n_services == 0 ||
	    cfg->manifest->n_services > DK_SUPD_SERVICES_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < cfg->manifest->n_services; i++)
		if (!cfg->exec[i])
			return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->m = cfg->manifest;
	s->n = s->m->n_services;
	s->epfd = -1;
	s->lfd = -1;
	s->ready_fd = cfg->ready_fd;
	s->logd = s->policyd = s->broker = s->hwsim = -1;
	s->start_ns = dk_now_ns();
	for (uint32_t i = 0; i < DK_SUPD_CLIENTS_MAX; i++)
		s->conns[i].fd = -1;
	raise_nofile(s);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		err = -errno;
		goto out_destroy;
	}
	for (uint32_t i = 0; i < s->n; i++) {
		err = dk_supd_service_init(s, &s->svcs[i], i);
		if (err < 0)
			goto out_destroy;
	}
	order_services(s);
	if (s->logd < 0 || s->policyd < 0 || s->broker < 0) {
		err = -EINVAL;
		goto out_destroy;
	}
	err = pick_runtime_dir(s, cfg->runtime_dir);
	if (err < 0)
		goto out_destroy;
	err = runtime_paths(s);
	if (err < 0)
		goto out_destroy;
	/* A live supervisor.sock means another supervisor owns the directory: touch nothing. */
	err = dk_socket_listen(s->sock_path, DK_SUPD_CLIENTS_MAX, &s->lfd);
	if (err < 0)
		goto out_destroy;
	s->owns_runtime = true;
	s->journal_created = stat(s->journal_dir, &st) < 0 && errno == ENOENT;
	err = dk_supd_watch(s, s->lfd, DK_SUPD_EV(DK_SUPD_EV_LISTEN, 0));
	if (err < 0)
		goto out_destroy;
	*ret_supd = s;
	return 0;

out_destroy:
	s->ready_fd = -1; /* still the caller's */
	dk_supd_destroy(s);
	return err;
}

static int handle_signal(struct dk_supd *s, int sfd)
{
	struct signalfd_siginfo si;

	for (;;) {
		ssize_t r = read(sfd, &si, sizeof(si));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		if (r != (ssize_t)sizeof(si))
			return r < 0 ? -errno : -EIO;
		if (si.ssi_signo == SIGHUP) {
			struct dk_supd_service *p = &s->svcs[s->policyd];

			if (p->pid > 0)
				kill(p->pid, SIGHUP);
			dk_supd_journal(s, DK_LOG_NOTICE, "supervisor.reload",
					"SIGHUP forwarded to policyd", "service=%s pid=%d",
					p->cfg->name, (int)p->pid);
		} else {
			dk_supd_shutdown(s, 0);
		}
	}
}

static void dispatch(struct dk_supd *s, uint64_t data, int sfd)
{
	uint32_t type = (uint32_t)(data >> 32), idx = (uint32_t)data;
	struct dk_supd_service *v = idx < s->n ? &s->svcs[idx] : NULL;

	switch (type) {
	case DK_SUPD_EV_SIGNAL:
		if (handle_signal(s, sfd) < 0)
			dk_supd_shutdown(s, 0);
		break;
	case DK_SUPD_EV_LISTEN:
		dk_supd_public_accept(s);
		break;
	case DK_SUPD_EV_CLIENT:
		if (idx < DK_SUPD_CLIENTS_MAX)
			dk_supd_public_readable(s, idx);
		break;
	case DK_SUPD_EV_CONTROL:
		if (v && v->ctl_fd >= 0)
			dk_supd_control_read(s, v, DK_SUPD_FRAMES_PER_WAKEUP);
		break;
	case DK_SUPD_EV_PIDFD:
		if (v && v->pid > 0)
			dk_supd_service_died(s, v);
		break;
	case DK_SUPD_EV_TIMER:
		if (v)
			dk_supd_service_timer(s, v);
		break;
	default:
		break;
	}
}

int dk_supd_run(struct dk_supd *s, int signal_fd)
{
	int err;

	if (!s || signal_fd < 0)
		return -EINVAL;
	err = dk_supd_watch(s, signal_fd, DK_SUPD_EV(DK_SUPD_EV_SIGNAL, 0));
	if (err < 0)
		return err;
	dk_supd_boot_advance(s);
	while (!s->done) {
		struct epoll_event evs[32];
		int n = epoll_wait(s->epfd, evs, 32, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		/* New connections last: a slot freed in this batch is free for them. */
		for (int pass = 0; pass < 2; pass++) {
			for (int i = 0; i < n && !s->done; i++) {
				bool listen = evs[i].data.u64 >> 32 == DK_SUPD_EV_LISTEN;

				if (listen == (pass == 1))
					dispatch(s, evs[i].data.u64, signal_fd);
			}
		}
	}
	dk_supd_unwatch(s, signal_fd);
	if (err < 0)
		return err;
	return s->exit_err;
}

void dk_supd_destroy(struct dk_supd *s)
{
	if (!s)
		return;
	dk_supd_public_close_all(s);
	/* Reverse start order, so that the journal outlives the others as long as it can. */
	for (uint32_t i = 0; s->ordered && i < s->n; i++)
		dk_supd_service_finish(s, &s->svcs[s->order[s->n - 1 - i]]);
	for (uint32_t i = 0; i < s->n; i++)
		dk_supd_service_finish(s, &s->svcs[i]);
	dk_log_close(s->log);
	if (s->lfd >= 0)
		close(s->lfd);
	remove_runtime_files(s);
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->ready_fd >= 0)
		close(s->ready_fd);
	free(s);
}
