/* SPDX-License-Identifier: MIT */
/*
 * registry.c - a child's control socket ("supctl", dk/runtime.h) and the fence registry it
 * feeds, plus the supervisor -> broker frames (ATTACH, DETACH) and the channel between dk-hwsim
 * and the broker (HWSIM_CHANNEL, HWSIM_ATTACH).
 *
 * The guarantee: every fence a service registered (and did not release) before it died is
 * failed with -ENODEV / DK_REASON_DRIVER_CRASHED once its death is seen, so no waiter sleeps
 * on a timeline whose only signaller is gone. Frames still queued in the control socket when
 * the service dies are read before the reap: a registration counts once it was sent. A
 * registration is answered once the fence is held (so the service may then seal it by handing
 * out wait-only copies); one over DK_SUPCTL_FENCES_MAX is refused with -ENOSPC.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "supervisor-internal.h"

#define REGISTRY_RIGHTS (DK_RIGHT_SIGNAL | DK_RIGHT_WAIT | DK_RIGHT_TRANSFER)
/* Frames read from the socket of a service that died: what it can have queued, bounded. */
#define DRAIN_MAX (4u * DK_SUPCTL_FENCES_MAX)

static struct dk_supd_fence *find(struct dk_supd_service *v, uint64_t tag)
{
	for (uint32_t i = 0; i < v->n_fences; i++)
		if (v->fences[i].tag == tag)
			return &v->fences[i];
	return NULL;
}

/*
 * Whether one more fence fits our descriptor limit, keeping a reserve so that a frame carrying
 * descriptors can always be received (a frame whose descriptors the kernel cannot install
 * arrives truncated and would look malformed).
 */
static bool fd_room(const struct dk_supd *s)
{
	uint64_t fences = 0, reserve = 256 + 4 * (uint64_t)s->n;

	for (uint32_t i = 0; i < s->n; i++)
		fences += s->svcs[i].n_fences;
	return DK_FENCE_NR_FDS * (fences + 1) + reserve <= s->fd_limit;
}

static int grow(struct dk_supd_service *v)
{
	uint32_t cap = v->cap_fences ? 2 * v->cap_fences : 16;
	struct dk_supd_fence *f;

	if (cap > DK_SUPCTL_FENCES_MAX)
		cap = DK_SUPCTL_FENCES_MAX;
	f = realloc(v->fences, cap * sizeof(*f));
	if (!f)
		return -ENOMEM;
	v->fences = f;
	v->cap_fences = cap;
	return 0;
}

/* Answer a FENCE_REGISTER (dk_child_fence_register() waits for it). Never waits: a service
 * that does not read its control socket only delays itself. Nobody listens once it died. */
static void register_reply(struct dk_supd_service *v, const struct dk_msg *msg, int err,
			   uint32_t reason)
{
	if (v->dying || v->ctl_fd < 0)
		return;
	if (err < 0)
		dk_msg_reply_error(v->ctl_fd, &dk_supctl_proto, msg->frame.opcode, msg->frame.seq,
				   err, reason);
	else
		dk_msg_send(v->ctl_fd, &dk_supctl_proto, msg->frame.opcode, DK_FRAME_F_REPLY,
			    msg->frame.seq, NULL, 0, NULL, 0, 0);
}

static void fence_register(struct dk_supd *s, struct dk_supd_service *v, struct dk_msg *msg)
{
	struct dk_supd_fence *old;
	struct dk_fence *fence, *sealed;
	struct dk_wire_reader r;
	uint64_t tag;
	int err;

	dk_wire_reader_init(&r, msg->frame.payload, msg->frame.known_length);
	tag = dk_wire_get_u64(&r);
	if (msg->n_fds != DK_FENCE_NR_FDS) {
		dk_supd_service_violation(s, v, "fence-register without a fence's descriptors",
					  -EPROTO);
		return;
	}
	old = find(v, tag);
	if (!old && v->n_fences >= DK_SUPCTL_FENCES_MAX) {
		/* Refused, so the service knows the fence is not covered and must not hand it
		 * out; everything it registered before stays covered. */
		dk_supd_journal(s, DK_LOG_WARNING, "supervisor.registry",
				"fence registry full: registration refused",
				"service=%s pid=%d tag=%llu registered=%u", v->cfg->name,
				(int)v->pid, (unsigned long long)tag, v->n_fences);
		register_reply(v, msg, -ENOSPC, DK_REASON_BUDGET);
		return;
	}
	if (!old && !fd_room(s)) {
		dk_supd_journal(s, DK_LOG_WARNING, "supervisor.registry",
				"supervisor out of descriptors: registration refused",
				"service=%s pid=%d tag=%llu fd_limit=%llu", v->cfg->name,
				(int)v->pid, (unsigned long long)tag,
				(unsigned long long)s->fd_limit);
		register_reply(v, msg, -ENOSPC, DK_REASON_BUDGET);
		return;
	}
	if (!old && v->n_fences == v->cap_fences && grow(v) < 0) {
		dk_supd_journal(s, DK_LOG_ERROR, "supervisor.registry", "cannot register a fence",
				"service=%s pid=%d tag=%llu error=%d", v->cfg->name, (int)v->pid,
				(unsigned long long)tag, -ENOMEM);
		register_reply(v, msg, -ENOMEM, DK_REASON_NONE);
		return;
	}
	err = dk_fence_import(msg->fds, REGISTRY_RIGHTS, &fence);
	if (err < 0) {
		/* A real fence already sealed (exported wait-only) cannot be signalled by us any
		 * more: refused, but it is the service's mistake, not an attack. */
		if (dk_fence_import(msg->fds, DK_RIGHTS_FENCE_WAIT, &sealed) == 0) {
			msg->n_fds = 0;
			dk_fence_unref(sealed);
			dk_supd_journal(s, DK_LOG_WARNING, "supervisor.registry",
					"fence sealed before it was registered: refused",
					"service=%s pid=%d tag=%llu", v->cfg->name, (int)v->pid,
					(unsigned long long)tag);
			register_reply(v, msg, -EPERM, DK_REASON_PROTOCOL);
			return;
		}
		dk_supd_service_violation(s, v, "fence-register with descriptors of no fence",
					  err);
		return;
	}
	msg->n_fds = 0; /* taken over by the fence */
	if (old) {
		/* The tag names the new fence now; the old one is the service's business. */
		dk_fence_unref(old->fence);
		old->fence = fence;
	} else {
		v->fences[v->n_fences].tag = tag;
		v->fences[v->n_fences].fence = fence;
		v->n_fences++;
	}
	register_reply(v, msg, 0, DK_REASON_NONE);
}

static void fence_release(struct dk_supd_service *v, const struct dk_msg *msg)
{
	struct dk_wire_reader r;
	struct dk_supd_fence *f;

	dk_wire_reader_init(&r, msg->frame.payload, msg->frame.known_length);
	f = find(v, dk_wire_get_u64(&r));
	if (!f)
		return; /* nothing registered under it: nothing to drop */
	dk_fence_unref(f->fence);
	*f = v->fences[--v->n_fences];
}

static void handle_frame(struct dk_supd *s, struct dk_supd_service *v, struct dk_msg *msg)
{
	const struct dk_frame *f = &msg->frame;

	if (f->flags & (DK_FRAME_F_REPLY | DK_FRAME_F_ERROR)) {
		dk_supd_service_violation(s, v, "reply on the control socket", -EPROTO);
		return;
	}
	switch (f->opcode) {
	case DK_SUPCTL_OP_READY:
		if (msg->n_fds)
			dk_supd_service_violation(s, v, "ready with descriptors", -EPROTO);
		else
			dk_supd_service_ready(s, v);
		break;
	case DK_SUPCTL_OP_FENCE_REGISTER:
		fence_register(s, v, msg);
		break;
	case DK_SUPCTL_OP_FENCE_RELEASE:
		if (msg->n_fds)
			dk_supd_service_violation(s, v, "fence-release with descriptors", -EPROTO);
		else
			fence_release(v, msg);
		break;
	default:
		dk_supd_service_violation(s, v, "supervisor-only opcode from a service", -EPROTO);
		break;
	}
}

void dk_supd_control_read(struct dk_supd *s, struct dk_supd_service *v, unsigned int max)
{
	if (max == 0)
		max = DRAIN_MAX;
	for (unsigned int i = 0; i < max && v->ctl_fd >= 0; i++) {
		enum dk_frame_detail detail;
		int err = dk_msg_recv(v->ctl_fd, &dk_supctl_proto, 0, &s->msg, &detail);

		if (err == -EAGAIN)
			return;
		if (err == -EPROTO || err == -EOPNOTSUPP) {
			dk_supd_service_violation(s, v,
						  err == -EPROTO ? dk_frame_detail_name(detail)
								 : "unknown opcode",
						  err);
			continue;
		}
		if (err < 0) {
			/* The other end is closed (or broken): nothing more will come. */
			dk_supd_unwatch(s, v->ctl_fd);
			close(v->ctl_fd);
			v->ctl_fd = -1;
			return;
		}
		handle_frame(s, v, &s->msg);
		dk_msg_close_fds(&s->msg);
	}
}

uint32_t dk_supd_registry_reap(struct dk_supd_service *v, uint64_t *ret_failed_ns)
{
	uint32_t n = v->n_fences;

	/* Every waiter first; unmapping (the slow part: ~20 us a fence) only after. Points
	 * already signalled stay successful: the error covers only the rest. */
	for (uint32_t i = 0; i < n; i++)
		dk_fence_signal_error(v->fences[i].fence, UINT64_MAX, -ENODEV,
				      DK_REASON_DRIVER_CRASHED);
	if (ret_failed_ns)
		*ret_failed_ns = dk_now_ns();
	for (uint32_t i = 0; i < n; i++)
		dk_fence_unref(v->fences[i].fence);
	v->n_fences = 0;
	return n;
}

/* ---- supervisor -> broker ---- */

static int send_to_broker(struct dk_supd *s, uint16_t opcode, uint64_t seq, const void *p,
			  size_t len, const int *fds, uint32_t n_fds)
{
	struct dk_supd_service *b = &s->svcs[s->broker];
	int err;

	if (b->state != DK_SERVICE_RUNNING || b->ctl_fd < 0)
		return -ENOTCONN;
	err = dk_msg_send(b->ctl_fd, &dk_supctl_proto, opcode, 0, seq, p, len, fds, n_fds,
			  dk_deadline_in(DK_SUPD_SEND_TIMEOUT_NS));
	if (err < 0)
		dk_supd_journal(s, DK_LOG_ERROR, "supervisor.broker", "cannot reach the broker",
				"service=%s pid=%d opcode=%u error=%d", b->cfg->name, (int)b->pid,
				opcode, err);
	return err;
}

int dk_supd_send_attach(struct dk_supd *s, struct dk_supd_service *v)
{
	uint8_t p[16 + 3 * (2 + DK_RT_NAME_MAX)];
	struct dk_wire_writer w;
	int err;

	if (v->broker_peer_fd < 0)
		return -EBADF;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, v->generation);
	dk_wire_put_u32(&w, (uint32_t)v->pid);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, v->cfg->name);
	dk_wire_put_string(&w, v->cfg->device);
	dk_wire_put_string(&w, v->cfg->device_class);
	err = dk_wire_writer_error(&w);
	if (err == 0)
		err = send_to_broker(s, DK_SUPCTL_OP_ATTACH, v->generation, p,
				     dk_wire_writer_len(&w), &v->broker_peer_fd, 1);
	/* Our copy goes either way: the broker holds its own now, or nobody will. */
	close(v->broker_peer_fd);
	v->broker_peer_fd = -1;
	return err;
}

int dk_supd_send_detach(struct dk_supd *s, struct dk_supd_service *v, uint32_t device_state)
{
	uint8_t p[16 + 2 + DK_RT_NAME_MAX];
	struct dk_wire_writer w;
	int err;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, v->generation);
	dk_wire_put_u32(&w, device_state);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, v->cfg->device);
	err = dk_wire_writer_error(&w);
	if (err < 0)
		return err;
	return send_to_broker(s, DK_SUPCTL_OP_DETACH, v->generation, p, dk_wire_writer_len(&w),
			      NULL, 0);
}

int dk_supd_hwsim_connect(struct dk_supd *s)
{
	struct dk_supd_service *h, *b = &s->svcs[s->broker];
	uint8_t p[16];
	struct dk_wire_writer w;
	int sv[2], err;

	if (s->hwsim < 0)
		return 0;
	h = &s->svcs[s->hwsim];
	if (s->shutting_down || h->state != DK_SERVICE_RUNNING || h->ctl_fd < 0 || h->dying ||
	    b->state != DK_SERVICE_RUNNING || b->ctl_fd < 0 || b->dying)
		return -ENOTCONN;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = -errno;
		dk_supd_journal(s, DK_LOG_ERROR, "supervisor.hwsim",
				"cannot make the hwsim channel", "service=%s error=%d",
				h->cfg->name, err);
		return err;
	}
	/* dk-hwsim first: the broker's first request then waits in the channel at worst. */
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, b->generation);
	err = dk_msg_send(h->ctl_fd, &dk_supctl_proto, DK_SUPCTL_OP_HWSIM_CHANNEL, 0,
			  b->generation, p, dk_wire_writer_len(&w), &sv[0], 1,
			  dk_deadline_in(DK_SUPD_SEND_TIMEOUT_NS));
	close(sv[0]);
	if (err < 0) {
		/* Our end closes too: a broker never holds a channel nobody answers. */
		close(sv[1]);
		dk_supd_journal(s, DK_LOG_ERROR, "supervisor.hwsim", "cannot reach dk-hwsim",
				"service=%s pid=%d opcode=%u error=%d", h->cfg->name, (int)h->pid,
				DK_SUPCTL_OP_HWSIM_CHANNEL, err);
		return err;
	}
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, h->generation);
	dk_wire_put_u32(&w, (uint32_t)h->pid);
	dk_wire_put_u32(&w, 0);
	err = send_to_broker(s, DK_SUPCTL_OP_HWSIM_ATTACH, h->generation, p,
			     dk_wire_writer_len(&w), &sv[1], 1);
	close(sv[1]);
	if (err == 0)
		dk_supd_journal(s, DK_LOG_INFO, "supervisor.hwsim", "hwsim channel made",
				"hwsim=%s hwsim_generation=%llu broker=%s broker_generation=%llu",
				h->cfg->name, (unsigned long long)h->generation, b->cfg->name,
				(unsigned long long)b->generation);
	return err;
}
