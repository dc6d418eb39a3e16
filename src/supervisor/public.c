/* SPDX-License-Identifier: MIT */
/*
 * public.c - $RT/supervisor.sock, protocol "supervisor" (dk/runtime.h): STATUS and STOP for
 * dkctl. Only the supervisor's own uid (or root) is answered; everyone else gets -EACCES
 * (reason DK_REASON_POLICY). A malformed frame gets an error reply and the connection stays.
 * Nothing here waits: a client whose socket is full is disconnected.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "supervisor-internal.h"

#define FRAMES_PER_WAKEUP 16

static void conn_close(struct dk_supd *s, struct dk_supd_pconn *c)
{
	if (c->fd < 0)
		return;
	dk_supd_unwatch(s, c->fd);
	close(c->fd);
	c->fd = -1;
}

void dk_supd_public_close_all(struct dk_supd *s)
{
	for (uint32_t i = 0; i < DK_SUPD_CLIENTS_MAX; i++)
		conn_close(s, &s->conns[i]);
}

void dk_supd_public_accept(struct dk_supd *s)
{
	struct dk_supd_pconn *c = NULL;
	int fd;

	fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (uint32_t i = 0; i < DK_SUPD_CLIENTS_MAX && !c; i++)
		if (s->conns[i].fd < 0)
			c = &s->conns[i];
	/* Over the cap: closed at once. The identity is the kernel's, fixed at connect time. */
	if (!c || dk_socket_peer(fd, NULL, &c->uid, NULL) < 0 ||
	    dk_supd_watch(s, fd, DK_SUPD_EV(DK_SUPD_EV_CLIENT, c - s->conns)) < 0) {
		close(fd);
		return;
	}
	c->fd = fd;
}

static int send_status(struct dk_supd *s, struct dk_supd_pconn *c, uint64_t seq)
{
	uint8_t p[DK_FRAME_MAX_PAYLOAD];
	struct dk_wire_writer w;
	int err;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, s->n);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_u64(&w, dk_now_ns() - s->start_ns);
	for (uint32_t i = 0; i < s->n; i++) {
		const struct dk_supd_service *v = &s->svcs[i];

		dk_wire_put_string(&w, v->cfg->name);
		dk_wire_put_string(&w, dk_supd_kind_name(v->cfg->kind));
		dk_wire_put_u32(&w, v->state);
		dk_wire_put_u32(&w, v->pid > 0 ? (uint32_t)v->pid : 0);
		dk_wire_put_u64(&w, v->generation);
		dk_wire_put_u32(&w, v->restarts);
		dk_wire_put_u32(&w, 0);
		dk_wire_put_u32(&w, (uint32_t)v->last_exit);
		dk_wire_put_u32(&w, v->last_signal);
		dk_wire_put_u64(&w, v->n_fences);
		dk_wire_put_u64(&w, v->fences_reaped);
		dk_wire_put_u64(&w, v->last_ready_ns);
	}
	/* The manifest parser refuses names that would not fit (manifest.c). */
	err = dk_wire_writer_error(&w);
	if (err < 0)
		return dk_msg_reply_error(c->fd, &dk_supd_reply_proto, DK_SUPD_OP_STATUS, seq,
					  -EMSGSIZE, DK_REASON_NONE);
	return dk_msg_send(c->fd, &dk_supd_reply_proto, DK_SUPD_OP_STATUS, DK_FRAME_F_REPLY, seq, p,
			   dk_wire_writer_len(&w), NULL, 0, 0);
}

/* Handle one request. Returns < 0 when the connection must be closed. */
static int handle(struct dk_supd *s, struct dk_supd_pconn *c, int err)
{
	struct dk_msg *msg = &s->msg;
	uint16_t opcode = msg->have_header ? msg->raw_opcode : 0;
	uint64_t seq = msg->have_header ? msg->raw_seq : 0;
	bool allowed = c->uid == (uint32_t)getuid() || c->uid == 0;

	if (err == 0 && (msg->frame.flags != 0 || msg->n_fds)) {
		dk_msg_close_fds(msg);
		err = -EPROTO; /* no replies, errors or descriptors from clients */
	}
	if (!allowed)
		return dk_msg_reply_error(c->fd, &dk_supd_reply_proto, opcode, seq, -EACCES,
					  DK_REASON_POLICY);
	if (err < 0)
		return dk_msg_reply_error(c->fd, &dk_supd_reply_proto, opcode, seq, err,
					  DK_REASON_PROTOCOL);
	switch (msg->frame.opcode) {
	case DK_SUPD_OP_STATUS:
		return send_status(s, c, msg->frame.seq);
	case DK_SUPD_OP_STOP:
		err = dk_msg_send(c->fd, &dk_supd_reply_proto, DK_SUPD_OP_STOP, DK_FRAME_F_REPLY,
				  msg->frame.seq, NULL, 0, NULL, 0, 0);
		dk_supd_journal(s, DK_LOG_NOTICE, "supervisor.stop", "stop requested",
				"uid=%u", c->uid);
		dk_supd_shutdown(s, 0);
		return err;
	default:
		return dk_msg_reply_error(c->fd, &dk_supd_reply_proto, opcode, seq, -EOPNOTSUPP,
					  DK_REASON_PROTOCOL);
	}
}

void dk_supd_public_readable(struct dk_supd *s, uint32_t slot)
{
	struct dk_supd_pconn *c = &s->conns[slot];

	for (int i = 0; i < FRAMES_PER_WAKEUP && c->fd >= 0; i++) {
		int err = dk_msg_recv(c->fd, &dk_supd_proto, 0, &s->msg, NULL);

		if (err == -EAGAIN)
			return;
		if (err < 0 && err != -EPROTO && err != -EOPNOTSUPP) {
			conn_close(s, c); /* closed by the peer, or broken */
			return;
		}
		if (handle(s, c, err) < 0)
			conn_close(s, c);
	}
}
