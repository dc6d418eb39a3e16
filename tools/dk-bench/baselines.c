/* SPDX-License-Identifier: MIT */
/*
 * Baselines: what the machine does without DriverKit, measured the same way as the figure.
 *
 * Ping-pong between two processes over two 32-bit words in a MAP_SHARED | MAP_ANONYMOUS page
 * (one cache line each). The parent sets "ping" to i and wakes, the child waits for it, sets
 * "pong" to i and wakes, the parent waits for that. One sample per iteration: half the round
 * trip, in microseconds, i.e. one "store + wake -> the other process runs" latency (the
 * *-wake baselines, P4), or the full round trip, two wakes (the *-roundtrip baselines, P1/P2).
 *
 * futex-wake: blocking FUTEX_WAIT_BITSET / FUTEX_WAKE, shared (not private) futexes, with an
 *   absolute CLOCK_MONOTONIC deadline on every wait, as every DriverKit wait has.
 * spin-wake: the waiter polls the word (pause), checking its deadline every 1024 polls.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <dk/time.h>

#include "bench.h"
#include "spin.h"

struct pp_page {
	_Alignas(64) _Atomic uint32_t ping; /* parent -> child */
	_Alignas(64) _Atomic uint32_t pong; /* child -> parent */
};

struct pp {
	struct pp_page *page;
	bool spin;
	bool full; /* a sample is the full round trip, not half of it */
	uint64_t gap_ns; /* the parent busy-waits this long before each measured ping */
	unsigned int total; /* warm-up + measured iterations */
};

static int futex_wait_until(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / DK_NSEC_PER_SEC),
		.tv_nsec = (long)(deadline_ns % DK_NSEC_PER_SEC),
	};

	if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, &ts, NULL,
		    FUTEX_BITSET_MATCH_ANY) < 0)
		return -errno;
	return 0;
}

static int futex_wake(_Atomic uint32_t *word)
{
	if (syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0) < 0)
		return -errno;
	return 0;
}

/* Wait until *@word == @want. */
static int pp_wait(const struct pp *pp, _Atomic uint32_t *word, uint32_t want)
{
	uint64_t deadline = dk_deadline_in(BENCH_WAIT_NS);
	unsigned int polls = 0;
	uint32_t cur;
	int ret;

	/* Acquire pairs with the release store in pp_post() by the other process. */
	while ((cur = atomic_load_explicit(word, memory_order_acquire)) != want) {
		if (pp->spin) {
			dk_cpu_relax();
			if ((++polls & 1023) == 0 && dk_now_ns() >= deadline)
				return -ETIMEDOUT;
			continue;
		}
		/* The kernel re-checks *word == cur under its lock: no lost wake-up. */
		ret = futex_wait_until(word, cur, deadline);
		if (ret < 0 && ret != -EAGAIN && ret != -EINTR)
			return ret;
	}
	return 0;
}

static int pp_post(const struct pp *pp, _Atomic uint32_t *word, uint32_t value)
{
	/* Release pairs with the acquire load in pp_wait(). */
	atomic_store_explicit(word, value, memory_order_release);
	return pp->spin ? 0 : futex_wake(word);
}

static int pp_child(void *arg, struct bench_error *error)
{
	const struct pp *pp = arg;
	unsigned int i;
	int ret;

	for (i = 1; i <= pp->total; i++) {
		ret = pp_wait(pp, &pp->page->ping, i);
		if (ret < 0)
			return bench_fail(error, ret, "peer: wait ping %u", i);
		ret = pp_post(pp, &pp->page->pong, i);
		if (ret < 0)
			return bench_fail(error, ret, "peer: wake pong %u", i);
	}
	return 0;
}

static int pp_run(const struct bench_opts *opts, bool spin, bool full, uint64_t gap_ns,
		  struct bench_samples *samples, struct bench_error *error)
{
	unsigned int warmup = bench_warmup_iters(opts), i;
	struct bench_peer peer = {0};
	struct pp pp = {.spin = spin, .full = full, .gap_ns = gap_ns, .total = warmup + opts->iters};
	uint64_t t0, t1;
	int ret;

	ret = bench_samples_reserve(samples, opts->iters);
	if (ret < 0)
		return bench_fail(error, ret, "samples");
	pp.page = mmap(NULL, sizeof(*pp.page), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (pp.page == MAP_FAILED)
		return bench_fail(error, -errno, "mmap");
	ret = bench_peer_start(opts, pp_child, &pp, &peer, error);
	if (ret < 0)
		goto out_unmap;
	for (i = 1; i <= pp.total; i++) {
		bench_busy_wait(pp.gap_ns);
		t0 = dk_now_ns();
		ret = pp_post(&pp, &pp.page->ping, i);
		if (ret < 0) {
			bench_fail(error, ret, "wake ping %u", i);
			break;
		}
		ret = pp_wait(&pp, &pp.page->pong, i);
		if (ret < 0) {
			bench_fail(error, ret, "wait pong %u", i);
			break;
		}
		t1 = dk_now_ns();
		if (i > warmup)
			bench_samples_push(samples,
					   (double)(t1 - t0) / (pp.full ? 1.0 : 2.0) / 1000.0);
	}
	if (bench_peer_finish(&peer, ret < 0, error) < 0 && ret == 0)
		ret = -EIO;
out_unmap:
	munmap(pp.page, sizeof(*pp.page));
	return ret;
}

static int futex_rep(const struct bench_opts *opts, struct bench_samples *samples,
		     struct bench_error *error)
{
	return pp_run(opts, false, false, 0, samples, error);
}

static int spin_rep(const struct bench_opts *opts, struct bench_samples *samples,
		    struct bench_error *error)
{
	return pp_run(opts, true, false, 0, samples, error);
}

static int futex_rtt_rep(const struct bench_opts *opts, struct bench_samples *samples,
			 struct bench_error *error)
{
	return pp_run(opts, false, true, 0, samples, error);
}

static int futex_rtt_idle_rep(const struct bench_opts *opts, struct bench_samples *samples,
			      struct bench_error *error)
{
	return pp_run(opts, false, true, BENCH_IDLE_GAP_NS, samples, error);
}

static int spin_rtt_rep(const struct bench_opts *opts, struct bench_samples *samples,
			struct bench_error *error)
{
	return pp_run(opts, true, true, 0, samples, error);
}

const struct bench_baseline bench_baseline_futex_wake = {
	.name = "futex-wake",
	.description = "raw shared futex ping-pong between two processes, half round trip",
	.run_rep = futex_rep,
};

const struct bench_baseline bench_baseline_spin_wake = {
	.name = "spin-wake",
	.description = "raw shared-memory spin ping-pong between two processes, half round trip",
	.run_rep = spin_rep,
};

const struct bench_baseline bench_baseline_futex_roundtrip = {
	.name = "futex-roundtrip",
	.description = "raw shared futex ping-pong between two processes, full round trip",
	.run_rep = futex_rtt_rep,
};

const struct bench_baseline bench_baseline_spin_roundtrip = {
	.name = "spin-roundtrip",
	.description = "raw shared-memory spin ping-pong between two processes, full round trip",
	.run_rep = spin_rtt_rep,
};

const struct bench_baseline bench_baseline_futex_roundtrip_idle = {
	.name = "futex-roundtrip-idle",
	.description = "futex-roundtrip with the same busy-wait gap before each ping as P1-idle",
	.run_rep = futex_rtt_idle_rep,
};

void bench_busy_wait(uint64_t ns)
{
	uint64_t end;

	if (!ns)
		return;
	end = dk_now_ns() + ns;
	while (dk_now_ns() < end)
		dk_cpu_relax();
}
