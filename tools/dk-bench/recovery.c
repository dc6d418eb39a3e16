/* SPDX-License-Identifier: MIT */
/*
 * R1 and R2: what a driver crash costs (issue "runtime": death-to-all-waiters-woken and
 * restart-to-ready, measured through the real stack).
 *
 * Both run on a stack of their own (dk-supervisor, dk-logd, dk-policyd, dk-broker, dk-null),
 * started once per dk-bench run in a private runtime directory with DK_STACK_FAST_RESTART: a
 * crashed service is restarted after 1 ms and no number of crashes reaches the crash-loop limit,
 * so a repetition can kill dk-null opts->iters times. The stack of the other figures is never
 * disturbed.
 *
 * R1, death -> every waiter woken. RC_WAITERS client processes each open null0 through the
 * broker, register an input fence (a gate never signalled), create a Normal queue and park one
 * NOP behind the gate; the session's STATS says the service took it. Each then blocks in
 * dk_ring_wait_cqe() on its queue. Once every waiter is asleep (its state in /proc is S), the
 * parent reads dk-null's pid from the supervisor (STATUS), notes the time and SIGKILLs it. The
 * supervisor sees the death, fails every fence dk-null registered with reason driver-crashed, and
 * each waiter wakes with -ENODEV (checked, with the reason) and notes the time. The sample is
 * the last waiter's wake-up minus the kill, in microseconds. The waiters then reopen the device
 * (dk_device_reopen(): the next generation, retried while dk-null restarts) and park again for
 * the next round; the notes give death -> every client reopened.
 *
 * Baseline "pidfd-death": the same RC_WAITERS processes, each blocked in poll() on a pidfd of a
 * sleeping process the parent forked (pidfd_open(2)), woken by the kernel when the parent
 * SIGKILLs it: the kernel's own death notice reaching every waiter, one hop. DriverKit's path is
 * two: the kernel tells the supervisor, the supervisor fails the fences.
 *
 * Goal: R1 <= 10 ms ("within milliseconds", DESIGN.md); the ratio to the baseline is reported.
 *
 * R2, restart -> ready: dk-null SIGKILLed with no client; the sample is the supervisor's
 * restart-to-ready of the new start (STATUS last_ready_ns: the death's detection to the new
 * process's READY, which includes the 1 ms restart delay), read once STATUS shows the next
 * generation running. Baseline "exec-dk-null": fork and exec the same dk-null binary with
 * --help and reap it (process creation, the loader and libdk's relocations, exit): the floor of
 * starting that program at all. Goal: R2 <= 100 ms, the supervisor's default first restart delay
 * (restart_delay_ms): the service itself is never the longer part of a restart.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dk/client.h>
#include <dk/error.h>
#include <dk/fence.h>
#include <dk/qos.h>
#include <dk/rights.h>
#include <dk/ring.h>
#include <dk/time.h>

#include "harness.h"
#include "stack.h"
#include "stackbench.h"
#include "supervisor-client.h"

#define RC_WAITERS 4u
#define RC_MAX_ROUNDS 1000u
#define RC_WAIT_NS (5ull * DK_NSEC_PER_SEC) /* any one step of a round */
#define RC_TICK_NS (50ull * DK_NSEC_PER_USEC)
#define RC_GATE_DATA 0x4741544500000000ull

/* Shared by the parent and the waiters; per round, so nothing is reset while read. */
struct rc_page {
	_Atomic uint32_t failed;
	_Atomic uint64_t parked[RC_WAITERS]; /* rounds this waiter is parked for */
	_Atomic uint64_t victim[RC_MAX_ROUNDS]; /* baseline: the pid of the round's victim */
	_Atomic uint64_t woke_ns[RC_WAITERS][RC_MAX_ROUNDS];
	_Atomic uint64_t back_ns[RC_WAITERS][RC_MAX_ROUNDS]; /* R1: reopened, queue ready again */
};

struct rc_arg {
	struct rc_page *page;
	unsigned int k;
	unsigned int rounds;
};

/* What the repetitions kept, for the notes. */
static struct {
	double back_us[RC_MAX_ROUNDS]; /* R1: death -> the last waiter reopened */
	unsigned int n_back;
	double kill_to_running_us[RC_MAX_ROUNDS]; /* R2: kill -> STATUS shows the new start */
	unsigned int n_running;
} rc_notes;

static struct dk_stack rc_stack;
static bool rc_started;

static int rc_start(struct bench_error *error)
{
	int err;

	if (rc_started)
		return 0;
	err = stackbench_start_private(&rc_stack, "/tmp/dk-bench-crash-XXXXXX",
				       DK_STACK_FAST_RESTART | DK_STACK_QUIET, error);
	rc_started = err == 0;
	return err;
}

/* The crash stack up, and room for a repetition's samples. */
static int rc_prepare(const struct bench_opts *opts, struct bench_samples *samples,
		      struct bench_error *error)
{
	int ret = rc_start(error);

	if (ret == 0 && bench_samples_reserve(samples, opts->iters) < 0)
		ret = bench_fail(error, -ENOMEM, "samples");
	return ret;
}

/* Wait until *@v >= @want (1: set at all), or a waiter failed; its value in @ret. */
static int rc_wait_for(const struct rc_page *page, _Atomic uint64_t *v, uint64_t want,
		       uint64_t deadline, uint64_t *ret)
{
	while ((*ret = atomic_load_explicit(v, memory_order_acquire)) < want) {
		if (atomic_load_explicit(&page->failed, memory_order_relaxed))
			return -ECANCELED;
		if (dk_now_ns() >= deadline)
			return -ETIMEDOUT;
		bench_sleep_ns(RC_TICK_NS);
	}
	return 0;
}

/* Wait until the main thread of @pid sleeps (state S in /proc/<pid>/stat). */
static int rc_wait_asleep(pid_t pid, uint64_t deadline)
{
	char path[64], buf[512];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n;
		char *p;

		if (fd < 0)
			return -errno;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return n < 0 ? -errno : -EPROTO;
		buf[n] = '\0';
		p = strrchr(buf, ')');
		if (!p || p[1] != ' ')
			return -EPROTO;
		if (p[2] == 'S')
			return 0;
		if (dk_now_ns() >= deadline)
			return -ETIMEDOUT;
		bench_sleep_ns(RC_TICK_NS);
	}
}

/* Every waiter parked for round @r and asleep. */
static int rc_wait_parked(struct rc_page *page, const struct bench_peer *peers, unsigned int r,
			  struct bench_error *error)
{
	uint64_t deadline = dk_now_ns() + RC_WAIT_NS, seen;
	unsigned int k;
	int ret;

	for (k = 0; k < RC_WAITERS; k++) {
		ret = rc_wait_for(page, &page->parked[k], r + 1, deadline, &seen);
		if (ret == 0)
			ret = rc_wait_asleep(peers[k].pid, deadline);
		if (ret < 0)
			return bench_fail(error, ret, "round %u: waiter %u parking", r, k);
	}
	return 0;
}

/* Every waiter woken in round @r; returns the last wake-up's time in @ret_last. */
static int rc_wait_woken(struct rc_page *page, unsigned int r, uint64_t *ret_last,
			 struct bench_error *error)
{
	uint64_t deadline = dk_now_ns() + RC_WAIT_NS, last = 0, t;
	unsigned int k;

	for (k = 0; k < RC_WAITERS; k++) {
		int ret = rc_wait_for(page, &page->woke_ns[k][r], 1, deadline, &t);

		if (ret < 0)
			return bench_fail(error, ret, "round %u: waiter %u woken", r, k);
		if (t > last)
			last = t;
	}
	*ret_last = last;
	return 0;
}

/* dk-null's entry in the supervisor's STATUS. */
static int rc_null_status(struct dk_service_status *ret, struct bench_error *error)
{
	struct dk_service_status svc[DK_SUPD_SERVICES_MAX];
	char sock[DK_RT_PATH_MAX];
	uint32_t n = 0, i;
	int err;

	err = dk_runtime_path(rc_stack.runtime_dir, DK_RT_SUPERVISOR_SOCKET, sock, sizeof(sock));
	if (err == 0)
		err = dk_supd_status(sock, dk_now_ns() + RC_WAIT_NS, svc, DK_SUPD_SERVICES_MAX, &n,
				     NULL);
	if (err < 0)
		return bench_fail(error, err, "dk_supd_status");
	for (i = 0; i < n && i < DK_SUPD_SERVICES_MAX; i++) {
		if (strcmp(svc[i].name, "null") == 0) {
			*ret = svc[i];
			return 0;
		}
	}
	return bench_fail(error, -ENOENT, "no service null in STATUS");
}

/* ---- R1: the waiters ---- */

/* A gate fence, a Normal queue, one NOP parked behind the gate and taken by the service. */
static int rc_park(struct dk_device *dev, struct dk_fence **ret_gate, struct dk_ring **ret_ring,
		   uint64_t *ret_ticket)
{
	const struct dk_ring_params p = {.sq_entries = 8, .cq_entries = 8, .qos = DK_QOS_NORMAL};
	uint64_t dl = dk_now_ns() + RC_WAIT_NS;
	struct dk_session_stats ss;
	struct dk_sqe *sqe;
	uint32_t gate_index;
	int err;

	err = dk_fence_create(0, ret_gate);
	if (err == 0)
		err = dk_device_register_fence(dev, *ret_gate, DK_RIGHT_WAIT | DK_RIGHT_TRANSFER, dl,
					       &gate_index);
	if (err == 0)
		err = dk_device_create_queue(dev, &p, dl, ret_ring);
	if (err < 0)
		return err;
	sqe = dk_ring_get_sqe(*ret_ring, ret_ticket);
	if (!sqe)
		return -ENOSPC;
	sqe->opcode = DK_OP_NOP;
	sqe->user_data = RC_GATE_DATA;
	sqe->n_waits = 1;
	sqe->wait[0].index = gate_index;
	sqe->wait[0].point = 1;
	err = dk_ring_submit(*ret_ring);
	if (err != 1)
		return err < 0 ? err : -EPROTO;
	/* Answered once the service took what was published before it. */
	err = dk_device_stats(dev, dl, &ss);
	if (err == 0 && ss.inflight != 1)
		err = -EPROTO;
	return err;
}

static int rc_waiter(void *arg, struct bench_error *error)
{
	const struct rc_arg *a = arg;
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_fence *gate = NULL;
	struct dk_ring *ring = NULL;
	uint64_t ticket = 0, gen;
	uint32_t reason = 0;
	struct dk_cqe cqe;
	unsigned int r;
	int err;

	err = dk_client_connect(rc_stack.runtime_dir, dk_now_ns() + RC_WAIT_NS, &c);
	if (err < 0) {
		bench_fail(error, err, "waiter %u: dk_client_connect", a->k);
		goto out;
	}
	err = dk_device_open(c, "null0", dk_now_ns() + RC_WAIT_NS, &dev);
	if (err < 0) {
		bench_fail(error, err, "waiter %u: dk_device_open(null0)", a->k);
		goto out;
	}
	for (r = 0; r < a->rounds; r++) {
		err = rc_park(dev, &gate, &ring, &ticket);
		if (err < 0) {
			bench_fail(error, err, "waiter %u, round %u: parking a job", a->k, r);
			goto out;
		}
		gen = dk_device_generation(dev);
		atomic_store_explicit(&a->page->parked[a->k], r + 1, memory_order_release);

		/* Asleep here until the reaper fails the queue's fence. */
		err = dk_ring_wait_cqe(ring, &cqe, dk_now_ns() + RC_WAIT_NS);
		atomic_store_explicit(&a->page->woke_ns[a->k][r], dk_now_ns(),
				      memory_order_release);
		if (err != -ENODEV) {
			bench_fail(error, err < 0 ? err : -EPROTO,
				   "waiter %u, round %u: the wait ended with %d, not -ENODEV", a->k,
				   r, err);
			goto out;
		}
		err = dk_fence_status(dk_ring_fence(ring), ticket, &reason);
		if (err != -ENODEV || reason != DK_REASON_DRIVER_CRASHED) {
			bench_fail(error, -EPROTO, "waiter %u, round %u: fence status %d reason %u",
				   a->k, r, err, reason);
			goto out;
		}
		dk_device_destroy_queue(dev, ring, dk_now_ns() + RC_WAIT_NS);
		ring = NULL;
		dk_fence_unref(gate);
		gate = NULL;
		err = dk_device_reopen(dev, dk_now_ns() + RC_WAIT_NS);
		if (err == 0 && dk_device_generation(dev) <= gen)
			err = -EPROTO;
		if (err < 0) {
			bench_fail(error, err, "waiter %u, round %u: dk_device_reopen", a->k, r);
			goto out;
		}
		atomic_store_explicit(&a->page->back_ns[a->k][r], dk_now_ns(),
				      memory_order_release);
	}
	err = 0;
out:
	if (ring)
		dk_device_destroy_queue(dev, ring, dk_now_ns() + RC_WAIT_NS);
	dk_fence_unref(gate);
	dk_device_close(dev);
	dk_client_close(c);
	if (err < 0)
		atomic_store_explicit(&a->page->failed, 1, memory_order_relaxed);
	return err;
}

/* The waiters of one repetition, and the page they share. */
static int rc_begin(const struct bench_opts *opts, bench_child_fn fn, struct rc_page **ret_page,
		    struct rc_arg *args, struct bench_peer *peers, struct bench_error *error)
{
	struct rc_page *page;
	unsigned int k;
	int ret = 0;

	memset(peers, 0, RC_WAITERS * sizeof(*peers));
	if (opts->iters > RC_MAX_ROUNDS)
		return bench_fail(error, -E2BIG, "at most %u rounds", RC_MAX_ROUNDS);
	page = mmap(NULL, sizeof(*page), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		    0);
	if (page == MAP_FAILED)
		return bench_fail(error, -errno, "mmap");
	memset(page, 0, sizeof(*page));
	for (k = 0; k < RC_WAITERS && ret == 0; k++) {
		args[k] = (struct rc_arg){.page = page, .k = k, .rounds = opts->iters};
		ret = bench_peer_start(opts, fn, &args[k], &peers[k], error);
	}
	*ret_page = page;
	return ret;
}

static int rc_end(struct rc_page *page, struct bench_peer *peers, int ret,
		  struct bench_error *error)
{
	unsigned int k;

	if (ret < 0)
		atomic_store_explicit(&page->failed, 1, memory_order_relaxed);
	for (k = 0; k < RC_WAITERS; k++)
		if (bench_peer_finish(&peers[k], ret < 0, error) < 0 && ret == 0)
			ret = -EIO;
	munmap(page, sizeof(*page));
	return ret;
}

int bench_r1_death_to_woken(const struct bench_opts *opts, struct bench_samples *samples,
			    struct bench_error *error)
{
	struct bench_peer peers[RC_WAITERS];
	struct rc_arg args[RC_WAITERS];
	struct dk_service_status null;
	struct rc_page *page = NULL;
	uint64_t t_kill, last, back;
	unsigned int r, k;
	int ret;

	ret = rc_prepare(opts, samples, error);
	if (ret < 0)
		return ret;
	ret = rc_begin(opts, rc_waiter, &page, args, peers, error);
	for (r = 0; r < opts->iters && ret == 0; r++) {
		ret = rc_wait_parked(page, peers, r, error);
		if (ret == 0)
			ret = rc_null_status(&null, error);
		if (ret == 0 && null.pid == 0)
			ret = bench_fail(error, -ESRCH, "round %u: dk-null not running", r);
		if (ret < 0)
			break;
		t_kill = dk_now_ns();
		if (kill((pid_t)null.pid, SIGKILL) < 0) {
			ret = bench_fail(error, -errno, "kill(dk-null %u)", null.pid);
			break;
		}
		ret = rc_wait_woken(page, r, &last, error);
		if (ret < 0)
			break;
		bench_samples_push(samples, (double)(last - t_kill) / 1e3);
		/* Death -> every waiter reopened: the notes. */
		back = 0;
		for (k = 0; k < RC_WAITERS && ret == 0; k++) {
			ret = rc_wait_for(page, &page->back_ns[k][r], 1, t_kill + RC_WAIT_NS, &last);
			if (ret < 0)
				bench_fail(error, ret, "round %u: waiter %u reopening", r, k);
			else if (last > back)
				back = last;
		}
		if (ret == 0 && rc_notes.n_back < RC_MAX_ROUNDS)
			rc_notes.back_us[rc_notes.n_back++] = (double)(back - t_kill) / 1e3;
	}
	return rc_end(page, peers, ret, error);
}

/* ---- R1's baseline: the kernel's death notice through a pidfd ---- */

static int rc_pidfd_waiter(void *arg, struct bench_error *error)
{
	const struct rc_arg *a = arg;
	unsigned int r;
	int ret = 0;

	for (r = 0; r < a->rounds && ret == 0; r++) {
		uint64_t deadline = dk_now_ns() + RC_WAIT_NS;
		struct pollfd pfd = {.events = POLLIN};
		uint64_t victim;

		ret = rc_wait_for(a->page, &a->page->victim[r], 1, deadline, &victim);
		if (ret < 0)
			return bench_fail(error, ret, "waiter %u: the victim's pid", a->k);
		pfd.fd = (int)syscall(SYS_pidfd_open, (pid_t)victim, 0);
		if (pfd.fd < 0)
			return bench_fail(error, -errno, "waiter %u: pidfd_open(%d)", a->k,
					  (int)victim);
		atomic_store_explicit(&a->page->parked[a->k], r + 1, memory_order_release);
		ret = poll(&pfd, 1, (int)(RC_WAIT_NS / DK_NSEC_PER_MSEC));
		atomic_store_explicit(&a->page->woke_ns[a->k][r], dk_now_ns(),
				      memory_order_release);
		close(pfd.fd);
		ret = ret == 1 ? 0 : bench_fail(error, ret < 0 ? -errno : -ETIMEDOUT,
						"waiter %u: poll(pidfd)", a->k);
	}
	return ret;
}

static int rc_pidfd_rep(const struct bench_opts *opts, struct bench_samples *samples,
			struct bench_error *error)
{
	struct bench_peer peers[RC_WAITERS];
	struct rc_arg args[RC_WAITERS];
	struct rc_page *page = NULL;
	pid_t parent = getpid();
	uint64_t t_kill, last;
	unsigned int r;
	int ret;

	if (bench_samples_reserve(samples, opts->iters) < 0)
		return bench_fail(error, -ENOMEM, "samples");
	ret = rc_begin(opts, rc_pidfd_waiter, &page, args, peers, error);
	for (r = 0; r < opts->iters && ret == 0; r++) {
		pid_t victim = fork();

		if (victim < 0) {
			ret = bench_fail(error, -errno, "fork");
			break;
		}
		if (victim == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(1);
			for (;;)
				pause();
		}
		atomic_store_explicit(&page->victim[r], (uint64_t)victim, memory_order_release);
		ret = rc_wait_parked(page, peers, r, error);
		if (ret == 0)
			ret = rc_wait_asleep(victim, dk_now_ns() + RC_WAIT_NS);
		t_kill = dk_now_ns();
		kill(victim, SIGKILL);
		if (ret == 0)
			ret = rc_wait_woken(page, r, &last, error);
		waitpid(victim, NULL, 0);
		if (ret == 0)
			bench_samples_push(samples, (double)(last - t_kill) / 1e3);
	}
	return rc_end(page, peers, ret, error);
}

/* ---- R2: restart -> ready ---- */

int bench_r2_restart_to_ready(const struct bench_opts *opts, struct bench_samples *samples,
			      struct bench_error *error)
{
	struct dk_service_status before, now;
	uint64_t t_kill, deadline;
	unsigned int r;
	int ret;

	ret = rc_prepare(opts, samples, error);
	if (ret < 0)
		return ret;
	for (r = 0; r < opts->iters; r++) {
		ret = rc_null_status(&before, error);
		if (ret < 0)
			return ret;
		if (before.state != DK_SERVICE_RUNNING || before.pid == 0)
			return bench_fail(error, -ESRCH, "dk-null is %s",
					  dk_service_state_name(before.state));
		t_kill = dk_now_ns();
		if (kill((pid_t)before.pid, SIGKILL) < 0)
			return bench_fail(error, -errno, "kill(dk-null %u)", before.pid);
		deadline = t_kill + RC_WAIT_NS;
		for (;;) {
			ret = rc_null_status(&now, error);
			if (ret < 0)
				return ret;
			if (now.generation > before.generation && now.state == DK_SERVICE_RUNNING &&
			    now.last_ready_ns)
				break;
			if (dk_now_ns() >= deadline)
				return bench_fail(error, -ETIMEDOUT, "dk-null not back (state %s)",
						  dk_service_state_name(now.state));
			bench_sleep_ns(RC_TICK_NS);
		}
		bench_samples_push(samples, (double)now.last_ready_ns / 1e3);
		if (rc_notes.n_running < RC_MAX_ROUNDS)
			rc_notes.kill_to_running_us[rc_notes.n_running++] =
				(double)(dk_now_ns() - t_kill) / 1e3;
	}
	return 0;
}

/* ---- R2's baseline: starting the dk-null binary at all ---- */

static int rc_exec_rep(const struct bench_opts *opts, struct bench_samples *samples,
		       struct bench_error *error)
{
	char exe[4096];
	unsigned int r;
	int ret, status;

	ret = dk_stack_find_bin("dk-null", exe, sizeof(exe));
	if (ret < 0)
		return bench_fail(error, ret, "finding dk-null");
	if (bench_samples_reserve(samples, opts->iters) < 0)
		return bench_fail(error, -ENOMEM, "samples");
	for (r = 0; r < opts->iters; r++) {
		uint64_t t0 = dk_now_ns();
		pid_t pid = fork();

		if (pid < 0)
			return bench_fail(error, -errno, "fork");
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			if (null >= 0) {
				dup2(null, STDOUT_FILENO);
				dup2(null, STDERR_FILENO);
			}
			execl(exe, "dk-null", "--help", (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0)
			return bench_fail(error, -errno, "waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			return bench_fail(error, -ECHILD, "dk-null --help: status %#x", status);
		bench_samples_push(samples, (double)(dk_now_ns() - t0) / 1e3);
	}
	return 0;
}

static void rc_print_array(FILE *out, bool json, const char *key, const char *what,
			   const double *v, unsigned int n)
{
	struct bench_samples s = {0};
	struct bench_summary sum;
	unsigned int i;

	if (json) {
		bench_json_array(out, key, v, n);
		return;
	}
	if (n == 0 || bench_samples_reserve(&s, n) < 0)
		return;
	for (i = 0; i < n; i++)
		bench_samples_push(&s, v[i]);
	if (bench_summarize(&s, &sum) == 0)
		fprintf(out, "    %s: median %.1f us, p99 %.1f us, max %.1f us (%u)\n", what,
			sum.median, sum.p99, sum.max, n);
	bench_samples_finish(&s);
}

void bench_r1_notes(FILE *out, bool json)
{
	if (json)
		bench_json_uint(out, "waiters", RC_WAITERS);
	else
		fprintf(out, "    %u waiter processes, one parked job each\n", RC_WAITERS);
	rc_print_array(out, json, "death_to_reopened_us", "death -> every waiter reopened",
		       rc_notes.back_us, rc_notes.n_back);
}

void bench_r2_notes(FILE *out, bool json)
{
	rc_print_array(out, json, "kill_to_status_running_us",
		       "kill -> STATUS seen running (50 us polls)", rc_notes.kill_to_running_us,
		       rc_notes.n_running);
}

const struct bench_baseline bench_baseline_pidfd_death = {
	.name = "pidfd-death",
	.description = "the same number of processes polling a pidfd of a sleeping process, "
		       "woken by its SIGKILL: the kernel's own death notice, one hop",
	.run_rep = rc_pidfd_rep,
};

const struct bench_baseline bench_baseline_exec_dk_null = {
	.name = "exec-dk-null",
	.description = "fork, exec dk-null --help and reap it: starting the binary at all",
	.run_rep = rc_exec_rep,
};
