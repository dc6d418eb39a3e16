/* SPDX-License-Identifier: MIT */
/*
 * board.c - the board's life cycle: devices (register window, doorbell, interrupt, timer),
 * their threads, the journal (hwsim-board.h; threads and locks in hwsim-internal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <dk/time.h>

#include "hwsim-internal.h"

/* Tags of the device thread's epoll set. */
enum { DEV_EV_DOORBELL = 1, DEV_EV_TIMER = 2, DEV_EV_STOP = 3 };

/* How long connecting to dk-logd may hold the start. */
#define HWSIM_LOG_CONNECT_NS (2 * DK_NSEC_PER_SEC)

void hwsim_board_report(struct dk_hwsim_board *b, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!b->cfg.report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	b->cfg.report(b->cfg.report_data, line);
}

struct hwsim_device *hwsim_board_device(struct dk_hwsim_board *b, const char *name)
{
	for (uint32_t i = 0; i < b->n_devices; i++)
		if (strcmp(b->devices[i].name, name) == 0)
			return &b->devices[i];
	return NULL;
}

int hwsim_board_journal(struct dk_hwsim_board *b, enum dk_log_severity severity, const char *scope,
			const char *message, const char *fields)
{
	int err = -ENOENT;

	pthread_mutex_lock(&b->log_lock);
	if (b->log) {
		err = dk_log_append_async(b->log, severity, scope, message, fields);
		if (err < 0)
			__atomic_fetch_add(&b->journal_dropped, 1, __ATOMIC_RELAXED);
		if (err == -EPIPE) {
			/* dk-logd is gone: no journal from now on (the drop is counted). */
			dk_log_close(b->log);
			b->log = NULL;
		}
	}
	pthread_mutex_unlock(&b->log_lock);
	return err;
}

/* ---- device helpers for the models ---- */

void hwsim_regs_clear(struct hwsim_device *dev)
{
	for (uint32_t off = 0; off < DK_COPY_REGS_SIZE; off += 4)
		hwsim_reg_write(dev, off, 0);
}

void hwsim_device_irq(struct hwsim_device *dev)
{
	const uint64_t one = 1;

	/* Fails only when the counter is saturated: the driver has a wakeup pending anyway. */
	if (write(dev->irq_fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
		dev->stats.irqs++;
}

static const char *const fault_kind_names[] = {
	[DK_COPY_FAULT_READ] = "read outside the DMA windows",
	[DK_COPY_FAULT_WRITE] = "write outside the DMA windows",
	[DK_COPY_FAULT_MALFORMED] = "malformed descriptor or ring",
	[DK_COPY_FAULT_RING] = "command ring outside the DMA windows",
};

void hwsim_device_journal_fault(struct hwsim_device *dev, uint32_t kind, uint64_t iova,
				uint32_t desc)
{
	char msg[DK_LOG_MESSAGE_MAX + 1], fields[DK_LOG_FIELDS_MAX + 1];
	const char *what = "fault";

	if (kind < sizeof(fault_kind_names) / sizeof(fault_kind_names[0]) && fault_kind_names[kind])
		what = fault_kind_names[kind];
	snprintf(msg, sizeof(msg), "%s: %s at 0x%" PRIx64 " (descriptor %" PRIu32 ")", dev->name,
		 what, iova, desc);
	snprintf(fields, sizeof(fields),
		 "device=%s kind=%" PRIu32 " iova=0x%" PRIx64 " desc=%" PRIu32, dev->name, kind,
		 iova, desc);
	hwsim_board_journal(dev->board, DK_LOG_WARNING, "hwsim.fault", msg, fields);
}

/* Read an eventfd or timerfd counter: true when there was something to read. */
static bool drain(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

void hwsim_device_grant(struct hwsim_device *dev)
{
	dev->ops->reset(dev);
	hwsim_iommu_clear(&dev->iommu);
	/* A doorbell rung for the old driver must not reach the new one's device, nor an old
	 * interrupt the new driver. */
	drain(dev->doorbell_fd);
	drain(dev->irq_fd);
	dev->stats.resets++;
}

/* ---- the device thread ---- */

static void *device_main(void *arg)
{
	struct hwsim_device *dev = arg;
	bool more = false;

	for (;;) {
		struct epoll_event evs[3];
		unsigned int events = 0;
		int n;

		/* No deadline: this thread has nothing to do until the driver rings or the
		 * board stops it (the stop eventfd is in the set). */
		n = epoll_wait(dev->epfd, evs, 3, more ? 0 : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL; /* the set is broken: the device stops answering */
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u32 == DEV_EV_STOP)
				return NULL;
			if (evs[i].data.u32 == DEV_EV_DOORBELL)
				events |= HWSIM_EV_DOORBELL;
			if (evs[i].data.u32 == DEV_EV_TIMER)
				events |= HWSIM_EV_TIMER;
		}
		pthread_mutex_lock(&dev->lock);
		/* Read under the lock: a GRANT or reset in between consumed or disarmed them. */
		if ((events & HWSIM_EV_DOORBELL) && !drain(dev->doorbell_fd))
			events &= ~HWSIM_EV_DOORBELL;
		if ((events & HWSIM_EV_TIMER) && !drain(dev->timer_fd))
			events &= ~HWSIM_EV_TIMER;
		if (events || more)
			more = dev->ops->run(dev, events);
		pthread_mutex_unlock(&dev->lock);
	}
}

/* ---- set-up ---- */

static int epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = tag};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int device_init(struct dk_hwsim_board *b, struct hwsim_device *dev,
		       const struct dk_hwsim_device_config *dc)
{
	char memfd_name[16 + DK_RT_NAME_MAX];
	void *regs;
	int err;

	dev->board = b;
	memcpy(dev->name, dc->name, sizeof(dev->name));
	dev->ops = dc->model == DK_HWSIM_MODEL_COPY ? &hwsim_copy_ops : &hwsim_null_ops;
	hwsim_iommu_init(&dev->iommu);
	snprintf(memfd_name, sizeof(memfd_name), "dk-hwsim:%s", dc->name);
	dev->regs_fd = memfd_create(memfd_name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (dev->regs_fd < 0)
		return -errno;
	/* Exactly one page, for good: the driver maps it read/write but can never resize it
	 * (a shrink would make every register access of ours a SIGBUS) nor seal it further. */
	if (ftruncate(dev->regs_fd, DK_COPY_REGS_SIZE) < 0 ||
	    fcntl(dev->regs_fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
		return -errno;
	regs = mmap(NULL, DK_COPY_REGS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, dev->regs_fd, 0);
	if (regs == MAP_FAILED)
		return -errno;
	dev->regs = regs;
	dev->doorbell_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->doorbell_fd < 0)
		return -errno;
	dev->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->irq_fd < 0)
		return -errno;
	dev->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (dev->timer_fd < 0)
		return -errno;
	dev->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (dev->epfd < 0)
		return -errno;
	err = epoll_add(dev->epfd, dev->doorbell_fd, DEV_EV_DOORBELL);
	if (err == 0)
		err = epoll_add(dev->epfd, dev->timer_fd, DEV_EV_TIMER);
	if (err == 0)
		err = epoll_add(dev->epfd, b->stop_fd, DEV_EV_STOP);
	if (err < 0)
		return err;
	err = pthread_mutex_init(&dev->lock, NULL);
	if (err)
		return -err;
	dev->lock_init = true;
	dev->ops->reset(dev); /* no thread yet: no lock needed */
	return 0;
}

static void device_finish(struct hwsim_device *dev)
{
	hwsim_iommu_clear(&dev->iommu);
	if (dev->regs)
		munmap(dev->regs, DK_COPY_REGS_SIZE);
	if (dev->lock_init)
		pthread_mutex_destroy(&dev->lock);
	if (dev->epfd >= 0)
		close(dev->epfd);
	if (dev->timer_fd >= 0)
		close(dev->timer_fd);
	if (dev->irq_fd >= 0)
		close(dev->irq_fd);
	if (dev->doorbell_fd >= 0)
		close(dev->doorbell_fd);
	if (dev->regs_fd >= 0)
		close(dev->regs_fd);
}

/* Start the device threads with every signal blocked (signals are the server's). */
static int start_threads(struct dk_hwsim_board *b)
{
	sigset_t all, old;
	int err = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (uint32_t i = 0; i < b->n_devices && !err; i++) {
		err = pthread_create(&b->devices[i].thread, NULL, device_main, &b->devices[i]);
		if (!err)
			b->devices[i].thread_started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

static bool is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int dk_hwsim_board_create(const struct dk_hwsim_board_config *cfg,
			  struct dk_hwsim_board **ret_board)
{
	struct dk_hwsim_board *b;
	int err, chan;

	if (!cfg || !ret_board || !cfg->devices || cfg->devices->n_devices == 0 ||
	    cfg->devices->n_devices > DK_HWSIM_DEVICES_MAX) {
		err = -EINVAL;
		goto out_close_fds;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		err = -ENOMEM;
		goto out_close_fds;
	}
	b->cfg = *cfg;
	b->devcfg = *cfg->devices;
	b->cfg.devices = &b->devcfg;
	b->cfg.logd_path = NULL; /* not kept: only used here */
	b->ctl = cfg->control_fd;
	b->chan = -1;
	b->stop_fd = -1;
	b->epfd = -1;
	chan = cfg->channel_fd;
	err = pthread_mutex_init(&b->log_lock, NULL);
	if (err) {
		free(b);
		err = -err;
		goto out_close_fds;
	}
	b->devices = calloc(b->devcfg.n_devices, sizeof(*b->devices));
	if (!b->devices) {
		err = -ENOMEM;
		goto out_destroy;
	}
	for (uint32_t i = 0; i < b->devcfg.n_devices; i++) {
		struct hwsim_device *dev = &b->devices[i];

		dev->regs_fd = dev->doorbell_fd = dev->irq_fd = dev->timer_fd = dev->epfd = -1;
	}
	b->n_devices = b->devcfg.n_devices;
	if ((b->ctl >= 0 && (!is_socket(b->ctl) || fcntl(b->ctl, F_SETFD, FD_CLOEXEC) < 0)) ||
	    (chan >= 0 && !is_socket(chan))) {
		err = -EINVAL;
		goto out_destroy;
	}
	b->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->stop_fd < 0 || b->epfd < 0) {
		err = -errno;
		goto out_destroy;
	}
	for (uint32_t i = 0; i < b->n_devices; i++) {
		err = device_init(b, &b->devices[i], &b->devcfg.devices[i]);
		if (err < 0)
			goto out_destroy;
	}
	if (b->ctl >= 0) {
		err = hwsim_server_watch_control(b);
		if (err < 0)
			goto out_destroy;
	}
	if (chan >= 0) {
		err = hwsim_server_set_channel(b, chan);
		chan = -1; /* taken, even on failure */
		if (err < 0)
			goto out_destroy;
	}
	if (cfg->logd_path) {
		err = dk_log_connect(cfg->logd_path, "hwsim", dk_deadline_in(HWSIM_LOG_CONNECT_NS),
				     &b->log);
		if (err < 0)
			hwsim_board_report(b, "journal %s unreachable (%s): no journal",
					   cfg->logd_path, strerror(-err));
	}
	err = start_threads(b);
	if (err < 0)
		goto out_destroy;
	*ret_board = b;
	return 0;

out_destroy:
	if (chan >= 0)
		close(chan);
	dk_hwsim_board_destroy(b);
	return err;
out_close_fds:
	if (cfg && cfg->control_fd >= 0)
		close(cfg->control_fd);
	if (cfg && cfg->channel_fd >= 0)
		close(cfg->channel_fd);
	return err;
}

int dk_hwsim_board_ready(struct dk_hwsim_board *b, uint64_t deadline_ns)
{
	if (!b || b->ctl < 0)
		return -ENOENT;
	return dk_msg_send(b->ctl, &dk_supctl_proto, DK_SUPCTL_OP_READY, 0, 0, NULL, 0, NULL, 0,
			   deadline_ns);
}

void dk_hwsim_board_counters(const struct dk_hwsim_board *b,
			     struct dk_hwsim_board_counters *ret_counters)
{
	*ret_counters = b->st;
	ret_counters->journal_dropped = __atomic_load_n(&b->journal_dropped, __ATOMIC_RELAXED);
}

void dk_hwsim_board_destroy(struct dk_hwsim_board *b)
{
	const uint64_t one = 1;

	if (!b)
		return;
	if (b->stop_fd >= 0 && write(b->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		abort(); /* a fresh eventfd cannot refuse 1; a thread left running would crash */
	for (uint32_t i = 0; b->devices && i < b->n_devices; i++)
		if (b->devices[i].thread_started)
			pthread_join(b->devices[i].thread, NULL);
	for (uint32_t i = 0; b->devices && i < b->n_devices; i++)
		device_finish(&b->devices[i]);
	free(b->devices);
	if (b->chan >= 0)
		close(b->chan);
	if (b->ctl >= 0)
		close(b->ctl);
	if (b->epfd >= 0)
		close(b->epfd);
	if (b->stop_fd >= 0)
		close(b->stop_fd);
	dk_log_close(b->log);
	pthread_mutex_destroy(&b->log_lock);
	free(b);
}
