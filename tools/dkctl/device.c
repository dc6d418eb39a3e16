/* SPDX-License-Identifier: MIT */
/*
 * device.c - dkctl inject (a fault mode on an emulated device) and dkctl kill-client (end a
 * client's session), both through the broker of a running stack, which allows them to its own
 * user and root only and journals them (docs/broker.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <dk/error.h>
#include <dk/hwsim.h>
#include <dk/runtime.h>
#include <dk/time.h>

#include "broker-client.h"
#include "dkctl.h"

enum {
	OPT_RUNTIME_DIR = 0x100,
	OPT_TIMEOUT,
	OPT_JSON,
};

struct device_opts {
	const char *runtime_dir;
	uint64_t timeout_ns;
	bool json;
};

/*
 * Parse the options of @cmd (anywhere among the operands, which are left in argv[optind..]).
 * Returns -1 to go on, else an exit status (help printed, or a usage error reported).
 */
static int parse_opts(const char *cmd, int argc, char **argv, void (*usage)(FILE *out),
		      struct device_opts *o)
{
	static const struct option longopts[] = {
		{"runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	o->timeout_ns = DKCTL_DEFAULT_TIMEOUT_NS;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_RUNTIME_DIR:
			o->runtime_dir = optarg;
			break;
		case OPT_TIMEOUT:
			if (dkctl_parse_timeout(optarg, &o->timeout_ns) < 0)
				return dkctl_usage_error(cmd, "bad timeout '%s'", optarg);
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return DKCTL_EXIT_OK;
		case ':':
			return dkctl_usage_error(cmd, "option '%s' needs an argument",
						 argv[optind - 1]);
		default:
			return dkctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		}
	}
	return -1;
}

/* Whether @err says the broker itself could not be reached (then name its socket). */
static bool unreachable(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

/* The broker's socket of the stack at --runtime-dir (else the default) into @buf. */
static int broker_socket(const struct device_opts *o, char *buf, size_t size)
{
	char rt[DK_RT_PATH_MAX];
	int err = dkctl_runtime_dir(o->runtime_dir, rt, sizeof(rt));

	if (err < 0)
		return err;
	return dk_runtime_path(rt, DK_RT_BROKER_SOCKET, buf, size);
}

/* ---- inject ---- */

static void inject_usage(FILE *out)
{
	fprintf(out,
		"Usage: dkctl inject DEVICE FAULT [--runtime-dir DIR] [--timeout SECONDS]\n"
		"                    [--json]\n"
		"\n"
		"Set a fault mode on the emulated device DEVICE (dk-hwsim), through the broker.\n"
		"FAULT is one of:\n"
		"  hang      the device stops executing until reset\n"
		"  lost-irq  the next completion raises no interrupt\n"
		"  slow      each descriptor takes 50 ms more\n"
		"  corrupt   the next completed descriptor's status is wrong, its data not copied\n"
		"  dma-oob   the next descriptor's destination is outside its window (a fault)\n"
		"  none      clears the mode\n"
		"\n"
		"  --runtime-dir DIR  the stack at DIR (default $DK_RUNTIME_DIR, else\n"
		"                     $XDG_RUNTIME_DIR/driverkit)\n"
		"  --timeout SECONDS  deadline of the request (default 5)\n"
		"  --json             one JSON object\n"
		"  -h, --help         this text\n"
		"\n"
		"Only the broker's user and root may inject; every request is journaled.\n");
}

static int inject_run(int argc, char **argv)
{
	struct device_opts o = {0};
	char sock[DK_RT_PATH_MAX];
	const char *device, *name;
	uint32_t fault;
	int ret, err;

	ret = parse_opts("inject", argc, argv, inject_usage, &o);
	if (ret >= 0)
		return ret;
	if (argc - optind != 2)
		return dkctl_usage_error("inject", "inject takes a DEVICE and a FAULT");
	device = argv[optind];
	name = argv[optind + 1];
	if (dk_rt_check_name(device) < 0)
		return dkctl_usage_error("inject", "invalid device name '%s'", device);
	if (dk_hwsim_fault_parse(name, &fault) < 0)
		return dkctl_usage_error("inject",
					 "unknown fault '%s' (hang, lost-irq, slow, corrupt, "
					 "dma-oob or none)",
					 name);
	err = broker_socket(&o, sock, sizeof(sock));
	if (err < 0)
		return dkctl_fail("runtime directory", err);
	err = dk_broker_inject(sock, device, fault, dk_deadline_in(o.timeout_ns));
	if (unreachable(err))
		return dkctl_fail(sock, err);
	if (err < 0) {
		char what[DK_RT_NAME_MAX + 32];

		snprintf(what, sizeof(what), "inject %s %s", device, name);
		return dkctl_fail(what, err);
	}
	if (o.json) {
		printf("{\"device\":");
		dkctl_json_string(stdout, device);
		printf(",\"fault\":\"%s\",\"injected\":true}\n", dk_hwsim_fault_name(fault));
	} else if (fault == DK_HWSIM_FAULT_NONE) {
		printf("%s: fault mode cleared\n", device);
	} else {
		printf("%s: fault mode %s set\n", device, dk_hwsim_fault_name(fault));
	}
	return fflush(stdout) == 0 ? DKCTL_EXIT_OK : dkctl_fail("write", -EIO);
}

const struct dkctl_command dkctl_inject_command = {
	.name = "inject",
	.summary = "set a fault mode on an emulated device (hang, lost-irq, ...)",
	.run = inject_run,
	.usage = inject_usage,
};

/* ---- kill-client ---- */

static void kill_usage(FILE *out)
{
	fprintf(out,
		"Usage: dkctl kill-client DEVICE SESSION_ID [--runtime-dir DIR]\n"
		"                         [--timeout SECONDS] [--json]\n"
		"\n"
		"End the client session SESSION_ID of DEVICE: the broker has the device's service\n"
		"end it (reason client-killed). The session id is the one OPEN granted (the\n"
		"broker's journal has it, scope broker.open).\n"
		"\n"
		"  --runtime-dir DIR  the stack at DIR (default $DK_RUNTIME_DIR, else\n"
		"                     $XDG_RUNTIME_DIR/driverkit)\n"
		"  --timeout SECONDS  deadline of the request (default 5)\n"
		"  --json             one JSON object\n"
		"  -h, --help         this text\n"
		"\n"
		"Only the broker's user and root may kill clients; every request is journaled.\n"
		"Exit 1 with 'no such process' when the service has no such session.\n");
}

static int kill_run(int argc, char **argv)
{
	struct device_opts o = {0};
	char sock[DK_RT_PATH_MAX];
	const char *device;
	uint64_t session_id;
	int ret, err;

	ret = parse_opts("kill-client", argc, argv, kill_usage, &o);
	if (ret >= 0)
		return ret;
	if (argc - optind != 2)
		return dkctl_usage_error("kill-client",
					 "kill-client takes a DEVICE and a SESSION_ID");
	device = argv[optind];
	if (dk_rt_check_name(device) < 0)
		return dkctl_usage_error("kill-client", "invalid device name '%s'", device);
	if (dkctl_parse_u64(argv[optind + 1], 1, UINT64_MAX, &session_id) < 0)
		return dkctl_usage_error("kill-client", "bad session id '%s'", argv[optind + 1]);
	err = broker_socket(&o, sock, sizeof(sock));
	if (err < 0)
		return dkctl_fail("runtime directory", err);
	err = dk_broker_kill_client(sock, device, session_id, dk_deadline_in(o.timeout_ns));
	if (unreachable(err))
		return dkctl_fail(sock, err);
	if (err < 0) {
		char what[DK_RT_NAME_MAX + 48];

		snprintf(what, sizeof(what), "kill-client %s %" PRIu64, device, session_id);
		return dkctl_fail(what, err);
	}
	if (o.json) {
		printf("{\"device\":");
		dkctl_json_string(stdout, device);
		printf(",\"session\":%" PRIu64 ",\"killed\":true}\n", session_id);
	} else {
		printf("%s: session %" PRIu64 " ended\n", device, session_id);
	}
	return fflush(stdout) == 0 ? DKCTL_EXIT_OK : dkctl_fail("write", -EIO);
}

const struct dkctl_command dkctl_kill_client_command = {
	.name = "kill-client",
	.summary = "end a client's session on a device",
	.run = kill_run,
	.usage = kill_usage,
};
