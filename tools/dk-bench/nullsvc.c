/* SPDX-License-Identifier: MIT */
/*
 * The null service and its client side (nullsvc.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/buffer.h>
#include <dk/error.h>
#include <dk/fence.h>
#include <dk/htable.h>
#include <dk/rights.h>
#include <dk/time.h>
#include <dk/transfer.h>

#include "nullsvc.h"

#define RING_MSG_MAGIC 0x47524b44u /* "DKRG" */
#define TAG_FENCE 1u
/* Jobs taken per dk_ring_consume() call. */
#define SERVE_BATCH 64u
/* dk_ring_idle() deadlines in a row with no work before the service gives up. */
#define IDLE_TIMEOUTS_MAX 5u
/* How long the service waits for the client to close the socket at the end. */
#define EOF_WAIT_NS (10ull * DK_NSEC_PER_SEC)

struct ring_msg {
	uint32_t magic;
	uint32_t reserved;
};

/* Wait until @sock is readable or @deadline_ns. */
static int wait_readable(int sock, uint64_t deadline_ns)
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	uint64_t now;
	int r;

	for (;;) {
		now = dk_now_ns();
		if (now >= deadline_ns)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)((deadline_ns - now) / DK_NSEC_PER_MSEC) + 1);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int nullsvc_send_ring(int sock, struct dk_ring *ring, struct bench_error *error)
{
	struct ring_msg m = {.magic = RING_MSG_MAGIC};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	int fd = dk_ring_fd(ring), ret;

	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		return bench_fail(error, -errno, "service: send the ring memfd");
	ret = dk_fence_send(sock, dk_ring_fence(ring), DK_RIGHT_WAIT, TAG_FENCE);
	if (ret < 0)
		return bench_fail(error, ret, "service: dk_fence_send(completion)");
	return 0;
}

/* Receive the ring memfd message. */
static int recv_ring_fd(int sock, int *ret_fd, struct bench_error *error)
{
	struct ring_msg m;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	ssize_t n;
	int fd = -1, ret;

	ret = wait_readable(sock, dk_deadline_in(BENCH_WAIT_NS));
	if (ret < 0)
		return bench_fail(error, ret, "wait for the ring memfd");
	n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return bench_fail(error, -errno, "recvmsg(ring memfd)");
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (n != (ssize_t)sizeof(m) || m.magic != RING_MSG_MAGIC || fd < 0 ||
	    (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
		if (fd >= 0)
			close(fd);
		return bench_fail(error, -EPROTO, "malformed ring message");
	}
	*ret_fd = fd;
	return 0;
}

int nullsvc_attach(int sock, struct dk_ring **ret_ring, struct bench_error *error)
{
	struct dk_handle h = {0};
	int fd = -1, ret;

	ret = recv_ring_fd(sock, &fd, error);
	if (ret < 0)
		return ret;
	ret = dk_handle_recv(sock, dk_deadline_in(BENCH_WAIT_NS), NULL, NULL, &h);
	if (ret < 0) {
		bench_fail(error, ret, "dk_handle_recv(completion fence)");
		goto out_close;
	}
	if (h.type != DK_HANDLE_FENCE || h.tag != TAG_FENCE) {
		if (h.type == DK_HANDLE_BUFFER)
			dk_buffer_release(h.buffer);
		dk_fence_unref(h.fence);
		ret = bench_fail(error, -EPROTO, "unexpected handle instead of the fence");
		goto out_close;
	}
	ret = dk_ring_attach(fd, h.fence, ret_ring);
	dk_fence_unref(h.fence); /* the ring took its own reference */
	if (ret < 0) {
		bench_fail(error, ret, "dk_ring_attach");
		goto out_close;
	}
	return 0;

out_close:
	close(fd);
	return ret;
}

int nullsvc_serve(struct dk_ring *const *rings, uint32_t n, uint64_t total,
		  struct dk_htable *const *tables, _Atomic uint64_t *progress,
		  struct bench_error *error)
{
	struct dk_ring_job jobs[SERVE_BATCH];
	unsigned int timeouts = 0;
	uint64_t served = 0, now;
	uint32_t r;
	int ret, got, j, status;

	while (served < total) {
		bool any = false;

		for (r = 0; r < n; r++) {
			got = dk_ring_consume(rings[r], jobs, SERVE_BATCH);
			if (got < 0)
				return bench_fail(error, got, "service: dk_ring_consume(ring %u)", r);
			if (got == 0)
				continue;
			now = dk_now_ns();
			for (j = 0; j < got; j++) {
				status = 0;
				if (tables && tables[r])
					status = dk_ring_check_sqe(rings[r], tables[r], &jobs[j].sqe);
				ret = dk_ring_complete(rings[r], &jobs[j], status,
						       status ? DK_REASON_VALIDATION : DK_REASON_NONE,
						       0, now);
				if (ret < 0)
					return bench_fail(error, ret, "service: dk_ring_complete");
			}
			ret = dk_ring_publish(rings[r]);
			if (ret < 0)
				return bench_fail(error, ret, "service: dk_ring_publish");
			served += (uint64_t)got;
			any = true;
		}
		if (progress)
			atomic_store_explicit(progress, served, memory_order_relaxed);
		if (any) {
			timeouts = 0;
			continue;
		}
		ret = dk_ring_idle(rings, n, dk_deadline_in(BENCH_WAIT_NS));
		if (ret < 0)
			return bench_fail(error, ret, "service: dk_ring_idle");
		if (ret == 0 && ++timeouts >= IDLE_TIMEOUTS_MAX)
			return bench_fail(error, -ETIMEDOUT,
					  "service: no submission for %u s (%llu of %llu served)",
					  timeouts, (unsigned long long)served,
					  (unsigned long long)total);
	}
	return 0;
}

int nullsvc_wait_eof(int sock, struct bench_error *error)
{
	char c;
	ssize_t n;
	int ret;

	for (;;) {
		ret = wait_readable(sock, dk_deadline_in(EOF_WAIT_NS));
		if (ret < 0)
			return bench_fail(error, ret, "service: wait for the client to close");
		n = recv(sock, &c, 1, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 0;
		if (n < 0 && errno != EINTR)
			return bench_fail(error, -errno, "service: recv");
	}
}

/* Receive @n buffers, register them, and answer with their indices. */
static int register_buffers(int sock, unsigned int n, struct dk_buffer_registry *reg,
			    struct dk_htable *table, struct bench_error *error)
{
	uint32_t idx[NULLSVC_MAX_BUFFERS];
	struct dk_handle h;
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		memset(&h, 0, sizeof(h));
		ret = dk_handle_recv(sock, dk_deadline_in(BENCH_WAIT_NS), reg, NULL, &h);
		if (ret < 0)
			return bench_fail(error, ret, "service: dk_handle_recv(buffer %u)", i);
		if (h.type != DK_HANDLE_BUFFER || h.tag != NULLSVC_TAG_BUFFER + i) {
			dk_fence_unref(h.fence);
			if (h.type == DK_HANDLE_BUFFER)
				dk_buffer_release(h.buffer);
			return bench_fail(error, -EPROTO, "service: unexpected handle %u", i);
		}
		ret = dk_htable_add_buffer(table, h.buffer, &idx[i]);
		if (ret < 0) {
			dk_buffer_release(h.buffer);
			return bench_fail(error, ret, "service: dk_htable_add_buffer");
		}
	}
	if (send(sock, idx, n * sizeof(uint32_t), MSG_NOSIGNAL) != (ssize_t)(n * sizeof(uint32_t)))
		return bench_fail(error, -errno, "service: send the indices");
	return 0;
}

int nullsvc_child(void *arg, struct bench_error *error)
{
	const struct nullsvc_arg *a = arg;
	struct dk_buffer_registry *reg = NULL;
	struct dk_htable *table = NULL;
	struct dk_ring *ring = NULL;
	int ret;

	close(a->parent_sock);
	ret = dk_ring_create(&a->params, &ring);
	if (ret < 0) {
		bench_fail(error, ret, "service: dk_ring_create");
		goto out;
	}
	ret = nullsvc_send_ring(a->sock, ring, error);
	if (ret < 0)
		goto out;
	if (a->n_buffers) {
		ret = dk_buffer_registry_create(NULL, &reg);
		if (ret < 0) {
			bench_fail(error, ret, "service: dk_buffer_registry_create");
			goto out;
		}
		ret = dk_htable_create(64, &table);
		if (ret < 0) {
			bench_fail(error, ret, "service: dk_htable_create");
			goto out;
		}
		ret = register_buffers(a->sock, a->n_buffers, reg, table, error);
		if (ret < 0)
			goto out;
	}
	ret = nullsvc_serve(&ring, 1, a->total, table ? &table : NULL, NULL, error);
	if (ret == 0)
		ret = nullsvc_wait_eof(a->sock, error);
out:
	dk_htable_destroy(table);
	dk_buffer_registry_destroy(reg);
	dk_ring_destroy(ring);
	close(a->sock);
	return ret;
}

int nullsvc_start(const struct bench_opts *opts, const struct dk_ring_params *params,
		  uint64_t total, unsigned int n_buffers, struct nullsvc_client *ret_client,
		  struct bench_error *error)
{
	struct nullsvc_arg arg;
	int sv[2], ret;

	memset(ret_client, 0, sizeof(*ret_client));
	ret_client->sock = -1;
	if (n_buffers > NULLSVC_MAX_BUFFERS)
		return bench_fail(error, -EINVAL, "too many buffers");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return bench_fail(error, -errno, "socketpair");
	arg = (struct nullsvc_arg){
		.sock = sv[1],
		.parent_sock = sv[0],
		.params = *params,
		.total = total,
		.n_buffers = n_buffers,
	};
	ret = bench_peer_start(opts, nullsvc_child, &arg, &ret_client->peer, error);
	close(sv[1]);
	if (ret < 0) {
		close(sv[0]);
		return ret;
	}
	ret_client->sock = sv[0];
	ret = nullsvc_attach(sv[0], &ret_client->ring, error);
	if (ret < 0) {
		nullsvc_stop(ret_client, true, error);
		return ret;
	}
	return 0;
}

int nullsvc_stop(struct nullsvc_client *client, bool failed, struct bench_error *error)
{
	int ret;

	dk_ring_destroy(client->ring);
	client->ring = NULL;
	if (client->sock >= 0)
		close(client->sock);
	client->sock = -1;
	ret = bench_peer_finish(&client->peer, failed, error);
	return ret < 0 ? -EIO : 0;
}

int nullsvc_send_buffers(struct nullsvc_client *client, struct dk_buffer *const *buffers,
			 unsigned int n, uint32_t rights, uint32_t *ret_index,
			 struct bench_error *error)
{
	uint32_t idx[NULLSVC_MAX_BUFFERS];
	unsigned int i;
	ssize_t got;
	int ret;

	if (n > NULLSVC_MAX_BUFFERS)
		return bench_fail(error, -EINVAL, "too many buffers");
	for (i = 0; i < n; i++) {
		ret = dk_buffer_send(client->sock, buffers[i], rights, NULLSVC_TAG_BUFFER + i);
		if (ret < 0)
			return bench_fail(error, ret, "dk_buffer_send(%u)", i);
	}
	ret = wait_readable(client->sock, dk_deadline_in(BENCH_WAIT_NS));
	if (ret < 0)
		return bench_fail(error, ret, "wait for the buffer indices");
	got = recv(client->sock, idx, sizeof(idx), 0);
	if (got != (ssize_t)(n * sizeof(uint32_t)))
		return bench_fail(error, got < 0 ? -errno : -EPROTO, "receive the buffer indices");
	memcpy(ret_index, idx, n * sizeof(uint32_t));
	return 0;
}

void nullsvc_sqe_nop(struct dk_sqe *sqe, uint64_t user_data)
{
	unsigned int i;

	sqe->opcode = DK_OP_NOP;
	sqe->user_data = user_data;
	sqe->signal.index = DK_HANDLE_NONE;
	for (i = 0; i < DK_SQE_MAX_WAITS; i++)
		sqe->wait[i].index = DK_HANDLE_NONE;
	for (i = 0; i < DK_SQE_MAX_BUFFERS; i++)
		sqe->buf[i].index = DK_HANDLE_NONE;
}

int nullsvc_roundtrip(struct dk_ring *ring, uint64_t user_data, const struct dk_sqe *proto,
		      struct dk_cqe *ret_cqe, struct bench_error *error)
{
	struct dk_sqe *sqe;
	struct dk_cqe cqe;
	int ret;

	sqe = dk_ring_get_sqe(ring, NULL);
	if (!sqe)
		return bench_fail(error, -EAGAIN, "dk_ring_get_sqe: ring full");
	if (proto)
		*sqe = *proto;
	else
		nullsvc_sqe_nop(sqe, 0);
	sqe->user_data = user_data;
	ret = dk_ring_submit(ring);
	if (ret != 1)
		return bench_fail(error, ret < 0 ? ret : -EPROTO, "dk_ring_submit");
	ret = dk_ring_wait_cqe(ring, &cqe, dk_deadline_in(BENCH_WAIT_NS));
	if (ret < 0)
		return bench_fail(error, ret, "dk_ring_wait_cqe(%llu)",
				  (unsigned long long)user_data);
	if (cqe.status != 0 || cqe.user_data != user_data)
		return bench_fail(error, cqe.status ? cqe.status : -EPROTO,
				  "completion %llu: status %d, user_data %llu",
				  (unsigned long long)user_data, cqe.status,
				  (unsigned long long)cqe.user_data);
	if (ret_cqe)
		*ret_cqe = cqe;
	return 0;
}
