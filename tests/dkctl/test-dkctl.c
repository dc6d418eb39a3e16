/* SPDX-License-Identifier: MIT */
/*
 * dkctl as a process: every test runs the built binary ($DKCTL) as a child, capturing its
 * stdout and exit status. "unit" runs the offline tests; "multiproc" starts a real dk-logd
 * ($DK_LOGD) or dk-policyd ($DK_POLICYD) in a mkdtemp directory first, waiting for the line it
 * writes to --ready-fd; for inject and kill-client, a whole broker ($DK_BROKER) too, with the
 * test as its supervisor, its dk-hwsim and its device service. Every wait has a deadline;
 * nothing depends on timing.
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

#include <dk/error.h>
#include <dk/hwsim.h>
#include <dk/log.h>
#include <dk/msg.h>
#include <dk/runtime.h>
#include <dk/time.h>
#include <dk/wire.h>

#define DEADLINE() dk_deadline_in(30 * DK_NSEC_PER_SEC)
#define OUT_MAX 65536

struct daemon {
	pid_t pid;
	char dir[64];
	char sock[128];
	char extra[128]; /* journal directory or policy file */
};

struct run {
	int status; /* exit status, or -1 when not exited normally */
	char out[OUT_MAX];
	char err[4096];
};

/* Start dkctl with @args (NULL-terminated); its stdout and stderr go to the returned fds. */
static pid_t spawn_dkctl(const char *const *args, int *ret_out, int *ret_err)
{
	const char *bin = getenv("DKCTL");
	int o[2], e[2];
	pid_t pid;

	assert_non_null(bin);
	assert_int_equal(pipe2(o, O_CLOEXEC), 0);
	assert_int_equal(pipe2(e, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[32];
		int n = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(o[1], 1) < 0 || dup2(e[1], 2) < 0)
			_exit(127);
		argv[n++] = (char *)bin;
		for (int i = 0; args[i] && n < 31; i++)
			argv[n++] = (char *)args[i];
		argv[n] = NULL;
		execv(bin, argv);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	*ret_out = o[0];
	*ret_err = e[0];
	return pid;
}

/* Read both pipes to EOF (deadline 30 s), then reap the child. */
static void finish_dkctl(pid_t pid, int out_fd, int err_fd, struct run *r)
{
	uint64_t deadline = DEADLINE();
	size_t n_out = 0, n_err = 0;
	int open_fds = 2, status;

	while (open_fds > 0) {
		struct pollfd p[2] = {{.fd = out_fd, .events = POLLIN},
				      {.fd = err_fd, .events = POLLIN}};
		uint64_t now = dk_now_ns();
		ssize_t k;

		assert_true(now < deadline);
		assert_true(poll(p, 2, (int)((deadline - now) / 1000000u) + 1) >= 0);
		if (p[0].fd >= 0 && p[0].revents) {
			assert_true(n_out < OUT_MAX - 1);
			k = read(out_fd, r->out + n_out, OUT_MAX - 1 - n_out);
			assert_true(k >= 0);
			if (k == 0) {
				close(out_fd);
				out_fd = -1;
				open_fds--;
			}
			n_out += (size_t)k;
		}
		if (p[1].fd >= 0 && p[1].revents) {
			k = read(err_fd, r->err + n_err, sizeof(r->err) - 1 - n_err);
			assert_true(k >= 0);
			if (k == 0 || n_err + (size_t)k >= sizeof(r->err) - 1) {
				close(err_fd);
				err_fd = -1;
				open_fds--;
			}
			n_err += (size_t)k;
		}
	}
	r->out[n_out] = '\0';
	r->err[n_err] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static struct run *run_dkctl(const char *const *args)
{
	struct run *r = calloc(1, sizeof(*r));
	int out_fd, err_fd;
	pid_t pid;

	assert_non_null(r);
	pid = spawn_dkctl(args, &out_fd, &err_fd);
	finish_dkctl(pid, out_fd, err_fd, r);
	return r;
}

#define RUN(...) run_dkctl((const char *const[]){__VA_ARGS__, NULL})

static void make_dir(struct daemon *D, const char *prefix)
{
	snprintf(D->dir, sizeof(D->dir), "/tmp/%s-XXXXXX", prefix);
	assert_non_null(mkdtemp(D->dir));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* fork+exec @bin with @args plus --ready-fd 3; wait for "READY\n". */
static void daemon_start(struct daemon *D, const char *bin, const char *const *args)
{
	struct pollfd pfd;
	char ready[16] = "";
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	D->pid = fork();
	assert_true(D->pid >= 0);
	if (D->pid == 0) {
		char *argv[32];
		int n = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(p[1], 3) < 0)
			_exit(127);
		argv[n++] = (char *)bin;
		for (int i = 0; args[i] && n < 28; i++)
			argv[n++] = (char *)args[i];
		argv[n++] = "--ready-fd";
		argv[n++] = "3";
		argv[n] = NULL;
		execv(bin, argv);
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

static void logd_start(struct daemon *D)
{
	const char *bin = getenv("DK_LOGD");

	if (!bin)
		skip();
	make_dir(D, "dkctl-logd");
	snprintf(D->sock, sizeof(D->sock), "%s/logd.sock", D->dir);
	snprintf(D->extra, sizeof(D->extra), "%s/journal", D->dir);
	daemon_start(D, bin, (const char *const[]){"--socket", D->sock, "--dir", D->extra, NULL});
}

static void daemon_stop(struct daemon *D)
{
	dk_test_stop_daemon(D->pid, NULL);
	dk_test_remove_tree(D->dir);
}

/* ---- a small JSON-lines check: one flat-ish object per line with the expected keys ---- */

/* Checks @line is one {...} object whose strings are well formed and that has every key. */
static void check_json_object(const char *line, size_t len, const char *const *keys)
{
	int depth = 0;
	size_t i;

	assert_true(len >= 2);
	assert_int_equal(line[0], '{');
	assert_int_equal(line[len - 1], '}');
	for (i = 0; i < len; i++) {
		if (line[i] == '"') {
			for (i++; i < len && line[i] != '"'; i++) {
				assert_true((unsigned char)line[i] >= 0x20);
				if (line[i] == '\\')
					i++;
			}
			assert_true(i < len);
		} else if (line[i] == '{' || line[i] == '[') {
			depth++;
		} else if (line[i] == '}' || line[i] == ']') {
			depth--;
			assert_true(depth >= 0);
			if (depth == 0)
				assert_int_equal(i, len - 1);
		}
	}
	assert_int_equal(depth, 0);
	for (; *keys; keys++) {
		char key[80];

		snprintf(key, sizeof(key), "\"%s\":", *keys);
		assert_non_null(memmem(line, len, key, strlen(key)));
	}
}

/* Checks every line of @out; returns the number of lines. */
static int check_json_lines(const char *out, const char *const *keys)
{
	int n = 0;

	while (*out) {
		const char *nl = strchr(out, '\n');

		assert_non_null(nl);
		check_json_object(out, (size_t)(nl - out), keys);
		n++;
		out = nl + 1;
	}
	return n;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static const char *const record_keys[] = {"seq",  "time",       "severity", "scope",
					  "pid",  "uid",        "name_claim", "message",
					  "fields", NULL};

/* ---- unit: offline ---- */

static const char valid_policy[] = "[rule compositor-gpu0]\n"
				   "service = compositor\n"
				   "device = gpu0\n"
				   "rights = read, write, map\n"
				   "qos = normal\n"
				   "max_bytes = 16M\n"
				   "max_buffers = 16\n"
				   "max_inflight = 4\n"
				   "max_fences = 16\n"
				   "\n"
				   "[rule no-gpu1-for-1001]\n"
				   "uid = 1001\n"
				   "device = gpu1\n"
				   "effect = deny\n";

static void test_policy_check_valid(void **state)
{
	struct daemon D;
	char path[160];
	struct run *r;

	(void)state;
	make_dir(&D, "dkctl-policy");
	snprintf(path, sizeof(path), "%s/ok.ini", D.dir);
	write_file(path, valid_policy);
	r = RUN("policy", "check", path);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, ": ok (2 rules)"));
	assert_non_null(strstr(r->out, path));
	free(r);
	r = RUN("policy", "check", "--json", path);
	assert_int_equal(r->status, 0);
	assert_int_equal(check_json_lines(r->out, (const char *const[]){"file", "valid", "rules",
									NULL}),
			 1);
	assert_non_null(strstr(r->out, "\"valid\":true"));
	assert_non_null(strstr(r->out, "\"rules\":2"));
	free(r);
	dk_test_remove_tree(D.dir);
}

static void test_policy_check_invalid(void **state)
{
	struct daemon D;
	char path[160], where[200];
	struct run *r;

	(void)state;
	make_dir(&D, "dkctl-policy");
	snprintf(path, sizeof(path), "%s/bad.ini", D.dir);
	write_file(path, "[rule gpu]\n"
			 "service = compositor\n"
			 "device = gpu0\n"
			 "colour = blue\n");
	r = RUN("policy", "check", path);
	assert_int_equal(r->status, 1);
	snprintf(where, sizeof(where), "%s:4:", path);
	assert_non_null(strstr(r->out, where));
	assert_non_null(strstr(r->err, "dkctl: policy check:"));
	free(r);
	r = RUN("policy", "check", path, "--json");
	assert_int_equal(r->status, 1);
	assert_int_equal(check_json_lines(r->out, (const char *const[]){"file", "valid", "message",
									NULL}),
			 1);
	assert_non_null(strstr(r->out, where));
	free(r);
	/* A missing file is a failed operation too. */
	snprintf(path, sizeof(path), "%s/missing.ini", D.dir);
	r = RUN("policy", "check", path);
	assert_int_equal(r->status, 1);
	free(r);
	dk_test_remove_tree(D.dir);
}

static void test_usage_errors(void **state)
{
	const char *const *const cases[] = {
		(const char *const[]){NULL},
		(const char *const[]){"frobnicate", NULL},
		(const char *const[]){"log", "--socket", "/x", "--runtime-dir", "/y", NULL},
		(const char *const[]){"log", "--socket", "/x", "--service", "a", "--pid", "3", NULL},
		(const char *const[]){"log", "--socket", NULL},
		(const char *const[]){"log", "--socket", "/x", "--bogus", NULL},
		(const char *const[]){"log", "--socket", "/x", "--min-severity", "loud", NULL},
		(const char *const[]){"log", "--socket", "/x", "--limit", "0", NULL},
		(const char *const[]){"log", "--socket", "/x", "--pid", "12x", NULL},
		(const char *const[]){"log", "--socket", "/x", "--timeout", "-1", NULL},
		(const char *const[]){"log", "--socket", "/x", "-f", "--stats", NULL},
		(const char *const[]){"log", "--socket", "/x", "extra", NULL},
		(const char *const[]){"policy", NULL},
		(const char *const[]){"policy", "check", NULL},
		(const char *const[]){"policy", "check", "a", "b", NULL},
		(const char *const[]){"policy", "stats", NULL},
		(const char *const[]){"policy", "frob", NULL},
		(const char *const[]){"help", "frob", NULL},
		(const char *const[]){"inject", NULL},
		(const char *const[]){"inject", "copy0", NULL},
		(const char *const[]){"inject", "copy0", "explode", NULL},
		(const char *const[]){"inject", "copy 0", "hang", NULL},
		(const char *const[]){"inject", "copy0", "hang", "extra", NULL},
		(const char *const[]){"inject", "copy0", "hang", "--timeout", "0", NULL},
		(const char *const[]){"inject", "copy0", "hang", "--runtime-dir", NULL},
		(const char *const[]){"kill-client", "copy0", NULL},
		(const char *const[]){"kill-client", "copy0", "0", NULL},
		(const char *const[]){"kill-client", "copy0", "12x", NULL},
		(const char *const[]){"kill-client", "copy0", "-3", NULL},
		(const char *const[]){"kill-client", "copy0", "1", "--bogus", NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run *r = run_dkctl(cases[i]);

		if (r->status != 2)
			print_error("case %zu: exit %d\n", i, r->status);
		assert_int_equal(r->status, 2);
		assert_string_equal(r->out, "");
		assert_true(strlen(r->err) > 0);
		free(r);
	}
}

static void test_help(void **state)
{
	struct run *r;

	(void)state;
	r = RUN("--help");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "Usage: dkctl"));
	assert_non_null(strstr(r->out, "policy"));
	free(r);
	r = RUN("help", "log");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "dkctl log"));
	free(r);
	r = RUN("help", "policy");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "dkctl policy check"));
	free(r);
	r = RUN("help", "inject");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "dkctl inject DEVICE FAULT"));
	assert_non_null(strstr(r->out, "dma-oob"));
	free(r);
	r = RUN("kill-client", "--help");
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "dkctl kill-client DEVICE SESSION_ID"));
	free(r);
}

/* No daemon at the path: exit 1 with the reason, within the --timeout deadline. */
static void test_unreachable(void **state)
{
	struct daemon D;
	char sock[160];
	struct run *r;

	(void)state;
	make_dir(&D, "dkctl-none");
	snprintf(sock, sizeof(sock), "%s/none.sock", D.dir);
	r = RUN("log", "--socket", sock, "--timeout", "1");
	assert_int_equal(r->status, 1);
	assert_string_equal(r->out, "");
	assert_non_null(strstr(r->err, "dkctl: "));
	free(r);
	r = RUN("log", "--stats", "--socket", sock, "--timeout", "0.5");
	assert_int_equal(r->status, 1);
	free(r);
	r = RUN("policy", "stats", "--socket", sock, "--timeout", "1");
	assert_int_equal(r->status, 1);
	free(r);
	/* No broker in that runtime directory: its socket is named. */
	r = RUN("inject", "copy0", "hang", "--runtime-dir", D.dir, "--timeout", "1");
	assert_int_equal(r->status, 1);
	assert_string_equal(r->out, "");
	assert_non_null(strstr(r->err, "/broker.sock: "));
	free(r);
	r = RUN("kill-client", "copy0", "7", "--runtime-dir", D.dir, "--json");
	assert_int_equal(r->status, 1);
	assert_string_equal(r->out, "");
	free(r);
	dk_test_remove_tree(D.dir);
}

/* ---- multiproc: against real daemons ---- */

static void append_some(struct daemon *L)
{
	struct dk_log_client *c;

	assert_int_equal(dk_log_connect(L->sock, "test-app", DEADLINE(), &c), 0);
	assert_int_equal(dk_log_append(c, DK_LOG_INFO, "app.start", "hello \"world\"",
				       "mode=fast", DEADLINE(), NULL),
			 0);
	assert_int_equal(dk_log_append(c, DK_LOG_WARNING, "app.disk", "disk nearly full", NULL,
				       DEADLINE(), NULL),
			 0);
	assert_int_equal(dk_log_append(c, DK_LOG_ERROR, "net.link", "link down",
				       "{\"iface\":\"eth0\"}", DEADLINE(), NULL),
			 0);
	dk_log_close(c);
}

static void test_log_query(void **state)
{
	struct daemon L;
	char pid[32];
	struct run *r;

	(void)state;
	logd_start(&L);
	append_some(&L);

	r = RUN("log", "--socket", L.sock);
	assert_int_equal(r->status, 0);
	assert_int_equal(count_lines(r->out), 3);
	assert_non_null(strstr(r->out, "app.start"));
	assert_non_null(strstr(r->out, "claim=test-app"));
	assert_non_null(strstr(r->out, "hello \"world\""));
	assert_non_null(strstr(r->out, "link down"));
	snprintf(pid, sizeof(pid), "pid=%d ", (int)getpid());
	assert_non_null(strstr(r->out, pid));
	free(r);

	r = RUN("log", "--socket", L.sock, "--json");
	assert_int_equal(r->status, 0);
	assert_int_equal(check_json_lines(r->out, record_keys), 3);
	assert_non_null(strstr(r->out, "\"name_claim\":\"test-app\""));
	assert_non_null(strstr(r->out, "\"message\":\"hello \\\"world\\\"\""));
	snprintf(pid, sizeof(pid), "\"pid\":%d,", (int)getpid());
	assert_non_null(strstr(r->out, pid));
	free(r);

	r = RUN("log", "--socket", L.sock, "--min-severity", "warning", "--json");
	assert_int_equal(r->status, 0);
	assert_int_equal(check_json_lines(r->out, record_keys), 2);
	assert_null(strstr(r->out, "app.start"));
	free(r);

	r = RUN("log", "--socket", L.sock, "--scope", "app.");
	assert_int_equal(r->status, 0);
	assert_int_equal(count_lines(r->out), 2);
	assert_null(strstr(r->out, "net.link"));
	free(r);

	r = RUN("log", "--socket", L.sock, "--limit", "1", "--since", "2");
	assert_int_equal(r->status, 0);
	assert_int_equal(count_lines(r->out), 1);
	assert_non_null(strstr(r->out, "app.disk"));
	free(r);

	daemon_stop(&L);
}

/* More records than one page: dkctl pages through them. */
static void test_log_paging(void **state)
{
	struct dk_log_client *c;
	struct daemon L;
	struct run *r;
	int i;

	(void)state;
	logd_start(&L);
	assert_int_equal(dk_log_connect(L.sock, "pager", DEADLINE(), &c), 0);
	for (i = 0; i < 150; i++)
		assert_int_equal(dk_log_append(c, DK_LOG_INFO, "page.test", "record", NULL,
					       DEADLINE(), NULL),
				 0);
	dk_log_close(c);
	r = RUN("log", "--socket", L.sock, "--json");
	assert_int_equal(r->status, 0);
	assert_int_equal(check_json_lines(r->out, record_keys), 150);
	free(r);
	r = RUN("log", "--socket", L.sock, "--limit", "70");
	assert_int_equal(r->status, 0);
	assert_int_equal(count_lines(r->out), 70);
	free(r);
	daemon_stop(&L);
}

static void test_log_stats(void **state)
{
	static const char *const keys[] = {"records", "accepted", "dropped", "next_seq",
					   "senders", NULL};
	struct daemon L;
	struct run *r;

	(void)state;
	logd_start(&L);
	append_some(&L);
	r = RUN("log", "--stats", "--socket", L.sock);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "accepted:"));
	free(r);
	r = RUN("log", "--stats", "--socket", L.sock, "--json");
	assert_int_equal(r->status, 0);
	assert_int_equal(check_json_lines(r->out, keys), 1);
	assert_non_null(strstr(r->out, "\"accepted\":3,"));
	free(r);
	daemon_stop(&L);
}

/* -f: wait until the daemon counts the follower, append, read the line, SIGTERM: exit 0. */
static void test_log_follow(void **state)
{
	struct dk_log_client *c;
	struct dk_log_stats *st = calloc(1, sizeof(*st));
	struct daemon L;
	struct run *r = calloc(1, sizeof(*r));
	int out_fd, err_fd;
	uint64_t deadline;
	pid_t pid;

	(void)state;
	assert_non_null(st);
	assert_non_null(r);
	logd_start(&L);
	pid = spawn_dkctl((const char *const[]){"log", "-f", "--json", "--socket", L.sock,
						"--scope", "follow.", NULL},
			  &out_fd, &err_fd);
	assert_int_equal(dk_log_connect(L.sock, "writer", DEADLINE(), &c), 0);
	deadline = DEADLINE();
	do {
		assert_int_equal(dk_log_stats(c, DEADLINE(), st), 0);
		assert_true(dk_now_ns() < deadline);
	} while (st->followers < 1);
	assert_int_equal(dk_log_append(c, DK_LOG_INFO, "other.scope", "skipped", NULL, DEADLINE(),
				       NULL),
			 0);
	assert_int_equal(dk_log_append(c, DK_LOG_NOTICE, "follow.me", "followed", NULL,
				       DEADLINE(), NULL),
			 0);
	{
		struct pollfd p = {.fd = out_fd, .events = POLLIN};
		size_t n = 0;

		while (!memchr(r->out, '\n', n)) {
			ssize_t k;

			assert_int_equal(poll(&p, 1, 30000), 1);
			k = read(out_fd, r->out + n, OUT_MAX - 1 - n);
			assert_true(k > 0);
			n += (size_t)k;
		}
		r->out[n] = '\0';
	}
	assert_int_equal(check_json_lines(r->out, record_keys), 1);
	assert_non_null(strstr(r->out, "\"message\":\"followed\""));
	dk_log_close(c);
	assert_int_equal(kill(pid, SIGTERM), 0);
	finish_dkctl(pid, out_fd, err_fd, r);
	assert_int_equal(r->status, 0);
	free(r);
	free(st);
	daemon_stop(&L);
}

static void test_policy_stats(void **state)
{
	static const char *const keys[] = {"generation", "rules", "checks", "allowed", "denied",
					   NULL};
	const char *bin = getenv("DK_POLICYD");
	struct daemon P;
	struct run *r;

	(void)state;
	if (!bin)
		skip();
	make_dir(&P, "dkctl-policyd");
	snprintf(P.sock, sizeof(P.sock), "%s/policyd.sock", P.dir);
	snprintf(P.extra, sizeof(P.extra), "%s/policy.ini", P.dir);
	write_file(P.extra, valid_policy);
	daemon_start(&P, bin, (const char *const[]){"--socket", P.sock, "--policy", P.extra, NULL});
	r = RUN("policy", "stats", "--socket", P.sock);
	assert_int_equal(r->status, 0);
	assert_non_null(strstr(r->out, "rules:"));
	free(r);
	r = RUN("policy", "stats", "--socket", P.sock, "--json");
	assert_int_equal(r->status, 0);
	assert_int_equal(check_json_lines(r->out, keys), 1);
	assert_non_null(strstr(r->out, "\"rules\":2,"));
	assert_non_null(strstr(r->out, "\"generation\":1,"));
	free(r);
	daemon_stop(&P);
}

/* ---- multiproc: a broker with the test as its supervisor, dk-hwsim and device service ---- */

struct bstack {
	struct daemon logd, policyd;
	pid_t broker;
	char dir[64], broker_sock[128];
	int ctl; /* our end of the broker's control socket */
};

static void bstack_start(struct bstack *B)
{
	const char *logd = getenv("DK_LOGD"), *policyd = getenv("DK_POLICYD");
	const char *broker = getenv("DK_BROKER");
	struct dk_msg *m = malloc(sizeof(*m));
	char policy[128];
	int sv[2];

	if (!logd || !policyd || !broker)
		skip();
	assert_non_null(m);
	memset(B, 0, sizeof(*B));
	strcpy(B->dir, "/tmp/dkctl-broker-XXXXXX");
	assert_non_null(mkdtemp(B->dir));
	snprintf(B->logd.sock, sizeof(B->logd.sock), "%s/" DK_RT_LOGD_SOCKET, B->dir);
	snprintf(B->logd.extra, sizeof(B->logd.extra), "%s/journal", B->dir);
	daemon_start(&B->logd, logd,
		     (const char *const[]){"--socket", B->logd.sock, "--dir", B->logd.extra, NULL});
	snprintf(policy, sizeof(policy), "%s/policy.ini", B->dir);
	write_file(policy, "[rule svc]\nservice = svc\nclass = copy\nrights = read\n"
			   "qos = normal\nmax_bytes = 4K\nmax_buffers = 1\nmax_inflight = 1\n"
			   "max_fences = 1\n");
	snprintf(B->policyd.sock, sizeof(B->policyd.sock), "%s/" DK_RT_POLICYD_SOCKET, B->dir);
	daemon_start(&B->policyd, policyd,
		     (const char *const[]){"--socket", B->policyd.sock, "--policy", policy, NULL});
	snprintf(B->broker_sock, sizeof(B->broker_sock), "%s/" DK_RT_BROKER_SOCKET, B->dir);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	B->broker = fork();
	assert_true(B->broker >= 0);
	if (B->broker == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(sv[1], 3) < 0)
			_exit(127);
		execl(broker, broker, "--runtime-dir", B->dir, "--control-fd", "3", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	B->ctl = sv[0];
	assert_int_equal(dk_msg_recv(B->ctl, &dk_supctl_proto, DEADLINE(), m, NULL), 0);
	assert_int_equal(m->frame.opcode, DK_SUPCTL_OP_READY);
	free(m);
}

static void bstack_stop(struct bstack *B)
{
	dk_test_stop_daemon(B->broker, B->broker_sock);
	close(B->ctl);
	dk_test_stop_daemon(B->policyd.pid, B->policyd.sock);
	dk_test_stop_daemon(B->logd.pid, B->logd.sock);
	dk_test_remove_tree(B->dir);
}

/* Send the broker @opcode with @p and one new channel; returns our end. */
static int send_channel(struct bstack *B, uint16_t opcode, const void *p, size_t len)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(dk_msg_send(B->ctl, &dk_supctl_proto, opcode, 0, 1, p, len, &sv[1], 1,
				     DEADLINE()),
			 0);
	close(sv[1]);
	return sv[0];
}

/* Take the next request on @fd (protocol @proto, opcode @opcode) and answer it with @err. */
static void answer_next(int fd, const struct dk_frame_proto *proto,
			const struct dk_frame_proto *reply_proto, uint16_t opcode, int err,
			uint8_t *ret_payload, size_t size)
{
	struct dk_msg *m = malloc(sizeof(*m));

	assert_non_null(m);
	assert_int_equal(dk_msg_recv(fd, proto, DEADLINE(), m, NULL), 0);
	assert_int_equal(m->frame.opcode, opcode);
	assert_true(m->frame.length <= size);
	memcpy(ret_payload, m->frame.payload, m->frame.length);
	if (err == 0)
		assert_int_equal(dk_msg_send(fd, reply_proto, opcode, DK_FRAME_F_REPLY,
					     m->frame.seq, NULL, 0, NULL, 0, DEADLINE()),
				 0);
	else
		assert_int_equal(dk_msg_reply_error(fd, reply_proto, opcode, m->frame.seq, err,
						    DK_REASON_NONE),
				 0);
	free(m);
}

static void test_inject_kill(void **state)
{
	static const char *const ikeys[] = {"device", "fault", "injected", NULL};
	static const char *const kkeys[] = {"device", "session", "killed", NULL};
	uint8_t p[128];
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	struct bstack B;
	struct run *res;
	char name[16];
	int hw, chan, out, err;
	pid_t pid;

	(void)state;
	bstack_start(&B);
	/* We are dk-hwsim: the broker forwards the injection to us. */
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, 1);
	dk_wire_put_u32(&w, 4242);
	dk_wire_put_u32(&w, 0);
	hw = send_channel(&B, DK_SUPCTL_OP_HWSIM_ATTACH, p, dk_wire_writer_len(&w));
	pid = spawn_dkctl((const char *const[]){"inject", "copy0", "lost-irq", "--runtime-dir",
						B.dir, "--json", NULL},
			  &out, &err);
	answer_next(hw, &dk_hwsim_proto, &dk_hwsim_reply_proto, DK_HWSIM_OP_INJECT, 0, p,
		    sizeof(p));
	dk_wire_reader_init(&r, p, sizeof(p));
	dk_wire_get_string(&r, name, sizeof(name));
	assert_string_equal(name, "copy0");
	assert_int_equal(dk_wire_get_u32(&r), DK_HWSIM_FAULT_LOST_IRQ);
	res = calloc(1, sizeof(*res));
	assert_non_null(res);
	finish_dkctl(pid, out, err, res);
	assert_int_equal(res->status, 0);
	assert_int_equal(check_json_lines(res->out, ikeys), 1);
	assert_non_null(strstr(res->out, "\"fault\":\"lost-irq\""));
	/* dk-hwsim's refusal: exit 1 with the reason. */
	pid = spawn_dkctl((const char *const[]){"inject", "nope0", "none", "--runtime-dir", B.dir,
						NULL},
			  &out, &err);
	answer_next(hw, &dk_hwsim_proto, &dk_hwsim_reply_proto, DK_HWSIM_OP_INJECT, -ENODEV, p,
		    sizeof(p));
	finish_dkctl(pid, out, err, res);
	assert_int_equal(res->status, 1);
	assert_string_equal(res->out, "");
	assert_non_null(strstr(res->err, "dkctl: inject nope0 none: "));

	/* We are the device service: the broker forwards the kill to us. */
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, 2);
	dk_wire_put_u32(&w, 4343);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, "svc");
	dk_wire_put_string(&w, "null0");
	dk_wire_put_string(&w, "copy");
	chan = send_channel(&B, DK_SUPCTL_OP_ATTACH, p, dk_wire_writer_len(&w));
	answer_next(hw, &dk_hwsim_proto, &dk_hwsim_reply_proto, DK_HWSIM_OP_GRANT, -ENODEV, p,
		    sizeof(p)); /* no hardware for it */
	pid = spawn_dkctl((const char *const[]){"kill-client", "null0", "17", "--runtime-dir",
						B.dir, "--json", NULL},
			  &out, &err);
	answer_next(chan, &dk_devctl_proto, &dk_devctl_reply_proto, DK_DEVCTL_OP_KILL_SESSION, 0,
		    p, sizeof(p));
	dk_wire_reader_init(&r, p, sizeof(p));
	assert_int_equal(dk_wire_get_u64(&r), 17);
	assert_int_equal(dk_wire_get_u32(&r), DK_REASON_CLIENT_KILLED);
	finish_dkctl(pid, out, err, res);
	assert_int_equal(res->status, 0);
	assert_int_equal(check_json_lines(res->out, kkeys), 1);
	assert_non_null(strstr(res->out, "\"session\":17,"));
	pid = spawn_dkctl((const char *const[]){"kill-client", "null0", "18", "--runtime-dir",
						B.dir, NULL},
			  &out, &err);
	answer_next(chan, &dk_devctl_proto, &dk_devctl_reply_proto, DK_DEVCTL_OP_KILL_SESSION,
		    -ESRCH, p, sizeof(p));
	finish_dkctl(pid, out, err, res);
	assert_int_equal(res->status, 1);
	assert_non_null(strstr(res->err, "dkctl: kill-client null0 18: "));
	free(res);
	close(chan);
	close(hw);
	bstack_stop(&B);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_policy_check_valid),
		cmocka_unit_test(test_policy_check_invalid),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_unreachable),
	};
	const struct CMUnitTest multiproc[] = {
		cmocka_unit_test(test_log_query),
		cmocka_unit_test(test_log_paging),
		cmocka_unit_test(test_log_stats),
		cmocka_unit_test(test_log_follow),
		cmocka_unit_test(test_policy_stats),
		cmocka_unit_test(test_inject_kill),
	};

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && !strcmp(argv[1], "multiproc"))
		return cmocka_run_group_tests_name("dkctl-daemons", multiproc, NULL, NULL);
	return cmocka_run_group_tests_name("dkctl", unit, NULL, NULL);
}
