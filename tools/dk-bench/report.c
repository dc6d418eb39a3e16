/* SPDX-License-Identifier: MIT */
/*
 * Output: one JSON object per line per figure (--json), or a readable block.
 *
 * JSON fields: id, name, unit, median, p99, min, max, baseline, baseline_median, baseline_p99,
 * ratio, goal, pass, iters, reps, reps_done, quick, pinned, rep_medians,
 * baseline_rep_medians, error. Numbers not measured (after an error) are null.
 */
#include <stdio.h>

#include "harness.h"

static void json_string(FILE *out, const char *s)
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
	json_string(out, key);
	fputs(": ", out);
}

static void json_number(FILE *out, const char *key, bool valid, double v)
{
	json_key(out, key);
	if (valid)
		fprintf(out, "%.3f", v);
	else
		fputs("null", out);
}

static void json_array(FILE *out, const char *key, const double *v, unsigned int n)
{
	unsigned int i;

	json_key(out, key);
	fputc('[', out);
	for (i = 0; i < n; i++)
		fprintf(out, "%s%.3f", i ? ", " : "", v[i]);
	fputc(']', out);
}

static const char *goal_op(const struct bench_figure *fig)
{
	return fig->goal_kind == BENCH_GOAL_AT_MOST ? "<=" : ">=";
}

void bench_print_json(FILE *out, const struct bench_result *res)
{
	const struct bench_figure *fig = res->figure;
	const struct bench_opts *opts = res->opts;
	bool dk = res->dk.have_summary, base = res->base.have_summary;
	char goal[32];

	snprintf(goal, sizeof(goal), "%s %g", goal_op(fig), fig->goal);
	fputs("{\"id\": ", out);
	json_string(out, fig->id);
	json_key(out, "name");
	json_string(out, fig->name);
	json_key(out, "unit");
	json_string(out, fig->unit);
	json_number(out, "median", dk, res->dk.summary.median);
	json_number(out, "p99", dk, res->dk.summary.p99);
	json_number(out, "min", dk, res->dk.summary.min);
	json_number(out, "max", dk, res->dk.summary.max);
	json_key(out, "baseline");
	json_string(out, fig->baseline->name);
	json_number(out, "baseline_median", base, res->base.summary.median);
	json_number(out, "baseline_p99", base, res->base.summary.p99);
	json_number(out, "ratio", dk && base && res->ratio > 0, res->ratio);
	json_key(out, "goal");
	json_string(out, goal);
	json_key(out, "pass");
	fputs(res->pass ? "true" : "false", out);
	fprintf(out, ", \"iters\": %u, \"reps\": %u, \"reps_done\": %u", opts->iters, opts->reps,
		res->reps_done);
	json_key(out, "quick");
	fputs(opts->quick ? "true" : "false", out);
	json_key(out, "pinned");
	fputs(opts->pin ? "true" : "false", out);
	json_array(out, "rep_medians", res->dk.rep_medians, res->reps_done);
	json_array(out, "baseline_rep_medians", res->base.rep_medians, res->reps_done);
	json_key(out, "error");
	if (res->ret < 0)
		json_string(out, res->error.msg[0] ? res->error.msg : "failed");
	else
		fputs("null", out);
	fputs("}\n", out);
}

static void text_side(FILE *out, const char *label, const struct bench_side *side,
		      const char *unit)
{
	if (!side->have_summary) {
		fprintf(out, "    %-12s no samples\n", label);
		return;
	}
	fprintf(out, "    %-12s median %9.3f %s   p99 %9.3f %s   min %9.3f %s\n", label,
		side->summary.median, unit, side->summary.p99, unit, side->summary.min, unit);
}

void bench_print_text(FILE *out, const struct bench_result *res)
{
	const struct bench_figure *fig = res->figure;
	const struct bench_opts *opts = res->opts;

	fprintf(out, "%s  %s\n", fig->id, fig->name);
	fprintf(out, "    %u reps x %u iterations, %s%s\n", opts->reps, opts->iters,
		opts->pin ? "pinned (parent CPU 0, peer CPU 1)" : "unpinned",
		opts->quick ? ", quick" : "");
	text_side(out, "driverkit", &res->dk, fig->unit);
	text_side(out, fig->baseline->name, &res->base, fig->unit);
	if (res->dk.have_summary && res->base.have_summary && res->ratio > 0)
		fprintf(out, "    ratio %.3f, goal %s %g: %s\n", res->ratio, goal_op(fig),
			fig->goal, res->pass ? "PASS" : "FAIL");
	if (res->ret < 0)
		fprintf(out, "    ERROR: %s\n", res->error.msg[0] ? res->error.msg : "failed");
	fputc('\n', out);
}
