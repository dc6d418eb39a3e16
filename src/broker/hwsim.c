/* SPDX-License-Identifier: MIT */
/*
 * hwsim.c - the broker's side of the emulated board (dk/hwsim.h): the channel to dk-hwsim the
 * supervisor hands over (HWSIM_ATTACH), the hardware of each device service (GRANT, asked at
 * ATTACH and sent to the service before anything else), the service's DMA requests (MAP, UNMAP,
 * forwarded for the device the supervisor attached it for and nothing else) and fault injection
 * (INJECT, the broker's uid or root only).
 *
 * Requests to dk-hwsim are synchronous: each holds the loop until dk-hwsim answers, at most
 * DK_BROKER_HWSIM_TIMEOUT_NS. A request that timed out leaves the channel as it is; its late
 * reply is recognised by its seq (older than the latest request) and dropped. A channel that
 * broke is closed, and every request that needs it fails with -ENODEV until the supervisor
 * sends a new one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "broker-internal.h"

#define DMA_ACCESS_KNOWN (DK_DMA_READ | DK_DMA_WRITE)

/* ---- the channel ---- */

static void hwsim_close(struct dk_broker *b, const char *why)
{
	if (b->hwsim < 0)
		return;
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, b->hwsim, NULL);
	close(b->hwsim);
	b->hwsim = -1;
	broker_report(b, "hwsim channel (generation %" PRIu64 ") closed: %s", b->hwsim_generation,
		      why);
}

void broker_hwsim_attach(struct dk_broker *b, struct dk_msg *m)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_HWSIM};
	char fields[DK_LOG_FIELDS_MAX + 1];
	struct dk_wire_reader r;
	uint64_t generation;
	uint32_t pid, reserved;
	int chan;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	generation = dk_wire_get_u64(&r);
	pid = dk_wire_get_u32(&r);
	reserved = dk_wire_get_u32(&r);
	if (dk_wire_reader_error(&r) < 0 || reserved || m->n_fds != 1) {
		b->st.control_refused++;
		broker_report(b, "malformed HWSIM_ATTACH refused");
		dk_msg_close_fds(m);
		return;
	}
	chan = m->fds[0];
	m->fds[0] = -1;
	m->n_fds = 0;
	hwsim_close(b, "replaced");
	/* The grants of the old board are void: its devices and their windows are gone. */
	for (uint32_t i = 0; i < DK_BROKER_DEVICES_MAX; i++)
		broker_dma_close(b, &b->devices[i]);
	if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, chan, &ev) < 0) {
		b->st.control_refused++;
		broker_report(b, "HWSIM_ATTACH refused: %s", dk_strerror(-errno));
		close(chan);
		return;
	}
	b->hwsim = chan;
	b->hwsim_generation = generation;
	b->hwsim_pid = pid;
	broker_report(b, "hwsim: board attached, pid %" PRIu32 " generation %" PRIu64, pid,
		      generation);
	snprintf(fields, sizeof(fields), "pid=%" PRIu32 " generation=%" PRIu64, pid, generation);
	broker_audit(b, DK_LOG_NOTICE, "broker.hwsim", "board attached", fields);
}

/* What dk-hwsim sent outside a request: a late reply is dropped, anything else refused. */
static bool hwsim_unexpected(struct dk_broker *b, struct dk_msg *m)
{
	bool stale = (m->frame.flags & DK_FRAME_F_REPLY) && m->frame.seq < b->hwsim_seq;

	dk_msg_close_fds(m);
	if (!stale) {
		b->st.hwsim_refused++;
		broker_report(b, "hwsim: unexpected %s frame refused", m->frame.op->name);
	}
	return stale;
}

void broker_hwsim_readable(struct dk_broker *b)
{
	struct dk_msg *m = &b->hmsg;

	for (int i = 0; i < FRAMES_PER_WAKEUP && b->hwsim >= 0; i++) {
		int err = dk_msg_recv(b->hwsim, &dk_hwsim_reply_proto, 0, m, NULL);

		if (err == -EAGAIN)
			return;
		if (err == -EPROTO || err == -EOPNOTSUPP) {
			b->st.hwsim_refused++;
			broker_report(b, "hwsim: frame refused: %s", dk_strerror(err));
			continue;
		}
		if (err < 0) {
			hwsim_close(b, dk_strerror(err));
			return;
		}
		hwsim_unexpected(b, m);
	}
}

/*
 * One request to dk-hwsim and its reply, within DK_BROKER_HWSIM_TIMEOUT_NS (the loop waits).
 * Returns 0 with b->hmsg filled (its descriptors are the caller's); dk-hwsim's error, and its
 * reason in @ret_reason; -EPIPE when there is no channel or it broke (it is closed then);
 * -ETIMEDOUT (the channel stays: the late reply is dropped when it comes).
 */
static int hwsim_call(struct dk_broker *b, uint16_t opcode, const void *p, size_t len,
		      const int *fds, uint32_t n_fds, uint32_t *ret_reason)
{
	uint64_t deadline = dk_deadline_in(DK_BROKER_HWSIM_TIMEOUT_NS), seq;
	struct dk_msg *m = &b->hmsg;
	int err;

	*ret_reason = DK_REASON_NONE;
	if (b->hwsim < 0)
		return -EPIPE;
	seq = ++b->hwsim_seq;
	err = dk_msg_send(b->hwsim, &dk_hwsim_proto, opcode, 0, seq, p, len, fds, n_fds, deadline);
	if (err == -ETIMEDOUT)
		return err;
	if (err < 0) {
		hwsim_close(b, dk_strerror(err));
		return -EPIPE;
	}
	for (;;) {
		struct dk_wire_reader r;
		int32_t perr;
		uint32_t reason;

		err = dk_msg_recv(b->hwsim, &dk_hwsim_reply_proto, deadline, m, NULL);
		if (err == -ETIMEDOUT)
			return err;
		if (err == -EPROTO || err == -EOPNOTSUPP) {
			b->st.hwsim_refused++;
			broker_report(b, "hwsim: frame refused: %s", dk_strerror(err));
			continue;
		}
		if (err < 0) {
			hwsim_close(b, dk_strerror(err));
			return -EPIPE;
		}
		if (!(m->frame.flags & DK_FRAME_F_REPLY) || m->frame.seq != seq ||
		    m->frame.opcode != opcode) {
			hwsim_unexpected(b, m);
			continue;
		}
		if (!(m->frame.flags & DK_FRAME_F_ERROR))
			return 0;
		dk_msg_close_fds(m);
		dk_wire_reader_init(&r, m->frame.payload, m->frame.length);
		perr = (int32_t)dk_wire_get_u32(&r);
		reason = dk_wire_get_u32(&r);
		if (perr >= 0 || perr < -4095) {
			b->st.hwsim_refused++;
			return -EPROTO;
		}
		*ret_reason = reason < DK_REASON_COUNT ? reason : DK_REASON_PROTOCOL;
		return perr;
	}
}

/* ---- GRANT ---- */

static void audit_grant(struct dk_broker *b, const struct device *d, const char *message,
			int err)
{
	char fields[DK_LOG_FIELDS_MAX + 1];

	snprintf(fields, sizeof(fields),
		 "device=%s model=%s regs_size=%" PRIu32 " service=%s generation=%" PRIu64
		 " hwsim_generation=%" PRIu64 " result=%s",
		 d->name, d->model[0] ? d->model : "-", d->regs_size, d->service, d->generation,
		 b->hwsim_generation, broker_errno_name(err));
	broker_audit(b, DK_LOG_AUDIT, "broker.grant", message, fields);
}

/* dk-hwsim's GRANT reply in b->hmsg, checked: its size and model. 0 or -EPROTO. */
static int grant_reply(struct dk_broker *b, uint32_t *ret_size, char *model, size_t size)
{
	const struct dk_msg *m = &b->hmsg;
	struct dk_wire_reader r;
	uint32_t reserved;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	*ret_size = dk_wire_get_u32(&r);
	reserved = dk_wire_get_u32(&r);
	dk_wire_get_string(&r, model, size);
	if (dk_wire_reader_error(&r) < 0 || m->n_fds != 3 || reserved || *ret_size == 0 ||
	    dk_rt_check_name(model) < 0 || strlen(model) > DK_RT_HWSIM_MODEL_MAX ||
	    (dk_wire_reader_left(&r) && m->frame.minor <= DK_HWSIM_PROTO_MINOR))
		return -EPROTO;
	return 0;
}

int broker_grant(struct dk_broker *b, struct device *d)
{
	struct epoll_event ev = {.events = EPOLLIN,
				 .data.u64 = EV_DMA | (uint64_t)(d - b->devices)};
	uint8_t p[8 + 2 + DK_RT_NAME_MAX];
	char model[DK_RT_NAME_MAX + 1];
	struct dk_wire_writer w;
	uint32_t reason, regs_size = 0;
	int sv[2], fds[4], err;

	broker_dma_close(b, d);
	d->model[0] = '\0';
	d->regs_size = 0;
	if (b->hwsim < 0)
		return 0; /* no board: a stack without emulated hardware */
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, d->name);
	err = hwsim_call(b, DK_HWSIM_OP_GRANT, p, dk_wire_writer_len(&w), NULL, 0, &reason);
	if (err == -ENODEV)
		return 0; /* not on the board: a device without hardware (null0) */
	if (err == -EPIPE)
		err = -ENODEV; /* the board went away meanwhile */
	if (err == 0) {
		err = grant_reply(b, &regs_size, model, sizeof(model));
		if (err < 0) {
			b->st.hwsim_refused++;
			dk_msg_close_fds(&b->hmsg);
		}
	}
	if (err < 0)
		goto out_fail;
	memcpy(fds, b->hmsg.fds, 3 * sizeof(int));
	b->hmsg.n_fds = 0; /* ours now */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = -errno;
		goto out_close;
	}
	fds[3] = sv[1];
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, regs_size);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, model);
	/* The channel is new and empty: this send cannot find it full. It goes out before any
	 * SESSION can (the device is not up until we return). */
	err = dk_msg_send(d->chan, &dk_devctl_proto, DK_DEVCTL_OP_GRANT, 0, 0, p,
			  dk_wire_writer_len(&w), fds, 4, 0);
	close(sv[1]);
	if (err == 0 && epoll_ctl(b->epfd, EPOLL_CTL_ADD, sv[0], &ev) < 0)
		err = -errno;
	if (err < 0) {
		close(sv[0]);
		goto out_close;
	}
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	d->dma = sv[0];
	d->n_windows = 0;
	memcpy(d->model, model, sizeof(d->model)); /* checked: at most the model cap */
	d->model[DK_RT_HWSIM_MODEL_MAX] = '\0';
	d->regs_size = regs_size;
	b->st.grants++;
	audit_grant(b, d, "grant sent", 0);
	broker_report(b, "%s: granted %s hardware (%" PRIu32 " register bytes)", d->name, d->model,
		      regs_size);
	return 0;

out_close:
	for (int i = 0; i < 3; i++)
		close(fds[i]);
out_fail:
	b->st.grant_failures++;
	audit_grant(b, d, "grant failed", err);
	broker_report(b, "%s: no hardware granted: %s", d->name, dk_strerror(err));
	return err;
}

/* ---- the service's DMA requests ---- */

void broker_dma_close(struct dk_broker *b, struct device *d)
{
	if (d->dma < 0)
		return;
	epoll_ctl(b->epfd, EPOLL_CTL_DEL, d->dma, NULL);
	close(d->dma);
	d->dma = -1;
	/* The windows stay on the board until the next GRANT resets the device. */
	d->n_windows = 0;
}

/* Answer a DMA request without waiting; a service that does not read its replies loses its
 * DMA socket (it can map nothing more until its next start). */
static void dma_send(struct dk_broker *b, struct device *d, uint16_t opcode, uint64_t seq,
		     int err, uint32_t reason, const void *p, size_t len)
{
	int e;

	if (err < 0) {
		b->st.dma_refused++;
		e = dk_msg_reply_error(d->dma, &dk_dma_reply_proto, opcode, seq, err, reason);
	} else {
		e = dk_msg_send(d->dma, &dk_dma_reply_proto, opcode, DK_FRAME_F_REPLY, seq, p, len,
				NULL, 0, 0);
	}
	if (e < 0) {
		broker_report(b, "%s: DMA reply not delivered (%s): socket closed", d->name,
			      dk_strerror(e));
		broker_dma_close(b, d);
	}
}

/* dk-hwsim's verdict on a forwarded request, as the service sees it. */
static int dma_error(int err)
{
	return err == -EPIPE ? -ENODEV : err;
}

/* DK_DMA_OP_MAP: forwarded as DK_HWSIM_OP_MAP for @d, the device the service was attached for. */
static int dma_map(struct dk_broker *b, struct device *d, struct dk_msg *m, uint32_t *ret_reason,
		   uint64_t *ret_iova)
{
	uint8_t p[2 + DK_RT_NAME_MAX + 24];
	struct dk_wire_reader r;
	struct dk_wire_writer w;
	uint32_t access, reserved;
	uint64_t offset, length;
	int err;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	access = dk_wire_get_u32(&r);
	reserved = dk_wire_get_u32(&r);
	offset = dk_wire_get_u64(&r);
	length = dk_wire_get_u64(&r);
	*ret_reason = DK_REASON_PROTOCOL;
	if (dk_wire_reader_error(&r) < 0 || reserved || m->n_fds != 1)
		return -EPROTO;
	*ret_reason = DK_REASON_VALIDATION;
	if (!access || (access & ~DMA_ACCESS_KNOWN) || !length || offset + length < offset)
		return -EINVAL;
	*ret_reason = DK_REASON_BUDGET;
	if (d->n_windows >= DK_HWSIM_WINDOWS_MAX)
		return -ENOSPC;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, d->name); /* never anything the service says */
	dk_wire_put_u32(&w, access);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_u64(&w, offset);
	dk_wire_put_u64(&w, length);
	err = hwsim_call(b, DK_HWSIM_OP_MAP, p, dk_wire_writer_len(&w), m->fds, 1, ret_reason);
	if (err < 0)
		return dma_error(err);
	dk_wire_reader_init(&r, b->hmsg.frame.payload, b->hmsg.frame.known_length);
	*ret_iova = dk_wire_get_u64(&r);
	if (b->hmsg.n_fds || *ret_iova == 0) {
		dk_msg_close_fds(&b->hmsg);
		b->st.hwsim_refused++;
		*ret_reason = DK_REASON_PROTOCOL;
		return -EPROTO;
	}
	d->windows[d->n_windows++] = *ret_iova;
	d->maps++;
	b->st.dma_maps++;
	return 0;
}

/* DK_DMA_OP_UNMAP: forwarded as DK_HWSIM_OP_UNMAP for @d. */
static int dma_unmap(struct dk_broker *b, struct device *d, struct dk_msg *m, uint32_t *ret_reason)
{
	uint8_t p[2 + DK_RT_NAME_MAX + 8];
	struct dk_wire_reader r;
	struct dk_wire_writer w;
	uint64_t iova;
	int err;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	iova = dk_wire_get_u64(&r);
	*ret_reason = DK_REASON_PROTOCOL;
	if (dk_wire_reader_error(&r) < 0 || m->n_fds)
		return -EPROTO;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, d->name);
	dk_wire_put_u64(&w, iova);
	/* Forwarded even when we do not know the IOVA (its MAP may have timed out here and
	 * still been done): dk-hwsim looks in this device's table only. */
	err = hwsim_call(b, DK_HWSIM_OP_UNMAP, p, dk_wire_writer_len(&w), NULL, 0, ret_reason);
	if (err < 0)
		return dma_error(err);
	dk_msg_close_fds(&b->hmsg);
	for (uint32_t i = 0; i < d->n_windows; i++) {
		if (d->windows[i] == iova) {
			d->windows[i] = d->windows[--d->n_windows];
			break;
		}
	}
	d->unmaps++;
	b->st.dma_unmaps++;
	return 0;
}

void broker_dma_readable(struct dk_broker *b, struct device *d)
{
	struct dk_msg *m = &b->dmsg;

	for (int i = 0; i < FRAMES_PER_WAKEUP && d->dma >= 0; i++) {
		const struct dk_frame *f = &m->frame;
		uint32_t reason = DK_REASON_NONE;
		uint8_t out[8];
		uint64_t iova = 0;
		int err = dk_msg_recv(d->dma, &dk_dma_proto, 0, m, NULL);

		if (err == -EAGAIN)
			return;
		if (err == -EPROTO || err == -EOPNOTSUPP) {
			/* Refused and answered; the socket goes on. */
			dma_send(b, d, m->have_header ? m->raw_opcode : 0,
				 m->have_header ? m->raw_seq : 0, err, DK_REASON_PROTOCOL, NULL, 0);
			continue;
		}
		if (err < 0) {
			broker_dma_close(b, d); /* the service closed it, or died */
			return;
		}
		if (f->flags & (DK_FRAME_F_REPLY | DK_FRAME_F_ERROR)) {
			dk_msg_close_fds(m);
			dma_send(b, d, f->opcode, f->seq, -EPROTO, DK_REASON_PROTOCOL, NULL, 0);
			continue;
		}
		if (b->hwsim < 0) {
			err = -ENODEV; /* no board to forward to */
		} else if (f->opcode == DK_DMA_OP_MAP) {
			err = dma_map(b, d, m, &reason, &iova);
		} else {
			err = dma_unmap(b, d, m, &reason);
		}
		dk_msg_close_fds(m);
		if (err == 0 && f->opcode == DK_DMA_OP_MAP) {
			struct dk_wire_writer w;

			dk_wire_writer_init(&w, out, sizeof(out));
			dk_wire_put_u64(&w, iova);
			dma_send(b, d, f->opcode, f->seq, 0, 0, out, sizeof(out));
		} else {
			dma_send(b, d, f->opcode, f->seq, err, reason, NULL, 0);
		}
		/* A board that does not answer has held the loop long enough for one wakeup. */
		if (err == -ETIMEDOUT)
			return;
	}
}

/* ---- INJECT ---- */

static void audit_inject(struct dk_broker *b, const struct client *c, const char *message,
			 const char *device, uint32_t fault, int err)
{
	char fields[DK_LOG_FIELDS_MAX + 1], fname[16];

	if (fault < DK_HWSIM_FAULT_COUNT)
		snprintf(fname, sizeof(fname), "%s", dk_hwsim_fault_name(fault));
	else
		snprintf(fname, sizeof(fname), "%" PRIu32, fault);
	snprintf(fields, sizeof(fields),
		 "device=%s fault=%s by_uid=%" PRIu32 " by_pid=%" PRIu32 " result=%s", device,
		 fname, c->uid, c->pid, broker_errno_name(err));
	broker_audit(b, DK_LOG_AUDIT, "broker.inject", message, fields);
}

void broker_op_inject(struct dk_broker *b, struct client *c, const struct dk_frame *f)
{
	char name[DK_RT_NAME_MAX + 1];
	uint8_t p[2 + DK_RT_NAME_MAX + 8];
	struct dk_wire_reader r;
	struct dk_wire_writer w;
	uint32_t fault, reserved, reason = DK_REASON_NONE;
	int err;

	dk_wire_reader_init(&r, f->payload, f->known_length);
	dk_wire_get_string(&r, name, sizeof(name));
	fault = dk_wire_get_u32(&r);
	reserved = dk_wire_get_u32(&r);
	if (dk_wire_reader_error(&r) < 0 || dk_rt_check_name(name) < 0 || reserved ||
	    (dk_wire_reader_left(&r) && f->minor <= DK_BROKER_PROTO_MINOR)) {
		b->st.refused++;
		broker_reply_error(b, c, f->opcode, f->seq, -EPROTO, DK_REASON_PROTOCOL);
		return;
	}
	if (c->uid != b->uid && c->uid != 0) {
		audit_inject(b, c, "inject refused", name, fault, -EACCES);
		broker_reply_error(b, c, f->opcode, f->seq, -EACCES, DK_REASON_POLICY);
		return;
	}
	if (fault >= DK_HWSIM_FAULT_COUNT) {
		audit_inject(b, c, "inject refused", name, fault, -EINVAL);
		broker_reply_error(b, c, f->opcode, f->seq, -EINVAL, DK_REASON_NONE);
		return;
	}
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, name);
	dk_wire_put_u32(&w, fault);
	dk_wire_put_u32(&w, 0);
	err = hwsim_call(b, DK_HWSIM_OP_INJECT, p, dk_wire_writer_len(&w), NULL, 0, &reason);
	if (err == 0)
		dk_msg_close_fds(&b->hmsg);
	err = dma_error(err);
	if (err == 0)
		b->st.injects++;
	audit_inject(b, c, err == 0 ? "fault injected" : "inject failed", name, fault, err);
	broker_report(b, "%s: inject %s by uid %" PRIu32 ": %s", name, dk_hwsim_fault_name(fault),
		      c->uid, err == 0 ? "done" : dk_strerror(err));
	if (err < 0)
		broker_reply_error(b, c, f->opcode, f->seq, err, reason);
	else
		broker_reply(b, c, f->opcode, f->seq, NULL, 0, NULL, 0);
}
