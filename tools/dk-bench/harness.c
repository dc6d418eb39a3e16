/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

unsigned int bench_warmup_iters(const struct bench_opts *opts)
{
	unsigned int w = opts->iters / 10;

	return w < 100 ? 100 : w > 2000 ? 2000 : w;
}

/* Say which side failed. */
static void name_failure(struct bench_error *error, const char *name, unsigned int rep)
{
	char msg[sizeof(error->msg)];

	snprintf(msg, sizeof(msg), "%s", error->msg);
	snprintf(error->msg, sizeof(error->msg), "%s, repetition %u: %.200s", name, rep,
		 msg[0] ? msg : "failed");
}

/* Keep one repetition's samples of one side and note its median. */
static int keep_rep(struct bench_side *side, unsigned int rep, struct bench_samples *scratch,
		    struct bench_error *error)
{
	struct bench_summary s;
	int ret;

	ret = bench_samples_append(&side->all, scratch);
	if (ret < 0)
		return bench_fail(error, ret, "samples");
	ret = bench_summarize(scratch, &s);
	if (ret < 0)
		return bench_fail(error, ret, "repetition %u produced no samples", rep);
	side->rep_medians[rep] = s.median;
	return 0;
}

/* One repetition of one side: run it, note its median, keep its samples. */
static int run_side(const char *name, bench_rep_fn fn, const struct bench_opts *opts,
		    struct bench_side *side, unsigned int rep, struct bench_samples *scratch,
		    struct bench_error *error)
{
	int ret;

	bench_samples_clear(scratch);
	ret = fn(opts, scratch, error);
	if (ret < 0) {
		name_failure(error, name, rep);
		return ret;
	}
	return keep_rep(side, rep, scratch, error);
}

/* One repetition of a figure that measures both sides at once. */
static int run_pair(const struct bench_figure *fig, const struct bench_opts *opts,
		    struct bench_result *res, unsigned int rep, struct bench_samples *scratch,
		    struct bench_samples *scratch2)
{
	int ret;

	bench_samples_clear(scratch);
	bench_samples_clear(scratch2);
	ret = fig->run_pair(opts, scratch, scratch2, &res->error);
	if (ret < 0) {
		name_failure(&res->error, bench_subject(fig), rep);
		return ret;
	}
	ret = keep_rep(&res->dk, rep, scratch, &res->error);
	if (ret == 0)
		ret = keep_rep(&res->base, rep, scratch2, &res->error);
	return ret;
}

static bool ratio_met(enum bench_goal_kind kind, double goal, double ratio)
{
	return kind == BENCH_GOAL_AT_MOST ? ratio <= goal : ratio >= goal;
}

static void judge(const struct bench_figure *fig, struct bench_result *res)
{
	const struct bench_summary *dk = &res->dk.summary, *base = &res->base.summary;

	if (res->dk.have_summary && res->base.have_summary && base->median > 0 &&
	    (fig->goal_kind != BENCH_GOAL_VALUE_AT_MOST || fig->show_ratio)) {
		res->ratio = dk->median / base->median;
		res->have_ratio = true;
	}
	if (fig->extra && res->dk.have_summary && res->extra.have_summary && dk->median > 0) {
		res->extra_ratio = res->extra.summary.median / dk->median;
		res->have_extra_ratio = true;
	}
	if (res->ret < 0 || !res->dk.have_summary)
		return;
	if (fig->goal_kind == BENCH_GOAL_VALUE_AT_MOST)
		res->pass = dk->median <= fig->goal;
	else
		res->pass = res->have_ratio && ratio_met(fig->goal_kind, fig->goal, res->ratio);
	if (fig->extra)
		res->pass = res->pass && res->have_extra_ratio &&
			    ratio_met(BENCH_GOAL_AT_LEAST, fig->extra->goal, res->extra_ratio);
}

int bench_run_figure(const struct bench_figure *fig, const struct bench_opts *opts,
		     struct bench_result *res)
{
	struct side_def {
		const char *name;
		bench_rep_fn fn;
		struct bench_side *side;
	} sides[3] = {
		{fig->baseline->name, fig->baseline->run_rep, &res->base},
		{bench_subject(fig), fig->run_rep, &res->dk},
	};
	struct bench_samples scratch = {0}, scratch2 = {0};
	unsigned int n_sides = 2, rep, k;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	res->figure = fig;
	res->opts = opts;
	if (fig->extra) {
		sides[2] = (struct side_def){fig->extra->name, fig->extra->run_rep, &res->extra};
		n_sides = 3;
	}
	res->dk.rep_medians = calloc(opts->reps, sizeof(double));
	res->base.rep_medians = calloc(opts->reps, sizeof(double));
	res->extra.rep_medians = calloc(opts->reps, sizeof(double));
	if (!res->dk.rep_medians || !res->base.rep_medians || !res->extra.rep_medians) {
		res->ret = bench_fail(&res->error, -ENOMEM, "allocation");
		return res->ret;
	}
	for (rep = 0; rep < opts->reps && ret == 0; rep++) {
		if (fig->run_pair) {
			ret = run_pair(fig, opts, res, rep, &scratch, &scratch2);
		} else {
			/* Rotate the order: with two sides, the baseline runs first on even
			 * repetitions and DriverKit first on odd ones. */
			for (k = 0; k < n_sides && ret == 0; k++) {
				const struct side_def *d = &sides[(rep + k) % n_sides];

				ret = run_side(d->name, d->fn, opts, d->side, rep, &scratch,
					       &res->error);
			}
		}
		if (ret == 0)
			res->reps_done = rep + 1;
	}
	bench_samples_finish(&scratch);
	bench_samples_finish(&scratch2);
	res->dk.have_summary = bench_summarize(&res->dk.all, &res->dk.summary) == 0;
	res->base.have_summary = bench_summarize(&res->base.all, &res->base.summary) == 0;
	res->extra.have_summary = bench_summarize(&res->extra.all, &res->extra.summary) == 0;
	res->ret = ret;
	judge(fig, res);
	return ret;
}

void bench_result_finish(struct bench_result *res)
{
	bench_samples_finish(&res->dk.all);
	bench_samples_finish(&res->base.all);
	bench_samples_finish(&res->extra.all);
	free(res->dk.rep_medians);
	free(res->base.rep_medians);
	free(res->extra.rep_medians);
	res->dk.rep_medians = NULL;
	res->base.rep_medians = NULL;
	res->extra.rep_medians = NULL;
}
