/* SPDX-License-Identifier: MIT */
/*
 * up.c - dkctl up (the stack in the foreground) and dkctl status (services and devices).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dk/dk.h>

#include "broker-client.h"
#include "dkctl.h"
#include "stack.h"
#include "supervisor-client.h"

#define UP_READY_NS (30 * DK_NSEC_PER_SEC)

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

int dkctl_runtime_dir(const char *opt, char *buf, size_t size)
{
	const char *env = getenv(DK_ENV_RUNTIME_DIR);

	if (env && !*env)
		env = NULL; /* set but empty: as if unset */
	if (opt || env) {
		if (strlen(opt ? opt : env) >= size)
			return -ENAMETOOLONG;
		strcpy(buf, opt ? opt : env);
		return 0;
	}
	return dk_runtime_dir_default(buf, size);
}

int dkctl_service_pid(const char *rt, const char *name, uint64_t timeout_ns, uint32_t *ret_pid)
{
	struct dk_service_status svc[DK_SUPD_SERVICES_MAX];
	char path[DK_RT_PATH_MAX];
	uint32_t n = 0;
	uint64_t uptime;
	int err = dk_runtime_path(rt, DK_RT_SUPERVISOR_SOCKET, path, sizeof(path));

	if (err == 0)
		err = dk_supd_status(path, dk_now_ns() + timeout_ns, svc, DK_SUPD_SERVICES_MAX, &n,
				     &uptime);
	if (err < 0)
		return err;
	for (uint32_t i = 0; i < n; i++) {
		if (strcmp(svc[i].name, name) == 0 && svc[i].pid) {
			*ret_pid = svc[i].pid;
			return 0;
		}
	}
	return -ESRCH;
}

static void up_usage(FILE *out)
{
	fprintf(out,
		"Usage: dkctl up [--runtime-dir DIR] [--manifest FILE]\n"
		"\n"
		"Run the stack in the foreground until SIGINT or SIGTERM. Without --manifest, a\n"
		"default manifest and policy (one null device, usable by this user) are written into\n"
		"the runtime directory and removed at the end. The runtime directory is --runtime-dir,\n"
		"else $XDG_RUNTIME_DIR/driverkit, else a private directory under /tmp.\n");
}

static int up_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"runtime-dir", required_argument, NULL, 'r'},
		{"manifest", required_argument, NULL, 'm'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct dk_stack st = {0};
	const char *rt = NULL, *manifest = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	int opt, err, status;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			rt = optarg;
			break;
		case 'm':
			manifest = optarg;
			break;
		case 'h':
			up_usage(stdout);
			return DKCTL_EXIT_OK;
		default:
			return dkctl_usage_error("up", "unknown option");
		}
	}
	if (optind != argc)
		return dkctl_usage_error("up", "unexpected argument '%s'", argv[optind]);
	if (rt) {
		if (strlen(rt) >= sizeof(st.runtime_dir))
			return dkctl_fail(rt, -ENAMETOOLONG);
		strcpy(st.runtime_dir, rt);
	} else if (dk_runtime_dir_default(st.runtime_dir, sizeof(st.runtime_dir)) < 0) {
		strcpy(st.runtime_dir, "/tmp/driverkit-XXXXXX");
		if (!mkdtemp(st.runtime_dir))
			return dkctl_fail("mkdtemp", -errno);
		st.made_dir = true;
	}
	if (!st.made_dir) {
		if (mkdir(st.runtime_dir, 0700) == 0)
			st.made_dir = true;
		else if (errno != EEXIST)
			return dkctl_fail(st.runtime_dir, -errno);
	}
	if (manifest) {
		if (strlen(manifest) >= sizeof(st.manifest))
			return dkctl_fail(manifest, -ENAMETOOLONG);
		strcpy(st.manifest, manifest);
		err = 0;
	} else {
		err = dk_stack_write_config(&st, st.runtime_dir);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (err == 0)
		err = dk_stack_start(&st, dk_now_ns() + UP_READY_NS);
	if (err < 0) {
		dk_stack_stop(&st, dk_now_ns() + UP_READY_NS, NULL);
		return dkctl_fail("starting the stack", err);
	}
	printf("stack up: runtime directory %s (export %s=%s)\n", st.runtime_dir,
	       DK_ENV_RUNTIME_DIR, st.runtime_dir);
	fflush(stdout);
	/* The supervisor runs the stack; wait for it, or for our signal to stop it. */
	while (!got_signal) {
		pid_t r = waitpid(st.pid, &status, 0);

		if (r == st.pid) {
			st.pid = 0;
			dk_stack_stop(&st, dk_now_ns(), NULL);
			fprintf(stderr, "dkctl: the supervisor exited (status %d)\n",
				WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			return DKCTL_EXIT_FAIL;
		}
	}
	err = dk_stack_stop(&st, dk_now_ns() + UP_READY_NS, &status);
	if (err < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return dkctl_fail("stopping the stack", err < 0 ? err : -ECHILD);
	printf("stack stopped\n");
	return DKCTL_EXIT_OK;
}

const struct dkctl_command dkctl_up_command = {
	.name = "up",
	.summary = "run the stack in the foreground",
	.run = up_run,
	.usage = up_usage,
};

static void status_usage(FILE *out)
{
	fprintf(out,
		"Usage: dkctl status [--runtime-dir DIR] [--json] [--timeout SECONDS]\n"
		"\n"
		"The services of a running stack (state, pid, generation, restarts, fences in the\n"
		"reaper's registry) and its devices (state, generation, open sessions, opens,\n"
		"denials). Same user (or root) only.\n");
}

static int status_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"runtime-dir", required_argument, NULL, 'r'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct dk_service_status svc[DK_SUPD_SERVICES_MAX];
	struct dk_device_status dev[DK_BROKER_DEVICES_MAX];
	char rt[DK_RT_PATH_MAX], path[DK_RT_PATH_MAX];
	const char *rt_opt = NULL;
	uint64_t timeout = DKCTL_DEFAULT_TIMEOUT_NS, uptime = 0;
	uint32_t n_svc = 0, n_dev = 0;
	bool json = false;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			rt_opt = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 't':
			if (dkctl_parse_timeout(optarg, &timeout) < 0)
				return dkctl_usage_error("status", "invalid --timeout '%s'", optarg);
			break;
		case 'h':
			status_usage(stdout);
			return DKCTL_EXIT_OK;
		default:
			return dkctl_usage_error("status", "unknown option");
		}
	}
	if (optind != argc)
		return dkctl_usage_error("status", "unexpected argument '%s'", argv[optind]);
	err = dkctl_runtime_dir(rt_opt, rt, sizeof(rt));
	if (err < 0)
		return dkctl_fail("runtime directory", err);
	err = dk_runtime_path(rt, DK_RT_SUPERVISOR_SOCKET, path, sizeof(path));
	if (err == 0)
		err = dk_supd_status(path, dk_now_ns() + timeout, svc, DK_SUPD_SERVICES_MAX, &n_svc,
				     &uptime);
	if (err < 0)
		return dkctl_fail(path, err);
	err = dk_runtime_path(rt, DK_RT_BROKER_SOCKET, path, sizeof(path));
	if (err == 0)
		err = dk_broker_status(path, dk_now_ns() + timeout, dev, DK_BROKER_DEVICES_MAX,
				       &n_dev);
	if (err < 0)
		n_dev = 0; /* the broker may be restarting: services still print */

	if (json) {
		for (uint32_t i = 0; i < n_svc; i++) {
			printf("{\"service\":");
			dkctl_json_string(stdout, svc[i].name);
			printf(",\"kind\":\"%s\",\"state\":\"%s\",\"pid\":%u,\"generation\":%" PRIu64
			       ",\"restarts\":%u,\"last_exit\":%d,\"last_signal\":%u"
			       ",\"fences_registered\":%" PRIu64 ",\"fences_reaped\":%" PRIu64
			       ",\"last_ready_ns\":%" PRIu64 "}\n",
			       svc[i].kind, dk_service_state_name(svc[i].state), svc[i].pid,
			       svc[i].generation, svc[i].restarts, svc[i].last_exit,
			       svc[i].last_signal, svc[i].fences_registered, svc[i].fences_reaped,
			       svc[i].last_ready_ns);
		}
		for (uint32_t i = 0; i < n_dev; i++) {
			printf("{\"device\":");
			dkctl_json_string(stdout, dev[i].device);
			printf(",\"class\":");
			dkctl_json_string(stdout, dev[i].device_class);
			printf(",\"service\":");
			dkctl_json_string(stdout, dev[i].service);
			printf(",\"state\":\"%s\",\"pid\":%u,\"generation\":%" PRIu64
			       ",\"sessions\":%u,\"opens\":%" PRIu64 ",\"denials\":%" PRIu64 "}\n",
			       dk_device_state_name(dev[i].state), dev[i].pid, dev[i].generation,
			       dev[i].sessions, dev[i].opens, dev[i].denials);
		}
		return DKCTL_EXIT_OK;
	}
	printf("stack in %s, up %.1f s\n\n", rt, uptime / 1e9);
	printf("%-12s %-8s %-9s %8s %5s %8s %8s %8s %10s\n", "SERVICE", "KIND", "STATE", "PID",
	       "GEN", "RESTARTS", "FENCES", "REAPED", "READY ms");
	for (uint32_t i = 0; i < n_svc; i++)
		printf("%-12s %-8s %-9s %8u %5" PRIu64 " %8u %8" PRIu64 " %8" PRIu64 " %10.2f\n",
		       svc[i].name, svc[i].kind, dk_service_state_name(svc[i].state), svc[i].pid,
		       svc[i].generation, svc[i].restarts, svc[i].fences_registered,
		       svc[i].fences_reaped, svc[i].last_ready_ns / 1e6);
	printf("\n%-12s %-8s %-12s %-10s %5s %8s %8s %8s\n", "DEVICE", "CLASS", "SERVICE", "STATE",
	       "GEN", "CLIENTS", "OPENS", "DENIALS");
	for (uint32_t i = 0; i < n_dev; i++)
		printf("%-12s %-8s %-12s %-10s %5" PRIu64 " %8u %8" PRIu64 " %8" PRIu64 "\n",
		       dev[i].device, dev[i].device_class, dev[i].service,
		       dk_device_state_name(dev[i].state), dev[i].generation, dev[i].sessions,
		       dev[i].opens, dev[i].denials);
	return DKCTL_EXIT_OK;
}

const struct dkctl_command dkctl_status_command = {
	.name = "status",
	.summary = "services and devices of a running stack",
	.run = status_run,
	.usage = status_usage,
};
