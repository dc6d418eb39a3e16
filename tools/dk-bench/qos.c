/* SPDX-License-Identifier: MIT */
/*
 * P8: QoS observed at the same offered load.
 *
 * For each class (Frugal, Normal, Burst) in turn, a fresh null service (nullsvc.h) with one
 * ring of that class, and an open-loop client: jobs arrive at P8_RATE per second at random
 * (exponential inter-arrival times from a fixed-seed generator, the same arrival sequence for
 * every class of a repetition). Until the next arrival the client reaps completions
 * (dk_ring_wait_cqe() with the arrival time as its deadline) or, with nothing outstanding,
 * sleeps (clock_nanosleep(TIMER_ABSTIME)); at the arrival it submits one NOP. Latency per job:
 * from just before dk_ring_submit() to when the client has the completion in hand (what an
 * application observes), plus, for reference, to the service's t_completed_ns.
 * CPU per job: the CPU time (user + system) of the client process and of the service process
 * over the phase, divided by the jobs (bench_cpu_ns(): the processes' CPU-time clocks, more
 * precise than the 10 ms ticks of /proc/<pid>/stat, which is the fallback).
 * opts->iters is the number of jobs per class and repetition (10 000 = 5 s by default,
 * 1 000 = 0.5 s with --quick). Each repetition runs the three classes, starting with a
 * different one each time.
 *
 * Output: one line per class ("P8-frugal", "P8-normal", "P8-burst"; latency median and p99 in
 * microseconds, cpu_per_job_us; no goal of their own) and a summary line "P8": ratio = Burst CPU
 * per job / Frugal CPU per job, goal >= 5; pass also needs Burst's median latency <= 1/5 of
 * Frugal's and Normal between the two on both measures.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dk/qos.h>
#include <dk/ring.h>
#include <dk/time.h>

#include "harness.h"
#include "nullsvc.h"

#define P8_RATE 2000.0 /* jobs per second */
#define P8_ENTRIES 256u
#define P8_SEED 0x9e3779b97f4a7c15ull
#define P8_FACTOR 5.0
#define P8_CLASSES 3u

static const uint32_t p8_qos[P8_CLASSES] = {DK_QOS_FRUGAL, DK_QOS_NORMAL, DK_QOS_BURST};

struct p8_class {
	struct bench_samples lat;       /* submit -> completion in the client's hands, us */
	struct bench_samples completed; /* submit -> the service's t_completed_ns, us */
	double *cpu_per_job;            /* us, one per repetition */
	double *rep_medians;
	struct bench_summary lat_sum, completed_sum;
	double cpu_median;
	bool have;
};

/* splitmix64: a fixed-seed generator, the same sequence on every machine. */
static uint64_t next_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* An exponential inter-arrival time at P8_RATE, in nanoseconds. */
static uint64_t next_gap_ns(uint64_t *state)
{
	double u = (double)(next_rand(state) >> 11) * 0x1.0p-53; /* [0, 1) */

	return (uint64_t)(-log1p(-u) / P8_RATE * 1e9);
}

static void sleep_until(uint64_t t_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(t_ns / DK_NSEC_PER_SEC),
		.tv_nsec = (long)(t_ns % DK_NSEC_PER_SEC),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Note one completion. */
static int p8_reaped(const struct dk_cqe *cqe, const uint64_t *t_submit, uint64_t jobs,
		     struct p8_class *cls, struct bench_error *error)
{
	uint64_t now = dk_now_ns(), t0;

	if (cqe->status != 0 || cqe->user_data == 0 || cqe->user_data > jobs)
		return bench_fail(error, cqe->status ? cqe->status : -EPROTO,
				  "completion %llu: status %d", (unsigned long long)cqe->user_data,
				  cqe->status);
	t0 = t_submit[cqe->user_data - 1];
	bench_samples_push(&cls->lat, (double)(now - t0) / 1000.0);
	bench_samples_push(&cls->completed,
			   cqe->t_completed_ns > t0 ? (double)(cqe->t_completed_ns - t0) / 1000.0
						    : 0.0);
	return 0;
}

/* One class, one repetition: appends latencies to @cls and returns the CPU per job (us). */
static int p8_phase(const struct bench_opts *opts, uint32_t qos, uint64_t seed,
		    struct p8_class *cls, double *ret_cpu_per_job, struct bench_error *error)
{
	const struct dk_ring_params params = {
		.sq_entries = P8_ENTRIES,
		.cq_entries = P8_ENTRIES,
		.qos = qos,
	};
	uint64_t jobs = opts->iters, submitted = 0, reaped = 0, t_arrival, rng = seed;
	uint64_t cpu_self0, cpu_svc0, cpu_self1, cpu_svc1;
	uint64_t *t_submit;
	struct nullsvc_client c;
	struct dk_sqe *sqe;
	struct dk_cqe cqe;
	int ret;

	if (bench_samples_reserve(&cls->lat, jobs) < 0 ||
	    bench_samples_reserve(&cls->completed, jobs) < 0)
		return bench_fail(error, -ENOMEM, "samples");
	t_submit = calloc(jobs, sizeof(*t_submit));
	if (!t_submit)
		return bench_fail(error, -ENOMEM, "allocation");
	ret = nullsvc_start(opts, &params, jobs, 0, &c, error);
	if (ret < 0)
		goto out_free;
	ret = bench_cpu_ns(0, &cpu_self0);
	if (ret == 0)
		ret = bench_cpu_ns(c.peer.pid, &cpu_svc0);
	if (ret < 0) {
		bench_fail(error, ret, "CPU time");
		goto out_stop;
	}
	t_arrival = dk_now_ns() + DK_NSEC_PER_MSEC;
	while (submitted < jobs) {
		t_arrival += next_gap_ns(&rng);
		/* Until the arrival: reap what completes, or sleep if nothing is outstanding. */
		while (reaped < submitted) {
			ret = dk_ring_wait_cqe(c.ring, &cqe, t_arrival);
			if (ret == -ETIMEDOUT)
				break;
			if (ret < 0) {
				bench_fail(error, ret, "dk_ring_wait_cqe");
				goto out_stop;
			}
			ret = p8_reaped(&cqe, t_submit, jobs, cls, error);
			if (ret < 0)
				goto out_stop;
			reaped++;
		}
		if (reaped == submitted)
			sleep_until(t_arrival);
		sqe = dk_ring_get_sqe(c.ring, NULL);
		if (!sqe) {
			ret = bench_fail(error, -EAGAIN, "dk_ring_get_sqe: ring full");
			goto out_stop;
		}
		nullsvc_sqe_nop(sqe, submitted + 1);
		t_submit[submitted] = dk_now_ns();
		ret = dk_ring_submit(c.ring);
		if (ret != 1) {
			ret = bench_fail(error, ret < 0 ? ret : -EPROTO, "dk_ring_submit");
			goto out_stop;
		}
		submitted++;
	}
	while (reaped < jobs) {
		ret = dk_ring_wait_cqe(c.ring, &cqe, dk_deadline_in(BENCH_WAIT_NS));
		if (ret < 0) {
			bench_fail(error, ret, "dk_ring_wait_cqe (last jobs)");
			goto out_stop;
		}
		ret = p8_reaped(&cqe, t_submit, jobs, cls, error);
		if (ret < 0)
			goto out_stop;
		reaped++;
	}
	ret = bench_cpu_ns(0, &cpu_self1);
	if (ret == 0)
		ret = bench_cpu_ns(c.peer.pid, &cpu_svc1);
	if (ret < 0) {
		bench_fail(error, ret, "CPU time");
		goto out_stop;
	}
	*ret_cpu_per_job =
		(double)((cpu_self1 - cpu_self0) + (cpu_svc1 - cpu_svc0)) / 1000.0 / (double)jobs;
out_stop:
	if (nullsvc_stop(&c, ret < 0, error) < 0 && ret == 0)
		ret = -EIO;
out_free:
	free(t_submit);
	return ret;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of @n > 0 values (@v is left as it is). Returns 0 if out of memory. */
static double median_of(const double *v, unsigned int n)
{
	double *tmp = malloc(n * sizeof(double)), m;

	if (!tmp)
		return 0;
	memcpy(tmp, v, n * sizeof(double));
	qsort(tmp, n, sizeof(double), cmp_double);
	m = bench_percentile(tmp, n, 50.0);
	free(tmp);
	return m;
}

static void print_common(FILE *out, const struct bench_opts *opts, unsigned int reps_done)
{
	fprintf(out, ", \"iters\": %u, \"reps\": %u, \"reps_done\": %u", opts->iters, opts->reps,
		reps_done);
	bench_json_bool(out, "quick", opts->quick);
	bench_json_bool(out, "pinned", opts->pin);
}

static void print_class_json(FILE *out, const struct bench_opts *opts, uint32_t qos,
			     const struct p8_class *cls, unsigned int reps_done, const char *err)
{
	char id[32], name[128];

	snprintf(id, sizeof(id), "P8-%s", dk_qos_name(qos));
	snprintf(name, sizeof(name),
		 "%s QoS at %.0f jobs/s offered (Poisson): submit -> complete latency",
		 dk_qos_name(qos), P8_RATE);
	bench_json_begin(out, id);
	bench_json_string(out, "name", name);
	bench_json_string(out, "unit", "us");
	bench_json_number(out, "median", cls->have, cls->lat_sum.median);
	bench_json_number(out, "p99", cls->have, cls->lat_sum.p99);
	bench_json_number(out, "min", cls->have, cls->lat_sum.min);
	bench_json_number(out, "max", cls->have, cls->lat_sum.max);
	bench_json_string(out, "baseline", NULL);
	bench_json_number(out, "baseline_median", false, 0);
	bench_json_number(out, "baseline_p99", false, 0);
	bench_json_number(out, "ratio", false, 0);
	bench_json_string(out, "goal", NULL);
	fputs(", \"pass\": null", out);
	print_common(out, opts, reps_done);
	bench_json_array(out, "rep_medians", cls->rep_medians, reps_done);
	bench_json_array(out, "baseline_rep_medians", NULL, 0);
	bench_json_number(out, "cpu_per_job_us", cls->have, cls->cpu_median);
	bench_json_array(out, "cpu_per_job_reps", cls->cpu_per_job, reps_done);
	bench_json_number(out, "completed_median_us", cls->have, cls->completed_sum.median);
	bench_json_number(out, "completed_p99_us", cls->have, cls->completed_sum.p99);
	bench_json_number(out, "offered_jobs_per_s", true, P8_RATE);
	bench_json_string(out, "error", err);
	bench_json_end(out);
}

int bench_p8_qos(const struct bench_figure *fig, const struct bench_opts *opts, FILE *out)
{
	struct p8_class cls[P8_CLASSES];
	struct bench_error error = {{0}};
	struct bench_summary s;
	unsigned int rep, k, reps_done = 0;
	const struct p8_class *fr = &cls[0], *no = &cls[1], *bu = &cls[2];
	bool have_all = true, pass = false, normal_between = false;
	double cpu_ratio = 0, lat_ratio = 0;
	int ret = 0;

	memset(cls, 0, sizeof(cls));
	for (k = 0; k < P8_CLASSES; k++) {
		cls[k].cpu_per_job = calloc(opts->reps, sizeof(double));
		cls[k].rep_medians = calloc(opts->reps, sizeof(double));
		if (!cls[k].cpu_per_job || !cls[k].rep_medians)
			ret = bench_fail(&error, -ENOMEM, "allocation");
	}
	for (rep = 0; rep < opts->reps && ret == 0; rep++) {
		for (k = 0; k < P8_CLASSES && ret == 0; k++) {
			unsigned int c = (rep + k) % P8_CLASSES;
			size_t first = cls[c].lat.n;
			struct bench_samples one;

			ret = p8_phase(opts, p8_qos[c], P8_SEED + rep, &cls[c],
				       &cls[c].cpu_per_job[rep], &error);
			if (ret < 0) {
				char msg[sizeof(error.msg)];

				snprintf(msg, sizeof(msg), "%s", error.msg);
				snprintf(error.msg, sizeof(error.msg), "%s, repetition %u: %.200s",
					 dk_qos_name(p8_qos[c]), rep, msg);
				break;
			}
			one = (struct bench_samples){.v = cls[c].lat.v + first,
						     .n = cls[c].lat.n - first};
			/* Sorting this repetition's slice in place is harmless. */
			if (bench_summarize(&one, &s) == 0)
				cls[c].rep_medians[rep] = s.median;
		}
		if (ret == 0)
			reps_done = rep + 1;
	}
	for (k = 0; k < P8_CLASSES; k++) {
		cls[k].have = reps_done > 0 && bench_summarize(&cls[k].lat, &cls[k].lat_sum) == 0 &&
			      bench_summarize(&cls[k].completed, &cls[k].completed_sum) == 0;
		if (cls[k].have)
			cls[k].cpu_median = median_of(cls[k].cpu_per_job, reps_done);
		have_all = have_all && cls[k].have;
	}
	if (have_all && fr->cpu_median > 0 && bu->lat_sum.median > 0) {
		cpu_ratio = bu->cpu_median / fr->cpu_median;
		lat_ratio = fr->lat_sum.median / bu->lat_sum.median;
		normal_between = fr->cpu_median <= no->cpu_median &&
				 no->cpu_median <= bu->cpu_median &&
				 bu->lat_sum.median <= no->lat_sum.median &&
				 no->lat_sum.median <= fr->lat_sum.median;
		pass = ret == 0 && fr->cpu_median * P8_FACTOR <= bu->cpu_median &&
		       bu->lat_sum.median * P8_FACTOR <= fr->lat_sum.median && normal_between;
	} else {
		have_all = false;
	}

	if (opts->json) {
		char goal[32];

		for (k = 0; k < P8_CLASSES; k++)
			print_class_json(out, opts, p8_qos[k], &cls[k], reps_done,
					 ret < 0 ? error.msg : NULL);
		snprintf(goal, sizeof(goal), ">= %g", fig->goal);
		bench_json_begin(out, fig->id);
		bench_json_string(out, "name", fig->name);
		bench_json_string(out, "unit", fig->unit);
		bench_json_number(out, "median", bu->have, bu->cpu_median);
		bench_json_number(out, "p99", false, 0);
		bench_json_number(out, "min", false, 0);
		bench_json_number(out, "max", false, 0);
		bench_json_string(out, "baseline", fig->baseline->name);
		bench_json_number(out, "baseline_median", fr->have, fr->cpu_median);
		bench_json_number(out, "baseline_p99", false, 0);
		bench_json_number(out, "ratio", have_all, cpu_ratio);
		bench_json_string(out, "goal", goal);
		bench_json_bool(out, "pass", pass);
		print_common(out, opts, reps_done);
		bench_json_array(out, "rep_medians", bu->cpu_per_job, reps_done);
		bench_json_array(out, "baseline_rep_medians", fr->cpu_per_job, reps_done);
		bench_json_number(out, "latency_ratio", have_all, lat_ratio);
		bench_json_string(out, "latency_goal", ">= 5");
		bench_json_bool(out, "normal_between", normal_between);
		bench_json_number(out, "frugal_cpu_per_job_us", fr->have, fr->cpu_median);
		bench_json_number(out, "normal_cpu_per_job_us", no->have, no->cpu_median);
		bench_json_number(out, "burst_cpu_per_job_us", bu->have, bu->cpu_median);
		bench_json_number(out, "frugal_p50_us", fr->have, fr->lat_sum.median);
		bench_json_number(out, "normal_p50_us", no->have, no->lat_sum.median);
		bench_json_number(out, "burst_p50_us", bu->have, bu->lat_sum.median);
		bench_json_string(out, "error", ret < 0 ? error.msg : NULL);
		bench_json_end(out);
	} else {
		fprintf(out, "%s  %s\n", fig->id, fig->name);
		fprintf(out, "    %u reps x %u jobs per class at %.0f jobs/s, %s%s\n", opts->reps,
			opts->iters, P8_RATE, opts->pin ? "pinned" : "unpinned",
			opts->quick ? ", quick" : "");
		for (k = 0; k < P8_CLASSES; k++) {
			if (!cls[k].have)
				continue;
			fprintf(out,
				"    %-7s latency median %9.3f us  p99 %9.3f us   cpu/job %7.3f us\n",
				dk_qos_name(p8_qos[k]), cls[k].lat_sum.median, cls[k].lat_sum.p99,
				cls[k].cpu_median);
		}
		if (have_all)
			fprintf(out,
				"    cpu burst/frugal %.2f (goal >= 5), latency frugal/burst %.2f "
				"(goal >= 5), normal between: %s: %s\n",
				cpu_ratio, lat_ratio, normal_between ? "yes" : "no",
				pass ? "PASS" : "FAIL");
		if (ret < 0)
			fprintf(out, "    ERROR: %s\n", error.msg);
		fputc('\n', out);
	}
	for (k = 0; k < P8_CLASSES; k++) {
		bench_samples_finish(&cls[k].lat);
		bench_samples_finish(&cls[k].completed);
		free(cls[k].cpu_per_job);
		free(cls[k].rep_medians);
	}
	return ret;
}

const struct bench_baseline bench_baseline_qos_frugal = {
	.name = "frugal",
	.description = "the Frugal class's CPU time per job at the same offered load",
	.run_rep = NULL,
};
