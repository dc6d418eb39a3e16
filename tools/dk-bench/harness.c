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

/* One repetition of one side: run it, note its median, keep its samples. */
static int run_side(const char *name, bench_rep_fn fn, const struct bench_opts *opts,
		    struct bench_side *side, unsigned int rep, struct bench_samples *scratch,
		    struct bench_error *error)
{
	struct bench_summary s;
	int ret;

	bench_samples_clear(scratch);
	ret = fn(opts, scratch, error);
	if (ret < 0) {
		char msg[sizeof(error->msg)];

		/* Say which side failed. */
		snprintf(msg, sizeof(msg), "%s", error->msg);
		snprintf(error->msg, sizeof(error->msg), "%s, repetition %u: %.200s", name, rep,
			 msg[0] ? msg : "failed");
		return ret;
	}
	ret = bench_samples_append(&side->all, scratch);
	if (ret < 0)
		return bench_fail(error, ret, "samples");
	ret = bench_summarize(scratch, &s);
	if (ret < 0)
		return bench_fail(error, ret, "repetition %u produced no samples", rep);
	side->rep_medians[rep] = s.median;
	return 0;
}

static bool goal_met(const struct bench_figure *fig, double ratio)
{
	return fig->goal_kind == BENCH_GOAL_AT_MOST ? ratio <= fig->goal : ratio >= fig->goal;
}

int bench_run_figure(const struct bench_figure *fig, const struct bench_opts *opts,
		     struct bench_result *res)
{
	const struct side_def {
		const char *name;
		bench_rep_fn fn;
		struct bench_side *side;
	} sides[2] = {
		{fig->baseline->name, fig->baseline->run_rep, &res->base},
		{"driverkit", fig->run_rep, &res->dk},
	};
	struct bench_samples scratch = {0};
	unsigned int rep, k;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	res->figure = fig;
	res->opts = opts;
	res->dk.rep_medians = calloc(opts->reps, sizeof(double));
	res->base.rep_medians = calloc(opts->reps, sizeof(double));
	if (!res->dk.rep_medians || !res->base.rep_medians) {
		res->ret = bench_fail(&res->error, -ENOMEM, "allocation");
		return res->ret;
	}
	for (rep = 0; rep < opts->reps && ret == 0; rep++) {
		/* Even repetitions run the baseline first, odd ones DriverKit first. */
		for (k = 0; k < 2 && ret == 0; k++) {
			const struct side_def *d = &sides[(rep + k) % 2];

			ret = run_side(d->name, d->fn, opts, d->side, rep, &scratch, &res->error);
		}
		if (ret == 0)
			res->reps_done = rep + 1;
	}
	bench_samples_finish(&scratch);
	res->dk.have_summary = bench_summarize(&res->dk.all, &res->dk.summary) == 0;
	res->base.have_summary = bench_summarize(&res->base.all, &res->base.summary) == 0;
	if (res->dk.have_summary && res->base.have_summary && res->base.summary.median > 0) {
		res->ratio = res->dk.summary.median / res->base.summary.median;
		res->pass = ret == 0 && goal_met(fig, res->ratio);
	}
	res->ret = ret;
	return ret;
}

void bench_result_finish(struct bench_result *res)
{
	bench_samples_finish(&res->dk.all);
	bench_samples_finish(&res->base.all);
	free(res->dk.rep_medians);
	free(res->base.rep_medians);
	res->dk.rep_medians = NULL;
	res->base.rep_medians = NULL;
}
