/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

int bench_samples_reserve(struct bench_samples *s, size_t extra)
{
	size_t cap = s->cap ? s->cap : 1024;
	double *v;

	if (extra > SIZE_MAX / sizeof(double) - s->n)
		return -ENOMEM;
	if (s->n + extra <= s->cap)
		return 0;
	while (cap < s->n + extra)
		cap = cap > SIZE_MAX / sizeof(double) / 2 ? s->n + extra : cap * 2;
	v = realloc(s->v, cap * sizeof(double));
	if (!v)
		return -ENOMEM;
	s->v = v;
	s->cap = cap;
	return 0;
}

void bench_samples_push(struct bench_samples *s, double v)
{
	if (s->n < s->cap)
		s->v[s->n++] = v;
}

int bench_samples_append(struct bench_samples *s, const struct bench_samples *from)
{
	int ret = bench_samples_reserve(s, from->n);

	if (ret < 0)
		return ret;
	if (from->n)
		memcpy(s->v + s->n, from->v, from->n * sizeof(double));
	s->n += from->n;
	return 0;
}

void bench_samples_clear(struct bench_samples *s)
{
	s->n = 0;
}

void bench_samples_finish(struct bench_samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
	s->cap = 0;
}

double bench_percentile(const double *sorted, size_t n, double p)
{
	double rank = p / 100.0 * (double)(n - 1);
	size_t lo = (size_t)rank;
	double frac = rank - (double)lo;

	if (lo + 1 >= n)
		return sorted[n - 1];
	return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int bench_summarize(struct bench_samples *s, struct bench_summary *ret)
{
	if (s->n == 0)
		return -ENODATA;
	qsort(s->v, s->n, sizeof(double), cmp_double);
	ret->n = s->n;
	ret->min = s->v[0];
	ret->median = bench_percentile(s->v, s->n, 50.0);
	ret->p1 = bench_percentile(s->v, s->n, 1.0);
	ret->p99 = bench_percentile(s->v, s->n, 99.0);
	ret->max = s->v[s->n - 1];
	return 0;
}
