/* SPDX-License-Identifier: MIT */
/*
 * A stack for the supervisor tests: a manifest in a mkdtemp directory, the built dk-supervisor
 * ($DK_SUPERVISOR) over real dk-logd ($DK_LOGD) and dk-policyd ($DK_POLICYD) and the test child
 * ($DK_TEST_CHILD) as the broker, dk-hwsim and the device services, and ways to wait for what
 * it does: its ready descriptor, journal records (follow, then look back), lines of the test
 * broker's and test dk-hwsim's logs (inotify). Every wait has a deadline. Include <cmocka.h>
 * first.
 */
#ifndef DK_SUPD_TEST_H
#define DK_SUPD_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dk/log.h>
#include <dk/runtime.h>
#include <dk/socket.h>
#include <dk/time.h>

#include "daemon.h"
#include "supervisor-client.h"

#define DEADLINE() dk_deadline_in(30 * DK_NSEC_PER_SEC)

struct dev {
	const char *name, *device, *args; /* args: extra arguments of dk-test-child */
};

struct stack {
	const char *broker;      /* the broker's exec; NULL: dk-test-child logging to @blog */
	const char *policy_text; /* NULL: deny everything */
	bool hwsim;              /* a kind hwsim service "board": dk-test-child logging to @hlog */
	const char *hwsim_config; /* its config key; NULL: none */
	const char *hwsim_args;   /* more arguments of it; NULL: none */
	unsigned int nofile;     /* the supervisor's descriptor limit; 0: ours */
	pid_t pid;               /* the supervisor; 0 once reaped */
	char dir[64];
	char rt[96], sock[128], logd_sock[128];
	char manifest[96], blog[96], serve[96], hlog[96];
};

static struct stack S; /* the current test's stack, for the teardown after a failure */

/* ---- the stack ---- */

static inline const char *env_or_skip(const char *name)
{
	const char *v = getenv(name);

	if (!v)
		skip();
	return v;
}

static inline void dirname_of(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');

	snprintf(buf, size, "%.*s", (int)(slash ? slash - path : 1), slash ? path : ".");
}

static inline void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static inline void write_manifest(struct stack *st, const char *stack_extra, const struct dev *devs)
{
	const char *child = env_or_skip("DK_TEST_CHILD");
	char text[8192], path[128];
	size_t n;

	n = (size_t)snprintf(text, sizeof(text),
			     "[stack]\npolicy = policy.conf\ncrash_log_lines = 2\n%s"
			     "[service logd]\nkind = logd\nexec = dk-logd\n"
			     "[service policyd]\nkind = policyd\nexec = dk-policyd\n"
			     "[service broker]\nkind = broker\nexec = %s\n%s%s\n",
			     stack_extra ? stack_extra : "", st->broker ? st->broker : child,
			     st->broker ? "" : "args = --broker-log ", st->broker ? "" : st->blog);
	for (int i = 0; devs && devs[i].name; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "[service %s]\nkind = device\nexec = %s\ndevice = %s\n"
				      "class = test\n%s%s\n",
				      devs[i].name, child, devs[i].device,
				      devs[i].args[0] ? "args = " : "", devs[i].args);
	if (st->hwsim)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      "[service board]\nkind = hwsim\nexec = %s\n"
				      "args = --hwsim-log %s %s\n%s%s%s",
				      child, st->hlog, st->hwsim_args ? st->hwsim_args : "",
				      st->hwsim_config ? "config = " : "",
				      st->hwsim_config ? st->hwsim_config : "",
				      st->hwsim_config ? "\n" : "");
	assert_true(n < sizeof(text));
	write_file(st->manifest, text);
	snprintf(path, sizeof(path), "%s/policy.conf", st->dir);
	write_file(path, st->policy_text ? st->policy_text : "; deny everything\n");
}

static inline void stack_init(struct stack *st)
{
	memset(st, 0, sizeof(*st));
	strcpy(st->dir, "/tmp/dk-supd-XXXXXX");
	assert_non_null(mkdtemp(st->dir));
	snprintf(st->rt, sizeof(st->rt), "%s/rt", st->dir);
	snprintf(st->sock, sizeof(st->sock), "%s/" DK_RT_SUPERVISOR_SOCKET, st->rt);
	snprintf(st->logd_sock, sizeof(st->logd_sock), "%s/" DK_RT_LOGD_SOCKET, st->rt);
	snprintf(st->manifest, sizeof(st->manifest), "%s/stack.ini", st->dir);
	snprintf(st->blog, sizeof(st->blog), "%s/broker.log", st->dir);
	snprintf(st->serve, sizeof(st->serve), "%s/serve", st->dir);
	snprintf(st->hlog, sizeof(st->hlog), "%s/hwsim.log", st->dir);
	write_file(st->blog, "");
	write_file(st->hlog, "");
}

/* Run the supervisor; returns the read end of its stderr when @err_pipe, else -1. The stack
 * starts only once stack_init() set up its directory. */
static inline int supervisor_spawn(struct stack *st, int ready_fd, bool err_pipe)
{
	const char *bin = env_or_skip("DK_SUPERVISOR"), *logd = env_or_skip("DK_LOGD");
	const char *policyd = env_or_skip("DK_POLICYD");
	char bin_path[512], a[256], b[256];
	int ep[2] = {-1, -1};

	dirname_of(logd, a, sizeof(a));
	dirname_of(policyd, b, sizeof(b));
	snprintf(bin_path, sizeof(bin_path), "%s:%s", a, b);
	if (err_pipe)
		assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
	st->pid = fork();
	assert_true(st->pid >= 0);
	if (st->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (st->nofile) {
			struct rlimit rl = {st->nofile, st->nofile};

			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				_exit(127);
		}
		if (ready_fd >= 0 && dup2(ready_fd, 3) < 0)
			_exit(127);
		if (err_pipe && dup2(ep[1], 2) < 0)
			_exit(127);
		execl(bin, bin, "--manifest", st->manifest, "--runtime-dir", st->rt, "--bin-path",
		      bin_path, ready_fd >= 0 ? "--ready-fd" : NULL, "3", (char *)NULL);
		_exit(127);
	}
	if (err_pipe)
		close(ep[1]);
	return ep[0];
}

static inline void stack_start(struct stack *st, const char *stack_extra, const struct dev *devs)
{
	struct pollfd pfd;
	char ready[16] = "";
	int p[2];

	if (!st->dir[0])
		stack_init(st);
	write_manifest(st, stack_extra, devs);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	supervisor_spawn(st, p[1], false);
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 60000), 1);
	assert_true(read(p[0], ready, sizeof(ready) - 1) > 0);
	assert_memory_equal(ready, "READY\n", 6);
	close(p[0]);
}

static inline uint32_t status(struct stack *st, struct dk_service_status *out)
{
	uint32_t n = 0;

	assert_int_equal(dk_supd_status(st->sock, DEADLINE(), out, DK_SUPD_SERVICES_MAX, &n, NULL),
			 0);
	return n;
}

static inline const struct dk_service_status *find(const struct dk_service_status *s, uint32_t n,
					    const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(s[i].name, name))
			return &s[i];
	fail_msg("no service %s", name);
	return NULL;
}

static inline void assert_gone(pid_t pid)
{
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

/* SIGTERM (or nothing, when @signal is 0: it was told to stop), exit 0, nothing left behind. */
static inline void stack_stop(struct stack *st, int sig)
{
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	uint32_t n = status(st, s);
	int wstatus;

	if (sig)
		assert_int_equal(kill(st->pid, sig), 0);
	else
		assert_int_equal(dk_supd_stop(st->sock, DEADLINE()), 0);
	assert_int_equal(waitpid(st->pid, &wstatus, 0), st->pid);
	st->pid = 0;
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 0);
	for (uint32_t i = 0; i < n; i++)
		if (s[i].pid)
			assert_gone((pid_t)s[i].pid);
	/* The runtime directory (made by the supervisor) is gone, with everything in it. */
	assert_int_equal(access(st->rt, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	dk_test_remove_tree(st->dir);
}

static inline int teardown(void **state)
{
	(void)state;
	if (S.pid > 0) {
		kill(S.pid, SIGKILL);
		waitpid(S.pid, NULL, 0);
		S.pid = 0;
	}
	if (S.dir[0])
		dk_test_remove_tree(S.dir);
	memset(&S, 0, sizeof(S));
	return 0;
}

/* ---- waiting for things ---- */

/* Wait until the file @path contains @needle. */
static inline void wait_file(const char *path, const char *needle)
{
	uint64_t deadline = DEADLINE();
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	char buf[16384];

	assert_true(in >= 0);
	assert_true(inotify_add_watch(in, path, IN_MODIFY) >= 0);
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		char ev[4096];

		close(fd);
		assert_true(n >= 0);
		buf[n] = '\0';
		if (strstr(buf, needle))
			break;
		if (dk_socket_wait(in, POLLIN, deadline) < 0)
			fail_msg("%s: no '%s' in:\n%s", path, needle, buf);
		while (read(in, ev, sizeof(ev)) > 0)
			;
	}
	close(in);
}

static inline bool rec_matches(const struct dk_log_record *r, const char *scope, const char *a,
			const char *b)
{
	return !strcmp(r->scope, scope) && (!a || strstr(r->fields, a)) &&
	       (!b || strstr(r->fields, b));
}

/*
 * Wait for a journal record of @scope whose fields contain @a and @b (either may be NULL):
 * follow first, then look at what is there already, then wait for what comes.
 */
static inline void wait_journal(struct stack *st, const char *scope, const char *a, const char *b,
			 struct dk_log_record *ret)
{
	struct dk_log_query q = {.scope_prefix = scope};
	struct dk_log_record *page = calloc(64, sizeof(*page));
	struct dk_log_client *f, *c;
	uint64_t next;
	bool found = false;
	int n;

	assert_non_null(page);
	assert_int_equal(dk_log_connect(st->logd_sock, "test-follow", DEADLINE(), &f), 0);
	assert_int_equal(dk_log_follow(f, DK_LOG_DEBUG, 0, DEADLINE(), NULL), 0);
	assert_int_equal(dk_log_connect(st->logd_sock, "test-query", DEADLINE(), &c), 0);
	do {
		n = dk_log_query(c, &q, page, 64, DEADLINE(), &next);
		assert_true(n >= 0);
		for (int i = 0; i < n && !found; i++) {
			if (rec_matches(&page[i], scope, a, b)) {
				*ret = page[i];
				found = true;
			}
		}
		q.seq_min = next;
	} while (next && !found);
	while (!found) {
		assert_int_equal(dk_log_next(f, DEADLINE(), ret), 0);
		found = rec_matches(ret, scope, a, b);
	}
	dk_log_close(c);
	dk_log_close(f);
	free(page);
}

/* Every record of @scope, oldest first (at most @max). */
static inline int journal_all(struct stack *st, const char *scope, struct dk_log_record *out,
			      int max)
{
	struct dk_log_query q = {.scope_prefix = scope};
	struct dk_log_client *c;
	uint64_t next;
	int n = 0, r;

	assert_int_equal(dk_log_connect(st->logd_sock, "test-query", DEADLINE(), &c), 0);
	do {
		r = dk_log_query(c, &q, out + n, (size_t)(max - n), DEADLINE(), &next);
		assert_true(r >= 0);
		n += r;
		q.seq_min = next;
	} while (next && n < max);
	dk_log_close(c);
	return n;
}

static inline uint64_t max_generation(const struct dk_service_status *s, uint32_t n)
{
	uint64_t g = 0;

	for (uint32_t i = 0; i < n; i++)
		g = s[i].generation > g ? s[i].generation : g;
	return g;
}

/* Wait for the start of @name with generation @gen to be READY. */
static inline void wait_ready(struct stack *st, const char *name, uint64_t gen)
{
	struct dk_log_record rec;
	char a[96], b[48];

	snprintf(a, sizeof(a), "service=%s ", name);
	snprintf(b, sizeof(b), "generation=%" PRIu64 " ", gen);
	wait_journal(st, "supervisor.ready", a, b, &rec);
}

#endif /* DK_SUPD_TEST_H */
