/* SPDX-License-Identifier: MIT */
/*
 * dk-bench statistics: a growable array of samples and its percentiles.
 */
#ifndef DK_BENCH_STATS_H
#define DK_BENCH_STATS_H

#include <stddef.h>

/* Samples in a figure's unit. Zero-initialise, then bench_samples_finish() to free. */
struct bench_samples {
	double *v;
	size_t n;
	size_t cap;
};

struct bench_summary {
	size_t n;
	double min;
	double median;
	double p1;  /* the slow tail of a throughput (higher-is-better) figure */
	double p99;
	double max;
};

/* bench_samples_reserve - make room for @extra more samples. Returns 0 or -ENOMEM. */
int bench_samples_reserve(struct bench_samples *s, size_t extra);

/* bench_samples_push - append @v; room must have been reserved (never allocates). */
void bench_samples_push(struct bench_samples *s, double v);

/* bench_samples_append - append all of @from. Returns 0 or -ENOMEM. */
int bench_samples_append(struct bench_samples *s, const struct bench_samples *from);

void bench_samples_clear(struct bench_samples *s);
void bench_samples_finish(struct bench_samples *s);

/*
 * bench_percentile - the @p-th percentile (0..100) of @n values sorted ascending, linear
 * interpolation between the closest ranks. @n must be > 0.
 */
double bench_percentile(const double *sorted, size_t n, double p);

/*
 * bench_summarize - sort @s in place and fill @ret. Returns 0, or -ENODATA when @s is empty.
 */
int bench_summarize(struct bench_samples *s, struct bench_summary *ret);

#endif /* DK_BENCH_STATS_H */
