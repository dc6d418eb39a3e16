/* SPDX-License-Identifier: MIT */
/*
 * The whole stack, integrated: every test starts dk-supervisor (dk_stack_start(), a child of
 * the test) in its own mkdtemp runtime directory with a manifest and a policy it writes there,
 * so the real dk-logd, dk-policyd, dk-broker and dk-null run under it, drives it through the
 * public API (dk/client.h, dk/log.h, the STATUS clients) or with raw frames, and stops it
 * checking that nothing is left behind (harness.h).
 *
 * Determinism: nothing waits a while. A job is known to be parked because a NOP submitted
 * after it completed (the service takes submissions in order), and the session's STATS
 * (answered after the service took what was published) says how many are in flight; a crash
 * is known to have been handled because the waiters woke, a restart because dk_device_reopen()
 * got the new generation, a journal record because it was found by looking back or came to a
 * follower started before the event. Clients run as forked processes and report through a
 * pipe; only the test process asserts. Every wait has a deadline (WAIT_NS) and is checked to
 * have ended for the expected reason, not at the deadline.
 *
 * Set DK_STACK_TEST to a cmocka filter pattern to run some tests only (e.g. "*crash*").
 * The dkctl test runs the built dkctl ($DKCTL) and checks its JSON with python3.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/dk.h>
#include <dk/log.h>
#include <dk/policy.h>

#include "broker-client.h"
#include "harness.h"
#include "supervisor-client.h"

#define FENCE_IN (DK_RIGHT_WAIT | DK_RIGHT_TRANSFER)
#define FENCE_OUT (DK_RIGHT_SIGNAL | DK_RIGHT_WAIT | DK_RIGHT_TRANSFER)
#define PARKED_DATA 0x5041524b00000000ull /* user_data of jobs parked behind a gate */

static struct ts T;

static int teardown(void **state)
{
	(void)state;
	ts_cleanup();
	return 0;
}

static const char *kvf(char *buf, size_t size, const char *key, uint64_t v)
{
	snprintf(buf, size, "%s=%" PRIu64, key, v);
	return buf;
}

/* ---- the client side, shared by the test process and forked clients (no assertions) ---- */

/* Create a queue of @entries on @dev and register an output fence for its jobs. */
static int setup_queue(struct dk_device *dev, uint32_t entries, uint32_t qos,
		       struct dk_fence **ret_out, uint32_t *ret_out_index,
		       struct dk_ring **ret_ring)
{
	struct dk_ring_params p = {.sq_entries = entries, .cq_entries = entries, .qos = qos};
	int err = dk_fence_create(0, ret_out);

	if (err < 0)
		return err;
	err = dk_device_register_fence(dev, *ret_out, FENCE_OUT, DEADLINE(), ret_out_index);
	if (err < 0)
		return err;
	return dk_device_create_queue(dev, &p, DEADLINE(), ret_ring);
}

/*
 * Run @n NOPs in batches of up to half the ring; the last of each batch signals @out at the
 * next point. Every completion must be a success carrying its user_data back, in order.
 */
static int run_jobs(struct dk_ring *ring, struct dk_fence *out, uint32_t out_index,
		    uint64_t *point, uint32_t n)
{
	uint32_t batch_max = dk_ring_sq_entries(ring) / 2, done = 0;
	struct dk_cqe cqe;
	int err;

	while (done < n) {
		uint32_t batch = n - done < batch_max ? n - done : batch_max;

		for (uint32_t i = 0; i < batch; i++) {
			struct dk_sqe *sqe = dk_ring_get_sqe(ring, NULL);

			if (!sqe)
				return -ENOSPC;
			sqe->opcode = DK_OP_NOP;
			sqe->user_data = done + i + 1;
			if (i == batch - 1) {
				sqe->signal.index = out_index;
				sqe->signal.point = ++*point;
			}
		}
		err = dk_ring_submit(ring);
		if (err != (int)batch)
			return err < 0 ? err : -EPROTO;
		for (uint32_t i = 0; i < batch; i++) {
			err = dk_ring_wait_cqe(ring, &cqe, DEADLINE());
			if (err < 0)
				return err;
			if (cqe.status != 0)
				return cqe.status;
			if (cqe.user_data != done + i + 1 || cqe.result != cqe.user_data)
				return -EPROTO;
		}
		done += batch;
	}
	return dk_fence_wait(out, *point, DEADLINE());
}

/*
 * Park @n jobs behind input fence @gate_index (point 1, never signalled). The session's STATS,
 * answered once the service took what was published before it, says how many the service
 * holds (the QoS depth allows: one for Frugal). Returns 0, the last job's ticket and that
 * number.
 */
static int park_jobs(struct dk_device *dev, struct dk_ring *ring, uint32_t gate_index,
		     uint32_t n, uint64_t *ret_ticket, uint32_t *ret_inflight)
{
	struct dk_session_stats ss;
	int err;

	for (uint32_t i = 0; i < n; i++) {
		struct dk_sqe *sqe = dk_ring_get_sqe(ring, ret_ticket);

		if (!sqe)
			return -ENOSPC;
		sqe->opcode = DK_OP_NOP;
		sqe->user_data = PARKED_DATA + i;
		sqe->n_waits = 1;
		sqe->wait[0].index = gate_index;
		sqe->wait[0].point = 1;
	}
	err = dk_ring_submit(ring);
	if (err != (int)n)
		return err < 0 ? err : -EPROTO;
	err = dk_device_stats(dev, DEADLINE(), &ss);
	if (err < 0)
		return err;
	*ret_inflight = ss.inflight;
	return 0;
}

/* ---- 1. deny by default ---- */

static void test_deny_by_default(void **state)
{
	struct dk_service_status broker, null;
	struct dk_device_entry e[4];
	struct dk_device_status dst;
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_log_client *follower;
	struct dk_log_record rec;
	char uid[32], pid[32], gen[48];

	(void)state;
	ts_start(&T, &(struct ts_config){.policy = ts_policy_service_only});
	broker = ts_service(&T, "broker");
	null = ts_service(&T, "null");
	assert_int_equal(null.state, DK_SERVICE_RUNNING);

	follower = ts_follow(&T, DK_LOG_AUDIT);
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), -EACCES);
	assert_null(dev);
	assert_int_equal(dk_client_list(c, e, 4, DEADLINE()), 0);

	/* The broker audited the denial before answering, with the policy's reason. */
	kvf(uid, sizeof(uid), "uid", getuid());
	kvf(pid, sizeof(pid), "pid", (uint64_t)getpid());
	kvf(gen, sizeof(gen), "generation", null.generation);
	assert_int_equal(ts_journal_count(&T, "broker.open", "open denied", DK_LOG_AUDIT,
					  KV("device=null0", "class=null", uid, pid, "verdict=deny",
					     "reason=no-rule", "rule=-", "session=0", gen),
					  &rec),
			 1);
	assert_int_equal(rec.severity, DK_LOG_AUDIT);
	assert_int_equal(rec.pid, broker.pid); /* authenticated: the broker's own record */
	/* dk-policyd journals its own decision, after it answered. */
	ts_await_record(&T, follower, "policy", KV("device=null0", "class=null", "decision=deny",
						    "reason=no-rule", "rule=-"),
			&rec);
	assert_int_equal(rec.pid, ts_service(&T, "policyd").pid);

	assert_true(ts_device(&T, "null0", &dst));
	assert_int_equal(dst.state, DK_DEVICE_UP);
	assert_int_equal(dst.opens, 0);
	assert_int_equal(dst.sessions, 0);
	assert_int_equal(dst.denials, 1);
	dk_client_close(c);
	ts_stop(&T);
}

/* ---- 2. an allowed open: the rule's grant, jobs, LIST ---- */

static const char policy_grant[] =
	"[rule null-service]\nservice = null\ndevice = null0\n"
	"rights = read, write, map, wait, signal, transfer\nqos = burst\nmax_bytes = 1G\n"
	"max_buffers = 1024\nmax_inflight = 4096\nmax_fences = 1024\n"
	"\n[rule me-null0]\nuid = @UID@\ndevice = null0\n"
	"rights = read, map, wait, signal, transfer\nqos = normal\nmax_bytes = 3M\n"
	"max_buffers = 5\nmax_inflight = 48\nmax_fences = 4\n";

static void test_open_allowed(void **state)
{
	const struct dk_session_grant *g;
	struct dk_service_status null;
	struct dk_session_stats ss;
	struct dk_device_entry e[4];
	struct dk_device_status dst;
	struct dk_buffer_registry *reg;
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_fence *out, *extra[4];
	struct dk_ring *ring = NULL, *burst = NULL;
	struct dk_ring_params bp = {.sq_entries = 8, .cq_entries = 8, .qos = DK_QOS_BURST};
	struct dk_buffer *buf;
	uint32_t out_index, idx;
	uint64_t point = 0;
	char uid[32], sess[48], gen[48];

	(void)state;
	ts_start(&T, &(struct ts_config){.policy = policy_grant});
	null = ts_service(&T, "null");
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), 0);

	/* Exactly what rule me-null0 says, bound to this start of the service. */
	g = dk_device_grant(dev);
	assert_int_equal(g->rights, DK_RIGHT_READ | DK_RIGHT_MAP | DK_RIGHT_WAIT | DK_RIGHT_SIGNAL |
					    DK_RIGHT_TRANSFER);
	assert_int_equal(g->qos, DK_QOS_NORMAL);
	assert_int_equal(g->max_bytes, 3u << 20);
	assert_int_equal(g->max_buffers, 5);
	assert_int_equal(g->max_inflight, 48);
	assert_int_equal(g->max_fences, 4);
	assert_string_equal(g->device_class, "null");
	assert_int_equal(g->generation, null.generation);
	assert_int_equal(dk_device_generation(dev), null.generation);
	assert_true(g->session_id != 0);

	/* Audited with the deciding rule and the session. */
	kvf(uid, sizeof(uid), "uid", getuid());
	kvf(sess, sizeof(sess), "session", g->session_id);
	kvf(gen, sizeof(gen), "generation", null.generation);
	assert_int_equal(ts_journal_count(&T, "broker.open", "open allowed", DK_LOG_AUDIT,
					  KV("device=null0", "class=null", uid, "verdict=allow",
					     "reason=grant", "rule=me-null0", sess, gen),
					  NULL),
			 1);

	/* Jobs run, and signal their output fence. */
	assert_int_equal(setup_queue(dev, 64, DK_QOS_NORMAL, &out, &out_index, &ring), 0);
	assert_int_equal(run_jobs(ring, out, out_index, &point, 500), 0);
	assert_int_equal(dk_device_stats(dev, DEADLINE(), &ss), 0);
	assert_int_equal(ss.generation, null.generation);
	assert_int_equal(ss.session_id, g->session_id);
	assert_int_equal(ss.completed, 500);
	assert_int_equal(ss.refused, 0);
	assert_int_equal(ss.inflight, 0);
	assert_int_equal(ss.queues, 1);
	assert_int_equal(ss.fences, 1);

	/* The service holds the session to the grant: QoS ceiling, rights, fence budget. */
	assert_int_equal(dk_device_create_queue(dev, &bp, DEADLINE(), &burst), -EPERM);
	assert_null(burst);
	assert_int_equal(dk_buffer_registry_create(NULL, &reg), 0);
	assert_int_equal(dk_buffer_create(reg, NULL, 4096, 0, &buf), 0);
	assert_int_equal(dk_device_register_buffer(dev, buf, DK_RIGHTS_BUFFER_RW, DEADLINE(), &idx),
			 -EPERM); /* no write right */
	assert_int_equal(dk_device_register_buffer(dev, buf, DK_RIGHTS_BUFFER_RO, DEADLINE(), &idx),
			 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(dk_fence_create(0, &extra[i]), 0);
		/* The fourth is the budget's last: the output fence is one. */
		assert_int_equal(dk_device_register_fence(dev, extra[i], FENCE_IN, DEADLINE(),
							  &idx),
				 i < 3 ? 0 : -ENOSPC);
	}

	/* LIST names the device, as this uid may open it. */
	assert_int_equal(dk_client_list(c, e, 4, DEADLINE()), 1);
	assert_string_equal(e[0].device, "null0");
	assert_string_equal(e[0].device_class, "null");
	assert_int_equal(e[0].state, DK_DEVICE_UP);
	assert_int_equal(e[0].generation, null.generation);

	assert_true(ts_device(&T, "null0", &dst));
	assert_int_equal(dst.state, DK_DEVICE_UP);
	assert_int_equal(dst.opens, 1);
	assert_int_equal(dst.sessions, 1);
	assert_int_equal(dst.denials, 0);
	assert_int_equal(dst.pid, null.pid);
	assert_int_equal(dst.generation, null.generation);
	assert_string_equal(dst.service, "null");

	for (int i = 0; i < 4; i++)
		dk_fence_unref(extra[i]);
	dk_fence_unref(out);
	dk_device_close(dev);
	dk_buffer_release(buf);
	dk_buffer_registry_destroy(reg);
	dk_client_close(c);
	ts_stop(&T);
}

/* ---- 3. a denied open is audited with its reason ---- */

static const char policy_deny_rule[] =
	"[rule null-service]\nservice = null\ndevice = null0\n"
	"rights = read, write, map, wait, signal, transfer\nqos = burst\nmax_bytes = 1G\n"
	"max_buffers = 1024\nmax_inflight = 4096\nmax_fences = 1024\n"
	"\n[rule me-null]\nuid = @UID@\nclass = null\n"
	"rights = read, wait\nqos = frugal\nmax_bytes = 1M\n"
	"max_buffers = 1\nmax_inflight = 1\nmax_fences = 1\n"
	"\n; more specific than the class rule\n"
	"[rule me-not-null0]\nuid = @UID@\ndevice = null0\neffect = deny\n";

static void test_denied_audited(void **state)
{
	struct dk_device_entry e[4];
	struct dk_device_status dst;
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_log_client *follower;
	struct dk_log_record rec;
	char uid[32], pid[32];

	(void)state;
	ts_start(&T, &(struct ts_config){.policy = policy_deny_rule});
	follower = ts_follow(&T, DK_LOG_AUDIT);
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), -EACCES);
	assert_null(dev);

	kvf(uid, sizeof(uid), "uid", getuid());
	kvf(pid, sizeof(pid), "pid", (uint64_t)getpid());
	assert_int_equal(ts_journal_count(&T, "broker.open", "open denied", DK_LOG_AUDIT,
					  KV("device=null0", "class=null", uid, pid, "verdict=deny",
					     "reason=deny-rule", "rule=me-not-null0", "session=0"),
					  &rec),
			 1);
	assert_int_equal(rec.severity, DK_LOG_AUDIT);
	ts_await_record(&T, follower, "policy",
			KV("device=null0", "class=null", "decision=deny", "reason=deny-rule",
			   "rule=me-not-null0"),
			NULL);
	/* The class rule does not leak the device through LIST. */
	assert_int_equal(dk_client_list(c, e, 4, DEADLINE()), 0);
	assert_true(ts_device(&T, "null0", &dst));
	assert_int_equal(dst.opens, 0);
	assert_int_equal(dst.denials, 1);
	dk_client_close(c);
	ts_stop(&T);
}

/* ---- 4. a client cannot claim a service identity ---- */

static void raw_ok(int fd, uint16_t op, uint64_t seq);

static size_t attach_payload(uint8_t *p, size_t size, const char *device)
{
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, size);
	dk_wire_put_u64(&w, 1000);
	dk_wire_put_u32(&w, (uint32_t)getpid());
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, "null");
	dk_wire_put_string(&w, device);
	dk_wire_put_string(&w, "null");
	assert_int_equal(dk_wire_writer_error(&w), 0);
	return dk_wire_writer_len(&w);
}

/* The broker's view, compared field by field. */
static void assert_same_devices(const struct dk_device_status *a, uint32_t na,
				const struct dk_device_status *b, uint32_t nb)
{
	assert_int_equal(na, nb);
	for (uint32_t i = 0; i < na; i++) {
		assert_string_equal(a[i].device, b[i].device);
		assert_string_equal(a[i].device_class, b[i].device_class);
		assert_string_equal(a[i].service, b[i].service);
		assert_int_equal(a[i].generation, b[i].generation);
		assert_int_equal(a[i].pid, b[i].pid);
		assert_int_equal(a[i].state, b[i].state);
		assert_int_equal(a[i].sessions, b[i].sessions);
		assert_int_equal(a[i].opens, b[i].opens);
	}
}

static void assert_same_services(const struct dk_service_status *a, uint32_t na,
				 const struct dk_service_status *b, uint32_t nb)
{
	assert_int_equal(na, nb);
	for (uint32_t i = 0; i < na; i++) {
		assert_string_equal(a[i].name, b[i].name);
		assert_int_equal(a[i].state, b[i].state);
		assert_int_equal(a[i].pid, b[i].pid);
		assert_int_equal(a[i].generation, b[i].generation);
		assert_int_equal(a[i].restarts, b[i].restarts);
		assert_int_equal(a[i].fences_registered, b[i].fences_registered);
	}
}

static void test_no_identity_claims(void **state)
{
	struct dk_device_status d0[DK_BROKER_DEVICES_MAX], d1[DK_BROKER_DEVICES_MAX];
	struct dk_service_status s0[DK_SUPD_SERVICES_MAX], s1[DK_SUPD_SERVICES_MAX];
	uint8_t frame[DK_FRAME_MAX_SIZE], p[256];
	struct dk_service_status null;
	struct dk_device_entry e[4];
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_log_client *l;
	struct dk_log_record rec;
	struct dk_fence *f;
	struct pollfd pfd;
	int fd, x[2], ffds[DK_FENCE_NR_FDS];
	uint32_t n_d0, n_s0, reason, peer_pid;
	uint64_t seq;
	size_t n;

	(void)state;
	ts_start(&T, &(struct ts_config){.policy = ts_policy_service_only});
	null = ts_service(&T, "null");
	n_d0 = ts_devices(&T, d0);
	n_s0 = ts_status(&T, s0);

	/* Only service=null may use null0: the client, whatever it is, has no rule. */
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), -EACCES);
	assert_int_equal(dk_client_list(c, e, 4, DEADLINE()), 0);

	/* ATTACH (a service's registration, with a channel) on the public socket: refused. */
	fd = ts_connect(T.broker_sock);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x), 0);
	n = attach_payload(p, sizeof(p), "null1");
	assert_true(dk_frame_encode(frame, sizeof(frame), &dk_broker_proto, DK_SUPCTL_OP_ATTACH,
				    DK_FRAME_F_FDS, 31, p, n) > 0);
	ts_raw_send(fd, frame, DK_FRAME_HEADER_SIZE + n, x[1]);
	close(x[1]);
	assert_int_equal(ts_raw_error(fd, DK_SUPCTL_OP_ATTACH, 31, &reason), -EOPNOTSUPP);
	assert_int_equal(reason, DK_REASON_PROTOCOL);
	pfd.fd = x[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, (int)(WAIT_NS / DK_NSEC_PER_MSEC)), 1);
	assert_true(pfd.revents & POLLHUP); /* the broker closed the channel it was offered */
	close(x[0]);
	/* ... and for null0 itself, without a descriptor; a DETACH of null0 too. */
	n = attach_payload(p, sizeof(p), "null0");
	ts_raw_send(fd, frame,
		    ts_frame(frame, sizeof(frame), &dk_broker_proto, DK_SUPCTL_OP_ATTACH, 32, p, n),
		    -1);
	assert_int_equal(ts_raw_error(fd, DK_SUPCTL_OP_ATTACH, 32, NULL), -EOPNOTSUPP);
	{
		struct dk_wire_writer w;

		dk_wire_writer_init(&w, p, sizeof(p));
		dk_wire_put_u64(&w, null.generation);
		dk_wire_put_u32(&w, DK_DEVICE_FAILED);
		dk_wire_put_u32(&w, 0);
		dk_wire_put_string(&w, "null0");
		n = dk_wire_writer_len(&w);
	}
	ts_raw_send(fd, frame,
		    ts_frame(frame, sizeof(frame), &dk_broker_proto, DK_SUPCTL_OP_DETACH, 33, p, n),
		    -1);
	assert_int_equal(ts_raw_error(fd, DK_SUPCTL_OP_DETACH, 33, NULL), -EOPNOTSUPP);
	/* READY has the number of OPEN here: an OPEN without a device, malformed. */
	ts_raw_send(fd, frame,
		    ts_frame(frame, sizeof(frame), &dk_supctl_proto, DK_SUPCTL_OP_READY, 34, NULL,
			     0),
		    -1);
	assert_int_equal(ts_raw_error(fd, DK_SUPCTL_OP_READY, 34, NULL), -EPROTO);
	close(fd);
	/* Nothing changed: the same devices, and still no way in for the client. */
	n = ts_devices(&T, d1);
	assert_same_devices(d0, n_d0, d1, (uint32_t)n);
	assert_int_equal(dk_client_list(c, e, 4, DEADLINE()), 0);
	assert_int_equal(dk_device_open(c, "null1", DEADLINE(), &dev), -EACCES);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), -EACCES);

	/*
	 * The supervisor's public socket: the control-socket opcodes mean nothing there. READY
	 * and FENCE_REGISTER share their numbers with STATUS and STOP, so a READY frame is
	 * answered as a STATUS (and changes nothing) and a FENCE_REGISTER (a tag and a fence's
	 * descriptors) is a malformed STOP: refused, descriptors closed, the stack stays up.
	 * ATTACH and DETACH are unknown opcodes.
	 */
	fd = ts_connect(T.sup_sock);
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(dk_fence_export(f, FENCE_OUT, ffds), 0);
	{
		struct dk_wire_writer w;

		dk_wire_writer_init(&w, p, sizeof(p));
		dk_wire_put_u64(&w, 77);
		n = dk_wire_writer_len(&w);
	}
	assert_int_equal(dk_msg_send(fd, &dk_supctl_proto, DK_SUPCTL_OP_FENCE_REGISTER, 0, 41, p, n,
				     ffds, DK_FENCE_NR_FDS, DEADLINE()),
			 0);
	for (int i = 0; i < DK_FENCE_NR_FDS; i++)
		close(ffds[i]);
	assert_int_equal(ts_raw_error(fd, DK_SUPCTL_OP_FENCE_REGISTER, 41, &reason), -EPROTO);
	assert_int_equal(reason, DK_REASON_PROTOCOL);
	/* READY: an empty frame numbered as STATUS, and answered as one. */
	ts_raw_send(fd, frame,
		    ts_frame(frame, sizeof(frame), &dk_supctl_proto, DK_SUPCTL_OP_READY, 43, NULL,
			     0),
		    -1);
	raw_ok(fd, DK_SUPCTL_OP_READY, 43);
	n = attach_payload(p, sizeof(p), "null0");
	ts_raw_send(fd, frame,
		    ts_frame(frame, sizeof(frame), &dk_supd_proto, DK_SUPCTL_OP_ATTACH, 42, p, n),
		    -1);
	assert_int_equal(ts_raw_error(fd, DK_SUPCTL_OP_ATTACH, 42, &reason), -EOPNOTSUPP);
	close(fd);
	dk_fence_unref(f);
	n = ts_status(&T, s1);
	assert_same_services(s0, n_s0, s1, (uint32_t)n);

	/* The journal stores a name as a claim: the record is ours, not the null service's. */
	l = ts_log(&T, "null");
	assert_int_equal(dk_log_peer(l, &peer_pid, NULL, NULL), 0);
	assert_int_equal(peer_pid, (uint32_t)getpid());
	assert_int_equal(dk_log_append(l, DK_LOG_AUDIT, "null.session", "impostor", "device=null0",
				       DEADLINE(), &seq),
			 0);
	dk_log_close(l);
	assert_int_equal(ts_journal_count(&T, "null.session", "impostor", 0, NULL, &rec), 1);
	assert_int_equal(rec.seq, seq);
	assert_int_equal(rec.pid, (uint32_t)getpid());
	assert_true(rec.pid != null.pid);
	assert_int_equal(rec.uid, (uint32_t)getuid());
	assert_string_equal(rec.name_claim, "null");

	dk_client_close(c);
	ts_stop(&T);
}

/* ---- 5. journal caps, drop-oldest and the per-sender rate limit ---- */

#define LOG_CAPACITY 64u
#define LOG_BURST 20u
#define OTHER_RECORDS 10u
#define FILLERS 4u

struct sender_arg {
	struct ts *T;
	uint32_t records;
	const char *scope;
};

/* A forked sender: @records acknowledged appends, each must be accepted; reports the seqs. */
static int sender_main(void *arg, int wfd)
{
	const struct sender_arg *a = arg;
	struct dk_log_client *l = NULL;
	uint64_t seqs[LOG_BURST];
	int err = dk_log_connect(a->T->logd_sock, "sender", DEADLINE(), &l);

	for (uint32_t i = 0; err == 0 && i < a->records && i < LOG_BURST; i++)
		err = dk_log_append(l, DK_LOG_INFO, a->scope, "within my share", "n=1", DEADLINE(),
				    &seqs[i]);
	dk_log_close(l);
	if (err < 0)
		return 10 + (-err % 100);
	return write(wfd, seqs, a->records * sizeof(seqs[0])) ==
			       (ssize_t)(a->records * sizeof(seqs[0]))
		       ? 0
		       : 3;
}

static const struct dk_log_sender_stats *sender_of(const struct dk_log_stats *s, pid_t pid)
{
	for (uint32_t i = 0; i < s->n_senders; i++)
		if (s->senders[i].pid == (uint32_t)pid)
			return &s->senders[i];
	return NULL;
}

static void test_journal_limits(void **state)
{
	static struct dk_log_stats st, st2;
	const struct dk_log_sender_stats *me;
	struct sender_arg other = {.T = &T, .records = OTHER_RECORDS, .scope = "test.other"};
	struct sender_arg filler = {.T = &T, .records = LOG_BURST, .scope = "test.fill"};
	uint64_t seqs[OTHER_RECORDS], accepted = 0, flood_seq = 0;
	uint8_t frame[DK_FRAME_MAX_SIZE], p[600];
	struct dk_log_record rec;
	struct dk_log_client *l;
	struct dk_log_query q = {.seq_min = 1};
	char big[301];
	int err = 0, fd, rfd;
	uint32_t reason;
	pid_t pid;

	(void)state;
	ts_start(&T, &(struct ts_config){.logd_args = "--capacity 64 --rate 10 --burst 20"});
	ts_settle(&T); /* nothing else comes to the journal unless the test does something */
	l = ts_log(&T, "flood");
	assert_int_equal(dk_log_stats(l, DEADLINE(), &st), 0);
	assert_int_equal(st.capacity, LOG_CAPACITY);

	/* One sender floods: its burst is accepted, then -EAGAIN. */
	for (int i = 0; i < 100000; i++) {
		err = dk_log_append(l, DK_LOG_INFO, "test.flood", "flood", NULL, DEADLINE(),
				    &flood_seq);
		if (err < 0)
			break;
		accepted++;
	}
	assert_int_equal(err, -EAGAIN);
	assert_true(accepted >= LOG_BURST);
	assert_int_equal(dk_log_stats(l, DEADLINE(), &st), 0);
	assert_true(st.suppressed > 0);
	me = sender_of(&st, getpid());
	assert_non_null(me);
	assert_int_equal(me->accepted, accepted);
	assert_true(me->suppressed >= 1);
	assert_int_equal(st.dropped, 0);

	/* Another sender, while the flooder is held back: all of its records are kept. */
	pid = ts_fork(sender_main, &other, &rfd);
	assert_int_equal(ts_read_full(rfd, seqs, sizeof(seqs), DEADLINE()), 0);
	close(rfd);
	ts_reap(pid);
	for (uint32_t i = 0; i < OTHER_RECORDS; i++) {
		struct dk_log_record *r = calloc(1, sizeof(*r));
		struct dk_log_client *ql = ts_log(&T, "reader");
		struct dk_log_query one = {.seq_min = seqs[i], .seq_max = seqs[i]};

		assert_non_null(r);
		assert_int_equal(dk_log_query(ql, &one, r, 1, DEADLINE(), NULL), 1);
		assert_int_equal(r->seq, seqs[i]);
		assert_int_equal(r->pid, (uint32_t)pid);
		assert_string_equal(r->scope, "test.other");
		dk_log_close(ql);
		free(r);
	}

	/* Over the caps: refused whole, by the library and by the daemon, and not rate-counted. */
	memset(big, 'x', 300);
	big[300] = '\0';
	assert_int_equal(dk_log_append(l, DK_LOG_INFO, "test.big", big, NULL, DEADLINE(), NULL),
			 -EMSGSIZE);
	assert_int_equal(dk_log_stats(l, DEADLINE(), &st), 0);
	fd = ts_connect(T.logd_sock);
	{
		struct dk_wire_writer w;

		dk_wire_writer_init(&w, p, sizeof(p));
		dk_wire_put_u8(&w, DK_LOG_INFO);
		dk_wire_put_u8(&w, 0);
		dk_wire_put_string(&w, "test.big");
		dk_wire_put_string(&w, big);
		dk_wire_put_string(&w, "");
		assert_int_equal(dk_wire_writer_error(&w), 0);
		ts_raw_send(fd, frame,
			    ts_frame(frame, sizeof(frame), &dk_logd_proto, DK_LOGD_OP_APPEND, 51, p,
				     dk_wire_writer_len(&w)),
			    -1);
	}
	assert_int_equal(ts_raw_error(fd, DK_LOGD_OP_APPEND, 51, &reason), -EMSGSIZE);
	assert_int_equal(reason, DK_REASON_PROTOCOL);
	close(fd);
	assert_int_equal(dk_log_stats(l, DEADLINE(), &st2), 0);
	assert_int_equal(st2.refused, st.refused + 1);
	assert_int_equal(st2.accepted, st.accepted);
	assert_int_equal(st2.suppressed, st.suppressed);
	assert_int_equal(ts_journal_count(&T, "test.big", NULL, 0, NULL, NULL), 0);

	/* More than the capacity from several senders: the oldest are dropped. */
	for (uint32_t i = 0; i < FILLERS; i++) {
		uint64_t fill_seqs[LOG_BURST];

		pid = ts_fork(sender_main, &filler, &rfd);
		assert_int_equal(ts_read_full(rfd, fill_seqs, sizeof(fill_seqs), DEADLINE()), 0);
		close(rfd);
		ts_reap(pid);
	}
	assert_int_equal(dk_log_stats(l, DEADLINE(), &st), 0);
	assert_true(st.accepted > LOG_CAPACITY);
	assert_true(st.dropped > 0);
	assert_int_equal(st.records, LOG_CAPACITY);
	assert_int_equal(st.dropped, st.accepted - st.records);
	/* The ring holds the newest: it starts where the dropped end. */
	assert_int_equal(dk_log_query(l, &q, &rec, 1, DEADLINE(), NULL), 1);
	assert_int_equal(rec.seq, st.next_seq - LOG_CAPACITY);
	assert_true(rec.seq > flood_seq); /* the flood was the oldest: gone */
	print_message("journal: %" PRIu64 " flood records accepted before -EAGAIN; %" PRIu64
		      " accepted, %" PRIu64 " dropped, %" PRIu64 " suppressed\n",
		      accepted, st.accepted, st.dropped, st.suppressed);
	dk_log_close(l);
	ts_stop(&T);
}

/* ---- 6. SIGKILL of the null service under load from several clients ---- */

#define CRASH_CLIENTS 4u
#define PARKED 4u
#define JOBS_BEFORE 300u
#define JOBS_AFTER 100u

struct crash_result {
	int32_t error; /* 0, or the first failure, at @step */
	char step[24];
	uint32_t qos;
	uint32_t inflight; /* parked jobs the service took, as the session's STATS counted */
	int32_t wait_err, fence_err, check_err, stats_err, reopen_err;
	uint32_t fence_reason;
	uint64_t gen_before, gen_after;
	uint64_t woke_ns; /* CLOCK_MONOTONIC when the parked wait returned */
	uint64_t jobs_after;
};

struct crash_arg {
	struct ts *T;
	uint32_t index;
};

static int failed(struct crash_result *r, const char *step, int err)
{
	if (!r->error) {
		r->error = err ? err : -EPROTO;
		snprintf(r->step, sizeof(r->step), "%s", step);
	}
	return r->error;
}

static int crash_client(void *arg, int wfd)
{
	const struct crash_arg *a = arg;
	struct crash_result r = {0};
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_fence *out = NULL, *gate = NULL;
	struct dk_ring *ring = NULL;
	struct dk_session_stats ss;
	uint32_t qos = DK_QOS_FRUGAL + a->index % 3, out_index, gate_index;
	uint64_t point = 0, ticket = 0;
	bool parked = false;
	struct dk_cqe cqe;
	int err;

	err = dk_client_connect(a->T->rt, DEADLINE(), &c);
	if (err < 0 && failed(&r, "connect", err))
		goto out;
	err = dk_device_open(c, "null0", DEADLINE(), &dev);
	if (err < 0 && failed(&r, "open", err))
		goto out;
	r.gen_before = dk_device_generation(dev);
	err = setup_queue(dev, 64, qos, &out, &out_index, &ring);
	if (err == 0)
		err = run_jobs(ring, out, out_index, &point, JOBS_BEFORE);
	if (err < 0 && failed(&r, "jobs", err))
		goto out;
	err = dk_fence_create(0, &gate);
	if (err == 0)
		err = dk_device_register_fence(dev, gate, FENCE_IN, DEADLINE(), &gate_index);
	if (err == 0)
		err = park_jobs(dev, ring, gate_index, PARKED, &ticket, &r.inflight);
	if (err < 0 && failed(&r, "park", err))
		goto out;
	r.qos = qos;
	parked = true;
	if (write(wfd, "P", 1) != 1)
		return 3;

	/* The test kills the service now: the wait ends with the reaper's error. */
	r.wait_err = dk_ring_wait_cqe(ring, &cqe, DEADLINE());
	r.woke_ns = dk_now_ns();
	r.fence_err = dk_fence_status(dk_ring_fence(ring), ticket, &r.fence_reason);
	r.check_err = dk_device_check(dev);
	r.stats_err = dk_device_stats(dev, DEADLINE(), &ss);

	/* Nothing carries over: free the old queue, reopen, register again, run again. */
	dk_device_destroy_queue(dev, ring, DEADLINE());
	ring = NULL;
	dk_fence_unref(out);
	out = NULL;
	r.reopen_err = dk_device_reopen(dev, DEADLINE());
	if (r.reopen_err < 0 && failed(&r, "reopen", r.reopen_err))
		goto out;
	r.gen_after = dk_device_generation(dev);
	point = 0;
	err = setup_queue(dev, 64, qos, &out, &out_index, &ring);
	if (err == 0)
		err = run_jobs(ring, out, out_index, &point, JOBS_AFTER);
	if (err < 0 && failed(&r, "after", err))
		goto out;
	r.jobs_after = JOBS_AFTER;
out:
	dk_fence_unref(out);
	dk_fence_unref(gate);
	dk_device_close(dev);
	dk_client_close(c);
	/* Failed before parking: 'F', then the report; else the report after the 'P'. */
	if (!parked && write(wfd, "F", 1) != 1)
		return 3;
	return write(wfd, &r, sizeof(r)) == sizeof(r) ? 0 : 3;
}

static void test_crash_under_load(void **state)
{
	struct crash_result res[CRASH_CLIENTS];
	struct crash_arg args[CRASH_CLIENTS];
	struct dk_service_status before, after;
	struct dk_device_status dst;
	struct dk_log_client *follower;
	struct dk_log_record rec;
	int rfd[CRASH_CLIENTS];
	pid_t pids[CRASH_CLIENTS];
	uint64_t t_kill, woke_last = 0;
	char kpid[32], kgen[48];

	(void)state;
	ts_start(&T, NULL);
	for (uint32_t i = 0; i < CRASH_CLIENTS; i++) {
		args[i] = (struct crash_arg){.T = &T, .index = i};
		pids[i] = ts_fork(crash_client, &args[i], &rfd[i]);
	}
	/* Every client has its jobs parked and is about to wait (or waits) for them. */
	for (uint32_t i = 0; i < CRASH_CLIENTS; i++) {
		char ch = 0;

		assert_int_equal(ts_read_full(rfd[i], &ch, 1, DEADLINE()), 0);
		if (ch != 'P') {
			/* It failed before parking: its report says where. */
			assert_int_equal(ts_read_full(rfd[i], &res[i], sizeof(res[i]), DEADLINE()),
					 0);
			fail_msg("client %u failed at %s: %s", i, res[i].step,
				 dk_strerror(res[i].error));
		}
	}
	before = ts_service(&T, "null");
	assert_int_equal(before.state, DK_SERVICE_RUNNING);
	assert_int_equal(before.restarts, 0);
	assert_true(before.fences_registered >= CRASH_CLIENTS);
	assert_true(before.pid > 0);
	follower = ts_follow(&T, DK_LOG_ERROR);

	t_kill = dk_now_ns();
	assert_int_equal(kill((pid_t)before.pid, SIGKILL), 0);

	for (uint32_t i = 0; i < CRASH_CLIENTS; i++) {
		assert_int_equal(ts_read_full(rfd[i], &res[i], sizeof(res[i]), DEADLINE()), 0);
		close(rfd[i]);
		ts_reap(pids[i]);
	}
	for (uint32_t i = 0; i < CRASH_CLIENTS; i++) {
		const struct crash_result *r = &res[i];

		if (r->error)
			fail_msg("client %u failed at %s: %s", i, r->step, dk_strerror(r->error));
		/* All taken, except on a Frugal queue (depth 1): the rest wait in the SQ. */
		assert_int_equal(r->inflight, r->qos == DK_QOS_FRUGAL ? 1 : PARKED);
		/* Woken by the reaper, not by its deadline. */
		assert_int_equal(r->wait_err, -ENODEV);
		assert_int_equal(r->fence_err, -ENODEV);
		assert_int_equal(r->fence_reason, DK_REASON_DRIVER_CRASHED);
		assert_int_equal(r->check_err, -ENODEV);
		assert_int_equal(r->stats_err, -ENODEV);
		assert_int_equal(r->reopen_err, 0);
		assert_int_equal(r->gen_before, before.generation);
		assert_true(r->gen_after > r->gen_before);
		assert_int_equal(r->jobs_after, JOBS_AFTER);
		if (r->woke_ns > woke_last)
			woke_last = r->woke_ns;
	}

	/* Restarted once, under a new generation, and serving (every client reopened). */
	after = ts_service(&T, "null");
	assert_int_equal(after.state, DK_SERVICE_RUNNING);
	assert_int_equal(after.restarts, 1);
	assert_true(after.generation > before.generation);
	assert_int_equal(after.generation, res[0].gen_after);
	assert_true(after.pid > 0 && after.pid != before.pid);
	assert_int_equal(after.last_signal, SIGKILL);
	assert_int_equal(after.last_exit, -1);
	assert_true(after.fences_reaped >= CRASH_CLIENTS);
	assert_true(ts_device(&T, "null0", &dst));
	assert_int_equal(dst.state, DK_DEVICE_UP);
	assert_int_equal(dst.generation, after.generation);

	/* The crash report. */
	kvf(kpid, sizeof(kpid), "pid", before.pid);
	kvf(kgen, sizeof(kgen), "generation", before.generation);
	ts_await_record(&T, follower, "supervisor.crash",
			KV("service=null", "signal=9", "exit=-1", kpid, kgen), &rec);
	assert_int_equal(rec.severity, DK_LOG_ERROR);
	assert_string_equal(rec.message, "service null died");

	print_message("crash: death to all %u waiters woken %.3f ms; restart to ready %.3f ms\n",
		      CRASH_CLIENTS, (double)(woke_last - t_kill) / 1e6,
		      (double)after.last_ready_ns / 1e6);
	ts_stop(&T);
}

/* ---- 7. a crash loop stops at the limit and is reported ---- */

/* A rule naming null0 for the test's uid: an open of null0 is never refused by policy, so
 * -ENODEV says the device is gone even when the broker never knew its class. */
static const char policy_null0[] =
	"[rule null-service]\nservice = null\ndevice = null0\n"
	"rights = read, write, map, wait, signal, transfer\nqos = burst\nmax_bytes = 1G\n"
	"max_buffers = 1024\nmax_inflight = 4096\nmax_fences = 1024\n"
	"\n[rule me-null0]\nuid = @UID@\ndevice = null0\n"
	"rights = read, write, map, wait, signal, transfer\nqos = burst\nmax_bytes = 4M\n"
	"max_buffers = 8\nmax_inflight = 64\nmax_fences = 8\n";

#define LOOP_STACK                                                                                 \
	"restart_delay_ms = 1\nrestart_delay_max_ms = 4\nrestart_limit = 3\n"                      \
	"start_timeout_ms = 20000\nstop_timeout_ms = 10000\n"

static void test_crash_loop_at_start(void **state)
{
	struct dk_service_status null;
	struct dk_device_entry e[4];
	struct dk_device_status dst;
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_log_record rec;

	(void)state;
	/* dk-null refuses an argument and exits 2 before READY, every time. */
	ts_start(&T, &(struct ts_config){.stack = LOOP_STACK, .null_args = "--bogus",
					 .policy = policy_null0});
	ts_await_record(&T, ts_follow(&T, DK_LOG_AUDIT), "supervisor.crash-loop",
			KV("service=null", "crashes=4", "restarts=3"), &rec);
	assert_int_equal(rec.severity, DK_LOG_AUDIT);

	null = ts_service(&T, "null");
	assert_int_equal(null.state, DK_SERVICE_FAILED);
	assert_int_equal(null.restarts, 3);
	assert_int_equal(null.pid, 0);
	assert_int_equal(null.last_exit, 2);
	assert_int_equal(null.last_signal, 0);
	assert_int_equal(null.generation, 7); /* logd 1, policyd 2, broker 3, null 4..7 */
	assert_int_equal(ts_journal_count(&T, "supervisor.crash", "service null died", DK_LOG_ERROR,
					  KV("service=null", "exit=2", "signal=0"), NULL),
			 4);
	/* The rest of the stack is fine. */
	assert_int_equal(ts_service(&T, "broker").state, DK_SERVICE_RUNNING);

	/* Allowed by policy (a rule names null0): the device is known, and gone for good. */
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), -ENODEV);
	assert_int_equal(dk_client_list(c, e, 4, DEADLINE()), 1);
	assert_int_equal(e[0].state, DK_DEVICE_FAILED);
	assert_true(ts_device(&T, "null0", &dst));
	assert_int_equal(dst.state, DK_DEVICE_FAILED);
	dk_client_close(c);
	ts_stop(&T);
}

static void test_crash_loop_attached(void **state)
{
	struct dk_service_status null;
	struct dk_device_status dst;
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL, *dev2 = NULL;
	struct dk_log_client *follower;
	struct dk_log_record rec;
	uint64_t gen;

	(void)state;
	ts_start(&T, &(struct ts_config){.stack = LOOP_STACK});
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), 0);
	gen = dk_device_generation(dev);

	/* Three crashes are restarted; each reopen waits for the next start. */
	for (uint32_t i = 0; i < 3; i++) {
		null = ts_service(&T, "null");
		assert_int_equal(null.state, DK_SERVICE_RUNNING);
		assert_int_equal(null.restarts, i);
		assert_int_equal(null.generation, gen);
		assert_int_equal(kill((pid_t)null.pid, SIGKILL), 0);
		assert_int_equal(dk_device_reopen(dev, DEADLINE()), 0);
		assert_true(dk_device_generation(dev) > gen);
		gen = dk_device_generation(dev);
	}
	/* The fourth is one too many within the window. */
	null = ts_service(&T, "null");
	follower = ts_follow(&T, DK_LOG_AUDIT);
	assert_int_equal(kill((pid_t)null.pid, SIGKILL), 0);
	assert_int_equal(dk_device_reopen(dev, DEADLINE()), -ENODEV); /* gone for good */
	ts_await_record(&T, follower, "supervisor.crash-loop",
			KV("service=null", "crashes=4", "restarts=3"), &rec);

	null = ts_service(&T, "null");
	assert_int_equal(null.state, DK_SERVICE_FAILED);
	assert_int_equal(null.restarts, 3);
	assert_int_equal(null.pid, 0);
	assert_int_equal(null.last_signal, SIGKILL);
	assert_true(ts_device(&T, "null0", &dst));
	assert_int_equal(dst.state, DK_DEVICE_FAILED);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev2), -ENODEV);
	assert_int_equal(ts_journal_count(&T, "broker.device", "device failed", 0,
					  KV("device=null0", "state=failed"), NULL),
			 1);
	dk_device_close(dev);
	dk_client_close(c);
	ts_stop(&T);
}

/* ---- 8. malformed frames to every daemon ---- */

struct daemon_sock {
	const char *name;
	const char *path;
	const struct dk_frame_proto *proto;
	uint16_t valid_op; /* a request with an empty payload */
};

/* The reply to the valid request @op / @seq, raw: a reply, not an error. */
static void raw_ok(int fd, uint16_t op, uint64_t seq)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	struct dk_wire_reader r;
	ssize_t n;

	assert_int_equal(dk_socket_wait(fd, POLLIN, DEADLINE()), 0);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_true(n >= (ssize_t)DK_FRAME_HEADER_SIZE);
	dk_wire_reader_init(&r, buf, (size_t)n);
	assert_int_equal(dk_wire_get_u32(&r), DK_FRAME_MAGIC);
	(void)dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_get_u16(&r), op);
	assert_int_equal(dk_wire_get_u16(&r), DK_FRAME_F_REPLY);
	(void)dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_get_u64(&r), seq);
}

static void poke_u32(uint8_t *buf, size_t off, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		buf[off + i] = (uint8_t)(v >> (8 * i));
}

static void malformed_to(const struct daemon_sock *d)
{
	uint8_t frame[DK_FRAME_MAX_SIZE + 64];
	uint32_t reason;
	size_t n;
	int fd = ts_connect(d->path);

	/* Shorter than a header: no opcode or seq to echo. */
	ts_raw_send(fd, "DKF1x", 5, -1);
	assert_int_equal(ts_raw_error(fd, 0, 0, &reason), -EPROTO);
	assert_int_equal(reason, DK_REASON_PROTOCOL);
	/* Bad magic. */
	n = ts_frame(frame, sizeof(frame), d->proto, d->valid_op, 61, NULL, 0);
	frame[0] ^= 0xff;
	ts_raw_send(fd, frame, n, -1);
	assert_int_equal(ts_raw_error(fd, d->valid_op, 61, &reason), -EPROTO);
	assert_int_equal(reason, DK_REASON_PROTOCOL);
	/* Length mismatch: the header announces 8 payload bytes, 4 come; none, 4 come. */
	n = ts_frame(frame, sizeof(frame), d->proto, d->valid_op, 62, NULL, 0);
	poke_u32(frame, 12, 8);
	memset(frame + n, 0, 4);
	ts_raw_send(fd, frame, n + 4, -1);
	assert_int_equal(ts_raw_error(fd, d->valid_op, 62, &reason), -EPROTO);
	n = ts_frame(frame, sizeof(frame), d->proto, d->valid_op, 63, NULL, 0);
	ts_raw_send(fd, frame, n + 4, -1);
	assert_int_equal(ts_raw_error(fd, d->valid_op, 63, &reason), -EPROTO);
	/* A length over the frame cap, and a datagram over it. */
	n = ts_frame(frame, sizeof(frame), d->proto, d->valid_op, 64, NULL, 0);
	poke_u32(frame, 12, DK_FRAME_MAX_PAYLOAD + 1);
	ts_raw_send(fd, frame, n, -1);
	assert_int_equal(ts_raw_error(fd, d->valid_op, 64, &reason), -EPROTO);
	n = ts_frame(frame, sizeof(frame), d->proto, d->valid_op, 65, NULL, 0);
	memset(frame + n, 0, sizeof(frame) - n);
	ts_raw_send(fd, frame, sizeof(frame), -1);
	assert_int_equal(ts_raw_error(fd, d->valid_op, 65, &reason), -EPROTO);
	/* Unknown opcodes: made up, and a control-socket one. */
	n = ts_frame(frame, sizeof(frame), d->proto, 0x77, 66, NULL, 0);
	ts_raw_send(fd, frame, n, -1);
	assert_int_equal(ts_raw_error(fd, 0x77, 66, &reason), -EOPNOTSUPP);
	assert_int_equal(reason, DK_REASON_PROTOCOL);
	n = ts_frame(frame, sizeof(frame), d->proto, DK_SUPCTL_OP_ATTACH, 67, NULL, 0);
	ts_raw_send(fd, frame, n, -1);
	assert_int_equal(ts_raw_error(fd, DK_SUPCTL_OP_ATTACH, 67, &reason), -EOPNOTSUPP);
	/* A reply flag from a client. */
	assert_true(dk_frame_encode(frame, sizeof(frame), d->proto, d->valid_op, DK_FRAME_F_REPLY,
				    68, NULL, 0) > 0);
	ts_raw_send(fd, frame, DK_FRAME_HEADER_SIZE, -1);
	assert_int_equal(ts_raw_error(fd, d->valid_op, 68, &reason), -EPROTO);
	/* The same connection still serves. */
	n = ts_frame(frame, sizeof(frame), d->proto, d->valid_op, 69, NULL, 0);
	ts_raw_send(fd, frame, n, -1);
	raw_ok(fd, d->valid_op, 69);
	close(fd);
}

static void test_malformed_frames(void **state)
{
	struct dk_service_status s0[DK_SUPD_SERVICES_MAX], s1[DK_SUPD_SERVICES_MAX];
	struct dk_policy_stats ps0, ps1;
	struct dk_log_stats *ls = calloc(2, sizeof(*ls));
	struct dk_policy_client *pc;
	struct dk_device_entry e[4];
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_log_client *l;
	uint32_t n0, n1;

	(void)state;
	assert_non_null(ls);
	ts_start(&T, NULL);
	const struct daemon_sock socks[] = {
		{"dk-supervisor", T.sup_sock, &dk_supd_proto, DK_SUPD_OP_STATUS},
		{"dk-broker", T.broker_sock, &dk_broker_proto, DK_BROKER_OP_LIST},
		{"dk-logd", T.logd_sock, &dk_logd_proto, DK_LOGD_OP_STATS},
		{"dk-policyd", T.policyd_sock, &dk_policyd_proto, DK_POLICYD_OP_STATS},
	};

	n0 = ts_status(&T, s0);
	l = ts_log(&T, "stack-test");
	assert_int_equal(dk_log_stats(l, DEADLINE(), &ls[0]), 0);
	assert_int_equal(dk_policy_connect(T.policyd_sock, DEADLINE(), &pc), 0);
	assert_int_equal(dk_policy_stats(pc, DEADLINE(), &ps0), 0);

	for (size_t i = 0; i < sizeof(socks) / sizeof(socks[0]); i++) {
		print_message("malformed frames to %s\n", socks[i].name);
		malformed_to(&socks[i]);
	}

	/* Every daemon is still the same process, and serves a new connection. */
	n1 = ts_status(&T, s1);
	assert_same_services(s0, n0, s1, n1);
	for (uint32_t i = 0; i < n1; i++)
		assert_int_equal(s1[i].state, DK_SERVICE_RUNNING);
	assert_int_equal(dk_log_stats(l, DEADLINE(), &ls[1]), 0);
	assert_int_equal(ls[1].refused, ls[0].refused + 9); /* each refusal counted */
	assert_int_equal(dk_policy_stats(pc, DEADLINE(), &ps1), 0);
	assert_int_equal(ps1.refused, ps0.refused + 9);
	dk_policy_close(pc);
	dk_log_close(l);
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);
	assert_int_equal(dk_client_list(c, e, 4, DEADLINE()), 1);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), 0);
	dk_device_close(dev);
	dk_client_close(c);
	free(ls);
	ts_stop(&T);
}

/* ---- 9. SIGTERM leaves no process and no runtime files behind ---- */

/*
 * The service of @ring was stopped (not killed) with @n_taken of the @n_parked jobs behind a
 * gate taken: it completed those as cancelled by the shutdown before it exited, and the
 * supervisor's reaper failed every later point of the queue's fence at its exit, so a waiter
 * for the jobs it never took is not left behind either.
 */
static void expect_stopped(struct dk_ring *ring, uint32_t n_taken, uint32_t n_parked,
			   uint64_t last_ticket)
{
	struct dk_fence_state fs;
	struct dk_cqe cqe;
	uint32_t reason = 0;

	for (uint32_t i = 0; i < n_taken; i++) {
		assert_int_equal(dk_ring_wait_cqe(ring, &cqe, DEADLINE()), 0);
		assert_int_equal(cqe.user_data, PARKED_DATA + i);
		assert_int_equal(cqe.status, -ECANCELED);
		assert_int_equal(cqe.reason, DK_REASON_SHUTDOWN);
	}
	assert_int_equal(dk_ring_wait_cqe(ring, &cqe, DEADLINE()), -ENODEV);
	assert_int_equal(dk_fence_query(dk_ring_fence(ring), &fs), 0);
	assert_int_equal(fs.error, -ENODEV);
	assert_int_equal(fs.reason, DK_REASON_DRIVER_CRASHED);
	assert_int_equal(fs.error_point, last_ticket - (n_parked - n_taken) + 1);
	assert_int_equal(dk_fence_status(dk_ring_fence(ring), last_ticket, &reason),
			 n_taken == n_parked ? 0 : -ENODEV);
}

static void test_sigterm_leaves_nothing(void **state)
{
	struct dk_service_status svc[DK_SUPD_SERVICES_MAX];
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_fence *out, *gate;
	struct dk_ring *ring = NULL;
	struct dk_log_client *l;
	uint32_t out_index, gate_index, n, taken = 0;
	uint64_t point = 0, ticket = 0;

	(void)state;
	ts_start(&T, NULL);
	/*
	 * A busy stack: a session with a Frugal queue, three jobs behind a gate (the service
	 * takes one, two wait in the SQ), connections held open.
	 */
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), 0);
	assert_int_equal(setup_queue(dev, 16, DK_QOS_FRUGAL, &out, &out_index, &ring), 0);
	assert_int_equal(run_jobs(ring, out, out_index, &point, 20), 0);
	assert_int_equal(dk_fence_create(0, &gate), 0);
	assert_int_equal(dk_device_register_fence(dev, gate, FENCE_IN, DEADLINE(), &gate_index), 0);
	assert_int_equal(park_jobs(dev, ring, gate_index, 3, &ticket, &taken), 0);
	assert_int_equal(taken, 1);
	l = ts_log(&T, "stack-test");

	n = ts_status(&T, svc);
	assert_int_equal(n, 4);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(svc[i].state, DK_SERVICE_RUNNING);
		assert_true(svc[i].pid > 0);
	}
	/* Every pid gone, nothing left in the runtime directory (ts_stop checks both). */
	ts_stop(&T);

	expect_stopped(ring, taken, 3, ticket);
	assert_int_equal(dk_device_check(dev), -ENODEV);
	dk_log_close(l);
	dk_fence_unref(out);
	dk_fence_unref(gate);
	dk_device_close(dev);
	dk_client_close(c);
}

/* ---- 10. SIGKILL of dk-broker: clients reconnect to the new one ---- */

static void test_broker_restart(void **state)
{
	struct dk_service_status broker, null, broker2, null2;
	struct dk_log_client *follower;
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_fence *out, *gate;
	struct dk_ring *ring = NULL;
	uint32_t out_index, gate_index, taken = 0;
	uint64_t point = 0, ticket = 0;
	char kpid[32];

	(void)state;
	ts_start(&T, NULL);
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), 0);
	assert_int_equal(setup_queue(dev, 16, DK_QOS_BURST, &out, &out_index, &ring), 0);
	assert_int_equal(run_jobs(ring, out, out_index, &point, 40), 0);
	assert_int_equal(dk_fence_create(0, &gate), 0);
	assert_int_equal(dk_device_register_fence(dev, gate, FENCE_IN, DEADLINE(), &gate_index), 0);
	assert_int_equal(park_jobs(dev, ring, gate_index, 2, &ticket, &taken), 0);
	assert_int_equal(taken, 2);
	broker = ts_service(&T, "broker");
	null = ts_service(&T, "null");
	follower = ts_follow(&T, DK_LOG_ERROR);

	assert_int_equal(kill((pid_t)broker.pid, SIGKILL), 0);
	/* The device's channel died with the broker: its service is stopped (it ends in order)
	 * and started again once the new broker is ready. */
	expect_stopped(ring, taken, 2, ticket);
	dk_device_destroy_queue(dev, ring, DEADLINE());
	dk_fence_unref(out);

	assert_int_equal(dk_device_reopen(dev, DEADLINE()), 0);
	assert_true(dk_device_generation(dev) > null.generation);
	point = 0;
	assert_int_equal(setup_queue(dev, 16, DK_QOS_BURST, &out, &out_index, &ring), 0);
	assert_int_equal(run_jobs(ring, out, out_index, &point, 40), 0);

	broker2 = ts_service(&T, "broker");
	null2 = ts_service(&T, "null");
	assert_int_equal(broker2.state, DK_SERVICE_RUNNING);
	assert_int_equal(broker2.restarts, 1);
	assert_true(broker2.pid != broker.pid);
	assert_int_equal(null2.state, DK_SERVICE_RUNNING);
	assert_int_equal(null2.restarts, 1);
	assert_int_equal(null2.generation, dk_device_generation(dev));
	kvf(kpid, sizeof(kpid), "pid", broker.pid);
	ts_await_record(&T, follower, "supervisor.crash", KV("service=broker", "signal=9", kpid),
			NULL);

	dk_fence_unref(out);
	dk_fence_unref(gate);
	dk_device_close(dev);
	dk_client_close(c);
	ts_stop(&T);
}

/* ---- 11. dkctl top and dkctl trace: live statistics and job records, end to end ---- */

/* A tool run by run_tool(): its argv (argv[0] searched in PATH) and where its stdout goes. */
struct tool {
	char *const *argv;
	const char *out; /* NULL: inherited */
};

/* In the forked child of run_tool(): stdout to the file, then exec. */
static int tool_child(void *arg, int wfd)
{
	const struct tool *t = arg;

	close(wfd);
	if (t->out) {
		int fd = open(t->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
			return 126;
	}
	execvp(t->argv[0], t->argv);
	return 127;
}

/* Run @argv with stdout to @out (NULL: inherited); it must exit 0 by the deadline. */
static void run_tool(char *const *argv, const char *out)
{
	struct tool t = {.argv = argv, .out = out};
	int rfd;
	pid_t pid = ts_fork(tool_child, &t, &rfd);

	close(rfd);
	ts_reap(pid);
}

/*
 * What dkctl printed, checked by python3. argv: the output of `top --once --json`, the trace
 * file, the output of `trace --json`, the session id, the client's pid, the number of jobs.
 * The service took every job of a batch at one clock reading and dk-null completes a job in
 * submit, so durations and latencies may be 0: only their order is checked.
 */
static const char check_top_trace_py[] =
	"import json, sys\n"
	"top, trace, summary = sys.argv[1:4]\n"
	"sid, pid, jobs = (int(a) for a in sys.argv[4:7])\n"
	"lines = [json.loads(l) for l in open(top)]\n"
	"d = [x for x in lines if x['device'] == 'null0']\n"
	"assert len(d) == 1, lines\n"
	"d = d[0]\n"
	"assert d['state'] == 'up' and d['sample'] == 1 and d['throughput'] is None, d\n"
	"assert d['completed'] == jobs and d['failed'] == 0 and d['sessions'] == 1, d\n"
	"assert d['hw_inflight'] == 0 and d['ready'] == 0 and d['parked'] == 0, d\n"
	"assert d['sessions_total'] == 1 and len(d['clients']) == 1, d\n"
	"c = d['clients'][0]\n"
	"assert c['session'] == sid and c['pid'] == pid and c['qos'] == 'burst', c\n"
	"assert c['completed'] == jobs and c['failed'] == 0 and c['inflight'] == 0, c\n"
	"assert c['queue_depth'] == 0 and c['queues'] == 1 and c['fences'] == 1, c\n"
	"assert 0 <= c['p50_us'] <= c['p99_us'], c\n"
	"s = json.load(open(summary))\n"
	"assert s['records'] == jobs and s['lost'] == 0 and s['events'] >= jobs, s\n"
	"sd = [x for x in s['devices'] if x['device'] == 'null0']\n"
	"assert len(sd) == 1 and sd[0]['first_seq'] == 1 and sd[0]['last_seq'] == jobs, s\n"
	"t = json.load(open(trace))\n"
	"assert t['displayTimeUnit'] == 'ns', t.keys()\n"
	"ev = t['traceEvents']\n"
	"procs = [e['pid'] for e in ev if e['ph'] == 'M' and e['name'] == 'process_name'\n"
	"         and e['args']['name'] == 'null0']\n"
	"assert len(procs) == 1, procs\n"
	"npid = procs[0]\n"
	"names = [e['args']['name'] for e in ev if e['ph'] == 'M' and e['name'] == 'thread_name'\n"
	"         and e['pid'] == npid and e['tid'] == sid]\n"
	"assert names == ['session %d (pid %d)' % (sid, pid)], names\n"
	"x = [e for e in ev if e['ph'] == 'X']\n"
	"assert len(x) >= jobs and s['events'] == len(x), (len(x), s)\n"
	"assert all(e['pid'] == npid and e['tid'] == sid and e['cat'] == 'job' for e in x)\n"
	"order = ['queued', 'waiting', 'running', 'signalling']\n"
	"jobs_seen = {}\n"
	"for e in x:\n"
	"    a = e['args']\n"
	"    assert e['name'] in order and e['dur'] >= 0, e\n"
	"    assert a['status'] == 0 and a['reason'] == 'none' and a['attempts'] == 1, e\n"
	"    assert a['qos'] == 'burst' and a['opcode'] == 0 and a['seq'] == a['ticket'], e\n"
	"    jobs_seen.setdefault(a['seq'], {})[e['name']] = e\n"
	"assert sorted(jobs_seen) == list(range(1, jobs + 1)), sorted(jobs_seen)\n"
	"for seq, ph in jobs_seen.items():\n"
	"    assert 'running' in ph, (seq, ph)\n"
	"    got = [ph[n] for n in order if n in ph]\n"
	"    for a, b in zip(got, got[1:]):\n"
	"        assert a['ts'] + a['dur'] <= b['ts'] + 0.0005, (seq, a, b)\n";

static void test_dkctl_top_trace(void **state)
{
	enum { JOBS = 100 };
	const char *dkctl = getenv("DKCTL");
	char top[PATH_MAX + 16], trace[PATH_MAX + 16], summary[PATH_MAX + 16];
	char sid[24], pid[24], jobs[24];
	struct dk_client *c = NULL;
	struct dk_device *dev = NULL;
	struct dk_fence *out;
	struct dk_ring *ring = NULL;
	uint32_t out_index;
	uint64_t point = 0;

	(void)state;
	if (!dkctl)
		skip();
	ts_start(&T, NULL);
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &dev), 0);
	assert_int_equal(setup_queue(dev, 64, DK_QOS_BURST, &out, &out_index, &ring), 0);
	assert_int_equal(run_jobs(ring, out, out_index, &point, JOBS), 0);

	/* Into the runtime directory (removed with it if the test fails), out before the stop. */
	snprintf(top, sizeof(top), "%s/top.json", T.rt);
	snprintf(trace, sizeof(trace), "%s/trace.json", T.rt);
	snprintf(summary, sizeof(summary), "%s/summary.json", T.rt);
	snprintf(sid, sizeof(sid), "%" PRIu64, dk_device_grant(dev)->session_id);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(jobs, sizeof(jobs), "%d", JOBS);
	run_tool((char *[]){(char *)dkctl, "top", "--once", "--json", "--runtime-dir", T.rt, NULL},
		 top);
	run_tool((char *[]){(char *)dkctl, "trace", "--out", trace, "--runtime-dir", T.rt, "--json",
			    NULL},
		 summary);
	run_tool((char *[]){"python3", "-c", (char *)check_top_trace_py, top, trace, summary, sid,
			    pid, jobs, NULL},
		 NULL);
	/* Only this device, and only what came after: nothing. */
	run_tool((char *[]){(char *)dkctl, "trace", "--out", trace, "--device", "null0", "--since",
			    jobs, "--runtime-dir", T.rt, "--json", NULL},
		 summary);
	run_tool((char *[]){"python3", "-c",
			    "import json, sys\n"
			    "s = json.load(open(sys.argv[1]))\n"
			    "assert s['records'] == 0 and s['lost'] == 0, s\n"
			    "t = json.load(open(sys.argv[2]))\n"
			    "assert [e['ph'] for e in t['traceEvents']] == ['M'], t\n",
			    summary, trace, NULL},
		 NULL);
	assert_int_equal(unlink(top), 0);
	assert_int_equal(unlink(trace), 0);
	assert_int_equal(unlink(summary), 0);

	dk_fence_unref(out);
	dk_device_close(dev);
	dk_client_close(c);
	ts_stop(&T);
}

/* ---- 12. the kill threshold is the policy's: per rule, over the service's own ---- */

/* The test's uid may open null0; @extra: more keys of its rule (a max_violations line). */
#define KT_POLICY(extra)                                                                           \
	"[rule null-service]\nservice = null\ndevice = null0\n"                                    \
	"rights = read, write, map, wait, signal, transfer\nqos = burst\nmax_bytes = 1G\n"         \
	"max_buffers = 1024\nmax_inflight = 4096\nmax_fences = 1024\n"                             \
	"\n[rule me-null0]\nuid = @UID@\ndevice = null0\n"                                         \
	"rights = read, map, wait\nqos = normal\nmax_bytes = 1M\nmax_buffers = 4\n"                \
	"max_inflight = 16\nmax_fences = 4\n" extra

/* dk-null's own threshold in this test: policy must win over it, both ways. */
#define KT_SERVICE_THRESHOLD "3"

/*
 * Replace the stack's policy file with @text ("@UID@": the test's uid) and have dk-policyd
 * reload it; RELOAD answers once the new policy, generation @generation, is in force.
 */
static void kt_policy(const char *text, uint64_t generation)
{
	struct dk_policy_client *pc;
	struct dk_policy_stats st;
	const char *at = text, *hit;
	char path[PATH_MAX + 16];
	FILE *f;

	snprintf(path, sizeof(path), "%s/" TS_POLICY, T.rt);
	f = fopen(path, "w");
	assert_non_null(f);
	while ((hit = strstr(at, "@UID@"))) {
		assert_int_equal(fwrite(at, 1, (size_t)(hit - at), f), (size_t)(hit - at));
		assert_true(fprintf(f, "%u", (unsigned)getuid()) > 0);
		at = hit + 5;
	}
	assert_true(fputs(at, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(dk_policy_connect(T.policyd_sock, DEADLINE(), &pc), 0);
	assert_int_equal(dk_policy_reload(pc, DEADLINE(), NULL), 0);
	assert_int_equal(dk_policy_stats(pc, DEADLINE(), &st), 0);
	assert_int_equal(st.generation, generation);
	dk_policy_close(pc);
}

/* One client session of the test, with one queue. */
struct kt_session {
	struct dk_device *dev;
	struct dk_ring *ring;
	uint64_t jobs;
	char id[48]; /* "session=N", for the journal */
};

/*
 * Open null0 for @k: the grant reports the rule's kill threshold @max_violations, and the
 * service journals the threshold it applies, @threshold, taken from @from.
 */
static void kt_open(struct dk_client *c, struct kt_session *k, uint32_t max_violations,
		    const char *threshold, const char *from)
{
	struct dk_ring_params p = {.sq_entries = 8, .cq_entries = 8, .qos = DK_QOS_NORMAL};
	struct dk_log_client *follower = ts_follow(&T, DK_LOG_INFO);

	memset(k, 0, sizeof(*k));
	assert_int_equal(dk_device_open(c, "null0", DEADLINE(), &k->dev), 0);
	assert_int_equal(dk_device_grant(k->dev)->max_violations, max_violations);
	kvf(k->id, sizeof(k->id), "session", dk_device_grant(k->dev)->session_id);
	ts_await_record(&T, follower, "service.session", KV(k->id, threshold, from), NULL);
	assert_int_equal(dk_device_create_queue(k->dev, &p, DEADLINE(), &k->ring), 0);
}

/*
 * Run one job of @k and reap it: a NOP, which succeeds, or (@bad) a NOP with a parameter,
 * which dk-null's validation refuses: a violation of the session. Nothing else is in flight,
 * so the completion is this job's, and a kill it triggers comes after it.
 */
static void kt_job(struct kt_session *k, bool bad)
{
	struct dk_sqe *sqe = dk_ring_get_sqe(k->ring, NULL);
	struct dk_cqe cqe;

	assert_non_null(sqe);
	sqe->opcode = DK_OP_NOP;
	sqe->param = bad ? 1 : 0;
	sqe->user_data = ++k->jobs;
	assert_int_equal(dk_ring_submit(k->ring), 1);
	assert_int_equal(dk_ring_wait_cqe(k->ring, &cqe, DEADLINE()), 0);
	assert_int_equal(cqe.user_data, k->jobs);
	assert_int_equal(cqe.status, bad ? -EINVAL : 0);
	assert_int_equal(cqe.reason, bad ? DK_REASON_VALIDATION : DK_REASON_NONE);
}

/* @k's session lives on: a NOP runs, and the service counts @refused refusals. */
static void kt_alive(struct kt_session *k, uint64_t refused)
{
	struct dk_session_stats ss;

	kt_job(k, false);
	assert_int_equal(dk_device_stats(k->dev, DEADLINE(), &ss), 0);
	assert_int_equal(ss.refused, refused);
	assert_int_equal(dk_device_check(k->dev), 0);
}

/*
 * @k's session was killed after @violations: its queue's completion fence failed after the
 * last completion, its session calls end with -ENODEV (the service closed the socket without
 * answering), and the service journalled the kill.
 */
static void kt_killed(struct kt_session *k, const char *violations)
{
	struct dk_log_client *follower = ts_follow(&T, DK_LOG_AUDIT);
	struct dk_session_stats ss;
	struct dk_cqe cqe;

	assert_int_equal(dk_ring_wait_cqe(k->ring, &cqe, DEADLINE()), -ECANCELED);
	assert_int_equal(dk_device_stats(k->dev, DEADLINE(), &ss), -ENODEV);
	ts_await_record(&T, follower, "service.kill", KV(k->id, "reason=client-killed", violations),
			NULL);
}

static void test_policy_kill_threshold(void **state)
{
	struct kt_session b, a, c0;
	struct dk_client *c = NULL;

	(void)state;
	ts_start(&T, &(struct ts_config){.policy = KT_POLICY(""),
					 .null_args = "--kill-threshold=" KT_SERVICE_THRESHOLD});
	assert_int_equal(dk_client_connect(T.rt, DEADLINE(), &c), 0);

	/* A rule without max_violations leaves it to the service: not killed at 2. */
	kt_open(c, &b, DK_SESSION_MAX_VIOLATIONS_UNSET, "kill_threshold=" KT_SERVICE_THRESHOLD,
		"kill_threshold_from=service");
	kt_job(&b, true);
	kt_job(&b, true);
	kt_alive(&b, 2);

	/* max_violations = 2: killed at the second, below the service's own threshold. */
	kt_policy(KT_POLICY("max_violations = 2\n"), 2);
	kt_open(c, &a, 2, "kill_threshold=2", "kill_threshold_from=policy");
	ts_await_record(&T, ts_follow(&T, DK_LOG_AUDIT), "policy",
			KV("rule=me-null0", "decision=allow", "max_violations=2", "generation=2"),
			NULL);
	kt_job(&a, true);
	kt_alive(&a, 1);
	kt_job(&a, true);
	kt_killed(&a, "violations=2");

	/* max_violations = 0: never killed automatically, also past the service's threshold. */
	kt_policy(KT_POLICY("max_violations = 0\n"), 3);
	kt_open(c, &c0, 0, "kill_threshold=0", "kill_threshold_from=policy");
	for (int i = 0; i < 4; i++)
		kt_job(&c0, true);
	kt_alive(&c0, 4);

	/* The first session keeps the threshold it opened with: the service's, 3. */
	kt_job(&b, true);
	kt_killed(&b, "violations=" KT_SERVICE_THRESHOLD);
	kt_alive(&c0, 4);

	dk_device_close(a.dev);
	dk_device_close(b.dev);
	dk_device_close(c0.dev);
	dk_client_close(c);
	ts_stop(&T);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_deny_by_default, teardown),
		cmocka_unit_test_teardown(test_open_allowed, teardown),
		cmocka_unit_test_teardown(test_denied_audited, teardown),
		cmocka_unit_test_teardown(test_no_identity_claims, teardown),
		cmocka_unit_test_teardown(test_journal_limits, teardown),
		cmocka_unit_test_teardown(test_crash_under_load, teardown),
		cmocka_unit_test_teardown(test_crash_loop_at_start, teardown),
		cmocka_unit_test_teardown(test_crash_loop_attached, teardown),
		cmocka_unit_test_teardown(test_malformed_frames, teardown),
		cmocka_unit_test_teardown(test_sigterm_leaves_nothing, teardown),
		cmocka_unit_test_teardown(test_broker_restart, teardown),
		cmocka_unit_test_teardown(test_dkctl_top_trace, teardown),
		cmocka_unit_test_teardown(test_policy_kill_threshold, teardown),
	};
	const char *filter = getenv("DK_STACK_TEST");

	/* A client's session socket may be gone under it: report, do not die. */
	signal(SIGPIPE, SIG_IGN);
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	return cmocka_run_group_tests_name("stack", tests, NULL, NULL);
}
