/* SPDX-License-Identifier: MIT */
/*
 * P6: the whole stack idle, no clients.
 *
 * The stack of the run (stackbench.h: dk-supervisor with dk-logd, dk-policyd, dk-hwsim,
 * dk-broker, dk-null and dk-copy: the board is in, so every daemon counts) is left alone for a
 * window of opts->iters milliseconds (10 000 by default, 1 000 with --quick). Before and after
 * the window the parent asks the supervisor for its services (STATUS, dk_supd_status()) and
 * reads the CPU time (user + system, every thread) of each service's pid and of the supervisor
 * itself. bench_cpu_ns() reads the process's CPU-time clock, the same utime + stime as
 * /proc/<pid>/stat but in nanoseconds; the 10 ms ticks of /proc are the fallback only: the
 * whole budget of a 1 s window is 5 ms, under one tick.
 *
 * One repetition gives one pair of samples: the stack's CPU time over the window (the DriverKit
 * side, ms) and the window's wall time (the baseline "one-core": the CPU time one core offers
 * over the same window, ms). Their ratio is the fraction of one core the idle stack uses; the
 * goal is < 0.5% (PERF.md), i.e. ratio <= 0.005.
 *
 * The window starts only after the stack has run P6_SETTLE_NS since it was ready and the
 * dk-bench process has been quiet P6_QUIET_NS (clients of earlier figures have gone), with
 * every service running. The STATUS exchanges happen before the first CPU reading (with
 * P6_AFTER_STATUS_NS for the supervisor to close the connection and journal) and after the last
 * one, so the supervisor's work answering them is not counted. A service restarting during
 * the window (another pid or generation in the second STATUS) is a failed measurement, as is
 * any service not running.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dk/runtime.h>
#include <dk/time.h>

#include "harness.h"
#include "stackbench.h"
#include "supervisor-client.h"

#define P6_SETTLE_NS (1000ull * DK_NSEC_PER_MSEC) /* after the stack became ready */
#define P6_QUIET_NS (200ull * DK_NSEC_PER_MSEC)   /* before every window */
#define P6_STATUS_NS (5ull * DK_NSEC_PER_SEC)
#define P6_AFTER_STATUS_NS (50ull * DK_NSEC_PER_MSEC) /* the supervisor finishing a STATUS */
#define P6_MAX_PROCS (DK_SUPD_SERVICES_MAX + 1u)

struct p6_proc {
	char name[DK_RT_NAME_MAX + 1];
	pid_t pid;
	uint64_t generation;
};

/* What the repetitions kept, for the notes: CPU time per process over every window. */
static struct {
	char names[P6_MAX_PROCS][DK_RT_NAME_MAX + 1];
	uint64_t cpu_ns[P6_MAX_PROCS];
	unsigned int n;
	uint64_t wall_ns;
	unsigned int windows;
	double loadavg[3];
	bool have_loadavg;
} p6;

/*
 * Every process of the stack: the supervisor first, then its services in manifest order, each
 * of which must be running. Returns the number of processes, or a negative errno with @error
 * filled in.
 */
static int list_procs(struct p6_proc *procs, struct bench_error *error)
{
	struct dk_service_status svc[DK_SUPD_SERVICES_MAX];
	char sock[DK_RT_PATH_MAX];
	uint32_t n = 0, i;
	int ret, k = 0;

	ret = dk_runtime_path(stackbench_runtime_dir(), DK_RT_SUPERVISOR_SOCKET, sock,
			      sizeof(sock));
	if (ret < 0)
		return bench_fail(error, ret, "supervisor socket path");
	ret = dk_supd_status(sock, dk_now_ns() + P6_STATUS_NS, svc, DK_SUPD_SERVICES_MAX, &n,
			     NULL);
	if (ret < 0)
		return bench_fail(error, ret, "dk_supd_status");
	if (n > DK_SUPD_SERVICES_MAX)
		return bench_fail(error, -E2BIG, "%u services", n);
	strcpy(procs[k].name, "supervisor");
	procs[k].pid = stackbench_supervisor_pid();
	procs[k].generation = 0;
	k++;
	for (i = 0; i < n; i++, k++) {
		if (svc[i].state != DK_SERVICE_RUNNING || svc[i].pid == 0)
			return bench_fail(error, -ESRCH, "service %s is %s, not running",
					  svc[i].name, dk_service_state_name(svc[i].state));
		snprintf(procs[k].name, sizeof(procs[k].name), "%.*s", DK_RT_NAME_MAX,
			 svc[i].name);
		procs[k].pid = (pid_t)svc[i].pid;
		procs[k].generation = svc[i].generation;
	}
	return k;
}

/* The CPU time of each of the @n processes, into @cpu_ns. */
static int read_cpu(const struct p6_proc *procs, int n, uint64_t *cpu_ns,
		    struct bench_error *error)
{
	int i, ret;

	for (i = 0; i < n; i++) {
		ret = bench_cpu_ns(procs[i].pid, &cpu_ns[i]);
		if (ret < 0)
			return bench_fail(error, ret, "CPU time of %s (pid %d)", procs[i].name,
					  (int)procs[i].pid);
	}
	return 0;
}

/* Add one window's CPU time of process @name to the notes. */
static void note_cpu(const char *name, uint64_t ns)
{
	unsigned int i;

	for (i = 0; i < p6.n; i++)
		if (strcmp(p6.names[i], name) == 0)
			break;
	if (i == p6.n) {
		if (p6.n == P6_MAX_PROCS)
			return;
		snprintf(p6.names[p6.n], sizeof(p6.names[0]), "%.*s", DK_RT_NAME_MAX, name);
		p6.n++;
	}
	p6.cpu_ns[i] += ns;
}

int bench_p6_stack_idle(const struct bench_opts *opts, struct bench_samples *dk_samples,
			struct bench_samples *base_samples, struct bench_error *error)
{
	struct p6_proc before[P6_MAX_PROCS], after[P6_MAX_PROCS];
	uint64_t cpu0[P6_MAX_PROCS], cpu1[P6_MAX_PROCS];
	uint64_t window_ns = (uint64_t)opts->iters * DK_NSEC_PER_MSEC, t0, t1, total = 0, ready;
	int n0, n1, i, ret;

	if (bench_samples_reserve(dk_samples, 1) < 0 || bench_samples_reserve(base_samples, 1) < 0)
		return bench_fail(error, -ENOMEM, "samples");
	ret = stackbench_start(error);
	if (ret < 0)
		return ret;
	ready = stackbench_started_ns() + P6_SETTLE_NS;
	if (dk_now_ns() < ready)
		bench_sleep_ns(ready - dk_now_ns());
	bench_sleep_ns(P6_QUIET_NS);
	if (!p6.have_loadavg)
		p6.have_loadavg = getloadavg(p6.loadavg, 3) == 3;

	/* The STATUS exchanges (the supervisor's work answering them) stay outside the window. */
	n0 = list_procs(before, error);
	if (n0 < 0)
		return n0;
	bench_sleep_ns(P6_AFTER_STATUS_NS);
	ret = read_cpu(before, n0, cpu0, error);
	if (ret < 0)
		return ret;
	t0 = dk_now_ns();
	bench_sleep_ns(window_ns);
	ret = read_cpu(before, n0, cpu1, error);
	t1 = dk_now_ns();
	if (ret < 0)
		return ret;
	n1 = list_procs(after, error);
	if (n1 < 0)
		return n1;

	if (n1 != n0)
		return bench_fail(error, -ECHILD, "the stack had %d processes, then %d", n0, n1);
	for (i = 0; i < n0; i++) {
		if (strcmp(before[i].name, after[i].name) != 0 || before[i].pid != after[i].pid ||
		    before[i].generation != after[i].generation)
			return bench_fail(error, -ECHILD,
					  "%s restarted during the window (pid %d -> %d)",
					  before[i].name, (int)before[i].pid, (int)after[i].pid);
		if (cpu1[i] < cpu0[i])
			return bench_fail(error, -EPROTO, "CPU time of %s went back",
					  before[i].name);
	}
	for (i = 0; i < n0; i++) {
		total += cpu1[i] - cpu0[i];
		note_cpu(before[i].name, cpu1[i] - cpu0[i]);
	}
	p6.wall_ns += t1 - t0;
	p6.windows++;
	bench_samples_push(dk_samples, (double)total / (double)DK_NSEC_PER_MSEC);
	bench_samples_push(base_samples, (double)(t1 - t0) / (double)DK_NSEC_PER_MSEC);
	return 0;
}

/* Notes: each process's share of one core over all windows, in percent, and the load. */
void bench_p6_notes(FILE *out, bool json)
{
	const char *names[P6_MAX_PROCS];
	double pct[P6_MAX_PROCS], sum = 0;
	unsigned int i;

	for (i = 0; i < p6.n; i++) {
		names[i] = p6.names[i];
		pct[i] = p6.wall_ns ? 100.0 * (double)p6.cpu_ns[i] / (double)p6.wall_ns : 0;
		sum += pct[i];
	}
	if (json) {
		bench_json_number(out, "percent_of_one_core", p6.wall_ns > 0, sum);
		bench_json_named_numbers(out, "percent_per_process", names, pct, p6.n);
		bench_json_uint(out, "processes", p6.n);
		bench_json_uint(out, "windows", p6.windows);
		bench_json_array(out, "loadavg", p6.loadavg, p6.have_loadavg ? 3 : 0);
		return;
	}
	if (!p6.wall_ns)
		return;
	fprintf(out, "    %u processes, %u windows: %.4f%% of one core in total\n", p6.n,
		p6.windows, sum);
	for (i = 0; i < p6.n; i++)
		fprintf(out, "      %-12s %.4f%%\n", names[i], pct[i]);
	if (p6.have_loadavg)
		fprintf(out, "    load average %.2f %.2f %.2f\n", p6.loadavg[0], p6.loadavg[1],
			p6.loadavg[2]);
}

const struct bench_baseline bench_baseline_one_core = {
	.name = "one-core",
	.description = "the window's wall time: the CPU time one core offers meanwhile, ms",
	.run_rep = NULL,
};
