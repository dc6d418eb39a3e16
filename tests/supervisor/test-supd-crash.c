/* SPDX-License-Identifier: MIT */
/*
 * dk-supervisor and dying services (supd-test.h): the fence registry fails every registered
 * fence of a service that died (a registration still queued included) while other processes
 * wait on them; crash reports, restarts with new generations, the crash-loop limit, start
 * timeouts, protocol violations, the registry's cap, and the broker and dk-logd restarting.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/error.h>
#include <dk/fence.h>
#include <dk/transfer.h>

#include "supd-test.h"

#define N_FENCES 8

/* Every fence the test child at @path serves (all rights; the registry holds the others). */
static int get_fences(const char *path, struct dk_fence **out, int max)
{
	struct dk_handle h;
	int fd, n = 0;

	assert_int_equal(dk_socket_connect(path, DEADLINE(), &fd), 0);
	for (; n < max; n++) {
		assert_int_equal(dk_handle_recv(fd, DEADLINE(), NULL, NULL, &h), 0);
		assert_int_equal(h.type, DK_HANDLE_FENCE);
		out[n] = h.fence;
	}
	return fd;
}

struct waiter {
	struct dk_fence *fence;
	pthread_barrier_t *barrier;
	int result;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	pthread_barrier_wait(w->barrier);
	w->result = dk_fence_wait(w->fence, 2, DEADLINE());
	return NULL;
}

static void test_crash_reaps_fences(void **state)
{
	char args[160], a[96], b[96];
	struct dev devs[] = {{"null", "null0", args}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	struct dk_fence *f[N_FENCES];
	struct waiter w[N_FENCES];
	pthread_t th[N_FENCES];
	pthread_barrier_t barrier;
	struct dk_log_record rec, recs[16];
	const struct dk_service_status *d;
	uint64_t gen;
	pid_t victim;
	uint32_t n, reason;
	int fd;

	(void)state;
	stack_init(&S);
	snprintf(args, sizeof(args), "--register %d --log 3 --serve %s", N_FENCES, S.serve);
	stack_start(&S, NULL, devs);
	n = status(&S, s);
	d = find(s, n, "null");
	victim = (pid_t)d->pid;
	gen = max_generation(s, n) + 1;
	assert_int_equal(d->fences_registered, N_FENCES);

	/* Waiters in other threads of another process, on points the service never reached. */
	fd = get_fences(S.serve, f, N_FENCES);
	pthread_barrier_init(&barrier, NULL, N_FENCES + 1);
	for (int i = 0; i < N_FENCES; i++) {
		w[i] = (struct waiter){.fence = f[i], .barrier = &barrier, .result = 1};
		assert_int_equal(pthread_create(&th[i], NULL, waiter_main, &w[i]), 0);
	}
	pthread_barrier_wait(&barrier);
	assert_int_equal(kill(victim, SIGKILL), 0);
	for (int i = 0; i < N_FENCES; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].result, -ENODEV);
		assert_int_equal(dk_fence_status(f[i], 2, &reason), -ENODEV);
		assert_int_equal(reason, DK_REASON_DRIVER_CRASHED);
		/* The point signalled before the crash stays successful. */
		assert_int_equal(dk_fence_status(f[i], 1, &reason), 0);
		dk_fence_unref(f[i]);
	}
	pthread_barrier_destroy(&barrier);
	close(fd);

	/* Restarted, with a new generation, told to the broker. */
	wait_ready(&S, "null", gen);
	n = status(&S, s);
	d = find(s, n, "null");
	assert_int_equal(d->state, DK_SERVICE_RUNNING);
	assert_int_equal(d->generation, gen);
	assert_int_equal(d->restarts, 1);
	assert_int_equal(d->last_signal, SIGKILL);
	assert_int_equal(d->last_exit, -1);
	assert_int_equal(d->fences_reaped, N_FENCES);
	assert_int_equal(d->fences_registered, N_FENCES); /* the new start's */
	assert_true(d->pid > 0 && d->pid != (uint32_t)victim);
	assert_true(d->last_ready_ns > 0);
	print_message("restart-to-ready: %" PRIu64 " us\n", d->last_ready_ns / 1000);
	snprintf(a, sizeof(a), "DETACH gen=%" PRIu64 " state=%u device=null0", gen - 1,
		 DK_DEVICE_RESTARTING);
	wait_file(S.blog, a);
	snprintf(a, sizeof(a), "ATTACH gen=%" PRIu64 " pid=%u service=null device=null0", gen,
		 d->pid);
	wait_file(S.blog, a);

	/* The crash report: one record, then the victim's last two lines (of three). */
	snprintf(a, sizeof(a), "service=null pid=%d ", (int)victim);
	wait_journal(&S, "supervisor.crash", a, "signal=9 ", &rec);
	assert_string_equal(rec.message, "service null died");
	assert_int_equal(rec.severity, DK_LOG_ERROR);
	assert_non_null(strstr(rec.fields, "exit=-1 "));
	snprintf(b, sizeof(b), "generation=%" PRIu64 " ", gen - 1);
	assert_non_null(strstr(rec.fields, b));
	assert_non_null(strstr(rec.fields, "restarts=0 "));
	assert_non_null(strstr(rec.fields, "fences_reaped=8 "));
	assert_non_null(strstr(rec.fields, "reap_ns="));
	print_message("reap: %s\n", strstr(rec.fields, "reap_ns="));
	assert_int_equal(journal_all(&S, "supervisor.crash.log", recs, 16), 2);
	assert_string_equal(recs[0].message, "child line 1");
	assert_string_equal(recs[1].message, "child line 2");
	assert_int_equal(recs[1].severity, DK_LOG_WARNING);
	assert_non_null(strstr(recs[0].fields, a));
	assert_non_null(strstr(recs[0].fields, "seq="));
	assert_true(recs[0].seq > rec.seq);
	stack_stop(&S, SIGTERM);
}

static void test_registration_before_death(void **state)
{
	char args[160];
	struct dev devs[] = {{"late", "late0", args}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	struct dk_handle h;
	uint32_t n, reason;
	uint64_t gen;
	int fd;

	(void)state;
	stack_init(&S);
	snprintf(args, sizeof(args), "--serve %s", S.serve);
	stack_start(&S, NULL, devs);
	n = status(&S, s);
	gen = max_generation(s, n) + 1;
	assert_int_equal(find(s, n, "late")->fences_registered, 0);
	/* The child sends us a fence, registers it and dies by SIGKILL at once. */
	assert_int_equal(dk_socket_connect(S.serve, DEADLINE(), &fd), 0);
	assert_int_equal(send(fd, "L", 1, MSG_NOSIGNAL), 1);
	assert_int_equal(dk_handle_recv(fd, DEADLINE(), NULL, NULL, &h), 0);
	assert_int_equal(h.type, DK_HANDLE_FENCE);
	assert_int_equal(dk_fence_wait(h.fence, 1, DEADLINE()), -ENODEV);
	assert_int_equal(dk_fence_status(h.fence, 1, &reason), -ENODEV);
	assert_int_equal(reason, DK_REASON_DRIVER_CRASHED);
	dk_fence_unref(h.fence);
	close(fd);
	wait_ready(&S, "late", gen);
	n = status(&S, s);
	assert_int_equal(find(s, n, "late")->fences_reaped, 1);
	assert_int_equal(find(s, n, "late")->restarts, 1);
	stack_stop(&S, SIGTERM);
}

static void test_crash_loop(void **state)
{
	static const struct dev devs[] = {
		{"loop", "loop0", "--crash-after-ready --log 1"},
		{"fine", "fine0", ""},
		{0},
	};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	const struct dk_service_status *d;
	struct dk_log_record rec;
	char line[96];
	uint32_t n;

	(void)state;
	stack_start(&S,
		    "restart_delay_ms = 10\nrestart_delay_max_ms = 40\nrestart_limit = 2\n"
		    "restart_window_ms = 60000\n",
		    devs);
	wait_journal(&S, "supervisor.crash-loop", "service=loop ", NULL, &rec);
	assert_int_equal(rec.severity, DK_LOG_AUDIT);
	assert_non_null(strstr(rec.fields, "crashes=3 "));
	n = status(&S, s);
	d = find(s, n, "loop");
	assert_int_equal(d->state, DK_SERVICE_FAILED);
	assert_int_equal(d->restarts, 2);
	assert_int_equal(d->pid, 0);
	assert_int_equal(d->last_exit, 3);
	assert_int_equal(d->last_signal, 0);
	/* The broker is told it is gone for good; the rest of the stack runs on. */
	snprintf(line, sizeof(line), "state=%u device=loop0", DK_DEVICE_FAILED);
	wait_file(S.blog, line);
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(s[i].name, "loop"))
			assert_int_equal(s[i].state, DK_SERVICE_RUNNING);
	stack_stop(&S, SIGTERM);
}

static void test_start_timeout(void **state)
{
	static const struct dev devs[] = {{"mute", "mute0", "--no-ready"}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	const struct dk_service_status *d;
	struct dk_log_record rec;
	uint32_t n;

	(void)state;
	/* Never READY: killed at the start timeout, counted as a crash; the boot goes on. */
	stack_start(&S, "start_timeout_ms = 1500\nrestart_limit = 0\n", devs);
	wait_journal(&S, "supervisor.crash-loop", "service=mute ", NULL, &rec);
	wait_journal(&S, "supervisor.start", "service=mute ", "start_timeout_ms=1500", &rec);
	n = status(&S, s);
	d = find(s, n, "mute");
	assert_int_equal(d->state, DK_SERVICE_FAILED);
	assert_int_equal(d->last_signal, SIGKILL);
	assert_int_equal(d->last_ready_ns, 0);
	stack_stop(&S, SIGTERM);
}

static void test_protocol_violation(void **state)
{
	static const struct dev devs[] = {{"bad", "bad0", "--violate"}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	struct dk_log_record rec;
	uint32_t n;

	(void)state;
	stack_start(&S, "restart_limit = 0\n", devs);
	wait_journal(&S, "supervisor.crash-loop", "service=bad ", NULL, &rec);
	wait_journal(&S, "supervisor.protocol", "service=bad ", "unknown opcode", &rec);
	n = status(&S, s);
	assert_int_equal(find(s, n, "bad")->last_signal, SIGKILL);
	assert_int_equal(find(s, n, "bad")->state, DK_SERVICE_FAILED);
	stack_stop(&S, SIGTERM);
}

static void test_registry_cap(void **state)
{
	static const struct dev devs[] = {{"full", "full0", "--fill"}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	const struct dk_service_status *d;
	struct dk_log_record rec;
	uint32_t n;

	(void)state;
	/* The child checks the refusals itself: READY means they were all as documented. */
	stack_start(&S, "start_timeout_ms = 120000\n", devs);
	n = status(&S, s);
	d = find(s, n, "full");
	assert_int_equal(d->state, DK_SERVICE_RUNNING);
	assert_int_equal(d->restarts, 0);
	assert_int_equal(d->fences_registered, DK_SUPCTL_FENCES_MAX);
	wait_journal(&S, "supervisor.registry", "service=full ", "registered=4096", &rec);
	assert_int_equal(rec.severity, DK_LOG_WARNING);
	stack_stop(&S, SIGTERM);
}

static void test_registry_fd_budget(void **state)
{
	static const struct dev devs[] = {{"fds", "fds0", "--fill-fds"}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	const struct dk_service_status *d;
	struct dk_log_record rec;
	uint32_t n;

	(void)state;
	/* 1024 descriptors: the supervisor refuses registrations before it could fail to receive
	 * one (which would look like a malformed frame and kill the service). */
	stack_init(&S);
	S.nofile = 1024;
	stack_start(&S, "start_timeout_ms = 120000\n", devs);
	n = status(&S, s);
	d = find(s, n, "fds");
	assert_int_equal(d->state, DK_SERVICE_RUNNING);
	assert_int_equal(d->restarts, 0);
	assert_true(d->fences_registered > 100);
	assert_true(d->fences_registered * DK_FENCE_NR_FDS < 1024);
	wait_journal(&S, "supervisor.registry", "service=fds ", "fd_limit=1024", &rec);
	stack_stop(&S, SIGTERM);
}

static void test_broker_restart(void **state)
{
	static const struct dev devs[] = {{"null", "null0", "--register 3"}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	const struct dk_service_status *d;
	char line[128];
	uint64_t gen;
	uint32_t n;

	(void)state;
	stack_start(&S, "restart_delay_ms = 10\n", devs);
	n = status(&S, s);
	gen = max_generation(s, n);
	assert_int_equal(kill((pid_t)find(s, n, "broker")->pid, SIGKILL), 0);
	/* The broker comes back first, then the device, whose channel died with the old one. */
	wait_ready(&S, "broker", gen + 1);
	wait_ready(&S, "null", gen + 2);
	n = status(&S, s);
	assert_int_equal(find(s, n, "broker")->restarts, 1);
	d = find(s, n, "null");
	assert_int_equal(d->restarts, 1);
	assert_int_equal(d->state, DK_SERVICE_RUNNING);
	assert_int_equal(d->fences_reaped, 3); /* stopped on purpose: its fences still fail */
	snprintf(line, sizeof(line), "HELLO hello null0 %" PRIu64, gen + 2);
	wait_file(S.blog, line);
	stack_stop(&S, SIGTERM);
}

/* How often @needle is in the file @path. */
static int count_in_file(const char *path, const char *needle)
{
	char text[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC), n = 0;
	ssize_t len;

	assert_true(fd >= 0);
	len = read(fd, text, sizeof(text) - 1);
	assert_true(len >= 0);
	text[len] = '\0';
	close(fd);
	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_hwsim_restart(void **state)
{
	static const struct dev devs[] = {{"null", "null0", "--register 2"}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	const struct dk_service_status *d, *h;
	char line[128];
	uint64_t gen;
	uint32_t n;

	(void)state;
	stack_init(&S);
	S.hwsim = true;
	stack_start(&S, "restart_delay_ms = 10\n", devs);
	n = status(&S, s);
	gen = max_generation(s, n);
	assert_int_equal(gen, 5); /* logd, policyd, board, broker, null */
	wait_file(S.blog, "HWSIM_HELLO board 3\n");

	/* dk-hwsim crashes: the device's hardware state is gone, so the device restarts too, once
	 * dk-hwsim is back and has a new channel to the (same) broker. */
	assert_int_equal(kill((pid_t)find(s, n, "board")->pid, SIGKILL), 0);
	wait_ready(&S, "board", gen + 1);
	wait_ready(&S, "null", gen + 2);
	n = status(&S, s);
	h = find(s, n, "board");
	d = find(s, n, "null");
	assert_int_equal(h->restarts, 1);
	assert_int_equal(d->restarts, 1);
	assert_int_equal(d->state, DK_SERVICE_RUNNING);
	assert_int_equal(d->fences_reaped, 2);
	assert_int_equal(find(s, n, "broker")->restarts, 0);
	wait_file(S.hlog, "HWSIM start gen=6 config=- readable=0\nCHANNEL broker_gen=4\n");
	snprintf(line, sizeof(line), "HWSIM_ATTACH gen=6 pid=%u\nHWSIM_HELLO board 6\n", h->pid);
	wait_file(S.blog, line);
	snprintf(line, sizeof(line), "ATTACH gen=7 pid=%u service=null device=null0", d->pid);
	wait_file(S.blog, line);

	/* The broker crashes: dk-hwsim gets a channel to the new one, which gets dk-hwsim's
	 * start (before the device's next ATTACH). */
	assert_int_equal(kill((pid_t)find(s, n, "broker")->pid, SIGKILL), 0);
	wait_ready(&S, "broker", gen + 3);
	wait_ready(&S, "null", gen + 4);
	wait_file(S.hlog, "CHANNEL broker_gen=8\n");
	wait_file(S.blog, "ATTACH gen=9 ");
	assert_int_equal(count_in_file(S.blog, "HWSIM_HELLO board 6\n"), 2);
	n = status(&S, s);
	assert_int_equal(find(s, n, "board")->restarts, 1);
	assert_int_equal(find(s, n, "null")->restarts, 2);
	stack_stop(&S, SIGTERM);
}

static void test_hwsim_failed(void **state)
{
	static const struct dev devs[] = {{"null", "null0", ""}, {0}};
	int wstatus;

	(void)state;
	/* dk-hwsim failing for good takes the stack down (exit 1), like a core service. */
	stack_init(&S);
	S.hwsim = true;
	S.hwsim_args = "--exit 3";
	write_manifest(&S, "restart_limit = 1\nrestart_delay_ms = 10\n", devs);
	supervisor_spawn(&S, -1, false);
	assert_int_equal(waitpid(S.pid, &wstatus, 0), S.pid);
	S.pid = 0;
	assert_true(WIFEXITED(wstatus));
	assert_int_equal(WEXITSTATUS(wstatus), 1);
	/* Started twice, and neither the broker nor any device ever was. */
	assert_int_equal(count_in_file(S.hlog, "HWSIM start"), 2);
	assert_int_equal(count_in_file(S.blog, "ATTACH"), 0);
	assert_int_equal(access(S.rt, F_OK), -1);
	dk_test_remove_tree(S.dir);
	memset(&S, 0, sizeof(S));
}

static void test_logd_restart(void **state)
{
	static const struct dev devs[] = {{"null", "null0", ""}, {0}};
	struct dk_service_status s[DK_SUPD_SERVICES_MAX];
	struct dk_log_record rec;
	char dir[128];
	uint64_t gen, deadline = DEADLINE();
	uint32_t n;
	int in;

	(void)state;
	stack_start(&S, "restart_delay_ms = 10\n", devs);
	n = status(&S, s);
	gen = max_generation(s, n);
	/* Wait for the new logd's socket: inotify on the runtime directory. */
	in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	assert_true(in >= 0);
	snprintf(dir, sizeof(dir), "%s", S.rt);
	assert_true(inotify_add_watch(in, dir, IN_CREATE) >= 0);
	assert_int_equal(kill((pid_t)find(s, n, "logd")->pid, SIGKILL), 0);
	for (;;) {
		struct dk_log_client *c;
		char ev[4096];
		int err;

		assert_int_equal(dk_socket_wait(in, POLLIN, deadline), 0);
		while (read(in, ev, sizeof(ev)) > 0)
			;
		/* Bound but maybe not listening yet: that window is a few instructions long. */
		do
			err = dk_log_connect(S.logd_sock, "probe", deadline, &c);
		while (err == -ECONNREFUSED && dk_now_ns() < deadline);
		if (err == 0) {
			dk_log_close(c);
			break;
		}
	}
	close(in);
	/* The report of logd's own crash waited for the new logd, and so did its READY record. */
	wait_ready(&S, "logd", gen + 1);
	wait_journal(&S, "supervisor.crash", "service=logd ", "signal=9 ", &rec);
	n = status(&S, s);
	assert_int_equal(find(s, n, "logd")->restarts, 1);
	assert_int_equal(find(s, n, "logd")->state, DK_SERVICE_RUNNING);
	stack_stop(&S, SIGTERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_crash_reaps_fences, teardown),
		cmocka_unit_test_teardown(test_registration_before_death, teardown),
		cmocka_unit_test_teardown(test_crash_loop, teardown),
		cmocka_unit_test_teardown(test_start_timeout, teardown),
		cmocka_unit_test_teardown(test_protocol_violation, teardown),
		cmocka_unit_test_teardown(test_registry_cap, teardown),
		cmocka_unit_test_teardown(test_registry_fd_budget, teardown),
		cmocka_unit_test_teardown(test_broker_restart, teardown),
		cmocka_unit_test_teardown(test_hwsim_restart, teardown),
		cmocka_unit_test_teardown(test_hwsim_failed, teardown),
		cmocka_unit_test_teardown(test_logd_restart, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
