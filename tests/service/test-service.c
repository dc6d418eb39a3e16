/* SPDX-License-Identifier: MIT */
/*
 * libdk-service: the scheduler, the watchdog, device reset and per-client kill, through
 * dk-test-dev (its hardware is emulated in the service process; commands in test-dev.h).
 * Each test fork+execs the device service (path in $DK_TEST_DEV) with one end of a broker
 * channel in $DK_BROKER_FD and plays the broker (devctl SESSION, KILL_SESSION), as
 * tests/runtime/test-null.c does.
 *
 * Determinism. Order is observed, never time: the emulated hardware numbers the jobs it
 * finishes (the result of a job), and a test that checks an order holds the hardware with a
 * TD_OP_HOLD job until every competing job has been taken (a session request is answered only
 * after the service took what the session submitted before it: dk_device_stats()). Hangs and
 * lost interrupts are detected by the watchdog's time limits, which a test only waits for with
 * a generous deadline; nothing asserts how long anything took. Every wait has a deadline.
 *
 * Observables of a kill. The killed client cannot ask anything any more (its session is
 * closed), and another session's STATS shows only its own budget. So the tests read the
 * service's own counters (dk_svc_stats(), and the device's count of buffer_removed calls)
 * through TD_OP_STAT jobs of another session, and count the service's descriptors.
 */
#include <dirent.h>
#include <poll.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "test-dev.h"

#include <dk/dk.h>
#include <dk/service/device.h>
#include <dk/service/service.h>

#define DEADLINE() dk_deadline_in(30 * DK_NSEC_PER_SEC)
#define GENERATION 9u
#define BUF_SIZE 4096u
#define LONG_LIMITS "60000,60000,60000"
#define FENCE_IN (DK_RIGHT_WAIT | DK_RIGHT_TRANSFER)
#define FENCE_OUT (DK_RIGHT_SIGNAL | DK_RIGHT_WAIT | DK_RIGHT_TRANSFER)

static struct {
	pid_t pid;
	int broker;
	uint64_t next_session;
	uint64_t next_seq;
	struct dk_buffer_registry *reg;
} T;

/* ---- the service process ---- */

/* Start dk-test-dev with @slots hardware slots, @limits, @reset policy and extra @arg. */
static uint32_t real_slots; /* for the next start(): 0, or fewer than it declares */

static void start(uint32_t slots, const char *limits, const char *reset, const char *arg,
		  const char *env_threshold)
{
	const char *bin = getenv("DK_TEST_DEV");
	int sv[2];

	assert_non_null(bin);
	memset(&T, 0, sizeof(T));
	T.next_session = 0x5000;
	assert_int_equal(dk_buffer_registry_create(NULL, &T.reg), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	T.pid = fork();
	assert_true(T.pid >= 0);
	if (T.pid == 0) {
		char num[16], n_slots[16];
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = dup(sv[1]); /* without CLOEXEC */
		if (fd < 0)
			_exit(127);
		snprintf(num, sizeof(num), "%d", fd);
		snprintf(n_slots, sizeof(n_slots), "%u", slots);
		unsetenv(DK_ENV_SUPERVISOR_FD);
		unsetenv(DK_ENV_RUNTIME_DIR);
		setenv(DK_ENV_BROKER_FD, num, 1);
		setenv(DK_ENV_DEVICE, "test0", 1);
		setenv(DK_ENV_SERVICE, "test", 1);
		setenv(DK_ENV_GENERATION, "9", 1);
		setenv(TD_ENV_SLOTS, n_slots, 1);
		setenv(TD_ENV_LIMITS, limits, 1);
		setenv(TD_ENV_RESET, reset, 1);
		if (real_slots) {
			snprintf(n_slots, sizeof(n_slots), "%u", real_slots);
			setenv(TD_ENV_REAL_SLOTS, n_slots, 1);
		} else {
			unsetenv(TD_ENV_REAL_SLOTS);
		}
		if (env_threshold)
			setenv(DK_ENV_KILL_THRESHOLD, env_threshold, 1);
		else
			unsetenv(DK_ENV_KILL_THRESHOLD);
		execl(bin, bin, arg, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	T.broker = sv[0];
}

static int teardown(void **state)
{
	(void)state;
	if (T.pid > 0) {
		kill(T.pid, SIGKILL);
		waitpid(T.pid, NULL, 0);
	}
	T.pid = 0;
	if (T.broker >= 0)
		close(T.broker);
	T.broker = -1;
	dk_buffer_registry_destroy(T.reg);
	T.reg = NULL;
	return 0;
}

/* start() with a test device whose harvest may be polled (DK_DEVICE_F_POLL), reset resubmit. */
static void start_polled(uint32_t slots, const char *limits)
{
	setenv(TD_ENV_POLL, "1", 1);
	start(slots, limits, "resubmit", NULL, NULL);
	unsetenv(TD_ENV_POLL);
}

/* SIGTERM: the service finishes its sessions and exits 0. */
static void stop(void)
{
	dk_test_stop_daemon(T.pid, NULL);
	T.pid = 0;
}

static int service_fds(void)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)T.pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- playing the broker ---- */

static struct dk_device *open_session(uint32_t max_inflight)
{
	static struct dk_msg reply;
	struct dk_session_grant g = {
		.generation = GENERATION,
		.session_id = ++T.next_session,
		.rights = DK_RIGHTS_ALL,
		.qos = DK_QOS_BURST,
		.max_bytes = 1u << 20,
		.max_buffers = 16,
		.max_inflight = max_inflight,
		.max_fences = 16,
	};
	uint8_t p[DK_DEVCTL_SESSION_PAYLOAD];
	struct dk_wire_writer w;
	struct dk_device *dev;
	int sp[2];

	strcpy(g.device_class, "test");
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, g.session_id);
	dk_wire_put_u32(&w, (uint32_t)getpid());
	dk_wire_put_u32(&w, (uint32_t)getuid());
	dk_wire_put_u32(&w, (uint32_t)getgid());
	dk_wire_put_u32(&w, g.rights);
	dk_wire_put_u32(&w, g.qos);
	dk_wire_put_u32(&w, g.max_buffers);
	dk_wire_put_u64(&w, g.max_bytes);
	dk_wire_put_u32(&w, g.max_inflight);
	dk_wire_put_u32(&w, g.max_fences);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(dk_msg_call(T.broker, &dk_devctl_proto, &dk_devctl_reply_proto,
				     DK_DEVCTL_OP_SESSION, p, sizeof(p), &sp[1], 1, DEADLINE(),
				     &reply, NULL),
			 0);
	close(sp[1]);
	assert_int_equal(dk_device_adopt(sp[0], &g, "test0", &dev), 0);
	return dev;
}

static uint64_t session_id(struct dk_device *dev)
{
	return dk_device_grant(dev)->session_id;
}

/* The next frame on the broker channel must be SESSION_END for @id. */
static void expect_session_end(uint64_t id)
{
	static struct dk_msg m;
	struct dk_wire_reader r;

	assert_int_equal(dk_msg_recv(T.broker, &dk_devctl_proto, DEADLINE(), &m, NULL), 0);
	assert_int_equal(m.frame.opcode, DK_DEVCTL_OP_SESSION_END);
	assert_int_equal(m.frame.flags & (DK_FRAME_F_REPLY | DK_FRAME_F_ERROR), 0);
	dk_wire_reader_init(&r, m.frame.payload, m.frame.length);
	assert_int_equal(dk_wire_get_u64(&r), id);
}

static void close_session(struct dk_device *dev)
{
	uint64_t id = session_id(dev);

	dk_device_close(dev);
	expect_session_end(id);
}

/* KILL_SESSION @id as the broker sends it: 0 (empty reply) or the service's error. */
static int kill_session(uint64_t id, uint32_t reason)
{
	static struct dk_msg m;
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	uint8_t p[16];
	uint64_t seq = ++T.next_seq;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, id);
	dk_wire_put_u32(&w, reason);
	dk_wire_put_u32(&w, 0);
	assert_int_equal(dk_msg_send(T.broker, &dk_devctl_proto, DK_DEVCTL_OP_KILL_SESSION, 0, seq,
				     p, sizeof(p), NULL, 0, DEADLINE()),
			 0);
	assert_int_equal(dk_msg_recv(T.broker, &dk_devctl_reply_proto, DEADLINE(), &m, NULL), 0);
	assert_int_equal(m.frame.opcode, DK_DEVCTL_OP_KILL_SESSION);
	assert_int_equal(m.frame.seq, seq);
	assert_true(m.frame.flags & DK_FRAME_F_REPLY);
	if (!(m.frame.flags & DK_FRAME_F_ERROR)) {
		assert_int_equal(m.frame.length, 0);
		return 0;
	}
	dk_wire_reader_init(&r, m.frame.payload, m.frame.length);
	return (int32_t)dk_wire_get_u32(&r);
}

/* ---- sessions, queues, jobs ---- */

static struct dk_session_stats stats(struct dk_device *dev)
{
	struct dk_session_stats st;

	assert_int_equal(dk_device_stats(dev, DEADLINE(), &st), 0);
	return st;
}

static struct dk_ring *queue(struct dk_device *dev, uint32_t entries, uint32_t qos)
{
	struct dk_ring_params prm = {.sq_entries = entries, .cq_entries = entries, .qos = qos};
	struct dk_ring *r = NULL;

	assert_int_equal(dk_device_create_queue(dev, &prm, DEADLINE(), &r), 0);
	return r;
}

static struct dk_fence *fence(struct dk_device *dev, uint32_t rights, uint32_t *ret_index)
{
	struct dk_fence *f;

	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(dk_device_register_fence(dev, f, rights, DEADLINE(), ret_index), 0);
	return f;
}

static struct dk_sqe *job(struct dk_ring *r, uint8_t op, uint64_t param, uint64_t user_data)
{
	struct dk_sqe *e = dk_ring_get_sqe(r, NULL);

	assert_non_null(e);
	e->opcode = op;
	e->param = param;
	e->user_data = user_data;
	return e;
}

/* A job held on the hardware until the fence at @index reaches @point. */
static struct dk_sqe *hold(struct dk_ring *r, uint32_t index, uint32_t point, uint64_t ud)
{
	return job(r, TD_OP_HOLD, (uint64_t)index | (uint64_t)point << 32, ud);
}

static void submit(struct dk_ring *r, int n)
{
	assert_int_equal(dk_ring_submit(r), n);
}

static struct dk_cqe cqe(struct dk_ring *r)
{
	struct dk_cqe c;

	assert_int_equal(dk_ring_wait_cqe(r, &c, DEADLINE()), 0);
	return c;
}

static void no_cqe(struct dk_ring *r)
{
	struct dk_cqe c;

	assert_int_equal(dk_ring_peek_cqe(r, &c), -EAGAIN);
}

/* A counter of the service (TD_OP_STAT), read through a job of @r. */
static uint64_t svc_stat(struct dk_ring *r, uint32_t which)
{
	struct dk_cqe c;

	job(r, TD_OP_STAT, which, 0x57a7);
	submit(r, 1);
	c = cqe(r);
	assert_int_equal(c.user_data, 0x57a7);
	assert_int_equal(c.status, 0);
	return c.result;
}

/*
 * Hold the single hardware slot: a session of its own with one TD_OP_HOLD job, on the
 * hardware once this returns. Release with dk_fence_signal(*ret_gate, 1).
 */
static struct dk_device *gate(struct dk_fence **ret_gate, struct dk_ring **ret_ring)
{
	struct dk_device *g = open_session(8);
	uint32_t gi;

	*ret_gate = fence(g, FENCE_IN, &gi);
	*ret_ring = queue(g, 8, DK_QOS_BURST);
	hold(*ret_ring, gi, 1, 0x9a7e);
	submit(*ret_ring, 1);
	assert_int_equal(stats(g).inflight, 1);
	return g;
}

/* Release the gate and check its job finished first of everything held behind it. */
static uint64_t open_gate(struct dk_fence *f, struct dk_ring *r)
{
	struct dk_cqe c;

	assert_int_equal(dk_fence_signal(f, 1), 0);
	c = cqe(r);
	assert_int_equal(c.user_data, 0x9a7e);
	assert_int_equal(c.status, 0);
	return TD_RESULT_SEQ(c.result);
}

/* ---- 1. fairness between two sessions saturating the device ---- */

static void test_fairness(void **state)
{
	enum { JOBS = 64 };
	static uint32_t owner[2 * JOBS + 2]; /* by hardware order: 1 = A, 2 = B */
	struct dk_device *g, *s[2];
	struct dk_ring *gr, *r[2];
	struct dk_fence *gf;
	uint64_t first;

	(void)state;
	start(1, LONG_LIMITS, "resubmit", NULL, NULL);
	g = gate(&gf, &gr);
	for (int k = 0; k < 2; k++) {
		s[k] = open_session(JOBS);
		r[k] = queue(s[k], JOBS, DK_QOS_BURST); /* Burst: the whole ring in flight */
	}
	/* Both queues full, every job taken and waiting for the one busy slot. */
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < JOBS; i++)
			job(r[k], TD_OP_NOP, 0, (uint64_t)k << 32 | (uint64_t)i);
		submit(r[k], JOBS);
		assert_int_equal(stats(s[k]).inflight, JOBS);
	}
	first = open_gate(gf, gr);
	memset(owner, 0, sizeof(owner));
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < JOBS; i++) {
			struct dk_cqe c = cqe(r[k]);
			uint64_t seq = TD_RESULT_SEQ(c.result) - first;

			assert_int_equal(c.status, 0);
			assert_int_equal(TD_RESULT_ATTEMPTS(c.result), 1);
			assert_true(seq >= 1 && seq <= 2 * JOBS);
			assert_int_equal(owner[seq], 0);
			owner[seq] = (uint32_t)k + 1;
		}
	}
	/* Over every prefix of the hardware's order the counts stay within 10% (or 1). */
	for (uint32_t n = 1, a = 0, b = 0; n <= 2 * JOBS; n++) {
		uint32_t diff, allowed = n / 10 > 1 ? n / 10 : 1;

		a += owner[n] == 1;
		b += owner[n] == 2;
		diff = a > b ? a - b : b - a;
		if (diff > allowed)
			fail_msg("after %u jobs: %u of A, %u of B", n, a, b);
	}
	close_session(s[0]);
	close_session(s[1]);
	close_session(g);
	dk_fence_unref(gf);
	stop();
}

/* ---- 2. Burst cannot starve Normal or Frugal ---- */

static void test_qos_no_starvation(void **state)
{
	enum { JOBS = 64, FRUGAL = 4 };
	static uint32_t cls[2 * JOBS + FRUGAL + 2]; /* by hardware order: the QoS */
	struct dk_device *g, *burst, *normal, *frugal;
	struct dk_ring *gr, *br, *nr, *fr[FRUGAL];
	struct dk_fence *gf;
	uint32_t nf = 0, nb = 0, nn = 0;
	uint64_t first;

	(void)state;
	start(1, LONG_LIMITS, "resubmit", NULL, NULL);
	g = gate(&gf, &gr);
	burst = open_session(JOBS);
	normal = open_session(JOBS);
	frugal = open_session(JOBS);
	br = queue(burst, JOBS, DK_QOS_BURST);
	nr = queue(normal, JOBS, DK_QOS_NORMAL);
	for (int i = 0; i < JOBS; i++)
		job(br, TD_OP_NOP, 0, (uint64_t)i);
	submit(br, JOBS);
	/* A Normal queue has at most half its ring in flight. */
	for (int i = 0; i < JOBS / 2; i++)
		job(nr, TD_OP_NOP, 0, (uint64_t)i);
	submit(nr, JOBS / 2);
	/* A Frugal queue has one job in flight at a time: one queue per job. */
	for (int i = 0; i < FRUGAL; i++) {
		fr[i] = queue(frugal, 4, DK_QOS_FRUGAL);
		job(fr[i], TD_OP_NOP, 0, (uint64_t)i);
		submit(fr[i], 1);
	}
	assert_int_equal(stats(burst).inflight, JOBS);
	assert_int_equal(stats(normal).inflight, JOBS / 2);
	assert_int_equal(stats(frugal).inflight, FRUGAL);

	first = open_gate(gf, gr);
	memset(cls, 0, sizeof(cls));
	for (int i = 0; i < JOBS; i++)
		cls[TD_RESULT_SEQ(cqe(br).result) - first] = DK_QOS_BURST;
	for (int i = 0; i < JOBS / 2; i++)
		cls[TD_RESULT_SEQ(cqe(nr).result) - first] = DK_QOS_NORMAL;
	for (int i = 0; i < FRUGAL; i++)
		cls[TD_RESULT_SEQ(cqe(fr[i]).result) - first] = DK_QOS_FRUGAL;
	/*
	 * While all three have ready jobs, every 13 picks give Burst 8, Normal 4, Frugal 1:
	 * Frugal's k-th job runs within the first 13k, although Burst was never out of work.
	 */
	for (uint32_t n = 1; n <= 13 * FRUGAL; n++) {
		assert_int_not_equal(cls[n], 0);
		nb += cls[n] == DK_QOS_BURST;
		nn += cls[n] == DK_QOS_NORMAL;
		nf += cls[n] == DK_QOS_FRUGAL;
		if (n % 13 == 0) {
			assert_int_equal(nf, n / 13);
			assert_int_equal(nn, 4 * n / 13);
			assert_int_equal(nb, 8 * n / 13);
		}
	}
	assert_true(nb < JOBS); /* Burst still had work when Frugal was done */
	close_session(burst);
	close_session(normal);
	close_session(frugal);
	close_session(g);
	dk_fence_unref(gf);
	stop();
}

/* ---- 3. earliest deadline first within a session ---- */

static void test_edf(void **state)
{
	static const uint32_t offset_ms[] = {30, 10, 40, 50, 20};
	enum { N = sizeof(offset_ms) / sizeof(offset_ms[0]) };
	uint64_t base = dk_now_ns() + 30 * DK_NSEC_PER_SEC, seq[N + 1], first;
	struct dk_device *g, *dev;
	struct dk_ring *gr, *r;
	struct dk_fence *gf;

	(void)state;
	start(1, LONG_LIMITS, "resubmit", NULL, NULL);
	g = gate(&gf, &gr);
	dev = open_session(16);
	r = queue(dev, 16, DK_QOS_NORMAL);
	/* No deadline: taken + the time limit (60 s), later than every other. */
	job(r, TD_OP_NOP, 0, N);
	for (uint32_t i = 0; i < N; i++)
		job(r, TD_OP_NOP, 0, i)->deadline_ns = base + offset_ms[i] * DK_NSEC_PER_MSEC;
	submit(r, N + 1);
	assert_int_equal(stats(dev).inflight, N + 1);
	first = open_gate(gf, gr);
	for (uint32_t i = 0; i <= N; i++) {
		struct dk_cqe c = cqe(r);

		assert_int_equal(c.status, 0);
		seq[c.user_data] = TD_RESULT_SEQ(c.result) - first;
	}
	/* Hardware order = deadline order: 10, 20, 30, 40, 50 ms, then the one without. */
	assert_int_equal(seq[1], 1);
	assert_int_equal(seq[4], 2);
	assert_int_equal(seq[0], 3);
	assert_int_equal(seq[2], 4);
	assert_int_equal(seq[3], 5);
	assert_int_equal(seq[N], 6);
	close_session(dev);
	close_session(g);
	dk_fence_unref(gf);
	stop();
}

/* ---- 3b. a device that says -EBUSY: jobs wait in front, nothing is lost ---- */

static void test_busy(void **state)
{
	enum { N = 5 };
	struct dk_device *dev;
	struct dk_fence *h;
	struct dk_ring *r;
	uint64_t seq[N];
	uint32_t hi;

	(void)state;
	real_slots = 1; /* declares 4, takes 1 */
	start(4, LONG_LIMITS, "resubmit", NULL, NULL);
	real_slots = 0;
	dev = open_session(16);
	h = fence(dev, FENCE_IN, &hi);
	r = queue(dev, 8, DK_QOS_BURST);
	hold(r, hi, 1, 0);
	for (uint64_t i = 1; i < N; i++)
		job(r, TD_OP_NOP, 0, i);
	submit(r, N);
	assert_int_equal(stats(dev).inflight, N);
	assert_int_equal(dk_fence_signal(h, 1), 0);
	for (int i = 0; i < N; i++) {
		struct dk_cqe c = cqe(r);

		assert_int_equal(c.status, 0);
		/* A refused submit is not an attempt. */
		assert_int_equal(TD_RESULT_ATTEMPTS(c.result), 1);
		seq[c.user_data] = TD_RESULT_SEQ(c.result);
	}
	/* One at a time, in the order they were taken; each refused once, none lost. */
	for (int i = 1; i < N; i++)
		assert_int_equal(seq[i], seq[i - 1] + 1);
	assert_int_equal(svc_stat(r, TD_STAT_BUSY), N - 1);
	close_session(dev);
	dk_fence_unref(h);
	stop();
}

/* ---- 4. an input fence of another process, awaited without polling ---- */

static void test_foreign_input_fence(void **state)
{
	struct dk_device *dev;
	struct dk_fence *f, *never;
	struct dk_ring *r, *sr;
	struct dk_sqe *e;
	struct dk_cqe c;
	uint64_t wakeups;
	uint32_t fi, ni;
	int go[2], status;
	pid_t child;

	(void)state;
	start(4, LONG_LIMITS, "resubmit", NULL, NULL);
	/* The fence's signaller is a child process: it signals when told to. */
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(pipe(go), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		char b;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		_exit(read(go[0], &b, 1) == 1 && dk_fence_signal(f, 1) == 0 ? 0 : 1);
	}
	close(go[0]);
	dev = open_session(16);
	assert_int_equal(dk_device_register_fence(dev, f, FENCE_IN, DEADLINE(), &fi), 0);
	never = fence(dev, FENCE_IN, &ni);
	r = queue(dev, 8, DK_QOS_NORMAL);
	sr = queue(dev, 8, DK_QOS_NORMAL);
	e = job(r, TD_OP_NOP, 0, 1);
	e->wait[0] = (struct dk_sqe_fence){.index = fi, .point = 1};
	e->n_waits = 1;
	/* A job whose deadline passes while it waits for a fence nobody signals. */
	e = job(r, TD_OP_NOP, 0, 2);
	e->wait[0] = (struct dk_sqe_fence){.index = ni, .point = 1};
	e->n_waits = 1;
	e->deadline_ns = dk_now_ns() + 200 * DK_NSEC_PER_MSEC;
	submit(r, 2);
	assert_int_equal(stats(dev).inflight, 2);
	no_cqe(r);

	/* The watchdog timer also serves parked deadlines. */
	c = cqe(r);
	assert_int_equal(c.user_data, 2);
	assert_int_equal(c.status, -ETIMEDOUT);
	assert_int_equal(c.reason, DK_REASON_DEADLINE);
	assert_int_equal(stats(dev).inflight, 1);
	no_cqe(r);

	wakeups = svc_stat(sr, TD_STAT_FENCE_WAKEUPS);
	assert_int_equal(write(go[1], "g", 1), 1);
	c = cqe(r);
	assert_int_equal(c.user_data, 1);
	assert_int_equal(c.status, 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* It was the fence's poll descriptor that woke the service, not a periodic look. */
	assert_true(svc_stat(sr, TD_STAT_FENCE_WAKEUPS) > wakeups);
	close(go[1]);
	close_session(dev);
	dk_fence_unref(f);
	dk_fence_unref(never);
	stop();
}

/* ---- 5, 6. a hang: detected, reset, guilty and innocent jobs, the device works again ---- */

/* Normal's time limit is short (the hang), Burst's long (the innocents never expire). */
#define HANG_LIMITS "60000,300,60000"

static void hang(bool resubmit)
{
	struct dk_device *a, *b;
	struct dk_fence *h, *gout, *iout;
	struct dk_ring *ra, *rb;
	struct dk_sqe *e;
	struct dk_cqe c;
	uint32_t hi, goi, ioi, reason = 0;

	start(4, HANG_LIMITS, resubmit ? "resubmit" : "fail", NULL, NULL);
	/* Innocents: two jobs of session A held on the hardware. */
	a = open_session(16);
	h = fence(a, FENCE_IN, &hi);
	iout = fence(a, FENCE_OUT, &ioi);
	ra = queue(a, 8, DK_QOS_BURST);
	e = hold(ra, hi, 1, 1);
	e->signal = (struct dk_sqe_fence){.index = ioi, .point = 1};
	hold(ra, hi, 1, 2);
	submit(ra, 2);
	assert_int_equal(stats(a).inflight, 2);
	/* The guilty one: session B's job that never finishes. */
	b = open_session(16);
	gout = fence(b, FENCE_OUT, &goi);
	rb = queue(b, 8, DK_QOS_NORMAL);
	job(rb, TD_OP_HANG, 0, 3)->signal = (struct dk_sqe_fence){.index = goi, .point = 1};
	submit(rb, 1);

	c = cqe(rb);
	assert_int_equal(c.user_data, 3);
	assert_int_equal(c.status, -EIO);
	assert_int_equal(c.reason, DK_REASON_HANG);
	assert_int_equal(dk_fence_status(gout, 1, &reason), -EIO);
	assert_int_equal(reason, DK_REASON_HANG);

	if (resubmit) {
		/* Back on the hardware after the reset: they finish when released, run twice. */
		no_cqe(ra);
		assert_int_equal(stats(a).inflight, 2);
		assert_int_equal(dk_fence_signal(h, 1), 0);
		for (int i = 0; i < 2; i++) {
			c = cqe(ra);
			assert_int_equal(c.status, 0);
			assert_int_equal(TD_RESULT_ATTEMPTS(c.result), 2);
		}
		assert_int_equal(dk_fence_status(iout, 1, NULL), 0);
	} else {
		for (int i = 0; i < 2; i++) {
			c = cqe(ra);
			assert_int_equal(c.status, -EIO);
			assert_int_equal(c.reason, DK_REASON_DEVICE_RESET);
		}
		assert_int_equal(dk_fence_status(iout, 1, &reason), -EIO);
		assert_int_equal(reason, DK_REASON_DEVICE_RESET);
		assert_int_equal(dk_fence_signal(h, 1), 0);
	}
	/* The device works again, for both sessions. */
	job(rb, TD_OP_NOP, 0, 4);
	submit(rb, 1);
	c = cqe(rb);
	assert_int_equal(c.status, 0);
	assert_int_equal(TD_RESULT_ATTEMPTS(c.result), 1);
	assert_int_equal(svc_stat(ra, TD_STAT_RESETS), 1);
	assert_int_equal(svc_stat(ra, TD_STAT_DEV_RESETS), 1);
	assert_int_equal(svc_stat(ra, TD_STAT_HANGS), 1);
	assert_int_equal(svc_stat(ra, TD_STAT_RESUBMITTED), resubmit ? 2 : 0);
	assert_int_equal(svc_stat(ra, TD_STAT_LOST_IRQS), 0);
	/* A hang counts against its session; it was not killed by one. */
	assert_int_equal(svc_stat(rb, TD_STAT_VIOLATIONS), 1);
	assert_int_equal(svc_stat(rb, TD_STAT_KILLS), 0);
	close_session(a);
	close_session(b);
	dk_fence_unref(h);
	dk_fence_unref(iout);
	dk_fence_unref(gout);
	stop();
}

static void test_hang_resubmit(void **state)
{
	(void)state;
	hang(true);
}

static void test_hang_fail(void **state)
{
	(void)state;
	hang(false);
}

/* ---- 7. a lost interrupt ---- */

static void test_lost_irq(void **state)
{
	struct dk_device *dev;
	struct dk_ring *r;
	struct dk_cqe c;

	(void)state;
	start(2, HANG_LIMITS, "resubmit", NULL, NULL);
	dev = open_session(16);
	r = queue(dev, 8, DK_QOS_NORMAL);
	job(r, TD_OP_LOST_IRQ, 0, 1);
	submit(r, 1);
	/* Found done by the watchdog's harvest: completed as the device reported it. */
	c = cqe(r);
	assert_int_equal(c.user_data, 1);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.reason, DK_REASON_NONE);
	assert_int_equal(TD_RESULT_ATTEMPTS(c.result), 1);
	assert_int_equal(svc_stat(r, TD_STAT_LOST_IRQS), 1);
	assert_int_equal(svc_stat(r, TD_STAT_RESETS), 0);
	assert_int_equal(svc_stat(r, TD_STAT_VIOLATIONS), 0);
	/* A device fault is reported as such, and the device goes on. */
	job(r, TD_OP_FAIL, 0, 2);
	job(r, TD_OP_NOP, 0, 3);
	submit(r, 2);
	c = cqe(r);
	assert_int_equal(c.user_data, 2);
	assert_int_equal(c.status, -EIO);
	assert_int_equal(c.reason, DK_REASON_DEVICE_FAULT);
	c = cqe(r);
	assert_int_equal(c.user_data, 3);
	assert_int_equal(c.status, 0);
	/* A class that cannot be polled keeps its interrupt: never masked. */
	assert_int_equal(svc_stat(r, TD_STAT_MASK_CALLS), 0);
	close_session(dev);
	stop();
}

/*
 * A class that lets itself be polled (DK_DEVICE_F_POLL): after a Normal job goes to the
 * hardware the library harvests without waiting for the interrupt, so a job finished with no
 * interrupt is found at once, not by the watchdog. Frugal jobs are never polled: the same job
 * is found by the watchdog (a lost interrupt), as on a class that cannot be polled.
 */
static void test_poll_harvest(void **state)
{
	struct dk_device *dev;
	struct dk_ring *normal, *frugal;
	struct dk_cqe c;

	(void)state;
	start_polled(1, "300,60000,60000");
	dev = open_session(16);
	normal = queue(dev, 8, DK_QOS_NORMAL);
	frugal = queue(dev, 8, DK_QOS_FRUGAL);
	job(normal, TD_OP_LOST_IRQ, 0, 1);
	submit(normal, 1);
	c = cqe(normal); /* within the Normal limit of 60 s: polling found it */
	assert_int_equal(c.user_data, 1);
	assert_int_equal(c.status, 0);
	assert_int_equal(svc_stat(normal, TD_STAT_LOST_IRQS), 0);
	job(frugal, TD_OP_LOST_IRQ, 0, 2);
	submit(frugal, 1);
	c = cqe(frugal);
	assert_int_equal(c.user_data, 2);
	assert_int_equal(c.status, 0);
	assert_int_equal(svc_stat(normal, TD_STAT_LOST_IRQS), 1);
	assert_int_equal(svc_stat(normal, TD_STAT_RESETS), 0);
	close_session(dev);
	stop();
}

/*
 * Eight NOPs published together on a device with caps.take_batch @take_batch (NULL: the
 * default): every completion a success and in order; returns the commits counted from before
 * they were submitted to after (the STAT job that reads the second count is taken in a pass of
 * its own, committed after its submit read the counter).
 */
static uint64_t commits_for_eight(const char *take_batch)
{
	struct dk_device *dev;
	struct dk_ring *r;
	uint64_t before, after;

	if (take_batch)
		setenv(TD_ENV_TAKE_BATCH, take_batch, 1);
	start(8, LONG_LIMITS, "resubmit", NULL, NULL);
	unsetenv(TD_ENV_TAKE_BATCH);
	dev = open_session(16);
	r = queue(dev, 16, DK_QOS_NORMAL);
	before = svc_stat(r, TD_STAT_COMMITS); /* read in submit: its own pass not committed */
	for (uint64_t i = 1; i <= 8; i++)
		job(r, TD_OP_NOP, 0, i);
	submit(r, 8);
	for (uint64_t i = 1; i <= 8; i++) {
		struct dk_cqe c = cqe(r);

		assert_int_equal(c.status, 0);
		assert_int_equal(c.user_data, i);
	}
	after = svc_stat(r, TD_STAT_COMMITS);
	close_session(dev);
	stop();
	return after - before;
}

/*
 * The class's commit runs once per dispatch pass, after the pass's submits: eight jobs
 * submitted together are handed over in one pass and committed once (one doorbell). Counted:
 * the STAT job's pass, then the eight jobs' pass.
 */
static void test_commit_per_pass(void **state)
{
	(void)state;
	assert_int_equal(commits_for_eight(NULL), 2);
}

/*
 * caps.take_batch: a pass takes at most that many submissions from a queue, and commits once.
 * With a batch of 3 the eight jobs are handed over in three passes (3, 3, 2), each committed
 * once, in order; the STAT job's pass is the fourth.
 */
static void test_take_batch(void **state)
{
	(void)state;
	assert_int_equal(commits_for_eight("3"), 4);
}

/* A take_batch past DK_SVC_TAKE_BATCH_MAX is refused at probe: the service exits 1. */
static void test_take_batch_too_big(void **state)
{
	char big[16];
	int status = 0, pidfd;
	struct pollfd p;

	(void)state;
	snprintf(big, sizeof(big), "%u", DK_SVC_TAKE_BATCH_MAX + 1);
	setenv(TD_ENV_TAKE_BATCH, big, 1);
	start(8, LONG_LIMITS, "resubmit", NULL, NULL);
	unsetenv(TD_ENV_TAKE_BATCH);
	pidfd = (int)syscall(SYS_pidfd_open, T.pid, 0);
	assert_true(pidfd >= 0);
	p = (struct pollfd){.fd = pidfd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 10000), 1);
	close(pidfd);
	assert_int_equal(waitpid(T.pid, &status, 0), T.pid);
	T.pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

/*
 * NAPI-style masking on a class that lets itself be polled (the irq_mask op). A Frugal job is
 * never polled for: it goes to the hardware with the interrupt on and completes through it. A
 * Normal job is polled for: the interrupt is masked before it is handed over and the job is
 * found by polling, with no interrupt written. A STAT job is a job too: on the Normal queue it
 * is handed over masked (so it reads 1); on the Frugal queue, once the poll is over, it is
 * handed over unmasked (so it reads 0). Every poll here ends with the hardware empty (one job
 * at a time, found by the poll's first harvest), so the library has no reason to unmask then.
 */
static void test_irq_masked_while_polling(void **state)
{
	struct dk_device *dev;
	struct dk_ring *normal, *frugal;
	struct dk_cqe c;

	(void)state;
	start_polled(1, LONG_LIMITS);
	dev = open_session(16);
	normal = queue(dev, 8, DK_QOS_NORMAL);
	frugal = queue(dev, 8, DK_QOS_FRUGAL);
	job(frugal, TD_OP_NOP, 0, 1);
	submit(frugal, 1);
	c = cqe(frugal);
	assert_int_equal(c.user_data, 1);
	assert_int_equal(c.status, 0);
	assert_int_equal(svc_stat(frugal, TD_STAT_IRQS), 1);
	assert_int_equal(svc_stat(frugal, TD_STAT_MASKED), 0);
	assert_int_equal(svc_stat(frugal, TD_STAT_MASK_CALLS), 0);

	for (uint64_t i = 2; i <= 5; i++) {
		job(normal, TD_OP_NOP, 0, i);
		submit(normal, 1);
		c = cqe(normal);
		assert_int_equal(c.user_data, i);
		assert_int_equal(c.status, 0);
	}
	assert_int_equal(svc_stat(normal, TD_STAT_IRQS), 1); /* found by polling */
	assert_int_equal(svc_stat(normal, TD_STAT_MASKED), 1);
	assert_int_equal(svc_stat(normal, TD_STAT_MASK_CALLS), 1);
	assert_int_equal(svc_stat(normal, TD_STAT_LOST_IRQS), 0);

	/* No poll under way: a Frugal job is handed over unmasked; nothing was left to signal. */
	assert_int_equal(svc_stat(frugal, TD_STAT_MASKED), 0);
	assert_int_equal(svc_stat(frugal, TD_STAT_HANDOVER_UNMASKS), 1); /* for that one */
	assert_int_equal(svc_stat(frugal, TD_STAT_MASK_CALLS), 2);
	assert_int_equal(svc_stat(frugal, TD_STAT_IRQS), 1);
	/* And a Normal one masks again. */
	job(normal, TD_OP_NOP, 0, 6);
	submit(normal, 1);
	assert_int_equal(cqe(normal).status, 0);
	assert_int_equal(svc_stat(normal, TD_STAT_MASKED), 1);
	assert_int_equal(svc_stat(normal, TD_STAT_MASK_CALLS), 3);
	assert_int_equal(svc_stat(normal, TD_STAT_IRQS), 1);
	assert_int_equal(svc_stat(normal, TD_STAT_RESETS), 0);
	close_session(dev);
	stop();
}

/*
 * A Normal job still on the hardware when its poll window ends: the library unmasks, and the
 * job's completion comes through the interrupt. The end of the window is observed, not waited
 * for: Frugal STAT jobs (never polled for; while the poll is under way they leave the mask
 * alone) read the mask until it is off. Such a job, handed over once the poll is over, would
 * also unmask by itself: TD_STAT_HANDOVER_UNMASKS tells that apart (a job is taken and handed
 * over in one pass of the serving loop, so when the poll's end unmasked, the job that saw the
 * poll over was already taken unmasked).
 */
static void test_irq_unmasked_when_poll_ends(void **state)
{
	struct dk_device *dev;
	struct dk_ring *normal, *frugal;
	struct dk_fence *h;
	struct dk_cqe c;
	uint64_t deadline, irqs;
	uint32_t hi;

	(void)state;
	start_polled(2, LONG_LIMITS); /* a slot for the STAT jobs */
	dev = open_session(16);
	h = fence(dev, FENCE_IN, &hi);
	normal = queue(dev, 8, DK_QOS_NORMAL);
	frugal = queue(dev, 8, DK_QOS_FRUGAL);
	hold(normal, hi, 1, 1);
	submit(normal, 1);
	assert_int_equal(stats(dev).inflight, 1);
	deadline = dk_deadline_in(5 * DK_NSEC_PER_SEC);
	while (svc_stat(frugal, TD_STAT_MASKED) != 0)
		if (dk_now_ns() > deadline)
			fail_msg("the interrupt is still masked after the poll window");
	no_cqe(normal);
	/* Masked for the HOLD job, unmasked when its poll ended: nothing else. */
	assert_int_equal(svc_stat(frugal, TD_STAT_HANDOVER_UNMASKS), 0);
	assert_int_equal(svc_stat(frugal, TD_STAT_MASK_CALLS), 2);
	irqs = svc_stat(frugal, TD_STAT_IRQS);
	assert_int_equal(irqs, 0);

	assert_int_equal(dk_fence_signal(h, 1), 0);
	c = cqe(normal);
	assert_int_equal(c.user_data, 1);
	assert_int_equal(c.status, 0);
	assert_int_equal(TD_RESULT_ATTEMPTS(c.result), 1);
	assert_true(svc_stat(frugal, TD_STAT_IRQS) >= irqs + 1);
	assert_int_equal(svc_stat(frugal, TD_STAT_MASKED), 0);
	assert_int_equal(svc_stat(frugal, TD_STAT_LOST_IRQS), 0);
	assert_int_equal(svc_stat(frugal, TD_STAT_RESETS), 0);
	close_session(dev);
	dk_fence_unref(h);
	stop();
}

/*
 * Masked for a Normal job that does not stay on the hardware (a STAT completes in submit) while
 * no poll is under way: a Frugal job already on the hardware must still get its interrupt, not
 * wait for the watchdog (60 s here: the CQE's 30 s deadline would fail first).
 */
static void test_irq_unmasked_when_job_leaves_at_submit(void **state)
{
	struct dk_device *dev;
	struct dk_ring *normal, *frugal;
	struct dk_fence *h;
	struct dk_cqe c;
	uint32_t hi;

	(void)state;
	start_polled(2, LONG_LIMITS);
	dev = open_session(16);
	h = fence(dev, FENCE_IN, &hi);
	normal = queue(dev, 8, DK_QOS_NORMAL);
	frugal = queue(dev, 8, DK_QOS_FRUGAL);
	hold(frugal, hi, 1, 1);
	submit(frugal, 1);
	assert_int_equal(stats(dev).inflight, 1);
	/* Read on the Normal queue: masked for the STAT itself, which is done in submit. */
	assert_int_equal(svc_stat(normal, TD_STAT_MASKED), 1);
	assert_int_equal(dk_fence_signal(h, 1), 0);
	c = cqe(frugal);
	assert_int_equal(c.user_data, 1);
	assert_int_equal(c.status, 0);
	assert_int_equal(svc_stat(frugal, TD_STAT_LOST_IRQS), 0);
	assert_int_equal(svc_stat(frugal, TD_STAT_RESETS), 0);
	close_session(dev);
	dk_fence_unref(h);
	stop();
}

/* ---- 8. KILL_SESSION from the broker ---- */

static void test_kill_session(void **state)
{
	struct dk_device *victim, *other;
	struct dk_fence *h, *in, *out_hw, *out_parked;
	struct dk_buffer *b;
	struct dk_ring *vr, *or;
	struct dk_session_stats st;
	struct dk_sqe *e;
	struct dk_cqe c;
	uint32_t hi, ii, ohi, opi, bi, reason = 0, got = 0;
	uint64_t id;
	int fds0;

	(void)state;
	start(2, LONG_LIMITS, "resubmit", NULL, NULL);
	other = open_session(16);
	or = queue(other, 8, DK_QOS_NORMAL);
	assert_int_equal(svc_stat(or, TD_STAT_BYTES), 0);
	fds0 = service_fds();

	/* The victim: a buffer, a job on the hardware, a parked job, one it never took. */
	victim = open_session(2);
	id = session_id(victim);
	assert_int_equal(dk_buffer_create(T.reg, NULL, BUF_SIZE, 0, &b), 0);
	assert_int_equal(dk_device_register_buffer(victim, b, DK_RIGHTS_BUFFER_RW, DEADLINE(),
						   &bi),
			 0);
	h = fence(victim, FENCE_IN, &hi);
	in = fence(victim, FENCE_IN, &ii);
	out_hw = fence(victim, FENCE_OUT, &ohi);
	out_parked = fence(victim, FENCE_OUT, &opi);
	vr = queue(victim, 8, DK_QOS_NORMAL);
	e = hold(vr, hi, 1, 1);
	e->signal = (struct dk_sqe_fence){.index = ohi, .point = 1};
	e->n_buffers = 1;
	e->buf[0] = (struct dk_sqe_buffer){.index = bi, .access = DK_RIGHT_WRITE, .length = 64};
	e = job(vr, TD_OP_NOP, 0, 2);
	e->wait[0] = (struct dk_sqe_fence){.index = ii, .point = 1};
	e->n_waits = 1;
	e->signal = (struct dk_sqe_fence){.index = opi, .point = 1};
	job(vr, TD_OP_NOP, 0, 3); /* beyond max_inflight (2): stays in the SQ */
	submit(vr, 3);
	st = stats(victim);
	assert_int_equal(st.inflight, 2);
	assert_int_equal(st.bytes, BUF_SIZE);
	assert_int_equal(svc_stat(or, TD_STAT_BYTES), BUF_SIZE);
	assert_int_equal(svc_stat(or, TD_STAT_SESSIONS), 2);

	assert_int_equal(kill_session(id + 1000, DK_REASON_CLIENT_KILLED), -ESRCH);
	assert_int_equal(kill_session(id, DK_REASON_CLIENT_KILLED), 0);
	expect_session_end(id);

	/* Every taken job completed as client-killed; then the queue's waiters wake too. */
	for (int i = 0; i < 2; i++) {
		c = cqe(vr);
		assert_true(c.user_data == 1 || c.user_data == 2);
		assert_int_equal(c.status, -ECANCELED);
		assert_int_equal(c.reason, DK_REASON_CLIENT_KILLED);
		got |= 1u << c.user_data;
	}
	assert_int_equal(got, 6);
	assert_int_equal(dk_ring_wait_cqe(vr, &c, DEADLINE()), -ECANCELED);
	assert_int_equal(dk_fence_status(out_parked, 1, &reason), -ECANCELED);
	assert_int_equal(reason, DK_REASON_CLIENT_KILLED);
	assert_int_equal(dk_device_stats(victim, DEADLINE(), &st), -ENODEV);

	/* The held job's buffer is still the hardware's: nothing released yet. */
	assert_int_equal(dk_fence_status(out_hw, 1, NULL), -EAGAIN);
	assert_int_equal(svc_stat(or, TD_STAT_BYTES), BUF_SIZE);
	assert_int_equal(svc_stat(or, TD_STAT_REMOVED), 0);
	/* The hardware gives it back: its output fence fails, then the session is gone. */
	assert_int_equal(dk_fence_signal(h, 1), 0);
	assert_int_equal(dk_fence_wait(out_hw, 1, DEADLINE()), -ECANCELED);
	assert_int_equal(dk_fence_status(out_hw, 1, &reason), -ECANCELED);
	assert_int_equal(reason, DK_REASON_CLIENT_KILLED);
	assert_int_equal(svc_stat(or, TD_STAT_BYTES), 0);
	assert_int_equal(svc_stat(or, TD_STAT_BUFFERS), 0);
	assert_int_equal(svc_stat(or, TD_STAT_REMOVED), 1);
	assert_int_equal(svc_stat(or, TD_STAT_BAD_REMOVALS), 0);
	assert_int_equal(svc_stat(or, TD_STAT_SESSIONS), 1);
	assert_int_equal(svc_stat(or, TD_STAT_KILLS), 1);
	assert_int_equal(service_fds(), fds0);

	/* The other session never noticed. */
	job(or, TD_OP_NOP, 0, 9);
	submit(or, 1);
	assert_int_equal(cqe(or).status, 0);
	assert_int_equal(stats(other).refused, 0);
	dk_device_close(victim);
	close_session(other);
	assert_int_equal(dk_buffer_release(b), 0);
	dk_fence_unref(h);
	dk_fence_unref(in);
	dk_fence_unref(out_hw);
	dk_fence_unref(out_parked);
	stop();
}

/* ---- 8b. a kill takes the session's jobs out of the scheduler ---- */

static void test_kill_ready(void **state)
{
	enum { JOBS = 8 };
	struct dk_device *g, *victim, *other;
	struct dk_ring *gr, *vr, *or;
	struct dk_fence *gf;
	struct dk_cqe c;
	uint64_t id;

	(void)state;
	start(1, LONG_LIMITS, "resubmit", NULL, NULL);
	g = gate(&gf, &gr);
	victim = open_session(JOBS);
	other = open_session(JOBS);
	id = session_id(victim);
	vr = queue(victim, JOBS, DK_QOS_BURST);
	or = queue(other, JOBS, DK_QOS_BURST);
	/* Both sessions' jobs wait for the one slot the gate holds. */
	for (int i = 0; i < JOBS; i++) {
		job(vr, TD_OP_NOP, 0, (uint64_t)i);
		job(or, TD_OP_NOP, 0, (uint64_t)i);
	}
	submit(vr, JOBS);
	submit(or, JOBS);
	assert_int_equal(stats(victim).inflight, JOBS);
	assert_int_equal(stats(other).inflight, JOBS);

	assert_int_equal(kill_session(id, DK_REASON_CLIENT_KILLED), 0);
	expect_session_end(id);
	for (int i = 0; i < JOBS; i++) {
		c = cqe(vr);
		assert_int_equal(c.status, -ECANCELED);
		assert_int_equal(c.reason, DK_REASON_CLIENT_KILLED);
	}
	assert_int_equal(dk_ring_wait_cqe(vr, &c, DEADLINE()), -ECANCELED);

	/* The other session's jobs run once the slot is free, none of the victim's. */
	open_gate(gf, gr);
	for (int i = 0; i < JOBS; i++) {
		c = cqe(or);
		assert_int_equal(c.status, 0);
		assert_int_equal(TD_RESULT_ATTEMPTS(c.result), 1);
	}
	assert_int_equal(svc_stat(or, TD_STAT_SESSIONS), 2);
	assert_int_equal(svc_stat(or, TD_STAT_KILLS), 1);
	dk_device_close(victim);
	close_session(other);
	close_session(g);
	dk_fence_unref(gf);
	stop();
}

/* ---- 9. the kill threshold: too many validation failures ---- */

static void test_kill_threshold(void **state)
{
	struct dk_device *victim, *other;
	struct dk_fence *in, *out;
	struct dk_ring *vr, *or;
	struct dk_sqe *e;
	struct dk_cqe c;
	uint32_t ii, oi, reason = 0, refused = 0, killed = 0;
	uint64_t id;

	(void)state;
	/* The option wins over the environment. */
	start(2, LONG_LIMITS, "resubmit", "--kill-threshold=4", "100");
	other = open_session(16);
	or = queue(other, 8, DK_QOS_NORMAL);
	victim = open_session(16);
	id = session_id(victim);
	in = fence(victim, FENCE_IN, &ii);
	out = fence(victim, FENCE_OUT, &oi);
	vr = queue(victim, 16, DK_QOS_NORMAL);
	/* Three bad commands: refused, the session lives on. */
	for (int i = 0; i < 3; i++)
		job(vr, 0x77, 0, 10 + (uint64_t)i);
	e = job(vr, TD_OP_NOP, 0, 20);
	e->wait[0] = (struct dk_sqe_fence){.index = ii, .point = 1};
	e->n_waits = 1;
	e->signal = (struct dk_sqe_fence){.index = oi, .point = 1};
	submit(vr, 4);
	assert_int_equal(stats(victim).inflight, 1);
	/* Bad commands of the other session count for the other session only. */
	job(or, 0x77, 0, 1);
	submit(or, 1);
	assert_int_equal(cqe(or).reason, DK_REASON_VALIDATION);
	/* The fourth: killed. */
	job(vr, TD_OP_STAT, TD_STAT_COUNT + 5, 13);
	submit(vr, 1);
	expect_session_end(id);
	for (int i = 0; i < 5; i++) {
		c = cqe(vr);
		if (c.user_data == 20) {
			assert_int_equal(c.status, -ECANCELED);
			assert_int_equal(c.reason, DK_REASON_CLIENT_KILLED);
			killed++;
		} else {
			assert_int_equal(c.status, -EINVAL);
			assert_int_equal(c.reason, DK_REASON_VALIDATION);
			refused++;
		}
	}
	assert_int_equal(refused, 4);
	assert_int_equal(killed, 1);
	assert_int_equal(dk_ring_wait_cqe(vr, &c, DEADLINE()), -ECANCELED);
	assert_int_equal(dk_fence_status(out, 1, &reason), -ECANCELED);
	assert_int_equal(reason, DK_REASON_CLIENT_KILLED);
	assert_int_equal(dk_device_check(victim), -ENODEV);

	assert_int_equal(svc_stat(or, TD_STAT_KILLS), 1);
	assert_int_equal(svc_stat(or, TD_STAT_VIOLATIONS), 5);
	assert_int_equal(svc_stat(or, TD_STAT_SESSIONS), 1);
	job(or, TD_OP_NOP, 0, 2);
	submit(or, 1);
	assert_int_equal(cqe(or).status, 0);
	/* Killing it again: it is gone. */
	assert_int_equal(kill_session(id, DK_REASON_CLIENT_KILLED), -ESRCH);
	dk_device_close(victim);
	close_session(other);
	dk_fence_unref(in);
	dk_fence_unref(out);
	stop();
}

/* ---- 10. the trace ring, devctl STATS and TRACE, retirement bookkeeping ---- */

/* A devctl request as the broker relays one; the reply payload is left in @m. */
static void devctl_call(uint16_t op, const void *p, size_t len, struct dk_msg *m)
{
	assert_int_equal(dk_msg_call(T.broker, &dk_devctl_proto, &dk_devctl_reply_proto, op, p, len,
				     NULL, 0, DEADLINE(), m, NULL),
			 0);
	assert_int_equal(m->n_fds, 0);
}

static void test_stats_and_trace(void **state)
{
	static struct dk_msg m;
	struct dk_wire_reader r;
	struct dk_wire_writer w;
	struct dk_device *dev;
	struct dk_ring *r1;
	uint64_t v64[16], last = 0, prev = 0, p50, p99;
	uint32_t v32[8], n;
	uint8_t p[8];

	(void)state;
	start(1, LONG_LIMITS, "resubmit", NULL, NULL);
	dev = open_session(16);
	r1 = queue(dev, 8, DK_QOS_NORMAL);
	for (int i = 0; i < 5; i++) {
		job(r1, TD_OP_NOP, 0, (uint64_t)i);
		submit(r1, 1);
		assert_int_equal(cqe(r1).status, 0);
	}
	job(r1, 0x77, 0, 5); /* one refused */
	submit(r1, 1);
	assert_int_equal(cqe(r1).status, -EINVAL);

	devctl_call(DK_DEVCTL_OP_STATS, NULL, 0, &m);
	assert_int_equal(m.frame.length, DK_DEVCTL_STATS_FIXED + DK_DEVCTL_STATS_SESSION);
	dk_wire_reader_init(&r, m.frame.payload, m.frame.length);
	for (int i = 0; i < 4; i++)
		v32[i] = dk_wire_get_u32(&r);
	assert_int_equal(v32[0], 1); /* sessions */
	assert_int_equal(v32[1], 1); /* queues */
	assert_int_equal(v32[3], 0); /* on the hardware */
	dk_wire_get_u64(&r);         /* bytes */
	dk_wire_get_u32(&r);         /* ready */
	dk_wire_get_u32(&r);         /* parked */
	for (int i = 0; i < 9; i++)
		v64[i] = dk_wire_get_u64(&r);
	assert_int_equal(v64[0], 5); /* completed */
	assert_int_equal(v64[1], 1); /* failed */
	assert_int_equal(v64[2], 1); /* violations */
	assert_int_equal(dk_wire_get_u32(&r), 1); /* n */
	assert_int_equal(dk_wire_get_u32(&r), 1); /* n_total */
	assert_int_equal(dk_wire_get_u64(&r), session_id(dev));
	assert_int_equal(dk_wire_get_u32(&r), (uint32_t)getpid());
	dk_wire_get_u32(&r); /* uid */
	assert_int_equal(dk_wire_get_u32(&r), DK_QOS_BURST);
	assert_int_equal(dk_wire_get_u32(&r), 1); /* queues */
	dk_wire_get_u32(&r);                      /* pending */
	assert_int_equal(dk_wire_get_u32(&r), 0); /* inflight */
	assert_int_equal(dk_wire_get_u64(&r), 5); /* completed */
	assert_int_equal(dk_wire_get_u64(&r), 1); /* failed */
	dk_wire_get_u64(&r);                      /* bytes */
	dk_wire_get_u32(&r);                      /* buffers */
	dk_wire_get_u32(&r);                      /* fences */
	assert_int_equal(dk_wire_get_u32(&r), 1); /* violations */
	dk_wire_get_u32(&r);
	p50 = dk_wire_get_u64(&r);
	p99 = dk_wire_get_u64(&r);
	assert_true(p50 > 0 && p50 <= p99);
	assert_int_equal(dk_wire_reader_error(&r), 0);

	/* Six jobs finished, oldest first; then nothing after the newest. */
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, 0);
	devctl_call(DK_DEVCTL_OP_TRACE, p, sizeof(p), &m);
	dk_wire_reader_init(&r, m.frame.payload, m.frame.length);
	n = dk_wire_get_u32(&r);
	dk_wire_get_u32(&r);
	last = dk_wire_get_u64(&r);
	assert_int_equal(n, 6);
	assert_int_equal(last, 6);
	assert_int_equal(m.frame.length, DK_DEVCTL_TRACE_FIXED + n * DK_DEVCTL_TRACE_RECORD);
	for (uint32_t i = 0; i < n; i++) {
		for (int k = 0; k < 8; k++)
			v64[k] = dk_wire_get_u64(&r);
		v32[0] = dk_wire_get_u32(&r); /* status */
		v32[1] = dk_wire_get_u32(&r); /* reason */
		v32[2] = dk_wire_get_u32(&r); /* queue */
		v32[3] = dk_wire_get_u8(&r);  /* qos */
		v32[4] = dk_wire_get_u8(&r);  /* opcode */
		v32[5] = dk_wire_get_u8(&r);  /* attempts */
		dk_wire_get_u8(&r);
		assert_true(v64[0] > prev);
		prev = v64[0];
		assert_int_equal(v64[1], session_id(dev));
		assert_int_equal(v64[2], i + 1);           /* ticket */
		assert_true(v64[7] >= v64[3] && v64[3]);   /* signalled after submitted */
		assert_int_equal(v32[3], DK_QOS_NORMAL);
		if (i < 5) {
			assert_int_equal(v32[0], 0);
			assert_int_equal(v32[5], 1);
			assert_true(v64[4] >= v64[3] && v64[5] >= v64[4] && v64[6] >= v64[5] &&
				    v64[7] >= v64[6]);
		} else {
			assert_int_equal((int32_t)v32[0], -EINVAL);
			assert_int_equal(v32[1], DK_REASON_VALIDATION);
			assert_int_equal(v32[4], 0x77);
			assert_int_equal(v32[5], 0);
		}
	}
	assert_int_equal(dk_wire_reader_error(&r), 0);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, last);
	devctl_call(DK_DEVCTL_OP_TRACE, p, sizeof(p), &m);
	assert_int_equal(m.frame.length, DK_DEVCTL_TRACE_FIXED);

	/* The same records through the class's accessor; this STAT job is not in them yet. */
	assert_int_equal(svc_stat(r1, TD_STAT_TRACE), 6);
	/* Every validated job is retired once (not the one being read, nor the refused one). */
	assert_int_equal(svc_stat(r1, TD_STAT_RETIRED), 6);
	close_session(dev);
	stop();
}

/* ---- 11. STATS: queue depth, jobs ready and on the hardware ---- */

/* From a STATS reply @m: the jobs on the hardware and ready, service-wide. */
static void stats_service(const struct dk_msg *m, uint32_t *ret_hw, uint32_t *ret_ready)
{
	struct dk_wire_reader r;

	assert_true(m->frame.length >= DK_DEVCTL_STATS_FIXED);
	dk_wire_reader_init(&r, m->frame.payload, DK_DEVCTL_STATS_FIXED);
	dk_wire_get_u32(&r); /* sessions */
	dk_wire_get_u32(&r); /* queues */
	dk_wire_get_u32(&r); /* buffers */
	*ret_hw = dk_wire_get_u32(&r);
	dk_wire_get_u64(&r); /* bytes */
	*ret_ready = dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_reader_error(&r), 0);
}

/* From a STATS reply @m: session @id's submissions not taken yet and jobs in flight. */
static void stats_session(const struct dk_msg *m, uint64_t id, uint32_t *ret_pending,
			  uint32_t *ret_inflight)
{
	struct dk_wire_reader r;
	uint32_t n;

	dk_wire_reader_init(&r, m->frame.payload + DK_DEVCTL_STATS_FIXED - 8, 8);
	n = dk_wire_get_u32(&r);
	assert_int_equal(m->frame.length, DK_DEVCTL_STATS_FIXED + n * DK_DEVCTL_STATS_SESSION);
	for (uint32_t i = 0; i < n; i++) {
		dk_wire_reader_init(&r,
				    m->frame.payload + DK_DEVCTL_STATS_FIXED +
					    i * DK_DEVCTL_STATS_SESSION,
				    DK_DEVCTL_STATS_SESSION);
		if (dk_wire_get_u64(&r) != id)
			continue;
		for (int k = 0; k < 4; k++) /* pid, uid, qos, queues */
			dk_wire_get_u32(&r);
		*ret_pending = dk_wire_get_u32(&r);
		*ret_inflight = dk_wire_get_u32(&r);
		assert_int_equal(dk_wire_reader_error(&r), 0);
		return;
	}
	fail_msg("session %llu not in STATS", (unsigned long long)id);
}

static void test_stats_pending(void **state)
{
	static struct dk_msg m;
	struct dk_device *g, *dev;
	struct dk_ring *gr, *r;
	struct dk_fence *gf;
	uint32_t pending, inflight, hw, ready;

	(void)state;
	start(1, LONG_LIMITS, "resubmit", NULL, NULL);
	g = gate(&gf, &gr); /* the one hardware slot is busy */
	dev = open_session(2);
	r = queue(dev, 8, DK_QOS_BURST);
	for (int i = 0; i < 5; i++)
		job(r, TD_OP_NOP, 0, (uint64_t)i);
	submit(r, 5);
	/* Answered once the service took what it could: two (max_inflight); three wait. */
	assert_int_equal(stats(dev).inflight, 2);
	devctl_call(DK_DEVCTL_OP_STATS, NULL, 0, &m);
	stats_service(&m, &hw, &ready);
	assert_int_equal(hw, 1);    /* the gate's job */
	assert_int_equal(ready, 2); /* ours, behind it */
	stats_session(&m, session_id(dev), &pending, &inflight);
	assert_int_equal(pending, 3);
	assert_int_equal(inflight, 2);
	stats_session(&m, session_id(g), &pending, &inflight);
	assert_int_equal(pending, 0);
	assert_int_equal(inflight, 1);

	/* Released: everything runs, nothing is left anywhere. */
	open_gate(gf, gr);
	for (int i = 0; i < 5; i++)
		assert_int_equal(cqe(r).status, 0);
	devctl_call(DK_DEVCTL_OP_STATS, NULL, 0, &m);
	stats_service(&m, &hw, &ready);
	assert_int_equal(hw, 0);
	assert_int_equal(ready, 0);
	stats_session(&m, session_id(dev), &pending, &inflight);
	assert_int_equal(pending, 0);
	assert_int_equal(inflight, 0);
	close_session(dev);
	close_session(g);
	dk_fence_unref(gf);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fairness, teardown),
		cmocka_unit_test_teardown(test_qos_no_starvation, teardown),
		cmocka_unit_test_teardown(test_edf, teardown),
		cmocka_unit_test_teardown(test_busy, teardown),
		cmocka_unit_test_teardown(test_foreign_input_fence, teardown),
		cmocka_unit_test_teardown(test_hang_resubmit, teardown),
		cmocka_unit_test_teardown(test_hang_fail, teardown),
		cmocka_unit_test_teardown(test_lost_irq, teardown),
		cmocka_unit_test_teardown(test_poll_harvest, teardown),
		cmocka_unit_test_teardown(test_commit_per_pass, teardown),
		cmocka_unit_test_teardown(test_take_batch, teardown),
		cmocka_unit_test_teardown(test_take_batch_too_big, teardown),
		cmocka_unit_test_teardown(test_irq_masked_while_polling, teardown),
		cmocka_unit_test_teardown(test_irq_unmasked_when_poll_ends, teardown),
		cmocka_unit_test_teardown(test_irq_unmasked_when_job_leaves_at_submit, teardown),
		cmocka_unit_test_teardown(test_kill_session, teardown),
		cmocka_unit_test_teardown(test_kill_ready, teardown),
		cmocka_unit_test_teardown(test_kill_threshold, teardown),
		cmocka_unit_test_teardown(test_stats_and_trace, teardown),
		cmocka_unit_test_teardown(test_stats_pending, teardown),
	};

	return cmocka_run_group_tests_name("service", tests, NULL, NULL);
}
