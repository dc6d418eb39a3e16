/* SPDX-License-Identifier: MIT */
/*
 * P5: a job referencing a 64 MiB registered buffer, against the same job referencing a 4 KiB
 * one (the baseline), through the null service with validation.
 *
 * Both sides set up the same way: the client creates a 64 MiB and a 4 KiB buffer
 * (dk_buffer_create(), never touched, as a client that registers before it fills), sends both
 * read-only (dk_buffer_send()); the service receives them (dk_handle_recv()), registers them
 * (dk_htable_add_buffer()) and answers with their indices. Every submission is validated with
 * dk_ring_check_sqe() before it is completed. An iteration is the round trip of a NOP whose
 * buf[0] covers the whole of one buffer (offset 0, its full length, DK_RIGHT_READ): the 64 MiB
 * one on the DriverKit side, the 4 KiB one on the baseline side. Normal QoS, as P1.
 */
#include <errno.h>
#include <stdint.h>

#include <dk/buffer.h>
#include <dk/qos.h>
#include <dk/rights.h>
#include <dk/ring.h>
#include <dk/time.h>

#include "bench.h"
#include "nullsvc.h"

#define P5_BIG (64ull << 20)
#define P5_SMALL 4096ull
#define P5_ENTRIES 64u

static int p5_rep(const struct bench_opts *opts, bool big, struct bench_samples *samples,
		  struct bench_error *error)
{
	const struct dk_ring_params params = {
		.sq_entries = P5_ENTRIES,
		.cq_entries = P5_ENTRIES,
		.qos = DK_QOS_NORMAL,
	};
	unsigned int warmup = bench_warmup_iters(opts);
	uint64_t total = (uint64_t)warmup + opts->iters, i, t0, t1;
	struct dk_buffer_registry *reg = NULL;
	struct dk_buffer *bufs[2] = {NULL, NULL};
	struct nullsvc_client c;
	struct dk_sqe proto = {0};
	uint32_t idx[2];
	int ret;

	ret = bench_samples_reserve(samples, opts->iters);
	if (ret < 0)
		return bench_fail(error, ret, "samples");
	ret = dk_buffer_registry_create(NULL, &reg);
	if (ret < 0)
		return bench_fail(error, ret, "dk_buffer_registry_create");
	ret = dk_buffer_create(reg, NULL, P5_BIG, 0, &bufs[0]);
	if (ret == 0)
		ret = dk_buffer_create(reg, NULL, P5_SMALL, 0, &bufs[1]);
	if (ret < 0) {
		bench_fail(error, ret, "dk_buffer_create");
		goto out_release;
	}
	ret = nullsvc_start(opts, &params, total, 2, &c, error);
	if (ret < 0)
		goto out_release;
	ret = nullsvc_send_buffers(&c, bufs, 2, DK_RIGHTS_BUFFER_RO, idx, error);
	if (ret < 0)
		goto out_stop;

	nullsvc_sqe_nop(&proto, 0);
	proto.n_buffers = 1;
	proto.buf[0] = (struct dk_sqe_buffer){
		.index = big ? idx[0] : idx[1],
		.access = DK_RIGHT_READ,
		.offset = 0,
		.length = big ? P5_BIG : P5_SMALL,
	};
	for (i = 1; i <= total; i++) {
		t0 = dk_now_ns();
		ret = nullsvc_roundtrip(c.ring, i, &proto, NULL, error);
		if (ret < 0)
			break;
		t1 = dk_now_ns();
		if (i > warmup)
			bench_samples_push(samples, (double)(t1 - t0) / 1000.0);
	}
out_stop:
	if (nullsvc_stop(&c, ret < 0, error) < 0 && ret == 0)
		ret = -EIO;
out_release:
	dk_buffer_release(bufs[1]);
	dk_buffer_release(bufs[0]);
	dk_buffer_registry_destroy(reg);
	return ret;
}

int bench_p5_big_buffer_job(const struct bench_opts *opts, struct bench_samples *samples,
			    struct bench_error *error)
{
	return p5_rep(opts, true, samples, error);
}

int bench_p5_small_buffer_job(const struct bench_opts *opts, struct bench_samples *samples,
			      struct bench_error *error)
{
	return p5_rep(opts, false, samples, error);
}

const struct bench_baseline bench_baseline_small_buffer_job = {
	.name = "4kib-buffer-job",
	.description = "the same validated round trip, the job referencing a 4 KiB buffer",
	.run_rep = bench_p5_small_buffer_job,
};
