/* SPDX-License-Identifier: MIT */
/*
 * relay.c - DEVICE_STATS and TRACE: the operator (the broker's uid, or root) reads a device
 * service's live counters (dkctl top) and its records of finished jobs (dkctl trace). The broker
 * knows neither, so it asks the device's service (devctl STATS / TRACE) and relays the
 * service's answer as it is: the reply payload verbatim, or the service's error and reason.
 * Like a kill, the request waits for the answer in a bounded per-device list with a deadline
 * (the session timeout); the loop goes on meanwhile. Reading is not audited: nothing changes.
 */
#include <errno.h>
#include <string.h>

#include <dk/error.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "broker-internal.h"

/* The broker opcode a devctl request answers, and the other way round. */
static uint16_t client_opcode(uint16_t devctl_opcode)
{
	return devctl_opcode == DK_DEVCTL_OP_STATS ? DK_BROKER_OP_DEVICE_STATS : DK_BROKER_OP_TRACE;
}

/* Answer @r's asker (if still connected) with @err, or with @payload when @err is 0; free. */
static void relay_finish(struct dk_broker *b, struct device *d, struct relay *r, int err,
			 uint32_t reason, const void *payload, size_t len)
{
	struct client *c = broker_client(b, r->client, r->client_cookie);
	uint16_t opcode = client_opcode(r->opcode);

	if (err == 0)
		b->st.relayed++;
	if (c && err < 0)
		broker_reply_error(b, c, opcode, r->client_seq, err, reason);
	else if (c)
		broker_reply(b, c, opcode, r->client_seq, payload, len, NULL, 0);
	r->used = false;
	d->n_relays--;
}

void broker_relay_answer(struct dk_broker *b, struct device *d, const struct dk_frame *f,
			 int err, uint32_t reason)
{
	for (uint32_t i = 0; i < DK_BROKER_RELAYS_MAX; i++) {
		struct relay *r = &d->relays[i];

		if (!r->used || r->seq != f->seq || r->opcode != f->opcode)
			continue;
		/* Verbatim: every byte the service sent, also past what we understand. */
		relay_finish(b, d, r, err, reason, f->payload, f->length);
		return;
	}
	/* Timed out already, or the asker's request was never ours: ignored. */
}

void broker_relays_fail(struct dk_broker *b, struct device *d, int err, uint32_t reason)
{
	for (uint32_t i = 0; i < DK_BROKER_RELAYS_MAX && d->n_relays; i++)
		if (d->relays[i].used)
			relay_finish(b, d, &d->relays[i], err, reason, NULL, 0);
}

uint64_t broker_relays_expire(struct dk_broker *b, uint64_t now_ns)
{
	uint64_t next = UINT64_MAX;

	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++) {
		struct device *d = &b->devices[i];

		for (uint32_t k = 0; k < DK_BROKER_RELAYS_MAX && d->n_relays; k++) {
			struct relay *r = &d->relays[k];

			if (!r->used)
				continue;
			if (r->deadline_ns <= now_ns)
				relay_finish(b, d, r, -ETIMEDOUT, DK_REASON_NONE, NULL, 0);
			else if (r->deadline_ns < next)
				next = r->deadline_ns;
		}
	}
	return next;
}

void broker_op_relay(struct dk_broker *b, struct client *c, const struct dk_frame *f)
{
	char name[DK_RT_NAME_MAX + 1];
	uint16_t devctl_opcode;
	struct dk_wire_reader r;
	struct dk_wire_writer w;
	struct relay *rl = NULL;
	uint64_t after_seq = 0, seq;
	uint8_t p[8];
	struct device *d;
	int err;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	dk_wire_get_string(&r, name, sizeof(name));
	if (f->opcode == DK_BROKER_OP_TRACE)
		after_seq = dk_wire_get_u64(&r);
	if (dk_wire_reader_error(&r) < 0 || dk_rt_check_name(name) < 0 ||
	    (dk_wire_reader_left(&r) && f->minor <= DK_BROKER_PROTO_MINOR)) {
		b->st.refused++;
		broker_reply_error(b, c, f->opcode, f->seq, -EPROTO, DK_REASON_PROTOCOL);
		return;
	}
	if (c->uid != b->uid && c->uid != 0) {
		broker_reply_error(b, c, f->opcode, f->seq, -EACCES, DK_REASON_POLICY);
		return;
	}
	d = broker_device_find(b, name);
	if (!d || d->state != DK_DEVICE_UP || d->chan < 0) {
		broker_reply_error(b, c, f->opcode, f->seq, -ENODEV, DK_REASON_NONE);
		return;
	}
	if (d->n_relays >= DK_BROKER_RELAYS_MAX) {
		broker_reply_error(b, c, f->opcode, f->seq, -EBUSY, DK_REASON_NONE);
		return;
	}
	devctl_opcode = f->opcode == DK_BROKER_OP_TRACE ? DK_DEVCTL_OP_TRACE : DK_DEVCTL_OP_STATS;
	seq = ++b->last_relay_seq;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, after_seq);
	err = dk_msg_send(d->chan, &dk_devctl_proto, devctl_opcode, 0, seq, p,
			  devctl_opcode == DK_DEVCTL_OP_TRACE ? dk_wire_writer_len(&w) : 0, NULL,
			  0, 0);
	if (err == -EAGAIN) {
		/* The service does not read its channel: busy, not dead. */
		broker_reply_error(b, c, f->opcode, f->seq, -EBUSY, DK_REASON_NONE);
		return;
	}
	if (err < 0) {
		broker_reply_error(b, c, f->opcode, f->seq, -EAGAIN, DK_REASON_DRIVER_CRASHED);
		broker_channel_dead(b, d);
		return;
	}
	for (uint32_t i = 0; i < DK_BROKER_RELAYS_MAX && !rl; i++)
		if (!d->relays[i].used)
			rl = &d->relays[i];
	/* There is a free slot: n_relays < DK_BROKER_RELAYS_MAX was checked above. */
	*rl = (struct relay){
		.used = true,
		.opcode = devctl_opcode,
		.seq = seq,
		.deadline_ns = dk_now_ns() + b->cfg.session_timeout_ns,
		.client = (uint32_t)(c - b->clients),
		.client_cookie = c->cookie,
		.client_seq = f->seq,
	};
	d->n_relays++;
}
