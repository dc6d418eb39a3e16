/* SPDX-License-Identifier: MIT */
/*
 * client.c - the dk-policyd client API (dk/policy.h): one SOCK_SEQPACKET connection, one
 * request in flight, every wait bounded by the caller's deadline.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <dk/policy.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "policy-internal.h"

static const struct dk_frame_opdesc reply_ops[] = {
	{DK_POLICYD_OP_CHECK, 0, DK_POLICYD_DECISION_FIXED + 2,
	 DK_POLICYD_DECISION_FIXED + 2 + DK_POLICY_NAME_MAX + DK_POLICYD_DECISION_TAIL, "check"},
	{DK_POLICYD_OP_STATS, 0, DK_POLICYD_STATS_SIZE, DK_POLICYD_STATS_SIZE, "stats"},
	{DK_POLICYD_OP_RELOAD, 1, DK_POLICYD_RELOAD_FIXED + 2,
	 DK_POLICYD_RELOAD_FIXED + 2 + DK_POLICY_ERROR_MAX - 1, "reload"},
};

static const struct dk_frame_proto reply_proto = {
	.name = "policyd-reply",
	.minor = DK_POLICYD_PROTO_MINOR,
	.n_ops = sizeof(reply_ops) / sizeof(reply_ops[0]),
	.ops = reply_ops,
};

struct dk_policy_client {
	int fd;
	uint64_t last_seq;
	uint8_t rbuf[DK_FRAME_MAX_SIZE + 1];
	uint8_t wbuf[DK_FRAME_MAX_SIZE];
};


/* Send a request and wait for its reply; *@ret points into c->rbuf until the next call. */
static int call(struct dk_policy_client *c, uint16_t opcode, const void *payload, size_t len,
		uint64_t deadline_ns, struct dk_frame *ret)
{
	uint64_t seq;
	int n, err = dk_deadline_check(deadline_ns);

	if (err < 0)
		return err;
	seq = ++c->last_seq;
	n = dk_frame_encode(c->wbuf, sizeof(c->wbuf), &dk_policyd_proto, opcode, 0, seq, payload,
			    len);
	if (n < 0)
		return n;
	for (;;) {
		ssize_t s = send(c->fd, c->wbuf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (s == n)
			break;
		if (s >= 0)
			return -EPROTO;
		if (errno == EINTR)
			continue;
		if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
			return -EPIPE;
		if (errno != EAGAIN)
			return -errno;
		err = dk_socket_wait(c->fd, POLLOUT, deadline_ns);
		if (err < 0)
			return err;
	}
	for (;;) {
		ssize_t r = recv(c->fd, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT | MSG_TRUNC);
		struct dk_frame f;

		if (r == 0)
			return -EPIPE;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET || errno == ENOTCONN)
				return -EPIPE;
			if (errno != EAGAIN)
				return -errno;
			err = dk_socket_wait(c->fd, POLLIN, deadline_ns);
			if (err < 0)
				return err;
			continue;
		}
		if ((size_t)r > DK_FRAME_MAX_SIZE)
			return -EPROTO;
		err = dk_frame_decode(c->rbuf, (size_t)r, &reply_proto, &f, NULL);
		if (err < 0)
			return -EPROTO;
		if (!(f.flags & DK_FRAME_F_REPLY) || f.seq != seq || f.opcode != opcode)
			continue; /* a stale reply of a request that timed out */
		if (f.flags & DK_FRAME_F_ERROR) {
			struct dk_wire_reader rd;
			int32_t e;

			dk_wire_reader_init(&rd, f.payload, f.known_length);
			e = (int32_t)dk_wire_get_u32(&rd);
			return e < 0 && e >= -4095 ? e : -EPROTO;
		}
		*ret = f;
		return 0;
	}
}

int dk_policy_connect(const char *socket_path, uint64_t deadline_ns,
		      struct dk_policy_client **ret_client)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct dk_policy_client *c;
	int err;

	if (!socket_path || !ret_client || strlen(socket_path) >= sizeof(addr.sun_path))
		return -EINVAL;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	err = dk_socket_connect(socket_path, deadline_ns, &c->fd);
	if (err < 0)
		goto out_free;
	*ret_client = c;
	return 0;

out_free:
	free(c);
	return err;
}

void dk_policy_close(struct dk_policy_client *client)
{
	if (!client)
		return;
	close(client->fd);
	free(client);
}

int dk_policy_check(struct dk_policy_client *client, const struct dk_policy_subject *subject,
		    const char *device, const char *device_class, uint64_t deadline_ns,
		    struct dk_policy_decision *ret_decision)
{
	uint8_t p[DK_POLICYD_CHECK_FIXED + 3 * (2 + DK_POLICY_NAME_MAX)];
	struct dk_policy_decision d;
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	struct dk_frame f;
	uint16_t reserved;
	int err;

	if (!client || !ret_decision || !dk_policyi_question_ok(subject, device, device_class))
		return -EINVAL;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_policyi_put_check(&w, subject, device, device_class);
	if (dk_wire_writer_error(&w) < 0)
		return -EINVAL;
	err = call(client, DK_POLICYD_OP_CHECK, p, dk_wire_writer_len(&w), deadline_ns, &f);
	if (err < 0)
		return err;
	memset(&d, 0, sizeof(d));
	dk_wire_reader_init(&r, f.payload, f.known_length);
	d.verdict = dk_wire_get_u8(&r);
	d.reason = dk_wire_get_u8(&r);
	reserved = dk_wire_get_u16(&r);
	d.grant.rights = dk_wire_get_u32(&r);
	d.grant.qos = dk_wire_get_u32(&r);
	d.grant.max_buffers = dk_wire_get_u32(&r);
	d.grant.max_bytes = dk_wire_get_u64(&r);
	d.grant.max_inflight = dk_wire_get_u32(&r);
	d.grant.max_fences = dk_wire_get_u32(&r);
	d.generation = dk_wire_get_u64(&r);
	dk_wire_get_string(&r, d.rule, sizeof(d.rule));
	/* A daemon older than minor 2 knows no kill threshold: its grants leave it to the service. */
	if (f.minor >= 2)
		d.grant.max_violations = dk_wire_get_u32(&r);
	else if (d.verdict == DK_POLICY_ALLOW)
		d.grant.max_violations = DK_POLICY_MAX_VIOLATIONS_UNSET;
	if (dk_wire_reader_error(&r) < 0 || reserved != 0 || d.verdict > DK_POLICY_ALLOW ||
	    d.reason > DK_POLICY_REASON_DENY_RULE ||
	    (d.grant.max_violations > DK_POLICY_MAX_VIOLATIONS_CAP &&
	     d.grant.max_violations != DK_POLICY_MAX_VIOLATIONS_UNSET))
		return -EPROTO;
	*ret_decision = d;
	return 0;
}

int dk_policy_stats(struct dk_policy_client *client, uint64_t deadline_ns,
		    struct dk_policy_stats *ret_stats)
{
	struct dk_policy_stats s;
	struct dk_wire_reader r;
	struct dk_frame f;
	int err;

	if (!client || !ret_stats)
		return -EINVAL;
	err = call(client, DK_POLICYD_OP_STATS, NULL, 0, deadline_ns, &f);
	if (err < 0)
		return err;
	dk_wire_reader_init(&r, f.payload, f.known_length);
	s.checks = dk_wire_get_u64(&r);
	s.allowed = dk_wire_get_u64(&r);
	s.denied = dk_wire_get_u64(&r);
	s.refused = dk_wire_get_u64(&r);
	s.askers_refused = dk_wire_get_u64(&r);
	s.audited = dk_wire_get_u64(&r);
	s.unaudited = dk_wire_get_u64(&r);
	s.reloads = dk_wire_get_u64(&r);
	s.reload_failures = dk_wire_get_u64(&r);
	s.generation = dk_wire_get_u64(&r);
	s.rules = dk_wire_get_u32(&r);
	s.clients = dk_wire_get_u32(&r);
	s.clients_refused = dk_wire_get_u64(&r);
	if (dk_wire_reader_error(&r) < 0)
		return -EPROTO;
	*ret_stats = s;
	return 0;
}

int dk_policy_reload(struct dk_policy_client *client, uint64_t deadline_ns,
		     struct dk_policy_error *ret_error)
{
	struct dk_policy_error e = {0};
	struct dk_wire_reader r;
	struct dk_frame f;
	uint32_t reserved;
	int32_t result;
	int err;

	if (!client)
		return -EINVAL;
	err = call(client, DK_POLICYD_OP_RELOAD, NULL, 0, deadline_ns, &f);
	if (err < 0)
		return err;
	dk_wire_reader_init(&r, f.payload, f.known_length);
	result = (int32_t)dk_wire_get_u32(&r);
	e.line = dk_wire_get_u32(&r);
	(void)dk_wire_get_u64(&r); /* generation in force: dk_policy_stats() has it too */
	(void)dk_wire_get_u32(&r); /* rules in force */
	reserved = dk_wire_get_u32(&r);
	dk_wire_get_string(&r, e.message, sizeof(e.message));
	if (dk_wire_reader_error(&r) < 0 || reserved != 0 || result > 0 || result < -4095 ||
	    (result == 0 && (e.line || e.message[0])))
		return -EPROTO;
	if (result < 0 && ret_error)
		*ret_error = e;
	return result;
}
