/* SPDX-License-Identifier: MIT */
/*
 * server.c - the dk-broker loop: one epoll set over the listening socket, the signalfd, the
 * supervisor's control socket, each device service's channel and DMA request socket, the
 * channel to dk-hwsim and each client connection. No send can block (a client whose socket is
 * full is disconnected); a bounded number of frames is read per source per wakeup; the only
 * timeout is the earliest deadline of an open, a kill or a relay in flight. Requests to
 * dk-hwsim (a GRANT, a service's DMA request, an INJECT) are the exception: each holds the
 * loop until dk-hwsim answers, at most DK_BROKER_HWSIM_TIMEOUT_NS (hwsim.c).
 *
 * A message the supervisor or a service sent before a client's request takes effect before it:
 * each wakeup handles the supervisor first, then the services, then the clients, and between
 * reading a client's frame and handling it the broker takes what the supervisor and services
 * have sent by then (broker_sync()), since epoll may report them in a later wakeup.
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/socket.h>
#include <dk/wire.h>

#include "broker-internal.h"

#define MAX_EVENTS 64

void broker_report(struct dk_broker *b, const char *fmt, ...)
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

/* ---- client connections ---- */

struct client *broker_client(struct dk_broker *b, uint32_t slot, uint64_t cookie)
{
	struct client *c;

	if (slot >= b->cfg.max_clients)
		return NULL;
	c = &b->clients[slot];
	return c->fd >= 0 && c->cookie == cookie ? c : NULL;
}

static void client_close(struct dk_broker *b, struct client *c)
{
	if (c->fd < 0)
		return;
	/* Its opens in flight stay: they are answered to nobody when the service replies. */
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	b->st.clients--;
}

void broker_reply(struct dk_broker *b, struct client *c, uint16_t opcode, uint64_t seq,
		  const void *payload, size_t len, const int *fds, uint32_t n_fds)
{
	if (dk_msg_send(c->fd, &dk_broker_reply_proto, opcode, DK_FRAME_F_REPLY, seq, payload,
			len, fds, n_fds, 0) < 0)
		client_close(b, c);
}

void broker_reply_error(struct dk_broker *b, struct client *c, uint16_t opcode, uint64_t seq,
			int err, uint32_t reason)
{
	if (dk_msg_reply_error(c->fd, &dk_broker_reply_proto, opcode, seq, err, reason) < 0)
		client_close(b, c);
}

static void accept_one(struct dk_broker *b)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct client *c = NULL;
	int fd;

	fd = accept4(b->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (uint32_t i = 0; i < b->cfg.max_clients && !c; i++)
		if (b->clients[i].fd < 0)
			c = &b->clients[i];
	/* Identity is the kernel's, read once, now: nothing the client sends can change it. */
	if (!c || dk_socket_peer(fd, &c->pid, &c->uid, &c->gid) < 0) {
		b->st.clients_refused++;
		close(fd);
		return;
	}
	c->cookie = ++b->last_cookie;
	c->n_pending = 0;
	ev.data.u64 = EV_CLIENT | (uint64_t)(c - b->clients);
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		b->st.clients_refused++;
		close(fd);
		return;
	}
	c->fd = fd;
	b->st.clients++;
}

/* ---- LIST and STATUS ---- */

/* Whether @size more bytes fit in a reply payload being written by @w. */
static bool entry_fits(const struct dk_wire_writer *w, size_t size)
{
	return dk_wire_writer_len(w) + size <= DK_FRAME_MAX_PAYLOAD;
}

/* Bytes of a name on the wire (u16 length and the bytes). */
static size_t name_wire(const char *name)
{
	return 2 + strnlen(name, DK_RT_NAME_MAX + 1);
}

static void op_list(struct dk_broker *b, struct client *c, const struct dk_frame *f)
{
	const struct dk_policy_subject s = {
		.kinds = DK_POLICY_SUBJECT_UID | DK_POLICY_SUBJECT_GID,
		.uid = c->uid,
		.gid = c->gid,
	};
	struct dk_wire_writer w, hdr;
	uint32_t n = 0;

	dk_wire_writer_init(&w, b->pbuf, sizeof(b->pbuf));
	dk_wire_put_u64(&w, 0); /* header, written last */
	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++) {
		struct device *d = &b->devices[i];
		struct dk_policy_decision dec;

		if (!d->used)
			continue;
		/* Only what this peer may open: no ambient enumeration. */
		if (broker_policy_ask(b, &s, d->name, d->device_class, &dec) < 0) {
			broker_reply_error(b, c, f->opcode, f->seq, -EACCES, DK_REASON_POLICY);
			return;
		}
		if (dec.verdict != DK_POLICY_ALLOW)
			continue;
		/* Full (only with very long names): the entries that fit, counted right. */
		if (!entry_fits(&w, name_wire(d->name) + name_wire(d->device_class) + 16))
			break;
		dk_wire_put_string(&w, d->name);
		dk_wire_put_string(&w, d->device_class);
		dk_wire_put_u64(&w, d->generation);
		dk_wire_put_u32(&w, d->state);
		dk_wire_put_u32(&w, 0);
		n++;
	}
	dk_wire_writer_init(&hdr, b->pbuf, 8);
	dk_wire_put_u32(&hdr, n);
	dk_wire_put_u32(&hdr, 0);
	broker_reply(b, c, f->opcode, f->seq, b->pbuf, dk_wire_writer_len(&w), NULL, 0);
}

static void op_status(struct dk_broker *b, struct client *c, const struct dk_frame *f)
{
	struct dk_wire_writer w, hdr;
	uint32_t n = 0;

	if (c->uid != b->uid && c->uid != 0) {
		broker_reply_error(b, c, f->opcode, f->seq, -EACCES, DK_REASON_POLICY);
		return;
	}
	dk_wire_writer_init(&w, b->pbuf, sizeof(b->pbuf));
	dk_wire_put_u64(&w, 0); /* header, written last */
	dk_wire_put_u64(&w, b->st.opens);
	dk_wire_put_u64(&w, b->st.denials);
	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++) {
		const struct device *d = &b->devices[i];

		if (!d->used)
			continue;
		if (!entry_fits(&w, name_wire(d->name) + name_wire(d->device_class) +
					    name_wire(d->service) + 40))
			break;
		dk_wire_put_string(&w, d->name);
		dk_wire_put_string(&w, d->device_class);
		dk_wire_put_string(&w, d->service);
		dk_wire_put_u64(&w, d->generation);
		dk_wire_put_u32(&w, d->pid);
		dk_wire_put_u32(&w, d->state);
		dk_wire_put_u32(&w, d->n_sessions);
		dk_wire_put_u32(&w, 0);
		dk_wire_put_u64(&w, d->opens);
		dk_wire_put_u64(&w, d->denials);
		n++;
	}
	dk_wire_writer_init(&hdr, b->pbuf, 8);
	dk_wire_put_u32(&hdr, n);
	dk_wire_put_u32(&hdr, 0);
	broker_reply(b, c, f->opcode, f->seq, b->pbuf, dk_wire_writer_len(&w), NULL, 0);
}

/* ---- client frames ---- */

static void client_readable(struct dk_broker *b, struct client *c)
{
	struct dk_msg *m = &b->msg;

	for (int i = 0; i < FRAMES_PER_WAKEUP && c->fd >= 0; i++) {
		int err = dk_msg_recv(c->fd, &dk_broker_proto, 0, m, NULL);

		if (err == -EAGAIN)
			return;
		if (err == 0 && m->n_fds) {
			dk_msg_close_fds(m); /* no request carries descriptors */
			err = -EPROTO;
		}
		if (err == 0 && m->frame.flags)
			err = -EPROTO; /* no replies or errors from clients */
		if (err == -EPROTO || err == -EOPNOTSUPP) {
			/* Refused, answered, and the connection goes on. */
			b->st.refused++;
			broker_reply_error(b, c, m->have_header ? m->raw_opcode : 0,
					   m->have_header ? m->raw_seq : 0, err,
					   DK_REASON_PROTOCOL);
			continue;
		}
		if (err < 0) {
			client_close(b, c); /* gone (-EPIPE) or broken */
			return;
		}
		broker_sync(b);
		if (c->fd < 0)
			return; /* answered (and dropped) while the services were handled */
		switch (m->frame.opcode) {
		case DK_BROKER_OP_OPEN:
			broker_op_open(b, c, &m->frame);
			break;
		case DK_BROKER_OP_LIST:
			op_list(b, c, &m->frame);
			break;
		case DK_BROKER_OP_STATUS:
			op_status(b, c, &m->frame);
			break;
		case DK_BROKER_OP_INJECT:
			broker_op_inject(b, c, &m->frame);
			break;
		case DK_BROKER_OP_KILL_CLIENT:
			broker_op_kill_client(b, c, &m->frame);
			break;
		case DK_BROKER_OP_DEVICE_STATS:
		case DK_BROKER_OP_TRACE:
			broker_op_relay(b, c, &m->frame);
			break;
		default: /* in the table but not handled: cannot happen */
			b->st.refused++;
			broker_reply_error(b, c, m->frame.opcode, m->frame.seq, -EOPNOTSUPP,
					   DK_REASON_PROTOCOL);
			break;
		}
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

static int timeout_ms(uint64_t deadline_ns)
{
	uint64_t now = dk_now_ns(), left;

	if (deadline_ns == UINT64_MAX)
		return -1;
	if (deadline_ns <= now)
		return 0;
	left = (deadline_ns - now + DK_NSEC_PER_MSEC - 1) / DK_NSEC_PER_MSEC; /* never early */
	return left > 60000 ? 60000 : (int)left;
}

int dk_broker_run(struct dk_broker *b, int signal_fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_SIGNAL};
	struct epoll_event evs[MAX_EVENTS];
	int err = 0;

	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, signal_fd, &ev) < 0)
		return -errno;
	for (;;) {
		uint64_t next = broker_pending_expire(b, dk_now_ns());
		int n = epoll_wait(b->epfd, evs, MAX_EVENTS, timeout_ms(next));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		/* Supervisor (and signals), then services, then clients. */
		for (int i = 0; i < n; i++) {
			if (evs[i].data.u64 == EV_SIGNAL && signals(signal_fd))
				goto out;
			if (evs[i].data.u64 == EV_CONTROL)
				broker_control_readable(b);
		}
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (EV_KIND(tag) == EV_CHANNEL && EV_SLOT(tag) < DK_BROKER_DEVICES_MAX &&
			    b->devices[EV_SLOT(tag)].chan >= 0)
				broker_channel_readable(b, &b->devices[EV_SLOT(tag)]);
			else if (EV_KIND(tag) == EV_DMA && EV_SLOT(tag) < DK_BROKER_DEVICES_MAX &&
				 b->devices[EV_SLOT(tag)].dma >= 0)
				broker_dma_readable(b, &b->devices[EV_SLOT(tag)]);
			else if (tag == EV_HWSIM && b->hwsim >= 0)
				broker_hwsim_readable(b);
		}
		broker_pending_expire(b, dk_now_ns());
		for (int i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;

			if (tag == EV_LISTEN)
				accept_one(b);
			else if (EV_KIND(tag) == EV_CLIENT && EV_SLOT(tag) < b->cfg.max_clients &&
				 b->clients[EV_SLOT(tag)].fd >= 0)
				client_readable(b, &b->clients[EV_SLOT(tag)]);
		}
	}
out:
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, signal_fd, NULL);
	return err;
}

/* ---- set-up ---- */

int dk_broker_ready(struct dk_broker *b, uint64_t deadline_ns)
{
	if (!b || b->ctl < 0)
		return -ENOENT;
	return dk_msg_send(b->ctl, &dk_supctl_proto, DK_SUPCTL_OP_READY, 0, 0, NULL, 0, NULL, 0,
			   deadline_ns);
}

void dk_broker_counters(const struct dk_broker *b, struct dk_broker_counters *ret_counters)
{
	*ret_counters = b->st;
	ret_counters->devices = 0;
	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++)
		ret_counters->devices += b->devices[i].used;
}

int dk_broker_create(const struct dk_broker_config *cfg, struct dk_broker **ret_broker)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct dk_broker *b;
	int err;

	if (!cfg || !ret_broker || !cfg->socket_path || !cfg->policyd_path ||
	    cfg->max_clients == 0 || cfg->max_clients > DK_BROKER_CLIENTS_MAX ||
	    cfg->session_timeout_ns == 0 ||
	    cfg->session_timeout_ns > DK_BROKER_SESSION_TIMEOUT_MAX_NS) {
		if (cfg && cfg->control_fd >= 0)
			close(cfg->control_fd);
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		if (cfg->control_fd >= 0)
			close(cfg->control_fd);
		return -ENOMEM;
	}
	b->cfg = *cfg;
	b->epfd = -1;
	b->lfd = -1;
	b->ctl = cfg->control_fd;
	b->hwsim = -1;
	b->uid = (uint32_t)getuid();
	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++)
		b->devices[i].chan = b->devices[i].dma = -1;
	b->clients = calloc(cfg->max_clients, sizeof(*b->clients));
	b->policyd_path = strdup(cfg->policyd_path);
	b->logd_path = cfg->logd_path ? strdup(cfg->logd_path) : NULL;
	if (!b->clients || !b->policyd_path || (cfg->logd_path && !b->logd_path)) {
		err = -ENOMEM;
		goto out_destroy;
	}
	for (uint32_t i = 0; i < cfg->max_clients; i++)
		b->clients[i].fd = -1;
	if (b->ctl >= 0 && fcntl(b->ctl, F_SETFD, FD_CLOEXEC) < 0) {
		err = -errno;
		goto out_destroy;
	}
	b->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (b->epfd < 0) {
		err = -errno;
		goto out_destroy;
	}
	err = dk_socket_listen(cfg->socket_path, 64, &b->lfd);
	if (err < 0)
		goto out_destroy; /* socket_path is still NULL: never unlink what is not ours */
	b->socket_path = strdup(cfg->socket_path);
	if (!b->socket_path) {
		unlink(cfg->socket_path);
		err = -ENOMEM;
		goto out_destroy;
	}
	ev.data.u64 = EV_LISTEN;
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->lfd, &ev) < 0) {
		err = -errno;
		goto out_destroy;
	}
	if (b->ctl >= 0) {
		ev.data.u64 = EV_CONTROL;
		if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, b->ctl, &ev) < 0) {
			err = -errno;
			goto out_destroy;
		}
	}
	*ret_broker = b;
	return 0;

out_destroy:
	dk_broker_destroy(b);
	return err;
}

void dk_broker_destroy(struct dk_broker *b)
{
	if (!b)
		return;
	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++)
		if (b->devices[i].used)
			broker_channel_close(b, &b->devices[i], -EAGAIN, DK_REASON_SHUTDOWN);
	for (uint32_t i = 0; b->clients && i < b->cfg.max_clients; i++)
		client_close(b, &b->clients[i]);
	if (b->lfd >= 0) {
		close(b->lfd);
		if (b->socket_path)
			unlink(b->socket_path);
	}
	if (b->ctl >= 0)
		close(b->ctl);
	if (b->hwsim >= 0)
		close(b->hwsim);
	if (b->epfd >= 0)
		close(b->epfd);
	dk_policy_close(b->policy);
	dk_log_close(b->log);
	free(b->clients);
	free(b->socket_path);
	free(b->policyd_path);
	free(b->logd_path);
	free(b);
}
