/* SPDX-License-Identifier: MIT */
/*
 * The extra reference of P5: pushing 64 MiB through a socket between two processes.
 *
 * An AF_UNIX SOCK_STREAM socketpair; the parent write()s a 64 MiB buffer (allocated and touched
 * beforehand), the child read()s it into its own 64 MiB buffer (touched beforehand) and answers
 * with one byte once it has all of it. One sample: from the first write() to the answer, in
 * microseconds. SOCKET_TRANSFERS transfers per repetition after one unmeasured one.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/time.h>

#include "bench.h"

#define SOCKET_BYTES (64ull << 20)
#define SOCKET_TRANSFERS 4u
#define SOCKET_TRANSFERS_QUICK 2u
#define SOCKET_CHUNK (1u << 20)

struct sock_arg {
	int sock;
	int parent_sock;
	unsigned int transfers;
};

/* Wait for @sock to be readable, bounded. */
static int readable(int sock)
{
	struct pollfd pfd = {.fd = sock, .events = POLLIN};
	int r;

	do
		r = poll(&pfd, 1, (int)(BENCH_WAIT_NS / DK_NSEC_PER_MSEC));
	while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

static int sock_child(void *arg, struct bench_error *error)
{
	const struct sock_arg *a = arg;
	unsigned char *dst, ack = 1;
	uint64_t got;
	unsigned int t;
	ssize_t n;
	int ret = 0;

	close(a->parent_sock);
	dst = malloc(SOCKET_BYTES);
	if (!dst)
		return bench_fail(error, -ENOMEM, "peer: malloc");
	memset(dst, 0, SOCKET_BYTES);
	for (t = 0; t < a->transfers && ret == 0; t++) {
		for (got = 0; got < SOCKET_BYTES; got += (uint64_t)n) {
			ret = readable(a->sock);
			if (ret < 0) {
				bench_fail(error, ret, "peer: wait for data");
				break;
			}
			n = read(a->sock, dst + got, SOCKET_BYTES - got);
			if (n <= 0) {
				ret = bench_fail(error, n < 0 ? -errno : -EPIPE, "peer: read");
				break;
			}
		}
		if (ret == 0 && send(a->sock, &ack, 1, MSG_NOSIGNAL) != 1)
			ret = bench_fail(error, -errno, "peer: write ack");
	}
	free(dst);
	close(a->sock);
	return ret;
}

static int socket_rep(const struct bench_opts *opts, struct bench_samples *samples,
		      struct bench_error *error)
{
	unsigned int n_meas = opts->quick ? SOCKET_TRANSFERS_QUICK : SOCKET_TRANSFERS, t;
	struct bench_peer peer = {0};
	struct sock_arg arg;
	unsigned char *src, ack;
	uint64_t sent, t0, t1;
	ssize_t n;
	int sv[2], ret;

	ret = bench_samples_reserve(samples, n_meas);
	if (ret < 0)
		return bench_fail(error, ret, "samples");
	src = malloc(SOCKET_BYTES);
	if (!src)
		return bench_fail(error, -ENOMEM, "malloc");
	memset(src, 0xa5, SOCKET_BYTES);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = bench_fail(error, -errno, "socketpair");
		goto out_free;
	}
	arg = (struct sock_arg){.sock = sv[1], .parent_sock = sv[0], .transfers = n_meas + 1};
	ret = bench_peer_start(opts, sock_child, &arg, &peer, error);
	close(sv[1]);
	if (ret < 0)
		goto out_close;
	for (t = 0; t < n_meas + 1 && ret == 0; t++) {
		t0 = dk_now_ns();
		for (sent = 0; sent < SOCKET_BYTES; sent += (uint64_t)n) {
			size_t len = SOCKET_BYTES - sent < SOCKET_CHUNK ? SOCKET_BYTES - sent
								       : SOCKET_CHUNK;

			n = send(sv[0], src + sent, len, MSG_NOSIGNAL);
			if (n <= 0) {
				ret = bench_fail(error, n < 0 ? -errno : -EPIPE, "write");
				break;
			}
		}
		if (ret == 0)
			ret = readable(sv[0]);
		if (ret == 0 && read(sv[0], &ack, 1) != 1)
			ret = -EPIPE;
		if (ret < 0) {
			bench_fail(error, ret, "transfer %u", t);
			break;
		}
		t1 = dk_now_ns();
		if (t > 0)
			bench_samples_push(samples, (double)(t1 - t0) / 1000.0);
	}
	if (bench_peer_finish(&peer, ret < 0, error) < 0 && ret == 0)
		ret = -EIO;
out_close:
	close(sv[0]);
out_free:
	free(src);
	return ret;
}

const struct bench_extra bench_extra_socket_64mib = {
	.name = "socket-64mib",
	.field = "socket_64mib_us",
	.ratio_field = "socket_speedup",
	.goal = 100.0,
	.run_rep = socket_rep,
};
