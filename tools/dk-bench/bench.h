/* SPDX-License-Identifier: MIT */
/*
 * dk-bench - what a figure, a baseline and the harness share.
 *
 * A figure (P1..P9, docs/performance.md) is one entry of the table in figures.c: its id, what it
 * measures, the baseline it is compared with, its goal, and one function that runs one
 * repetition of the DriverKit measurement. The harness (main.c) alternates baseline and
 * DriverKit repetitions in one run, so that machine drift affects both, and computes the
 * figures. Adding a figure is one table entry and one function.
 */
#ifndef DK_BENCH_H
#define DK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats.h"

/* Every wait of a benchmark gives up after this long: a lost wake-up is an error, not a hang. */
#define BENCH_WAIT_NS (1000ull * 1000ull * 1000ull)

/* The options of one run, read-only for figures. */
struct bench_opts {
	unsigned int reps;  /* repetitions of each side */
	unsigned int iters; /* measured iterations per repetition */
	bool quick;         /* CI smoke mode: short, prove it works */
	bool pin;           /* parent on CPU 0, peer process on CPU 1 */
	bool json;
};

/* A failure, with the text the output shows in its "error" field. */
struct bench_error {
	char msg[256];
};

/* Record an error (the first one sticks) and return @err, a negative errno. */
int bench_fail(struct bench_error *error, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * One repetition: run @opts->iters measured iterations (after the warm-up the function picks)
 * and append one sample per iteration to @samples, in the figure's unit.
 * Returns 0, or a negative errno with @error filled in.
 */
typedef int (*bench_rep_fn)(const struct bench_opts *opts, struct bench_samples *samples,
			    struct bench_error *error);

/* A reference measurement of what the machine can do, made without DriverKit. */
struct bench_baseline {
	const char *name; /* stable, printed in the output: "futex-wake" */
	const char *description;
	bench_rep_fn run_rep;
};

/* How the ratio DriverKit / baseline is judged. */
enum bench_goal_kind {
	BENCH_GOAL_AT_MOST,  /* latency-like: ratio <= value */
	BENCH_GOAL_AT_LEAST, /* throughput-like: ratio >= value */
};

struct bench_figure {
	const char *id;   /* "P4" */
	const char *name; /* what is measured, one line */
	const char *unit; /* "us" */
	const struct bench_baseline *baseline;
	enum bench_goal_kind goal_kind;
	double goal; /* the ratio DriverKit / baseline must meet */
	unsigned int default_iters;
	bench_rep_fn run_rep;
};

/* The figures, in the order they run (figures.c). */
extern const struct bench_figure bench_figures[];
extern const size_t bench_n_figures;

/* Baselines (baselines.c). */
extern const struct bench_baseline bench_baseline_futex_wake;
extern const struct bench_baseline bench_baseline_spin_wake;

/* DriverKit measurements, one per figure. */
int bench_p4_fence_wake(const struct bench_opts *opts, struct bench_samples *samples,
			struct bench_error *error);

/* Warm-up iterations a ping-pong repetition runs before it measures. */
unsigned int bench_warmup_iters(const struct bench_opts *opts);

/*
 * A peer process (proc.c). The child dies with its parent (PR_SET_PDEATHSIG), runs on CPU 1
 * when pinning, reports an error text through a shared page, and must be reaped with
 * bench_peer_finish().
 */
struct bench_peer_shared;

struct bench_peer {
	pid_t pid;
	struct bench_peer_shared *shared;
};

/* What the child runs; returns 0 or a negative errno with @error filled in. */
typedef int (*bench_child_fn)(void *arg, struct bench_error *error);

/*
 * bench_peer_start - fork a child that runs @fn(@arg) and exits.
 * Returns 0 in the parent with @ret_peer set; never returns in the child.
 */
int bench_peer_start(const struct bench_opts *opts, bench_child_fn fn, void *arg,
		     struct bench_peer *ret_peer, struct bench_error *error);

/*
 * bench_peer_finish - reap the child (killing it first when @kill_it, or when it does not exit
 * within a few seconds). Returns 0 if it exited cleanly, else a negative errno with @error
 * filled in from the child's report. Safe on a peer that was never started (pid 0).
 */
int bench_peer_finish(struct bench_peer *peer, bool kill_it, struct bench_error *error);

/* bench_pin_self - pin the calling thread to @cpu. Returns 0 or a negative errno. */
int bench_pin_self(int cpu);

#endif /* DK_BENCH_H */
