/* SPDX-License-Identifier: MIT */
/*
 * client.c - the dk-logd client API (dk/log.h): one SOCK_SEQPACKET connection, one request in
 * flight, every wait bounded by the caller's deadline.
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

#include <dk/error.h>
#include <dk/log.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "log-internal.h"

/* What the daemon sends: replies (same opcodes, other payloads) and RECORD pushes. */
static const struct dk_frame_opdesc reply_ops[] = {
	{DK_LOGD_OP_HELLO, 0, 12, 12, "hello"},
	{DK_LOGD_OP_APPEND, 0, 8, 8, "append"},
	{DK_LOGD_OP_APPEND_ASYNC, 0, 0, 0, "append-async"},
	{DK_LOGD_OP_QUERY, 0, DK_LOGD_QUERY_REPLY_FIXED, DK_FRAME_MAX_PAYLOAD, "query"},
	{DK_LOGD_OP_FOLLOW, 0, 8, 8, "follow"},
	{DK_LOGD_OP_RECORD, 0, DK_LOGD_RECORD_FIXED + 8, DK_FRAME_MAX_PAYLOAD, "record"},
	{DK_LOGD_OP_STATS, 0, DK_LOGD_STATS_FIXED, DK_FRAME_MAX_PAYLOAD, "stats"},
};

static const struct dk_frame_proto reply_proto = {
	.name = "logd-reply",
	.minor = DK_LOGD_PROTO_MINOR,
	.n_ops = sizeof(reply_ops) / sizeof(reply_ops[0]),
	.ops = reply_ops,
};

struct dk_log_client {
	int fd;
	bool following;
	uint64_t last_seq;
	uint64_t async_errors;
	uint32_t pid, uid, gid;
	uint8_t rbuf[DK_FRAME_MAX_SIZE + 1];
	uint8_t wbuf[DK_FRAME_MAX_SIZE];
};


static int send_frame(struct dk_log_client *c, uint16_t opcode, uint64_t seq, const void *payload,
		      size_t len, uint64_t deadline_ns, bool nowait)
{
	int n = dk_frame_encode(c->wbuf, sizeof(c->wbuf), &dk_logd_proto, opcode, 0, seq, payload,
				len);

	if (n < 0)
		return n;
	for (;;) {
		ssize_t s = send(c->fd, c->wbuf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		int err;

		if (s == n)
			return 0;
		if (s >= 0)
			return -EPROTO; /* a seqpacket send is all or nothing */
		if (errno == EINTR)
			continue;
		if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
			return -EPIPE;
		if (errno != EAGAIN || nowait)
			return -errno;
		err = dk_socket_wait(c->fd, POLLOUT, deadline_ns);
		if (err < 0)
			return err;
	}
}

/* Receive one frame (blocking up to @deadline_ns, or not at all with @nowait). */
static int recv_frame(struct dk_log_client *c, uint64_t deadline_ns, bool nowait,
		      struct dk_frame *ret)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->rbuf, sizeof(c->rbuf), MSG_DONTWAIT | MSG_TRUNC);
		int err;

		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET || errno == ENOTCONN)
				return -EPIPE;
			if (errno != EAGAIN)
				return -errno;
			if (nowait)
				return -EAGAIN;
			err = dk_socket_wait(c->fd, POLLIN, deadline_ns);
			if (err < 0)
				return err;
			continue;
		}
		if ((size_t)n > DK_FRAME_MAX_SIZE)
			return -EPROTO;
		return dk_frame_decode(c->rbuf, (size_t)n, &reply_proto, ret, NULL);
	}
}

static int frame_error(const struct dk_frame *f)
{
	struct dk_wire_reader r;
	int32_t err;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	err = (int32_t)dk_wire_get_u32(&r);
	if (err >= 0 || err < -4095)
		return -EPROTO;
	return err;
}

/* Discard pending error replies of async appends without waiting. */
static void drain_async(struct dk_log_client *c)
{
	struct dk_frame f;

	while (recv_frame(c, 0, true, &f) == 0)
		if ((f.flags & DK_FRAME_F_ERROR))
			c->async_errors++;
}

/*
 * Send a request and wait for its reply. On success *@ret points into c->rbuf and stays valid
 * until the next call.
 */
static int call(struct dk_log_client *c, uint16_t opcode, const void *payload, size_t len,
		uint64_t deadline_ns, struct dk_frame *ret)
{
	uint64_t seq;
	int err;

	if (c->following)
		return -EBUSY;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	seq = ++c->last_seq;
	err = send_frame(c, opcode, seq, payload, len, deadline_ns, false);
	if (err < 0)
		return err;
	for (;;) {
		struct dk_frame f;

		err = recv_frame(c, deadline_ns, false, &f);
		if (err < 0)
			return err;
		if (!(f.flags & DK_FRAME_F_REPLY))
			continue;
		if (f.seq != seq || f.opcode != opcode) {
			if (f.flags & DK_FRAME_F_ERROR)
				c->async_errors++;
			continue;
		}
		if (f.flags & DK_FRAME_F_ERROR)
			return frame_error(&f);
		*ret = f;
		return 0;
	}
}

int dk_log_connect(const char *socket_path, const char *name, uint64_t deadline_ns,
		   struct dk_log_client **ret_client)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	uint8_t payload[2 + DK_LOG_NAME_MAX];
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	struct dk_log_client *c;
	struct dk_frame f;
	int err;

	if (!socket_path || !ret_client || strlen(socket_path) >= sizeof(addr.sun_path))
		return -EINVAL;
	if (!name)
		name = "";
	err = dk_logi_check_name(name, strlen(name));
	if (err < 0)
		return err == -EPROTO ? -EINVAL : err;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	err = dk_socket_connect(socket_path, deadline_ns, &c->fd);
	if (err < 0)
		goto out_free;
	dk_wire_writer_init(&w, payload, sizeof(payload));
	dk_wire_put_string(&w, name);
	err = call(c, DK_LOGD_OP_HELLO, payload, dk_wire_writer_len(&w), deadline_ns, &f);
	if (err < 0)
		goto out_close;
	dk_wire_reader_init(&r, f.payload, f.known_length);
	c->pid = dk_wire_get_u32(&r);
	c->uid = dk_wire_get_u32(&r);
	c->gid = dk_wire_get_u32(&r);
	*ret_client = c;
	return 0;

out_close:
	close(c->fd);
out_free:
	free(c);
	return err;
}

void dk_log_close(struct dk_log_client *client)
{
	if (!client)
		return;
	if (client->fd >= 0)
		close(client->fd);
	free(client);
}

int dk_log_peer(const struct dk_log_client *client, uint32_t *ret_pid, uint32_t *ret_uid,
		uint32_t *ret_gid)
{
	if (!client)
		return -EINVAL;
	if (ret_pid)
		*ret_pid = client->pid;
	if (ret_uid)
		*ret_uid = client->uid;
	if (ret_gid)
		*ret_gid = client->gid;
	return 0;
}

/* Check and encode an APPEND payload into @buf (DK_FRAME_MAX_PAYLOAD bytes). */
static int encode_append(uint8_t *buf, enum dk_log_severity severity, const char *scope,
			 const char *message, const char *fields)
{
	char norm[DK_LOG_FIELDS_MAX + 1];
	struct dk_wire_writer w;
	bool redacted;
	int err;

	if ((uint32_t)severity > DK_LOG_SEVERITY_MAX || !scope)
		return -EINVAL;
	if (!message)
		message = "";
	if (!fields)
		fields = "";
	err = dk_logi_check_scope(scope, strlen(scope));
	if (err < 0)
		return err;
	err = dk_logi_check_message(message, strlen(message));
	if (err < 0)
		return err;
	/* Redact here already: a secret-looking value never leaves the process. */
	err = dk_logi_fields_normalize(fields, strlen(fields), norm, &redacted);
	if (err < 0)
		return err;
	dk_wire_writer_init(&w, buf, DK_FRAME_MAX_PAYLOAD);
	dk_wire_put_u8(&w, (uint8_t)severity);
	dk_wire_put_u8(&w, 0);
	dk_wire_put_string(&w, scope);
	dk_wire_put_string(&w, message);
	dk_wire_put_string(&w, norm);
	err = dk_wire_writer_error(&w);
	return err < 0 ? err : (int)dk_wire_writer_len(&w);
}

int dk_log_append(struct dk_log_client *client, enum dk_log_severity severity, const char *scope,
		  const char *message, const char *fields, uint64_t deadline_ns, uint64_t *ret_seq)
{
	uint8_t payload[DK_FRAME_MAX_PAYLOAD];
	struct dk_wire_reader r;
	struct dk_frame f;
	uint64_t seq;
	int len, err;

	if (!client)
		return -EINVAL;
	len = encode_append(payload, severity, scope, message, fields);
	if (len < 0)
		return len;
	err = call(client, DK_LOGD_OP_APPEND, payload, (size_t)len, deadline_ns, &f);
	if (err < 0)
		return err;
	dk_wire_reader_init(&r, f.payload, f.known_length);
	seq = dk_wire_get_u64(&r);
	if (ret_seq)
		*ret_seq = seq;
	return 0;
}

int dk_log_append_async(struct dk_log_client *client, enum dk_log_severity severity,
			const char *scope, const char *message, const char *fields)
{
	uint8_t payload[DK_FRAME_MAX_PAYLOAD];
	int len;

	if (!client)
		return -EINVAL;
	if (client->following)
		return -EBUSY;
	len = encode_append(payload, severity, scope, message, fields);
	if (len < 0)
		return len;
	drain_async(client);
	return send_frame(client, DK_LOGD_OP_APPEND_ASYNC, ++client->last_seq, payload,
			  (size_t)len, 0, true);
}

uint64_t dk_log_async_errors(const struct dk_log_client *client)
{
	return client ? client->async_errors : 0;
}

int dk_log_query(struct dk_log_client *client, const struct dk_log_query *query,
		 struct dk_log_record *records, size_t n_records, uint64_t deadline_ns,
		 uint64_t *ret_next_seq)
{
	uint8_t payload[DK_LOGD_QUERY_FIXED + 2 + DK_LOG_SCOPE_MAX];
	const char *prefix;
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	struct dk_frame f;
	uint16_t n, flags;
	uint64_t next;
	size_t max;
	int err;

	if (!client || !query || (!records && n_records > 0) || n_records == 0)
		return -EINVAL;
	prefix = query->scope_prefix ? query->scope_prefix : "";
	if (strlen(prefix) > DK_LOG_SCOPE_MAX)
		return -EMSGSIZE;
	if (query->min_severity > DK_LOG_SEVERITY_MAX)
		return -EINVAL;
	max = n_records < DK_LOGD_QUERY_PAGE_MAX ? n_records : DK_LOGD_QUERY_PAGE_MAX;
	dk_wire_writer_init(&w, payload, sizeof(payload));
	dk_wire_put_u64(&w, query->seq_min);
	dk_wire_put_u64(&w, query->seq_max);
	dk_wire_put_u32(&w, query->pid);
	dk_wire_put_u8(&w, query->min_severity);
	dk_wire_put_u8(&w, 0);
	dk_wire_put_u16(&w, (uint16_t)max);
	dk_wire_put_string(&w, prefix);
	err = call(client, DK_LOGD_OP_QUERY, payload, dk_wire_writer_len(&w), deadline_ns, &f);
	if (err < 0)
		return err;
	dk_wire_reader_init(&r, f.payload, f.known_length);
	n = dk_wire_get_u16(&r);
	flags = dk_wire_get_u16(&r);
	(void)dk_wire_get_u32(&r);
	next = dk_wire_get_u64(&r);
	if (n > max)
		return -EPROTO;
	for (uint16_t i = 0; i < n; i++) {
		int used = dk_log_record_decode(r.pos, dk_wire_reader_left(&r), &records[i]);

		if (used < 0)
			return -EPROTO;
		r.pos += used;
	}
	if (ret_next_seq)
		*ret_next_seq = (flags & DK_LOGD_QUERY_F_MORE) ? next : 0;
	return n;
}

int dk_log_follow(struct dk_log_client *client, uint8_t min_severity, uint32_t pid,
		  uint64_t deadline_ns, uint64_t *ret_next_seq)
{
	uint8_t payload[8];
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	struct dk_frame f;
	uint64_t next;
	int err;

	if (!client || min_severity > DK_LOG_SEVERITY_MAX)
		return -EINVAL;
	dk_wire_writer_init(&w, payload, sizeof(payload));
	dk_wire_put_u8(&w, min_severity);
	dk_wire_put_u8(&w, 0);
	dk_wire_put_u16(&w, 0);
	dk_wire_put_u32(&w, pid);
	err = call(client, DK_LOGD_OP_FOLLOW, payload, sizeof(payload), deadline_ns, &f);
	if (err < 0)
		return err;
	dk_wire_reader_init(&r, f.payload, f.known_length);
	next = dk_wire_get_u64(&r);
	client->following = true;
	if (ret_next_seq)
		*ret_next_seq = next;
	return 0;
}

int dk_log_next(struct dk_log_client *client, uint64_t deadline_ns,
		struct dk_log_record *ret_record)
{
	int err;

	if (!client || !ret_record || !client->following)
		return -EINVAL;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	for (;;) {
		struct dk_frame f;

		err = recv_frame(client, deadline_ns, false, &f);
		if (err < 0)
			return err;
		if (f.opcode != DK_LOGD_OP_RECORD || (f.flags & DK_FRAME_F_REPLY))
			continue;
		err = dk_log_record_decode(f.payload, f.known_length, ret_record);
		return err < 0 ? -EPROTO : 0;
	}
}

int dk_log_stats(struct dk_log_client *client, uint64_t deadline_ns,
		 struct dk_log_stats *ret_stats)
{
	struct dk_log_stats st;
	struct dk_wire_reader r;
	struct dk_frame f;
	int err;

	if (!client || !ret_stats)
		return -EINVAL;
	err = call(client, DK_LOGD_OP_STATS, NULL, 0, deadline_ns, &f);
	if (err < 0)
		return err;
	memset(&st, 0, sizeof(st));
	dk_wire_reader_init(&r, f.payload, f.known_length);
	st.records = dk_wire_get_u64(&r);
	st.accepted = dk_wire_get_u64(&r);
	st.bytes = dk_wire_get_u64(&r);
	st.dropped = dk_wire_get_u64(&r);
	st.suppressed = dk_wire_get_u64(&r);
	st.refused = dk_wire_get_u64(&r);
	st.followers_dropped = dk_wire_get_u64(&r);
	st.clients_refused = dk_wire_get_u64(&r);
	st.disk_bytes = dk_wire_get_u64(&r);
	st.file_errors = dk_wire_get_u64(&r);
	st.next_seq = dk_wire_get_u64(&r);
	st.capacity = dk_wire_get_u32(&r);
	st.followers = dk_wire_get_u32(&r);
	st.clients = dk_wire_get_u32(&r);
	st.files = dk_wire_get_u32(&r);
	st.n_senders_total = dk_wire_get_u32(&r);
	st.n_senders = dk_wire_get_u32(&r);
	if (st.n_senders > DK_LOG_STATS_MAX_SENDERS)
		return -EPROTO;
	for (uint32_t i = 0; i < st.n_senders; i++) {
		st.senders[i].pid = dk_wire_get_u32(&r);
		st.senders[i].uid = dk_wire_get_u32(&r);
		st.senders[i].accepted = dk_wire_get_u64(&r);
		st.senders[i].suppressed = dk_wire_get_u64(&r);
		st.senders[i].refused = dk_wire_get_u64(&r);
	}
	if (dk_wire_reader_error(&r) < 0)
		return -EPROTO;
	*ret_stats = st;
	return 0;
}
