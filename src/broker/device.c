/* SPDX-License-Identifier: MIT */
/*
 * device.c - the registry: devices as the supervisor describes them (ATTACH / DETACH on the
 * control socket, the only source of a service's identity) and the channel to each device's
 * service (answers to SESSION, KILL_SESSION, STATS and TRACE, SESSION_END, and its death).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/wire.h>

#include "broker-internal.h"

/* What a service sends the broker: answers to SESSION and KILL_SESSION (empty, or an error),
 * to STATS and TRACE (their reply layouts, relayed), and SESSION_END. */
static const struct dk_frame_opdesc devctl_in_ops[] = {
	{DK_DEVCTL_OP_SESSION, 0, 0, 0, "session"},
	{DK_DEVCTL_OP_SESSION_END, 0, 8, 8, "session-end"},
	{DK_DEVCTL_OP_KILL_SESSION, 0, 0, 0, "kill-session"},
	{DK_DEVCTL_OP_STATS, 0, DK_DEVCTL_STATS_FIXED, DK_FRAME_MAX_PAYLOAD, "stats"},
	{DK_DEVCTL_OP_TRACE, 0, DK_DEVCTL_TRACE_FIXED, DK_FRAME_MAX_PAYLOAD, "trace"},
};

static const struct dk_frame_proto devctl_in_proto = {
	.name = "devctl-in",
	.minor = DK_DEVCTL_PROTO_MINOR,
	.n_ops = sizeof(devctl_in_ops) / sizeof(devctl_in_ops[0]),
	.ops = devctl_in_ops,
};

struct device *broker_device_find(struct dk_broker *b, const char *name)
{
	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++)
		if (b->devices[i].used && !strcmp(b->devices[i].name, name))
			return &b->devices[i];
	return NULL;
}

static struct device *device_slot(struct dk_broker *b)
{
	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++)
		if (!b->devices[i].used)
			return &b->devices[i];
	return NULL;
}

/* A state change for the journal (notice) and the operator. */
static void note_state(struct dk_broker *b, const struct device *d, const char *cause)
{
	char fields[DK_LOG_FIELDS_MAX + 1], message[DK_LOG_MESSAGE_MAX + 1];

	snprintf(message, sizeof(message), "device %s", dk_device_state_name(d->state));
	snprintf(fields, sizeof(fields),
		 "device=%s class=%s service=%s generation=%" PRIu64 " state=%s cause=%s", d->name,
		 d->device_class, d->service, d->generation, dk_device_state_name(d->state), cause);
	broker_report(b, "%s: %s (%s, generation %" PRIu64 ")", d->name,
		      dk_device_state_name(d->state), cause, d->generation);
	broker_audit(b, DK_LOG_NOTICE, "broker.device", message, fields);
}

void broker_channel_close(struct dk_broker *b, struct device *d, int err, uint32_t reason)
{
	if (d->chan >= 0) {
		epoll_ctl(b->epfd, EPOLL_CTL_DEL, d->chan, NULL);
		close(d->chan);
		d->chan = -1;
	}
	broker_dma_close(b, d); /* the grant was this start's */
	for (uint32_t i = 0; i < DK_BROKER_PENDING_MAX && d->n_pending; i++)
		if (d->pending[i].used)
			broker_pending_fail(b, d, &d->pending[i], err, reason);
	broker_kills_fail(b, d, err, reason);
	broker_relays_fail(b, d, err, reason);
	d->n_sessions = 0; /* they ended with the service */
}

void broker_channel_dead(struct dk_broker *b, struct device *d)
{
	broker_channel_close(b, d, -EAGAIN, DK_REASON_DRIVER_CRASHED);
	if (d->state != DK_DEVICE_UP)
		return;
	/* Until the supervisor says more (DETACH FAILED, or ATTACH of the next start). */
	d->state = DK_DEVICE_RESTARTING;
	note_state(b, d, "channel-closed");
}

/* ---- ATTACH / DETACH ---- */

static void audit_attach(struct dk_broker *b, const char *message, const char *service,
			 const char *device, const char *device_class, uint64_t generation,
			 uint32_t pid, bool allow, const char *reason, const char *rule)
{
	char fields[DK_LOG_FIELDS_MAX + 1];

	snprintf(fields, sizeof(fields),
		 "device=%s class=%s service=%s pid=%" PRIu32 " generation=%" PRIu64
		 " verdict=%s reason=%s rule=%s",
		 device, device_class, service, pid, generation, allow ? "allow" : "deny", reason,
		 rule[0] ? rule : "-");
	broker_audit(b, DK_LOG_AUDIT, "broker.attach", message, fields);
}

/* The fields after the strings: bytes a sender of our minor must not add. */
static bool trailing_ok(const struct dk_frame *f, const struct dk_wire_reader *r)
{
	return dk_wire_reader_left(r) == 0 || f->minor > DK_SUPCTL_PROTO_MINOR;
}

static void op_attach(struct dk_broker *b, struct dk_msg *m)
{
	char service[DK_RT_NAME_MAX + 1], name[DK_RT_NAME_MAX + 1], cls[DK_RT_NAME_MAX + 1];
	struct dk_policy_subject s = {.kinds = DK_POLICY_SUBJECT_SERVICE, .service = service};
	struct epoll_event ev = {.events = EPOLLIN};
	struct dk_policy_decision dec;
	struct dk_wire_reader r;
	uint64_t generation;
	uint32_t pid, reserved;
	struct device *d;
	int chan, err;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	generation = dk_wire_get_u64(&r);
	pid = dk_wire_get_u32(&r);
	reserved = dk_wire_get_u32(&r);
	dk_wire_get_string(&r, service, sizeof(service));
	dk_wire_get_string(&r, name, sizeof(name));
	dk_wire_get_string(&r, cls, sizeof(cls));
	if (dk_wire_reader_error(&r) < 0 || !trailing_ok(&m->frame, &r) || reserved ||
	    m->n_fds != 1 || dk_rt_check_name(service) < 0 || dk_rt_check_name(name) < 0 ||
	    dk_rt_check_name(cls) < 0) {
		b->st.control_refused++;
		broker_report(b, "malformed ATTACH refused");
		dk_msg_close_fds(m);
		return;
	}
	chan = m->fds[0];
	m->fds[0] = -1;
	m->n_fds = 0;

	d = broker_device_find(b, name);
	if (d && generation <= d->generation) {
		b->st.control_refused++;
		broker_report(b, "%s: ATTACH of generation %" PRIu64 " refused, %" PRIu64
				 " is known (stale)",
			      name, generation, d->generation);
		audit_attach(b, "attach refused", service, name, cls, generation, pid, false,
			     "stale", "");
		close(chan);
		return;
	}
	if (!d && !(d = device_slot(b))) {
		b->st.control_refused++;
		broker_report(b, "%s: ATTACH refused, %u devices known", name,
			      DK_BROKER_DEVICES_MAX);
		audit_attach(b, "attach refused", service, name, cls, generation, pid, false,
			     "ENOSPC", "");
		close(chan);
		return;
	}

	/* Whatever the answer, an older start's channel, opens and sessions are finished. */
	if (d->used)
		broker_channel_close(b, d, -EAGAIN, DK_REASON_DRIVER_CRASHED);
	if (!d->used) {
		memset(d, 0, sizeof(*d));
		d->chan = -1;
		d->dma = -1;
		d->used = true;
		memcpy(d->name, name, sizeof(name));
	}
	memcpy(d->device_class, cls, sizeof(cls));
	memcpy(d->service, service, sizeof(service));
	d->generation = generation;
	d->pid = pid;

	err = broker_policy_ask(b, &s, name, cls, &dec);
	if (err < 0 || dec.verdict != DK_POLICY_ALLOW) {
		/* Not registered: journalled, then the service sees its channel close. */
		d->state = DK_DEVICE_FAILED;
		audit_attach(b, "attach denied", service, name, cls, generation, pid, false,
			     err < 0 ? "policy-unreachable" : dk_policy_reason_name(dec.reason),
			     err < 0 ? "" : dec.rule);
		note_state(b, d, err < 0 ? "policy-unreachable" : "attach-denied");
		close(chan);
		return;
	}
	ev.data.u64 = EV_CHANNEL | (uint64_t)(d - b->devices);
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, chan, &ev) < 0) {
		close(chan);
		d->state = DK_DEVICE_FAILED;
		note_state(b, d, "epoll-failed");
		return;
	}
	d->chan = chan;
	d->state = DK_DEVICE_UP;
	audit_attach(b, "attach allowed", service, name, cls, generation, pid, true,
		     dk_policy_reason_name(dec.reason), dec.rule);
	broker_report(b, "%s: up, class %s, service %s pid %" PRIu32 " generation %" PRIu64, name,
		      cls, service, pid, generation);
	/* Its hardware, before anything else reaches the service. A service that should have
	 * hardware and cannot get it is cut off: it sees its channel close, and its next start
	 * (once dk-hwsim answers again) gets a new ATTACH. */
	if (broker_grant(b, d) < 0) {
		broker_channel_close(b, d, -EAGAIN, DK_REASON_DRIVER_CRASHED);
		d->state = DK_DEVICE_RESTARTING;
		note_state(b, d, "grant-failed");
	}
}

static void op_detach(struct dk_broker *b, struct dk_msg *m)
{
	char name[DK_RT_NAME_MAX + 1];
	struct dk_wire_reader r;
	uint64_t generation;
	uint32_t state, reserved;
	struct device *d;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	generation = dk_wire_get_u64(&r);
	state = dk_wire_get_u32(&r);
	reserved = dk_wire_get_u32(&r);
	dk_wire_get_string(&r, name, sizeof(name));
	if (dk_wire_reader_error(&r) < 0 || !trailing_ok(&m->frame, &r) || reserved ||
	    m->n_fds || dk_rt_check_name(name) < 0 ||
	    (state != DK_DEVICE_RESTARTING && state != DK_DEVICE_FAILED)) {
		b->st.control_refused++;
		broker_report(b, "malformed DETACH refused");
		dk_msg_close_fds(m);
		return;
	}
	d = broker_device_find(b, name);
	if (!d && state == DK_DEVICE_FAILED && (d = device_slot(b))) {
		/* A service that failed for good before it ever attached (a crash loop at start):
		 * the device exists, gone. Its class is not known: only a rule naming the device
		 * itself lets a client learn so (-ENODEV); others get -EACCES as for any name. */
		memset(d, 0, sizeof(*d));
		d->chan = -1;
		d->dma = -1;
		d->used = true;
		memcpy(d->name, name, sizeof(name));
		d->generation = generation;
		d->state = DK_DEVICE_FAILED;
		note_state(b, d, "detach");
		return;
	}
	if (!d || generation < d->generation) {
		b->st.control_refused++;
		broker_report(b, "%s: DETACH of generation %" PRIu64 " refused (%s)", name,
			      generation, d ? "stale" : "unknown device");
		return;
	}
	if (state == DK_DEVICE_RESTARTING)
		broker_channel_close(b, d, -EAGAIN, DK_REASON_DRIVER_CRASHED);
	else
		broker_channel_close(b, d, -ENODEV, DK_REASON_NONE);
	d->generation = generation;
	d->state = state;
	note_state(b, d, "detach");
}

void broker_control_readable(struct dk_broker *b)
{
	struct dk_msg *m = &b->cmsg;

	for (int i = 0; i < FRAMES_PER_WAKEUP && b->ctl >= 0; i++) {
		int err = dk_msg_recv(b->ctl, &dk_supctl_proto, 0, m, NULL);

		if (err == -EAGAIN)
			return;
		if (err == -EPROTO || err == -EOPNOTSUPP) {
			b->st.control_refused++;
			broker_report(b, "control socket: frame refused: %s", dk_strerror(err));
			continue;
		}
		if (err < 0) {
			/* The supervisor is gone: keep serving the devices we know. */
			broker_report(b, "control socket closed: %s", dk_strerror(err));
			epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->ctl, NULL);
			close(b->ctl);
			b->ctl = -1;
			return;
		}
		if (m->frame.flags & ~DK_FRAME_F_FDS) {
			b->st.control_refused++;
			broker_report(b, "control socket: unexpected reply refused");
			dk_msg_close_fds(m);
			continue;
		}
		switch (m->frame.opcode) {
		case DK_SUPCTL_OP_ATTACH:
			op_attach(b, m);
			break;
		case DK_SUPCTL_OP_DETACH:
			op_detach(b, m);
			break;
		case DK_SUPCTL_OP_HWSIM_ATTACH:
			broker_hwsim_attach(b, m);
			break;
		default: /* READY and the fence registry go the other way */
			b->st.control_refused++;
			broker_report(b, "control socket: %s refused", m->frame.op->name);
			dk_msg_close_fds(m);
			break;
		}
	}
}

/* ---- the channel to a device's service ---- */

static void session_end(struct dk_broker *b, struct device *d, const struct dk_frame *f)
{
	struct dk_wire_reader r;
	uint64_t id;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	id = dk_wire_get_u64(&r);
	for (uint32_t i = 0; i < d->n_sessions; i++) {
		if (d->sessions[i] != id)
			continue;
		d->sessions[i] = d->sessions[--d->n_sessions];
		return;
	}
	/* A session whose open failed after the service made it (timed out, client gone). */
}

/* The error and reason of an error reply from a service, made sane. */
static void reply_error(const struct dk_frame *f, int32_t *ret_err, uint32_t *ret_reason)
{
	struct dk_wire_reader r;

	dk_wire_reader_init(&r, f->payload, f->length);
	*ret_err = (int32_t)dk_wire_get_u32(&r);
	*ret_reason = dk_wire_get_u32(&r);
	if (*ret_err >= 0 || *ret_err < -4095) {
		*ret_err = -EPROTO;
		*ret_reason = DK_REASON_PROTOCOL;
	}
	if (*ret_reason >= DK_REASON_COUNT)
		*ret_reason = DK_REASON_PROTOCOL;
}

void broker_channel_readable(struct dk_broker *b, struct device *d)
{
	struct dk_msg *m = &b->cmsg;

	for (int i = 0; i < FRAMES_PER_WAKEUP && d->chan >= 0; i++) {
		const struct dk_frame *f = &m->frame;
		int err = dk_msg_recv(d->chan, &devctl_in_proto, 0, m, NULL);

		if (err == -EAGAIN)
			return;
		if (err == -EPROTO || err == -EOPNOTSUPP) {
			b->st.service_refused++;
			broker_report(b, "%s: service frame refused: %s", d->name,
				      dk_strerror(err));
			continue;
		}
		if (err < 0) {
			broker_channel_dead(b, d);
			return;
		}
		if (m->n_fds) {
			dk_msg_close_fds(m);
			b->st.service_refused++;
			broker_report(b, "%s: service frame with descriptors refused", d->name);
			continue;
		}
		if (f->opcode == DK_DEVCTL_OP_SESSION && (f->flags & DK_FRAME_F_REPLY)) {
			int32_t e = 0;
			uint32_t reason = DK_REASON_NONE;

			if (f->flags & DK_FRAME_F_ERROR)
				reply_error(f, &e, &reason);
			broker_session_answer(b, d, f->seq, e, reason);
		} else if (f->opcode == DK_DEVCTL_OP_KILL_SESSION &&
			   (f->flags & DK_FRAME_F_REPLY)) {
			int32_t e = 0;
			uint32_t reason = DK_REASON_NONE;

			if (f->flags & DK_FRAME_F_ERROR)
				reply_error(f, &e, &reason);
			broker_kill_answer(b, d, f->seq, e, reason);
		} else if ((f->opcode == DK_DEVCTL_OP_STATS || f->opcode == DK_DEVCTL_OP_TRACE) &&
			   (f->flags & DK_FRAME_F_REPLY)) {
			int32_t e = 0;
			uint32_t reason = DK_REASON_NONE;

			if (f->flags & DK_FRAME_F_ERROR)
				reply_error(f, &e, &reason);
			broker_relay_answer(b, d, f, e, reason);
		} else if (f->opcode == DK_DEVCTL_OP_SESSION_END && f->flags == 0) {
			session_end(b, d, f);
		} else {
			b->st.service_refused++;
			broker_report(b, "%s: unexpected %s frame from the service", d->name,
				      f->op->name);
		}
	}
}

void broker_sync(struct dk_broker *b)
{
	struct pollfd pfd[1 + DK_BROKER_DEVICES_MAX];
	struct device *who[1 + DK_BROKER_DEVICES_MAX];
	nfds_t n = 0;

	if (b->ctl >= 0) {
		pfd[n] = (struct pollfd){.fd = b->ctl, .events = POLLIN};
		who[n++] = NULL;
	}
	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++) {
		if (b->devices[i].chan < 0)
			continue;
		pfd[n] = (struct pollfd){.fd = b->devices[i].chan, .events = POLLIN};
		who[n++] = &b->devices[i];
	}
	if (n == 0 || poll(pfd, n, 0) <= 0)
		return;
	/* The supervisor first (an ATTACH may replace a channel), then the services. */
	for (nfds_t i = 0; i < n; i++) {
		if (!pfd[i].revents)
			continue;
		if (!who[i] && b->ctl == pfd[i].fd)
			broker_control_readable(b);
		else if (who[i] && who[i]->chan == pfd[i].fd)
			broker_channel_readable(b, who[i]);
	}
}
