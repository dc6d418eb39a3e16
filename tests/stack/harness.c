/* SPDX-License-Identifier: MIT */
/*
 * harness.c - the integration tests' stack and what they look at (harness.h).
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

#include <dk/dk.h>
#include <dk/log.h>

#include "broker-client.h"
#include "harness.h"
#include "supervisor-client.h"

const char ts_policy_default[] =
	"; the null service drives null0; the test's uid may open class null\n"
	"[rule null-service]\n"
	"service = null\n"
	"device = null0\n"
	"rights = read, write, map, wait, signal, transfer\n"
	"qos = burst\n"
	"max_bytes = 1G\n"
	"max_buffers = 1024\n"
	"max_inflight = 4096\n"
	"max_fences = 1024\n"
	"\n"
	"[rule me-null]\n"
	"uid = @UID@\n"
	"class = null\n"
	"rights = read, write, map, wait, signal, transfer\n"
	"qos = burst\n"
	"max_bytes = 4M\n"
	"max_buffers = 8\n"
	"max_inflight = 64\n"
	"max_fences = 8\n";

const char ts_policy_service_only[] =
	"; deny by default: only the null service has a rule\n"
	"[rule null-service]\n"
	"service = null\n"
	"device = null0\n"
	"rights = read, write, map, wait, signal, transfer\n"
	"qos = burst\n"
	"max_bytes = 1G\n"
	"max_buffers = 1024\n"
	"max_inflight = 4096\n"
	"max_fences = 1024\n";

#define DEFAULT_STACK "restart_delay_ms = 10\nstart_timeout_ms = 20000\nstop_timeout_ms = 10000\n"

#define CHILDREN_MAX 16

static struct ts *current;            /* the running test's stack, for ts_cleanup() */
static pid_t children[CHILDREN_MAX]; /* forked clients not yet reaped */

/* ---- the stack ---- */

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	size_t len = strlen(text);
	int fd;

	assert_true(snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* @text with every "@UID@" replaced by the test's uid. */
static void expand_uid(const char *text, char *out, size_t size)
{
	const char *at = text, *hit;
	size_t n = 0;

	out[0] = '\0';
	while ((hit = strstr(at, "@UID@"))) {
		n += (size_t)snprintf(out + n, size - n, "%.*s%u", (int)(hit - at), at,
				      (unsigned)getuid());
		assert_true(n < size);
		at = hit + 5;
	}
	n += (size_t)snprintf(out + n, size - n, "%s", at);
	assert_true(n < size);
}

void ts_start(struct ts *T, const struct ts_config *cfg)
{
	static const struct ts_config none;
	char text[8192];
	int n;

	if (!cfg)
		cfg = &none;
	memset(T, 0, sizeof(*T));
	strcpy(T->st.runtime_dir, "/tmp/dk-stack-test-XXXXXX");
	assert_non_null(mkdtemp(T->st.runtime_dir));
	T->st.made_dir = true;
	current = T;
	strcpy(T->rt, T->st.runtime_dir);
	assert_int_equal(dk_runtime_path(T->rt, DK_RT_SUPERVISOR_SOCKET, T->sup_sock,
					 sizeof(T->sup_sock)),
			 0);
	assert_int_equal(dk_runtime_path(T->rt, DK_RT_BROKER_SOCKET, T->broker_sock,
					 sizeof(T->broker_sock)),
			 0);
	assert_int_equal(dk_runtime_path(T->rt, DK_RT_LOGD_SOCKET, T->logd_sock,
					 sizeof(T->logd_sock)),
			 0);
	assert_int_equal(dk_runtime_path(T->rt, DK_RT_POLICYD_SOCKET, T->policyd_sock,
					 sizeof(T->policyd_sock)),
			 0);

	n = snprintf(text, sizeof(text),
		     "; written by the stack integration tests\n"
		     "[stack]\npolicy = " TS_POLICY "\n%s"
		     "\n[service logd]\nkind = logd\nexec = dk-logd\n%s%s%s"
		     "\n[service policyd]\nkind = policyd\nexec = dk-policyd\n"
		     "\n[service broker]\nkind = broker\nexec = dk-broker\n"
		     "\n[service null]\nkind = device\nexec = dk-null\ndevice = null0\n"
		     "class = null\n%s%s%s",
		     cfg->stack ? cfg->stack : DEFAULT_STACK, cfg->logd_args ? "args = " : "",
		     cfg->logd_args ? cfg->logd_args : "", cfg->logd_args ? "\n" : "",
		     cfg->null_args ? "args = " : "", cfg->null_args ? cfg->null_args : "",
		     cfg->null_args ? "\n" : "");
	assert_true(n > 0 && n < (int)sizeof(text));
	write_text(T->rt, TS_MANIFEST, text);
	expand_uid(cfg->policy ? cfg->policy : ts_policy_default, text, sizeof(text));
	write_text(T->rt, TS_POLICY, text);
	assert_true(snprintf(T->st.manifest, sizeof(T->st.manifest), "%s/" TS_MANIFEST, T->rt) <
		    (int)sizeof(T->st.manifest));
	assert_int_equal(dk_stack_start(&T->st, DEADLINE()), 0);
	assert_true(T->st.pid > 0);
}

void ts_stop(struct ts *T)
{
	struct dk_service_status svc[DK_SUPD_SERVICES_MAX];
	pid_t pids[DK_SUPD_SERVICES_MAX + 1];
	uint32_t n = ts_status(T, svc), n_pids = 0;
	char left[1024] = "";
	struct dirent *e;
	int status = -1;
	DIR *d;

	for (uint32_t i = 0; i < n; i++)
		if (svc[i].pid)
			pids[n_pids++] = (pid_t)svc[i].pid;
	pids[n_pids++] = T->st.pid;

	assert_int_equal(dk_stack_stop(&T->st, DEADLINE(), &status), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Every process is gone and reaped: a zombie would still take kill(pid, 0). */
	for (uint32_t i = 0; i < n_pids; i++) {
		errno = 0;
		if (kill(pids[i], 0) != -1 || errno != ESRCH)
			fail_msg("pid %d is still there after the stop", (int)pids[i]);
	}
	/* Nothing but what the test wrote. */
	d = opendir(T->rt);
	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
			    !strcmp(e->d_name, TS_MANIFEST) || !strcmp(e->d_name, TS_POLICY))
				continue;
			strncat(left, " ", sizeof(left) - strlen(left) - 1);
			strncat(left, e->d_name, sizeof(left) - strlen(left) - 1);
		}
		closedir(d);
		if (left[0])
			fail_msg("left in the runtime directory %s:%s", T->rt, left);
		dk_test_remove_tree(T->rt);
	}
	current = NULL;
}

void ts_cleanup(void)
{
	for (int i = 0; i < CHILDREN_MAX; i++) {
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
	}
	if (!current)
		return;
	if (current->st.pid > 0) {
		/* Its services follow it (PR_SET_PDEATHSIG). */
		kill(current->st.pid, SIGKILL);
		waitpid(current->st.pid, NULL, 0);
		current->st.pid = 0;
	}
	dk_test_remove_tree(current->rt);
	current = NULL;
}

/* ---- STATUS ---- */

uint32_t ts_status(struct ts *T, struct dk_service_status *svc)
{
	uint32_t n = 0;
	uint64_t uptime;

	assert_int_equal(dk_supd_status(T->sup_sock, DEADLINE(), svc, DK_SUPD_SERVICES_MAX, &n,
					&uptime),
			 0);
	assert_true(n <= DK_SUPD_SERVICES_MAX);
	return n;
}

struct dk_service_status ts_service(struct ts *T, const char *name)
{
	struct dk_service_status svc[DK_SUPD_SERVICES_MAX];
	uint32_t n = ts_status(T, svc);

	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(svc[i].name, name))
			return svc[i];
	fail_msg("service %s not in the supervisor's STATUS", name);
	return svc[0];
}

uint32_t ts_devices(struct ts *T, struct dk_device_status *out)
{
	uint32_t n = 0;

	assert_int_equal(dk_broker_status(T->broker_sock, DEADLINE(), out, DK_BROKER_DEVICES_MAX,
					  &n),
			 0);
	assert_true(n <= DK_BROKER_DEVICES_MAX);
	return n;
}

bool ts_device(struct ts *T, const char *device, struct dk_device_status *ret)
{
	struct dk_device_status st[DK_BROKER_DEVICES_MAX];
	uint32_t n = ts_devices(T, st);

	for (uint32_t i = 0; i < n; i++) {
		if (!strcmp(st[i].device, device)) {
			*ret = st[i];
			return true;
		}
	}
	return false;
}

/* ---- the journal ---- */

struct dk_log_client *ts_log(struct ts *T, const char *name)
{
	struct dk_log_client *l = NULL;

	assert_int_equal(dk_log_connect(T->logd_sock, name, DEADLINE(), &l), 0);
	return l;
}

bool ts_has_field(const char *fields, const char *kv)
{
	size_t len = strlen(kv);

	for (const char *hit = strstr(fields, kv); hit; hit = strstr(hit + 1, kv))
		if ((hit == fields || hit[-1] == ' ') && (hit[len] == ' ' || hit[len] == '\0'))
			return true;
	return false;
}

static bool matches(const struct dk_log_record *r, const char *scope, const char *message,
		    const char *const *kvs)
{
	if (strcmp(r->scope, scope) || (message && strcmp(r->message, message)))
		return false;
	for (; kvs && *kvs; kvs++)
		if (!ts_has_field(r->fields, *kvs))
			return false;
	return true;
}

int ts_journal_count(struct ts *T, const char *scope, const char *message, uint8_t min_severity,
		     const char *const *kvs, struct dk_log_record *ret)
{
	struct dk_log_query q = {.seq_min = 1, .min_severity = min_severity, .scope_prefix = scope};
	struct dk_log_record *recs = calloc(DK_LOGD_QUERY_PAGE_MAX, sizeof(*recs));
	struct dk_log_client *l;
	int count = 0;

	assert_non_null(recs);
	l = ts_log(T, "stack-test");
	for (;;) {
		uint64_t next = 0;
		int n = dk_log_query(l, &q, recs, DK_LOGD_QUERY_PAGE_MAX, DEADLINE(), &next);

		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			if (!matches(&recs[i], scope, message, kvs))
				continue;
			count++;
			if (ret)
				*ret = recs[i];
		}
		if (!next)
			break;
		q.seq_min = next;
	}
	dk_log_close(l);
	free(recs);
	return count;
}

struct dk_log_client *ts_follow(struct ts *T, uint8_t min_severity)
{
	struct dk_log_client *f = ts_log(T, "stack-test-follow");

	assert_int_equal(dk_log_follow(f, min_severity, 0, DEADLINE(), NULL), 0);
	return f;
}

void ts_await_record(struct ts *T, struct dk_log_client *follower, const char *scope,
		     const char *const *kvs, struct dk_log_record *ret)
{
	struct dk_log_record *rec = malloc(sizeof(*rec));
	uint64_t deadline = DEADLINE();

	assert_non_null(rec);
	if (ts_journal_count(T, scope, NULL, 0, kvs, rec) == 0) {
		do {
			int err = dk_log_next(follower, deadline, rec);

			if (err < 0)
				fail_msg("no %s record came: %s", scope, dk_strerror(err));
		} while (!matches(rec, scope, NULL, kvs));
	}
	if (ret)
		*ret = *rec;
	free(rec);
	dk_log_close(follower);
}

void ts_settle(struct ts *T)
{
	ts_await_record(T, ts_follow(T, DK_LOG_AUDIT), "broker.attach",
			KV("device=null0", "service=null", "verdict=allow"), NULL);
	ts_await_record(T, ts_follow(T, DK_LOG_AUDIT), "policy",
			KV("subject=service:null", "device=null0", "decision=allow"), NULL);
}

/* ---- raw frames ---- */

int ts_connect(const char *path)
{
	int fd = -1;

	assert_int_equal(dk_socket_connect(path, DEADLINE(), &fd), 0);
	return fd;
}

void ts_raw_send(int fd, const void *bytes, size_t len, int pass_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)bytes, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

size_t ts_frame(uint8_t *buf, size_t size, const struct dk_frame_proto *proto, uint16_t opcode,
		uint64_t seq, const void *payload, size_t len)
{
	int n = dk_frame_encode(buf, size, proto, opcode, 0, seq, payload, len);

	assert_true(n >= (int)DK_FRAME_HEADER_SIZE);
	return (size_t)n;
}

int ts_raw_error(int fd, uint16_t opcode, uint64_t seq, uint32_t *ret_reason)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	struct dk_wire_reader r;
	uint16_t got_op, flags;
	uint64_t got_seq;
	int32_t err;
	ssize_t n;

	assert_int_equal(dk_socket_wait(fd, POLLIN, DEADLINE()), 0);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, DK_FRAME_HEADER_SIZE + DK_FRAME_ERROR_PAYLOAD);
	dk_wire_reader_init(&r, buf, (size_t)n);
	assert_int_equal(dk_wire_get_u32(&r), DK_FRAME_MAGIC);
	(void)dk_wire_get_u32(&r); /* major, minor */
	got_op = dk_wire_get_u16(&r);
	flags = dk_wire_get_u16(&r);
	assert_int_equal(dk_wire_get_u32(&r), DK_FRAME_ERROR_PAYLOAD);
	got_seq = dk_wire_get_u64(&r);
	err = (int32_t)dk_wire_get_u32(&r);
	if (ret_reason)
		*ret_reason = dk_wire_get_u32(&r);
	if (got_op != opcode || got_seq != seq || flags != (DK_FRAME_F_REPLY | DK_FRAME_F_ERROR))
		fail_msg("reply opcode 0x%x seq %llu flags 0x%x (%s), wanted an error reply to "
			 "0x%x seq %llu",
			 got_op, (unsigned long long)got_seq, flags, dk_strerror(err), opcode,
			 (unsigned long long)seq);
	assert_true(err < 0);
	return err;
}

/* ---- client processes ---- */

pid_t ts_fork(int (*fn)(void *arg, int wfd), void *arg, int *ret_rfd)
{
	int p[2], slot = -1;
	pid_t pid;

	for (int i = 0; i < CHILDREN_MAX && slot < 0; i++)
		if (children[i] == 0)
			slot = i;
	assert_true(slot >= 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		_exit(fn(arg, p[1]));
	}
	close(p[1]);
	children[slot] = pid;
	*ret_rfd = p[0];
	return pid;
}

int ts_read_full(int fd, void *buf, size_t len, uint64_t deadline_ns)
{
	size_t got = 0;

	while (got < len) {
		int err = dk_socket_wait(fd, POLLIN, deadline_ns);
		ssize_t n;

		if (err < 0)
			return err;
		n = read(fd, (char *)buf + got, len - got);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

void ts_reap(pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), status = 0;
	pid_t r;

	assert_true(pidfd >= 0);
	dk_socket_wait(pidfd, POLLIN, DEADLINE());
	close(pidfd);
	r = waitpid(pid, &status, WNOHANG);
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	for (int i = 0; i < CHILDREN_MAX; i++)
		if (children[i] == pid)
			children[i] = 0;
	if (r != pid)
		fail_msg("client %d did not exit by the deadline", (int)pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("client %d: %s %d", (int)pid, WIFEXITED(status) ? "exit" : "signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}
