/* SPDX-License-Identifier: MIT */
/*
 * server.c - the dk-policyd socket server: one epoll loop over the listening socket, a
 * signalfd and a bounded number of non-blocking SOCK_SEQPACKET connections; a bounded number of
 * frames read per client per wakeup; no send that can block (a peer whose socket is full is
 * disconnected). Every decision and every refused asker is audited to dk-logd.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/log.h>
#include <dk/qos.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "policy-internal.h"
#include "policyd.h"

#define FRAMES_PER_WAKEUP 32
#define EV_LISTEN 0u
#define EV_SIGNAL 1u
#define EV_CONN_BASE 2u

struct conn {
	int fd; /* -1: free slot */
	uint32_t pid, uid, gid;
	bool asker;
};

struct dk_policyd {
	struct dk_policyd_config cfg;
	char *socket_path, *policy_path, *logd_path;
	struct dk_policy *policy;
	int epfd, lfd;
	struct conn *conns;
	struct dk_log_client *log;
	uint64_t log_retry_ns; /* no reconnect attempt before this time after a failure */
	struct dk_policy_stats st;
	uint8_t rbuf[DK_FRAME_MAX_SIZE + 1];
	uint8_t wbuf[DK_FRAME_MAX_SIZE];
};

__attribute__((format(printf, 2, 3))) static void report(struct dk_policyd *d, const char *fmt,
							 ...)
{
	char line[512];
	va_list ap;

	if (!d->cfg.report)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	d->cfg.report(d->cfg.report_data, line);
}

/* ---- audit ---- */

/* Append one record to dk-logd; a decision never waits on a missing journal for long. */
static void audit(struct dk_policyd *d, enum dk_log_severity sev, const char *message,
		  const char *fields)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		uint64_t now = dk_now_ns();
		int err;

		if (!d->logd_path)
			break;
		if (!d->log) {
			if (now < d->log_retry_ns)
				break;
			err = dk_log_connect(d->logd_path, "dk-policyd",
					     now + DK_POLICYD_AUDIT_TIMEOUT_NS, &d->log);
			if (err < 0) {
				d->log = NULL;
				d->log_retry_ns = now + DK_POLICYD_AUDIT_RETRY_NS;
				break;
			}
		}
		err = dk_log_append(d->log, sev, "policy", message, fields,
				    dk_now_ns() + DK_POLICYD_AUDIT_TIMEOUT_NS, NULL);
		if (err == 0) {
			d->st.audited++;
			return;
		}
		if (err == -EAGAIN)
			break; /* the journal's rate limit: the connection is fine */
		/* Broken connection (daemon restarted?): reconnect once, now. */
		dk_log_close(d->log);
		d->log = NULL;
		if (err != -EPIPE)
			d->log_retry_ns = dk_now_ns() + DK_POLICYD_AUDIT_RETRY_NS;
	}
	d->st.unaudited++;
}

static void subject_text(const struct dk_policy_subject *s, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	if (s->kinds & DK_POLICY_SUBJECT_SERVICE)
		n += (size_t)snprintf(buf + n, size - n, "service:%s", s->service);
	if ((s->kinds & DK_POLICY_SUBJECT_UID) && n < size)
		n += (size_t)snprintf(buf + n, size - n, "%suid:%" PRIu32, n ? "," : "", s->uid);
	if ((s->kinds & DK_POLICY_SUBJECT_GID) && n < size)
		snprintf(buf + n, size - n, "%sgid:%" PRIu32, n ? "," : "", s->gid);
}

static void audit_decision(struct dk_policyd *d, const struct conn *c,
			   const struct dk_policy_subject *s, const char *device,
			   const char *device_class, const struct dk_policy_decision *dec)
{
	char subject[2 * DK_POLICY_NAME_MAX + 64], fields[DK_LOG_FIELDS_MAX + 1];
	char message[DK_LOG_MESSAGE_MAX + 1], violations[16] = "-";
	bool allow = dec->verdict == DK_POLICY_ALLOW;

	subject_text(s, subject, sizeof(subject));
	if (allow && dec->grant.max_violations != DK_POLICY_MAX_VIOLATIONS_UNSET)
		snprintf(violations, sizeof(violations), "%" PRIu32, dec->grant.max_violations);
	snprintf(message, sizeof(message), "%s %s to %s", allow ? "allow" : "deny", subject,
		 device);
	snprintf(fields, sizeof(fields),
		 "asker_pid=%" PRIu32 " asker_uid=%" PRIu32 " subject=%s device=%s class=%s "
		 "decision=%s rule=%s reason=%s rights=0x%" PRIx32 " qos=%s max_violations=%s "
		 "generation=%" PRIu64,
		 c->pid, c->uid, subject, device, device_class[0] ? device_class : "-",
		 allow ? "allow" : "deny", dec->rule[0] ? dec->rule : "-",
		 dk_policy_reason_name(dec->reason), dec->grant.rights,
		 allow ? dk_qos_name(dec->grant.qos) : "-", violations, dec->generation);
	audit(d, DK_LOG_AUDIT, message, fields);
}

/* ---- connections ---- */

static void conn_close(struct dk_policyd *d, struct conn *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	d->st.clients--;
}

static int conn_send(struct dk_policyd *d, struct conn *c, uint16_t opcode, uint16_t flags,
		     uint64_t seq, const void *payload, size_t len)
{
	int n = dk_frame_encode(d->wbuf, sizeof(d->wbuf), &dk_policyd_proto, opcode, flags, seq,
				payload, len);
	ssize_t s;

	if (n < 0)
		return n;
	do {
		s = send(c->fd, d->wbuf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (s < 0 && errno == EINTR);
	if (s == n)
		return 0;
	conn_close(d, c);
	return -EPIPE;
}

static int conn_send_error(struct dk_policyd *d, struct conn *c, uint16_t opcode, uint64_t seq,
			   int err)
{
	uint8_t p[DK_FRAME_ERROR_PAYLOAD];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, (uint32_t)(int32_t)err);
	dk_wire_put_u32(&w, err == -EACCES ? DK_REASON_POLICY : DK_REASON_PROTOCOL);
	return conn_send(d, c, opcode, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR, seq, p, sizeof(p));
}

/* A name string of the CHECK payload: -EPROTO unless empty (when @may_be_empty) or valid. */
static int get_name(struct dk_wire_reader *r, char *buf, bool may_be_empty)
{
	size_t n = dk_wire_get_string(r, buf, DK_POLICY_NAME_MAX + 1);

	if (dk_wire_reader_error(r) < 0)
		return -EPROTO;
	if (n == 0)
		return may_be_empty ? 0 : -EPROTO;
	return dk_policyi_name_ok(buf, n) ? 0 : -EPROTO;
}

static int op_check(struct dk_policyd *d, struct conn *c, const struct dk_frame *f)
{
	char service[DK_POLICY_NAME_MAX + 1], device[DK_POLICY_NAME_MAX + 1];
	char device_class[DK_POLICY_NAME_MAX + 1];
	uint8_t p[DK_POLICYD_DECISION_FIXED + 2 + DK_POLICY_NAME_MAX + DK_POLICYD_DECISION_TAIL];
	struct dk_policy_subject s = {0};
	struct dk_policy_decision dec;
	struct dk_wire_reader r;
	struct dk_wire_writer w;
	uint8_t kinds, reserved8;
	uint16_t reserved16;
	int err;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	kinds = dk_wire_get_u8(&r);
	reserved8 = dk_wire_get_u8(&r);
	reserved16 = dk_wire_get_u16(&r);
	s.uid = dk_wire_get_u32(&r);
	s.gid = dk_wire_get_u32(&r);
	s.kinds = kinds;
	err = get_name(&r, service, !(kinds & DK_POLICY_SUBJECT_SERVICE));
	if (err == 0)
		err = get_name(&r, device, false);
	if (err == 0)
		err = get_name(&r, device_class, true);
	/* A field that contradicts the kinds, reserved bits or trailing bytes: malformed. */
	if (err == 0 &&
	    (reserved8 || reserved16 || kinds == 0 || (kinds & ~DK_POLICY_SUBJECT_KNOWN) ||
	     (!(kinds & DK_POLICY_SUBJECT_SERVICE) && service[0]) ||
	     (!(kinds & DK_POLICY_SUBJECT_UID) && s.uid) ||
	     (!(kinds & DK_POLICY_SUBJECT_GID) && s.gid) ||
	     (dk_wire_reader_left(&r) && f->minor <= DK_POLICYD_PROTO_MINOR)))
		err = -EPROTO;
	if (err < 0)
		return err;
	s.service = service;
	err = dk_policy_decide(d->policy, &s, device, device_class, &dec);
	if (err < 0)
		return -EPROTO;
	dec.generation = d->st.generation;
	d->st.checks++;
	if (dec.verdict == DK_POLICY_ALLOW)
		d->st.allowed++;
	else
		d->st.denied++;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_policyi_put_decision(&w, &dec);
	err = conn_send(d, c, f->opcode, DK_FRAME_F_REPLY, f->seq, p, dk_wire_writer_len(&w));
	/* Answer first, then journal: the asker does not wait on dk-logd. */
	audit_decision(d, c, &s, device, device_class, &dec);
	return err < 0 ? 1 : 0;
}

static int op_stats(struct dk_policyd *d, struct conn *c, const struct dk_frame *f)
{
	uint8_t p[DK_POLICYD_STATS_SIZE];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, d->st.checks);
	dk_wire_put_u64(&w, d->st.allowed);
	dk_wire_put_u64(&w, d->st.denied);
	dk_wire_put_u64(&w, d->st.refused);
	dk_wire_put_u64(&w, d->st.askers_refused);
	dk_wire_put_u64(&w, d->st.audited);
	dk_wire_put_u64(&w, d->st.unaudited);
	dk_wire_put_u64(&w, d->st.reloads);
	dk_wire_put_u64(&w, d->st.reload_failures);
	dk_wire_put_u64(&w, d->st.generation);
	dk_wire_put_u32(&w, dk_policy_n_rules(d->policy));
	dk_wire_put_u32(&w, d->st.clients);
	dk_wire_put_u64(&w, d->st.clients_refused);
	return conn_send(d, c, f->opcode, DK_FRAME_F_REPLY, f->seq, p, sizeof(p)) < 0 ? 1 : 0;
}

/* ---- reload ---- */

/*
 * Re-read the policy file: SIGHUP (@c NULL) or a RELOAD request from asker @c. Returns 0 when
 * the new policy is in force, else the load's error with @e filled (the old policy stays).
 */
static int reload(struct dk_policyd *d, const struct conn *c, struct dk_policy_error *e)
{
	char fields[DK_LOG_FIELDS_MAX + 1], message[DK_LOG_MESSAGE_MAX + 1], who[96];
	struct dk_policy *pol;
	int err;

	memset(e, 0, sizeof(*e));
	err = dk_policy_load(d->policy_path, &pol, e);
	if (c)
		snprintf(who, sizeof(who),
			 "trigger=request asker_pid=%" PRIu32 " asker_uid=%" PRIu32, c->pid,
			 c->uid);
	else
		snprintf(who, sizeof(who), "trigger=sighup");
	if (err < 0) {
		d->st.reload_failures++;
		report(d, "reload refused, generation %" PRIu64 " stays in force: %s:%" PRIu32
			  ": %s",
			d->st.generation, d->policy_path, e->line, e->message);
		snprintf(message, sizeof(message), "reload refused: line %" PRIu32 ": %.200s",
			 e->line, e->message);
		snprintf(fields, sizeof(fields),
			 "event=reload result=refused line=%" PRIu32 " generation=%" PRIu64 " %s",
			 e->line, d->st.generation, who);
		audit(d, DK_LOG_ERROR, message, fields);
		return err;
	}
	/* Between requests: the loop is single-threaded, so the swap is atomic for askers. */
	dk_policy_destroy(d->policy);
	d->policy = pol;
	d->st.generation++;
	d->st.reloads++;
	report(d, "reloaded %s: %" PRIu32 " rules, generation %" PRIu64, d->policy_path,
	       dk_policy_n_rules(pol), d->st.generation);
	snprintf(message, sizeof(message), "policy reloaded: %" PRIu32 " rules",
		 dk_policy_n_rules(pol));
	snprintf(fields, sizeof(fields),
		 "event=reload result=ok rules=%" PRIu32 " generation=%" PRIu64 " %s",
		 dk_policy_n_rules(pol), d->st.generation, who);
	audit(d, DK_LOG_NOTICE, message, fields);
	return 0;
}

/* RELOAD: the same as SIGHUP, answered with the result (a refused file is not a frame error). */
static int op_reload(struct dk_policyd *d, struct conn *c, const struct dk_frame *f)
{
	uint8_t p[DK_POLICYD_RELOAD_FIXED + 2 + DK_POLICY_ERROR_MAX];
	struct dk_policy_error e;
	struct dk_wire_writer w;
	int err = reload(d, c, &e);

	if (err == 0)
		memset(&e, 0, sizeof(e));
	e.message[sizeof(e.message) - 1] = '\0';
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, (uint32_t)(int32_t)err);
	dk_wire_put_u32(&w, e.line);
	dk_wire_put_u64(&w, d->st.generation);
	dk_wire_put_u32(&w, dk_policy_n_rules(d->policy));
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, e.message);
	if (dk_wire_writer_error(&w) < 0)
		return -EPROTO;
	return conn_send(d, c, f->opcode, DK_FRAME_F_REPLY, f->seq, p, dk_wire_writer_len(&w)) < 0
		       ? 1
		       : 0;
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

static void audit_refused_asker(struct dk_policyd *d, const struct conn *c, uint16_t opcode)
{
	char fields[160];

	snprintf(fields, sizeof(fields),
		 "asker_pid=%" PRIu32 " asker_uid=%" PRIu32 " asker_gid=%" PRIu32
		 " opcode=%u decision=refused reason=not-an-asker",
		 c->pid, c->uid, c->gid, opcode);
	audit(d, DK_LOG_AUDIT, "refused a request from a uid that may not ask", fields);
}

/* Handle one received record of @n bytes. Returns 1 when the connection was closed. */
static int handle_frame(struct dk_policyd *d, struct conn *c, size_t n, bool truncated)
{
	struct dk_frame f;
	uint16_t opcode;
	uint64_t seq;
	int err;

	peek_header(d->rbuf, n, &opcode, &seq);
	if (truncated) {
		err = -EPROTO;
	} else {
		err = dk_frame_decode(d->rbuf, n, &dk_policyd_proto, &f, NULL);
		if (err == 0 && f.flags != 0)
			err = -EPROTO; /* no replies, errors or descriptors from askers */
	}
	/* Identity from the kernel, checked before anything in the payload is looked at. */
	if (err == 0 && !c->asker) {
		d->st.askers_refused++;
		audit_refused_asker(d, c, f.opcode);
		err = -EACCES;
	} else if (err == 0) {
		switch (f.opcode) {
		case DK_POLICYD_OP_CHECK:
			err = op_check(d, c, &f);
			break;
		case DK_POLICYD_OP_STATS:
			err = op_stats(d, c, &f);
			break;
		case DK_POLICYD_OP_RELOAD:
			err = op_reload(d, c, &f);
			break;
		default:
			err = -EOPNOTSUPP;
			break;
		}
		if (err == 1)
			return 1;
		if (err < 0)
			d->st.refused++;
	} else {
		d->st.refused++;
	}
	if (err < 0)
		return conn_send_error(d, c, opcode, seq, err) < 0 ? 1 : 0;
	return 0;
}

static void conn_readable(struct dk_policyd *d, struct conn *c)
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
			conn_close(d, c);
			return;
		}
		if (handle_frame(d, c, (size_t)n < sizeof(d->rbuf) ? (size_t)n : sizeof(d->rbuf),
				 (size_t)n > DK_FRAME_MAX_SIZE || (msg.msg_flags & MSG_CTRUNC)))
			return;
	}
}

static void accept_one(struct dk_policyd *d)
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
	if (!c || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		d->st.clients_refused++;
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->pid = (uint32_t)cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	for (uint32_t i = 0; i < d->cfg.n_askers; i++)
		if (d->cfg.askers[i] == c->uid)
			c->asker = true;
	ev.data.u64 = EV_CONN_BASE + (uint64_t)(c - d->conns);
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		d->st.clients_refused++;
		return;
	}
	c->fd = fd;
	d->st.clients++;
}

/* Read pending signals: 1 to stop, 0 to go on. */
static int signals(struct dk_policyd *d, int sfd)
{
	struct signalfd_siginfo si;

	for (;;) {
		ssize_t n = read(sfd, &si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return 0;
		if (si.ssi_signo == SIGHUP) {
			struct dk_policy_error e;

			reload(d, NULL, &e);
		}
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			return 1;
	}
}

int dk_policyd_run(struct dk_policyd *d, int signal_fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_SIGNAL};
	int err = 0;

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, signal_fd, &ev) < 0)
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

			if (id == EV_SIGNAL) {
				if (signals(d, signal_fd))
					goto out;
				continue;
			}
			if (id == EV_LISTEN) {
				accept_one(d);
				continue;
			}
			if (d->conns[id - EV_CONN_BASE].fd >= 0)
				conn_readable(d, &d->conns[id - EV_CONN_BASE]);
		}
	}
out:
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, signal_fd, NULL);
	return err;
}

/* ---- setup ---- */

int dk_policyd_create(const struct dk_policyd_config *cfg, struct dk_policyd **ret_server,
		      struct dk_policy_error *ret_error)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_LISTEN};
	struct dk_policyd *d;
	int err;

	if (!cfg || !cfg->socket_path || !cfg->policy_path || !ret_server || cfg->n_askers == 0 ||
	    cfg->n_askers > DK_POLICYD_ASKERS_MAX || cfg->max_clients == 0 ||
	    cfg->max_clients > DK_POLICYD_CLIENTS_MAX)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	d->epfd = -1;
	d->lfd = -1;
	d->conns = calloc(cfg->max_clients, sizeof(*d->conns));
	d->policy_path = strdup(cfg->policy_path);
	d->logd_path = cfg->logd_path ? strdup(cfg->logd_path) : NULL;
	if (!d->conns || !d->policy_path || (cfg->logd_path && !d->logd_path)) {
		err = -ENOMEM;
		goto out_destroy;
	}
	for (uint32_t i = 0; i < cfg->max_clients; i++)
		d->conns[i].fd = -1;
	err = dk_policy_load(cfg->policy_path, &d->policy, ret_error);
	if (err < 0)
		goto out_destroy;
	d->st.generation = 1;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0) {
		err = -errno;
		goto out_destroy;
	}
	err = dk_socket_listen(cfg->socket_path, 64, &d->lfd);
	if (err < 0)
		goto out_destroy; /* socket_path is still NULL: never unlink what is not ours */
	d->socket_path = strdup(cfg->socket_path);
	if (!d->socket_path) {
		err = -ENOMEM;
		unlink(cfg->socket_path);
		goto out_destroy;
	}
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->lfd, &ev) < 0) {
		err = -errno;
		goto out_destroy;
	}
	*ret_server = d;
	return 0;

out_destroy:
	dk_policyd_destroy(d);
	return err;
}

void dk_policyd_destroy(struct dk_policyd *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; d->conns && i < d->cfg.max_clients; i++)
		conn_close(d, &d->conns[i]);
	if (d->lfd >= 0) {
		close(d->lfd);
		if (d->socket_path)
			unlink(d->socket_path);
	}
	if (d->epfd >= 0)
		close(d->epfd);
	dk_log_close(d->log);
	dk_policy_destroy(d->policy);
	free(d->conns);
	free(d->socket_path);
	free(d->policy_path);
	free(d->logd_path);
	free(d);
}
