/* SPDX-License-Identifier: MIT */
/*
 * dk-supervisor as a process (supd-test.h): the stack starts in order and is reported by
 * STATUS, stops cleanly on SIGTERM or STOP leaving no process and no file behind, forwards
 * SIGHUP, and its supervisor.sock refuses malformed frames, extra clients and other uids
 * without going down; a bad manifest is refused with its line.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <unistd.h>

#include <cmocka.h>

#include <dk/error.h>
#include <dk/frame.h>
#include <dk/msg.h>
#include <dk/wire.h>

#include "broker-client.h"
#include "supd-test.h"
#include "supervisor.h"

static void test_start_status_stop(void **state)
{
	static const struct dev devs[] = {
		{"null", "null0", "--register 2"},
		{"null.b", "null1", "--log 1"},
		{0},
	};
	static const char *const kinds[] = {"logd", "policyd", "broker", "device", "device"};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	uint64_t uptime;
	uint32_t n;

	(void)state;
	stack_start(&S, NULL, devs);
	assert_int_equal(dk_supd_status(S.sock, DEADLINE(), s, DK_SUPD_SERVICES_MAX, &n, &uptime),
			 0);
	assert_int_equal(n, 5);
	assert_true(uptime > 0);
	for (uint32_t i = 0; i < n; i++) {
		assert_string_equal(s[i].kind, kinds[i]);
		assert_int_equal(s[i].state, DK_SERVICE_RUNNING);
		assert_true(s[i].pid > 0);
		assert_int_equal(kill((pid_t)s[i].pid, 0), 0);
		/* Started in order, one generation per start. */
		assert_int_equal(s[i].generation, i + 1);
		assert_int_equal(s[i].restarts, 0);
		assert_true(s[i].last_ready_ns > 0);
		assert_int_equal(s[i].last_exit, -1);
		assert_int_equal(s[i].fences_reaped, 0);
	}
	assert_string_equal(s[0].name, "logd");
	assert_string_equal(s[4].name, "null.b");
	assert_int_equal(s[3].fences_registered, 2);
	/* The broker heard of both devices, and each channel reaches its own device. */
	wait_file(S.blog, "HELLO hello null1 5");
	wait_file(S.blog, "HELLO hello null0 4");
	wait_file(S.blog, "service=null.b device=null1 class=test");
	/* A second supervisor on the same runtime directory refuses to start. */
	{
		int wstatus;
		struct stack second = S;

		int fd = supervisor_spawn(&second, -1, true);

		assert_int_equal(waitpid(second.pid, &wstatus, 0), second.pid);
		assert_int_equal(WEXITSTATUS(wstatus), 1);
		close(fd);
	}
	assert_int_equal(status(&S, s), 5);
	stack_stop(&S, SIGTERM);
}

static void test_stop_request(void **state)
{
	static const struct dev devs[] = {{"null", "null0", ""}, {0}};

	(void)state;
	stack_start(&S, NULL, devs);
	stack_stop(&S, 0);
}

static void test_sighup_forwarded(void **state)
{
	static const struct dev devs[] = {{"null", "null0", ""}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	struct dk_log_record rec;
	char pid[32];
	uint32_t n;

	(void)state;
	stack_start(&S, NULL, devs);
	n = status(&S, s);
	snprintf(pid, sizeof(pid), "pid=%u", find(s, n, "policyd")->pid);
	assert_int_equal(kill(S.pid, SIGHUP), 0);
	wait_journal(&S, "supervisor.reload", "service=policyd ", pid, &rec);
	/* Nothing restarted: policyd reloaded in place. */
	n = status(&S, s);
	assert_int_equal(find(s, n, "policyd")->restarts, 0);
	stack_stop(&S, SIGTERM);
}

/* ---- supervisor.sock ---- */

static int raw_reply(int fd, uint16_t *ret_opcode)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	struct dk_wire_reader r;
	uint16_t flags;
	ssize_t n;

	assert_int_equal(dk_socket_wait(fd, POLLIN, DEADLINE()), 0);
	n = recv(fd, buf, sizeof(buf), 0);
	assert_true(n >= (ssize_t)DK_FRAME_HEADER_SIZE);
	dk_wire_reader_init(&r, buf, (size_t)n);
	assert_int_equal(dk_wire_get_u32(&r), DK_FRAME_MAGIC);
	(void)dk_wire_get_u32(&r);
	*ret_opcode = dk_wire_get_u16(&r);
	flags = dk_wire_get_u16(&r);
	(void)dk_wire_get_u32(&r);
	(void)dk_wire_get_u64(&r);
	assert_true(flags & DK_FRAME_F_REPLY);
	if (!(flags & DK_FRAME_F_ERROR))
		return 0;
	return (int32_t)dk_wire_get_u32(&r);
}

static int raw_call(int fd, const void *bytes, size_t len)
{
	uint16_t op;

	assert_int_equal(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
	return raw_reply(fd, &op);
}

static void test_public_malformed(void **state)
{
	static const struct dev devs[] = {{"null", "null0", ""}, {0}};
	uint8_t good[DK_FRAME_MAX_SIZE], bad[DK_FRAME_MAX_SIZE + 64];
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	int fd, n, pair[2];

	(void)state;
	stack_start(&S, NULL, devs);
	assert_int_equal(dk_socket_connect(S.sock, DEADLINE(), &fd), 0);
	n = dk_frame_encode(good, sizeof(good), &dk_supd_proto, DK_SUPD_OP_STATUS, 0, 7, NULL, 0);
	assert_true(n > 0);
	assert_int_equal(raw_call(fd, good, (size_t)n), 0);

#define BAD(mutate, len, expect)                                                                   \
	do {                                                                                       \
		memcpy(bad, good, (size_t)n);                                                      \
		mutate;                                                                            \
		assert_int_equal(raw_call(fd, bad, (len)), (expect));                              \
	} while (0)

	BAD((void)0, 10, -EPROTO);                                /* short */
	BAD(bad[0] ^= 0xff, (size_t)n, -EPROTO);                  /* magic */
	BAD(bad[4] = 9, (size_t)n, -EPROTO);                      /* major */
	BAD(bad[10] = 0x80, (size_t)n, -EPROTO);                  /* unknown flag */
	BAD(bad[10] = DK_FRAME_F_REPLY, (size_t)n, -EPROTO);      /* a reply */
	BAD(bad[12] = 4, (size_t)n + 4, -EPROTO);                 /* payload STATUS has none */
	BAD(bad[12] = 4, (size_t)n, -EPROTO);                     /* truncated */
	BAD(bad[n] = 0, (size_t)n + 1, -EPROTO);                  /* trailing */
	BAD(memset(bad + n, 0, 64), sizeof(bad), -EPROTO);        /* oversized */
	BAD(bad[8] = 0x77, (size_t)n, -EOPNOTSUPP);               /* unknown opcode */
	BAD(bad[8] = DK_SUPCTL_OP_ATTACH, (size_t)n, -EOPNOTSUPP); /* another protocol's */
#undef BAD
	/* Descriptors are never taken from a client. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
	assert_int_equal(dk_msg_send(fd, &dk_supd_proto, DK_SUPD_OP_STATUS, 0, 8, NULL, 0, pair, 1,
				     DEADLINE()),
			 0);
	{
		uint16_t op;

		assert_int_equal(raw_reply(fd, &op), -EPROTO);
		assert_int_equal(op, DK_SUPD_OP_STATUS);
	}
	close(pair[0]);
	close(pair[1]);
	/* The same connection still works, and so does everyone else. */
	assert_int_equal(raw_call(fd, good, (size_t)n), 0);
	assert_int_equal(status(&S, s), 4);
	close(fd);
	stack_stop(&S, SIGTERM);
}

static void test_client_cap(void **state)
{
	static const struct dev devs[] = {{"null", "null0", ""}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	int fds[DK_SUPD_CLIENTS_MAX], extra;
	uint8_t f[DK_FRAME_HEADER_SIZE];
	char b;

	(void)state;
	stack_start(&S, NULL, devs);
	for (uint32_t i = 0; i < DK_SUPD_CLIENTS_MAX; i++) {
		int n = dk_frame_encode(f, sizeof(f), &dk_supd_proto, DK_SUPD_OP_STATUS, 0, i, NULL,
					0);

		assert_int_equal(dk_socket_connect(S.sock, DEADLINE(), &fds[i]), 0);
		assert_int_equal(raw_call(fds[i], f, (size_t)n), 0); /* accepted and served */
	}
	/* One too many: closed at once. */
	assert_int_equal(dk_socket_connect(S.sock, DEADLINE(), &extra), 0);
	assert_int_equal(dk_socket_wait(extra, POLLIN, DEADLINE()), 0);
	assert_int_equal(recv(extra, &b, 1, 0), 0);
	close(extra);
	close(fds[0]);
	assert_int_equal(status(&S, s), 4);
	for (uint32_t i = 1; i < DK_SUPD_CLIENTS_MAX; i++)
		close(fds[i]);
	stack_stop(&S, SIGTERM);
}

static void test_other_uid_refused(void **state)
{
	static const struct dev devs[] = {{"null", "null0", ""}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	int wstatus;
	pid_t child;

	(void)state;
	if (geteuid() != 0)
		skip(); /* needs a second uid */
	stack_start(&S, NULL, devs);
	/* Let the other uid reach the socket, so that only the supervisor's own check stands. */
	assert_int_equal(chmod(S.dir, 0755), 0);
	assert_int_equal(chmod(S.rt, 0755), 0);
	assert_int_equal(chmod(S.sock, 0777), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct dk_msg *reply = malloc(sizeof(*reply));
		uint32_t reason = 0;
		int fd, err;

		if (!reply || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		if (dk_supd_status(S.sock, DEADLINE(), s, DK_SUPD_SERVICES_MAX, NULL, NULL) !=
		    -EACCES)
			_exit(3);
		if (dk_socket_connect(S.sock, DEADLINE(), &fd) < 0)
			_exit(4);
		err = dk_msg_call(fd, &dk_supd_proto, &dk_supd_reply_proto, DK_SUPD_OP_STOP, NULL,
				  0, NULL, 0, DEADLINE(), reply, &reason);
		_exit(err == -EACCES && reason == DK_REASON_POLICY ? 0 : 5);
	}
	assert_int_equal(waitpid(child, &wstatus, 0), child);
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);
	/* STOP from the other uid changed nothing. */
	assert_int_equal(status(&S, s), 4);
	assert_int_equal(find(s, 4, "null")->state, DK_SERVICE_RUNNING);
	stack_stop(&S, SIGTERM);
}

/* The broker's view of device @dev: wait for its attach record of @gen, then ask STATUS. */
static void broker_sees(struct stack *st, const char *dev, uint64_t gen, uint32_t pid)
{
	struct dk_device_status d[DK_BROKER_DEVICES_MAX];
	struct dk_log_record rec;
	char sock[160], a[64], b[64];
	uint32_t n;

	snprintf(a, sizeof(a), "device=%s ", dev);
	snprintf(b, sizeof(b), "generation=%" PRIu64 " ", gen);
	wait_journal(st, "broker.attach", a, b, &rec);
	assert_non_null(strstr(rec.fields, "verdict=allow"));
	snprintf(sock, sizeof(sock), "%s/" DK_RT_BROKER_SOCKET, st->rt);
	assert_int_equal(dk_broker_status(sock, DEADLINE(), d, DK_BROKER_DEVICES_MAX, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(d[0].device, dev);
	assert_int_equal(d[0].generation, gen);
	assert_int_equal(d[0].pid, pid);
	assert_int_equal(d[0].state, DK_DEVICE_UP);
}

static void test_real_broker(void **state)
{
	static const struct dev devs[] = {{"null", "null0", "--register 2"}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	const struct dk_service_status *d;
	uint64_t gen;
	uint32_t n;

	(void)state;
	stack_init(&S);
	S.broker = env_or_skip("DK_BROKER");
	S.policy_text = "[rule null-service]\nservice = null\ndevice = null0\n"
			"rights = read, write, map, wait, signal, transfer\nqos = normal\n"
			"max_bytes = 1M\nmax_buffers = 4\nmax_inflight = 4\nmax_fences = 4\n";
	stack_start(&S, "restart_delay_ms = 10\n", devs);
	n = status(&S, s);
	d = find(s, n, "null");
	gen = d->generation;
	broker_sees(&S, "null0", gen, d->pid);
	/* The device crashes: the broker gets the next start. */
	assert_int_equal(kill((pid_t)d->pid, SIGKILL), 0);
	wait_ready(&S, "null", gen + 1);
	n = status(&S, s);
	d = find(s, n, "null");
	broker_sees(&S, "null0", gen + 1, d->pid);
	/* The broker crashes: it comes back, then the device with a new channel. */
	assert_int_equal(kill((pid_t)find(s, n, "broker")->pid, SIGKILL), 0);
	wait_ready(&S, "broker", gen + 2);
	wait_ready(&S, "null", gen + 3);
	n = status(&S, s);
	d = find(s, n, "null");
	assert_int_equal(d->restarts, 2);
	broker_sees(&S, "null0", gen + 3, d->pid);
	stack_stop(&S, SIGTERM);
}

static void read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}

static void test_hwsim_channel(void **state)
{
	static const struct dev devs[] = {{"null", "null0", ""}, {0}};
	static const char *const kinds[] = {"logd", "policyd", "broker", "device", "hwsim"};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	const struct dk_service_status *h;
	char line[256], conf[128], text[8192];
	const char *dev_attach;
	uint32_t n;

	(void)state;
	stack_init(&S);
	S.hwsim = true;
	S.hwsim_config = "board.conf"; /* relative to the manifest's directory */
	snprintf(conf, sizeof(conf), "%s/board.conf", S.dir);
	write_file(conf, "; a board\n");
	stack_start(&S, NULL, devs);
	n = status(&S, s);
	assert_int_equal(n, 5);
	for (uint32_t i = 0; i < n; i++) {
		assert_string_equal(s[i].kind, kinds[i]); /* manifest order */
		assert_int_equal(s[i].state, DK_SERVICE_RUNNING);
	}
	/* Started after policyd and before the broker. */
	h = find(s, n, "board");
	assert_int_equal(h->generation, 3);
	assert_int_equal(find(s, n, "broker")->generation, 4);
	assert_int_equal(find(s, n, "null")->generation, 5);
	/* dk-hwsim got --runtime-dir and the config made absolute. */
	snprintf(line, sizeof(line), "HWSIM start gen=3 config=%s readable=1", conf);
	wait_file(S.hlog, line);
	/* dk-hwsim got its end of the channel, named with the broker's start; the broker got the
	 * other end with dk-hwsim's start and pid, and read what dk-hwsim wrote on its end. */
	wait_file(S.hlog, "CHANNEL broker_gen=4\n");
	snprintf(line, sizeof(line), "HWSIM_ATTACH gen=3 pid=%u\n", h->pid);
	wait_file(S.blog, line);
	wait_file(S.blog, "HWSIM_HELLO board 3\n");
	/* All that before the ATTACH of any device. */
	wait_file(S.blog, "ATTACH gen=5 pid=");
	read_text(S.blog, text, sizeof(text));
	dev_attach = strstr(text, "\nATTACH gen=5 pid=");
	assert_non_null(dev_attach);
	assert_true(strstr(text, "HWSIM_HELLO board 3\n") < dev_attach);
	assert_ptr_equal(strstr(text, "HWSIM_ATTACH gen=3 "), text);
	stack_stop(&S, SIGTERM);
}

static void test_bad_manifest(void **state)
{
	char out[1024] = "", want[160];
	int wstatus, fd;
	ssize_t n;

	(void)state;
	stack_init(&S);
	write_file(S.manifest, "[stack]\npolicy = p\nrestart_limit = lots\n");
	fd = supervisor_spawn(&S, -1, true);
	n = read(fd, out, sizeof(out) - 1); /* blocks until it writes or exits */
	close(fd);
	assert_true(n > 0);
	assert_int_equal(waitpid(S.pid, &wstatus, 0), S.pid);
	S.pid = 0;
	assert_int_equal(WEXITSTATUS(wstatus), 2);
	snprintf(want, sizeof(want), "%s:3: [stack]: restart_limit 'lots' is not a number",
		 S.manifest);
	assert_non_null(strstr(out, want));
	/* An executable that is nowhere to be found is a manifest error too, with its line. */
	write_file(S.manifest, "[stack]\npolicy = p\n[service l]\nkind = logd\nexec = dk-nope\n"
			       "[service p]\nkind = policyd\nexec = dk-policyd\n"
			       "[service b]\nkind = broker\nexec = dk-policyd\n");
	fd = supervisor_spawn(&S, -1, true);
	n = read(fd, out, sizeof(out) - 1);
	close(fd);
	assert_true(n > 0);
	out[n] = '\0';
	assert_int_equal(waitpid(S.pid, &wstatus, 0), S.pid);
	S.pid = 0;
	assert_int_equal(WEXITSTATUS(wstatus), 2);
	snprintf(want, sizeof(want), "%s:5: service 'l': exec 'dk-nope': not found", S.manifest);
	assert_non_null(strstr(out, want));
	/* Nothing was created. */
	assert_int_equal(access(S.rt, F_OK), -1);
	dk_test_remove_tree(S.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_start_status_stop, teardown),
		cmocka_unit_test_teardown(test_stop_request, teardown),
		cmocka_unit_test_teardown(test_sighup_forwarded, teardown),
		cmocka_unit_test_teardown(test_public_malformed, teardown),
		cmocka_unit_test_teardown(test_client_cap, teardown),
		cmocka_unit_test_teardown(test_other_uid_refused, teardown),
		cmocka_unit_test_teardown(test_real_broker, teardown),
		cmocka_unit_test_teardown(test_hwsim_channel, teardown),
		cmocka_unit_test_teardown(test_bad_manifest, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
