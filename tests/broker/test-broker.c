/* SPDX-License-Identifier: MIT */
/*
 * dk-broker as a process, with a real dk-logd and dk-policyd: each test fork+execs the built
 * daemons (paths in $DK_BROKER, $DK_POLICYD, $DK_LOGD) in a mkdtemp runtime directory. The test
 * is the broker's supervisor (it holds the other end of the control socket and waits for READY
 * there), dk-hwsim (it makes the hwsim channel pair, sends HWSIM_ATTACH with one end and
 * answers GRANT, MAP, UNMAP and INJECT on the other) and the device services (it makes each
 * channel pair, sends ATTACH with one end and answers SESSION and KILL_SESSION on the other,
 * and sends DMA requests on the socket that came with GRANT). Everything is driven one step at
 * a time from one thread: a request is sent, the service side takes the SESSION frame and
 * answers, then the client reads its reply, so no step depends on timing (one test waits for
 * the broker's 1 s deadline on dk-hwsim, to answer late). The broker takes what the supervisor and the
 * services sent before it handles a client's frame, so an ATTACH (or DETACH, SESSION_END) sent
 * before an OPEN (or STATUS) takes effect first. The harness is rig.h.
 */
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
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

#include <dk/error.h>
#include <dk/log.h>
#include <dk/msg.h>
#include <dk/qos.h>
#include <dk/rights.h>
#include <dk/runtime.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "broker-client.h"
#include "broker.h"
#include "rig.h"

/* ---- tests ---- */

static void test_deny_by_default(void **state)
{
	struct dk_device_status st;
	uint32_t reason;
	struct rig R;
	int fd, chan;

	(void)state;
	rig_start(&R, NULL, NULL);
	/* A device the service may drive, but no rule for us on its class. */
	chan = attach(&R, "dk-null", "gpu0", "gpu", 1);
	fd = bconnect(&R);

	assert_int_equal(open_error(fd, "gpu0", &reason), -EACCES);
	assert_int_equal(reason, DK_REASON_POLICY);
	/* A device nobody attached, that no rule allows: the same answer. */
	assert_int_equal(open_error(fd, "nosuch0", &reason), -EACCES);
	assert_int_equal(reason, DK_REASON_POLICY);

	assert_int_equal(audit_count(&R, "broker.open", "open denied", NULL, "device=gpu0",
				     "class=gpu", kv_uid(), "verdict=deny", "reason=no-rule",
				     "rule=-", "max_violations=-", "session=0", "generation=1",
				     NULL),
			 1);
	assert_int_equal(audit_count(&R, "broker.open", "open denied", NULL, "device=nosuch0",
				     "class=-", "verdict=deny", "reason=no-rule", NULL),
			 1);
	status_of(&R, "gpu0", &st);
	assert_int_equal(st.denials, 1);
	assert_int_equal(st.opens, 0);
	assert_int_equal(st.state, DK_DEVICE_UP);
	close(fd);
	close(chan);
	rig_stop(&R);
}

static void test_open_allowed(void **state)
{
	struct dk_device_status st;
	struct dk_session_grant g, g2;
	struct session_req s, s2;
	struct dk_log_record rec;
	char buf[16], kv[64];
	struct rig R;
	int fd, chan, cfd, cfd2;

	(void)state;
	rig_init(&R);
	start_logd(&R);
	start_policyd(&R);
	start_broker(&R, true, NULL, NULL); /* the control socket named by $DK_SUPERVISOR_FD */
	chan = attach(&R, "dk-null", "null0", "null", 7);
	fd = bconnect(&R);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	/* The ATTACH was handled (and journalled) before the OPEN that used it. */
	assert_int_equal(audit_count(&R, "broker.attach", "attach allowed", NULL, "device=null0",
				     "class=null", "service=dk-null", "pid=4007", "generation=7",
				     "verdict=allow", "reason=grant", "rule=svc-null", NULL),
			 1);

	/* The service learnt who the client is from the broker, and the grant of the rule. */
	assert_int_equal(s.pid, (uint32_t)getpid());
	assert_int_equal(s.uid, (uint32_t)getuid());
	assert_int_equal(s.gid, (uint32_t)getgid());
	assert_int_equal(s.rights, DK_RIGHT_READ | DK_RIGHT_MAP | DK_RIGHT_WAIT);
	assert_int_equal(s.qos, DK_QOS_FRUGAL);
	assert_int_equal(s.max_bytes, 1u << 20);
	assert_int_equal(s.max_buffers, 2);
	assert_int_equal(s.max_inflight, 1);
	assert_int_equal(s.max_fences, 3);
	assert_int_equal(s.max_violations, DK_SESSION_MAX_VIOLATIONS_UNSET); /* the service's */
	assert_int_equal(s.seq, s.id);
	/* The client got the same grant. */
	assert_int_equal(g.generation, 7);
	assert_int_equal(g.session_id, s.id);
	assert_int_equal(g.rights, s.rights);
	assert_int_equal(g.qos, s.qos);
	assert_int_equal(g.max_bytes, s.max_bytes);
	assert_int_equal(g.max_buffers, s.max_buffers);
	assert_int_equal(g.max_inflight, s.max_inflight);
	assert_int_equal(g.max_fences, s.max_fences);
	assert_int_equal(g.max_violations, DK_SESSION_MAX_VIOLATIONS_UNSET);
	assert_string_equal(g.device_class, "null");

	/* The session socket connects the client to the service, both ways. */
	assert_int_equal(send(cfd, "ping", 4, MSG_NOSIGNAL), 4);
	assert_int_equal(dk_socket_wait(s.fd, POLLIN, DEADLINE()), 0);
	assert_int_equal(recv(s.fd, buf, sizeof(buf), MSG_DONTWAIT), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(send(s.fd, "pong", 4, MSG_NOSIGNAL), 4);
	assert_int_equal(dk_socket_wait(cfd, POLLIN, DEADLINE()), 0);
	assert_int_equal(recv(cfd, buf, sizeof(buf), MSG_DONTWAIT), 4);
	assert_memory_equal(buf, "pong", 4);

	/* Audited before the answer, with the session and the deciding rule. */
	snprintf(kv, sizeof(kv), "session=%llu", (unsigned long long)s.id);
	assert_int_equal(audit_count(&R, "broker.open", "open allowed", &rec, "device=null0",
				     "class=null", kv_uid(), "verdict=allow", "reason=grant",
				     "rule=me-null", "max_violations=-", "generation=7", kv, NULL),
			 1);
	assert_int_equal(rec.severity, DK_LOG_AUDIT);
	snprintf(kv, sizeof(kv), "pid=%d", (int)getpid());
	assert_true(has_field(rec.fields, kv));

	/* A second session: its own id; STATUS counts both, SESSION_END takes one off. */
	open_ok(fd, chan, "null0", &g2, &cfd2, &s2);
	assert_true(g2.session_id != g.session_id);
	status_of(&R, "null0", &st);
	assert_int_equal(st.sessions, 2);
	assert_int_equal(st.opens, 2);
	assert_int_equal(st.generation, 7);
	assert_int_equal(st.pid, 4007);
	assert_string_equal(st.service, "dk-null");
	assert_string_equal(st.device_class, "null");
	service_end(chan, s.id);
	service_end(chan, 999999); /* unknown: ignored */
	status_of(&R, "null0", &st);
	assert_int_equal(st.sessions, 1);

	close(cfd);
	close(cfd2);
	close(s.fd);
	close(s2.fd);
	close(fd);
	close(chan);
	rig_stop(&R);
}

/*
 * A rule's kill threshold goes to the service in SESSION, to the client in the grant and into
 * the broker.open record, 0 (never) included; a rule without one says "not set" to all three
 * (test_open_allowed).
 */
static void test_kill_threshold(void **state)
{
	struct dk_session_grant g;
	struct session_req s;
	uint32_t reason;
	uint64_t seq;
	struct rig R;
	int fd, strict, lenient, cfd;

	(void)state;
	rig_start(&R, NULL, NULL);
	strict = attach(&R, "dk-null", "strict0", "null", 1);
	lenient = attach(&R, "dk-null", "lenient0", "null", 2);
	fd = bconnect(&R);

	open_ok(fd, strict, "strict0", &g, &cfd, &s);
	assert_int_equal(s.max_violations, 2);
	assert_int_equal(g.max_violations, 2);
	assert_int_equal(s.max_inflight, 1); /* the rest of the grant as usual */
	assert_int_equal(g.session_id, s.id);
	close(cfd);
	close(s.fd);

	open_ok(fd, lenient, "lenient0", &g, &cfd, &s);
	assert_int_equal(s.max_violations, 0);
	assert_int_equal(g.max_violations, 0);
	close(cfd);
	close(s.fd);

	/* The broker's record says which threshold the session got, also for an open that
	 * failed after policy allowed it. */
	seq = open_send(fd, "strict0");
	service_take(strict, &s);
	service_answer(strict, &s, -EBUSY);
	assert_int_equal(open_recv(fd, seq, &g, &cfd, &reason), -EBUSY);
	close(s.fd);
	assert_int_equal(audit_count(&R, "broker.open", "open allowed", NULL, "device=strict0",
				     "rule=me-strict", "max_violations=2", NULL),
			 1);
	assert_int_equal(audit_count(&R, "broker.open", "open failed", NULL, "device=strict0",
				     "reason=EBUSY", "rule=me-strict", "max_violations=2", NULL),
			 1);
	assert_int_equal(audit_count(&R, "broker.open", "open allowed", NULL, "device=lenient0",
				     "rule=me-never-killed", "max_violations=0", NULL),
			 1);

	close(fd);
	close(strict);
	close(lenient);
	rig_stop(&R);
}

static void test_no_enumeration(void **state)
{
	struct list_entry e[8];
	uint32_t reason;
	struct rig R;
	int fd, c1, c2, c3;

	(void)state;
	rig_start(&R, NULL, NULL);
	c1 = attach(&R, "dk-null", "null0", "null", 1);
	c2 = attach(&R, "dk-null", "secret0", "null", 2); /* class allowed, device denied */
	c3 = attach(&R, "dk-null", "gpu0", "gpu", 3);     /* no rule for us */
	fd = bconnect(&R);

	/* Allowed but nonexistent: -ENODEV. Not allowed: -EACCES, existing or not. */
	assert_int_equal(open_error(fd, "ghost0", &reason), -ENODEV);
	assert_int_equal(reason, DK_REASON_NONE);
	assert_int_equal(open_error(fd, "secret0", &reason), -EACCES);
	assert_int_equal(open_error(fd, "secret1", &reason), -EACCES);
	assert_int_equal(open_error(fd, "gpu0", &reason), -EACCES);
	assert_int_equal(audit_count(&R, "broker.open", "open failed", NULL, "device=ghost0",
				     "verdict=allow", "reason=ENODEV", "rule=me-ghost", NULL),
			 1);
	assert_int_equal(audit_count(&R, "broker.open", "open denied", NULL, "device=secret0",
				     "verdict=deny", "reason=deny-rule", "rule=me-not-secret",
				     NULL),
			 1);

	/* LIST: only what we may open. */
	assert_int_equal(list(fd, e, 8), 1);
	assert_string_equal(e[0].device, "null0");
	assert_string_equal(e[0].cls, "null");
	assert_int_equal(e[0].generation, 1);
	assert_int_equal(e[0].state, DK_DEVICE_UP);

	close(fd);
	close(c1);
	close(c2);
	close(c3);
	rig_stop(&R);
}

static void test_restarting_and_failed(void **state)
{
	struct dk_device_status st;
	struct dk_session_grant g;
	struct list_entry e[4];
	struct session_req s;
	uint32_t reason;
	struct rig R;
	int fd, chan, cfd;
	uint64_t seq;

	(void)state;
	rig_start(&R, NULL, NULL);
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);

	/* The supervisor says the service died and will come back. */
	detach(&R, "null0", 1, DK_DEVICE_RESTARTING);
	assert_channel_closed(chan);
	assert_int_equal(open_error(fd, "null0", &reason), -EAGAIN);
	assert_int_equal(reason, DK_REASON_DRIVER_CRASHED);
	assert_int_equal(list(fd, e, 4), 1);
	assert_int_equal(e[0].state, DK_DEVICE_RESTARTING);
	assert_int_equal(audit_count(&R, "broker.open", "open failed", NULL, "device=null0",
				     "verdict=allow", "reason=EAGAIN", NULL),
			 1);

	/* The next start: opens work again, with its generation. */
	chan = attach(&R, "dk-null", "null0", "null", 2);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	assert_int_equal(g.generation, 2);
	close(cfd);
	close(s.fd);

	/* Its channel breaks (the service died before the supervisor told us): restarting. */
	close(chan);
	assert_int_equal(open_error(fd, "null0", &reason), -EAGAIN);
	assert_int_equal(reason, DK_REASON_DRIVER_CRASHED);
	status_of(&R, "null0", &st);
	assert_int_equal(st.state, DK_DEVICE_RESTARTING);
	assert_int_equal(st.sessions, 0);

	/* An open in flight when the service dies fails the same way. */
	chan = attach(&R, "dk-null", "null0", "null", 3);
	seq = open_send(fd, "null0");
	service_take(chan, &s);
	close(s.fd);
	close(chan);
	assert_int_equal(open_recv(fd, seq, &g, &cfd, &reason), -EAGAIN);
	assert_int_equal(reason, DK_REASON_DRIVER_CRASHED);

	/* Crash-loop limit: failed for good. */
	detach(&R, "null0", 3, DK_DEVICE_FAILED);
	assert_int_equal(open_error(fd, "null0", &reason), -ENODEV);
	status_of(&R, "null0", &st);
	assert_int_equal(st.state, DK_DEVICE_FAILED);
	assert_int_equal(st.generation, 3);
	close(fd);
	rig_stop(&R);
}

static void test_stale_attach(void **state)
{
	struct dk_device_status st;
	struct dk_session_grant g;
	struct session_req s;
	struct rig R;
	int fd, chan, cfd;

	(void)state;
	rig_start(&R, NULL, NULL);
	chan = attach(&R, "dk-null", "null0", "null", 5);
	/* The same generation again, and an older one: refused, channels closed. */
	assert_channel_closed(attach(&R, "dk-null", "null0", "null", 5));
	assert_channel_closed(attach(&R, "dk-null", "null0", "null", 4));
	/* A DETACH of an older start changes nothing. */
	detach(&R, "null0", 4, DK_DEVICE_FAILED);
	fd = bconnect(&R);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	assert_int_equal(g.generation, 5);
	status_of(&R, "null0", &st);
	assert_int_equal(st.state, DK_DEVICE_UP);
	assert_int_equal(st.generation, 5);
	assert_int_equal(audit_count(&R, "broker.attach", "attach refused", NULL, "device=null0",
				     "verdict=deny", "reason=stale", NULL),
			 2);
	close(cfd);
	close(s.fd);
	close(fd);
	close(chan);
	rig_stop(&R);
}

static void test_service_denied(void **state)
{
	struct dk_device_status st;
	uint32_t reason;
	struct rig R;
	int fd;

	(void)state;
	rig_start(&R, NULL, NULL);
	/* No rule lets service "rogue" drive a null device: not registered. */
	assert_channel_closed(attach(&R, "rogue", "null1", "null", 1));
	assert_int_equal(audit_count(&R, "broker.attach", "attach denied", NULL, "device=null1",
				     "service=rogue", "verdict=deny", "reason=no-rule", NULL),
			 1);
	fd = bconnect(&R);
	assert_int_equal(open_error(fd, "null1", &reason), -ENODEV);
	status_of(&R, "null1", &st);
	assert_int_equal(st.state, DK_DEVICE_FAILED);
	assert_string_equal(st.service, "rogue");
	close(fd);
	rig_stop(&R);
}

static void test_malformed(void **state)
{
	uint8_t frame[DK_FRAME_MAX_SIZE + 64], p[80];
	struct dk_session_grant g;
	struct session_req s;
	struct dk_wire_writer w;
	struct pollfd pfd;
	struct rig R;
	int fd, chan, cfd, x[2], n;

	(void)state;
	rig_start(&R, NULL, NULL);
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, "null0");

	/* Shorter than a header: answered on opcode 0, seq 0. */
	raw_send(fd, "DKF1x", 5, -1);
	assert_int_equal(raw_error(fd, 0, 0), -EPROTO);
	/* Bad magic. */
	n = dk_frame_encode(frame, sizeof(frame), &dk_broker_proto, DK_BROKER_OP_OPEN, 0, 11, p,
			    dk_wire_writer_len(&w));
	assert_true(n > 0);
	frame[0] ^= 0xff;
	raw_send(fd, frame, (size_t)n, -1);
	assert_int_equal(raw_error(fd, DK_BROKER_OP_OPEN, 11), -EPROTO);
	frame[0] ^= 0xff;
	/* Truncated: fewer payload bytes than the header says. */
	raw_send(fd, frame, (size_t)n - 2, -1);
	assert_int_equal(raw_error(fd, DK_BROKER_OP_OPEN, 11), -EPROTO);
	/* Over the frame cap. */
	memset(frame + n, 0, sizeof(frame) - (size_t)n);
	raw_send(fd, frame, sizeof(frame), -1);
	assert_int_equal(raw_error(fd, DK_BROKER_OP_OPEN, 11), -EPROTO);
	/* Unknown opcode, and a supervisor opcode on the public socket. */
	n = dk_frame_encode(frame, sizeof(frame), &dk_broker_proto, 0x77, 0, 12, NULL, 0);
	raw_send(fd, frame, (size_t)n, -1);
	assert_int_equal(raw_error(fd, 0x77, 12), -EOPNOTSUPP);
	n = dk_frame_encode(frame, sizeof(frame), &dk_broker_proto, DK_SUPCTL_OP_ATTACH, 0, 13,
			    NULL, 0);
	raw_send(fd, frame, (size_t)n, -1);
	assert_int_equal(raw_error(fd, DK_SUPCTL_OP_ATTACH, 13), -EOPNOTSUPP);
	/* A reply flag from a client. */
	n = dk_frame_encode(frame, sizeof(frame), &dk_broker_proto, DK_BROKER_OP_LIST,
			    DK_FRAME_F_REPLY, 14, NULL, 0);
	raw_send(fd, frame, (size_t)n, -1);
	assert_int_equal(raw_error(fd, DK_BROKER_OP_LIST, 14), -EPROTO);
	/* Payloads: a bad name, trailing bytes, LIST with a payload. */
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, "null 0");
	n = dk_frame_encode(frame, sizeof(frame), &dk_broker_proto, DK_BROKER_OP_OPEN, 0, 15, p,
			    dk_wire_writer_len(&w));
	raw_send(fd, frame, (size_t)n, -1);
	assert_int_equal(raw_error(fd, DK_BROKER_OP_OPEN, 15), -EPROTO);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, "null0");
	dk_wire_put_u8(&w, 0);
	n = dk_frame_encode(frame, sizeof(frame), &dk_broker_proto, DK_BROKER_OP_OPEN, 0, 16, p,
			    dk_wire_writer_len(&w));
	raw_send(fd, frame, (size_t)n, -1);
	assert_int_equal(raw_error(fd, DK_BROKER_OP_OPEN, 16), -EPROTO);
	n = dk_frame_encode(frame, sizeof(frame), &dk_broker_proto, DK_BROKER_OP_LIST, 0, 17, p,
			    4);
	raw_send(fd, frame, (size_t)n, -1);
	assert_int_equal(raw_error(fd, DK_BROKER_OP_LIST, 17), -EPROTO);

	/* Descriptors: with the FDS flag (well formed, but no request takes any) and without. */
	for (int with_flag = 0; with_flag < 2; with_flag++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x), 0);
		dk_wire_writer_init(&w, p, sizeof(p));
		dk_wire_put_string(&w, "null0");
		n = dk_frame_encode(frame, sizeof(frame), &dk_broker_proto, DK_BROKER_OP_OPEN,
				    with_flag ? DK_FRAME_F_FDS : 0, 18, p, dk_wire_writer_len(&w));
		raw_send(fd, frame, (size_t)n, x[1]);
		close(x[1]);
		assert_int_equal(raw_error(fd, DK_BROKER_OP_OPEN, 18), -EPROTO);
		/* The broker closed its copy: our end sees the hang-up. */
		pfd.fd = x[0];
		pfd.events = POLLIN;
		assert_int_equal(poll(&pfd, 1, 30000), 1);
		assert_true(pfd.revents & POLLHUP);
		close(x[0]);
	}

	/* The same connection still opens, and nothing reached the service before. */
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	assert_int_equal(g.generation, 1);
	close(cfd);
	close(s.fd);
	close(fd);
	close(chan);
	rig_stop(&R);
}

static void test_control_faults(void **state)
{
	struct dk_session_grant g;
	struct session_req s;
	struct rig R;
	int fd, chan, cfd, x[2];
	uint8_t p[8] = {0};

	(void)state;
	rig_start(&R, NULL, NULL);
	/* READY and an ATTACH without its channel are refused; so is DETACH of nobody. */
	assert_int_equal(dk_msg_send(R.ctl, &dk_supctl_proto, DK_SUPCTL_OP_READY, 0, 0, NULL, 0,
				     NULL, 0, DEADLINE()),
			 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x), 0);
	assert_int_equal(dk_msg_send(R.ctl, &dk_supctl_proto, DK_SUPCTL_OP_FENCE_RELEASE, 0, 0, p,
				     sizeof(p), &x[1], 1, DEADLINE()),
			 0);
	close(x[1]);
	detach(&R, "nobody0", 1, DK_DEVICE_FAILED);
	{
		uint8_t a[16 + 3 * 7];
		struct dk_wire_writer w;

		dk_wire_writer_init(&w, a, sizeof(a));
		dk_wire_put_u64(&w, 1);
		dk_wire_put_u32(&w, 1);
		dk_wire_put_u32(&w, 0);
		dk_wire_put_string(&w, "dk-null");
		dk_wire_put_string(&w, "null0");
		dk_wire_put_string(&w, "null");
		assert_int_equal(dk_msg_send(R.ctl, &dk_supctl_proto, DK_SUPCTL_OP_ATTACH, 0, 0, a,
					     dk_wire_writer_len(&w), NULL, 0, DEADLINE()),
				 0);
	}
	/* The descriptor that came with the refused frame was closed. */
	assert_channel_closed(x[0]);
	/* The broker goes on: a proper ATTACH of generation 1 is not stale. */
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	close(cfd);
	close(s.fd);
	close(fd);
	close(chan);
	rig_stop(&R);
}

static void test_status_other_uid(void **state)
{
	struct dk_device_status st[4];
	uint32_t n;
	struct rig R;
	int status, chan;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	rig_start(&R, NULL, NULL);
	chan = attach(&R, "dk-null", "null0", "null", 1);
	/* Let another uid reach the socket; the broker decides by SO_PEERCRED. */
	assert_int_equal(chmod(R.dir, 0711), 0);
	assert_int_equal(chmod(R.broker_sock, 0666), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct dk_device_status one;
		struct dk_msg *m = malloc(sizeof(*m));
		uint32_t reason, k;
		int fd, err;

		if (!m || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(10);
		if (dk_broker_status(R.broker_sock, DEADLINE(), &one, 1, &k) != -EACCES)
			_exit(11);
		if (dk_socket_connect(R.broker_sock, DEADLINE(), &fd) < 0)
			_exit(12);
		if (dk_msg_call(fd, &dk_broker_proto, &dk_broker_reply_proto,
				DK_BROKER_OP_STATUS, NULL, 0, NULL, 0, DEADLINE(), m,
				&reason) != -EACCES ||
		    reason != DK_REASON_POLICY)
			_exit(13);
		/* Our rules are for the test's uid, not this one: denied. */
		{
			uint8_t p[8];
			struct dk_wire_writer w;

			dk_wire_writer_init(&w, p, sizeof(p));
			dk_wire_put_string(&w, "null0");
			err = dk_msg_call(fd, &dk_broker_proto, &dk_broker_reply_proto,
					  DK_BROKER_OP_OPEN, p, dk_wire_writer_len(&w), NULL, 0,
					  DEADLINE(), m, &reason);
		}
		_exit(err == -EACCES && reason == DK_REASON_POLICY ? 0 : 14);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	{
		char kv[32];

		snprintf(kv, sizeof(kv), "uid=%u", NOBODY);
		assert_int_equal(audit_count(&R, "broker.open", "open denied", NULL,
					     "device=null0", kv, "verdict=deny", NULL),
				 1);
	}
	/* The broker's own uid (and root) are answered; @max bounds what is written. */
	assert_int_equal(dk_broker_status(R.broker_sock, DEADLINE(), st, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(dk_broker_status(R.broker_sock, DEADLINE(), st, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(st[0].denials, 1);
	assert_int_equal(dk_broker_status(R.broker_sock, 0, st, 4, &n), -EINVAL);
	close(chan);
	rig_stop(&R);
}

static void test_service_busy(void **state)
{
	struct dk_session_grant g;
	struct session_req s;
	uint32_t reason;
	struct rig R;
	int fd, chan, cfd;
	uint64_t seq;

	(void)state;
	rig_start(&R, NULL, NULL);
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);
	seq = open_send(fd, "null0");
	service_take(chan, &s);
	service_answer(chan, &s, -EBUSY);
	assert_int_equal(open_recv(fd, seq, &g, &cfd, &reason), -EBUSY);
	assert_int_equal(reason, DK_REASON_NONE);
	/* The service's end was ours to close; the client's end never left the broker. */
	close(s.fd);
	assert_int_equal(audit_count(&R, "broker.open", "open failed", NULL, "device=null0",
				     "verdict=allow", "reason=EBUSY", NULL),
			 1);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	close(cfd);
	close(s.fd);
	close(fd);
	close(chan);
	rig_stop(&R);
}

static void test_session_timeout(void **state)
{
	struct dk_device_status st;
	struct dk_session_grant g;
	struct session_req s, late;
	uint32_t reason;
	struct rig R;
	int fd, chan, cfd;
	uint64_t seq;

	(void)state;
	rig_start(&R, "--session-timeout-ms", "100");
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);
	seq = open_send(fd, "null0");
	service_take(chan, &late); /* and never answer in time */
	assert_int_equal(open_recv(fd, seq, &g, &cfd, &reason), -ETIMEDOUT);
	assert_int_equal(reason, DK_REASON_NONE);
	/* The client end is gone with the failed open. */
	assert_int_equal(dk_socket_wait(late.fd, POLLIN, DEADLINE()), 0);
	assert_int_equal(recv(late.fd, &reason, sizeof(reason), MSG_DONTWAIT), 0);
	close(late.fd);
	/* A late answer is ignored, and the next open works. */
	service_answer(chan, &late, 0);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	assert_true(g.session_id > late.id);
	status_of(&R, "null0", &st);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(audit_count(&R, "broker.open", "open failed", NULL, "device=null0",
				     "verdict=allow", "reason=ETIMEDOUT", NULL),
			 1);
	close(cfd);
	close(s.fd);
	close(fd);
	close(chan);
	rig_stop(&R);
}

static void test_pending_caps(void **state)
{
	struct session_req s[DK_BROKER_CLIENT_PENDING_MAX];
	uint64_t seq[DK_BROKER_CLIENT_PENDING_MAX];
	struct dk_session_grant g;
	struct dk_msg *m = malloc(sizeof(*m));
	uint32_t reason;
	struct rig R;
	int fd, fd2, chan, cfd;

	(void)state;
	assert_non_null(m);
	rig_start(&R, "--max-clients", "2");
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);
	fd2 = bconnect(&R);
	/* Over the client cap: accepted and closed at once. */
	{
		int fd3 = bconnect(&R);

		assert_int_equal(dk_msg_recv(fd3, &dk_broker_reply_proto, DEADLINE(), m, NULL),
				 -EPIPE);
		close(fd3);
	}
	/* Opens in flight per connection are bounded; the next one is -EBUSY at once. */
	for (uint32_t i = 0; i < DK_BROKER_CLIENT_PENDING_MAX; i++) {
		seq[i] = open_send(fd, "null0");
		service_take(chan, &s[i]);
	}
	assert_int_equal(open_error(fd, "null0", &reason), -EBUSY);
	/* Another connection is not held up by them. */
	{
		struct session_req other;

		open_ok(fd2, chan, "null0", &g, &cfd, &other);
		close(cfd);
		close(other.fd);
	}
	/* Answered out of order: each answer reaches its own request. */
	for (uint32_t i = DK_BROKER_CLIENT_PENDING_MAX; i-- > 0;) {
		service_answer(chan, &s[i], 0);
		assert_int_equal(open_recv(fd, seq[i], &g, &cfd, &reason), 0);
		assert_int_equal(g.session_id, s[i].id);
		close(cfd);
		close(s[i].fd);
	}
	free(m);
	close(fd2);
	close(fd);
	close(chan);
	rig_stop(&R);
}

static void test_policy_unreachable(void **state)
{
	struct dk_session_grant g;
	struct session_req s;
	struct list_entry e[2];
	uint32_t reason;
	struct rig R;
	int fd, chan, cfd;

	(void)state;
	rig_start(&R, NULL, NULL);
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	close(cfd);
	close(s.fd);

	/* dk-policyd restarts: the broker's connection broke; it reconnects on its own. */
	dk_test_stop_daemon(R.policyd, R.policyd_sock);
	start_policyd(&R);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	close(cfd);
	close(s.fd);

	/* dk-policyd gone: deny by default, audited as such; LIST refuses too. */
	dk_test_stop_daemon(R.policyd, R.policyd_sock);
	R.policyd = 0;
	assert_int_equal(open_error(fd, "null0", &reason), -EACCES);
	assert_int_equal(reason, DK_REASON_POLICY);
	assert_int_equal(list(fd, e, 2), -EACCES);
	assert_int_equal(audit_count(&R, "broker.open", "open denied", NULL, "device=null0",
				     "verdict=deny", "reason=policy-unreachable", NULL),
			 1);
	close(fd);
	close(chan);
	rig_stop(&R);
}

static void test_logd_unreachable(void **state)
{
	struct dk_session_grant g;
	struct session_req s;
	char text[8192];
	struct rig R;
	int fd, chan, cfd;

	(void)state;
	rig_init(&R);
	/* No dk-logd at all: policyd and the broker serve, their records are unaudited. */
	{
		char *argv[] = {getenv("DK_POLICYD"), "--socket", R.policyd_sock, "--policy",
				R.policy, "--ready-fd", "3", NULL};

		R.policyd = spawn_ready(argv, R.errlog);
	}
	start_broker(&R, false, NULL, NULL);
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	close(cfd);
	close(s.fd);
	close(fd);
	/* Stopped with its channel open: no state change to journal. */
	dk_test_stop_daemon(R.broker, R.broker_sock);
	R.broker = 0;
	close(chan);
	read_errlog(&R, text, sizeof(text));
	/* The attach and the open: neither could be stored. */
	assert_non_null(strstr(text, "1 opens, 0 denials, 0 failed, 0 audited, 2 unaudited"));
	rig_stop(&R);
}

static void test_no_supervisor(void **state)
{
	uint32_t reason;
	struct rig R;
	int fd;

	(void)state;
	rig_init(&R);
	start_logd(&R);
	start_policyd(&R);
	/* No control socket: no devices, but served; --socket etc. instead of --runtime-dir. */
	{
		char *argv[] = {getenv("DK_BROKER"), "--socket", R.broker_sock, "--policyd",
				R.policyd_sock, "--logd", R.logd_sock, "--ready-fd", "3", NULL};

		unsetenv(DK_ENV_SUPERVISOR_FD);
		unsetenv(DK_ENV_RUNTIME_DIR);
		R.broker = spawn_ready(argv, R.errlog);
	}
	fd = bconnect(&R);
	assert_int_equal(open_error(fd, "ghost0", &reason), -ENODEV);
	/* Unknown, so classless: the class rule for "null" cannot match it. */
	assert_int_equal(open_error(fd, "null0", &reason), -EACCES);
	close(fd);
	rig_stop(&R); /* SIGTERM: exit 0, socket removed */
}

/* ---- the emulated board ---- */

/* Whether descriptors @a and @b name the same open file (same inode). */
static bool same_file(int a, int b)
{
	struct stat sa, sb;

	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void close_grant(struct grant *g)
{
	close(g->regs);
	close(g->doorbell);
	close(g->irq);
	close(g->dma);
}

static void test_grant_before_session(void **state)
{
	struct dk_session_grant g;
	struct session_req s;
	struct hwsim_req q;
	struct hwsim_res res;
	struct grant gr;
	struct stat st;
	uint64_t seq, v = 0;
	uint32_t reason;
	struct rig R;
	int fd, hw, chan, cfd;

	(void)state;
	rig_start(&R, NULL, NULL);
	hw = hwsim_attach(&R, 3);
	fd = bconnect(&R);
	chan = attach(&R, "dk-null", "copy0", "null", 7);
	/* An OPEN sent while the broker waits for dk-hwsim's answer to GRANT. */
	seq = open_send(fd, "copy0");
	hwsim_take(hw, DK_HWSIM_OP_GRANT, &q);
	assert_string_equal(q.device, "copy0");
	hwsim_grant(hw, &q, 4096, "copy", &res);

	/* The service's first frame is GRANT, with the board's resources and a DMA socket... */
	service_take_grant(chan, &gr);
	assert_int_equal(gr.regs_size, 4096);
	assert_string_equal(gr.model, "copy");
	assert_true(same_file(gr.regs, res.regs));
	assert_int_equal(fstat(gr.regs, &st), 0);
	assert_int_equal(st.st_size, 4096);
	/* The doorbell and the interrupt are dk-hwsim's own eventfds. */
	assert_int_equal(eventfd_write(gr.doorbell, 1), 0);
	assert_int_equal(eventfd_read(res.doorbell, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(eventfd_write(res.irq, 2), 0);
	assert_int_equal(eventfd_read(gr.irq, &v), 0);
	assert_int_equal(v, 2);
	/* ... and only then the SESSION of that open. */
	service_take(chan, &s);
	service_answer(chan, &s, 0);
	assert_int_equal(open_recv(fd, seq, &g, &cfd, &reason), 0);
	assert_int_equal(g.generation, 7);
	assert_int_equal(audit_count(&R, "broker.grant", "grant sent", NULL, "device=copy0",
				     "model=copy", "regs_size=4096", "service=dk-null",
				     "generation=7", "hwsim_generation=3", NULL),
			 1);
	close(res.regs);
	close(res.doorbell);
	close(res.irq);
	close_grant(&gr);
	close(cfd);
	close(s.fd);
	close(fd);
	close(chan);
	close(hw);
	rig_stop(&R);
}

static void test_no_hardware(void **state)
{
	struct dk_device_status st;
	struct dk_session_grant g;
	struct session_req s;
	struct hwsim_req q;
	struct grant gr;
	struct rig R;
	int fd, hw, chan, cfd;

	(void)state;
	rig_start(&R, NULL, NULL);
	hw = hwsim_attach(&R, 1);
	/* dk-hwsim has no such device: no GRANT, the device is served without hardware. */
	chan = attach(&R, "dk-null", "null0", "null", 2);
	hwsim_take(hw, DK_HWSIM_OP_GRANT, &q);
	assert_string_equal(q.device, "null0");
	hwsim_answer(hw, &q, -ENODEV, DK_REASON_NONE, NULL, 0);
	fd = bconnect(&R);
	open_ok(fd, chan, "null0", &g, &cfd, &s); /* its first frame is the SESSION */
	close(cfd);
	close(s.fd);
	assert_int_equal(audit_count(&R, "broker.grant", "grant sent", NULL, "device=null0", NULL),
			 0);
	assert_int_equal(audit_count(&R, "broker.grant", "grant failed", NULL, "device=null0",
				     NULL),
			 0);

	/* dk-hwsim fails otherwise: the service is cut off (it cannot work without its
	 * hardware), the device restarting until the next start. */
	chan = attach(&R, "dk-null", "copy0", "null", 3);
	hwsim_take(hw, DK_HWSIM_OP_GRANT, &q);
	hwsim_answer(hw, &q, -EIO, DK_REASON_NONE, NULL, 0);
	assert_channel_closed(chan);
	status_of(&R, "copy0", &st);
	assert_int_equal(st.state, DK_DEVICE_RESTARTING);
	assert_int_equal(audit_count(&R, "broker.grant", "grant failed", NULL, "device=copy0",
				     "result=EIO", "generation=3", NULL),
			 1);
	/* A malformed answer is a failure too: a frame too short for a GRANT reply (refused,
	 * the broker goes on waiting), then a window of no bytes. */
	chan = attach(&R, "dk-null", "copy0", "null", 4);
	hwsim_take(hw, DK_HWSIM_OP_GRANT, &q);
	{
		int fds[2] = {eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC)};
		uint8_t p[8] = {0, 16};

		assert_int_equal(dk_msg_send(hw, &dk_hwsim_reply_proto, DK_HWSIM_OP_GRANT,
					     DK_FRAME_F_REPLY, q.seq, p, sizeof(p), fds, 2,
					     DEADLINE()),
				 0);
		close(fds[0]);
		close(fds[1]);
	}
	hwsim_grant(hw, &q, 0, "copy", NULL);
	assert_channel_closed(chan);
	assert_int_equal(audit_count(&R, "broker.grant", "grant failed", NULL, "device=copy0",
				     "result=EPROTO", NULL),
			 1);
	/* The next start gets its hardware. */
	chan = attach_granted(&R, hw, "copy0", 5, &gr);
	status_of(&R, "copy0", &st);
	assert_int_equal(st.state, DK_DEVICE_UP);
	close_grant(&gr);
	close(fd);
	close(chan);
	close(hw);
	rig_stop(&R);
}

static void test_dma_forwarding(void **state)
{
	struct grant ga, gb;
	struct hwsim_req q;
	uint64_t seq, iova = 0;
	uint32_t reason;
	struct rig R;
	int hw, ca, cb, buf;

	(void)state;
	rig_start(&R, NULL, NULL);
	hw = hwsim_attach(&R, 1);
	ca = attach_granted(&R, hw, "copy0", 2, &ga);
	cb = attach_granted(&R, hw, "copy1", 3, &gb);
	buf = memfd_create("buf", MFD_CLOEXEC);
	assert_true(buf >= 0);
	assert_int_equal(ftruncate(buf, 1 << 20), 0);

	/* A MAP on copy1's socket is a MAP of copy1: the DMA protocol names no device. */
	seq = dma_map_send(gb.dma, DK_DMA_READ | DK_DMA_WRITE, 4096, 8192, buf);
	hwsim_take(hw, DK_HWSIM_OP_MAP, &q);
	assert_string_equal(q.device, "copy1");
	assert_int_equal(q.a, DK_DMA_READ | DK_DMA_WRITE);
	assert_int_equal(q.b, 0);
	assert_int_equal(q.x, 4096);
	assert_int_equal(q.y, 8192);
	assert_true(same_file(q.fd, buf));
	close(q.fd);
	hwsim_answer_iova(hw, &q, DK_HWSIM_IOVA_BASE);
	assert_int_equal(dma_recv(gb.dma, DK_DMA_OP_MAP, seq, &iova, &reason), 0);
	assert_int_equal(iova, DK_HWSIM_IOVA_BASE);
	/* And one on copy0's is copy0's; dk-hwsim's refusal reaches the service as it is. */
	seq = dma_map_send(ga.dma, DK_DMA_READ, 0, 4096, buf);
	hwsim_take(hw, DK_HWSIM_OP_MAP, &q);
	assert_string_equal(q.device, "copy0");
	assert_int_equal(q.a, DK_DMA_READ);
	close(q.fd);
	hwsim_answer(hw, &q, -EBADF, DK_REASON_VALIDATION, NULL, 0);
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_MAP, seq, &iova, &reason), -EBADF);
	assert_int_equal(reason, DK_REASON_VALIDATION);

	/* UNMAP, for the same device; and dk-hwsim's -ENOENT. */
	seq = dma_unmap_send(gb.dma, DK_HWSIM_IOVA_BASE);
	hwsim_take(hw, DK_HWSIM_OP_UNMAP, &q);
	assert_string_equal(q.device, "copy1");
	assert_int_equal(q.x, DK_HWSIM_IOVA_BASE);
	hwsim_answer(hw, &q, 0, DK_REASON_NONE, NULL, 0);
	assert_int_equal(dma_recv(gb.dma, DK_DMA_OP_UNMAP, seq, NULL, &reason), 0);
	seq = dma_unmap_send(ga.dma, 77);
	hwsim_take(hw, DK_HWSIM_OP_UNMAP, &q);
	assert_string_equal(q.device, "copy0");
	hwsim_answer(hw, &q, -ENOENT, DK_REASON_NONE, NULL, 0);
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_UNMAP, seq, NULL, &reason), -ENOENT);

	/* Malformed requests: answered by the broker, nothing forwarded. */
	seq = dma_map_send(ga.dma, DK_DMA_READ, 0, 4096, -1); /* no buffer */
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_MAP, seq, &iova, &reason), -EPROTO);
	assert_int_equal(reason, DK_REASON_PROTOCOL);
	seq = dma_map_send(ga.dma, 0, 0, 4096, buf); /* no access */
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_MAP, seq, &iova, &reason), -EINVAL);
	seq = dma_map_send(ga.dma, 4, 0, 4096, buf); /* unknown access bit */
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_MAP, seq, &iova, &reason), -EINVAL);
	seq = dma_map_send(ga.dma, DK_DMA_WRITE, 0, 0, buf); /* no bytes */
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_MAP, seq, &iova, &reason), -EINVAL);
	seq = dma_map_send(ga.dma, DK_DMA_WRITE, UINT64_MAX, 2, buf); /* wraps */
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_MAP, seq, &iova, &reason), -EINVAL);
	assert_int_equal(reason, DK_REASON_VALIDATION);
	{
		uint8_t p[8] = {0};
		uint8_t frame[DK_FRAME_MAX_SIZE];
		int n;

		/* UNMAP with a descriptor; a reply; an unknown opcode. */
		assert_int_equal(dk_msg_send(ga.dma, &dk_dma_proto, DK_DMA_OP_UNMAP, 0, 41, p,
					     sizeof(p), &buf, 1, DEADLINE()),
				 0);
		assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_UNMAP, 41, NULL, &reason), -EPROTO);
		assert_int_equal(dk_msg_send(ga.dma, &dk_dma_proto, DK_DMA_OP_UNMAP,
					     DK_FRAME_F_REPLY, 42, p, sizeof(p), NULL, 0,
					     DEADLINE()),
				 0);
		assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_UNMAP, 42, NULL, &reason), -EPROTO);
		n = dk_frame_encode(frame, sizeof(frame), &dk_dma_proto, 0x77, 0, 43, NULL, 0);
		assert_true(n > 0);
		raw_send(ga.dma, frame, (size_t)n, -1);
		assert_int_equal(raw_error(ga.dma, 0x77, 43), -EOPNOTSUPP);
	}
	hwsim_quiet(hw);

	/* A late answer (past the broker's deadline) is dropped; the next request is fine. */
	seq = dma_map_send(ga.dma, DK_DMA_READ, 0, 4096, buf);
	hwsim_take(hw, DK_HWSIM_OP_MAP, &q);
	close(q.fd);
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_MAP, seq, &iova, &reason), -ETIMEDOUT);
	hwsim_answer_iova(hw, &q, DK_HWSIM_IOVA_BASE + 4096);
	seq = dma_map_send(ga.dma, DK_DMA_READ, 0, 4096, buf);
	hwsim_take(hw, DK_HWSIM_OP_MAP, &q);
	close(q.fd);
	hwsim_answer_iova(hw, &q, DK_HWSIM_IOVA_BASE + 8192);
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_MAP, seq, &iova, &reason), 0);
	assert_int_equal(iova, DK_HWSIM_IOVA_BASE + 8192);

	/* A new board replaces the old one; the grants of the old one are void. */
	{
		int hw2 = hwsim_attach(&R, 9);
		struct dk_msg *m = malloc(sizeof(*m));

		assert_non_null(m);
		assert_int_equal(dk_msg_recv(hw, &dk_hwsim_proto, DEADLINE(), m, NULL), -EPIPE);
		assert_int_equal(dk_msg_recv(ga.dma, &dk_dma_reply_proto, DEADLINE(), m, NULL),
				 -EPIPE);
		free(m);
		close(hw);
		hw = hw2;
	}
	close_grant(&ga);
	close(ca);
	ca = attach_granted(&R, hw, "copy0", 10, &ga);
	/* The board goes away: -ENODEV, until the supervisor sends another. */
	close(hw);
	seq = dma_map_send(ga.dma, DK_DMA_READ, 0, 4096, buf);
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_MAP, seq, &iova, &reason), -ENODEV);
	seq = dma_unmap_send(ga.dma, DK_HWSIM_IOVA_BASE);
	assert_int_equal(dma_recv(ga.dma, DK_DMA_OP_UNMAP, seq, NULL, &reason), -ENODEV);
	close(buf);
	close_grant(&ga);
	close_grant(&gb);
	close(ca);
	close(cb);
	rig_stop(&R);
}

static void test_dma_cap(void **state)
{
	struct hwsim_req q;
	struct grant g;
	uint64_t seq, iova = 0;
	uint32_t reason;
	struct rig R;
	int hw, chan, buf;

	(void)state;
	rig_start(&R, NULL, NULL);
	hw = hwsim_attach(&R, 1);
	chan = attach_granted(&R, hw, "copy0", 2, &g);
	buf = memfd_create("buf", MFD_CLOEXEC);
	assert_true(buf >= 0);
	assert_int_equal(ftruncate(buf, 4096), 0);
	for (uint32_t i = 0; i < DK_HWSIM_WINDOWS_MAX; i++) {
		seq = dma_map_send(g.dma, DK_DMA_READ, 0, 4096, buf);
		hwsim_take(hw, DK_HWSIM_OP_MAP, &q);
		close(q.fd);
		hwsim_answer_iova(hw, &q, DK_HWSIM_IOVA_BASE + i * 4096ull);
		assert_int_equal(dma_recv(g.dma, DK_DMA_OP_MAP, seq, &iova, &reason), 0);
	}
	/* One more is refused here, before dk-hwsim is bothered. */
	seq = dma_map_send(g.dma, DK_DMA_READ, 0, 4096, buf);
	assert_int_equal(dma_recv(g.dma, DK_DMA_OP_MAP, seq, &iova, &reason), -ENOSPC);
	assert_int_equal(reason, DK_REASON_BUDGET);
	hwsim_quiet(hw);
	/* An UNMAP makes room. */
	seq = dma_unmap_send(g.dma, DK_HWSIM_IOVA_BASE + 7 * 4096ull);
	hwsim_take(hw, DK_HWSIM_OP_UNMAP, &q);
	hwsim_answer(hw, &q, 0, DK_REASON_NONE, NULL, 0);
	assert_int_equal(dma_recv(g.dma, DK_DMA_OP_UNMAP, seq, NULL, &reason), 0);
	seq = dma_map_send(g.dma, DK_DMA_READ, 0, 4096, buf);
	hwsim_take(hw, DK_HWSIM_OP_MAP, &q);
	close(q.fd);
	hwsim_answer_iova(hw, &q, DK_HWSIM_IOVA_BASE + 7 * 4096ull);
	assert_int_equal(dma_recv(g.dma, DK_DMA_OP_MAP, seq, &iova, &reason), 0);
	/* The next start of the service starts from a reset device: no windows counted. */
	close_grant(&g);
	close(chan);
	chan = attach_granted(&R, hw, "copy0", 3, &g);
	seq = dma_map_send(g.dma, DK_DMA_READ, 0, 4096, buf);
	hwsim_take(hw, DK_HWSIM_OP_MAP, &q);
	close(q.fd);
	hwsim_answer_iova(hw, &q, DK_HWSIM_IOVA_BASE);
	assert_int_equal(dma_recv(g.dma, DK_DMA_OP_MAP, seq, &iova, &reason), 0);
	close(buf);
	close_grant(&g);
	close(chan);
	close(hw);
	rig_stop(&R);
}

/* Let the uid NOBODY reach broker.sock; the broker decides by SO_PEERCRED. */
static void open_to_others(struct rig *R)
{
	assert_int_equal(chmod(R->dir, 0711), 0);
	assert_int_equal(chmod(R->broker_sock, 0666), 0);
}

/* Run @fn as uid NOBODY in a child; it must exit 0. */
static void as_nobody(struct rig *R, int (*fn)(struct rig *R))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(10);
		_exit(fn(R));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int nobody_injects(struct rig *R)
{
	if (dk_broker_inject(R->broker_sock, "copy0", DK_HWSIM_FAULT_HANG, DEADLINE()) != -EACCES)
		return 1;
	if (dk_broker_kill_client(R->broker_sock, "null0", 1, DEADLINE()) != -EACCES)
		return 2;
	return 0;
}

static void test_inject(void **state)
{
	struct hwsim_req q;
	struct dk_msg *m = malloc(sizeof(*m));
	uint32_t reason;
	struct rig R;
	char kv[32];
	int fd, hw;
	uint64_t seq;

	(void)state;
	assert_non_null(m);
	rig_start(&R, NULL, NULL);
	hw = hwsim_attach(&R, 1);
	fd = bconnect(&R);
	/* Forwarded to dk-hwsim as it is, answered with dk-hwsim's answer. */
	seq = inject_send(fd, "copy0", DK_HWSIM_FAULT_LOST_IRQ);
	hwsim_take(hw, DK_HWSIM_OP_INJECT, &q);
	assert_string_equal(q.device, "copy0");
	assert_int_equal(q.a, DK_HWSIM_FAULT_LOST_IRQ);
	assert_int_equal(q.b, 0);
	hwsim_answer(hw, &q, 0, DK_REASON_NONE, NULL, 0);
	assert_int_equal(reply_recv(fd, DK_BROKER_OP_INJECT, seq, m, &reason), 0);
	seq = inject_send(fd, "nosuch0", DK_HWSIM_FAULT_NONE);
	hwsim_take(hw, DK_HWSIM_OP_INJECT, &q);
	hwsim_answer(hw, &q, -ENODEV, DK_REASON_NONE, NULL, 0);
	assert_int_equal(reply_recv(fd, DK_BROKER_OP_INJECT, seq, m, &reason), -ENODEV);
	/* A fault nobody knows: -EINVAL, not forwarded. */
	seq = inject_send(fd, "copy0", DK_HWSIM_FAULT_COUNT);
	assert_int_equal(reply_recv(fd, DK_BROKER_OP_INJECT, seq, m, &reason), -EINVAL);
	hwsim_quiet(hw);
	/* Another uid: -EACCES, not forwarded; and neither is its KILL_CLIENT. */
	open_to_others(&R);
	as_nobody(&R, nobody_injects);
	hwsim_quiet(hw);
	/* Every outcome audited, with who asked. */
	snprintf(kv, sizeof(kv), "by_pid=%d", (int)getpid());
	assert_int_equal(audit_count(&R, "broker.inject", "fault injected", NULL, "device=copy0",
				     "fault=lost-irq", "by_uid=0", kv, "result=0", NULL),
			 geteuid() == 0 ? 1 : 0);
	assert_int_equal(audit_count(&R, "broker.inject", "inject failed", NULL,
				     "device=nosuch0", "fault=none", "result=ENODEV", NULL),
			 1);
	assert_int_equal(audit_count(&R, "broker.inject", "inject refused", NULL, "device=copy0",
				     "fault=6", "result=EINVAL", NULL),
			 1);
	assert_int_equal(audit_count(&R, "broker.inject", "inject refused", NULL, "device=copy0",
				     "fault=hang", "by_uid=65534", "result=EACCES", NULL),
			 1);
	assert_int_equal(audit_count(&R, "broker.kill-client", "kill refused", NULL,
				     "device=null0", "session=1", "by_uid=65534", "result=EACCES",
				     NULL),
			 1);
	/* No board: -ENODEV. */
	close(hw);
	seq = inject_send(fd, "copy0", DK_HWSIM_FAULT_HANG);
	assert_int_equal(reply_recv(fd, DK_BROKER_OP_INJECT, seq, m, &reason), -ENODEV);
	/* Malformed: a bad name, a reserved field set. */
	{
		uint8_t p[16];
		struct dk_wire_writer w;

		dk_wire_writer_init(&w, p, sizeof(p));
		dk_wire_put_string(&w, "copy0");
		dk_wire_put_u32(&w, 1);
		dk_wire_put_u32(&w, 1);
		seq = request(fd, DK_BROKER_OP_INJECT, p, dk_wire_writer_len(&w));
		assert_int_equal(reply_recv(fd, DK_BROKER_OP_INJECT, seq, m, &reason), -EPROTO);
		assert_int_equal(reason, DK_REASON_PROTOCOL);
	}
	seq = inject_send(fd, "copy 0", DK_HWSIM_FAULT_HANG);
	assert_int_equal(reply_recv(fd, DK_BROKER_OP_INJECT, seq, m, &reason), -EPROTO);
	free(m);
	close(fd);
	rig_stop(&R);
}

static void test_kill_client(void **state)
{
	struct dk_device_status st;
	struct dk_session_grant g;
	struct session_req s;
	struct dk_msg *m = malloc(sizeof(*m));
	uint64_t seq, kseq, sid;
	uint32_t reason, kreason;
	struct rig R;
	char kv[32], kp[32];
	int fd, chan, cfd;

	(void)state;
	assert_non_null(m);
	rig_start(&R, NULL, NULL);
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	status_of(&R, "null0", &st);
	assert_int_equal(st.sessions, 1);

	/* Forwarded to the device's service with reason client-killed; its answer relayed. */
	seq = kill_send(fd, "null0", s.id);
	service_take_kill(chan, &kseq, &sid, &kreason);
	assert_int_equal(sid, s.id);
	assert_int_equal(kreason, DK_REASON_CLIENT_KILLED);
	service_answer_kill(chan, kseq, 0);
	assert_int_equal(reply_recv(fd, DK_BROKER_OP_KILL_CLIENT, seq, m, &reason), 0);
	status_of(&R, "null0", &st);
	assert_int_equal(st.sessions, 0);
	/* An unknown session: the service's -ESRCH. */
	seq = kill_send(fd, "null0", 999);
	service_take_kill(chan, &kseq, &sid, &kreason);
	assert_int_equal(sid, 999);
	service_answer_kill(chan, kseq, -ESRCH);
	assert_int_equal(reply_recv(fd, DK_BROKER_OP_KILL_CLIENT, seq, m, &reason), -ESRCH);
	/* An unknown device: -ENODEV, nothing sent. */
	seq = kill_send(fd, "ghost0", 1);
	assert_int_equal(reply_recv(fd, DK_BROKER_OP_KILL_CLIENT, seq, m, &reason), -ENODEV);
	/* The service dies with a kill in flight. */
	seq = kill_send(fd, "null0", 5);
	service_take_kill(chan, &kseq, &sid, &kreason);
	close(chan);
	assert_int_equal(reply_recv(fd, DK_BROKER_OP_KILL_CLIENT, seq, m, &reason), -EAGAIN);
	assert_int_equal(reason, DK_REASON_DRIVER_CRASHED);

	snprintf(kv, sizeof(kv), "session=%llu", (unsigned long long)s.id);
	snprintf(kp, sizeof(kp), "by_pid=%d", (int)getpid());
	assert_int_equal(audit_count(&R, "broker.kill-client", "client killed", NULL,
				     "device=null0", kv, "by_uid=0", kp, "result=0", NULL),
			 geteuid() == 0 ? 1 : 0);
	assert_int_equal(audit_count(&R, "broker.kill-client", "kill failed", NULL,
				     "device=null0", "session=999", "result=ESRCH", NULL),
			 1);
	assert_int_equal(audit_count(&R, "broker.kill-client", "kill refused", NULL,
				     "device=ghost0", "result=ENODEV", NULL),
			 1);
	assert_int_equal(audit_count(&R, "broker.kill-client", "kill failed", NULL,
				     "device=null0", "session=5", "result=EAGAIN", NULL),
			 1);
	close(cfd);
	close(s.fd);
	free(m);
	close(fd);
	rig_stop(&R);
}

static void test_kill_timeout(void **state)
{
	struct dk_session_grant g;
	struct session_req s;
	struct dk_msg *m = malloc(sizeof(*m));
	uint64_t seq, kseq, sid;
	uint32_t reason, kreason;
	struct rig R;
	int fd, chan, cfd;

	(void)state;
	assert_non_null(m);
	rig_start(&R, "--session-timeout-ms", "100");
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);
	open_ok(fd, chan, "null0", &g, &cfd, &s);
	seq = kill_send(fd, "null0", s.id);
	service_take_kill(chan, &kseq, &sid, &kreason); /* and never answer in time */
	assert_int_equal(reply_recv(fd, DK_BROKER_OP_KILL_CLIENT, seq, m, &reason), -ETIMEDOUT);
	/* A late answer is ignored; the session is still counted (the service said nothing). */
	service_answer_kill(chan, kseq, 0);
	{
		struct dk_device_status st;

		status_of(&R, "null0", &st);
		assert_int_equal(st.sessions, 1);
	}
	free(m);
	close(cfd);
	close(s.fd);
	close(fd);
	close(chan);
	rig_stop(&R);
}

/* ---- DEVICE_STATS and TRACE ---- */

/*
 * A STATS reply as a service writes it (the layout of dk/runtime.h, written field by field
 * here, independently of the decoder): counters with distinct values, @n sessions out of
 * n + 1, and @extra bytes a newer service might append.
 */
static size_t canned_stats(uint8_t *p, size_t size, uint32_t n, size_t extra)
{
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, size);
	dk_wire_put_u32(&w, n + 1);        /* sessions */
	dk_wire_put_u32(&w, 4);            /* queues */
	dk_wire_put_u32(&w, 5);            /* buffers */
	dk_wire_put_u32(&w, 2);            /* hw_inflight */
	dk_wire_put_u64(&w, 1ull << 33);   /* bytes */
	dk_wire_put_u32(&w, 6);            /* ready */
	dk_wire_put_u32(&w, 7);            /* parked */
	for (uint64_t v = 100; v < 109; v++) /* completed .. fence_wakeups */
		dk_wire_put_u64(&w, v);
	dk_wire_put_u32(&w, n);
	dk_wire_put_u32(&w, n + 1); /* n_total: one did not fit */
	for (uint32_t i = 0; i < n; i++) {
		dk_wire_put_u64(&w, 10 + i);   /* session id */
		dk_wire_put_u32(&w, 2000 + i); /* pid */
		dk_wire_put_u32(&w, 1000);     /* uid */
		dk_wire_put_u32(&w, DK_QOS_NORMAL);
		dk_wire_put_u32(&w, 1);        /* queues */
		dk_wire_put_u32(&w, 8);        /* pending */
		dk_wire_put_u32(&w, 3);        /* inflight */
		dk_wire_put_u64(&w, 500 + i);  /* completed */
		dk_wire_put_u64(&w, 1);        /* failed */
		dk_wire_put_u64(&w, 4096);     /* bytes */
		dk_wire_put_u32(&w, 2);        /* buffers */
		dk_wire_put_u32(&w, 3);        /* fences */
		dk_wire_put_u32(&w, 4);        /* violations */
		dk_wire_put_u32(&w, 0);        /* reserved */
		dk_wire_put_u64(&w, 15000);    /* p50_ns */
		dk_wire_put_u64(&w, 90000 + i); /* p99_ns */
	}
	for (size_t i = 0; i < extra; i++)
		dk_wire_put_u8(&w, 0xee);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_wire_writer_len(&w),
			 DK_DEVCTL_STATS_FIXED + n * DK_DEVCTL_STATS_SESSION + extra);
	return dk_wire_writer_len(&w);
}

/* A TRACE reply: @n records from seq @first, the service's newest being @last. */
static size_t canned_trace(uint8_t *p, size_t size, uint64_t first, uint32_t n, uint64_t last)
{
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, size);
	dk_wire_put_u32(&w, n);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_u64(&w, last);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = 1000000 * (first + i);

		dk_wire_put_u64(&w, first + i); /* seq */
		dk_wire_put_u64(&w, 42);        /* session */
		dk_wire_put_u64(&w, i + 1);     /* ticket */
		for (uint64_t k = 0; k < 5; k++) /* submitted .. signalled */
			dk_wire_put_u64(&w, t + 100 * k);
		dk_wire_put_u32(&w, (uint32_t)(i == 1 ? -ETIMEDOUT : 0));
		dk_wire_put_u32(&w, i == 1 ? DK_REASON_DEVICE_FAULT : DK_REASON_NONE);
		dk_wire_put_u32(&w, 3); /* queue */
		dk_wire_put_u8(&w, DK_QOS_BURST);
		dk_wire_put_u8(&w, 0);  /* opcode */
		dk_wire_put_u8(&w, (uint8_t)(1 + i)); /* attempts */
		dk_wire_put_u8(&w, 0);
	}
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_wire_writer_len(&w),
			 DK_DEVCTL_TRACE_FIXED + n * DK_DEVCTL_TRACE_RECORD);
	return dk_wire_writer_len(&w);
}

/* The reply to (@opcode, @seq) must be exactly the @len bytes of @p, without descriptors. */
static void assert_relayed(int fd, uint16_t opcode, uint64_t seq, const void *p, size_t len)
{
	struct dk_msg *m = malloc(sizeof(*m));
	uint32_t reason;

	assert_non_null(m);
	assert_int_equal(reply_recv(fd, opcode, seq, m, &reason), 0);
	assert_int_equal(m->n_fds, 0);
	assert_int_equal(m->frame.length, len);
	assert_memory_equal(m->frame.payload, p, len);
	free(m);
}

/* The error (and reason) of the reply to (@opcode, @seq). */
static int relay_error(int fd, uint16_t opcode, uint64_t seq, uint32_t *reason)
{
	struct dk_msg *m = malloc(sizeof(*m));
	int err;

	assert_non_null(m);
	err = reply_recv(fd, opcode, seq, m, reason);
	free(m);
	return err;
}

/*
 * Call dk_broker_device_stats() (@after_seq UINT64_MAX) or dk_broker_trace() in a child, so
 * that the test can play the service meanwhile; the read end of a pipe that gets the result
 * (i32 error, u64 length, the payload) is returned in *@ret_rfd.
 */
static pid_t client_call(struct rig *R, uint64_t after_seq, int *ret_rfd)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static uint8_t buf[DK_FRAME_MAX_PAYLOAD];
		size_t len = 0;
		int32_t err;

		close(p[0]);
		if (after_seq == UINT64_MAX)
			err = dk_broker_device_stats(R->broker_sock, "null0", DEADLINE(), buf,
						     sizeof(buf), &len);
		else
			err = dk_broker_trace(R->broker_sock, "null0", after_seq, DEADLINE(), buf,
					      sizeof(buf), &len);
		if (write(p[1], &err, sizeof(err)) != sizeof(err) ||
		    write(p[1], &len, sizeof(len)) != sizeof(len) ||
		    (len && write(p[1], buf, len) != (ssize_t)len))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	*ret_rfd = p[0];
	return pid;
}

/* The result of client_call(): its error, and its payload into @buf (*@ret_len bytes). */
static int client_result(pid_t pid, int rfd, uint8_t *buf, size_t *ret_len)
{
	struct pollfd pfd = {.fd = rfd, .events = POLLIN};
	int32_t err;
	int status;

	assert_int_equal(poll(&pfd, 1, 30000), 1);
	assert_int_equal(read(rfd, &err, sizeof(err)), sizeof(err));
	assert_int_equal(read(rfd, ret_len, sizeof(*ret_len)), sizeof(*ret_len));
	assert_true(*ret_len <= DK_FRAME_MAX_PAYLOAD);
	if (*ret_len)
		assert_int_equal(read(rfd, buf, *ret_len), (ssize_t)*ret_len);
	close(rfd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	return err;
}

static int nobody_reads_stats(struct rig *R)
{
	uint8_t buf[DK_FRAME_MAX_PAYLOAD];
	size_t len;

	if (dk_broker_device_stats(R->broker_sock, "null0", DEADLINE(), buf, sizeof(buf),
				   &len) != -EACCES)
		return 1;
	if (dk_broker_trace(R->broker_sock, "null0", 0, DEADLINE(), buf, sizeof(buf), &len) !=
	    -EACCES)
		return 2;
	return 0;
}

static void test_device_stats(void **state)
{
	static uint8_t p[DK_FRAME_MAX_PAYLOAD], got[DK_FRAME_MAX_PAYLOAD];
	struct dk_devstats_session ss[4];
	struct dk_devtrace_record tr[8];
	struct dk_devstats st;
	uint64_t seq, seq2, sseq, tseq, after, last;
	uint32_t reason, n;
	struct rig R;
	size_t len, glen;
	int fd, fd2, chan, rfd;
	pid_t pid;

	(void)state;
	/* A long session timeout: nothing here may time out however slow the machine. */
	rig_start(&R, "--session-timeout-ms", "30000");
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);

	/* STATS: forwarded with an empty payload, the answer relayed byte for byte. */
	len = canned_stats(p, sizeof(p), 2, 0);
	seq = stats_send(fd, "null0");
	service_take_relay(chan, DK_DEVCTL_OP_STATS, &sseq, NULL);
	service_answer_relay(chan, DK_DEVCTL_OP_STATS, sseq, 0, 0, p, len);
	assert_relayed(fd, DK_BROKER_OP_DEVICE_STATS, seq, p, len);
	assert_int_equal(dk_devstats_decode(p, len, &st, ss, 4), 0);
	assert_int_equal(st.sessions, 3);
	assert_int_equal(st.hw_inflight, 2);
	assert_int_equal(st.bytes, 1ull << 33);
	assert_int_equal(st.parked, 7);
	assert_int_equal(st.completed, 100);
	assert_int_equal(st.kills, 103);
	assert_int_equal(st.lost_irqs, 107);
	assert_int_equal(st.fence_wakeups, 108);
	assert_int_equal(st.n, 2);
	assert_int_equal(st.n_total, 3);
	assert_int_equal(ss[1].session_id, 11);
	assert_int_equal(ss[1].pid, 2001);
	assert_int_equal(ss[1].qos, DK_QOS_NORMAL);
	assert_int_equal(ss[1].pending, 8);
	assert_int_equal(ss[1].completed, 501);
	assert_int_equal(ss[1].violations, 4);
	assert_int_equal(ss[1].p50_ns, 15000);
	assert_int_equal(ss[1].p99_ns, 90001);
	/* The decoder: fewer entries than fit, short payloads, n over n_total. */
	assert_int_equal(dk_devstats_decode(p, len, &st, ss, 1), 0);
	assert_int_equal(dk_devstats_decode(p, len - 1, &st, ss, 4), -EPROTO);
	assert_int_equal(dk_devstats_decode(p, DK_DEVCTL_STATS_FIXED - 1, &st, NULL, 0), -EPROTO);
	p[DK_DEVCTL_STATS_FIXED - 4] = 1; /* n_total 1 < n 2 */
	assert_int_equal(dk_devstats_decode(p, len, &st, ss, 4), -EPROTO);

	/* Bytes a newer service appends are relayed too (verbatim), and ignored by the decoder. */
	len = canned_stats(p, sizeof(p), 1, 8);
	seq = stats_send(fd, "null0");
	service_take_relay(chan, DK_DEVCTL_OP_STATS, &sseq, NULL);
	service_answer_relay(chan, DK_DEVCTL_OP_STATS, sseq, 0, 0, p, len);
	assert_relayed(fd, DK_BROKER_OP_DEVICE_STATS, seq, p, len);
	assert_int_equal(dk_devstats_decode(p, len, &st, ss, 4), 0);
	assert_int_equal(st.n, 1);

	/* TRACE: after_seq forwarded, the records relayed. */
	len = canned_trace(p, sizeof(p), 8, 3, 12);
	seq = trace_send(fd, "null0", 7);
	service_take_relay(chan, DK_DEVCTL_OP_TRACE, &tseq, &after);
	assert_int_equal(after, 7);
	service_answer_relay(chan, DK_DEVCTL_OP_TRACE, tseq, 0, 0, p, len);
	assert_relayed(fd, DK_BROKER_OP_TRACE, seq, p, len);
	assert_int_equal(dk_devtrace_decode(p, len, 7, &last, tr, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(last, 12);
	assert_int_equal(tr[0].seq, 8);
	assert_int_equal(tr[2].seq, 10);
	assert_int_equal(tr[1].session_id, 42);
	assert_int_equal(tr[1].ticket, 2);
	assert_int_equal(tr[1].t_submitted_ns, 9000000);
	assert_int_equal(tr[1].t_signalled_ns, 9000400);
	assert_int_equal(tr[1].status, -ETIMEDOUT);
	assert_int_equal(tr[1].reason, DK_REASON_DEVICE_FAULT);
	assert_int_equal(tr[1].queue_id, 3);
	assert_int_equal(tr[1].qos, DK_QOS_BURST);
	assert_int_equal(tr[1].attempts, 2);
	/* The decoder refuses seqs not above after_seq, or above last_seq. */
	assert_int_equal(dk_devtrace_decode(p, len, 8, &last, tr, 8, &n), -EPROTO);
	len = canned_trace(p, sizeof(p), 8, 3, 9);
	assert_int_equal(dk_devtrace_decode(p, len, 7, &last, tr, 8, &n), -EPROTO);
	len = canned_trace(p, sizeof(p), 1, 0, 0);
	assert_int_equal(dk_devtrace_decode(p, len, 0, &last, tr, 8, &n), 0);
	assert_int_equal(n, 0);

	/* The service's error, relayed with its reason. */
	seq = stats_send(fd, "null0");
	service_take_relay(chan, DK_DEVCTL_OP_STATS, &sseq, NULL);
	service_answer_relay(chan, DK_DEVCTL_OP_STATS, sseq, -EOPNOTSUPP, DK_REASON_PROTOCOL,
			     NULL, 0);
	assert_int_equal(relay_error(fd, DK_BROKER_OP_DEVICE_STATS, seq, &reason), -EOPNOTSUPP);
	assert_int_equal(reason, DK_REASON_PROTOCOL);

	/* Two in flight from two connections, answered in the other order: each to its asker. */
	fd2 = bconnect(&R);
	seq = stats_send(fd, "null0");
	seq2 = trace_send(fd2, "null0", 0);
	service_take_relay(chan, DK_DEVCTL_OP_STATS, &sseq, NULL);
	service_take_relay(chan, DK_DEVCTL_OP_TRACE, &tseq, &after);
	assert_int_equal(after, 0);
	len = canned_trace(p, sizeof(p), 1, 2, 2);
	/* A reply with the right seq but the wrong opcode is no answer to the STATS. */
	service_answer_relay(chan, DK_DEVCTL_OP_TRACE, sseq, -EIO, DK_REASON_NONE, NULL, 0);
	service_answer_relay(chan, DK_DEVCTL_OP_TRACE, tseq, 0, 0, p, len);
	assert_relayed(fd2, DK_BROKER_OP_TRACE, seq2, p, len);
	len = canned_stats(p, sizeof(p), 0, 0);
	service_answer_relay(chan, DK_DEVCTL_OP_STATS, sseq, 0, 0, p, len);
	assert_relayed(fd, DK_BROKER_OP_DEVICE_STATS, seq, p, len);

	/* The asker left before the answer: dropped, and the next asker is answered. */
	seq2 = stats_send(fd2, "null0");
	service_take_relay(chan, DK_DEVCTL_OP_STATS, &sseq, NULL);
	close(fd2);
	service_answer_relay(chan, DK_DEVCTL_OP_STATS, sseq, 0, 0, p, len);
	seq = stats_send(fd, "null0");
	service_take_relay(chan, DK_DEVCTL_OP_STATS, &sseq, NULL);
	service_answer_relay(chan, DK_DEVCTL_OP_STATS, sseq, 0, 0, p, len);
	assert_relayed(fd, DK_BROKER_OP_DEVICE_STATS, seq, p, len);

	/* At most DK_BROKER_RELAYS_MAX in flight per device: then -EBUSY, nothing forwarded. */
	{
		uint64_t seqs[DK_BROKER_RELAYS_MAX], sseqs[DK_BROKER_RELAYS_MAX];

		for (uint32_t i = 0; i < DK_BROKER_RELAYS_MAX; i++)
			seqs[i] = stats_send(fd, "null0");
		seq = trace_send(fd, "null0", 0);
		assert_int_equal(relay_error(fd, DK_BROKER_OP_TRACE, seq, &reason), -EBUSY);
		for (uint32_t i = 0; i < DK_BROKER_RELAYS_MAX; i++)
			service_take_relay(chan, DK_DEVCTL_OP_STATS, &sseqs[i], NULL);
		hwsim_quiet(chan);
		for (uint32_t i = 0; i < DK_BROKER_RELAYS_MAX; i++) {
			service_answer_relay(chan, DK_DEVCTL_OP_STATS, sseqs[i], 0, 0, p, len);
			assert_relayed(fd, DK_BROKER_OP_DEVICE_STATS, seqs[i], p, len);
		}
	}

	/* The client helpers: the payload as the service sent it. */
	len = canned_stats(p, sizeof(p), 3, 0);
	pid = client_call(&R, UINT64_MAX, &rfd);
	service_take_relay(chan, DK_DEVCTL_OP_STATS, &sseq, NULL);
	service_answer_relay(chan, DK_DEVCTL_OP_STATS, sseq, 0, 0, p, len);
	assert_int_equal(client_result(pid, rfd, got, &glen), 0);
	assert_int_equal(glen, len);
	assert_memory_equal(got, p, len);
	len = canned_trace(p, sizeof(p), 5, DK_DEVCTL_TRACE_MAX, 5 + DK_DEVCTL_TRACE_MAX);
	pid = client_call(&R, 4, &rfd);
	service_take_relay(chan, DK_DEVCTL_OP_TRACE, &tseq, &after);
	assert_int_equal(after, 4);
	service_answer_relay(chan, DK_DEVCTL_OP_TRACE, tseq, 0, 0, p, len);
	assert_int_equal(client_result(pid, rfd, got, &glen), 0);
	assert_int_equal(glen, len);
	assert_memory_equal(got, p, len);
	pid = client_call(&R, 0, &rfd);
	service_take_relay(chan, DK_DEVCTL_OP_TRACE, &tseq, &after);
	service_answer_relay(chan, DK_DEVCTL_OP_TRACE, tseq, -ENOMEM, DK_REASON_NONE, NULL, 0);
	assert_int_equal(client_result(pid, rfd, got, &glen), -ENOMEM);
	assert_int_equal(dk_broker_device_stats(R.broker_sock, "null0", 0, got, sizeof(got),
						&glen),
			 -EINVAL);
	assert_int_equal(dk_broker_device_stats(R.broker_sock, "null 0", DEADLINE(), got,
						sizeof(got), &glen),
			 -EINVAL);

	/* Refused by the broker, nothing forwarded: no such device (or not up), a malformed
	 * request. */
	seq = stats_send(fd, "ghost0");
	assert_int_equal(relay_error(fd, DK_BROKER_OP_DEVICE_STATS, seq, &reason), -ENODEV);
	assert_int_equal(reason, DK_REASON_NONE);
	seq = trace_send(fd, "ghost0", 0);
	assert_int_equal(relay_error(fd, DK_BROKER_OP_TRACE, seq, &reason), -ENODEV);
	seq = stats_send(fd, "null 0");
	assert_int_equal(relay_error(fd, DK_BROKER_OP_DEVICE_STATS, seq, &reason), -EPROTO);
	assert_int_equal(reason, DK_REASON_PROTOCOL);
	{
		uint8_t q[32];
		struct dk_wire_writer w;

		dk_wire_writer_init(&w, q, sizeof(q));
		dk_wire_put_string(&w, "null0");
		dk_wire_put_u64(&w, 1); /* STATS has no after_seq */
		seq = request(fd, DK_BROKER_OP_DEVICE_STATS, q, dk_wire_writer_len(&w));
		assert_int_equal(relay_error(fd, DK_BROKER_OP_DEVICE_STATS, seq, &reason),
				 -EPROTO);
		dk_wire_put_u32(&w, 0); /* TRACE with 4 bytes too many */
		seq = request(fd, DK_BROKER_OP_TRACE, q, dk_wire_writer_len(&w));
		assert_int_equal(relay_error(fd, DK_BROKER_OP_TRACE, seq, &reason), -EPROTO);
	}
	/* Another uid: -EACCES. */
	if (geteuid() == 0) {
		open_to_others(&R);
		as_nobody(&R, nobody_reads_stats);
	}
	hwsim_quiet(chan);

	/* The service dies with a request in flight: the error of its death. */
	seq = trace_send(fd, "null0", 0);
	service_take_relay(chan, DK_DEVCTL_OP_TRACE, &tseq, &after);
	close(chan);
	assert_int_equal(relay_error(fd, DK_BROKER_OP_TRACE, seq, &reason), -EAGAIN);
	assert_int_equal(reason, DK_REASON_DRIVER_CRASHED);
	/* Restarting now: not up. */
	seq = stats_send(fd, "null0");
	assert_int_equal(relay_error(fd, DK_BROKER_OP_DEVICE_STATS, seq, &reason), -ENODEV);
	close(fd);
	rig_stop(&R);
}

static void test_device_stats_timeout(void **state)
{
	static uint8_t p[DK_FRAME_MAX_PAYLOAD];
	uint64_t seq, sseq, sseq2, after;
	uint32_t reason;
	struct rig R;
	size_t len;
	int fd, chan;

	(void)state;
	rig_start(&R, "--session-timeout-ms", "100");
	chan = attach(&R, "dk-null", "null0", "null", 1);
	fd = bconnect(&R);
	/* No answer: -ETIMEDOUT. */
	seq = stats_send(fd, "null0");
	service_take_relay(chan, DK_DEVCTL_OP_STATS, &sseq, NULL);
	assert_int_equal(relay_error(fd, DK_BROKER_OP_DEVICE_STATS, seq, &reason), -ETIMEDOUT);
	assert_int_equal(reason, DK_REASON_NONE);
	/* A malformed answer (shorter than the fixed part) is refused, so it is no answer. */
	seq = trace_send(fd, "null0", 3);
	service_take_relay(chan, DK_DEVCTL_OP_TRACE, &sseq2, &after);
	assert_int_equal(after, 3);
	service_answer_relay(chan, DK_DEVCTL_OP_TRACE, sseq2, 0, 0, p, 8);
	assert_int_equal(relay_error(fd, DK_BROKER_OP_TRACE, seq, &reason), -ETIMEDOUT);
	/* The late answers are ignored: the next reply this connection gets is its own. */
	len = canned_stats(p, sizeof(p), 1, 0);
	service_answer_relay(chan, DK_DEVCTL_OP_STATS, sseq, 0, 0, p, len);
	service_answer_relay(chan, DK_DEVCTL_OP_TRACE, sseq2, 0, 0, p, DK_DEVCTL_TRACE_FIXED);
	seq = stats_send(fd, "ghost0");
	assert_int_equal(relay_error(fd, DK_BROKER_OP_DEVICE_STATS, seq, &reason), -ENODEV);
	/* The channel still works. */
	{
		struct dk_device_status st;

		status_of(&R, "null0", &st);
		assert_int_equal(st.state, DK_DEVICE_UP);
	}
	close(fd);
	close(chan);
	rig_stop(&R);
}

static void test_usage(void **state)
{
	const char *bin = getenv("DK_BROKER");
	const char *const cases[][4] = {
		{"--max-clients", "0", NULL, NULL},
		{"--session-timeout-ms", "x", NULL, NULL},
		{"--control-fd", "0", NULL, NULL}, /* stdin here is not a socket */
		{"--socket", "/tmp/x.sock", NULL, NULL}, /* no --policyd */
		{"stray", NULL, NULL, NULL},
	};

	(void)state;
	if (!bin)
		skip();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			char *argv[6] = {(char *)bin};
			int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

			if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 2) < 0)
				_exit(127);
			unsetenv(DK_ENV_RUNTIME_DIR);
			for (int k = 0; k < 4 && cases[i][k]; k++)
				argv[k + 1] = (char *)cases[i][k];
			execv(bin, argv);
			_exit(127);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deny_by_default),
		cmocka_unit_test(test_open_allowed),
		cmocka_unit_test(test_kill_threshold),
		cmocka_unit_test(test_no_enumeration),
		cmocka_unit_test(test_restarting_and_failed),
		cmocka_unit_test(test_stale_attach),
		cmocka_unit_test(test_service_denied),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_control_faults),
		cmocka_unit_test(test_status_other_uid),
		cmocka_unit_test(test_service_busy),
		cmocka_unit_test(test_session_timeout),
		cmocka_unit_test(test_pending_caps),
		cmocka_unit_test(test_policy_unreachable),
		cmocka_unit_test(test_logd_unreachable),
		cmocka_unit_test(test_no_supervisor),
		cmocka_unit_test(test_grant_before_session),
		cmocka_unit_test(test_no_hardware),
		cmocka_unit_test(test_dma_forwarding),
		cmocka_unit_test(test_dma_cap),
		cmocka_unit_test(test_inject),
		cmocka_unit_test(test_kill_client),
		cmocka_unit_test(test_kill_timeout),
		cmocka_unit_test(test_device_stats),
		cmocka_unit_test(test_device_stats_timeout),
		cmocka_unit_test(test_usage),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
