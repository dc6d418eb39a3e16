/* SPDX-License-Identifier: MIT */
/*
 * P7: service memory over many submissions from 8 clients.
 *
 * One service process (the null service, nullsvc_serve()) creates 8 rings (Normal QoS,
 * 64 entries) and sends one to each of 8 client processes; it sleeps in dk_ring_idle() over
 * all 8 when none has work. Each client attaches and submits its share of the total
 * (opts->iters submissions in all: 1M by default, 80k with --quick), keeping up to
 * P7_INFLIGHT NOPs in flight: fill, submit, wait for a completion, reap what is there.
 * The parent only watches: the service publishes how many it has served in a shared page;
 * once that passes P7_WARMUP the parent reads the service's VmRSS (/proc/<pid>/status), and
 * again when all submissions are served (the service then waits for the parent to close a
 * control socket before it exits).
 * Per repetition: one DriverKit sample, the growth in KiB (end - warm-up, may be negative),
 * and one baseline sample, the RSS at warm-up in KiB. The goal is on the growth itself.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <dk/qos.h>
#include <dk/ring.h>
#include <dk/time.h>

#include "bench.h"
#include "nullsvc.h"

#define P7_CLIENTS 8u
#define P7_WARMUP 10000u
#define P7_INFLIGHT 16u
#define P7_ENTRIES 64u
/* The served count may stand still this long before the parent calls it a failure. */
#define P7_STALL_NS (5ull * DK_NSEC_PER_SEC)

struct p7_page {
	_Atomic uint64_t served;
};

struct p7_svc_arg {
	int socks[P7_CLIENTS];        /* the service's ends */
	int client_socks[P7_CLIENTS]; /* the clients' ends, closed in the service */
	int ctl;                      /* closed by the parent when it has measured */
	int ctl_parent;
	uint64_t total;
	struct p7_page *page;
};

struct p7_client_arg {
	int sock;
	uint64_t n; /* submissions of this client */
};

static int p7_service(void *arg, struct bench_error *error)
{
	const struct p7_svc_arg *a = arg;
	const struct dk_ring_params params = {
		.sq_entries = P7_ENTRIES,
		.cq_entries = P7_ENTRIES,
		.qos = DK_QOS_NORMAL,
	};
	struct dk_ring *rings[P7_CLIENTS] = {NULL};
	unsigned int k;
	int ret = 0;

	close(a->ctl_parent);
	for (k = 0; k < P7_CLIENTS; k++)
		close(a->client_socks[k]);
	for (k = 0; k < P7_CLIENTS && ret == 0; k++) {
		ret = dk_ring_create(&params, &rings[k]);
		if (ret < 0)
			bench_fail(error, ret, "service: dk_ring_create(%u)", k);
		else
			ret = nullsvc_send_ring(a->socks[k], rings[k], error);
	}
	if (ret == 0)
		ret = nullsvc_serve(rings, P7_CLIENTS, a->total, NULL, &a->page->served, error);
	if (ret == 0)
		ret = nullsvc_wait_eof(a->ctl, error);
	for (k = 0; k < P7_CLIENTS; k++) {
		dk_ring_destroy(rings[k]);
		close(a->socks[k]);
	}
	close(a->ctl);
	return ret;
}

static int p7_client(void *arg, struct bench_error *error)
{
	const struct p7_client_arg *a = arg;
	uint64_t sent = 0, reaped = 0;
	struct dk_ring *ring = NULL;
	struct dk_sqe *sqe;
	struct dk_cqe cqe;
	int ret;

	ret = nullsvc_attach(a->sock, &ring, error);
	if (ret < 0)
		goto out;
	while (reaped < a->n) {
		while (sent < a->n && sent - reaped < P7_INFLIGHT &&
		       (sqe = dk_ring_get_sqe(ring, NULL)) != NULL)
			nullsvc_sqe_nop(sqe, ++sent);
		ret = dk_ring_submit(ring);
		if (ret < 0) {
			bench_fail(error, ret, "client: dk_ring_submit");
			goto out;
		}
		ret = dk_ring_wait_cqe(ring, &cqe, dk_deadline_in(BENCH_WAIT_NS));
		while (ret == 0) {
			if (cqe.status != 0) {
				ret = bench_fail(error, cqe.status, "client: completion");
				goto out;
			}
			reaped++;
			ret = dk_ring_peek_cqe(ring, &cqe);
		}
		if (ret != -EAGAIN) {
			bench_fail(error, ret, "client: wait for a completion (%llu reaped)",
				   (unsigned long long)reaped);
			goto out;
		}
		ret = 0;
	}
out:
	dk_ring_destroy(ring);
	close(a->sock);
	return ret;
}

/* Wait until the service has served @want, or fail when it stops progressing. */
static int wait_served(const struct p7_page *page, uint64_t want, struct bench_error *error)
{
	const struct timespec tick = {.tv_sec = 0, .tv_nsec = 2 * 1000 * 1000};
	uint64_t last = 0, cur, since = dk_now_ns();

	while ((cur = atomic_load_explicit(&page->served, memory_order_relaxed)) < want) {
		if (cur != last) {
			last = cur;
			since = dk_now_ns();
		} else if (dk_now_ns() - since > P7_STALL_NS) {
			return bench_fail(error, -ETIMEDOUT, "service stalled at %llu of %llu",
					  (unsigned long long)cur, (unsigned long long)want);
		}
		nanosleep(&tick, NULL);
	}
	return 0;
}

int bench_p7_service_rss(const struct bench_opts *opts, struct bench_samples *dk_samples,
			 struct bench_samples *base_samples, struct bench_error *error)
{
	struct bench_peer svc = {0}, clients[P7_CLIENTS];
	struct p7_client_arg cargs[P7_CLIENTS];
	struct p7_svc_arg sarg;
	uint64_t total = opts->iters, rss_warm = 0, rss_end = 0;
	struct p7_page *page;
	int sv[P7_CLIENTS][2], ctl[2], ret = 0;
	unsigned int k, made = 0;

	memset(clients, 0, sizeof(clients));
	if (total < 2 * P7_WARMUP)
		return bench_fail(error, -EINVAL, "P7 needs at least %u submissions",
				  2 * P7_WARMUP);
	if (bench_samples_reserve(dk_samples, 1) < 0 || bench_samples_reserve(base_samples, 1) < 0)
		return bench_fail(error, -ENOMEM, "samples");
	page = mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		    0);
	if (page == MAP_FAILED)
		return bench_fail(error, -errno, "mmap");
	atomic_init(&page->served, 0);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
		ret = bench_fail(error, -errno, "socketpair");
		goto out_unmap;
	}
	for (made = 0; made < P7_CLIENTS; made++) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv[made]) < 0) {
			ret = bench_fail(error, -errno, "socketpair");
			goto out_close;
		}
	}
	sarg = (struct p7_svc_arg){.ctl = ctl[1], .ctl_parent = ctl[0], .total = total,
				   .page = page};
	for (k = 0; k < P7_CLIENTS; k++) {
		sarg.socks[k] = sv[k][1];
		sarg.client_socks[k] = sv[k][0];
	}
	ret = bench_peer_start(opts, p7_service, &sarg, &svc, error);
	if (ret < 0)
		goto out_close;
	for (k = 0; k < P7_CLIENTS && ret == 0; k++) {
		cargs[k] = (struct p7_client_arg){
			.sock = sv[k][0],
			.n = total / P7_CLIENTS + (k < total % P7_CLIENTS ? 1 : 0),
		};
		ret = bench_peer_start(opts, p7_client, &cargs[k], &clients[k], error);
	}
	if (ret == 0)
		ret = wait_served(page, P7_WARMUP, error);
	if (ret == 0 && (ret = bench_rss_kib(svc.pid, &rss_warm)) < 0)
		bench_fail(error, ret, "VmRSS of the service at warm-up");
	if (ret == 0)
		ret = wait_served(page, total, error);
	if (ret == 0 && (ret = bench_rss_kib(svc.pid, &rss_end)) < 0)
		bench_fail(error, ret, "VmRSS of the service at the end");
	for (k = 0; k < P7_CLIENTS; k++)
		if (bench_peer_finish(&clients[k], ret < 0, error) < 0 && ret == 0)
			ret = -EIO;
	close(ctl[0]);
	ctl[0] = -1;
	if (bench_peer_finish(&svc, ret < 0, error) < 0 && ret == 0)
		ret = -EIO;
	if (ret == 0) {
		bench_samples_push(dk_samples, (double)rss_end - (double)rss_warm);
		bench_samples_push(base_samples, (double)rss_warm);
	}
out_close:
	for (k = 0; k < made; k++) {
		close(sv[k][0]);
		close(sv[k][1]);
	}
	if (ctl[0] >= 0)
		close(ctl[0]);
	close(ctl[1]);
out_unmap:
	munmap(page, sizeof(*page));
	return ret;
}

const struct bench_baseline bench_baseline_rss_warmup = {
	.name = "rss-at-warmup",
	.description = "the service's VmRSS after the first 10k submissions, KiB (same run)",
	.run_rep = NULL,
};
