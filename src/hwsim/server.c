/* SPDX-License-Identifier: MIT */
/*
 * server.c - the board's protocol side: one epoll set over the signalfd, the supervisor's
 * control socket (HWSIM_CHANNEL) and the channel to the broker ("hwsim", dk/hwsim.h). A
 * bounded number of frames is read per source per wakeup. Malformed frames are answered with
 * an error reply and the channel goes on.
 *
 * A request that touches a device takes its mutex (hwsim-internal.h), so it waits at most for
 * the device thread to finish its current batch of descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "hwsim-internal.h"

#define MAX_EVENTS 8
#define FRAMES_PER_WAKEUP 32
/* How long a reply may wait for room in the channel before it is dropped. */
#define REPLY_TIMEOUT_NS (1 * DK_NSEC_PER_SEC)

enum { EV_SIGNAL = 1, EV_CONTROL = 2, EV_CHANNEL = 3 };

/* ---- the channel ---- */

static void channel_close(struct dk_hwsim_board *b)
{
	if (b->chan < 0)
		return;
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->chan, NULL);
	close(b->chan);
	b->chan = -1;
}

int hwsim_server_set_channel(struct dk_hwsim_board *b, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_CHANNEL};
	int err;

	if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		err = -EBADF;
		goto out_close_fd;
	}
	channel_close(b); /* a new channel replaces the old one */
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = -errno;
		goto out_close_fd;
	}
	b->chan = fd;
	b->st.channels++;
	return 0;

out_close_fd:
	if (fd >= 0)
		close(fd);
	return err;
}

int hwsim_server_watch_control(struct dk_hwsim_board *b)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_CONTROL};

	return epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->ctl, &ev) < 0 ? -errno : 0;
}

static void reply(struct dk_hwsim_board *b, const struct dk_frame *f, const void *payload,
		  size_t len, const int *fds, uint32_t n_fds)
{
	int err = dk_msg_send(b->chan, &dk_hwsim_reply_proto, f->opcode, DK_FRAME_F_REPLY, f->seq,
			      payload, len, fds, n_fds, dk_deadline_in(REPLY_TIMEOUT_NS));

	if (err == 0)
		return;
	hwsim_board_report(b, "reply to %s dropped: %s", f->op ? f->op->name : "request",
			   dk_strerror(err));
	if (err == -EPIPE)
		channel_close(b);
}

static void reply_error(struct dk_hwsim_board *b, uint16_t opcode, uint64_t seq, int error)
{
	int err = dk_msg_reply_error(b->chan, &dk_hwsim_reply_proto, opcode, seq, error,
				     error == -EPROTO || error == -EOPNOTSUPP
					     ? DK_REASON_PROTOCOL
					     : DK_REASON_NONE);

	if (err == -EPIPE)
		channel_close(b);
}

/* ---- requests ---- */

/* Bytes of a string on the wire. */
static size_t string_wire(const char *s)
{
	return 2 + strlen(s);
}

static int op_devices(struct dk_hwsim_board *b, const struct dk_frame *f)
{
	struct dk_wire_writer w, hdr;
	uint32_t n = 0;

	dk_wire_writer_init(&w, b->pbuf, sizeof(b->pbuf));
	dk_wire_put_u64(&w, 0); /* header, written last */
	for (uint32_t i = 0; i < b->n_devices; i++) {
		const struct hwsim_device *dev = &b->devices[i];
		const char *model = dk_hwsim_model_name(dev->ops->kind);

		/* 16 devices of the longest names fit; stay exact anyway. */
		if (dk_wire_writer_len(&w) + string_wire(dev->name) + string_wire(model) + 8 >
		    sizeof(b->pbuf))
			break;
		dk_wire_put_string(&w, dev->name);
		dk_wire_put_string(&w, model);
		dk_wire_put_u32(&w, DK_COPY_REGS_SIZE);
		dk_wire_put_u32(&w, 0);
		n++;
	}
	dk_wire_writer_init(&hdr, b->pbuf, 8);
	dk_wire_put_u32(&hdr, n);
	dk_wire_put_u32(&hdr, 0);
	reply(b, f, b->pbuf, dk_wire_writer_len(&w), NULL, 0);
	return 0;
}

/* Read the device name that starts every other request. */
static int get_device(struct dk_hwsim_board *b, struct dk_wire_reader *r,
		      struct hwsim_device **ret_dev)
{
	char name[DK_RT_NAME_MAX + 1];

	dk_wire_get_string(r, name, sizeof(name));
	if (dk_wire_reader_error(r) < 0)
		return -EPROTO;
	*ret_dev = hwsim_board_device(b, name);
	return 0;
}

/* The reader consumed the whole payload we understand, without error. */
static int get_end(const struct dk_wire_reader *r)
{
	return dk_wire_reader_error(r) < 0 || dk_wire_reader_left(r) ? -EPROTO : 0;
}

static int op_grant(struct dk_hwsim_board *b, const struct dk_frame *f, struct hwsim_device *dev)
{
	struct dk_wire_writer w;
	char fields[DK_LOG_FIELDS_MAX + 1];
	int fds[3];

	snprintf(fields, sizeof(fields), "device=%s", dev->name);
	hwsim_board_journal(b, DK_LOG_INFO, "hwsim.grant", "device reset and granted", fields);
	pthread_mutex_lock(&dev->lock);
	hwsim_device_grant(dev);
	pthread_mutex_unlock(&dev->lock);
	fds[0] = dev->regs_fd;
	fds[1] = dev->doorbell_fd;
	fds[2] = dev->irq_fd;
	dk_wire_writer_init(&w, b->pbuf, sizeof(b->pbuf));
	dk_wire_put_u32(&w, DK_COPY_REGS_SIZE);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, dk_hwsim_model_name(dev->ops->kind));
	reply(b, f, b->pbuf, dk_wire_writer_len(&w), fds, 3);
	return 0;
}

static int op_map(struct dk_hwsim_board *b, struct dk_msg *m, struct dk_wire_reader *r,
		  struct hwsim_device *dev)
{
	uint32_t access;
	uint64_t offset, length, iova;
	uint8_t p[8];
	struct dk_wire_writer w;
	int err;

	access = dk_wire_get_u32(r);
	dk_wire_get_u32(r); /* reserved */
	offset = dk_wire_get_u64(r);
	length = dk_wire_get_u64(r);
	if (get_end(r) < 0 || m->n_fds != 1)
		return -EPROTO;
	if (!dev)
		return -ENODEV;
	if (!dev->ops->dma)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&dev->lock);
	err = hwsim_iommu_map(&dev->iommu, m->fds[0], access, offset, length, &iova);
	pthread_mutex_unlock(&dev->lock);
	if (err < 0)
		return err;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, iova);
	reply(b, &m->frame, p, sizeof(p), NULL, 0);
	return 0;
}

static int op_unmap(struct dk_hwsim_board *b, const struct dk_frame *f, struct dk_wire_reader *r,
		    struct hwsim_device *dev)
{
	uint64_t iova = dk_wire_get_u64(r);
	int err;

	if (get_end(r) < 0)
		return -EPROTO;
	if (!dev)
		return -ENODEV;
	if (!dev->ops->dma)
		return -EOPNOTSUPP;
	/* Under the lock: the device thread is between descriptors, none uses the window. */
	pthread_mutex_lock(&dev->lock);
	err = hwsim_iommu_unmap(&dev->iommu, iova);
	pthread_mutex_unlock(&dev->lock);
	if (err < 0)
		return err;
	reply(b, f, NULL, 0, NULL, 0);
	return 0;
}

static int op_inject(struct dk_hwsim_board *b, const struct dk_frame *f, struct dk_wire_reader *r,
		     struct hwsim_device *dev)
{
	char msg[DK_LOG_MESSAGE_MAX + 1], fields[DK_LOG_FIELDS_MAX + 1];
	uint32_t fault = dk_wire_get_u32(r);

	dk_wire_get_u32(r); /* reserved */
	if (get_end(r) < 0)
		return -EPROTO;
	if (!dev)
		return -ENODEV;
	if (fault >= DK_HWSIM_FAULT_COUNT)
		return -EINVAL;
	if (dev->ops->kind != DK_HWSIM_MODEL_COPY)
		return -EOPNOTSUPP; /* the null model has nothing to break */
	/* Journaled before it takes effect: its record precedes any fault it causes. */
	snprintf(msg, sizeof(msg), "%s: fault mode %s", dev->name, dk_hwsim_fault_name(fault));
	snprintf(fields, sizeof(fields), "device=%s fault=%s", dev->name,
		 dk_hwsim_fault_name(fault));
	hwsim_board_journal(b, DK_LOG_NOTICE, "hwsim.inject", msg, fields);
	pthread_mutex_lock(&dev->lock);
	dev->fault_mode = fault;
	pthread_mutex_unlock(&dev->lock);
	reply(b, f, NULL, 0, NULL, 0);
	return 0;
}

static int op_stats(struct dk_hwsim_board *b, const struct dk_frame *f, struct dk_wire_reader *r,
		    struct hwsim_device *dev)
{
	struct dk_hwsim_stats s;
	struct dk_wire_writer w;
	uint8_t p[48];

	if (get_end(r) < 0)
		return -EPROTO;
	if (!dev)
		return -ENODEV;
	pthread_mutex_lock(&dev->lock);
	s = dev->stats;
	s.windows = dev->iommu.n;
	s.fault_mode = dev->fault_mode;
	pthread_mutex_unlock(&dev->lock);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, s.descriptors);
	dk_wire_put_u64(&w, s.faults);
	dk_wire_put_u64(&w, s.resets);
	dk_wire_put_u64(&w, s.irqs);
	dk_wire_put_u64(&w, s.irqs_lost);
	dk_wire_put_u32(&w, s.windows);
	dk_wire_put_u32(&w, s.fault_mode);
	reply(b, f, p, sizeof(p), NULL, 0);
	return 0;
}

/* One checked request. Returns 0 when answered, or the error to answer with. */
static int request(struct dk_hwsim_board *b, struct dk_msg *m)
{
	const struct dk_frame *f = &m->frame;
	struct hwsim_device *dev = NULL;
	struct dk_wire_reader r;
	int err;

	if (f->opcode != DK_HWSIM_OP_MAP && m->n_fds)
		return -EPROTO; /* only MAP carries a descriptor */
	if (f->opcode == DK_HWSIM_OP_DEVICES)
		return op_devices(b, f);
	dk_wire_reader_init(&r, f->payload, f->known_length);
	err = get_device(b, &r, &dev);
	if (err < 0)
		return err;
	switch (f->opcode) {
	case DK_HWSIM_OP_GRANT:
		if (get_end(&r) < 0)
			return -EPROTO;
		return dev ? op_grant(b, f, dev) : -ENODEV;
	case DK_HWSIM_OP_MAP:
		return op_map(b, m, &r, dev);
	case DK_HWSIM_OP_UNMAP:
		return op_unmap(b, f, &r, dev);
	case DK_HWSIM_OP_INJECT:
		return op_inject(b, f, &r, dev);
	case DK_HWSIM_OP_STATS:
		return op_stats(b, f, &r, dev);
	default: /* in the table but not handled: cannot happen */
		return -EOPNOTSUPP;
	}
}

static void channel_readable(struct dk_hwsim_board *b)
{
	struct dk_msg *m = &b->msg;

	for (int i = 0; i < FRAMES_PER_WAKEUP && b->chan >= 0; i++) {
		int err = dk_msg_recv(b->chan, &dk_hwsim_proto, 0, m, NULL);

		if (err == -EAGAIN)
			return;
		if (err == 0 && (m->frame.flags & ~DK_FRAME_F_FDS)) {
			dk_msg_close_fds(m); /* no replies or errors come this way */
			err = -EPROTO;
		}
		if (err == -EPROTO || err == -EOPNOTSUPP) {
			/* Refused, answered, and the channel goes on. */
			b->st.refused++;
			reply_error(b, m->have_header ? m->raw_opcode : 0,
				    m->have_header ? m->raw_seq : 0, err);
			continue;
		}
		if (err < 0) {
			hwsim_board_report(b, "channel to the broker closed: %s", dk_strerror(err));
			channel_close(b);
			return;
		}
		b->st.requests++;
		err = request(b, m);
		if (err < 0) {
			if (err == -EPROTO)
				b->st.refused++;
			reply_error(b, m->frame.opcode, m->frame.seq, err);
		}
		dk_msg_close_fds(m); /* a mapped window holds its file itself */
	}
}

/* ---- the control socket ---- */

static void control_readable(struct dk_hwsim_board *b)
{
	struct dk_msg *m = &b->msg;

	for (int i = 0; i < FRAMES_PER_WAKEUP && b->ctl >= 0; i++) {
		int err = dk_msg_recv(b->ctl, &dk_supctl_proto, 0, m, NULL);
		struct dk_wire_reader r;
		uint64_t generation;

		if (err == -EAGAIN)
			return;
		if (err == -EPROTO || err == -EOPNOTSUPP) {
			b->st.control_refused++;
			hwsim_board_report(b, "control socket: frame refused: %s",
					   dk_strerror(err));
			continue;
		}
		if (err < 0) {
			/* The supervisor is gone: keep the board and the channel we have. */
			hwsim_board_report(b, "control socket closed: %s", dk_strerror(err));
			epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->ctl, NULL);
			close(b->ctl);
			b->ctl = -1;
			return;
		}
		if ((m->frame.flags & ~DK_FRAME_F_FDS) ||
		    m->frame.opcode != DK_SUPCTL_OP_HWSIM_CHANNEL || m->n_fds != 1) {
			b->st.control_refused++;
			hwsim_board_report(b, "control socket: %s refused", m->frame.op->name);
			dk_msg_close_fds(m);
			continue;
		}
		dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
		generation = dk_wire_get_u64(&r);
		err = hwsim_server_set_channel(b, m->fds[0]);
		m->fds[0] = -1; /* taken, even on failure */
		m->n_fds = 0;
		if (err < 0)
			hwsim_board_report(b, "channel (broker generation %" PRIu64 "): %s",
					   generation, dk_strerror(err));
	}
}

/* ---- the loop ---- */

/* Read pending signals: true to stop. */
static bool signals(int sfd)
{
	struct signalfd_siginfo si;
	bool stop = false;

	for (;;) {
		ssize_t n = read(sfd, &si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return stop;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			stop = true;
	}
}

int dk_hwsim_board_run(struct dk_hwsim_board *b, int signal_fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_SIGNAL};
	struct epoll_event evs[MAX_EVENTS];
	int err = 0;

	if (!b || signal_fd < 0)
		return -EINVAL;
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, signal_fd, &ev) < 0)
		return -errno;
	for (;;) {
		/* No deadline: every source is in the set, SIGTERM included. */
		int n = epoll_wait(b->epfd, evs, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		/* Signals and the supervisor first: a new channel replaces the old one before
		 * the old one is read again. */
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == EV_SIGNAL && signals(signal_fd))
				goto out;
			if (evs[i].data.u64 == EV_CONTROL && b->ctl >= 0)
				control_readable(b);
		}
		for (int i = 0; i < n; i++)
			if (evs[i].data.u64 == EV_CHANNEL && b->chan >= 0)
				channel_readable(b);
	}
out:
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, signal_fd, NULL);
	return err;
}
