/* SPDX-License-Identifier: MIT */
/*
 * Passing handles: one DK_OP_HANDLE frame plus SCM_RIGHTS descriptors on a SOCK_SEQPACKET
 * socket. The receiver believes nothing the frame says until the kernel confirms it.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dk/buffer.h>
#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/ring.h>
#include <dk/time.h>
#include <dk/transfer.h>
#include <dk/wire.h>

/* Descriptors a receiver accepts in one message: more are closed and the frame refused. */
#define RECV_MAX_FDS 8

static const struct dk_frame_opdesc core_ops[] = {
	{DK_OP_HANDLE, 0, DK_HANDLE_PAYLOAD, DK_HANDLE_PAYLOAD, "handle"},
};

const struct dk_frame_proto dk_core_proto = {
	.name = "core",
	.minor = DK_ABI_MINOR,
	.n_ops = sizeof(core_ops) / sizeof(core_ops[0]),
	.ops = core_ops,
};

struct handle_payload {
	uint32_t type;
	uint32_t rights;
	uint64_t size_or_id; /* buffer: its size; fence: its id */
	uint32_t flags;
	uint32_t n_fds;
	uint64_t reserved;
};

static void close_fds(const int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int send_frame(int sock, const struct handle_payload *hp, uint64_t tag, const int *fds,
		      int n_fds, size_t *ret_len)
{
	uint8_t payload[DK_HANDLE_PAYLOAD], frame[DK_FRAME_HEADER_SIZE + DK_HANDLE_PAYLOAD];
	union {
		char buf[CMSG_SPACE(sizeof(int) * (1 + DK_FENCE_NR_FDS))];
		struct cmsghdr align;
	} cbuf;
	struct dk_wire_writer w;
	struct iovec iov;
	struct msghdr msg = {0};
	struct cmsghdr *cmsg;
	int len;

	dk_wire_writer_init(&w, payload, sizeof(payload));
	dk_wire_put_u32(&w, hp->type);
	dk_wire_put_u32(&w, hp->rights);
	dk_wire_put_u64(&w, hp->size_or_id);
	dk_wire_put_u32(&w, hp->flags);
	dk_wire_put_u32(&w, hp->n_fds);
	dk_wire_put_u64(&w, 0);
	if (dk_wire_writer_error(&w))
		return -EINVAL;
	len = dk_frame_encode(frame, sizeof(frame), &dk_core_proto, DK_OP_HANDLE, DK_FRAME_F_FDS,
			      tag, payload, sizeof(payload));
	if (len < 0)
		return len;

	iov.iov_base = frame;
	iov.iov_len = (size_t)len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	memset(&cbuf, 0, sizeof(cbuf));
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
	memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)n_fds);
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
		return -errno;
	*ret_len = (size_t)len;
	return 0;
}

int dk_buffer_send(int sock, struct dk_buffer *buffer, uint32_t rights, uint64_t tag)
{
	struct handle_payload hp = {
		.type = DK_HANDLE_BUFFER,
		.rights = rights,
		.size_or_id = dk_buffer_size(buffer),
		.n_fds = 1,
	};
	size_t len;
	int fd, ret;

	ret = dk_buffer_export(buffer, rights, &fd);
	if (ret < 0)
		return ret;
	if (dk_buffer_is_sealed(buffer))
		hp.flags |= DK_HANDLE_F_SEALED;
	ret = send_frame(sock, &hp, tag, &fd, 1, &len);
	close(fd); /* the message holds its own reference */
	return ret;
}

int dk_fence_send(int sock, struct dk_fence *fence, uint32_t rights, uint64_t tag)
{
	struct handle_payload hp = {
		.type = DK_HANDLE_FENCE,
		.rights = rights,
		.size_or_id = dk_fence_id(fence),
		.n_fds = DK_FENCE_NR_FDS,
	};
	int fds[DK_FENCE_NR_FDS];
	size_t len;
	int ret;

	ret = dk_fence_export(fence, rights, fds);
	if (ret < 0)
		return ret;
	ret = send_frame(sock, &hp, tag, fds, DK_FENCE_NR_FDS, &len);
	close_fds(fds, DK_FENCE_NR_FDS);
	return ret;
}

int dk_ring_send(int sock, struct dk_ring *ring, uint64_t tag)
{
	struct handle_payload hp = {
		.type = DK_HANDLE_RING,
		.rights = DK_RIGHTS_FENCE_WAIT,
		.n_fds = 1 + DK_FENCE_NR_FDS,
	};
	int fds[1 + DK_FENCE_NR_FDS] = {-1, -1, -1, -1};
	struct stat st;
	size_t len;
	int ret;

	if (fstat(dk_ring_fd(ring), &st) < 0)
		return -errno;
	hp.size_or_id = (uint64_t)st.st_size;
	ret = dk_fence_export(dk_ring_fence(ring), DK_RIGHTS_FENCE_WAIT, &fds[1]);
	if (ret < 0)
		return ret;
	fds[0] = fcntl(dk_ring_fd(ring), F_DUPFD_CLOEXEC, 0);
	if (fds[0] < 0) {
		ret = -errno;
		close_fds(&fds[1], DK_FENCE_NR_FDS);
		return ret;
	}
	ret = send_frame(sock, &hp, tag, fds, 1 + DK_FENCE_NR_FDS, &len);
	close_fds(fds, 1 + DK_FENCE_NR_FDS);
	return ret;
}

static int wait_readable(int sock, uint64_t deadline_ns)
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	struct timespec ts;
	uint64_t now;
	int r;

	for (;;) {
		now = dk_now_ns();
		if (now >= deadline_ns)
			ts = (struct timespec){0};
		else
			ts = (struct timespec){
				.tv_sec = (time_t)((deadline_ns - now) / DK_NSEC_PER_SEC),
				.tv_nsec = (long)((deadline_ns - now) % DK_NSEC_PER_SEC),
			};
		r = ppoll(&pfd, 1, &ts, NULL);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* Receive one message and every descriptor attached to it. */
static int recv_message(int sock, uint8_t *buf, size_t size, size_t *ret_len, int *fds,
			int *ret_n_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * RECV_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = buf, .iov_len = size};
	struct msghdr msg = {0};
	struct cmsghdr *cmsg;
	int n_fds = 0, k, ret = 0;
	ssize_t n;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		k = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
			if (n_fds < RECV_MAX_FDS)
				fds[n_fds++] = fd;
			else
				close(fd);
		}
	}
	if (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC))
		ret = -EPROTO;
	else if (n == 0 && n_fds == 0)
		ret = -EPIPE;
	if (ret < 0) {
		close_fds(fds, n_fds);
		return ret;
	}
	*ret_len = (size_t)n;
	*ret_n_fds = n_fds;
	return 0;
}

int dk_handle_recv(int sock, uint64_t deadline_ns, struct dk_buffer_registry *registry,
		   struct dk_budget *budget, struct dk_handle *ret_handle)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	int fds[RECV_MAX_FDS];
	struct handle_payload hp;
	struct dk_wire_reader r;
	struct dk_frame frame;
	struct dk_handle h = {0};
	size_t len = 0;
	int n_fds = 0, ret;

	ret = dk_deadline_check(deadline_ns);
	if (ret < 0)
		return ret;
	ret = wait_readable(sock, deadline_ns);
	if (ret < 0)
		return ret;
	ret = recv_message(sock, buf, sizeof(buf), &len, fds, &n_fds);
	if (ret < 0)
		return ret;

	ret = dk_frame_decode(buf, len, &dk_core_proto, &frame, NULL);
	if (ret < 0)
		goto out_close;
	ret = -EPROTO;
	if (frame.opcode != DK_OP_HANDLE || !(frame.flags & DK_FRAME_F_FDS) ||
	    (frame.flags & DK_FRAME_F_REPLY))
		goto out_close;
	dk_wire_reader_init(&r, frame.payload, frame.known_length);
	hp.type = dk_wire_get_u32(&r);
	hp.rights = dk_wire_get_u32(&r);
	hp.size_or_id = dk_wire_get_u64(&r);
	hp.flags = dk_wire_get_u32(&r);
	hp.n_fds = dk_wire_get_u32(&r);
	hp.reserved = dk_wire_get_u64(&r);
	if (dk_wire_reader_error(&r) || (hp.rights & ~DK_RIGHTS_ALL) ||
	    hp.n_fds != (uint32_t)n_fds || hp.reserved != 0)
		goto out_close;

	h.type = hp.type;
	h.rights = hp.rights;
	h.tag = frame.seq;
	switch (hp.type) {
	case DK_HANDLE_BUFFER:
		if (n_fds != 1 || hp.size_or_id == 0 || (hp.flags & ~DK_HANDLE_F_SEALED))
			goto out_close;
		ret = dk_buffer_import(registry, budget, fds[0], hp.rights, hp.size_or_id,
				       &h.buffer);
		if (ret < 0)
			goto out_close;
		if ((hp.flags & DK_HANDLE_F_SEALED) && !dk_buffer_is_sealed(h.buffer)) {
			dk_buffer_release(h.buffer); /* closes the descriptor */
			return -EBADF;
		}
		dk_buffer_registry_note(registry, DK_NOTE_CONTROL_BYTES, len);
		dk_buffer_registry_note(registry, DK_NOTE_BULK_BYTES, hp.size_or_id);
		break;
	case DK_HANDLE_FENCE:
		if (n_fds != DK_FENCE_NR_FDS || hp.flags)
			goto out_close;
		ret = dk_fence_import(fds, hp.rights, &h.fence);
		if (ret < 0)
			goto out_close;
		if (dk_fence_id(h.fence) != hp.size_or_id) {
			dk_fence_unref(h.fence);
			return -EPROTO;
		}
		break;
	case DK_HANDLE_RING: {
		struct stat st;

		if (n_fds != 1 + DK_FENCE_NR_FDS || hp.flags || hp.rights != DK_RIGHTS_FENCE_WAIT ||
		    fstat(fds[0], &st) < 0 || (uint64_t)st.st_size != hp.size_or_id)
			goto out_close;
		ret = dk_fence_import(&fds[1], DK_RIGHTS_FENCE_WAIT, &h.fence);
		if (ret < 0)
			goto out_close;
		ret = dk_ring_attach(fds[0], h.fence, &h.ring);
		dk_fence_unref(h.fence); /* the ring holds its own reference */
		h.fence = NULL;
		if (ret < 0) {
			close(fds[0]);
			return ret;
		}
		break;
	}
	default:
		goto out_close;
	}
	*ret_handle = h;
	return 0;

out_close:
	close_fds(fds, n_fds);
	return ret;
}
