/* SPDX-License-Identifier: MIT */
/*
 * dk-policyd as a process, with a real dk-logd: each test fork+execs the built daemons (paths
 * in $DK_POLICYD and $DK_LOGD; an optional $DK_POLICYD_WRAPPER such as "valgrind
 * --leak-check=full --error-exitcode=99" is put in front of dk-policyd) in a mkdtemp directory
 * and waits for the line each writes to --ready-fd. Reloads are awaited by following the
 * journal, never by sleeping. Stopping checks SIGTERM: exit status 0, socket removed. RELOAD is
 * tested through the client API and through the built dkctl ($DKCTL).
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
#include <dk/policy.h>
#include <dk/qos.h>
#include <dk/rights.h>
#include <dk/time.h>
#include <dk/wire.h>

#define DEADLINE() dk_deadline_in(30 * DK_NSEC_PER_SEC)

struct stack {
	char dir[64];
	char logd_sock[128], jdir[128];
	char sock[128], policy[128], errlog[128];
	pid_t logd, policyd;
};

static const char *const policy_a =
	"; test policy A\n"
	"[rule compositor-gpu]\n"
	"service = compositor\n"
	"device = gpu0\n"
	"rights = read, write, map, wait\n"
	"qos = burst\n"
	"max_bytes = 64M\n"
	"max_buffers = 32\n"
	"max_inflight = 8\n"
	"max_fences = 16\n"
	"\n"
	"[rule users-gpu]\n"
	"gid = 100\n"
	"class = gpu\n"
	"rights = read, map\n"
	"qos = frugal\n"
	"max_bytes = 1M\n"
	"max_buffers = 4\n"
	"max_inflight = 2\n"
	"max_fences = 4\n"
	"max_violations = 3\n";

static const char *const policy_b =
	"[rule only-audio]\n"
	"uid = 1000\n"
	"class = audio\n"
	"rights = read\n"
	"qos = normal\n"
	"max_bytes = 4K\n"
	"max_buffers = 1\n"
	"max_inflight = 1\n"
	"max_fences = 1\n";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* fork+exec @argv (NULL-terminated, argv[0] a path) with fd 3 the ready pipe; wait for READY. */
static pid_t spawn(const char *wrapper, char **argv, const char *stderr_path)
{
	struct pollfd pfd;
	char ready[16] = "";
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *args[80], *wcopy = wrapper ? strdup(wrapper) : NULL, *save = NULL, *tok;
		int n = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(p[1], 3) < 0)
			_exit(127);
		if (stderr_path) {
			int fd = open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(127);
		}
		for (tok = wcopy ? strtok_r(wcopy, " ", &save) : NULL; tok && n < 16;
		     tok = strtok_r(NULL, " ", &save))
			args[n++] = tok;
		for (int i = 0; argv[i] && n < 78; i++)
			args[n++] = argv[i];
		args[n] = NULL;
		execvp(args[0], args);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 60000), 1);
	assert_true(read(p[0], ready, sizeof(ready) - 1) > 0);
	assert_memory_equal(ready, "READY\n", 6);
	close(p[0]);
	return pid;
}

static void stack_init(struct stack *S, const char *policy)
{
	memset(S, 0, sizeof(*S));
	if (!getenv("DK_POLICYD") || !getenv("DK_LOGD"))
		skip();
	strcpy(S->dir, "/tmp/dk-policyd-test-XXXXXX");
	assert_non_null(mkdtemp(S->dir));
	snprintf(S->logd_sock, sizeof(S->logd_sock), "%s/logd.sock", S->dir);
	snprintf(S->jdir, sizeof(S->jdir), "%s/journal", S->dir);
	snprintf(S->sock, sizeof(S->sock), "%s/policyd.sock", S->dir);
	snprintf(S->policy, sizeof(S->policy), "%s/policy.ini", S->dir);
	snprintf(S->errlog, sizeof(S->errlog), "%s/policyd.stderr", S->dir);
	write_file(S->policy, policy);
}

static void start_logd(struct stack *S)
{
	char *argv[] = {getenv("DK_LOGD"), "--socket", S->logd_sock, "--dir", S->jdir,
			"--ready-fd", "3", NULL};

	S->logd = spawn(NULL, argv, NULL);
}

/* dk-policyd with --logd (when @with_logd) and optional extra arguments. */
static void start_policyd(struct stack *S, bool with_logd, const char *extra1, const char *extra2)
{
	char *argv[16];
	int n = 0;

	argv[n++] = getenv("DK_POLICYD");
	argv[n++] = "--socket";
	argv[n++] = S->sock;
	argv[n++] = "--policy";
	argv[n++] = S->policy;
	argv[n++] = "--ready-fd";
	argv[n++] = "3";
	if (with_logd) {
		argv[n++] = "--logd";
		argv[n++] = S->logd_sock;
	}
	if (extra1)
		argv[n++] = (char *)extra1;
	if (extra2)
		argv[n++] = (char *)extra2;
	argv[n] = NULL;
	S->policyd = spawn(getenv("DK_POLICYD_WRAPPER"), argv, S->errlog);
}

/* SIGTERM: the daemon exits 0 and leaves no socket file. */
static void stop(pid_t pid, const char *sock)
{
	dk_test_stop_daemon(pid, sock);
}

static void stack_stop(struct stack *S)
{
	if (S->policyd)
		stop(S->policyd, S->sock);
	if (S->logd)
		stop(S->logd, S->logd_sock);
	dk_test_remove_tree(S->dir);
}

static struct dk_policy_client *pclient(struct stack *S)
{
	struct dk_policy_client *c;

	assert_int_equal(dk_policy_connect(S->sock, DEADLINE(), &c), 0);
	return c;
}

static int check(struct dk_policy_client *c, uint32_t kinds, const char *service, uint32_t uid,
		 uint32_t gid, const char *device, const char *cls, struct dk_policy_decision *d)
{
	struct dk_policy_subject s = {.kinds = kinds, .uid = uid, .gid = gid, .service = service};

	return dk_policy_check(c, &s, device, cls, DEADLINE(), d);
}

/* The audit records of scope "policy" in the journal, oldest first. */
static int audit_records(struct stack *S, struct dk_log_record *recs, size_t n)
{
	struct dk_log_query q = {.min_severity = DK_LOG_AUDIT, .scope_prefix = "policy"};
	struct dk_log_client *l;
	int got;

	assert_int_equal(dk_log_connect(S->logd_sock, "test", DEADLINE(), &l), 0);
	got = dk_log_query(l, &q, recs, n, DEADLINE(), NULL);
	dk_log_close(l);
	assert_true(got >= 0);
	return got;
}

static void assert_field(const struct dk_log_record *r, const char *kv)
{
	char needle[160];
	const char *hit;
	size_t len;

	/* A whole key=value pair: at the start or after a space, ending at a space or the end. */
	snprintf(needle, sizeof(needle), "%s", kv);
	len = strlen(needle);
	for (hit = strstr(r->fields, needle); hit; hit = strstr(hit + 1, needle))
		if ((hit == r->fields || hit[-1] == ' ') && (hit[len] == ' ' || hit[len] == '\0'))
			return;
	fail_msg("field '%s' not in '%s'", kv, r->fields);
}

/* ---- tests ---- */

static void test_decisions_audited(void **state)
{
	struct dk_log_record recs[8];
	struct dk_policy_decision d;
	struct dk_policy_stats st;
	struct dk_policy_client *c;
	struct stack S;
	char kv[64];

	(void)state;
	stack_init(&S, policy_a);
	start_logd(&S);
	start_policyd(&S, true, NULL, NULL);
	c = pclient(&S);

	/* Allowed: exactly the grant of the rule. */
	assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE | DK_POLICY_SUBJECT_UID, "compositor",
			       1000, 0, "gpu0", "gpu", &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	assert_int_equal(d.reason, DK_POLICY_REASON_GRANT);
	assert_string_equal(d.rule, "compositor-gpu");
	assert_int_equal(d.grant.rights,
			 DK_RIGHT_READ | DK_RIGHT_WRITE | DK_RIGHT_MAP | DK_RIGHT_WAIT);
	assert_int_equal(d.grant.qos, DK_QOS_BURST);
	assert_int_equal(d.grant.max_bytes, 64ull << 20);
	assert_int_equal(d.grant.max_buffers, 32);
	assert_int_equal(d.grant.max_inflight, 8);
	assert_int_equal(d.grant.max_fences, 16);
	assert_int_equal(d.grant.max_violations, DK_POLICY_MAX_VIOLATIONS_UNSET);
	assert_int_equal(d.generation, 1);

	/* Precedence over the wire: the gid's class rule for another device. */
	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID | DK_POLICY_SUBJECT_GID, NULL, 1000, 100,
			       "gpu1", "gpu", &d), 0);
	assert_string_equal(d.rule, "users-gpu");
	assert_int_equal(d.grant.qos, DK_QOS_FRUGAL);
	assert_int_equal(d.grant.max_violations, 3); /* its kill threshold, over the wire too */

	/* Deny by default: a subject nothing matches. */
	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID, NULL, 4242, 0, "gpu0", "gpu", &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	assert_int_equal(d.reason, DK_POLICY_REASON_NO_RULE);
	assert_string_equal(d.rule, "");
	assert_int_equal(d.grant.rights, 0);
	assert_int_equal(d.grant.max_bytes, 0);
	assert_int_equal(d.grant.max_violations, 0);

	/* A malformed question is refused before it is sent. */
	assert_int_equal(check(c, 0, NULL, 0, 0, "gpu0", NULL, &d), -EINVAL);

	assert_int_equal(dk_policy_stats(c, DEADLINE(), &st), 0);
	assert_int_equal(st.checks, 3);
	assert_int_equal(st.allowed, 2);
	assert_int_equal(st.denied, 1);
	assert_int_equal(st.audited, 3);
	assert_int_equal(st.unaudited, 0);
	assert_int_equal(st.refused, 0);
	assert_int_equal(st.generation, 1);
	assert_int_equal(st.rules, 2);
	assert_int_equal(st.clients, 1);

	/* Every decision is a record in the journal, from dk-policyd, naming the asker. */
	assert_int_equal(audit_records(&S, recs, 8), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(recs[i].severity, DK_LOG_AUDIT);
		assert_string_equal(recs[i].scope, "policy");
		assert_int_equal(recs[i].pid, (uint32_t)S.policyd);
		snprintf(kv, sizeof(kv), "asker_pid=%d", (int)getpid());
		assert_field(&recs[i], kv);
		snprintf(kv, sizeof(kv), "asker_uid=%u", (unsigned)getuid());
		assert_field(&recs[i], kv);
	}
	assert_field(&recs[0], "subject=service:compositor,uid:1000");
	assert_field(&recs[0], "device=gpu0");
	assert_field(&recs[0], "class=gpu");
	assert_field(&recs[0], "decision=allow");
	assert_field(&recs[0], "rule=compositor-gpu");
	assert_field(&recs[0], "reason=grant");
	assert_field(&recs[0], "qos=burst");
	assert_field(&recs[0], "max_violations=-");
	assert_field(&recs[1], "subject=uid:1000,gid:100");
	assert_field(&recs[1], "rule=users-gpu");
	assert_field(&recs[1], "max_violations=3");
	assert_field(&recs[2], "max_violations=-");
	assert_field(&recs[2], "subject=uid:4242");
	assert_field(&recs[2], "decision=deny");
	assert_field(&recs[2], "rule=-");
	assert_field(&recs[2], "reason=no-rule");
	assert_non_null(strstr(recs[2].message, "deny"));

	dk_policy_close(c);
	stack_stop(&S);
}

static void test_empty_policy_denies(void **state)
{
	struct dk_policy_decision d;
	struct dk_policy_client *c;
	struct stack S;

	(void)state;
	stack_init(&S, "; nothing is allowed\n");
	start_policyd(&S, false, NULL, NULL);
	c = pclient(&S);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE | DK_POLICY_SUBJECT_UID |
				       DK_POLICY_SUBJECT_GID,
			       "compositor", 0, 0, "gpu0", "gpu", &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	assert_int_equal(d.reason, DK_POLICY_REASON_NO_RULE);
	dk_policy_close(c);
	stack_stop(&S);
}

static void test_not_an_asker(void **state)
{
	struct dk_log_record recs[4];
	struct dk_policy_decision d;
	struct dk_policy_stats st;
	struct dk_policy_client *c;
	struct stack S;
	char kv[64];

	(void)state;
	/* We run as some uid that is not 65534: we may not ask. */
	if (getuid() == 65534)
		skip();
	stack_init(&S, policy_a);
	start_logd(&S);
	start_policyd(&S, true, "--askers", "65534");
	c = pclient(&S);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE, "compositor", 0, 0, "gpu0", "gpu",
			       &d), -EACCES);
	assert_int_equal(dk_policy_stats(c, DEADLINE(), &st), -EACCES);
	/* Still served (and still refused) afterwards. */
	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID, NULL, 0, 0, "gpu0", NULL, &d), -EACCES);
	dk_policy_close(c);

	assert_int_equal(audit_records(&S, recs, 4), 3);
	snprintf(kv, sizeof(kv), "asker_uid=%u", (unsigned)getuid());
	assert_field(&recs[0], kv);
	assert_field(&recs[0], "decision=refused");
	assert_field(&recs[0], "reason=not-an-asker");
	assert_field(&recs[0], "opcode=1");
	assert_field(&recs[1], "opcode=2");
	stack_stop(&S);
}

static void test_askers_list(void **state)
{
	struct dk_policy_decision d;
	struct dk_policy_client *c;
	struct stack S;
	char list[64];

	(void)state;
	stack_init(&S, policy_a);
	snprintf(list, sizeof(list), "65534,%u", (unsigned)getuid());
	start_policyd(&S, false, "--askers", list);
	c = pclient(&S);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE, "compositor", 0, 0, "gpu0", NULL, &d),
			 0);
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	dk_policy_close(c);
	stack_stop(&S);
}

/* Send SIGHUP and wait (on the journal) for the reload's record; returns its message. */
static void reload_and_wait(struct stack *S, struct dk_log_client *follower,
			    struct dk_log_record *ret)
{
	assert_int_equal(kill(S->policyd, SIGHUP), 0);
	for (;;) {
		assert_int_equal(dk_log_next(follower, DEADLINE(), ret), 0);
		if (strstr(ret->fields, "event=reload"))
			return;
	}
}

static void test_reload(void **state)
{
	struct dk_log_client *follower;
	struct dk_policy_decision d;
	struct dk_policy_stats st;
	struct dk_policy_client *c;
	struct dk_log_record rec;
	struct stack S;
	char errtext[2048] = "", want[256];
	int fd;
	ssize_t n;

	(void)state;
	stack_init(&S, policy_a);
	start_logd(&S);
	start_policyd(&S, true, NULL, NULL);
	c = pclient(&S);
	assert_int_equal(dk_log_connect(S.logd_sock, "follower", DEADLINE(), &follower), 0);
	assert_int_equal(dk_log_follow(follower, DK_LOG_NOTICE, (uint32_t)S.policyd, DEADLINE(),
				       NULL), 0);

	/* An invalid file: refused with its line, the old policy stays in force. */
	write_file(S.policy, "[rule x]\nuid = 1\nqos = ludicrous\n");
	reload_and_wait(&S, follower, &rec);
	assert_int_equal(rec.severity, DK_LOG_ERROR);
	assert_non_null(strstr(rec.message, "line 3"));
	assert_non_null(strstr(rec.message, "invalid qos 'ludicrous'"));
	assert_non_null(strstr(rec.fields, "result=refused"));
	fd = open(S.errlog, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, errtext, sizeof(errtext) - 1);
	close(fd);
	assert_true(n > 0);
	snprintf(want, sizeof(want), "%s:3: rule 'x': invalid qos 'ludicrous'", S.policy);
	assert_non_null(strstr(errtext, want));

	assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE, "compositor", 0, 0, "gpu0", "gpu",
			       &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	assert_string_equal(d.rule, "compositor-gpu");
	assert_int_equal(d.generation, 1);

	/* A valid file replaces it. */
	write_file(S.policy, policy_b);
	reload_and_wait(&S, follower, &rec);
	assert_int_equal(rec.severity, DK_LOG_NOTICE);
	assert_non_null(strstr(rec.fields, "result=ok"));
	assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE, "compositor", 0, 0, "gpu0", "gpu",
			       &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	assert_int_equal(d.generation, 2);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID, NULL, 1000, 0, "mic0", "audio", &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	assert_string_equal(d.rule, "only-audio");
	assert_int_equal(d.grant.max_bytes, 4096);

	assert_int_equal(dk_policy_stats(c, DEADLINE(), &st), 0);
	assert_int_equal(st.reloads, 1);
	assert_int_equal(st.reload_failures, 1);
	assert_int_equal(st.generation, 2);
	assert_int_equal(st.rules, 1);

	dk_log_close(follower);
	dk_policy_close(c);
	stack_stop(&S);
}

/* RELOAD over the socket: a valid file takes over, an invalid one is refused with its line. */
static void test_reload_request(void **state)
{
	struct dk_log_record recs[16];
	struct dk_policy_error e;
	struct dk_policy_decision d;
	struct dk_policy_stats st;
	struct dk_policy_client *c;
	struct stack S;
	int n, found = 0;

	(void)state;
	stack_init(&S, policy_a);
	start_logd(&S);
	start_policyd(&S, true, NULL, NULL);
	c = pclient(&S);

	/* Refused: the load's error with the line and message; the old policy stays. */
	write_file(S.policy, "[rule x]\nuid = 1\nqos = ludicrous\n");
	memset(&e, 0xa5, sizeof(e));
	assert_int_equal(dk_policy_reload(c, DEADLINE(), &e), -EINVAL);
	assert_int_equal(e.line, 3);
	assert_string_equal(e.message,
			    "rule 'x': invalid qos 'ludicrous' (frugal, normal or burst)");
	assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE, "compositor", 0, 0, "gpu0", "gpu",
			       &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	assert_int_equal(d.generation, 1);

	/* A file that cannot be read: its errno, line 0. */
	assert_int_equal(unlink(S.policy), 0);
	assert_int_equal(dk_policy_reload(c, DEADLINE(), &e), -ENOENT);
	assert_int_equal(e.line, 0);
	assert_true(e.message[0] != '\0');
	assert_int_equal(dk_policy_reload(c, DEADLINE(), NULL), -ENOENT);

	/* Valid: decisions change at once, the generation goes up, @ret_error is untouched. */
	write_file(S.policy, policy_b);
	memset(&e, 0xa5, sizeof(e));
	assert_int_equal(dk_policy_reload(c, DEADLINE(), &e), 0);
	assert_int_equal(e.line, 0xa5a5a5a5u);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE, "compositor", 0, 0, "gpu0", "gpu",
			       &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	assert_int_equal(d.generation, 2);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID, NULL, 1000, 0, "mic0", "audio", &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	assert_string_equal(d.rule, "only-audio");

	assert_int_equal(dk_policy_stats(c, DEADLINE(), &st), 0);
	assert_int_equal(st.reloads, 1);
	assert_int_equal(st.reload_failures, 3);
	assert_int_equal(st.generation, 2);
	assert_int_equal(st.rules, 1);
	assert_int_equal(dk_policy_reload(NULL, DEADLINE(), NULL), -EINVAL);
	assert_int_equal(dk_policy_reload(c, 0, NULL), -EINVAL);

	/* Journalled with who asked. */
	{
		struct dk_log_query q = {.min_severity = DK_LOG_NOTICE, .scope_prefix = "policy"};
		struct dk_log_client *l;
		char kv[64];

		assert_int_equal(dk_log_connect(S.logd_sock, "test", DEADLINE(), &l), 0);
		n = dk_log_query(l, &q, recs, 16, DEADLINE(), NULL);
		dk_log_close(l);
		assert_true(n > 0);
		snprintf(kv, sizeof(kv), "asker_pid=%d", (int)getpid());
		for (int i = 0; i < n; i++) {
			if (!strstr(recs[i].fields, "event=reload"))
				continue;
			assert_field(&recs[i], "trigger=request");
			assert_field(&recs[i], kv);
			if (found == 0) {
				assert_int_equal(recs[i].severity, DK_LOG_ERROR);
				assert_field(&recs[i], "line=3");
				assert_non_null(strstr(recs[i].message, "invalid qos 'ludicrous'"));
			}
			assert_field(&recs[i], found == 3 ? "result=ok" : "result=refused");
			found++;
		}
		assert_int_equal(found, 4);
	}
	dk_policy_close(c);
	stack_stop(&S);
}

/* Only askers may reload: refused with -EACCES, the policy in force stays. */
static void test_reload_not_an_asker(void **state)
{
	struct dk_policy_error e = {.line = 77};
	struct dk_policy_client *c;
	struct stack S;

	(void)state;
	if (getuid() == 65534)
		skip();
	stack_init(&S, policy_a);
	start_policyd(&S, false, "--askers", "65534");
	c = pclient(&S);
	write_file(S.policy, policy_b);
	assert_int_equal(dk_policy_reload(c, DEADLINE(), &e), -EACCES);
	assert_int_equal(e.line, 77);
	dk_policy_close(c);
	stack_stop(&S);
}

/* As root: a child with another uid is refused, and the asker sees generation 1 still. */
static void test_reload_other_uid(void **state)
{
	struct dk_policy_decision d;
	struct dk_policy_stats st;
	struct dk_policy_client *c;
	struct stack S;
	int status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	stack_init(&S, policy_a);
	start_policyd(&S, false, NULL, NULL);
	assert_int_equal(chmod(S.dir, 0711), 0);
	assert_int_equal(chmod(S.sock, 0666), 0);
	write_file(S.policy, policy_b);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct dk_policy_client *nc;
		int err;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		if (dk_policy_connect(S.sock, DEADLINE(), &nc) < 0)
			_exit(11);
		err = dk_policy_reload(nc, DEADLINE(), NULL);
		dk_policy_close(nc);
		_exit(err == -EACCES ? 0 : 12);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	c = pclient(&S);
	assert_int_equal(dk_policy_stats(c, DEADLINE(), &st), 0);
	assert_int_equal(st.generation, 1);
	assert_int_equal(st.reloads, 0);
	assert_int_equal(st.askers_refused, 1);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE, "compositor", 0, 0, "gpu0", "gpu",
			       &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	dk_policy_close(c);
	stack_stop(&S);
}

/* Run $DKCTL with @args; stdout into @out (NUL-terminated). Returns the exit status. */
static int run_dkctl(const char *const *args, char *out, size_t out_size)
{
	const char *bin = getenv("DKCTL");
	uint64_t deadline = DEADLINE();
	size_t n = 0;
	int p[2], status;
	pid_t pid;

	assert_non_null(bin);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[16];
		int k = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(p[1], 1) < 0)
			_exit(127);
		argv[k++] = (char *)bin;
		for (int i = 0; args[i] && k < 15; i++)
			argv[k++] = (char *)args[i];
		argv[k] = NULL;
		execv(bin, argv);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		uint64_t now = dk_now_ns();
		ssize_t k;

		assert_true(now < deadline);
		assert_int_equal(poll(&pfd, 1, (int)((deadline - now) / DK_NSEC_PER_MSEC) + 1), 1);
		assert_true(n < out_size - 1);
		k = read(p[0], out + n, out_size - 1 - n);
		assert_true(k >= 0);
		if (k == 0)
			break;
		n += (size_t)k;
	}
	out[n] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_dkctl_reload(void **state)
{
	char out[4096];
	struct stack S;

	(void)state;
	if (!getenv("DKCTL"))
		skip();
	stack_init(&S, policy_a);
	start_policyd(&S, false, NULL, NULL);

	write_file(S.policy, policy_b);
	assert_int_equal(run_dkctl((const char *const[]){"policy", "reload", "--runtime-dir",
							 S.dir, NULL},
				   out, sizeof(out)),
			 0);
	assert_string_equal(out, "policy reloaded: generation 2, 1 rules\n");
	assert_int_equal(run_dkctl((const char *const[]){"policy", "reload", "--socket", S.sock,
							 "--json", NULL},
				   out, sizeof(out)),
			 0);
	assert_string_equal(out, "{\"reloaded\":true,\"generation\":3,\"rules\":1}\n");

	write_file(S.policy, "[rule x]\nuid = 1\nqos = ludicrous\n");
	assert_int_equal(run_dkctl((const char *const[]){"policy", "reload", "--socket", S.sock,
							 NULL},
				   out, sizeof(out)),
			 1);
	assert_string_equal(out, "reload refused: line 3: rule 'x': invalid qos 'ludicrous' "
				 "(frugal, normal or burst)\n");
	assert_int_equal(run_dkctl((const char *const[]){"policy", "reload", "--socket", S.sock,
							 "--json", NULL},
				   out, sizeof(out)),
			 1);
	assert_string_equal(out, "{\"reloaded\":false,\"error\":\"invalid argument\",\"line\":3,"
				 "\"message\":\"rule 'x': invalid qos 'ludicrous' "
				 "(frugal, normal or burst)\"}\n");

	/* Usage errors: both endpoints, a stray argument. */
	assert_int_equal(run_dkctl((const char *const[]){"policy", "reload", "--socket", S.sock,
							 "--runtime-dir", S.dir, NULL},
				   out, sizeof(out)),
			 2);
	assert_int_equal(run_dkctl((const char *const[]){"policy", "reload", "x", NULL}, out,
				   sizeof(out)),
			 2);
	stack_stop(&S);

	/* Not an asker: refused, exit 1. */
	if (getuid() != 65534) {
		stack_init(&S, policy_a);
		start_policyd(&S, false, "--askers", "65534");
		assert_int_equal(run_dkctl((const char *const[]){"policy", "reload", "--socket",
								 S.sock, NULL},
					   out, sizeof(out)),
				 1);
		assert_string_equal(out, "");
		stack_stop(&S);
	}
}

static void test_logd_unreachable(void **state)
{
	struct dk_policy_decision d;
	struct dk_policy_stats st;
	struct dk_policy_client *c;
	struct stack S;

	(void)state;
	stack_init(&S, policy_a);
	/* --logd names a socket nobody listens on: decisions go on, counted as unaudited. */
	start_policyd(&S, true, NULL, NULL);
	c = pclient(&S);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE, "compositor", 0, 0, "gpu0",
				       NULL, &d), 0);
		assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	}
	assert_int_equal(dk_policy_stats(c, DEADLINE(), &st), 0);
	assert_int_equal(st.checks, 3);
	assert_int_equal(st.audited, 0);
	assert_int_equal(st.unaudited, 3);
	dk_policy_close(c);
	stack_stop(&S);
}

/* ---- malformed frames ---- */

static int raw_connect(struct stack *S)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(a.sun_path, S->sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Send @len bytes, receive one reply: the error of an error reply, or 0. */
static int raw_call(int fd, const void *bytes, size_t len)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	struct dk_wire_reader r;
	uint16_t flags;
	ssize_t n;

	assert_int_equal(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
	assert_int_equal(poll(&pfd, 1, 30000), 1);
	n = recv(fd, buf, sizeof(buf), 0);
	assert_true(n >= (ssize_t)DK_FRAME_HEADER_SIZE);
	dk_wire_reader_init(&r, buf, (size_t)n);
	assert_int_equal(dk_wire_get_u32(&r), DK_FRAME_MAGIC);
	(void)dk_wire_get_u32(&r);
	(void)dk_wire_get_u16(&r);
	flags = dk_wire_get_u16(&r);
	(void)dk_wire_get_u32(&r);
	(void)dk_wire_get_u64(&r);
	assert_true(flags & DK_FRAME_F_REPLY);
	if (!(flags & DK_FRAME_F_ERROR))
		return 0;
	assert_int_equal(n, DK_FRAME_HEADER_SIZE + DK_FRAME_ERROR_PAYLOAD);
	return (int32_t)dk_wire_get_u32(&r);
}

static int raw_frame(int fd, uint16_t opcode, uint16_t flags, const void *payload, size_t len)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	int n = dk_frame_encode(buf, sizeof(buf), &dk_policyd_proto, opcode, flags, 7, payload,
				len);

	assert_true(n > 0);
	return raw_call(fd, buf, (size_t)n);
}

/* A CHECK payload with every field chosen by the caller. */
static size_t check_payload(uint8_t *buf, uint8_t kinds, uint8_t reserved, uint32_t uid,
			    const char *service, const char *device, const char *cls,
			    size_t trailing)
{
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, buf, DK_FRAME_MAX_PAYLOAD);
	dk_wire_put_u8(&w, kinds);
	dk_wire_put_u8(&w, reserved);
	dk_wire_put_u16(&w, 0);
	dk_wire_put_u32(&w, uid);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, service);
	dk_wire_put_string(&w, device);
	dk_wire_put_string(&w, cls);
	for (size_t i = 0; i < trailing; i++)
		dk_wire_put_u8(&w, 0);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	return dk_wire_writer_len(&w);
}

static void assert_still_serving(struct dk_policy_client *c)
{
	struct dk_policy_decision d;

	assert_int_equal(check(c, DK_POLICY_SUBJECT_SERVICE, "compositor", 0, 0, "gpu0", "gpu",
			       &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
}

static void test_malformed(void **state)
{
	uint8_t p[DK_FRAME_MAX_PAYLOAD], frame[DK_FRAME_MAX_SIZE + 64];
	char longname[DK_POLICY_NAME_MAX + 2];
	struct dk_policy_stats st;
	struct dk_policy_client *c;
	struct stack S;
	size_t len;
	int fd, n, expected = 0;

	(void)state;
	stack_init(&S, policy_a);
	start_policyd(&S, false, NULL, NULL);
	c = pclient(&S);
	fd = raw_connect(&S);

	/* The good payload first, to know the raw path works. */
	len = check_payload(p, DK_POLICY_SUBJECT_SERVICE, 0, 0, "compositor", "gpu0", "gpu", 0);
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), 0);

	/* Frame level: short, bad magic, other major, truncated, a reply, descriptors. */
	assert_int_equal(raw_call(fd, "DKF1x", 5), -EPROTO);
	expected++;
	n = dk_frame_encode(frame, sizeof(frame), &dk_policyd_proto, DK_POLICYD_OP_CHECK, 0, 1, p,
			    len);
	frame[0] ^= 0xff;
	assert_int_equal(raw_call(fd, frame, (size_t)n), -EPROTO);
	frame[0] ^= 0xff;
	frame[4] = 9; /* major */
	assert_int_equal(raw_call(fd, frame, (size_t)n), -EPROTO);
	frame[4] = (uint8_t)DK_ABI_MAJOR;
	assert_int_equal(raw_call(fd, frame, (size_t)n - 3), -EPROTO);
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, DK_FRAME_F_REPLY, p, len), -EPROTO);
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, DK_FRAME_F_FDS, p, len), -EPROTO);
	expected += 5;
	/* A datagram over the frame cap. */
	memset(frame + n, 0, sizeof(frame) - (size_t)n);
	assert_int_equal(raw_call(fd, frame, sizeof(frame)), -EPROTO);
	expected++;

	/* Payload level. */
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, 5), -EPROTO); /* too short */
	len = check_payload(p, 0, 0, 0, "", "gpu0", "", 0); /* no subject kind */
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), -EPROTO);
	len = check_payload(p, 0x80 | DK_POLICY_SUBJECT_UID, 0, 1, "", "gpu0", "", 0);
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), -EPROTO);
	len = check_payload(p, DK_POLICY_SUBJECT_UID, 1, 1, "", "gpu0", "", 0); /* reserved */
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), -EPROTO);
	len = check_payload(p, DK_POLICY_SUBJECT_UID, 0, 1, "", "gpu 0", "", 0); /* bad name */
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), -EPROTO);
	len = check_payload(p, DK_POLICY_SUBJECT_UID, 0, 1, "", "", "", 0); /* no device */
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), -EPROTO);
	len = check_payload(p, DK_POLICY_SUBJECT_SERVICE, 0, 0, "", "gpu0", "", 0); /* no name */
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), -EPROTO);
	len = check_payload(p, DK_POLICY_SUBJECT_GID, 0, 5, "", "gpu0", "", 0); /* uid w/o kind */
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), -EPROTO);
	len = check_payload(p, DK_POLICY_SUBJECT_UID, 0, 1, "", "gpu0", "gpu", 2); /* trailing */
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), -EPROTO);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	len = check_payload(p, DK_POLICY_SUBJECT_UID, 0, 1, "", longname, "", 0); /* too long */
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), -EPROTO);
	/* A string length running past the payload. */
	len = check_payload(p, DK_POLICY_SUBJECT_UID, 0, 1, "", "gpu0", "gpu", 0);
	p[len - 5] = 0x40;
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), -EPROTO);
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_STATS, 0, p, 4), -EPROTO); /* STATS + bytes */
	expected += 12;

	/* Unknown opcode: refused cleanly. */
	n = dk_frame_encode(frame, sizeof(frame), NULL, 0x77, 0, 3, NULL, 0);
	assert_true(n > 0);
	assert_int_equal(raw_call(fd, frame, (size_t)n), -EOPNOTSUPP);
	expected++;

	/* The same connection and the daemon keep serving. */
	len = check_payload(p, DK_POLICY_SUBJECT_SERVICE, 0, 0, "compositor", "gpu0", "gpu", 0);
	assert_int_equal(raw_frame(fd, DK_POLICYD_OP_CHECK, 0, p, len), 0);
	close(fd);
	assert_still_serving(c);
	assert_int_equal(dk_policy_stats(c, DEADLINE(), &st), 0);
	assert_int_equal(st.refused, (uint64_t)expected);
	assert_int_equal(st.checks, 3);
	dk_policy_close(c);
	stack_stop(&S);
}

static void test_client_cap_and_errors(void **state)
{
	const struct dk_policy_subject uid1 = {.kinds = DK_POLICY_SUBJECT_UID, .uid = 1};
	struct dk_policy_client *a, *b;
	struct dk_policy_decision d;
	struct dk_policy_stats st;
	struct stack S;
	char missing[160];

	(void)state;
	stack_init(&S, policy_a);
	snprintf(missing, sizeof(missing), "%s/nobody.sock", S.dir);
	assert_int_equal(dk_policy_connect(missing, DEADLINE(), &a), -ENOENT);
	assert_int_equal(dk_policy_connect(missing, 0, &a), -EINVAL);
	start_policyd(&S, false, "--max-clients", "1");
	a = pclient(&S);
	assert_int_equal(check(a, DK_POLICY_SUBJECT_UID, NULL, 1, 0, "gpu0", NULL, &d), 0);
	/* A request without a deadline is refused before anything is sent. */
	assert_int_equal(dk_policy_check(a, &uid1, "gpu0", NULL, 0, &d), -EINVAL);
	assert_int_equal(dk_policy_stats(a, 0, &st), -EINVAL);
	/* Over the cap: the daemon closes the connection at once. */
	b = pclient(&S);
	assert_int_equal(check(b, DK_POLICY_SUBJECT_UID, NULL, 1, 0, "gpu0", NULL, &d), -EPIPE);
	dk_policy_close(b);
	assert_int_equal(dk_policy_stats(a, DEADLINE(), &st), 0);
	assert_int_equal(st.clients_refused, 1);
	assert_int_equal(st.clients, 1);
	dk_policy_close(a);
	stack_stop(&S);
}

/* ---- decisions of another minor ---- */

/* One reply of the stand-in daemon: its minor, and what follows the rule string. */
struct old_reply {
	uint16_t minor;
	bool tail;               /* u32 max_violations after the rule */
	uint32_t max_violations;
	bool extra;              /* 4 more bytes after it, as a newer minor might add */
};

/* A stand-in daemon (a forked child): answer a CHECK per entry of @rs. Exit status 0 or the
 * step that failed. */
static int old_daemon(int lfd, const struct old_reply *rs, size_t n)
{
	static uint8_t in[DK_FRAME_MAX_SIZE], out[DK_FRAME_MAX_SIZE];
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		const struct dk_frame_proto proto = {
			.name = "policyd",
			.minor = rs[i].minor,
			.n_ops = dk_policyd_proto.n_ops,
			.ops = dk_policyd_proto.ops,
		};
		ssize_t len = recv(fd, in, sizeof(in), 0);
		struct dk_wire_writer w;
		struct dk_frame f;
		uint8_t p[128];
		int m;

		if (len <= 0 || dk_frame_decode(in, (size_t)len, &dk_policyd_proto, &f, NULL) < 0)
			return 2;
		dk_wire_writer_init(&w, p, sizeof(p));
		dk_wire_put_u8(&w, DK_POLICY_ALLOW);
		dk_wire_put_u8(&w, DK_POLICY_REASON_GRANT);
		dk_wire_put_u16(&w, 0);
		dk_wire_put_u32(&w, DK_RIGHT_READ);
		dk_wire_put_u32(&w, DK_QOS_NORMAL);
		dk_wire_put_u32(&w, 2);    /* max_buffers */
		dk_wire_put_u64(&w, 4096); /* max_bytes */
		dk_wire_put_u32(&w, 3);    /* max_inflight */
		dk_wire_put_u32(&w, 4);    /* max_fences */
		dk_wire_put_u64(&w, 7);    /* generation */
		dk_wire_put_string(&w, "old");
		if (rs[i].tail)
			dk_wire_put_u32(&w, rs[i].max_violations);
		if (rs[i].extra)
			dk_wire_put_u32(&w, 0xdeadbeef);
		m = dk_frame_encode(out, sizeof(out), &proto, f.opcode, DK_FRAME_F_REPLY, f.seq, p,
				    dk_wire_writer_len(&w));
		if (m < 0 || send(fd, out, (size_t)m, MSG_NOSIGNAL) != m)
			return 3;
	}
	close(fd);
	return 0;
}

/*
 * The kill threshold in decisions of other minors: a minor-1 daemon has none (unset: the
 * service's own applies), a newer one's additions after it are skipped, and a reply of minor 2
 * without it or with a threshold over the cap is malformed.
 */
static void test_decision_minors(void **state)
{
	static const struct old_reply rs[] = {
		{.minor = 1},
		{.minor = 2, .tail = true, .max_violations = 5},
		{.minor = 3, .tail = true, .max_violations = 0, .extra = true},
		{.minor = 2},
		{.minor = 2, .tail = true, .max_violations = DK_POLICY_MAX_VIOLATIONS_CAP + 1},
		{.minor = 2, .tail = true, .max_violations = DK_POLICY_MAX_VIOLATIONS_UNSET},
	};
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct dk_policy_client *c;
	struct dk_policy_decision d;
	char dir[] = "/tmp/dk-policyd-minor-XXXXXX";
	int lfd, status;
	pid_t pid;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/policyd.sock", dir);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(old_daemon(lfd, rs, sizeof(rs) / sizeof(rs[0])));
	close(lfd);
	assert_int_equal(dk_policy_connect(addr.sun_path, DEADLINE(), &c), 0);

	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID, NULL, 1, 0, "gpu0", NULL, &d), 0);
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	assert_string_equal(d.rule, "old");
	assert_int_equal(d.grant.max_fences, 4);
	assert_int_equal(d.generation, 7);
	assert_int_equal(d.grant.max_violations, DK_POLICY_MAX_VIOLATIONS_UNSET);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID, NULL, 1, 0, "gpu0", NULL, &d), 0);
	assert_int_equal(d.grant.max_violations, 5);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID, NULL, 1, 0, "gpu0", NULL, &d), 0);
	assert_int_equal(d.grant.max_violations, 0);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID, NULL, 1, 0, "gpu0", NULL, &d), -EPROTO);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID, NULL, 1, 0, "gpu0", NULL, &d), -EPROTO);
	assert_int_equal(check(c, DK_POLICY_SUBJECT_UID, NULL, 1, 0, "gpu0", NULL, &d), 0);
	assert_int_equal(d.grant.max_violations, DK_POLICY_MAX_VIOLATIONS_UNSET);

	dk_policy_close(c);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	unlink(addr.sun_path);
	rmdir(dir);
}

static void test_invalid_policy_at_start(void **state)
{
	char errtext[1024] = "";
	struct stack S;
	int status, fd, p[2];
	pid_t pid;

	(void)state;
	stack_init(&S, "[rule r]\nuid = 1\ndevice = d\nmax_fences = 0\n");
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int efd = open(S.errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (efd < 0 || dup2(efd, 2) < 0 || dup2(p[1], 3) < 0)
			_exit(127);
		execl(getenv("DK_POLICYD"), "dk-policyd", "--socket", S.sock, "--policy", S.policy,
		      "--ready-fd", "3", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	/* No READY: the pipe closes with the process. */
	assert_int_equal(read(p[0], errtext, sizeof(errtext)), 0);
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(access(S.sock, F_OK), -1);
	fd = open(S.errlog, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(read(fd, errtext, sizeof(errtext) - 1) > 0);
	close(fd);
	assert_non_null(strstr(errtext, ":4: rule 'r': max_fences '0' is out of range"));
	dk_test_remove_tree(S.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decisions_audited),
		cmocka_unit_test(test_empty_policy_denies),
		cmocka_unit_test(test_not_an_asker),
		cmocka_unit_test(test_askers_list),
		cmocka_unit_test(test_reload),
		cmocka_unit_test(test_reload_request),
		cmocka_unit_test(test_reload_not_an_asker),
		cmocka_unit_test(test_reload_other_uid),
		cmocka_unit_test(test_dkctl_reload),
		cmocka_unit_test(test_logd_unreachable),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_client_cap_and_errors),
		cmocka_unit_test(test_decision_minors),
		cmocka_unit_test(test_invalid_policy_at_start),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
