/* SPDX-License-Identifier: MIT */
/*
 * msg.c - frames with descriptors over SOCK_SEQPACKET (dk/msg.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/msg.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

/* Descriptors beyond DK_MSG_MAX_FDS are received (so none leak) and then refused. */
#define RECV_FDS_ROOM (DK_MSG_MAX_FDS + 4u)

static _Atomic uint64_t next_seq = 1;

static void close_all(int *fds, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

void dk_msg_close_fds(struct dk_msg *msg)
{
	if (!msg)
		return;
	close_all(msg->fds, msg->n_fds);
	msg->n_fds = 0;
}

int dk_msg_send(int sock, const struct dk_frame_proto *proto, uint16_t opcode, uint16_t flags,
		uint64_t seq, const void *payload, size_t len, const int *fds, uint32_t n_fds,
		uint64_t deadline_ns)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	union {
		char buf[CMSG_SPACE(sizeof(int) * DK_MSG_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov;
	struct msghdr mh = {0};
	ssize_t s;
	int n, err;

	if (sock < 0 || n_fds > DK_MSG_MAX_FDS || (n_fds && !fds))
		return -EINVAL;
	if (n_fds)
		flags |= DK_FRAME_F_FDS;
	n = dk_frame_encode(buf, sizeof(buf), proto, opcode, flags, seq, payload, len);
	if (n < 0)
		return n;
	iov.iov_base = buf;
	iov.iov_len = (size_t)n;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n_fds) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
	}
	for (;;) {
		s = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (s == n)
			return 0;
		if (s >= 0)
			return -EPROTO; /* a seqpacket record is never sent in part */
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET || errno == ENOTCONN)
			return -EPIPE;
		if (errno != EAGAIN && errno != ENOBUFS)
			return -errno;
		if (deadline_ns == 0)
			return -EAGAIN;
		err = dk_socket_wait(sock, POLLOUT, deadline_ns);
		if (err < 0)
			return err;
	}
}

int dk_msg_recv(int sock, const struct dk_frame_proto *proto, uint64_t deadline_ns,
		struct dk_msg *msg, enum dk_frame_detail *ret_detail)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * RECV_FDS_ROOM)];
		struct cmsghdr align;
	} cbuf;
	int fds[RECV_FDS_ROOM];
	uint32_t n_fds = 0;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *cm;
	struct dk_wire_reader r;
	ssize_t n;
	int err;

	if (ret_detail)
		*ret_detail = DK_FRAME_OK;
	if (sock < 0 || !msg || !proto)
		return -EINVAL;
	msg->n_fds = 0;
	msg->have_header = false;
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = msg->buf;
		iov.iov_len = sizeof(msg->buf);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET)
			return -EPIPE;
		if (errno != EAGAIN)
			return -errno;
		if (deadline_ns == 0)
			return -EAGAIN;
		err = dk_socket_wait(sock, POLLIN, deadline_ns);
		if (err < 0)
			return err;
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		uint32_t k;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (uint32_t)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (uint32_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (n_fds < RECV_FDS_ROOM)
				fds[n_fds++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0 && n_fds == 0)
		return -EPIPE;
	if ((size_t)n >= DK_FRAME_HEADER_SIZE) {
		dk_wire_reader_init(&r, msg->buf + 8, 2);
		msg->raw_opcode = dk_wire_get_u16(&r);
		dk_wire_reader_init(&r, msg->buf + 16, 8);
		msg->raw_seq = dk_wire_get_u64(&r);
		msg->have_header = true;
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || n_fds > DK_MSG_MAX_FDS) {
		close_all(fds, n_fds);
		return -EPROTO;
	}
	err = dk_frame_decode(msg->buf, (size_t)n, proto, &msg->frame, ret_detail);
	if (err == 0 && (!!(msg->frame.flags & DK_FRAME_F_FDS) != (n_fds > 0)))
		err = -EPROTO;
	if (err < 0) {
		close_all(fds, n_fds);
		return err;
	}
	memcpy(msg->fds, fds, sizeof(int) * n_fds);
	msg->n_fds = n_fds;
	return 0;
}

int dk_msg_reply_error(int sock, const struct dk_frame_proto *proto, uint16_t opcode,
		       uint64_t seq, int err, uint32_t reason)
{
	uint8_t p[DK_FRAME_ERROR_PAYLOAD];
	struct dk_wire_writer w;

	if (err >= 0)
		return -EINVAL;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, (uint32_t)(int32_t)err);
	dk_wire_put_u32(&w, reason);
	return dk_msg_send(sock, proto, opcode, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR, seq, p,
			   sizeof(p), NULL, 0, 0);
}

int dk_msg_call(int sock, const struct dk_frame_proto *proto,
		const struct dk_frame_proto *reply_proto, uint16_t opcode, const void *payload,
		size_t len, const int *fds, uint32_t n_fds, uint64_t deadline_ns,
		struct dk_msg *reply, uint32_t *ret_reason)
{
	uint64_t seq = atomic_fetch_add(&next_seq, 1);
	struct dk_wire_reader r;
	int32_t perr;
	uint32_t reason;
	int err;

	if (ret_reason)
		*ret_reason = DK_REASON_NONE;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	err = dk_msg_send(sock, proto, opcode, 0, seq, payload, len, fds, n_fds, deadline_ns);
	if (err < 0)
		return err;
	err = dk_msg_recv(sock, reply_proto, deadline_ns, reply, NULL);
	if (err < 0)
		return err;
	if (!(reply->frame.flags & DK_FRAME_F_REPLY) || reply->frame.seq != seq ||
	    reply->frame.opcode != opcode) {
		dk_msg_close_fds(reply);
		return -EPROTO;
	}
	if (!(reply->frame.flags & DK_FRAME_F_ERROR))
		return 0;
	dk_msg_close_fds(reply);
	dk_wire_reader_init(&r, reply->frame.payload, reply->frame.length);
	perr = (int32_t)dk_wire_get_u32(&r);
	reason = dk_wire_get_u32(&r);
	if (ret_reason)
		*ret_reason = reason < DK_REASON_COUNT ? reason : DK_REASON_PROTOCOL;
	/* An error reply must carry an error: anything else is the peer breaking the protocol. */
	if (perr >= 0 || perr < -4095)
		return -EPROTO;
	return perr;
}
