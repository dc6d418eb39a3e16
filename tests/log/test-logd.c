/* SPDX-License-Identifier: MIT */
/*
 * dk-logd as a process: each test fork+execs the built daemon (path in $DK_LOGD; an optional
 * $DK_LOGD_WRAPPER such as "valgrind --leak-check=full --error-exitcode=99" is put in front)
 * in a mkdtemp directory and waits for the line it writes to --ready-fd. Every wait has a
 * deadline; nothing depends on timing. Stopping checks SIGTERM: exit status 0, socket removed.
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

#include <dk/error.h>
#include <dk/frame.h>
#include <dk/log.h>
#include <dk/time.h>
#include <dk/wire.h>

#define DEADLINE() dk_deadline_in(30 * DK_NSEC_PER_SEC)

struct logd {
	pid_t pid;
	char dir[64];
	char sock[128];
	char jdir[128];
};

static void logd_start(struct logd *L, const char *const *extra)
{
	const char *bin = getenv("DK_LOGD"), *wrap = getenv("DK_LOGD_WRAPPER");
	struct pollfd pfd;
	char ready[16] = "";
	int p[2];

	if (!bin)
		skip();
	strcpy(L->dir, "/tmp/dk-logd-test-XXXXXX");
	assert_non_null(mkdtemp(L->dir));
	snprintf(L->sock, sizeof(L->sock), "%s/logd.sock", L->dir);
	snprintf(L->jdir, sizeof(L->jdir), "%s/journal", L->dir);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	L->pid = fork();
	assert_true(L->pid >= 0);
	if (L->pid == 0) {
		char *argv[64], *wcopy = wrap ? strdup(wrap) : NULL, *save = NULL, *tok;
		int n = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(p[1], 3) < 0)
			_exit(127);
		for (tok = wcopy ? strtok_r(wcopy, " ", &save) : NULL; tok && n < 16;
		     tok = strtok_r(NULL, " ", &save))
			argv[n++] = tok;
		argv[n++] = (char *)bin;
		argv[n++] = "--socket";
		argv[n++] = L->sock;
		argv[n++] = "--dir";
		argv[n++] = L->jdir;
		argv[n++] = "--ready-fd";
		argv[n++] = "3";
		for (int i = 0; extra && extra[i] && n < 62; i++)
			argv[n++] = (char *)extra[i];
		argv[n] = NULL;
		execvp(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 60000), 1);
	assert_true(read(p[0], ready, sizeof(ready) - 1) > 0);
	assert_memory_equal(ready, "READY\n", 6);
	close(p[0]);
}

/* SIGTERM: the daemon exits 0 and leaves no socket file. */
static void logd_stop(struct logd *L)
{
	dk_test_stop_daemon(L->pid, L->sock);
	dk_test_remove_tree(L->dir);
}

static struct dk_log_client *client(struct logd *L, const char *name)
{
	struct dk_log_client *c;

	assert_int_equal(dk_log_connect(L->sock, name, DEADLINE(), &c), 0);
	return c;
}

/* ---- raw frames ---- */

static int raw_connect(struct logd *L)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(a.sun_path, L->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Receive one frame; returns the error of an error reply, 0 for a plain reply, or -EPIPE. */
static int raw_reply(int fd, uint16_t *ret_opcode, uint64_t *ret_seq)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct dk_wire_reader r;
	uint16_t flags;
	ssize_t n;

	assert_int_equal(poll(&pfd, 1, 30000), 1);
	n = recv(fd, buf, sizeof(buf), 0);
	if (n <= 0)
		return -EPIPE;
	assert_true(n >= (ssize_t)DK_FRAME_HEADER_SIZE);
	dk_wire_reader_init(&r, buf, (size_t)n);
	assert_int_equal(dk_wire_get_u32(&r), DK_FRAME_MAGIC);
	(void)dk_wire_get_u32(&r);
	*ret_opcode = dk_wire_get_u16(&r);
	flags = dk_wire_get_u16(&r);
	(void)dk_wire_get_u32(&r);
	*ret_seq = dk_wire_get_u64(&r);
	assert_true(flags & DK_FRAME_F_REPLY);
	if (!(flags & DK_FRAME_F_ERROR))
		return 0;
	assert_int_equal(n, DK_FRAME_HEADER_SIZE + DK_FRAME_ERROR_PAYLOAD);
	return (int32_t)dk_wire_get_u32(&r);
}

static int raw_call(int fd, const void *bytes, size_t len)
{
	uint16_t op;
	uint64_t seq;

	assert_int_equal(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
	return raw_reply(fd, &op, &seq);
}

static int raw_frame(int fd, uint16_t opcode, uint16_t flags, const void *payload, size_t len)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	int n = dk_frame_encode(buf, sizeof(buf), &dk_logd_proto, opcode, flags, 9, payload, len);

	assert_true(n > 0);
	return raw_call(fd, buf, (size_t)n);
}

/* An APPEND payload with strings of the given lengths (not checked here). */
static size_t append_payload(uint8_t *buf, uint8_t sev, size_t scope, size_t msg, size_t fields)
{
	struct dk_wire_writer w;
	char s[DK_FRAME_MAX_PAYLOAD];

	dk_wire_writer_init(&w, buf, DK_FRAME_MAX_PAYLOAD);
	dk_wire_put_u8(&w, sev);
	dk_wire_put_u8(&w, 0);
	memset(s, 's', scope);
	s[scope] = '\0';
	dk_wire_put_string(&w, s);
	memset(s, 'm', msg);
	s[msg] = '\0';
	dk_wire_put_string(&w, s);
	memset(s, 'v', fields);
	if (fields >= 2) {
		s[0] = 'k';
		s[1] = '=';
	}
	s[fields] = '\0';
	dk_wire_put_string(&w, s);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	return dk_wire_writer_len(&w);
}

/* ---- tests ---- */

static void child_claims(struct logd *L)
{
	struct dk_log_client *c;

	/* Claims to be the supervisor; the journal must still say who it really is. */
	if (dk_log_connect(L->sock, "dk-supervisor", DEADLINE(), &c) < 0)
		_exit(2);
	if (dk_log_append(c, DK_LOG_AUDIT, "crash", "I am pid 1", "pid=1 uid=0", DEADLINE(),
			  NULL) < 0)
		_exit(3);
	dk_log_close(c);
	_exit(0);
}

static void test_identity_from_peer(void **state)
{
	struct dk_log_query q = {0};
	struct dk_log_record rec[4];
	struct dk_log_client *c;
	struct logd L;
	uint32_t pid, uid, gid;
	pid_t child;
	int status;

	(void)state;
	logd_start(&L, NULL);
	child = fork();
	if (child == 0)
		child_claims(&L);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);

	c = client(&L, "reader");
	assert_int_equal(dk_log_peer(c, &pid, &uid, &gid), 0);
	assert_int_equal(pid, (uint32_t)getpid());
	assert_int_equal(uid, (uint32_t)getuid());
	assert_int_equal(gid, (uint32_t)getgid());
	q.pid = (uint32_t)child;
	assert_int_equal(dk_log_query(c, &q, rec, 4, DEADLINE(), NULL), 1);
	assert_int_equal(rec[0].pid, (uint32_t)child);
	assert_int_equal(rec[0].uid, (uint32_t)getuid());
	assert_int_equal(rec[0].gid, (uint32_t)getgid());
	assert_string_equal(rec[0].name_claim, "dk-supervisor");
	assert_int_equal(rec[0].severity, DK_LOG_AUDIT);
	assert_true(rec[0].realtime_ns > 0 && rec[0].monotonic_ns > 0);
	dk_log_close(c);
	logd_stop(&L);
}

static void test_caps_over_the_wire(void **state)
{
	static const struct {
		size_t scope, msg, fields;
		int expect;
	} cases[] = {
		{DK_LOG_SCOPE_MAX, 1, 0, 0},
		{DK_LOG_SCOPE_MAX + 1, 1, 0, -EMSGSIZE},
		{1, DK_LOG_MESSAGE_MAX, 0, 0},
		{1, DK_LOG_MESSAGE_MAX + 1, 0, -EMSGSIZE},
		{1, 1, DK_LOG_FIELDS_MAX, 0},
		{1, 1, DK_LOG_FIELDS_MAX + 1, -EMSGSIZE},
		{DK_LOG_SCOPE_MAX, DK_LOG_MESSAGE_MAX, DK_LOG_FIELDS_MAX, 0},
		{0, 1, 0, -EPROTO},
	};
	uint8_t p[DK_FRAME_MAX_PAYLOAD];
	struct dk_log_query q = {.scope_prefix = "s"};
	struct dk_log_record rec[8];
	struct dk_log_stats st;
	struct dk_log_client *c;
	char big[DK_LOG_MESSAGE_MAX + 2];
	struct logd L;
	int fd;

	(void)state;
	logd_start(&L, NULL);
	fd = raw_connect(&L);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = append_payload(p, DK_LOG_INFO, cases[i].scope, cases[i].msg,
					  cases[i].fields);

		assert_int_equal(raw_frame(fd, DK_LOGD_OP_APPEND, 0, p, n), cases[i].expect);
	}
	c = client(&L, "caps");
	/* The client refuses the same records before sending anything. */
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(dk_log_append(c, DK_LOG_INFO, "s", big, NULL, DEADLINE(), NULL),
			 -EMSGSIZE);
	big[DK_LOG_MESSAGE_MAX] = '\0';
	assert_int_equal(dk_log_append(c, DK_LOG_INFO, "s", big, NULL, DEADLINE(), NULL), 0);
	/* Nothing was truncated: the stored records are the full-length ones. */
	assert_int_equal(dk_log_query(c, &q, rec, 8, DEADLINE(), NULL), 5);
	assert_int_equal(strlen(rec[0].scope), DK_LOG_SCOPE_MAX);
	assert_int_equal(strlen(rec[1].message), DK_LOG_MESSAGE_MAX);
	assert_int_equal(strlen(rec[2].fields), DK_LOG_FIELDS_MAX);
	assert_int_equal(dk_log_stats(c, DEADLINE(), &st), 0);
	assert_int_equal(st.refused, 4);
	assert_int_equal(st.accepted, 5);
	dk_log_close(c);
	close(fd);
	logd_stop(&L);
}

static void test_malformed_frames(void **state)
{
	uint8_t good[DK_FRAME_MAX_SIZE], bad[DK_FRAME_MAX_SIZE + 1024], p[DK_FRAME_MAX_PAYLOAD];
	struct dk_log_client *bystander;
	struct dk_log_stats st;
	struct logd L;
	size_t plen;
	int fd, n, refused = 0;

	(void)state;
	logd_start(&L, NULL);
	bystander = client(&L, "bystander");
	fd = raw_connect(&L);
	plen = append_payload(p, DK_LOG_INFO, 1, 1, 0);
	n = dk_frame_encode(good, sizeof(good), &dk_logd_proto, DK_LOGD_OP_APPEND, 0, 5, p, plen);
	assert_true(n > 0);
	assert_int_equal(raw_call(fd, good, (size_t)n), 0);

#define BAD(mutate, len, expect)                                                                   \
	do {                                                                                       \
		memcpy(bad, good, (size_t)n);                                                      \
		mutate;                                                                            \
		assert_int_equal(raw_call(fd, bad, (len)), (expect));                              \
		refused++;                                                                         \
		assert_int_equal(dk_log_append(bystander, DK_LOG_INFO, "ok", "still up", NULL,    \
					       DEADLINE(), NULL),                                  \
				 0);                                                               \
	} while (0)

	BAD((void)0, 10, -EPROTO);                          /* short */
	BAD(bad[0] ^= 0xff, (size_t)n, -EPROTO);            /* magic */
	BAD(bad[4] = 9, (size_t)n, -EPROTO);                /* major */
	BAD(bad[10] = 0x80, (size_t)n, -EPROTO);            /* unknown flag */
	BAD(bad[10] = DK_FRAME_F_ERROR, (size_t)n, -EPROTO); /* ERROR without REPLY */
	BAD(bad[10] = DK_FRAME_F_REPLY, (size_t)n, -EPROTO); /* a reply sent to the daemon */
	BAD(bad[10] = DK_FRAME_F_FDS, (size_t)n, -EPROTO);  /* descriptors */
	BAD(bad[13] = 0x20, (size_t)n, -EPROTO);            /* length > max payload */
	BAD((void)0, (size_t)n - 1, -EPROTO);               /* truncated */
	BAD(bad[n] = 0, (size_t)n + 1, -EPROTO);            /* trailing */
	BAD(memset(bad + n, 0, sizeof(bad) - (size_t)n), sizeof(bad), -EPROTO); /* oversized */
	BAD(bad[8] = 0x77, (size_t)n, -EOPNOTSUPP);         /* unknown opcode */
	BAD(bad[8] = DK_LOGD_OP_RECORD, (size_t)n, -EOPNOTSUPP); /* daemon-only opcode */
	BAD(bad[DK_FRAME_HEADER_SIZE] = 6, (size_t)n, -EPROTO);  /* severity out of range */
	BAD(bad[DK_FRAME_HEADER_SIZE + 1] = 1, (size_t)n, -EPROTO); /* reserved byte */
	BAD(bad[DK_FRAME_HEADER_SIZE + 2] = 0xff, (size_t)n, -EPROTO); /* string past the end */
	BAD(bad[DK_FRAME_HEADER_SIZE + 4] = 0, (size_t)n, -EPROTO); /* NUL inside a string */
	BAD(bad[DK_FRAME_HEADER_SIZE + 7] = '\n', (size_t)n, -EPROTO); /* control character */

	/* Opcode-specific payloads. */
	assert_int_equal(raw_frame(fd, DK_LOGD_OP_STATS, 0, p, 4), -EPROTO);
	assert_int_equal(raw_frame(fd, DK_LOGD_OP_FOLLOW, 0, "\x09\0\0\0\0\0\0\0", 8), -EPROTO);
	assert_int_equal(raw_frame(fd, DK_LOGD_OP_HELLO, 0, "\x01\0\"", 3), -EPROTO);
	assert_int_equal(raw_frame(fd, DK_LOGD_OP_HELLO, 0, "\x01\0a", 3), 0);
	assert_int_equal(raw_frame(fd, DK_LOGD_OP_HELLO, 0, "\x01\0b", 3), -EPROTO); /* twice */
	{
		uint8_t qp[DK_LOGD_QUERY_FIXED + 4] = {0};

		qp[20] = 9; /* min severity */
		assert_int_equal(raw_frame(fd, DK_LOGD_OP_QUERY, 0, qp, DK_LOGD_QUERY_FIXED + 2),
				 -EPROTO);
		qp[20] = 0;
		qp[24] = 2;
		qp[26] = ' ';
		qp[27] = '!';
		assert_int_equal(raw_frame(fd, DK_LOGD_OP_QUERY, 0, qp, DK_LOGD_QUERY_FIXED + 4),
				 -EPROTO);
	}
	refused += 6;
	/* The same connection still works, and so does everyone else. */
	assert_int_equal(raw_call(fd, good, (size_t)n), 0);
	assert_int_equal(dk_log_stats(bystander, DEADLINE(), &st), 0);
	assert_int_equal(st.refused, (uint64_t)refused);
	assert_int_equal(st.clients, 2);
	close(fd);
	dk_log_close(bystander);
	logd_stop(&L);
#undef BAD
}

static void test_drop_oldest(void **state)
{
	static const char *const args[] = {"--capacity", "16", NULL};
	struct dk_log_query q = {0};
	struct dk_log_record rec[16];
	struct dk_log_stats st;
	struct dk_log_client *c;
	uint64_t next;
	struct logd L;

	(void)state;
	logd_start(&L, args);
	c = client(&L, "d");
	for (int i = 0; i < 40; i++)
		assert_int_equal(dk_log_append(c, DK_LOG_INFO, "t", "m", NULL, DEADLINE(), NULL), 0);
	assert_int_equal(dk_log_stats(c, DEADLINE(), &st), 0);
	assert_int_equal(st.capacity, 16);
	assert_int_equal(st.records, 16);
	assert_int_equal(st.dropped, 24);
	assert_int_equal(dk_log_query(c, &q, rec, 16, DEADLINE(), &next), 16);
	assert_int_equal(rec[0].seq, 25);
	assert_int_equal(rec[15].seq, 40);
	assert_int_equal(next, 0);
	dk_log_close(c);
	logd_stop(&L);
}

static void flooder(struct logd *L)
{
	struct dk_log_client *c;
	int ok = 0, limited = 0;

	if (dk_log_connect(L->sock, "flooder", DEADLINE(), &c) < 0)
		_exit(2);
	for (int i = 0; i < 1000; i++) {
		int err = dk_log_append(c, DK_LOG_DEBUG, "flood", "x", NULL, DEADLINE(), NULL);

		ok += err == 0;
		limited += err == -EAGAIN;
	}
	for (int i = 0; i < 1000;) {
		struct dk_log_stats st;
		int err = dk_log_append_async(c, DK_LOG_DEBUG, "flood", "y", NULL);

		if (err == 0) {
			i++;
			continue;
		}
		/* Socket full: a synchronous call returns once the daemon has caught up. */
		if (err != -EAGAIN || dk_log_stats(c, DEADLINE(), &st) < 0)
			_exit(4);
	}
	{
		/* Answered only after every frame queued before it: all 2000 are counted. */
		struct dk_log_stats st;

		if (dk_log_stats(c, DEADLINE(), &st) < 0)
			_exit(5);
	}
	dk_log_close(c);
	_exit(ok == 32 && limited == 1000 - 32 ? 0 : 3);
}

static void test_flooder_does_not_evict(void **state)
{
	static const char *const args[] = {"--capacity", "64", "--rate", "0", "--burst", "32", NULL};
	struct dk_log_query q = {0};
	struct dk_log_record rec[64];
	struct dk_log_stats st;
	struct dk_log_client *c;
	uint64_t next;
	struct logd L;
	pid_t child;
	int status, n = 0, r;

	(void)state;
	logd_start(&L, args);
	c = client(&L, "victim");
	for (int i = 0; i < 10; i++)
		assert_int_equal(dk_log_append(c, DK_LOG_AUDIT, "audit", "keep me", NULL,
					       DEADLINE(), NULL),
				 0);
	child = fork();
	if (child == 0)
		flooder(&L);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_int_equal(WEXITSTATUS(status), 0);
	/* A sync call after the flooder's last frame: the daemon has handled all of them. */
	assert_int_equal(dk_log_stats(c, DEADLINE(), &st), 0);
	q.pid = (uint32_t)getpid();
	do {
		r = dk_log_query(c, &q, rec, 64, DEADLINE(), &next);
		assert_true(r >= 0);
		for (int i = 0; i < r; i++)
			assert_string_equal(rec[i].message, "keep me");
		n += r;
		q.seq_min = next;
	} while (next);
	assert_int_equal(n, 10);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.suppressed, 2000 - 32);
	for (uint32_t i = 0; i < st.n_senders; i++) {
		if (st.senders[i].pid == (uint32_t)child) {
			assert_int_equal(st.senders[i].accepted, 32);
			assert_int_equal(st.senders[i].suppressed, 2000 - 32);
		} else {
			assert_int_equal(st.senders[i].suppressed, 0);
		}
	}
	dk_log_close(c);
	logd_stop(&L);
}

static void test_follow_in_order(void **state)
{
	static const char *const args[] = {"--burst", "100000", NULL};
	struct dk_log_client *f, *a;
	struct dk_log_record rec;
	uint64_t first, seq;
	struct logd L;

	(void)state;
	logd_start(&L, args);
	f = client(&L, "follower");
	a = client(&L, "appender");
	assert_int_equal(dk_log_append(a, DK_LOG_INFO, "before", "not seen", NULL, DEADLINE(), NULL),
			 0);
	assert_int_equal(dk_log_follow(f, DK_LOG_NOTICE, 0, DEADLINE(), &first), 0);
	assert_int_equal(first, 2);
	assert_int_equal(dk_log_append(f, DK_LOG_INFO, "x", "y", NULL, DEADLINE(), NULL), -EBUSY);
	for (int i = 0; i < 200; i++) {
		/* Debug records are below the follower's filter. */
		assert_int_equal(dk_log_append(a, i % 2 ? DK_LOG_DEBUG : DK_LOG_NOTICE, "t", "m",
					       NULL, DEADLINE(), &seq),
				 0);
	}
	for (int i = 0; i < 100; i++) {
		assert_int_equal(dk_log_next(f, DEADLINE(), &rec), 0);
		assert_int_equal(rec.seq, first + 2 * (uint64_t)i);
		assert_int_equal(rec.severity, DK_LOG_NOTICE);
	}
	assert_int_equal(dk_log_next(f, dk_now_ns(), &rec), -ETIMEDOUT);
	dk_log_close(f);
	dk_log_close(a);
	logd_stop(&L);
}

static void test_stalled_follower_dropped(void **state)
{
	static const char *const args[] = {"--burst", "1000000", "--capacity", "1024", NULL};
	struct dk_log_client *f, *a;
	struct dk_log_record rec;
	struct dk_log_stats st;
	struct logd L;
	int err, i;

	(void)state;
	logd_start(&L, args);
	f = client(&L, "stalled");
	a = client(&L, "appender");
	assert_int_equal(dk_log_follow(f, DK_LOG_DEBUG, 0, DEADLINE(), NULL), 0);
	/* The follower never reads; every append is still answered. */
	for (i = 0; i < 50000; i++) {
		assert_int_equal(dk_log_append(a, DK_LOG_INFO, "t", "filling the follower's socket",
					       "n=1", DEADLINE(), NULL),
				 0);
		if (i % 1000 == 999) {
			assert_int_equal(dk_log_stats(a, DEADLINE(), &st), 0);
			if (st.followers_dropped)
				break;
		}
	}
	assert_int_equal(dk_log_stats(a, DEADLINE(), &st), 0);
	assert_int_equal(st.followers_dropped, 1);
	assert_int_equal(st.followers, 0);
	assert_int_equal(st.clients, 1);
	/* The follower drains what was queued, in order, then learns it was cut off. */
	for (uint64_t expect = 1;; expect++) {
		err = dk_log_next(f, DEADLINE(), &rec);
		if (err < 0)
			break;
		assert_int_equal(rec.seq, expect);
	}
	assert_int_equal(err, -EPIPE);
	dk_log_close(f);
	dk_log_close(a);
	logd_stop(&L);
}

static void test_query_paging(void **state)
{
	struct dk_log_query q = {.scope_prefix = "gpu."};
	struct dk_log_record rec[7];
	struct dk_log_client *c;
	uint64_t next, expect = 1, pages = 0;
	struct logd L;
	int n;

	(void)state;
	logd_start(&L, NULL);
	c = client(&L, "pager");
	for (int i = 0; i < 100; i++)
		assert_int_equal(dk_log_append(c, DK_LOG_INFO, i % 2 ? "npu.x" : "gpu.submit", "m",
					       NULL, DEADLINE(), NULL),
				 0);
	do {
		n = dk_log_query(c, &q, rec, 7, DEADLINE(), &next);
		assert_true(n > 0 && n <= 7);
		for (int i = 0; i < n; i++) {
			assert_int_equal(rec[i].seq, expect);
			assert_string_equal(rec[i].scope, "gpu.submit");
			expect += 2;
		}
		pages++;
		q.seq_min = next;
	} while (next);
	assert_int_equal(expect, 101);
	assert_int_equal(pages, 8); /* 50 records, 7 per page */
	/* A sequence range. */
	q.seq_min = 10;
	q.seq_max = 20;
	q.scope_prefix = NULL;
	assert_int_equal(dk_log_query(c, &q, rec, 7, DEADLINE(), &next), 7);
	assert_int_equal(rec[0].seq, 10);
	assert_int_equal(next, 17);
	q.seq_min = next;
	assert_int_equal(dk_log_query(c, &q, rec, 7, DEADLINE(), &next), 4);
	assert_int_equal(next, 0);
	dk_log_close(c);
	logd_stop(&L);
}

static void test_redaction_and_files(void **state)
{
	uint8_t p[DK_FRAME_MAX_PAYLOAD];
	struct dk_wire_writer w;
	struct dk_log_query q = {0};
	struct dk_log_record rec[2];
	struct dk_log_client *c;
	char path[256], buf[4096];
	struct logd L;
	ssize_t n;
	int fd;

	(void)state;
	logd_start(&L, NULL);
	/* A raw client skips the library's own redaction: the daemon must still redact. */
	fd = raw_connect(&L);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u8(&w, DK_LOG_AUDIT);
	dk_wire_put_u8(&w, 0);
	dk_wire_put_string(&w, "auth");
	dk_wire_put_string(&w, "login");
	dk_wire_put_string(&w, "{\"user\":\"ann\",\"password\":\"hunter2\"}");
	assert_int_equal(raw_frame(fd, DK_LOGD_OP_APPEND, 0, p, dk_wire_writer_len(&w)), 0);
	c = client(&L, "r");
	assert_int_equal(dk_log_append(c, DK_LOG_INFO, "auth", "key", "db_token=s3cr3t", DEADLINE(),
				       NULL),
			 0);
	assert_int_equal(dk_log_query(c, &q, rec, 2, DEADLINE(), NULL), 2);
	assert_string_equal(rec[0].fields, "{\"user\":\"ann\",\"password\":\"[redacted]\"}");
	assert_true(rec[0].flags & DK_LOG_RECORD_F_REDACTED);
	assert_string_equal(rec[1].fields, "db_token=[redacted]");
	snprintf(path, sizeof(path), "%s/journal.jsonl", L.jdir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	close(fd);
	assert_null(strstr(buf, "hunter2"));
	assert_null(strstr(buf, "s3cr3t"));
	assert_non_null(strstr(buf, "\"seq\":2,"));
	dk_log_close(c);
	logd_stop(&L);
}

static void test_client_cap(void **state)
{
	static const char *const args[] = {"--max-clients", "2", NULL};
	struct dk_log_client *a, *b, *c;
	struct dk_log_stats st;
	struct logd L;
	int err;

	(void)state;
	logd_start(&L, args);
	a = client(&L, "a");
	b = client(&L, "b");
	err = dk_log_connect(L.sock, "c", DEADLINE(), &c);
	assert_int_equal(err, -EPIPE);
	dk_log_close(b);
	assert_int_equal(dk_log_stats(a, DEADLINE(), &st), 0);
	assert_int_equal(st.clients_refused, 1);
	/* A slot freed is a slot usable again. */
	c = client(&L, "c");
	dk_log_close(c);
	dk_log_close(a);
	logd_stop(&L);
}

static void test_refuses_live_socket_and_bad_args(void **state)
{
	const char *bin = getenv("DK_LOGD");
	struct logd L;
	pid_t pid;
	int status;

	(void)state;
	if (!bin)
		skip();
	logd_start(&L, NULL);
	/* A second daemon on the same live socket refuses to start and leaves it alone. */
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

		dup2(devnull, 2);
		execl(bin, bin, "--socket", L.sock, "--dir", L.jdir, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(access(L.sock, F_OK), 0);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

		dup2(devnull, 2);
		execl(bin, bin, "--socket", L.sock, "--dir", L.jdir, "--capacity", "0",
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 2);
	logd_stop(&L);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity_from_peer),
		cmocka_unit_test(test_caps_over_the_wire),
		cmocka_unit_test(test_malformed_frames),
		cmocka_unit_test(test_drop_oldest),
		cmocka_unit_test(test_flooder_does_not_evict),
		cmocka_unit_test(test_follow_in_order),
		cmocka_unit_test(test_stalled_follower_dropped),
		cmocka_unit_test(test_query_paging),
		cmocka_unit_test(test_redaction_and_files),
		cmocka_unit_test(test_client_cap),
		cmocka_unit_test(test_refuses_live_socket_and_bad_args),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
