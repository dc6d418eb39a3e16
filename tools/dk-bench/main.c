/* SPDX-License-Identifier: MIT */
/*
 * dk-bench - DriverKit performance figures, each measured side by side with its baseline.
 *
 * Exit status: 0 when every selected figure was measured (whether or not it met its goal:
 * time is judged by people reading the output, never by the exit status), 1 when a
 * measurement failed, 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

#define MAX_REPS 1000u
#define MAX_ITERS 10000000u
#define DEFAULT_REPS 5u
#define QUICK_REPS 2u
#define QUICK_ITERS 2000u

static void usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"Usage: dk-bench [--json] [--quick] [--pin] [--reps N] [--iters N] [ID...]\n"
		"\n"
		"Measure DriverKit figures against baselines run in the same invocation.\n"
		"\n"
		"  --json      one JSON object per line per figure\n"
		"  --quick     short run (%u reps x %u iterations, fewer or more for some figures)\n"
		"              that only proves it works\n"
		"  --pin       pin the parent to CPU 0 and peer processes to CPU 1\n"
		"  --reps N    repetitions of each side, interleaved (default %u)\n"
		"  --iters N   measured iterations per repetition (default: per figure)\n"
		"  -h, --help  this text\n"
		"\n"
		"Figures (no ID: all of them):\n",
		QUICK_REPS, QUICK_ITERS, DEFAULT_REPS);
	for (i = 0; i < bench_n_figures; i++) {
		const struct bench_figure *fig = &bench_figures[i];

		fprintf(out, "  %-4s %s (vs %s, goal %s %s %g%s%s)\n", fig->id, fig->name,
			fig->baseline->name,
			fig->goal_kind == BENCH_GOAL_VALUE_AT_MOST ? "value" : "ratio",
			fig->goal_kind == BENCH_GOAL_AT_LEAST ? ">=" : "<=", fig->goal,
			fig->goal_kind == BENCH_GOAL_VALUE_AT_MOST ? " " : "",
			fig->goal_kind == BENCH_GOAL_VALUE_AT_MOST ? fig->unit : "");
	}
}

/* Parse a count in [1, @max]. Returns 0 or -EINVAL. */
static int parse_count(const char *s, unsigned int max, unsigned int *ret_value)
{
	unsigned long v;
	char *end;

	if (!s[0] || s[0] == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > max)
		return -EINVAL;
	*ret_value = (unsigned int)v;
	return 0;
}

static const struct bench_figure *find_figure(const char *id)
{
	size_t i;

	for (i = 0; i < bench_n_figures; i++)
		if (strcasecmp(bench_figures[i].id, id) == 0)
			return &bench_figures[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},   {"quick", no_argument, NULL, 'q'},
		{"pin", no_argument, NULL, 'p'},    {"reps", required_argument, NULL, 'r'},
		{"iters", required_argument, NULL, 'i'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bench_opts base = {0};
	unsigned int reps = 0, iters = 0;
	bool *selected, any = false, failed = false;
	size_t i;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			base.json = true;
			break;
		case 'q':
			base.quick = true;
			break;
		case 'p':
			base.pin = true;
			break;
		case 'r':
			if (parse_count(optarg, MAX_REPS, &reps) < 0) {
				fprintf(stderr, "dk-bench: --reps wants 1..%u, not '%s'\n",
					MAX_REPS, optarg);
				return 2;
			}
			break;
		case 'i':
			if (parse_count(optarg, MAX_ITERS, &iters) < 0) {
				fprintf(stderr, "dk-bench: --iters wants 1..%u, not '%s'\n",
					MAX_ITERS, optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}

	selected = calloc(bench_n_figures, sizeof(*selected));
	if (!selected) {
		fprintf(stderr, "dk-bench: out of memory\n");
		return 1;
	}
	for (; optind < argc; optind++) {
		const struct bench_figure *fig = find_figure(argv[optind]);

		if (!fig) {
			fprintf(stderr, "dk-bench: unknown figure '%s' (see --help)\n",
				argv[optind]);
			free(selected);
			return 2;
		}
		selected[fig - bench_figures] = true;
		any = true;
	}

	if (base.pin) {
		ret = bench_pin_self(0);
		if (ret < 0) {
			fprintf(stderr, "dk-bench: --pin: cannot pin to CPU 0: %s\n",
				strerror(-ret));
			free(selected);
			return 1;
		}
	}

	for (i = 0; i < bench_n_figures; i++) {
		const struct bench_figure *fig = &bench_figures[i];
		struct bench_opts opts = base;
		struct bench_result res;

		if (any && !selected[i])
			continue;
		opts.reps = reps ? reps : base.quick ? QUICK_REPS : DEFAULT_REPS;
		opts.iters = iters              ? iters
			     : !base.quick       ? fig->default_iters
			     : fig->quick_iters ? fig->quick_iters
						: QUICK_ITERS;
		if (fig->run_custom) {
			if (fig->run_custom(fig, &opts, stdout) < 0)
				failed = true;
			fflush(stdout);
			continue;
		}
		if (bench_run_figure(fig, &opts, &res) < 0)
			failed = true;
		if (opts.json)
			bench_print_json(stdout, &res);
		else
			bench_print_text(stdout, &res);
		fflush(stdout);
		bench_result_finish(&res);
	}
	free(selected);
	if (ferror(stdout)) {
		fprintf(stderr, "dk-bench: cannot write the output\n");
		return 1;
	}
	return failed ? 1 : 0;
}
