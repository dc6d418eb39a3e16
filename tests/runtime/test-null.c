/* SPDX-License-Identifier: MIT */
/*
 * dk-null and the session client API, with the test playing the broker: each test fork+execs
 * the built service (path in $DK_NULL) with one end of a broker channel (socketpair) in
 * $DK_BROKER_FD and no supervisor (no fence registration) nor runtime directory (no journal).
 * Sessions are opened the way the broker does it (DK_DEVCTL_OP_SESSION with the service's end
 * of a fresh session socketpair) and wrapped with dk_device_adopt().
 *
 * Determinism: the service answers session requests on the thread that serves the queues, and
 * takes what a session published before each request before answering it, so after any reply
 * (dk_device_stats) every submission made before the request has been taken, within the
 * session's limits. "Parked, not completed" is asserted that way, never by waiting a while.
 * Every wait has a deadline.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

#include <dk/dk.h>

#define DEADLINE() dk_deadline_in(30 * DK_NSEC_PER_SEC)
#define GENERATION 7u
#define BUF_SIZE 4096u
#define UNKNOWN_OP 0x77u

struct nullsvc {
	pid_t pid;
	int broker; /* our end of the broker channel */
	uint64_t next_session;
	struct dk_buffer_registry *reg;
};

static struct nullsvc N;
static int last_session_fd = -1; /* the client end given to the latest dk_device_adopt() */

/* ---- the service process ---- */

static int null_setup(void **state)
{
	const char *bin = getenv("DK_NULL");
	int sv[2];

	(void)state;
	if (!bin) {
		print_message("DK_NULL (the dk-null to test) is not set: run through meson test\n");
		return -1;
	}
	memset(&N, 0, sizeof(N));
	N.broker = -1;
	N.next_session = 0x1000;
	if (dk_buffer_registry_create(NULL, &N.reg) < 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	N.pid = fork();
	if (N.pid < 0)
		return -1;
	if (N.pid == 0) {
		char num[16], gen[24];
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = dup(sv[1]); /* without CLOEXEC */
		if (fd < 0)
			_exit(127);
		snprintf(num, sizeof(num), "%d", fd);
		snprintf(gen, sizeof(gen), "%u", GENERATION);
		unsetenv(DK_ENV_SUPERVISOR_FD);
		unsetenv(DK_ENV_RUNTIME_DIR);
		setenv(DK_ENV_BROKER_FD, num, 1);
		setenv(DK_ENV_DEVICE, "null0", 1);
		setenv(DK_ENV_SERVICE, "null", 1);
		setenv(DK_ENV_GENERATION, gen, 1);
		execl(bin, bin, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	N.broker = sv[0];
	return 0;
}

/* SIGTERM: the service finishes its sessions and exits 0. */
static void null_stop(void)
{
	dk_test_stop_daemon(N.pid, NULL);
	N.pid = 0;
}

static int null_teardown(void **state)
{
	(void)state;
	if (N.pid > 0) {
		kill(N.pid, SIGKILL);
		waitpid(N.pid, NULL, 0);
		N.pid = 0;
	}
	if (N.broker >= 0)
		close(N.broker);
	N.broker = -1;
	dk_buffer_registry_destroy(N.reg);
	N.reg = NULL;
	return 0;
}

/* Descriptors the service holds now (/proc/PID/fd). */
static int service_fds(void)
{
	char path[64];
	struct dirent *e;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)N.pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- playing the broker ---- */

static struct dk_session_grant grant_default(void)
{
	struct dk_session_grant g = {
		.generation = GENERATION,
		.session_id = ++N.next_session,
		.rights = DK_RIGHTS_ALL,
		.qos = DK_QOS_BURST,
		.max_bytes = 1u << 20,
		.max_buffers = 16,
		.max_inflight = 64,
		.max_fences = 16,
		.max_violations = DK_SESSION_MAX_VIOLATIONS_UNSET, /* SESSION without one */
	};

	strcpy(g.device_class, "null");
	return g;
}

static size_t session_payload(uint8_t *p, const struct dk_session_grant *g)
{
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, DK_DEVCTL_SESSION_PAYLOAD);
	dk_wire_put_u64(&w, g->session_id);
	dk_wire_put_u32(&w, (uint32_t)getpid());
	dk_wire_put_u32(&w, (uint32_t)getuid());
	dk_wire_put_u32(&w, (uint32_t)getgid());
	dk_wire_put_u32(&w, g->rights);
	dk_wire_put_u32(&w, g->qos);
	dk_wire_put_u32(&w, g->max_buffers);
	dk_wire_put_u64(&w, g->max_bytes);
	dk_wire_put_u32(&w, g->max_inflight);
	dk_wire_put_u32(&w, g->max_fences);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_wire_writer_len(&w), DK_DEVCTL_SESSION_PAYLOAD);
	return DK_DEVCTL_SESSION_PAYLOAD;
}

/* The SESSION payload with @g's kill threshold (max_violations) and its reserved word 0. */
static size_t session_payload_kill(uint8_t *p, const struct dk_session_grant *g)
{
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p + session_payload(p, g),
			    DK_DEVCTL_SESSION_PAYLOAD_KILL - DK_DEVCTL_SESSION_PAYLOAD);
	dk_wire_put_u32(&w, g->max_violations);
	dk_wire_put_u32(&w, 0);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_wire_writer_len(&w), 8);
	return DK_DEVCTL_SESSION_PAYLOAD_KILL;
}

/*
 * Send SESSION with payload @p (@len bytes) for grant @g. Returns 0 and the device; or the
 * service's error (< 0, @ret_reason) after checking that the service let go of its end of the
 * session socket.
 */
static int session_send(const uint8_t *p, size_t len, const struct dk_session_grant *g,
			struct dk_device **ret_dev, uint32_t *ret_reason)
{
	static struct dk_msg reply;
	int sp[2], err;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	err = dk_msg_call(N.broker, &dk_devctl_proto, &dk_devctl_reply_proto, DK_DEVCTL_OP_SESSION,
			  p, len, &sp[1], 1, DEADLINE(), &reply, ret_reason);
	close(sp[1]);
	if (err < 0) {
		char c;

		/* Refused: the service closed its end before answering. */
		assert_int_equal(recv(sp[0], &c, 1, MSG_DONTWAIT), 0);
		close(sp[0]);
		return err;
	}
	assert_int_equal(reply.n_fds, 0);
	assert_int_equal(reply.frame.length, 0);
	assert_int_equal(dk_device_adopt(sp[0], g, "null0", ret_dev), 0);
	last_session_fd = sp[0];
	return 0;
}

/* SESSION as the broker sends it without a kill threshold: see session_send(). */
static int session_open_reason(const struct dk_session_grant *g, struct dk_device **ret_dev,
			       uint32_t *ret_reason)
{
	uint8_t p[DK_DEVCTL_SESSION_PAYLOAD];

	return session_send(p, session_payload(p, g), g, ret_dev, ret_reason);
}

static struct dk_device *session_open(const struct dk_session_grant *g)
{
	struct dk_device *dev = NULL;

	assert_int_equal(session_open_reason(g, &dev, NULL), 0);
	return dev;
}

static struct dk_device *session_open_default(void)
{
	struct dk_session_grant g = grant_default();

	return session_open(&g);
}

/* The next frame on the broker channel must be SESSION_END for @id. */
static void expect_session_end(uint64_t id)
{
	static struct dk_msg m;
	struct dk_wire_reader r;

	assert_int_equal(dk_msg_recv(N.broker, &dk_devctl_proto, DEADLINE(), &m, NULL), 0);
	assert_int_equal(m.frame.opcode, DK_DEVCTL_OP_SESSION_END);
	assert_int_equal(m.frame.flags & (DK_FRAME_F_REPLY | DK_FRAME_F_ERROR), 0);
	assert_int_equal(m.n_fds, 0);
	dk_wire_reader_init(&r, m.frame.payload, m.frame.length);
	assert_int_equal(dk_wire_get_u64(&r), id);
	assert_int_equal(dk_wire_reader_error(&r), 0);
}

/* ---- sessions ---- */

static struct dk_session_stats stats(struct dk_device *dev)
{
	struct dk_session_stats st;

	assert_int_equal(dk_device_stats(dev, DEADLINE(), &st), 0);
	assert_int_equal(st.generation, GENERATION);
	assert_int_equal(st.session_id, dk_device_grant(dev)->session_id);
	return st;
}

static struct dk_ring *queue(struct dk_device *dev, uint32_t entries, uint32_t qos)
{
	struct dk_ring_params p = {.sq_entries = entries, .cq_entries = entries, .qos = qos};
	struct dk_ring *r = NULL;

	assert_int_equal(dk_device_create_queue(dev, &p, DEADLINE(), &r), 0);
	assert_non_null(r);
	return r;
}

static int queue_err(struct dk_device *dev, uint32_t entries, uint32_t qos)
{
	struct dk_ring_params p = {.sq_entries = entries, .cq_entries = entries, .qos = qos};
	struct dk_ring *r = NULL;
	int err = dk_device_create_queue(dev, &p, DEADLINE(), &r);

	assert_true(err < 0);
	assert_null(r);
	return err;
}

/* A fence registered with @rights; its index in @ret_index. */
static struct dk_fence *fence(struct dk_device *dev, uint32_t rights, uint32_t *ret_index)
{
	struct dk_fence *f;

	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(dk_device_register_fence(dev, f, rights, DEADLINE(), ret_index), 0);
	return f;
}

#define FENCE_IN (DK_RIGHT_WAIT | DK_RIGHT_TRANSFER)
#define FENCE_OUT (DK_RIGHT_SIGNAL | DK_RIGHT_WAIT | DK_RIGHT_TRANSFER)

static struct dk_buffer *buffer(uint64_t size)
{
	struct dk_buffer *b;

	assert_int_equal(dk_buffer_create(N.reg, NULL, size, 0, &b), 0);
	return b;
}

static int reg_buffer(struct dk_device *dev, struct dk_buffer *b, uint32_t rights,
		      uint32_t *ret_index)
{
	return dk_device_register_buffer(dev, b, rights, DEADLINE(), ret_index);
}

static struct dk_sqe *nop(struct dk_ring *r, uint64_t user_data)
{
	struct dk_sqe *e = dk_ring_get_sqe(r, NULL);

	assert_non_null(e);
	e->opcode = DK_OP_NOP;
	e->user_data = user_data;
	return e;
}

static void sqe_wait(struct dk_sqe *e, uint32_t index, uint64_t point)
{
	e->wait[e->n_waits].index = index;
	e->wait[e->n_waits].point = point;
	e->n_waits++;
}

static void sqe_signal(struct dk_sqe *e, uint32_t index, uint64_t point)
{
	e->signal.index = index;
	e->signal.point = point;
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

/* ---- 1. NOPs ---- */

static void test_nops(void **state)
{
	enum { JOBS = 1000 };
	static uint8_t seen[JOBS];
	struct dk_session_stats st;
	struct dk_device *dev;
	struct dk_ring *r;
	uint32_t sent = 0, got = 0;

	(void)state;
	memset(seen, 0, sizeof(seen));
	dev = session_open_default();
	r = queue(dev, 64, DK_QOS_NORMAL);
	while (got < JOBS) {
		struct dk_sqe *e;
		struct dk_cqe c;
		int n = 0;

		while (sent < JOBS && (e = dk_ring_get_sqe(r, NULL))) {
			e->opcode = DK_OP_NOP;
			e->user_data = 0xa5a5000000000000ull + sent++;
			n++;
		}
		if (n)
			submit(r, n);
		c = cqe(r);
		for (;;) {
			uint64_t i = c.user_data - 0xa5a5000000000000ull;

			assert_int_equal(c.status, 0);
			assert_int_equal(c.reason, DK_REASON_NONE);
			assert_int_equal(c.result, c.user_data);
			assert_true(i < JOBS);
			assert_int_equal(seen[i], 0);
			assert_true(c.ticket >= 1 && c.ticket <= sent);
			seen[i] = 1;
			got++;
			if (dk_ring_peek_cqe(r, &c) < 0)
				break;
		}
	}
	no_cqe(r);
	st = stats(dev);
	assert_int_equal(st.completed, JOBS);
	assert_int_equal(st.refused, 0);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.queues, 1);
	dk_device_close(dev);
	null_stop();
}

/* ---- 2. an input fence parks the job until it is signalled ---- */

static void test_input_fence(void **state)
{
	struct dk_session_stats st;
	struct dk_device *dev;
	struct dk_fence *f;
	struct dk_ring *r;
	struct dk_cqe c;
	uint32_t fi;

	(void)state;
	dev = session_open_default();
	f = fence(dev, FENCE_IN, &fi);
	r = queue(dev, 8, DK_QOS_NORMAL);
	sqe_wait(nop(r, 42), fi, 1);
	submit(r, 1);

	st = stats(dev);
	assert_int_equal(st.inflight, 1);
	assert_int_equal(st.completed, 0);
	assert_int_equal(st.fences, 1);
	no_cqe(r);
	/* A parked job holds its handles. */
	assert_int_equal(dk_device_unregister(dev, fi, DEADLINE()), -EBUSY);

	assert_int_equal(dk_fence_signal(f, 1), 0);
	c = cqe(r);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.user_data, 42);
	assert_int_equal(c.result, 42);
	st = stats(dev);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.completed, 1);

	/* An input already reached: the job runs at once. */
	sqe_wait(nop(r, 43), fi, 1);
	submit(r, 1);
	c = cqe(r);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.user_data, 43);
	assert_int_equal(dk_device_unregister(dev, fi, DEADLINE()), 0);
	dk_fence_unref(f);
	dk_device_close(dev);
	null_stop();
}

/* ---- 3. an output fence is signalled at the job's point ---- */

static void test_output_fence(void **state)
{
	struct dk_device *dev;
	struct dk_fence *f;
	struct dk_ring *r;
	struct dk_cqe c;
	uint32_t fi, reason = 99;

	(void)state;
	dev = session_open_default();
	f = fence(dev, FENCE_OUT, &fi);
	r = queue(dev, 8, DK_QOS_NORMAL);
	assert_int_equal(dk_fence_status(f, 5, NULL), -EAGAIN);
	sqe_signal(nop(r, 5), fi, 5);
	submit(r, 1);
	assert_int_equal(dk_fence_wait(f, 5, DEADLINE()), 0);
	assert_int_equal(dk_fence_status(f, 5, &reason), 0);
	c = cqe(r);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.user_data, 5);

	/* A point that is not ahead of the timeline is the job's own fault. */
	sqe_signal(nop(r, 6), fi, 4);
	submit(r, 1);
	c = cqe(r);
	assert_int_equal(c.status, -EINVAL);
	assert_int_equal(c.reason, DK_REASON_VALIDATION);
	assert_int_equal(stats(dev).refused, 1);
	dk_fence_unref(f);
	dk_device_close(dev);
	null_stop();
}

/* ---- 4. a failed input cancels the job and fails its output ---- */

static void test_dependency_failure(void **state)
{
	struct dk_session_stats st;
	struct dk_device *dev;
	struct dk_fence *in, *out;
	struct dk_ring *r;
	struct dk_cqe c;
	uint32_t ii, oi, reason = 0;
	struct dk_sqe *e;

	(void)state;
	dev = session_open_default();
	out = fence(dev, FENCE_OUT, &oi);
	in = fence(dev, FENCE_IN, &ii);
	r = queue(dev, 8, DK_QOS_NORMAL);

	/* Parked on the input, which then fails. */
	e = nop(r, 1);
	sqe_wait(e, ii, 1);
	sqe_signal(e, oi, 1);
	submit(r, 1);
	st = stats(dev);
	assert_int_equal(st.inflight, 1);
	no_cqe(r);
	assert_int_equal(dk_fence_status(out, 1, NULL), -EAGAIN);

	assert_int_equal(dk_fence_signal_error(in, 1, -EIO, DK_REASON_HANG), 0);
	c = cqe(r);
	assert_int_equal(c.user_data, 1);
	assert_int_equal(c.status, -ECANCELED);
	assert_int_equal(c.reason, DK_REASON_DEPENDENCY);
	assert_int_equal(dk_fence_status(out, 1, &reason), -ECANCELED);
	assert_int_equal(reason, DK_REASON_DEPENDENCY);

	/* Submitted after the failure: refused the same way without parking. */
	e = nop(r, 2);
	sqe_wait(e, ii, 1);
	submit(r, 1);
	c = cqe(r);
	assert_int_equal(c.user_data, 2);
	assert_int_equal(c.status, -ECANCELED);
	assert_int_equal(c.reason, DK_REASON_DEPENDENCY);

	st = stats(dev);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.completed, 0);
	assert_int_equal(st.refused, 2);
	dk_fence_unref(in);
	dk_fence_unref(out);
	dk_device_close(dev);
	null_stop();
}

/* ---- 5. rights and budgets of the grant ---- */

static void test_rights_and_caps(void **state)
{
	struct dk_session_grant g = grant_default();
	struct dk_session_stats st;
	struct dk_device *dev;
	struct dk_buffer *b[4];
	struct dk_fence *f[2];
	struct dk_ring *rings[DK_SESSION_QUEUES_MAX];
	uint32_t bi[4], fi[2], idx = 0;

	(void)state;
	/* No WRITE, no SIGNAL, Normal at most, two buffers, one fence. */
	g.rights = DK_RIGHTS_ALL & ~(uint32_t)(DK_RIGHT_WRITE | DK_RIGHT_SIGNAL);
	g.qos = DK_QOS_NORMAL;
	g.max_buffers = 2;
	g.max_fences = 1;
	dev = session_open(&g);

	for (int i = 0; i < 4; i++)
		b[i] = buffer(BUF_SIZE);
	assert_int_equal(reg_buffer(dev, b[0], DK_RIGHTS_BUFFER_RW, &idx), -EPERM);
	assert_int_equal(reg_buffer(dev, b[0], DK_RIGHTS_BUFFER_RO, &bi[0]), 0);
	assert_int_equal(reg_buffer(dev, b[1], DK_RIGHTS_BUFFER_RO, &bi[1]), 0);
	assert_int_equal(reg_buffer(dev, b[2], DK_RIGHTS_BUFFER_RO, &idx), -ENOSPC);

	assert_int_equal(dk_fence_create(0, &f[0]), 0);
	assert_int_equal(dk_fence_create(0, &f[1]), 0);
	assert_int_equal(dk_device_register_fence(dev, f[0], FENCE_OUT, DEADLINE(), &idx), -EPERM);
	assert_int_equal(dk_device_register_fence(dev, f[0], FENCE_IN, DEADLINE(), &fi[0]), 0);
	assert_int_equal(dk_device_register_fence(dev, f[1], FENCE_IN, DEADLINE(), &fi[1]),
			 -ENOSPC);

	assert_int_equal(queue_err(dev, 8, DK_QOS_BURST), -EPERM);
	assert_int_equal(queue_err(dev, 8, 0), -EINVAL);
	assert_int_equal(queue_err(dev, 8, DK_QOS_BURST + 1), -EINVAL);
	for (uint32_t i = 0; i < DK_SESSION_QUEUES_MAX; i++)
		rings[i] = queue(dev, 4, i % 2 ? DK_QOS_FRUGAL : DK_QOS_NORMAL);
	assert_int_equal(queue_err(dev, 4, DK_QOS_NORMAL), -ENOSPC);

	st = stats(dev);
	assert_int_equal(st.buffers, 2);
	assert_int_equal(st.bytes, 2 * BUF_SIZE);
	assert_int_equal(st.fences, 1);
	assert_int_equal(st.queues, DK_SESSION_QUEUES_MAX);

	/* Stale and forged indices; unregistering frees the budget. */
	assert_int_equal(dk_device_unregister(dev, 0x7fff1234u, DEADLINE()), -EBADF);
	assert_int_equal(dk_device_unregister(dev, bi[0] + 0x10000u, DEADLINE()), -EBADF);
	assert_int_equal(dk_device_unregister(dev, bi[0], DEADLINE()), 0);
	assert_int_equal(dk_device_unregister(dev, bi[0], DEADLINE()), -EBADF);
	assert_int_equal(dk_device_unregister(dev, fi[0], DEADLINE()), 0);
	st = stats(dev);
	assert_int_equal(st.buffers, 1);
	assert_int_equal(st.bytes, BUF_SIZE);
	assert_int_equal(st.fences, 0);
	assert_int_equal(reg_buffer(dev, b[2], DK_RIGHTS_BUFFER_RO, &bi[2]), 0);
	assert_int_equal(dk_device_register_fence(dev, f[1], FENCE_IN, DEADLINE(), &fi[1]), 0);
	assert_int_not_equal(bi[2], bi[0]); /* a reused slot gets a new generation */
	st = stats(dev);
	assert_int_equal(st.buffers, 2);
	assert_int_equal(st.fences, 1);

	/* A destroyed queue frees its place. */
	assert_int_equal(dk_device_destroy_queue(dev, rings[3], DEADLINE()), 0);
	assert_int_equal(stats(dev).queues, DK_SESSION_QUEUES_MAX - 1);
	rings[3] = queue(dev, 4, DK_QOS_NORMAL);
	dk_device_close(dev);
	expect_session_end(g.session_id);

	/* The byte budget, in a session of its own. */
	g = grant_default();
	g.max_bytes = 2 * BUF_SIZE;
	dev = session_open(&g);
	assert_int_equal(reg_buffer(dev, b[3], DK_RIGHTS_BUFFER_RW, &bi[3]), 0);
	{
		struct dk_buffer *big = buffer(2 * BUF_SIZE);

		assert_int_equal(reg_buffer(dev, big, DK_RIGHTS_BUFFER_RW, &idx), -ENOSPC);
		st = stats(dev);
		assert_int_equal(st.buffers, 1);
		assert_int_equal(st.bytes, BUF_SIZE);
		assert_int_equal(dk_device_unregister(dev, bi[3], DEADLINE()), 0);
		assert_int_equal(stats(dev).bytes, 0);
		assert_int_equal(reg_buffer(dev, big, DK_RIGHTS_BUFFER_RW, &idx), 0);
		st = stats(dev);
		assert_int_equal(st.buffers, 1);
		assert_int_equal(st.bytes, 2 * BUF_SIZE);
		dk_device_close(dev);
		assert_int_equal(dk_buffer_release(big), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(dk_buffer_release(b[i]), 0);
	dk_fence_unref(f[0]);
	dk_fence_unref(f[1]);
	null_stop();
}

/* ---- 6. max_inflight bounds the parked jobs ---- */

static void test_max_inflight(void **state)
{
	struct dk_session_grant g = grant_default();
	struct dk_session_stats st;
	struct dk_device *dev;
	struct dk_fence *f;
	struct dk_ring *r;
	uint32_t fi, done = 0;

	(void)state;
	g.max_inflight = 2;
	dev = session_open(&g);
	f = fence(dev, FENCE_IN, &fi);
	r = queue(dev, 8, DK_QOS_NORMAL);
	for (uint64_t i = 1; i <= 3; i++)
		sqe_wait(nop(r, i), fi, 1);
	submit(r, 3);
	st = stats(dev);
	assert_int_equal(st.inflight, 2);
	assert_int_equal(st.completed, 0);
	no_cqe(r);

	assert_int_equal(dk_fence_signal(f, 1), 0);
	for (int i = 0; i < 3; i++) {
		struct dk_cqe c = cqe(r);

		assert_int_equal(c.status, 0);
		assert_true(c.user_data >= 1 && c.user_data <= 3);
		assert_int_equal(done & (1u << c.user_data), 0);
		done |= 1u << c.user_data;
	}
	no_cqe(r);
	st = stats(dev);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.completed, 3);
	dk_fence_unref(f);
	dk_device_close(dev);
	null_stop();
}

/* ---- 7. jobs that fail validation, a deadline, and a good one after them ---- */

static void test_bad_jobs(void **state)
{
	struct dk_session_stats st;
	struct dk_device *dev;
	struct dk_buffer *b;
	struct dk_ring *r;
	struct dk_sqe *e;
	struct dk_cqe c;
	uint32_t bi;

	(void)state;
	dev = session_open_default();
	b = buffer(BUF_SIZE);
	assert_int_equal(reg_buffer(dev, b, DK_RIGHTS_BUFFER_RW, &bi), 0);
	r = queue(dev, 16, DK_QOS_NORMAL);

	/* 1: a buffer index of another generation (forged). */
	e = nop(r, 1);
	e->n_buffers = 1;
	e->buf[0] = (struct dk_sqe_buffer){.index = bi + 0x10000u, .access = DK_RIGHT_READ,
					   .length = 16};
	/* 2: an opcode the null class lacks. */
	nop(r, 2)->opcode = 9;
	/* 3: its deadline passed before it could run. */
	nop(r, 3)->deadline_ns = 1;
	/* 4: a slice past the end of the buffer. */
	e = nop(r, 4);
	e->n_buffers = 1;
	e->buf[0] = (struct dk_sqe_buffer){.index = bi, .access = DK_RIGHT_WRITE,
					   .offset = BUF_SIZE - 8, .length = 16};
	/* 5: a buffer named as the output fence. */
	sqe_signal(nop(r, 5), bi, 1);
	/* 6: an unknown flag. */
	nop(r, 6)->flags = 0x80;
	/* 7: a good job using the buffer. */
	e = nop(r, 7);
	e->n_buffers = 1;
	e->buf[0] = (struct dk_sqe_buffer){.index = bi, .access = DK_RIGHT_READ | DK_RIGHT_WRITE,
					   .offset = 0, .length = BUF_SIZE};
	submit(r, 7);

	for (uint64_t i = 1; i <= 7; i++) {
		static const struct {
			int status;
			uint32_t reason;
		} want[8] = {
			[1] = {-EBADF, DK_REASON_VALIDATION},
			[2] = {-EINVAL, DK_REASON_VALIDATION},
			[3] = {-ETIMEDOUT, DK_REASON_DEADLINE},
			[4] = {-EINVAL, DK_REASON_VALIDATION},
			[5] = {-EBADF, DK_REASON_VALIDATION},
			[6] = {-EINVAL, DK_REASON_VALIDATION},
			[7] = {0, DK_REASON_NONE},
		};

		c = cqe(r);
		assert_int_equal(c.user_data, i); /* the null class completes in order */
		assert_int_equal(c.status, want[i].status);
		assert_int_equal(c.reason, want[i].reason);
		assert_int_equal(c.ticket, i);
		if (i == 7)
			assert_int_equal(c.result, 7);
	}
	no_cqe(r);
	st = stats(dev);
	assert_int_equal(st.completed, 1);
	assert_int_equal(st.refused, 6);
	assert_int_equal(st.inflight, 0);
	dk_device_close(dev);
	assert_int_equal(dk_buffer_release(b), 0);
	null_stop();
}

/* ---- raw frames ---- */

/* Send one record with @n_fds descriptors, whatever the frame says. */
static void raw_send(int fd, const void *buf, size_t len, const int *fds, uint32_t n_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	assert_true(n_fds <= 8);
	if (n_fds) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n_fds);
	}
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static size_t raw_frame(uint8_t *buf, const struct dk_frame_proto *proto, uint16_t op,
			uint16_t flags, uint64_t seq, const void *payload, size_t len)
{
	int n = dk_frame_encode(buf, DK_FRAME_MAX_SIZE, proto, op, flags, seq, payload, len);

	assert_true(n >= (int)DK_FRAME_HEADER_SIZE);
	return (size_t)n;
}

/*
 * The next frame on @fd must be an error reply to (@op, @seq); returns its error, the reason in
 * @ret_reason. A reply to an opcode @reply_proto does not know is refused by dk_msg_recv() by
 * design (it cannot answer anything we sent), so that one is checked from the raw bytes.
 */
static int recv_error(int fd, const struct dk_frame_proto *reply_proto, uint16_t op, uint64_t seq,
		      uint32_t *ret_reason)
{
	static struct dk_msg m;
	struct dk_wire_reader r;
	struct dk_frame_error fe;
	int err = dk_msg_recv(fd, reply_proto, DEADLINE(), &m, NULL);

	if (err == -EOPNOTSUPP) {
		uint16_t flags;
		uint32_t len;

		assert_true(m.have_header);
		assert_null(dk_frame_find_op(reply_proto, m.raw_opcode));
		dk_wire_reader_init(&r, m.buf + 10, 6);
		flags = dk_wire_get_u16(&r);
		len = dk_wire_get_u32(&r);
		assert_int_equal(flags, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR);
		assert_int_equal(len, DK_FRAME_ERROR_PAYLOAD);
		assert_int_equal(m.raw_opcode, op);
		assert_int_equal(m.raw_seq, seq);
		dk_wire_reader_init(&r, m.buf + DK_FRAME_HEADER_SIZE, DK_FRAME_ERROR_PAYLOAD);
	} else {
		assert_int_equal(err, 0);
		assert_int_equal(m.n_fds, 0);
		assert_int_equal(m.frame.flags, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR);
		assert_int_equal(m.frame.opcode, op);
		assert_int_equal(m.frame.seq, seq);
		assert_int_equal(m.frame.length, DK_FRAME_ERROR_PAYLOAD);
		dk_wire_reader_init(&r, m.frame.payload, m.frame.length);
	}
	fe.error = (int32_t)dk_wire_get_u32(&r);
	fe.reason = dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_true(fe.error < 0);
	if (ret_reason)
		*ret_reason = fe.reason;
	return fe.error;
}

/* Send @len bytes (and descriptors); expect an error reply to (@op, @seq). */
static int raw_refused(int fd, const struct dk_frame_proto *reply_proto, const void *buf,
		       size_t len, const int *fds, uint32_t n_fds, uint16_t op, uint64_t seq)
{
	uint32_t reason = DK_REASON_NONE;
	int err;

	raw_send(fd, buf, len, fds, n_fds);
	err = recv_error(fd, reply_proto, op, seq, &reason);
	if (err == -EPROTO)
		assert_int_equal(reason, DK_REASON_PROTOCOL);
	return err;
}

/* Overwrite the little-endian u32 at @off of a frame. */
static void poke_u32(uint8_t *buf, size_t off, uint32_t v)
{
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, buf + off, 4);
	dk_wire_put_u32(&w, v);
}

static void poke_u16(uint8_t *buf, size_t off, uint16_t v)
{
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, buf + off, 2);
	dk_wire_put_u16(&w, v);
}

/* ---- 8. malformed frames on the session socket ---- */

static void test_session_malformed(void **state)
{
	const struct dk_frame_proto *rp = &dk_session_reply_proto;
	static uint8_t buf[DK_FRAME_MAX_SIZE + 64];
	uint8_t p[16] = {0};
	struct dk_session_stats st;
	struct dk_device *dev;
	struct dk_buffer *b;
	int sock, fds0, fds[5], bfd;
	size_t n;

	(void)state;
	b = buffer(BUF_SIZE);
	dev = session_open_default();
	/* The device owns the socket; frames are sent on it directly between calls. */
	sock = last_session_fd;
	assert_int_equal(dk_device_check(dev), 0);
	stats(dev); /* the service is up and serving: its descriptors are settled */
	fds0 = service_fds();

	/* Bad magic. */
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_STATS, 0, 101, NULL, 0);
	buf[0] ^= 0xff;
	assert_int_equal(raw_refused(sock, rp, buf, n, NULL, 0, DK_SESSION_OP_STATS, 101), -EPROTO);
	/* Another major version. */
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_STATS, 0, 102, NULL, 0);
	poke_u16(buf, 4, DK_ABI_MAJOR + 1);
	assert_int_equal(raw_refused(sock, rp, buf, n, NULL, 0, DK_SESSION_OP_STATS, 102), -EPROTO);
	/* A truncated header: nothing to answer (checked by the next exchange's seq). */
	raw_frame(buf, &dk_session_proto, DK_SESSION_OP_STATS, 0, 103, NULL, 0);
	raw_send(sock, buf, 10, NULL, 0);
	/* The length field says more than arrived, then less. */
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_UNREGISTER, 0, 104, p, 8);
	poke_u32(buf, 12, 16);
	assert_int_equal(raw_refused(sock, rp, buf, n, NULL, 0, DK_SESSION_OP_UNREGISTER, 104),
			 -EPROTO);
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_UNREGISTER, 0, 105, p, 8);
	poke_u32(buf, 12, 4);
	assert_int_equal(raw_refused(sock, rp, buf, n, NULL, 0, DK_SESSION_OP_UNREGISTER, 105),
			 -EPROTO);
	/* A payload size the opcode does not take. */
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_UNREGISTER, 0, 106, p, 4);
	assert_int_equal(raw_refused(sock, rp, buf, n, NULL, 0, DK_SESSION_OP_UNREGISTER, 106),
			 -EPROTO);
	/* A record larger than any frame. */
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_STATS, 0, 107, NULL, 0);
	assert_int_equal(raw_refused(sock, rp, buf, sizeof(buf), NULL, 0, DK_SESSION_OP_STATS, 107),
			 -EPROTO);
	/* An unknown opcode. */
	n = raw_frame(buf, NULL, UNKNOWN_OP, 0, 108, NULL, 0);
	assert_int_equal(raw_refused(sock, rp, buf, n, NULL, 0, UNKNOWN_OP, 108), -EOPNOTSUPP);
	/* A reply where a request belongs. */
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_STATS, DK_FRAME_F_REPLY, 109, NULL, 0);
	assert_int_equal(raw_refused(sock, rp, buf, n, NULL, 0, DK_SESSION_OP_STATS, 109), -EPROTO);

	/* REG_BUFFER, well formed, without its descriptor. */
	{
		struct dk_wire_writer w;

		dk_wire_writer_init(&w, p, sizeof(p));
		dk_wire_put_u32(&w, DK_RIGHTS_BUFFER_RW);
		dk_wire_put_u32(&w, 0);
		dk_wire_put_u64(&w, BUF_SIZE);
	}
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_REG_BUFFER, 0, 110, p, 16);
	assert_int_equal(raw_refused(sock, rp, buf, n, NULL, 0, DK_SESSION_OP_REG_BUFFER, 110),
			 -EPROTO);
	/* ... claiming one (FDS) that is not there. */
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_REG_BUFFER, DK_FRAME_F_FDS, 111, p, 16);
	assert_int_equal(raw_refused(sock, rp, buf, n, NULL, 0, DK_SESSION_OP_REG_BUFFER, 111),
			 -EPROTO);
	/* ... carrying one without saying so (no DK_FRAME_F_FDS). */
	assert_int_equal(dk_buffer_export(b, DK_RIGHTS_BUFFER_RW, &bfd), 0);
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_REG_BUFFER, 0, 112, p, 16);
	assert_int_equal(raw_refused(sock, rp, buf, n, &bfd, 1, DK_SESSION_OP_REG_BUFFER, 112),
			 -EPROTO);
	/* ... with two descriptors. */
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_REG_BUFFER, DK_FRAME_F_FDS, 113, p, 16);
	fds[0] = fds[1] = bfd;
	assert_int_equal(raw_refused(sock, rp, buf, n, fds, 2, DK_SESSION_OP_REG_BUFFER, 113),
			 -EPROTO);
	/* ... with more than DK_MSG_MAX_FDS. */
	for (int i = 0; i < 5; i++)
		fds[i] = bfd;
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_REG_BUFFER, DK_FRAME_F_FDS, 114, p, 16);
	assert_int_equal(raw_refused(sock, rp, buf, n, fds, 5, DK_SESSION_OP_REG_BUFFER, 114),
			 -EPROTO);
	/* ... with a descriptor that is not a buffer. */
	n = raw_frame(buf, &dk_session_proto, DK_SESSION_OP_REG_BUFFER, DK_FRAME_F_FDS, 115, p, 16);
	assert_int_equal(raw_refused(sock, rp, buf, n, &sock, 1, DK_SESSION_OP_REG_BUFFER, 115),
			 -EBADF);
	close(bfd);

	/* Nothing was registered, every descriptor that came was closed, and the session works. */
	assert_int_equal(service_fds(), fds0);
	st = stats(dev);
	assert_int_equal(st.buffers, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(reg_buffer(dev, b, DK_RIGHTS_BUFFER_RW, &(uint32_t){0}), 0);
	assert_int_equal(stats(dev).buffers, 1);
	dk_device_close(dev);
	assert_int_equal(dk_buffer_release(b), 0);
	null_stop();
}

/* ---- 9. closing the device ends the session, and the broker hears of it ---- */

static void test_session_end(void **state)
{
	struct dk_device *dev, *other;
	struct dk_fence *in, *out;
	struct dk_buffer *b;
	struct dk_ring *r;
	struct dk_sqe *e;
	uint32_t ii, oi, bi, reason = 0;
	uint64_t id;
	int fds0;

	(void)state;
	other = session_open_default();
	assert_int_equal(stats(other).queues, 0);
	fds0 = service_fds();
	dev = session_open_default();
	id = dk_device_grant(dev)->session_id;
	b = buffer(BUF_SIZE);
	assert_int_equal(reg_buffer(dev, b, DK_RIGHTS_BUFFER_RW, &bi), 0);
	out = fence(dev, FENCE_OUT, &oi);
	in = fence(dev, FENCE_IN, &ii);
	r = queue(dev, 8, DK_QOS_NORMAL);
	e = nop(r, 1);
	sqe_wait(e, ii, 1);
	sqe_signal(e, oi, 1);
	submit(r, 1);
	assert_int_equal(stats(dev).inflight, 1);

	dk_device_close(dev);
	expect_session_end(id);
	/* Its parked job was cancelled, and its output fence says so. */
	assert_int_equal(dk_fence_status(out, 1, &reason), -ECANCELED);
	assert_int_equal(reason, DK_REASON_CANCELLED);
	/* Everything it held is gone from the service; the other session is untouched. */
	assert_int_equal(service_fds(), fds0);
	assert_int_equal(stats(other).inflight, 0);

	id = dk_device_grant(other)->session_id;
	dk_device_close(other);
	expect_session_end(id);
	dk_fence_unref(in);
	dk_fence_unref(out);
	assert_int_equal(dk_buffer_release(b), 0);
	null_stop();
}

/* ---- 10. the session cap ---- */

static void test_session_cap(void **state)
{
	static struct dk_device *devs[DK_SERVICE_SESSIONS_MAX];
	struct dk_session_grant g;
	struct dk_device *dev = NULL;
	uint32_t reason = 0;
	uint64_t id;

	(void)state;
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX; i++)
		devs[i] = session_open_default();
	g = grant_default();
	assert_int_equal(session_open_reason(&g, &dev, &reason), -EBUSY);
	assert_int_equal(reason, DK_REASON_BUDGET);
	assert_null(dev);
	/* Every open session still answers. */
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX; i++)
		stats(devs[i]);

	id = dk_device_grant(devs[5])->session_id;
	dk_device_close(devs[5]);
	expect_session_end(id);
	devs[5] = session_open_default();
	assert_int_equal(stats(devs[5]).buffers, 0);
	g = grant_default();
	assert_int_equal(session_open_reason(&g, &dev, &reason), -EBUSY);

	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX; i++)
		dk_device_close(devs[i]);
	null_stop();
}

/* ---- 11. malformed devctl frames from the broker ---- */

/* Send @buf with the service's end of a new session socket; expect @want and no session. */
static void devctl_refused_fd(const void *buf, size_t len, uint16_t op, uint64_t seq, int want)
{
	int sp[2];
	char c;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
	assert_int_equal(raw_refused(N.broker, &dk_devctl_reply_proto, buf, len, &sp[1], 1, op,
				     seq), want);
	close(sp[1]);
	/* No session came of it: the service kept no end of the socket. */
	assert_int_equal(recv(sp[0], &c, 1, MSG_DONTWAIT), 0);
	close(sp[0]);
}

static void test_devctl_malformed(void **state)
{
	const struct dk_frame_proto *rp = &dk_devctl_reply_proto;
	static uint8_t buf[DK_FRAME_MAX_SIZE];
	uint8_t p[DK_DEVCTL_SESSION_PAYLOAD_KILL] = {0};
	struct dk_session_grant g = grant_default();
	struct dk_session_stats st;
	struct dk_device *dev;
	struct dk_ring *r;
	struct dk_cqe c;
	uint64_t id;
	size_t n;
	int fds0 = 0;

	(void)state;
	session_payload(p, &g);
	/* The first exchange makes sure the service is up before counting its descriptors. */
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION, 0, 201, p, 8);
	assert_int_equal(raw_refused(N.broker, rp, buf, n, NULL, 0, DK_DEVCTL_OP_SESSION, 201),
			 -EPROTO);
	fds0 = service_fds();

	/* Bad magic, with the session socket attached. */
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION, DK_FRAME_F_FDS, 202, p,
		      DK_DEVCTL_SESSION_PAYLOAD);
	buf[1] ^= 0x55;
	devctl_refused_fd(buf, n, DK_DEVCTL_OP_SESSION, 202, -EPROTO);
	/* A truncated header: no answer (the next exchange checks the seq). */
	raw_send(N.broker, buf, 12, NULL, 0);
	/* Length mismatch. */
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION, DK_FRAME_F_FDS, 203, p,
		      DK_DEVCTL_SESSION_PAYLOAD);
	poke_u32(buf, 12, DK_DEVCTL_SESSION_PAYLOAD + 8);
	devctl_refused_fd(buf, n, DK_DEVCTL_OP_SESSION, 203, -EPROTO);
	/* A payload of the wrong size, with its descriptor. */
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION, DK_FRAME_F_FDS, 204, p,
		      DK_DEVCTL_SESSION_PAYLOAD - 8);
	devctl_refused_fd(buf, n, DK_DEVCTL_OP_SESSION, 204, -EPROTO);
	/* An unknown opcode. */
	n = raw_frame(buf, NULL, UNKNOWN_OP, 0, 205, NULL, 0);
	assert_int_equal(raw_refused(N.broker, rp, buf, n, NULL, 0, UNKNOWN_OP, 205), -EOPNOTSUPP);
	/* SESSION without the socket. */
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION, 0, 206, p,
		      DK_DEVCTL_SESSION_PAYLOAD);
	assert_int_equal(raw_refused(N.broker, rp, buf, n, NULL, 0, DK_DEVCTL_OP_SESSION, 206),
			 -EPROTO);
	/* SESSION carrying a socket without DK_FRAME_F_FDS. */
	devctl_refused_fd(buf, n, DK_DEVCTL_OP_SESSION, 206, -EPROTO);
	/* Grants that cannot be: an invalid QoS, an empty budget. */
	g.qos = 0;
	session_payload(p, &g);
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION, DK_FRAME_F_FDS, 207, p,
		      DK_DEVCTL_SESSION_PAYLOAD);
	devctl_refused_fd(buf, n, DK_DEVCTL_OP_SESSION, 207, -EPROTO);
	g.qos = DK_QOS_NORMAL;
	g.max_inflight = 0;
	session_payload(p, &g);
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION, DK_FRAME_F_FDS, 208, p,
		      DK_DEVCTL_SESSION_PAYLOAD);
	devctl_refused_fd(buf, n, DK_DEVCTL_OP_SESSION, 208, -EPROTO);
	/* The service's own message, sent to it. */
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION_END, 0, 209, p, 8);
	assert_int_equal(raw_refused(N.broker, rp, buf, n, NULL, 0, DK_DEVCTL_OP_SESSION_END, 209),
			 -EPROTO);
	/* A reply where a request belongs. */
	g = grant_default();
	session_payload(p, &g);
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION,
		      DK_FRAME_F_REPLY | DK_FRAME_F_FDS, 210, p, DK_DEVCTL_SESSION_PAYLOAD);
	devctl_refused_fd(buf, n, DK_DEVCTL_OP_SESSION, 210, -EPROTO);
	/* A kill threshold without its reserved word: neither SESSION length. */
	g.max_violations = 2;
	session_payload_kill(p, &g);
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION, DK_FRAME_F_FDS, 211, p,
		      DK_DEVCTL_SESSION_PAYLOAD + 4);
	devctl_refused_fd(buf, n, DK_DEVCTL_OP_SESSION, 211, -EPROTO);
	/* A kill threshold whose reserved word is not 0. */
	poke_u32(p, DK_DEVCTL_SESSION_PAYLOAD + 4, 1);
	n = raw_frame(buf, &dk_devctl_proto, DK_DEVCTL_OP_SESSION, DK_FRAME_F_FDS, 212, p,
		      DK_DEVCTL_SESSION_PAYLOAD_KILL);
	devctl_refused_fd(buf, n, DK_DEVCTL_OP_SESSION, 212, -EPROTO);

	/* No descriptor was kept, and the service still opens sessions. */
	assert_int_equal(service_fds(), fds0);
	dev = session_open_default();
	assert_int_equal(stats(dev).queues, 0);
	id = dk_device_grant(dev)->session_id;
	dk_device_close(dev);
	expect_session_end(id);

	/* A well-formed kill threshold is accepted and is the session's own: at 1, the first
	 * violation kills it, where the service's default (16) would not. */
	g = grant_default();
	g.max_violations = 1;
	assert_int_equal(session_send(p, session_payload_kill(p, &g), &g, &dev, NULL), 0);
	assert_int_equal(dk_device_grant(dev)->max_violations, 1);
	r = queue(dev, 8, DK_QOS_NORMAL);
	nop(r, 1)->param = 1; /* dk-null refuses a NOP with a parameter */
	submit(r, 1);
	c = cqe(r);
	assert_int_equal(c.user_data, 1);
	assert_int_equal(c.status, -EINVAL);
	assert_int_equal(c.reason, DK_REASON_VALIDATION);
	/* Killed after that completion: the queue's fence fails, the session is gone. */
	assert_int_equal(dk_ring_wait_cqe(r, &c, DEADLINE()), -ECANCELED);
	assert_int_equal(dk_device_stats(dev, DEADLINE(), &st), -ENODEV);
	expect_session_end(g.session_id);
	dk_device_close(dev);
	null_stop();
}

/* ---- 12. destroying a queue cancels its parked jobs ---- */

static void test_destroy_parked(void **state)
{
	struct dk_session_stats st;
	struct dk_device *dev;
	struct dk_fence *in, *out;
	struct dk_ring *r, *r2;
	struct dk_sqe *e;
	uint32_t ii, oi, reason = 0;

	(void)state;
	dev = session_open_default();
	out = fence(dev, FENCE_OUT, &oi);
	in = fence(dev, FENCE_IN, &ii);
	r = queue(dev, 8, DK_QOS_NORMAL);
	r2 = queue(dev, 8, DK_QOS_NORMAL);
	e = nop(r, 1);
	sqe_wait(e, ii, 1);
	sqe_signal(e, oi, 3);
	submit(r, 1);
	st = stats(dev);
	assert_int_equal(st.inflight, 1);
	assert_int_equal(st.queues, 2);
	no_cqe(r);

	/* The completion cannot be read once the ring is freed: the output fence tells. */
	assert_int_equal(dk_device_destroy_queue(dev, r, DEADLINE()), 0);
	assert_int_equal(dk_fence_status(out, 3, &reason), -ECANCELED);
	assert_int_equal(reason, DK_REASON_CANCELLED);
	st = stats(dev);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.queues, 1);
	assert_int_equal(st.refused, 1);
	assert_int_equal(st.completed, 0);
	/* Nothing holds the handles any more. */
	assert_int_equal(dk_device_unregister(dev, ii, DEADLINE()), 0);
	/* The other queue still serves. */
	nop(r2, 9);
	submit(r2, 1);
	assert_int_equal(cqe(r2).status, 0);
	assert_int_equal(dk_device_destroy_queue(dev, r2, DEADLINE()), 0);
	assert_int_equal(dk_device_destroy_queue(dev, r2, DEADLINE()), -EINVAL);
	dk_fence_unref(in);
	dk_fence_unref(out);
	dk_device_close(dev);
	null_stop();
}

/* ---- 13. a client that corrupts its ring breaks only that queue ---- */

static void test_hostile_ring(void **state)
{
	struct dk_session_stats st;
	struct dk_device *dev;
	struct dk_fence *in, *out;
	struct dk_ring *r, *r2;
	struct dk_sqe *e;
	struct dk_cqe c;
	uint32_t ii, oi, reason = 0;
	volatile uint32_t *sq_tail;
	void *hdr;

	(void)state;
	dev = session_open_default();
	out = fence(dev, FENCE_OUT, &oi);
	in = fence(dev, FENCE_IN, &ii);
	r = queue(dev, 8, DK_QOS_NORMAL);
	r2 = queue(dev, 8, DK_QOS_NORMAL);
	e = nop(r, 1);
	sqe_wait(e, ii, 1);
	sqe_signal(e, oi, 1);
	submit(r, 1);
	assert_int_equal(stats(dev).inflight, 1);

	/* The SQ tail (docs/abi.md, "Rings": offset 64) jumps far past the ring. */
	hdr = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, dk_ring_fd(r), 0);
	assert_true(hdr != MAP_FAILED);
	sq_tail = (volatile uint32_t *)((uint8_t *)hdr + 64);
	*sq_tail += 1000;
	/* The next request makes the service look at the queue: it breaks it, fails its fence. */
	st = stats(dev);
	assert_int_equal(st.queues, 2);
	assert_int_equal(dk_ring_wait_cqe(r, &c, DEADLINE()), -EPROTO);
	assert_int_equal(munmap(hdr, 4096), 0);

	/* The other queue and the session are unaffected. */
	nop(r2, 2);
	submit(r2, 1);
	c = cqe(r2);
	assert_int_equal(c.status, 0);
	assert_int_equal(c.user_data, 2);

	/* Destroying the broken queue cancels the job it still held. */
	assert_int_equal(dk_device_destroy_queue(dev, r, DEADLINE()), 0);
	assert_int_equal(dk_fence_status(out, 1, &reason), -ECANCELED);
	assert_int_equal(reason, DK_REASON_CANCELLED);
	st = stats(dev);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.queues, 1);
	assert_int_equal(dk_device_unregister(dev, ii, DEADLINE()), 0);
	dk_fence_unref(in);
	dk_fence_unref(out);
	dk_device_close(dev);
	null_stop();
}

/* ---- 14. SIGTERM ends every session, and the broker hears of each ---- */

static void test_orderly_stop(void **state)
{
	struct dk_device *a, *b;
	struct dk_session_stats st;
	uint64_t ida, idb;

	(void)state;
	a = session_open_default();
	b = session_open_default();
	ida = dk_device_grant(a)->session_id;
	idb = dk_device_grant(b)->session_id;
	queue(b, 4, DK_QOS_BURST);
	assert_int_equal(dk_device_reopen(a, DEADLINE()), -ENODEV); /* adopted: no broker */

	null_stop();
	/* Sent before it exited; still in the channel. In session order. */
	expect_session_end(ida);
	expect_session_end(idb);
	assert_int_equal(dk_device_check(a), -ENODEV);
	assert_int_equal(dk_device_stats(b, DEADLINE(), &st), -ENODEV);
	assert_int_equal(dk_device_check(b), -ENODEV);
	dk_device_close(a);
	dk_device_close(b);
}

/* ---- 15. the broker hanging up ends the service cleanly ---- */

static void test_broker_hangup(void **state)
{
	struct dk_session_stats st;
	struct dk_device *dev;
	struct pollfd pfd;
	int pidfd, status;

	(void)state;
	dev = session_open_default();
	pidfd = (int)syscall(SYS_pidfd_open, N.pid, 0);
	if (pidfd < 0) {
		dk_device_close(dev);
		skip();
	}
	close(N.broker);
	N.broker = -1;
	pfd.fd = pidfd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 30000), 1);
	close(pidfd);
	assert_int_equal(waitpid(N.pid, &status, 0), N.pid);
	N.pid = 0;
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(dk_device_stats(dev, DEADLINE(), &st), -ENODEV);
	dk_device_close(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nops, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_input_fence, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_output_fence, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_dependency_failure, null_setup,
						null_teardown),
		cmocka_unit_test_setup_teardown(test_rights_and_caps, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_max_inflight, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_bad_jobs, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_session_malformed, null_setup,
						null_teardown),
		cmocka_unit_test_setup_teardown(test_session_end, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_session_cap, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_devctl_malformed, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_parked, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ring, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_orderly_stop, null_setup, null_teardown),
		cmocka_unit_test_setup_teardown(test_broker_hangup, null_setup, null_teardown),
	};

	return cmocka_run_group_tests_name("runtime-null", tests, NULL, NULL);
}
