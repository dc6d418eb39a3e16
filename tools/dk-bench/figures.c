/* SPDX-License-Identifier: MIT */
/*
 * The figures of docs/performance.md, in the order they run. Add a figure here (one entry)
 * and write its bench_rep_fn in its own file.
 */
#include <stddef.h>

#include "bench.h"

const struct bench_figure bench_figures[] = {
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
};

const size_t bench_n_figures = sizeof(bench_figures) / sizeof(bench_figures[0]);
