/* SPDX-License-Identifier: MIT */
/*
 * Baseline of P3: io_uring NOPs in one process, batch 32, through liburing.
 *
 * One batch: 32 io_uring_get_sqe() + io_uring_prep_nop(), one io_uring_submit() (the kernel
 * completes NOPs inline), then reap the 32 completions (io_uring_for_each_cqe(),
 * io_uring_cq_advance(); io_uring_wait_cqe_nr() if some are missing). One sample: the
 * throughput over a window of URING_WINDOW completions, in millions of entries per second,
 * the metric of P3.
 */
#include <errno.h>
#include <liburing.h>
#include <stdint.h>

#include <dk/time.h>

#include "bench.h"

#define URING_ENTRIES 256u
#define URING_BATCH 32u
#define URING_WINDOW 1024u /* the same window as P3 */

static int reap_batch(struct io_uring *ring, unsigned int want, struct bench_error *error)
{
	struct io_uring_cqe *cqe;
	unsigned int head, got = 0;
	int ret;

	while (got < want) {
		unsigned int n = 0;

		io_uring_for_each_cqe(ring, head, cqe) {
			if (cqe->res < 0)
				return bench_fail(error, cqe->res, "NOP completion");
			n++;
		}
		io_uring_cq_advance(ring, n);
		got += n;
		if (got < want) {
			ret = io_uring_wait_cqe_nr(ring, &cqe, want - got);
			if (ret < 0)
				return bench_fail(error, ret, "io_uring_wait_cqe_nr");
		}
	}
	return 0;
}

static int uring_rep(const struct bench_opts *opts, struct bench_samples *samples,
		     struct bench_error *error)
{
	unsigned int warm = opts->iters / 10 < 10 ? 10 : opts->iters / 10 > 200 ? 200 : opts->iters / 10;
	unsigned int w, b, k;
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	uint64_t t0, t1;
	int ret;

	ret = bench_samples_reserve(samples, opts->iters);
	if (ret < 0)
		return bench_fail(error, ret, "samples");
	ret = io_uring_queue_init(URING_ENTRIES, &ring, 0);
	if (ret < 0)
		return bench_fail(error, ret, "io_uring_queue_init");
	for (w = 0; w < warm + opts->iters; w++) {
		t0 = dk_now_ns();
		for (b = 0; b < URING_WINDOW / URING_BATCH; b++) {
			for (k = 0; k < URING_BATCH; k++) {
				sqe = io_uring_get_sqe(&ring);
				if (!sqe) {
					ret = bench_fail(error, -EAGAIN, "io_uring_get_sqe");
					goto out;
				}
				io_uring_prep_nop(sqe);
				io_uring_sqe_set_data64(sqe, (uint64_t)b * URING_BATCH + k);
			}
			ret = io_uring_submit(&ring);
			if (ret != (int)URING_BATCH) {
				ret = bench_fail(error, ret < 0 ? ret : -EIO, "io_uring_submit");
				goto out;
			}
			ret = reap_batch(&ring, URING_BATCH, error);
			if (ret < 0)
				goto out;
		}
		t1 = dk_now_ns();
		if (w >= warm)
			bench_samples_push(samples, (double)URING_WINDOW * 1000.0 / (double)(t1 - t0));
	}
	ret = 0;
out:
	io_uring_queue_exit(&ring);
	return ret;
}

const struct bench_baseline bench_baseline_uring_nop32 = {
	.name = "io_uring-nop32",
	.description = "io_uring NOPs, one process, batch 32 (liburing), Mops/s",
	.run_rep = uring_rep,
};
