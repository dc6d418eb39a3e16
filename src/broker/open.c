/* SPDX-License-Identifier: MIT */
/*
 * open.c - OPEN: who asks (SO_PEERCRED, read at accept), what policy says (asked first, so a
 * denied client learns nothing about which devices exist), the device's state, then a session
 * socket whose service end goes to the device's service (SESSION) and whose client end goes to
 * the client once the service has said yes. The service answers asynchronously: the open waits
 * in a bounded per-device list with a deadline, and the loop goes on meanwhile.
 * Every outcome is one audit record (scope broker.open) written before the client is answered.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "broker-internal.h"

/* Who asked for what: enough to audit and answer an open at any point of its path. */
struct open_req {
	const char *device;
	const char *device_class; /* "" while the device is unknown */
	uint32_t pid, uid, gid;
	uint64_t generation;
	uint64_t session_id;
	const struct dk_policy_decision *dec; /* NULL when policy did not answer */
};

/*
 * One broker.open record. max_violations is the deciding rule's kill threshold as dk-policyd
 * journals it: the number (0: never) for an allowed open whose rule sets one, else "-".
 */
static void audit_open(struct dk_broker *b, const char *message, const struct open_req *o,
		       bool allow, const char *reason)
{
	char fields[DK_LOG_FIELDS_MAX + 1], violations[16] = "-";

	if (allow && o->dec && o->dec->grant.max_violations != DK_POLICY_MAX_VIOLATIONS_UNSET)
		snprintf(violations, sizeof(violations), "%" PRIu32, o->dec->grant.max_violations);
	snprintf(fields, sizeof(fields),
		 "device=%s class=%s uid=%" PRIu32 " gid=%" PRIu32 " pid=%" PRIu32
		 " verdict=%s reason=%s rule=%s max_violations=%s session=%" PRIu64
		 " generation=%" PRIu64,
		 o->device, o->device_class[0] ? o->device_class : "-", o->uid, o->gid, o->pid,
		 allow ? "allow" : "deny", reason, o->dec && o->dec->rule[0] ? o->dec->rule : "-",
		 violations, o->session_id, o->generation);
	broker_audit(b, DK_LOG_AUDIT, "broker.open", message, fields);
}

/* A rule's kill threshold goes to the service and the client as it is, "not set" included. */
_Static_assert(DK_POLICY_MAX_VIOLATIONS_UNSET == DK_SESSION_MAX_VIOLATIONS_UNSET,
	       "policy's and the session's 'no kill threshold' differ");

/* Give @p's slot back: close the client end (sent or not), uncount it. */
static void pending_free(struct dk_broker *b, struct device *d, struct pending *p)
{
	struct client *c = broker_client(b, p->client, p->client_cookie);

	if (p->client_end >= 0)
		close(p->client_end);
	if (c && c->n_pending)
		c->n_pending--;
	p->used = false;
	d->n_pending--;
}

static void pending_req(const struct device *d, const struct pending *p, struct open_req *o)
{
	o->device = d->name;
	o->device_class = d->device_class;
	o->pid = p->pid;
	o->uid = p->uid;
	o->gid = p->gid;
	o->generation = d->generation;
	o->session_id = p->session_id;
	o->dec = &p->dec;
}

void broker_pending_fail(struct dk_broker *b, struct device *d, struct pending *p, int err,
			 uint32_t reason)
{
	struct client *c = broker_client(b, p->client, p->client_cookie);
	struct open_req o;

	pending_req(d, p, &o);
	b->st.failures++;
	audit_open(b, "open failed", &o, true, broker_errno_name(err));
	if (c)
		broker_reply_error(b, c, DK_BROKER_OP_OPEN, p->client_seq, err, reason);
	pending_free(b, d, p);
}

uint64_t broker_pending_expire(struct dk_broker *b, uint64_t now_ns)
{
	uint64_t next = broker_kills_expire(b, now_ns);
	uint64_t relays = broker_relays_expire(b, now_ns);

	if (relays < next)
		next = relays;

	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++) {
		struct device *d = &b->devices[i];

		for (uint32_t k = 0; k < DK_BROKER_PENDING_MAX && d->n_pending; k++) {
			struct pending *p = &d->pending[k];

			if (!p->used)
				continue;
			if (p->deadline_ns <= now_ns)
				broker_pending_fail(b, d, p, -ETIMEDOUT, DK_REASON_NONE);
			else if (p->deadline_ns < next)
				next = p->deadline_ns;
		}
	}
	return next;
}

void broker_session_answer(struct dk_broker *b, struct device *d, uint64_t seq, int err,
			   uint32_t reason)
{
	uint8_t out[48 + 2 + DK_RT_NAME_MAX];
	struct dk_wire_writer w;
	struct pending *p = NULL;
	struct open_req o;
	struct client *c;

	for (uint32_t k = 0; k < DK_BROKER_PENDING_MAX && !p; k++)
		if (d->pending[k].used && d->pending[k].session_id == seq)
			p = &d->pending[k];
	if (!p)
		return; /* that open already failed (timed out): the client end is closed */
	if (err < 0) {
		broker_pending_fail(b, d, p, err, reason);
		return;
	}
	c = broker_client(b, p->client, p->client_cookie);
	if (!c) {
		/* Nobody to hand it to; the service sees the client end close and ends it. */
		broker_pending_fail(b, d, p, -EPIPE, DK_REASON_NONE);
		return;
	}
	d->sessions[d->n_sessions++] = p->session_id; /* room: reserved when it was sent */
	d->opens++;
	b->st.opens++;
	pending_req(d, p, &o);
	audit_open(b, "open allowed", &o, true, dk_policy_reason_name(p->dec.reason));

	dk_wire_writer_init(&w, out, sizeof(out));
	dk_wire_put_u64(&w, d->generation);
	dk_wire_put_u64(&w, p->session_id);
	dk_wire_put_u32(&w, p->dec.grant.rights);
	dk_wire_put_u32(&w, p->dec.grant.qos);
	dk_wire_put_u64(&w, p->dec.grant.max_bytes);
	dk_wire_put_u32(&w, p->dec.grant.max_buffers);
	dk_wire_put_u32(&w, p->dec.grant.max_inflight);
	dk_wire_put_u32(&w, p->dec.grant.max_fences);
	dk_wire_put_u32(&w, p->dec.grant.max_violations);
	dk_wire_put_string(&w, d->device_class);
	broker_reply(b, c, DK_BROKER_OP_OPEN, p->client_seq, out, dk_wire_writer_len(&w),
		     &p->client_end, 1);
	pending_free(b, d, p); /* our copy of the client end */
}

/* Refuse before anything was sent to a service. */
static void open_refuse(struct dk_broker *b, struct client *c, const struct dk_frame *f,
			const struct open_req *o, int err, uint32_t reason)
{
	b->st.failures++;
	audit_open(b, "open failed", o, true, broker_errno_name(err));
	broker_reply_error(b, c, f->opcode, f->seq, err, reason);
}

/* Send SESSION to @d's service and park the open until it answers. */
static void open_session(struct dk_broker *b, struct client *c, const struct dk_frame *f,
			 struct device *d, struct open_req *o, const struct dk_policy_decision *dec)
{
	uint8_t p[DK_DEVCTL_SESSION_PAYLOAD_KILL];
	struct pending *pend = NULL;
	struct dk_wire_writer w;
	int sv[2], err;

	if (c->n_pending >= DK_BROKER_CLIENT_PENDING_MAX || d->n_pending >= DK_BROKER_PENDING_MAX ||
	    d->n_sessions + d->n_pending >= DK_SERVICE_SESSIONS_MAX) {
		open_refuse(b, c, f, o, -EBUSY, DK_REASON_NONE);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		open_refuse(b, c, f, o, -ENOMEM, DK_REASON_NONE);
		return;
	}
	o->session_id = ++b->last_session_id;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, o->session_id);
	dk_wire_put_u32(&w, o->pid);
	dk_wire_put_u32(&w, o->uid);
	dk_wire_put_u32(&w, o->gid);
	dk_wire_put_u32(&w, dec->grant.rights);
	dk_wire_put_u32(&w, dec->grant.qos);
	dk_wire_put_u32(&w, dec->grant.max_buffers);
	dk_wire_put_u64(&w, dec->grant.max_bytes);
	dk_wire_put_u32(&w, dec->grant.max_inflight);
	dk_wire_put_u32(&w, dec->grant.max_fences);
	dk_wire_put_u32(&w, dec->grant.max_violations);
	dk_wire_put_u32(&w, 0);
	/* The session id is the request's seq: the answer names the open it belongs to. */
	err = dk_msg_send(d->chan, &dk_devctl_proto, DK_DEVCTL_OP_SESSION, 0, o->session_id, p,
			  sizeof(p), &sv[1], 1, 0);
	close(sv[1]);
	if (err < 0) {
		close(sv[0]);
		if (err == -EAGAIN) {
			/* The service does not read its channel: busy, not dead. */
			open_refuse(b, c, f, o, -EBUSY, DK_REASON_NONE);
			return;
		}
		broker_channel_dead(b, d);
		open_refuse(b, c, f, o, -EAGAIN, DK_REASON_DRIVER_CRASHED);
		return;
	}
	for (uint32_t k = 0; k < DK_BROKER_PENDING_MAX && !pend; k++)
		if (!d->pending[k].used)
			pend = &d->pending[k];
	/* There is a free slot: n_pending < DK_BROKER_PENDING_MAX was checked above. */
	*pend = (struct pending){
		.used = true,
		.session_id = o->session_id,
		.deadline_ns = dk_now_ns() + b->cfg.session_timeout_ns,
		.client = (uint32_t)(c - b->clients),
		.client_cookie = c->cookie,
		.client_seq = f->seq,
		.client_end = sv[0],
		.pid = o->pid,
		.uid = o->uid,
		.gid = o->gid,
		.dec = *dec,
	};
	d->n_pending++;
	c->n_pending++;
}

void broker_op_open(struct dk_broker *b, struct client *c, const struct dk_frame *f)
{
	const struct dk_policy_subject s = {
		.kinds = DK_POLICY_SUBJECT_UID | DK_POLICY_SUBJECT_GID,
		.uid = c->uid,
		.gid = c->gid,
	};
	char name[DK_RT_NAME_MAX + 1];
	struct dk_policy_decision dec;
	struct dk_wire_reader r;
	struct open_req o = {.device = name, .pid = c->pid, .uid = c->uid, .gid = c->gid};
	struct device *d;
	int err;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	dk_wire_get_string(&r, name, sizeof(name));
	if (dk_wire_reader_error(&r) < 0 || dk_rt_check_name(name) < 0 ||
	    (dk_wire_reader_left(&r) && f->minor <= DK_BROKER_PROTO_MINOR)) {
		b->st.refused++;
		broker_reply_error(b, c, f->opcode, f->seq, -EPROTO, DK_REASON_PROTOCOL);
		return;
	}
	d = broker_device_find(b, name);
	o.device_class = d ? d->device_class : "";
	o.generation = d ? d->generation : 0;

	/* Policy first, with the class only when the device exists: a denial looks the same
	 * whether or not it does. Deny when the policy authority does not answer. */
	err = broker_policy_ask(b, &s, name, d ? d->device_class : NULL, &dec);
	if (err < 0 || dec.verdict != DK_POLICY_ALLOW) {
		o.dec = err < 0 ? NULL : &dec;
		b->st.denials++;
		if (d)
			d->denials++;
		audit_open(b, "open denied", &o, false,
			   err < 0 ? "policy-unreachable" : dk_policy_reason_name(dec.reason));
		broker_reply_error(b, c, f->opcode, f->seq, -EACCES, DK_REASON_POLICY);
		return;
	}
	o.dec = &dec;
	if (!d || d->state == DK_DEVICE_FAILED || d->chan < 0) {
		if (d && d->state == DK_DEVICE_RESTARTING)
			open_refuse(b, c, f, &o, -EAGAIN, DK_REASON_DRIVER_CRASHED);
		else
			open_refuse(b, c, f, &o, -ENODEV, DK_REASON_NONE);
		return;
	}
	open_session(b, c, f, d, &o, &dec);
}
