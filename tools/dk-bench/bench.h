/* SPDX-License-Identifier: MIT */
/*
 * dk-bench - what a figure, a baseline and the harness share.
 *
 * A figure (P1..P9, docs/performance.md) is one entry of the table in figures.c: its id, what it
 * measures, the baseline it is compared with, its goal, and one function that runs one
 * repetition of the DriverKit measurement. The harness (main.c) alternates baseline and
 * DriverKit repetitions in one run, so that machine drift affects both, and computes the
 * figures. Adding a figure is one table entry and one function.
 */
#ifndef DK_BENCH_H
#define DK_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "stats.h"

/* Every wait of a benchmark gives up after this long: a lost wake-up is an error, not a hang. */
#define BENCH_WAIT_NS (1000ull * 1000ull * 1000ull)

/* The options of one run, read-only for figures. */
struct bench_opts {
	unsigned int reps;  /* repetitions of each side */
	unsigned int iters; /* measured iterations per repetition */
	bool quick;         /* CI smoke mode: short, prove it works */
	bool pin;           /* parent on CPU 0, peer process on CPU 1 */
	bool json;
};

/* A failure, with the text the output shows in its "error" field. */
struct bench_error {
	char msg[256];
};

/* Record an error (the first one sticks) and return @err, a negative errno. */
int bench_fail(struct bench_error *error, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * One repetition: run @opts->iters measured iterations (after the warm-up the function picks)
 * and append one sample per iteration to @samples, in the figure's unit.
 * Returns 0, or a negative errno with @error filled in.
 */
typedef int (*bench_rep_fn)(const struct bench_opts *opts, struct bench_samples *samples,
			    struct bench_error *error);

/* A reference measurement of what the machine can do, made without DriverKit. */
struct bench_baseline {
	const char *name; /* stable, printed in the output: "futex-wake" */
	const char *description;
	bench_rep_fn run_rep;
};

/* How a figure is judged. */
enum bench_goal_kind {
	BENCH_GOAL_AT_MOST,  /* latency-like: ratio DriverKit / baseline <= goal */
	BENCH_GOAL_AT_LEAST, /* throughput-like: ratio DriverKit / baseline >= goal */
	BENCH_GOAL_VALUE_AT_MOST, /* the DriverKit median itself <= goal, in the figure's unit;
				   * the ratio is reported only with show_ratio (else null) */
};

/*
 * One repetition that measures both sides at once, for figures whose baseline is a by-product
 * of the same measurement (P7: the RSS at warm-up). Appends to both sample sets.
 */
typedef int (*bench_pair_fn)(const struct bench_opts *opts, struct bench_samples *dk_samples,
			     struct bench_samples *base_samples, struct bench_error *error);

/*
 * A second reference a figure must beat by a factor (P5: pushing 64 MiB through a socket).
 * It runs as a third side, interleaved with the other two. Its median is printed in the JSON
 * as @field, and @ratio_field = its median / the DriverKit median, which must be >= @goal.
 */
struct bench_extra {
	const char *name;        /* "socket-64mib" */
	const char *field;       /* "socket_64mib_us" */
	const char *ratio_field; /* "socket_speedup" */
	double goal;
	bench_rep_fn run_rep;
};

struct bench_figure;

/*
 * A figure that runs and prints itself (P8: one line per QoS class and a summary line).
 * Returns 0 when everything was measured, or a negative errno.
 */
typedef int (*bench_custom_fn)(const struct bench_figure *fig, const struct bench_opts *opts,
			       FILE *out);

/*
 * What a figure adds to its output from what its repetitions kept (P6: CPU per process, P9:
 * each client's count): JSON members, each written with a leading ", " (bench_json_*(), placed
 * before "error"), or, when !@json, indented lines of text. Called once, after the figure ran
 * (also after a failure: print what was measured).
 */
typedef void (*bench_notes_fn)(FILE *out, bool json);

struct bench_figure {
	const char *id;   /* "P4" */
	const char *name; /* what is measured, one line */
	const char *unit; /* "us" */
	const struct bench_baseline *baseline;
	enum bench_goal_kind goal_kind;
	double goal; /* the ratio DriverKit / baseline must meet (or the value, see above) */
	unsigned int default_iters;
	unsigned int quick_iters; /* iterations in --quick mode; 0: the tool's default */
	bench_rep_fn run_rep;
	bench_pair_fn run_pair;       /* instead of run_rep and baseline->run_rep, optional */
	const struct bench_extra *extra; /* optional */
	bench_custom_fn run_custom;   /* instead of the harness, optional */
	bench_notes_fn notes;         /* extra output, optional */
	bool show_ratio; /* BENCH_GOAL_VALUE_AT_MOST: the ratio to the baseline means something */
	const char *subject; /* what run_rep measures, when it is not DriverKit (NULL: "driverkit") */
};

/* What a figure's run_rep measures: fig->subject, or "driverkit". */
static inline const char *bench_subject(const struct bench_figure *fig)
{
	return fig->subject ? fig->subject : "driverkit";
}

/* The figures, in the order they run (figures.c). */
extern const struct bench_figure bench_figures[];
extern const size_t bench_n_figures;

/* Baselines (baselines.c, uring.c, socket.c). */
extern const struct bench_baseline bench_baseline_futex_wake;
extern const struct bench_baseline bench_baseline_spin_wake;
extern const struct bench_baseline bench_baseline_futex_roundtrip;
extern const struct bench_baseline bench_baseline_futex_roundtrip_idle;
extern const struct bench_baseline bench_baseline_spin_roundtrip;
extern const struct bench_baseline bench_baseline_uring_nop32;
extern const struct bench_baseline bench_baseline_raw_engine_roundtrip;      /* rawcopy.c */
extern const struct bench_baseline bench_baseline_raw_engine_spin_roundtrip;
extern const struct bench_baseline bench_baseline_raw_engine_batch32;
extern const struct bench_baseline bench_baseline_small_buffer_job;
extern const struct bench_baseline bench_baseline_rss_warmup;
extern const struct bench_baseline bench_baseline_qos_frugal;
extern const struct bench_baseline bench_baseline_one_core;   /* P6, idle.c */
extern const struct bench_baseline bench_baseline_each_other; /* P9, fairness.c */
extern const struct bench_baseline bench_baseline_pidfd_death; /* R1, recovery.c */
extern const struct bench_baseline bench_baseline_exec_dk_null; /* R2, recovery.c */
extern const struct bench_extra bench_extra_socket_64mib;

/*
 * Where the queue of a ring figure's repetition lives (ring.c): a forked null service
 * (nullsvc.h), null0 of the real stack, or copy0 of the real stack (stackbench.h; its jobs are
 * COPYs of @copy_len bytes between two registered buffers of BENCH_COPY_BUF_BYTES, checked
 * byte for byte once when the queue opens: bench_copy_check()).
 */
enum bench_queue_kind {
	BENCH_QUEUE_NULLSVC,
	BENCH_QUEUE_STACK_NULL,
	BENCH_QUEUE_STACK_COPY,
};

/*
 * Where a round trip's time went, from the completion's time stamps (dk_cqe t_taken_ns,
 * t_started_ns, t_completed_ns; CLOCK_MONOTONIC in every process), in microseconds: one sample
 * per measured round trip in each phase.
 */
struct bench_phases {
	struct bench_samples to_taken;     /* the client's submit -> the service took the job */
	struct bench_samples to_started;   /* taken -> handed to the device class (the service
					    * stamps both with the pass's clock reading) */
	struct bench_samples to_completed; /* started -> the service published the completion
					    * (dk_ring_publish() stamps t_completed_ns) */
	struct bench_samples to_client;    /* published -> the completion in the client's hands */
};

struct bench_queue {
	enum bench_queue_kind kind;
	uint64_t copy_len; /* BENCH_QUEUE_STACK_COPY: divides BENCH_COPY_BUF_BYTES */
	struct bench_phases *phases; /* optional: bench_roundtrip_rep() records phases here */
};

#define BENCH_COPY_BUF_BYTES (64u * 1024u)

extern const struct bench_queue bench_queue_nullsvc;
extern const struct bench_queue bench_queue_stack_null;

/*
 * bench_roundtrip_rep - one repetition of a round-trip figure (P1, P1-idle, P2, P1-stack,
 * P2-stack, P1-copy): a ring of QoS @qos on @what, @gap_ns of busy-waiting before each job.
 */
int bench_roundtrip_rep(const struct bench_opts *opts, uint32_t qos, uint64_t gap_ns,
			const struct bench_queue *what, struct bench_samples *samples,
			struct bench_error *error);

/* bench_batch_rep - one repetition of a batch-32 throughput figure (P3, P3-stack, P3-copy). */
int bench_batch_rep(const struct bench_opts *opts, const struct bench_queue *what,
		    struct bench_samples *samples, struct bench_error *error);

struct stackbench_client;

/*
 * bench_copy_check - one COPY of @len bytes of a pattern through the client's queue (copyeng.c),
 * checked byte for byte: the copy figures measure copies that happen. Returns 0 or -errno.
 */
int bench_copy_check(struct stackbench_client *client, uint64_t len, struct bench_error *error);

/* DriverKit measurements, one per figure. */
int bench_p1_roundtrip_normal(const struct bench_opts *opts, struct bench_samples *samples,
			      struct bench_error *error);
int bench_p1_roundtrip_idle(const struct bench_opts *opts, struct bench_samples *samples,
			    struct bench_error *error);
int bench_p2_roundtrip_burst(const struct bench_opts *opts, struct bench_samples *samples,
			     struct bench_error *error);
int bench_p1_stack(const struct bench_opts *opts, struct bench_samples *samples,
		   struct bench_error *error);
int bench_p2_stack(const struct bench_opts *opts, struct bench_samples *samples,
		   struct bench_error *error);
int bench_p3_stack(const struct bench_opts *opts, struct bench_samples *samples,
		   struct bench_error *error);
int bench_p3_batch32(const struct bench_opts *opts, struct bench_samples *samples,
		     struct bench_error *error);
int bench_p4_fence_wake(const struct bench_opts *opts, struct bench_samples *samples,
			struct bench_error *error);
int bench_p5_big_buffer_job(const struct bench_opts *opts, struct bench_samples *samples,
			    struct bench_error *error);
int bench_p5_small_buffer_job(const struct bench_opts *opts, struct bench_samples *samples,
			      struct bench_error *error);
int bench_p7_service_rss(const struct bench_opts *opts, struct bench_samples *dk_samples,
			 struct bench_samples *base_samples, struct bench_error *error);
int bench_p8_qos(const struct bench_figure *fig, const struct bench_opts *opts, FILE *out);
int bench_p1_copy(const struct bench_opts *opts, struct bench_samples *samples,
		  struct bench_error *error);
int bench_p2_copy(const struct bench_opts *opts, struct bench_samples *samples,
		  struct bench_error *error);
int bench_p3_copy(const struct bench_opts *opts, struct bench_samples *samples,
		  struct bench_error *error);
int bench_p3_copy_relay(const struct bench_opts *opts, struct bench_samples *samples,
			struct bench_error *error); /* rawcopy.c */
void bench_p1_copy_notes(FILE *out, bool json);
int bench_p6_stack_idle(const struct bench_opts *opts, struct bench_samples *dk_samples,
			struct bench_samples *base_samples, struct bench_error *error);
void bench_p6_notes(FILE *out, bool json);
int bench_p9_fairness_null(const struct bench_opts *opts, struct bench_samples *dk_samples,
			   struct bench_samples *base_samples, struct bench_error *error);
int bench_p9_fairness_copy(const struct bench_opts *opts, struct bench_samples *dk_samples,
			   struct bench_samples *base_samples, struct bench_error *error);
int bench_p9_fairness_burst(const struct bench_opts *opts, struct bench_samples *dk_samples,
			    struct bench_samples *base_samples, struct bench_error *error);
void bench_p9_null_notes(FILE *out, bool json);
void bench_p9_burst_notes(FILE *out, bool json);
void bench_p9_copy_notes(FILE *out, bool json);
int bench_r1_death_to_woken(const struct bench_opts *opts, struct bench_samples *samples,
			    struct bench_error *error);
int bench_r2_restart_to_ready(const struct bench_opts *opts, struct bench_samples *samples,
			      struct bench_error *error);
void bench_r1_notes(FILE *out, bool json);
void bench_r2_notes(FILE *out, bool json);

/*
 * The gap of P1-idle: long enough that the service has given up its Normal QoS spin (20 us) and
 * sleeps when the next submission comes.
 */
#define BENCH_IDLE_GAP_NS (100ull * 1000ull)

/* bench_busy_wait - spin on the clock for @ns (0: return at once); never sleeps. */
void bench_busy_wait(uint64_t ns);

/* bench_sleep_ns - sleep @ns (nanosleep, resumed after a signal). */
void bench_sleep_ns(uint64_t ns);

/* Warm-up iterations a ping-pong repetition runs before it measures. */
unsigned int bench_warmup_iters(const struct bench_opts *opts);

/*
 * A peer process (proc.c). The child dies with its parent (PR_SET_PDEATHSIG), runs on CPU 1
 * when pinning, reports an error text through a shared page, and must be reaped with
 * bench_peer_finish().
 */
struct bench_peer_shared;

struct bench_peer {
	pid_t pid;
	struct bench_peer_shared *shared;
};

/* What the child runs; returns 0 or a negative errno with @error filled in. */
typedef int (*bench_child_fn)(void *arg, struct bench_error *error);

/*
 * bench_peer_start - fork a child that runs @fn(@arg) and exits.
 * Returns 0 in the parent with @ret_peer set; never returns in the child.
 */
int bench_peer_start(const struct bench_opts *opts, bench_child_fn fn, void *arg,
		     struct bench_peer *ret_peer, struct bench_error *error);

/*
 * bench_peer_finish - reap the child (killing it first when @kill_it, or when it does not exit
 * within a few seconds). Returns 0 if it exited cleanly, else a negative errno with @error
 * filled in from the child's report. Safe on a peer that was never started (pid 0).
 */
int bench_peer_finish(struct bench_peer *peer, bool kill_it, struct bench_error *error);

/* bench_pin_self - pin the calling thread to @cpu. Returns 0 or a negative errno. */
int bench_pin_self(int cpu);

/*
 * bench_cpu_ns - user + system CPU time consumed so far by process @pid (0: this process), in
 * nanoseconds: the process's CPU-time clock (clock_getcpuclockid()), or, if that fails,
 * utime + stime from /proc/<pid>/stat (clock ticks). Returns 0 or a negative errno.
 */
int bench_cpu_ns(pid_t pid, uint64_t *ret_ns);

/* bench_rss_kib - VmRSS of process @pid from /proc/<pid>/status. Returns 0 or -errno. */
int bench_rss_kib(pid_t pid, uint64_t *ret_kib);

#endif /* DK_BENCH_H */
