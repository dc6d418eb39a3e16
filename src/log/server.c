/* SPDX-License-Identifier: MIT */
/*
 * server.c - the dk-logd socket server: one epoll loop, non-blocking SOCK_SEQPACKET
 * connections, a bounded number of clients, a bounded number of frames read per client per
 * wakeup, and no send that can block: a peer whose socket is full is disconnected.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/log.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "log-internal.h"
#include "logd.h"

#define FRAMES_PER_WAKEUP 32
#define EV_LISTEN 0u
#define EV_STOP 1u
#define EV_CONN_BASE 2u

struct conn {
	int fd; /* -1: free slot */
	bool hello;
	bool following;
	uint8_t follow_min_severity;
	uint32_t follow_pid;
	struct dk_logj_cred cred;
	char name[DK_LOG_NAME_MAX + 1];
};

struct dk_logd {
	struct dk_logd_config cfg;
	char *socket_path;
	struct dk_logj *journal;
	int epfd, lfd;
	struct conn *conns;
	uint32_t n_conns, n_followers;
	uint64_t followers_dropped, clients_refused;
	uint8_t rbuf[DK_FRAME_MAX_SIZE + 1];
	uint8_t wbuf[DK_FRAME_MAX_SIZE];
	uint8_t pbuf[DK_FRAME_MAX_PAYLOAD];
};

static void conn_close(struct dk_logd *d, struct conn *c, bool stalled)
{
	if (c->fd < 0)
		return;
	if (c->following) {
		d->n_followers--;
		if (stalled)
			d->followers_dropped++;
	}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	d->n_conns--;
}

/* Send one frame without blocking; a full or broken socket closes the connection. */
static int conn_send(struct dk_logd *d, struct conn *c, uint16_t opcode, uint16_t flags,
		     uint64_t seq, const void *payload, size_t len)
{
	int n = dk_frame_encode(d->wbuf, sizeof(d->wbuf), &dk_logd_proto, opcode, flags, seq,
				payload, len);
	ssize_t s;

	if (n < 0)
		return n;
	do {
		s = send(c->fd, d->wbuf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (s < 0 && errno == EINTR);
	if (s == n)
		return 0;
	conn_close(d, c, s < 0 && (errno == EAGAIN || errno == ENOBUFS));
	return -EPIPE;
}

static int conn_send_error(struct dk_logd *d, struct conn *c, uint16_t opcode, uint64_t seq,
			   int err)
{
	uint8_t p[DK_FRAME_ERROR_PAYLOAD];
	struct dk_wire_writer w;
	uint32_t reason = DK_REASON_PROTOCOL;

	if (err == -EAGAIN)
		reason = DK_REASON_BUDGET;
	else if (err == -EBUSY)
		reason = DK_REASON_NONE;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, (uint32_t)(int32_t)err);
	dk_wire_put_u32(&w, reason);
	return conn_send(d, c, opcode, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR, seq, p, sizeof(p));
}

static void broadcast(struct dk_logd *d, const struct dk_log_record *rec)
{
	struct dk_wire_writer w;

	if (d->n_followers == 0)
		return;
	dk_wire_writer_init(&w, d->pbuf, sizeof(d->pbuf));
	dk_logi_put_record(&w, rec);
	if (dk_wire_writer_error(&w) < 0)
		return;
	for (uint32_t i = 0; i < d->cfg.max_clients; i++) {
		struct conn *c = &d->conns[i];

		if (c->fd < 0 || !c->following ||
		    !dk_logj_match(rec, c->follow_min_severity, c->follow_pid, NULL))
			continue;
		conn_send(d, c, DK_LOGD_OP_RECORD, 0, rec->seq, d->pbuf, dk_wire_writer_len(&w));
	}
}

/* Bytes past what we understand are refused unless the sender speaks a newer minor. */
static bool trailing_ok(const struct dk_frame *f, const struct dk_wire_reader *r)
{
	return dk_wire_reader_left(r) == 0 || f->minor > DK_LOGD_PROTO_MINOR;
}

static int op_hello(struct dk_logd *d, struct conn *c, const struct dk_frame *f)
{
	char name[DK_LOG_NAME_MAX + 1];
	struct dk_wire_reader r;
	uint8_t p[12];
	struct dk_wire_writer w;
	int err;

	if (c->hello)
		return -EPROTO; /* the claim is made once per connection */
	dk_wire_reader_init(&r, f->payload, f->known_length);
	err = dk_logi_get_string(&r, name, DK_LOG_NAME_MAX);
	if (err >= 0)
		err = dk_logi_check_name(name, (size_t)err);
	if (err >= 0 && !trailing_ok(f, &r))
		err = -EPROTO;
	if (err < 0)
		return err;
	memcpy(c->name, name, sizeof(name));
	c->hello = true;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, c->cred.pid);
	dk_wire_put_u32(&w, c->cred.uid);
	dk_wire_put_u32(&w, c->cred.gid);
	return conn_send(d, c, f->opcode, DK_FRAME_F_REPLY, f->seq, p, sizeof(p)) < 0 ? 1 : 0;
}

static int op_append(struct dk_logd *d, struct conn *c, const struct dk_frame *f)
{
	char scope[DK_LOG_SCOPE_MAX + 1], message[DK_LOG_MESSAGE_MAX + 1];
	char fields[DK_LOG_FIELDS_MAX + 1];
	const struct dk_log_record *rec;
	struct dk_wire_reader r;
	uint8_t severity, reserved, p[8];
	struct dk_wire_writer w;
	int err = 0, e[3];

	dk_wire_reader_init(&r, f->payload, f->known_length);
	severity = dk_wire_get_u8(&r);
	reserved = dk_wire_get_u8(&r);
	e[0] = dk_logi_get_string(&r, scope, DK_LOG_SCOPE_MAX);
	e[1] = e[0] == -EPROTO ? -EPROTO : dk_logi_get_string(&r, message, DK_LOG_MESSAGE_MAX);
	e[2] = e[1] == -EPROTO ? -EPROTO : dk_logi_get_string(&r, fields, DK_LOG_FIELDS_MAX);
	/* A broken layout is -EPROTO; an intact layout with a string over its cap, -EMSGSIZE. */
	if (e[2] == -EPROTO || reserved != 0 || !trailing_ok(f, &r))
		err = -EPROTO;
	else if (e[0] < 0 || e[1] < 0 || e[2] < 0)
		err = -EMSGSIZE;
	if (err < 0) {
		dk_logj_note_refused(d->journal, &c->cred);
		return err;
	}
	err = dk_logj_append(d->journal, &c->cred, c->name, severity, scope, message, fields,
			     dk_now_ns(), &rec);
	if (f->opcode == DK_LOGD_OP_APPEND_ASYNC) {
		if (err == -EAGAIN)
			return 0; /* counted as suppressed; fire-and-forget gets no answer */
		if (err < 0)
			return err;
		broadcast(d, rec);
		return 0;
	}
	if (err < 0)
		return err;
	/* Answer before pushing to followers: the sender learns its seq first. */
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, rec->seq);
	err = conn_send(d, c, f->opcode, DK_FRAME_F_REPLY, f->seq, p, sizeof(p));
	broadcast(d, rec);
	return err < 0 ? 1 : 0;
}

static int op_query(struct dk_logd *d, struct conn *c, const struct dk_frame *f)
{
	char prefix[DK_LOG_SCOPE_MAX + 1];
	const struct dk_log_record *rec;
	struct dk_log_query q = {0};
	struct dk_wire_reader r;
	struct dk_wire_writer w, hdr;
	uint16_t max, n = 0;
	uint8_t reserved;
	uint64_t from;
	bool more;
	int err;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	q.seq_min = dk_wire_get_u64(&r);
	q.seq_max = dk_wire_get_u64(&r);
	q.pid = dk_wire_get_u32(&r);
	q.min_severity = dk_wire_get_u8(&r);
	reserved = dk_wire_get_u8(&r);
	max = dk_wire_get_u16(&r);
	err = dk_logi_get_string(&r, prefix, DK_LOG_SCOPE_MAX);
	if (err > 0 && dk_logi_check_scope(prefix, (size_t)err) < 0)
		err = -EPROTO;
	if (err >= 0 && (reserved != 0 || q.min_severity > DK_LOG_SEVERITY_MAX ||
			 !trailing_ok(f, &r)))
		err = -EPROTO;
	if (err < 0)
		return err;
	q.scope_prefix = prefix;
	if (max == 0 || max > DK_LOGD_QUERY_PAGE_MAX)
		max = DK_LOGD_QUERY_PAGE_MAX;

	dk_wire_writer_init(&w, d->pbuf, sizeof(d->pbuf));
	dk_wire_put_u64(&w, 0); /* header, rewritten below */
	dk_wire_put_u64(&w, 0);
	from = q.seq_min;
	rec = dk_logj_find(d->journal, &q, from);
	while (rec && n < max) {
		if (dk_wire_writer_len(&w) + dk_logi_record_wire_size(rec) > sizeof(d->pbuf))
			break;
		dk_logi_put_record(&w, rec);
		n++;
		rec = dk_logj_find(d->journal, &q, rec->seq + 1);
	}
	more = rec != NULL;
	dk_wire_writer_init(&hdr, d->pbuf, DK_LOGD_QUERY_REPLY_FIXED);
	dk_wire_put_u16(&hdr, n);
	dk_wire_put_u16(&hdr, more ? DK_LOGD_QUERY_F_MORE : 0);
	dk_wire_put_u32(&hdr, 0);
	dk_wire_put_u64(&hdr, more ? rec->seq : 0);
	return conn_send(d, c, f->opcode, DK_FRAME_F_REPLY, f->seq, d->pbuf,
			 dk_wire_writer_len(&w)) < 0 ? 1 : 0;
}

static int op_follow(struct dk_logd *d, struct conn *c, const struct dk_frame *f)
{
	struct dk_log_stats st;
	struct dk_wire_reader r;
	struct dk_wire_writer w;
	uint8_t sev, p[8];
	uint16_t reserved;
	uint32_t pid;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	sev = dk_wire_get_u8(&r);
	reserved = dk_wire_get_u8(&r);
	reserved |= dk_wire_get_u16(&r);
	pid = dk_wire_get_u32(&r);
	if (sev > DK_LOG_SEVERITY_MAX || reserved != 0 || !trailing_ok(f, &r))
		return -EPROTO;
	if (c->following)
		return -EBUSY;
	c->following = true;
	c->follow_min_severity = sev;
	c->follow_pid = pid;
	d->n_followers++;
	dk_logj_stats(d->journal, &st);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, st.next_seq);
	return conn_send(d, c, f->opcode, DK_FRAME_F_REPLY, f->seq, p, sizeof(p)) < 0 ? 1 : 0;
}

static int op_stats(struct dk_logd *d, struct conn *c, const struct dk_frame *f)
{
	struct dk_log_stats *st = malloc(sizeof(*st));
	struct dk_wire_writer w;
	int err;

	if (!st)
		return -ENOMEM;
	dk_logj_stats(d->journal, st);
	st->followers = d->n_followers;
	st->followers_dropped = d->followers_dropped;
	st->clients = d->n_conns;
	st->clients_refused = d->clients_refused;
	dk_wire_writer_init(&w, d->pbuf, sizeof(d->pbuf));
	dk_wire_put_u64(&w, st->records);
	dk_wire_put_u64(&w, st->accepted);
	dk_wire_put_u64(&w, st->bytes);
	dk_wire_put_u64(&w, st->dropped);
	dk_wire_put_u64(&w, st->suppressed);
	dk_wire_put_u64(&w, st->refused);
	dk_wire_put_u64(&w, st->followers_dropped);
	dk_wire_put_u64(&w, st->clients_refused);
	dk_wire_put_u64(&w, st->disk_bytes);
	dk_wire_put_u64(&w, st->file_errors);
	dk_wire_put_u64(&w, st->next_seq);
	dk_wire_put_u32(&w, st->capacity);
	dk_wire_put_u32(&w, st->followers);
	dk_wire_put_u32(&w, st->clients);
	dk_wire_put_u32(&w, st->files);
	dk_wire_put_u32(&w, st->n_senders_total);
	dk_wire_put_u32(&w, st->n_senders);
	for (uint32_t i = 0; i < st->n_senders; i++) {
		dk_wire_put_u32(&w, st->senders[i].pid);
		dk_wire_put_u32(&w, st->senders[i].uid);
		dk_wire_put_u64(&w, st->senders[i].accepted);
		dk_wire_put_u64(&w, st->senders[i].suppressed);
		dk_wire_put_u64(&w, st->senders[i].refused);
	}
	free(st);
	if (dk_wire_writer_error(&w) < 0)
		return -EPROTO;
	err = conn_send(d, c, f->opcode, DK_FRAME_F_REPLY, f->seq, d->pbuf,
			dk_wire_writer_len(&w));
	return err < 0 ? 1 : 0;
}

/* Header fields of a frame we refuse, for the error reply (0 when unreadable). */
static void peek_header(const uint8_t *b, size_t n, uint16_t *opcode, uint64_t *seq)
{
	*opcode = 0;
	*seq = 0;
	if (n < DK_FRAME_HEADER_SIZE)
		return;
	*opcode = (uint16_t)(b[8] | b[9] << 8);
	for (int i = 7; i >= 0; i--)
		*seq = *seq << 8 | b[16 + i];
}

/* Handle one received record of @n bytes. Returns 1 when the connection was closed. */
static int handle_frame(struct dk_logd *d, struct conn *c, size_t n, bool truncated)
{
	struct dk_frame f;
	uint16_t opcode;
	uint64_t seq;
	int err;

	peek_header(d->rbuf, n, &opcode, &seq);
	if (truncated) {
		err = -EPROTO;
	} else {
		err = dk_frame_decode(d->rbuf, n, &dk_logd_proto, &f, NULL);
		if (err == 0 && f.flags != 0)
			err = -EPROTO; /* no replies, errors or descriptors from clients */
	}
	if (err == 0) {
		switch (f.opcode) {
		case DK_LOGD_OP_HELLO:
			err = op_hello(d, c, &f);
			break;
		case DK_LOGD_OP_APPEND:
		case DK_LOGD_OP_APPEND_ASYNC:
			err = op_append(d, c, &f);
			break;
		case DK_LOGD_OP_QUERY:
			err = op_query(d, c, &f);
			break;
		case DK_LOGD_OP_FOLLOW:
			err = op_follow(d, c, &f);
			break;
		case DK_LOGD_OP_STATS:
			err = op_stats(d, c, &f);
			break;
		default:
			err = -EOPNOTSUPP;
			break;
		}
		if (err == 1)
			return 1;
		if (err < 0 && err != -EAGAIN && f.opcode != DK_LOGD_OP_APPEND &&
		    f.opcode != DK_LOGD_OP_APPEND_ASYNC)
			dk_logj_note_refused(d->journal, &c->cred);
	} else {
		dk_logj_note_refused(d->journal, &c->cred);
	}
	if (err < 0)
		return conn_send_error(d, c, opcode, seq, err) < 0 ? 1 : 0;
	return 0;
}

static void conn_readable(struct dk_logd *d, struct conn *c)
{
	for (int i = 0; i < FRAMES_PER_WAKEUP && c->fd >= 0; i++) {
		struct iovec iov = {.iov_base = d->rbuf, .iov_len = sizeof(d->rbuf)};
		struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;

		/* No control buffer: descriptors sent to us are discarded by the kernel. */
		n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			conn_close(d, c, false);
			return;
		}
		if (handle_frame(d, c, (size_t)n < sizeof(d->rbuf) ? (size_t)n : sizeof(d->rbuf),
				 (size_t)n > DK_FRAME_MAX_SIZE || (msg.msg_flags & MSG_CTRUNC)))
			return;
	}
}

static void accept_one(struct dk_logd *d)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct conn *c = NULL;
	int fd;

	fd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (uint32_t i = 0; i < d->cfg.max_clients && !c; i++)
		if (d->conns[i].fd < 0)
			c = &d->conns[i];
	/* The identity is fixed here, at connect time, from the kernel; never from a frame. */
	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		d->clients_refused++;
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->cred.pid = (uint32_t)cred.pid;
	c->cred.uid = cred.uid;
	c->cred.gid = cred.gid;
	ev.data.u64 = EV_CONN_BASE + (uint64_t)(c - d->conns);
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		c->fd = -1;
		d->clients_refused++;
		return;
	}
	d->n_conns++;
}

int dk_logd_run(struct dk_logd *d, int stop_fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_STOP};
	int err = 0;

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, stop_fd, &ev) < 0)
		return -errno;
	for (;;) {
		struct epoll_event evs[32];
		int n = epoll_wait(d->epfd, evs, 32, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		for (int i = 0; i < n; i++) {
			uint64_t id = evs[i].data.u64;

			if (id == EV_STOP)
				goto out;
			if (id == EV_LISTEN) {
				accept_one(d);
				continue;
			}
			if (d->conns[id - EV_CONN_BASE].fd >= 0)
				conn_readable(d, &d->conns[id - EV_CONN_BASE]);
		}
	}
out:
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
	return err;
}

int dk_logd_create(const struct dk_logd_config *cfg, struct dk_logd **ret_server)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_LISTEN};
	struct dk_logd *d;
	int err;

	if (!cfg || !cfg->socket_path || !ret_server)
		return -EINVAL;
	err = dk_logd_config_check(cfg);
	if (err < 0)
		return err;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->epfd = -1;
	d->lfd = -1;
	d->conns = calloc(cfg->max_clients, sizeof(*d->conns));
	d->socket_path = strdup(cfg->socket_path);
	if (!d->conns || !d->socket_path) {
		err = -ENOMEM;
		goto out_destroy;
	}
	for (uint32_t i = 0; i < cfg->max_clients; i++)
		d->conns[i].fd = -1;
	err = dk_logj_create(cfg, &d->journal);
	if (err < 0)
		goto out_destroy;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		err = -errno;
		goto out_destroy;
	}
	err = dk_socket_listen(cfg->socket_path, 64, &d->lfd);
	if (err < 0) {
		free(d->socket_path);
		d->socket_path = NULL; /* not ours: never unlink it */
		goto out_destroy;
	}
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->lfd, &ev) < 0) {
		err = -errno;
		goto out_destroy;
	}
	*ret_server = d;
	return 0;

out_destroy:
	dk_logd_destroy(d);
	return err;
}

void dk_logd_destroy(struct dk_logd *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; d->conns && i < d->cfg.max_clients; i++)
		conn_close(d, &d->conns[i], false);
	if (d->lfd >= 0) {
		close(d->lfd);
		if (d->socket_path)
			unlink(d->socket_path);
	}
	if (d->epfd >= 0)
		close(d->epfd);
	dk_logj_destroy(d->journal);
	free(d->conns);
	free(d->socket_path);
	free(d);
}
