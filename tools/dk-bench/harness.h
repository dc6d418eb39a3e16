/* SPDX-License-Identifier: MIT */
/*
 * dk-bench harness: run one figure against its baseline, interleaved, and print the result.
 */
#ifndef DK_BENCH_HARNESS_H
#define DK_BENCH_HARNESS_H

#include <stdbool.h>
#include <stdio.h>

#include "bench.h"

/* One side (DriverKit or baseline) of a figure's result. */
struct bench_side {
	struct bench_samples all; /* every measured sample of every repetition */
	double *rep_medians;      /* [reps_done] */
	struct bench_summary summary;
	bool have_summary;
};

struct bench_result {
	const struct bench_figure *figure;
	const struct bench_opts *opts;
	unsigned int reps_done; /* repetitions completed on every side */
	struct bench_side dk;
	struct bench_side base;
	struct bench_side extra; /* only with figure->extra */
	double ratio; /* dk median / baseline median */
	bool have_ratio;
	double extra_ratio; /* extra median / dk median (figure->extra) */
	bool have_extra_ratio;
	bool pass;
	int ret; /* 0 or the negative errno of the first failure */
	struct bench_error error;
};

/*
 * bench_run_figure - run @opts->reps repetitions of @fig and of its baseline (and its extra
 * reference), rotating the order of the sides each repetition (with two sides: baseline first
 * on even repetitions, DriverKit first on odd ones, so linear drift cancels).
 * Always fills @ret (free with bench_result_finish()); returns @ret->ret.
 */
int bench_run_figure(const struct bench_figure *fig, const struct bench_opts *opts,
		     struct bench_result *ret);
void bench_result_finish(struct bench_result *res);

/* Print @res as one JSON object on one line, or as a readable block. */
void bench_print_json(FILE *out, const struct bench_result *res);
void bench_print_text(FILE *out, const struct bench_result *res);

/*
 * JSON pieces for figures that print themselves (bench_custom_fn). An object starts with
 * bench_json_begin() (which writes the "id" member) and ends with bench_json_end(); every other
 * member is written with a leading ", ".
 */
void bench_json_begin(FILE *out, const char *id);
void bench_json_end(FILE *out);
void bench_json_string(FILE *out, const char *key, const char *value); /* NULL: null */
void bench_json_number(FILE *out, const char *key, bool valid, double v);
void bench_json_bool(FILE *out, const char *key, bool v);
void bench_json_uint(FILE *out, const char *key, unsigned long long v);
void bench_json_array(FILE *out, const char *key, const double *v, unsigned int n);
/* An object of @n numbers, one per name: "key": {"name": v, ...}. */
void bench_json_named_numbers(FILE *out, const char *key, const char *const *names,
			      const double *v, unsigned int n);

#endif /* DK_BENCH_HARNESS_H */
