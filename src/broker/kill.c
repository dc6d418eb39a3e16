/* SPDX-License-Identifier: MIT */
/*
 * kill.c - KILL_CLIENT: the operator (the broker's uid, or root) cuts a client off. The broker
 * cannot end a session itself (the session socket is between the client and the service), so
 * it asks the device's service (devctl KILL_SESSION, reason client-killed) and relays the
 * service's answer: empty, or -ESRCH for a session it does not know. Like an OPEN, the request
 * waits for the answer in a bounded per-device list with a deadline (the session timeout); the
 * loop goes on meanwhile. Every outcome is one audit record (scope broker.kill-client) written
 * before the asker is answered.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <dk/error.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "broker-internal.h"

static void audit_kill(struct dk_broker *b, const char *message, const char *device,
		       uint64_t session_id, uint32_t uid, uint32_t pid, int err)
{
	char fields[DK_LOG_FIELDS_MAX + 1];

	snprintf(fields, sizeof(fields),
		 "device=%s session=%" PRIu64 " by_uid=%" PRIu32 " by_pid=%" PRIu32 " result=%s",
		 device, session_id, uid, pid, broker_errno_name(err));
	broker_audit(b, DK_LOG_AUDIT, "broker.kill-client", message, fields);
}

/* Answer @k's asker (if still connected), audit, free the slot. */
static void kill_finish(struct dk_broker *b, struct device *d, struct kill *k, int err,
			uint32_t reason)
{
	struct client *c = broker_client(b, k->client, k->client_cookie);

	if (err == 0)
		b->st.kills++;
	audit_kill(b, err == 0 ? "client killed" : "kill failed", d->name, k->session_id, k->uid,
		   k->pid, err);
	broker_report(b, "%s: kill session %" PRIu64 " by uid %" PRIu32 ": %s", d->name,
		      k->session_id, k->uid, err == 0 ? "done" : dk_strerror(err));
	if (c && err < 0)
		broker_reply_error(b, c, DK_BROKER_OP_KILL_CLIENT, k->client_seq, err, reason);
	else if (c)
		broker_reply(b, c, DK_BROKER_OP_KILL_CLIENT, k->client_seq, NULL, 0, NULL, 0);
	k->used = false;
	d->n_kills--;
}

void broker_kill_answer(struct dk_broker *b, struct device *d, uint64_t seq, int err,
			uint32_t reason)
{
	struct kill *k = NULL;

	for (uint32_t i = 0; i < DK_BROKER_KILLS_MAX && !k; i++)
		if (d->kills[i].used && d->kills[i].seq == seq)
			k = &d->kills[i];
	if (!k)
		return; /* timed out already */
	if (err == 0) {
		/* Ended: uncounted now, whether or not a SESSION_END follows (then ignored). */
		for (uint32_t i = 0; i < d->n_sessions; i++) {
			if (d->sessions[i] == k->session_id) {
				d->sessions[i] = d->sessions[--d->n_sessions];
				break;
			}
		}
	}
	kill_finish(b, d, k, err, reason);
}

void broker_kills_fail(struct dk_broker *b, struct device *d, int err, uint32_t reason)
{
	for (uint32_t i = 0; i < DK_BROKER_KILLS_MAX && d->n_kills; i++)
		if (d->kills[i].used)
			kill_finish(b, d, &d->kills[i], err, reason);
}

uint64_t broker_kills_expire(struct dk_broker *b, uint64_t now_ns)
{
	uint64_t next = UINT64_MAX;

	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++) {
		struct device *d = &b->devices[i];

		for (uint32_t k = 0; k < DK_BROKER_KILLS_MAX && d->n_kills; k++) {
			struct kill *kl = &d->kills[k];

			if (!kl->used)
				continue;
			if (kl->deadline_ns <= now_ns)
				kill_finish(b, d, kl, -ETIMEDOUT, DK_REASON_NONE);
			else if (kl->deadline_ns < next)
				next = kl->deadline_ns;
		}
	}
	return next;
}

/* Refuse before anything was sent to the service. */
static void kill_refuse(struct dk_broker *b, struct client *c, const struct dk_frame *f,
			const char *device, uint64_t session_id, int err, uint32_t reason)
{
	audit_kill(b, "kill refused", device, session_id, c->uid, c->pid, err);
	broker_reply_error(b, c, f->opcode, f->seq, err, reason);
}

void broker_op_kill_client(struct dk_broker *b, struct client *c, const struct dk_frame *f)
{
	char name[DK_RT_NAME_MAX + 1];
	uint8_t p[16];
	struct dk_wire_reader r;
	struct dk_wire_writer w;
	struct kill *k = NULL;
	uint64_t session_id, seq;
	struct device *d;
	int err;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	dk_wire_get_string(&r, name, sizeof(name));
	session_id = dk_wire_get_u64(&r);
	if (dk_wire_reader_error(&r) < 0 || dk_rt_check_name(name) < 0 ||
	    (dk_wire_reader_left(&r) && f->minor <= DK_BROKER_PROTO_MINOR)) {
		b->st.refused++;
		broker_reply_error(b, c, f->opcode, f->seq, -EPROTO, DK_REASON_PROTOCOL);
		return;
	}
	if (c->uid != b->uid && c->uid != 0) {
		kill_refuse(b, c, f, name, session_id, -EACCES, DK_REASON_POLICY);
		return;
	}
	d = broker_device_find(b, name);
	if (!d || d->state != DK_DEVICE_UP || d->chan < 0) {
		kill_refuse(b, c, f, name, session_id, -ENODEV, DK_REASON_NONE);
		return;
	}
	if (d->n_kills >= DK_BROKER_KILLS_MAX) {
		kill_refuse(b, c, f, name, session_id, -EBUSY, DK_REASON_NONE);
		return;
	}
	seq = ++b->last_kill_seq;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, session_id);
	dk_wire_put_u32(&w, DK_REASON_CLIENT_KILLED);
	dk_wire_put_u32(&w, 0);
	err = dk_msg_send(d->chan, &dk_devctl_proto, DK_DEVCTL_OP_KILL_SESSION, 0, seq, p,
			  sizeof(p), NULL, 0, 0);
	if (err == -EAGAIN) {
		kill_refuse(b, c, f, name, session_id, -EBUSY, DK_REASON_NONE);
		return;
	}
	if (err < 0) {
		kill_refuse(b, c, f, name, session_id, -EAGAIN, DK_REASON_DRIVER_CRASHED);
		broker_channel_dead(b, d);
		return;
	}
	for (uint32_t i = 0; i < DK_BROKER_KILLS_MAX && !k; i++)
		if (!d->kills[i].used)
			k = &d->kills[i];
	/* There is a free slot: n_kills < DK_BROKER_KILLS_MAX was checked above. */
	*k = (struct kill){
		.used = true,
		.seq = seq,
		.session_id = session_id,
		.deadline_ns = dk_now_ns() + b->cfg.session_timeout_ns,
		.client = (uint32_t)(c - b->clients),
		.client_cookie = c->cookie,
		.client_seq = f->seq,
		.uid = c->uid,
		.pid = c->pid,
	};
	d->n_kills++;
}
