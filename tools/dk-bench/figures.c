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
		.id = "P1-copy",
		.name = "4 KiB COPY round trip through dk-copy on the dk-hwsim engine, Normal QoS, "
			"the client blocking on the fence; P1's goal against the engine driven raw",
		.unit = "us",
		.baseline = &bench_baseline_raw_engine_roundtrip,
		.goal_kind = BENCH_GOAL_AT_MOST,
		.goal = 1.3,
		.default_iters = 20000,
		.run_rep = bench_p1_copy,
		.notes = bench_p1_copy_notes,
	},
	{
		.id = "P2-copy",
		.name = "P1-copy with Burst QoS (the client spins on its CQ); P2's goal against the "
			"engine driven raw, spinning",
		.unit = "us",
		.baseline = &bench_baseline_raw_engine_spin_roundtrip,
		.goal_kind = BENCH_GOAL_AT_MOST,
		.goal = 3.0,
		.default_iters = 20000,
		.run_rep = bench_p2_copy,
	},
	{
		.id = "P3-copy",
		.name = "batch-32 throughput of 64 B COPYs through dk-copy on the dk-hwsim engine, "
			"Burst; at least 1/1.3 of the engine driven raw (P1's allowance)",
		.unit = "Mops/s",
		.baseline = &bench_baseline_raw_engine_batch32,
		.goal_kind = BENCH_GOAL_AT_LEAST,
		.goal = 1.0 / 1.3,
		.default_iters = 200, /* windows of 1024 entries */
		.quick_iters = 20,
		.run_rep = bench_p3_copy,
	},
	{
		.id = "P3-copy-ceiling",
		.name = "P3-copy's ceiling here: the raw engine behind a relay process that does "
			"nothing but move DriverKit-sized entries (128 B requests, 64 B completions)",
		.unit = "Mops/s",
		.subject = "relay",
		.baseline = &bench_baseline_raw_engine_batch32,
		.goal_kind = BENCH_GOAL_AT_LEAST,
		.goal = 1.0 / 1.3, /* P3-copy's: whether any driver process could meet it here */
		.default_iters = 200, /* windows of 1024 entries */
		.quick_iters = 20,
		.run_rep = bench_p3_copy_relay,
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
		.id = "P6",
		.name = "whole stack idle, no clients (supervisor, logd, policyd, hwsim, broker, null, "
			"copy): CPU time over the window, ms",
		.unit = "ms",
		.baseline = &bench_baseline_one_core,
		.goal_kind = BENCH_GOAL_AT_MOST,
		.goal = 0.005, /* < 0.5% of one core */
		.default_iters = 10000, /* the window, ms */
		.quick_iters = 1000,
		.run_pair = bench_p6_stack_idle,
		.notes = bench_p6_notes,
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
	{
		.id = "P9",
		.name = "fairness: two equal Normal clients saturating null0, completions of the "
			"slower / the faster",
		.unit = "jobs",
		.baseline = &bench_baseline_each_other,
		.goal_kind = BENCH_GOAL_AT_LEAST,
		.goal = 0.9,
		.default_iters = 1000000, /* completions counted per repetition, both clients */
		.quick_iters = 200000,
		.run_pair = bench_p9_fairness_null,
		.notes = bench_p9_null_notes,
	},
	{
		.id = "P9-burst",
		.name = "P9 with two Burst clients (polling their CQs)",
		.unit = "jobs",
		.baseline = &bench_baseline_each_other,
		.goal_kind = BENCH_GOAL_AT_LEAST,
		.goal = 0.9,
		.default_iters = 1000000,
		.quick_iters = 200000,
		.run_pair = bench_p9_fairness_burst,
		.notes = bench_p9_burst_notes,
	},
	{
		.id = "P9-copy",
		.name = "fairness: two equal Normal clients saturating copy0 with 4 KiB COPYs, "
			"completions of the slower / the faster",
		.unit = "jobs",
		.baseline = &bench_baseline_each_other,
		.goal_kind = BENCH_GOAL_AT_LEAST,
		.goal = 0.9,
		.default_iters = 50000,
		.quick_iters = 4000,
		.run_pair = bench_p9_fairness_copy,
		.notes = bench_p9_copy_notes,
	},
	{
		.id = "R1",
		.name = "driver crash: SIGKILL of dk-null -> every waiter (4 processes, one parked "
			"job each) woken with driver-crashed",
		.unit = "us",
		.baseline = &bench_baseline_pidfd_death,
		.goal_kind = BENCH_GOAL_VALUE_AT_MOST,
		.goal = 10000, /* "within milliseconds" (DESIGN.md): 10 ms */
		.show_ratio = true,
		.default_iters = 20, /* crashes per repetition */
		.quick_iters = 3,
		.run_rep = bench_r1_death_to_woken,
		.notes = bench_r1_notes,
	},
	{
		.id = "R2",
		.name = "driver restart: the supervisor's restart-to-ready of dk-null (death seen -> "
			"READY, 1 ms restart delay included)",
		.unit = "us",
		.baseline = &bench_baseline_exec_dk_null,
		.goal_kind = BENCH_GOAL_VALUE_AT_MOST,
		.goal = 100000, /* the default first restart delay: the back-off dominates */
		.show_ratio = true,
		.default_iters = 20,
		.quick_iters = 3,
		.run_rep = bench_r2_restart_to_ready,
		.notes = bench_r2_notes,
	},
};

const size_t bench_n_figures = sizeof(bench_figures) / sizeof(bench_figures[0]);
