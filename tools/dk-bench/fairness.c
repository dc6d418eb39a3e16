/* SPDX-License-Identifier: MIT */
/*
 * P9, P9-burst, P9-copy: fairness between two equal clients saturating one device of the real
 * stack (stackbench.h): null0 (dk-null) with Normal queues for P9 and Burst ones for P9-burst;
 * copy0 (dk-copy on the dk-hwsim copy engine, 4 KiB COPY jobs) with Normal queues for P9-copy.
 *
 * The queues are deep (P9_NULL_ENTRIES, P9_COPY_ENTRIES: more than the session's max_inflight
 * of 256, so submissions wait in the SQ). Two clients and the service are three busy processes
 * on a 2-vCPU machine: a client regularly waits for a CPU, and dk-null completes every job in
 * the pass that took it, so the null device is never the bottleneck. With 256-entry rings a
 * client's SQ ran dry while it was off-CPU and the work-conserving service served the other one
 * meanwhile (min/max anywhere from 0.27 to 1.00 from one repetition to the next, Normal and
 * Burst alike): that measured the OS's CPU shares. With 4096 entries each SQ outlasts a time
 * slice, both hold work whenever the service looks, and the service decides, which is what P9
 * is about. On copy0 the engine (64 jobs at a time) is the bottleneck.
 *
 * Two client processes, each with its own broker connection, session and queue (same QoS, same
 * depths, same jobs), set up first and then released together. Each keeps its SQ full (fills
 * every free entry, one dk_ring_submit() per fill), reaps every completion available
 * (dk_ring_reap(), checked) and waits on its queue only when there is none. Count-based: a
 * shared counter adds up the completions of both; the first P9_WARM_PERCENT of opts->iters are
 * a warm-up, then the next opts->iters completions are attributed to the client that reaped
 * them (exactly opts->iters in all), and both stop submitting once the counter passes the end.
 * Who completes what is the service's doing (docs/service.md): on null0 (hw_slots 65536) every
 * job taken is dispatched in the same pass, so the take decides (each pass visits every queue and
 * takes at most 64, within the session's max_inflight); on copy0 (hw_slots 64) jobs wait in
 * the ready heaps and the deficit round-robin between sessions picks.
 *
 * One repetition gives one pair of samples: the completions of the client that got fewer (the
 * DriverKit side) and of the one that got more (the baseline, "each-other"). Their ratio
 * min / max must be >= 0.9 ("throughput within 10% of each other", PERF.md). The notes give
 * each client's count, the per-repetition ratios and the total throughput.
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <dk/qos.h>
#include <dk/ring.h>
#include <dk/time.h>

#include "harness.h"
#include "nullsvc.h"
#include "stackbench.h"

#define P9_CLIENTS 2u
#define P9_WARM_PERCENT 10u
#define P9_NULL_ENTRIES 4096u /* DK_RING_MAX_ENTRIES */
#define P9_COPY_ENTRIES 1024u
#define P9_COPY_LEN 4096u
#define P9_COPY_SLOTS 16u /* 4 KiB slots in each buffer, used in turn */
#define P9_REAP 64u
#define P9_SETUP_NS (30ull * DK_NSEC_PER_SEC)
#define P9_STALL_NS (5ull * DK_NSEC_PER_SEC) /* no completion at all for this long: failed */
#define P9_MAX_REPS 1000u

/* Shared by the parent and the two clients. */
struct p9_page {
	_Atomic uint32_t ready; /* clients set up, waiting for go */
	_Atomic uint32_t go;
	_Atomic uint32_t finished;
	_Atomic uint32_t failed;
	_Atomic uint64_t total; /* completions reaped by both clients, warm-up included */
	_Atomic uint64_t counted[P9_CLIENTS];
};

struct p9_client_arg {
	struct p9_page *page;
	unsigned int k;
	bool copy;
	uint32_t qos;
	uint64_t warm, end; /* completions number warm..end-1 of the total are counted */
};

/* What the repetitions kept, per figure (P9, P9-copy), for the notes. */
struct p9_notes {
	double counts[P9_CLIENTS][P9_MAX_REPS];
	double ratios[P9_MAX_REPS];
	double jobs_per_s[P9_MAX_REPS];
	unsigned int reps;
	uint64_t total;
	uint32_t qos;
};

static struct p9_notes p9_null_notes, p9_burst_notes, p9_copy_notes;

/*
 * Wait until *@flag >= @want: sleeping 200 us between looks (the parent), or, when @spin,
 * yielding (the clients waiting for go: both start within microseconds, not a sleep apart).
 */
static int wait_flag(_Atomic uint32_t *flag, uint32_t want, uint64_t deadline,
		     const struct p9_page *page, bool spin)
{
	const struct timespec tick = {.tv_sec = 0, .tv_nsec = 200 * 1000};

	while (atomic_load_explicit(flag, memory_order_acquire) < want) {
		if (atomic_load_explicit(&page->failed, memory_order_relaxed))
			return -ECANCELED;
		if (dk_now_ns() >= deadline)
			return -ETIMEDOUT;
		if (spin)
			sched_yield();
		else
			nanosleep(&tick, NULL);
	}
	return 0;
}

/* Fill one free entry with this client's job number @n. */
static void p9_fill(const struct p9_client_arg *a, const struct stackbench_client *c,
		    struct dk_sqe *sqe, uint64_t n)
{
	uint64_t off = (n % P9_COPY_SLOTS) * P9_COPY_LEN;

	if (a->copy)
		stackbench_sqe_copy(c, sqe, off, off, P9_COPY_LEN, n);
	else
		nullsvc_sqe_nop(sqe, n);
}

/* Count @n completions just reaped; returns true once the total passed the end. */
static bool p9_account(const struct p9_client_arg *a, uint64_t n, uint64_t *counted)
{
	uint64_t prev = atomic_fetch_add_explicit(&a->page->total, n, memory_order_relaxed);
	uint64_t lo = prev > a->warm ? prev : a->warm;
	uint64_t hi = prev + n < a->end ? prev + n : a->end;

	if (hi > lo)
		*counted += hi - lo;
	return prev + n >= a->end;
}

static int p9_client(void *arg, struct bench_error *error)
{
	const struct p9_client_arg *a = arg;
	const struct dk_ring_params params = {
		.sq_entries = a->copy ? P9_COPY_ENTRIES : P9_NULL_ENTRIES,
		.cq_entries = a->copy ? P9_COPY_ENTRIES : P9_NULL_ENTRIES,
		.qos = a->qos,
	};
	struct stackbench_client c;
	struct dk_cqe cqes[P9_REAP];
	uint64_t submitted = 0, reaped = 0, counted = 0;
	bool stop = false;
	struct dk_sqe *sqe;
	int ret, n, i;

	ret = stackbench_open_device(a->copy ? "copy0" : "null0", &params,
				     a->copy ? (uint64_t)P9_COPY_SLOTS * P9_COPY_LEN : 0, &c, error);
	if (ret < 0)
		goto out_failed;
	atomic_fetch_add_explicit(&a->page->ready, 1, memory_order_release);
	ret = wait_flag(&a->page->go, 1, dk_now_ns() + P9_SETUP_NS, a->page, true);
	if (ret < 0) {
		bench_fail(error, ret, "client %u: waiting for go", a->k);
		goto out;
	}
	while (!stop || reaped < submitted) {
		if (!stop && atomic_load_explicit(&a->page->total, memory_order_relaxed) >= a->end)
			stop = true;
		/* Keep the SQ full. */
		n = 0;
		while (!stop && (sqe = dk_ring_get_sqe(c.ring, NULL)) != NULL) {
			p9_fill(a, &c, sqe, ++submitted);
			n++;
		}
		if (n) {
			ret = dk_ring_submit(c.ring);
			if (ret != n) {
				ret = bench_fail(error, ret < 0 ? ret : -EPROTO,
						 "client %u: dk_ring_submit", a->k);
				goto out;
			}
		}
		/* Reap everything there is; wait only when there is nothing. */
		n = dk_ring_reap(c.ring, cqes, P9_REAP);
		/* Stopped with nothing in flight: the other client may have ended the run before
		 * this one submitted anything (it starts late on a loaded machine). */
		if (n == 0 && stop && reaped == submitted)
			break;
		if (n == 0) {
			ret = dk_ring_wait_cqe(c.ring, &cqes[0], dk_deadline_in(BENCH_WAIT_NS));
			if (ret < 0) {
				bench_fail(error, ret, "client %u: dk_ring_wait_cqe (%llu reaped)",
					   a->k, (unsigned long long)reaped);
				goto out;
			}
			n = 1;
		}
		if (n < 0) {
			ret = bench_fail(error, n, "client %u: dk_ring_reap", a->k);
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (cqes[i].status != 0) {
				ret = bench_fail(error, cqes[i].status,
						 "client %u: completion %llu (reason %u)", a->k,
						 (unsigned long long)cqes[i].user_data,
						 cqes[i].reason);
				goto out;
			}
		}
		reaped += (uint64_t)n;
		if (!stop && p9_account(a, (uint64_t)n, &counted))
			stop = true;
	}
	atomic_store_explicit(&a->page->counted[a->k], counted, memory_order_relaxed);
	ret = 0;
out:
	stackbench_close(&c);
out_failed:
	if (ret < 0)
		atomic_store_explicit(&a->page->failed, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&a->page->finished, 1, memory_order_release);
	return ret;
}

/* Wait for both clients to finish, failing when the total stops moving. */
static int p9_wait_finished(struct p9_page *page, struct bench_error *error)
{
	const struct timespec tick = {.tv_sec = 0, .tv_nsec = 1000 * 1000};
	uint64_t last = 0, cur, since = dk_now_ns();

	while (atomic_load_explicit(&page->finished, memory_order_acquire) < P9_CLIENTS) {
		cur = atomic_load_explicit(&page->total, memory_order_relaxed);
		if (cur != last) {
			last = cur;
			since = dk_now_ns();
		} else if (dk_now_ns() - since > P9_STALL_NS) {
			return bench_fail(error, -ETIMEDOUT, "clients stalled at %llu completions",
					  (unsigned long long)cur);
		}
		nanosleep(&tick, NULL);
	}
	return 0;
}

static int p9_rep(const struct bench_opts *opts, bool copy, uint32_t qos, struct p9_notes *notes,
		  struct bench_samples *dk_samples, struct bench_samples *base_samples,
		  struct bench_error *error)
{
	struct bench_peer peers[P9_CLIENTS];
	struct p9_client_arg args[P9_CLIENTS];
	uint64_t warm = (uint64_t)opts->iters * P9_WARM_PERCENT / 100, t0 = 0, t1;
	uint64_t cnt[P9_CLIENTS], lo, hi;
	struct p9_page *page;
	unsigned int k;
	int ret;

	memset(peers, 0, sizeof(peers));
	if (bench_samples_reserve(dk_samples, 1) < 0 || bench_samples_reserve(base_samples, 1) < 0)
		return bench_fail(error, -ENOMEM, "samples");
	/* The stack is the parent's: the clients only connect to it. */
	ret = stackbench_start(error);
	if (ret < 0)
		return ret;
	page = mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		    0);
	if (page == MAP_FAILED)
		return bench_fail(error, -errno, "mmap");
	memset(page, 0, sizeof(*page));
	for (k = 0; k < P9_CLIENTS && ret == 0; k++) {
		args[k] = (struct p9_client_arg){
			.page = page, .k = k, .copy = copy, .qos = qos, .warm = warm,
			.end = warm + opts->iters,
		};
		ret = bench_peer_start(opts, p9_client, &args[k], &peers[k], error);
	}
	if (ret == 0) {
		ret = wait_flag(&page->ready, P9_CLIENTS, dk_now_ns() + P9_SETUP_NS, page, false);
		if (ret < 0)
			bench_fail(error, ret, "clients setting up");
	}
	if (ret == 0) {
		t0 = dk_now_ns();
		atomic_store_explicit(&page->go, 1, memory_order_release);
		ret = p9_wait_finished(page, error);
	}
	t1 = dk_now_ns();
	for (k = 0; k < P9_CLIENTS; k++)
		if (bench_peer_finish(&peers[k], ret < 0, error) < 0 && ret == 0)
			ret = -EIO;
	if (ret == 0) {
		for (k = 0; k < P9_CLIENTS; k++)
			cnt[k] = atomic_load_explicit(&page->counted[k], memory_order_relaxed);
		lo = cnt[0] < cnt[1] ? cnt[0] : cnt[1];
		hi = cnt[0] < cnt[1] ? cnt[1] : cnt[0];
		if (lo + hi != opts->iters || hi == 0) {
			ret = bench_fail(error, -EPROTO, "counted %llu + %llu of %u",
					 (unsigned long long)cnt[0], (unsigned long long)cnt[1],
					 opts->iters);
		} else {
			bench_samples_push(dk_samples, (double)lo);
			bench_samples_push(base_samples, (double)hi);
			if (notes->reps < P9_MAX_REPS) {
				for (k = 0; k < P9_CLIENTS; k++)
					notes->counts[k][notes->reps] = (double)cnt[k];
				notes->ratios[notes->reps] = (double)lo / (double)hi;
				/* Warm-up included: the whole run, both clients. */
				notes->jobs_per_s[notes->reps] =
					(double)atomic_load(&page->total) * 1e9 / (double)(t1 - t0);
				notes->reps++;
			}
			notes->total = opts->iters;
			notes->qos = qos;
		}
	}
	munmap(page, sizeof(*page));
	return ret;
}

int bench_p9_fairness_null(const struct bench_opts *opts, struct bench_samples *dk_samples,
			   struct bench_samples *base_samples, struct bench_error *error)
{
	return p9_rep(opts, false, DK_QOS_NORMAL, &p9_null_notes, dk_samples, base_samples, error);
}

int bench_p9_fairness_burst(const struct bench_opts *opts, struct bench_samples *dk_samples,
			    struct bench_samples *base_samples, struct bench_error *error)
{
	return p9_rep(opts, false, DK_QOS_BURST, &p9_burst_notes, dk_samples, base_samples, error);
}

int bench_p9_fairness_copy(const struct bench_opts *opts, struct bench_samples *dk_samples,
			   struct bench_samples *base_samples, struct bench_error *error)
{
	return p9_rep(opts, true, DK_QOS_NORMAL, &p9_copy_notes, dk_samples, base_samples, error);
}

static void p9_print_notes(const struct p9_notes *n, FILE *out, bool json)
{
	unsigned int r;

	if (json) {
		bench_json_array(out, "client_a_completed", n->counts[0], n->reps);
		bench_json_array(out, "client_b_completed", n->counts[1], n->reps);
		bench_json_array(out, "rep_ratios", n->ratios, n->reps);
		bench_json_array(out, "jobs_per_s", n->jobs_per_s, n->reps);
		bench_json_uint(out, "counted_per_rep", n->total);
		bench_json_string(out, "qos", n->reps ? dk_qos_name(n->qos) : NULL);
		return;
	}
	for (r = 0; r < n->reps; r++)
		fprintf(out, "    rep %u: client a %.0f, client b %.0f, min/max %.3f, %.0f jobs/s\n",
			r, n->counts[0][r], n->counts[1][r], n->ratios[r], n->jobs_per_s[r]);
}

void bench_p9_null_notes(FILE *out, bool json)
{
	p9_print_notes(&p9_null_notes, out, json);
}

void bench_p9_burst_notes(FILE *out, bool json)
{
	p9_print_notes(&p9_burst_notes, out, json);
}

void bench_p9_copy_notes(FILE *out, bool json)
{
	p9_print_notes(&p9_copy_notes, out, json);
}

const struct bench_baseline bench_baseline_each_other = {
	.name = "each-other",
	.description = "the completions of the client that got more, same repetition",
	.run_rep = NULL,
};
