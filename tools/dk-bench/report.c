/* SPDX-License-Identifier: MIT */
/*
 * Output: one JSON object per line per figure (--json), or a readable block.
 *
 * JSON fields: id, name, unit, subject (only when the figure measures something other than
 * DriverKit: P3-copy-ceiling), median, p99, min, max, baseline, baseline_median, baseline_p99,
 * ratio, goal, pass, iters, reps, reps_done, quick, pinned, rep_medians,
 * baseline_rep_medians, error; a figure with an extra reference (P5) adds its two fields
 * before error, then a figure with notes (P6, P9) its own members. Numbers not measured (after
 * an error) are null. Numbers have three decimals, or three significant digits below 0.1. For a
 * throughput figure (higher is better) "p99" is the tail on the slow side: the 1st percentile
 * of the samples.
 */
#include <math.h>
#include <stdio.h>

#include "harness.h"

static void json_raw_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void json_key(FILE *out, const char *key)
{
	fputs(", ", out);
	json_raw_string(out, key);
	fputs(": ", out);
}

void bench_json_begin(FILE *out, const char *id)
{
	fputs("{\"id\": ", out);
	json_raw_string(out, id);
}

void bench_json_end(FILE *out)
{
	fputs("}\n", out);
}

void bench_json_string(FILE *out, const char *key, const char *value)
{
	json_key(out, key);
	if (value)
		json_raw_string(out, value);
	else
		fputs("null", out);
}

/* Three decimals; three significant digits below 0.1 (P6's fraction of a core is ~0.001). */
static void json_value(FILE *out, double v)
{
	if (v != 0 && fabs(v) < 0.1)
		fprintf(out, "%.3g", v);
	else
		fprintf(out, "%.3f", v);
}

void bench_json_number(FILE *out, const char *key, bool valid, double v)
{
	json_key(out, key);
	if (valid)
		json_value(out, v);
	else
		fputs("null", out);
}

void bench_json_bool(FILE *out, const char *key, bool v)
{
	json_key(out, key);
	fputs(v ? "true" : "false", out);
}

void bench_json_uint(FILE *out, const char *key, unsigned long long v)
{
	json_key(out, key);
	fprintf(out, "%llu", v);
}

void bench_json_array(FILE *out, const char *key, const double *v, unsigned int n)
{
	unsigned int i;

	json_key(out, key);
	fputc('[', out);
	for (i = 0; i < n; i++) {
		if (i)
			fputs(", ", out);
		json_value(out, v[i]);
	}
	fputc(']', out);
}

void bench_json_named_numbers(FILE *out, const char *key, const char *const *names,
			      const double *v, unsigned int n)
{
	unsigned int i;

	json_key(out, key);
	fputc('{', out);
	for (i = 0; i < n; i++) {
		if (i)
			fputs(", ", out);
		json_raw_string(out, names[i]);
		fputs(": ", out);
		json_value(out, v[i]);
	}
	fputc('}', out);
}

static const char *goal_op(const struct bench_figure *fig)
{
	return fig->goal_kind == BENCH_GOAL_AT_LEAST ? ">=" : "<=";
}

/* The tail worth reporting: the slow side, whichever direction "slow" is. */
static double tail(const struct bench_figure *fig, const struct bench_summary *s)
{
	return fig->goal_kind == BENCH_GOAL_AT_LEAST ? s->p1 : s->p99;
}

void bench_print_json(FILE *out, const struct bench_result *res)
{
	const struct bench_figure *fig = res->figure;
	const struct bench_opts *opts = res->opts;
	bool dk = res->dk.have_summary, base = res->base.have_summary;
	char goal[32];

	snprintf(goal, sizeof(goal), "%s %g", goal_op(fig), fig->goal);
	bench_json_begin(out, fig->id);
	bench_json_string(out, "name", fig->name);
	bench_json_string(out, "unit", fig->unit);
	if (fig->subject)
		bench_json_string(out, "subject", fig->subject);
	bench_json_number(out, "median", dk, res->dk.summary.median);
	bench_json_number(out, "p99", dk, tail(fig, &res->dk.summary));
	bench_json_number(out, "min", dk, res->dk.summary.min);
	bench_json_number(out, "max", dk, res->dk.summary.max);
	bench_json_string(out, "baseline", fig->baseline->name);
	bench_json_number(out, "baseline_median", base, res->base.summary.median);
	bench_json_number(out, "baseline_p99", base, tail(fig, &res->base.summary));
	bench_json_number(out, "ratio", res->have_ratio, res->ratio);
	bench_json_string(out, "goal", goal);
	bench_json_bool(out, "pass", res->pass);
	fprintf(out, ", \"iters\": %u, \"reps\": %u, \"reps_done\": %u", opts->iters, opts->reps,
		res->reps_done);
	bench_json_bool(out, "quick", opts->quick);
	bench_json_bool(out, "pinned", opts->pin);
	bench_json_array(out, "rep_medians", res->dk.rep_medians, res->reps_done);
	bench_json_array(out, "baseline_rep_medians", res->base.rep_medians, res->reps_done);
	if (fig->extra) {
		bench_json_number(out, fig->extra->field, res->extra.have_summary,
				  res->extra.summary.median);
		bench_json_number(out, fig->extra->ratio_field, res->have_extra_ratio,
				  res->extra_ratio);
	}
	if (fig->notes)
		fig->notes(out, true);
	if (res->ret < 0)
		bench_json_string(out, "error", res->error.msg[0] ? res->error.msg : "failed");
	else
		bench_json_string(out, "error", NULL);
	bench_json_end(out);
}

static void text_side(FILE *out, const char *label, const struct bench_figure *fig,
		      const struct bench_side *side)
{
	const char *unit = fig->unit;

	if (!side->have_summary) {
		fprintf(out, "    %-14s no samples\n", label);
		return;
	}
	fprintf(out, "    %-14s median %9.3f %s   %s %9.3f %s   min %9.3f %s\n", label,
		side->summary.median, unit, fig->goal_kind == BENCH_GOAL_AT_LEAST ? "p1 " : "p99",
		tail(fig, &side->summary), unit, side->summary.min, unit);
}

void bench_print_text(FILE *out, const struct bench_result *res)
{
	const struct bench_figure *fig = res->figure;
	const struct bench_opts *opts = res->opts;

	fprintf(out, "%s  %s\n", fig->id, fig->name);
	fprintf(out, "    %u reps x %u iterations, %s%s\n", opts->reps, opts->iters,
		opts->pin ? "pinned (parent CPU 0, peer CPU 1)" : "unpinned",
		opts->quick ? ", quick" : "");
	text_side(out, bench_subject(fig), fig, &res->dk);
	text_side(out, fig->baseline->name, fig, &res->base);
	if (fig->extra)
		text_side(out, fig->extra->name, fig, &res->extra);
	if (fig->goal_kind == BENCH_GOAL_VALUE_AT_MOST) {
		if (res->have_ratio)
			fprintf(out, "    ratio %.3f (reported, not judged)\n", res->ratio);
		if (res->dk.have_summary)
			fprintf(out, "    median %.3f %s, goal <= %g %s: %s\n",
				res->dk.summary.median, fig->unit, fig->goal, fig->unit,
				res->pass ? "PASS" : "FAIL");
	} else if (res->have_ratio) {
		fprintf(out, res->ratio < 0.1 ? "    ratio %.3g, goal %s %g: %s\n"
					      : "    ratio %.3f, goal %s %g: %s\n",
			res->ratio, goal_op(fig), fig->goal, res->pass ? "PASS" : "FAIL");
	}
	if (fig->extra && res->have_extra_ratio)
		fprintf(out, "    %s %.1f (goal >= %g)\n", fig->extra->ratio_field,
			res->extra_ratio, fig->extra->goal);
	if (fig->notes)
		fig->notes(out, false);
	if (res->ret < 0)
		fprintf(out, "    ERROR: %s\n", res->error.msg[0] ? res->error.msg : "failed");
	fputc('\n', out);
}
