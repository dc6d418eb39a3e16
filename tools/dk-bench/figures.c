/* SPDX-License-Identifier: MIT */
/*
 * The figures of docs/performance.md, in the order they run. Add a figure here (one entry)
 * and write its bench_rep_fn in its own file.
 */
#include <stddef.h>

#include "bench.h"

const struct bench_figure bench_figures[] = {
	{
		.id = "P1",
		.name = "submit -> complete round trip, Normal QoS, null service in another process",
		.unit = "us",
		.baseline = &bench_baseline_futex_roundtrip,
		.goal_kind = BENCH_GOAL_AT_MOST,
		.goal = 1.3,
		.default_iters = 20000,
		.run_rep = bench_p1_roundtrip_normal,
	},
	{
		.id = "P1-idle",
		.name = "P1 with the service asleep at every submit (100 us gap): two kernel wakes",
		.unit = "us",
		.baseline = &bench_baseline_futex_roundtrip_idle,
		.goal_kind = BENCH_GOAL_AT_MOST,
		.goal = 1.3,
		.default_iters = 20000,
		.run_rep = bench_p1_roundtrip_idle,
	},
	{
		.id = "P2",
		.name = "submit -> complete round trip, Burst QoS, null service in another process",
		.unit = "us",
		.baseline = &bench_baseline_spin_roundtrip,
		.goal_kind = BENCH_GOAL_AT_MOST,
		.goal = 3.0,
		.default_iters = 50000,
		.run_rep = bench_p2_roundtrip_burst,
	},
	{
		.id = "P3",
		.name = "batched submissions (batch 32) across processes, one completion each",
		.unit = "Mops/s",
		.baseline = &bench_baseline_uring_nop32,
		.goal_kind = BENCH_GOAL_AT_LEAST,
		.goal = 1.5,
		.default_iters = 1000, /* windows of 1024 entries */
		.quick_iters = 100,
		.run_rep = bench_p3_batch32,
	},
	{
		.id = "P1-stack",
		.name = "P1 through the real stack: null0 opened via the broker, served by dk-null",
		.unit = "us",
		.baseline = &bench_baseline_futex_roundtrip,
		.goal_kind = BENCH_GOAL_AT_MOST,
		.goal = 1.3,
		.default_iters = 20000,
		.run_rep = bench_p1_stack,
	},
	{
		.id = "P2-stack",
		.name = "P2 through the real stack (Burst queue on dk-null)",
		.unit = "us",
		.baseline = &bench_baseline_spin_roundtrip,
		.goal_kind = BENCH_GOAL_AT_MOST,
		.goal = 3.0,
		.default_iters = 50000,
		.run_rep = bench_p2_stack,
	},
	{
		.id = "P3-stack",
		.name = "P3 through the real stack (batch 32, Burst queue on dk-null)",
		.unit = "Mops/s",
		.baseline = &bench_baseline_uring_nop32,
		.goal_kind = BENCH_GOAL_AT_LEAST,
		.goal = 1.5,
		.default_iters = 1000,
		.quick_iters = 100,
		.run_rep = bench_p3_stack,
	},
	{
		.id = "P4",
		.name = "fence signal -> waiter wakes, other process",
		.unit = "us",
		.baseline = &bench_baseline_futex_wake,
		.goal_kind = BENCH_GOAL_AT_MOST,
		.goal = 1.2,
		.default_iters = 50000,
		.run_rep = bench_p4_fence_wake,
	},
	{
		.id = "P5",
		.name = "validated job referencing a 64 MiB registered buffer, round trip",
		.unit = "us",
		.baseline = &bench_baseline_small_buffer_job,
		.goal_kind = BENCH_GOAL_AT_MOST,
		.goal = 1.1,
		.default_iters = 20000,
		.run_rep = bench_p5_big_buffer_job,
		.extra = &bench_extra_socket_64mib,
	},
	{
		.id = "P7",
		.name = "service RSS growth over N submissions from 8 client processes",
		.unit = "KiB",
		.baseline = &bench_baseline_rss_warmup,
		.goal_kind = BENCH_GOAL_VALUE_AT_MOST,
		.goal = 1024,
		.default_iters = 1000000, /* submissions in all */
		.quick_iters = 80000,
		.run_pair = bench_p7_service_rss,
	},
	{
		.id = "P8",
		.name = "QoS at the same offered load: CPU per job, Burst / Frugal",
		.unit = "us",
		.baseline = &bench_baseline_qos_frugal,
		.goal_kind = BENCH_GOAL_AT_LEAST,
		.goal = 5,
		.default_iters = 10000, /* jobs per class: 5 s at 2000 jobs/s */
		.quick_iters = 1000,
		.run_custom = bench_p8_qos,
	},
};

const size_t bench_n_figures = sizeof(bench_figures) / sizeof(bench_figures[0]);
