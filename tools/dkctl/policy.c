/* SPDX-License-Identifier: MIT */
/*
 * dkctl policy - check a policy file offline (the dk-policy engine), read dk-policyd's
 * counters and make it reload its file (the policyd client API).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dk/error.h>
#include <dk/policy.h>
#include <dk/runtime.h>
#include <dk/time.h>

#include "dkctl.h"

static void policy_usage(FILE *out)
{
	fprintf(out, "Usage: dkctl policy check FILE [--json]\n"
		     "       dkctl policy stats --socket PATH [--json] [--timeout SECONDS]\n"
		     "       dkctl policy reload [--socket PATH | --runtime-dir DIR] [--json]\n"
		     "                           [--timeout SECONDS]\n"
		     "\n"
		     "  check FILE         validate a policy file offline: 'FILE: ok (N rules)' or\n"
		     "                     'FILE:LINE: error'; exit 0 when valid, 1 when not\n"
		     "  stats              the counters of the dk-policyd at --socket PATH\n"
		     "  reload             make dk-policyd re-read its policy file; exit 1 when\n"
		     "                     refused (invalid file: the old policy stays; not an\n"
		     "                     asker)\n"
		     "  --runtime-dir DIR  the dk-policyd at DIR/policyd.sock (reload; default\n"
		     "                     $DK_RUNTIME_DIR, else $XDG_RUNTIME_DIR/driverkit)\n"
		     "  --json             one JSON object per line\n"
		     "  --timeout SECONDS  deadline of each request (default 5)\n"
		     "  -h, --help         this text\n");
}

enum {
	OPT_SOCKET = 0x100,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_RUNTIME_DIR,
};

struct policy_opts {
	const char *socket;
	const char *runtime_dir;
	bool json;
	uint64_t timeout_ns;
};

/* Parse the options after "policy SUB". Returns -1 to go on, else an exit status. */
static int parse_opts(int argc, char **argv, bool want_socket, struct policy_opts *o)
{
	static const struct option longopts[] = {
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"json", no_argument, NULL, OPT_JSON},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_SOCKET:
			if (!want_socket)
				return dkctl_usage_error("policy", "--socket does not apply here");
			o->socket = optarg;
			break;
		case OPT_RUNTIME_DIR:
			if (!want_socket)
				return dkctl_usage_error("policy",
							 "--runtime-dir does not apply here");
			o->runtime_dir = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_TIMEOUT:
			if (dkctl_parse_timeout(optarg, &o->timeout_ns) < 0)
				return dkctl_usage_error("policy", "bad timeout '%s'", optarg);
			break;
		case 'h':
			policy_usage(stdout);
			return DKCTL_EXIT_OK;
		case ':':
			return dkctl_usage_error("policy", "option '%s' needs an argument",
						 argv[optind - 1]);
		default:
			return dkctl_usage_error("policy", "unknown option '%s'",
						 argv[optind - 1]);
		}
	}
	return -1;
}

static int policy_check(int argc, char **argv)
{
	struct policy_opts o = {.timeout_ns = DKCTL_DEFAULT_TIMEOUT_NS};
	struct dk_policy *policy;
	char msg[DK_POLICY_ERROR_MAX + 4096];
	const char *path;
	uint32_t n_rules;
	int ret, err;

	ret = parse_opts(argc, argv, false, &o);
	if (ret >= 0)
		return ret;
	if (argc - optind != 1)
		return dkctl_usage_error("policy", "policy check takes one FILE");
	path = argv[optind];

	err = dk_policy_check_file(path, msg, sizeof(msg));
	if (err == 0) {
		/* Valid: load it once more for the rule count. */
		err = dk_policy_load(path, &policy, NULL);
		if (err == 0) {
			n_rules = dk_policy_n_rules(policy);
			dk_policy_destroy(policy);
			if (o.json) {
				fputs("{\"file\":", stdout);
				dkctl_json_string(stdout, path);
				printf(",\"valid\":true,\"rules\":%u}\n", n_rules);
			} else {
				printf("%s: ok (%u rules)\n", path, n_rules);
			}
			return fflush(stdout) == 0 ? DKCTL_EXIT_OK : dkctl_fail("write", -EIO);
		}
		snprintf(msg, sizeof(msg), "%s: %s", path, dk_strerror(err));
	}
	if (o.json) {
		fputs("{\"file\":", stdout);
		dkctl_json_string(stdout, path);
		printf(",\"valid\":false,\"error\":\"%s\",\"message\":", dk_strerror(err));
		dkctl_json_string(stdout, msg);
		fputs("}\n", stdout);
	} else {
		printf("%s\n", msg);
	}
	fflush(stdout);
	fprintf(stderr, "dkctl: policy check: %s\n", dk_strerror(err));
	return DKCTL_EXIT_FAIL;
}

static int policy_stats(int argc, char **argv)
{
	struct policy_opts o = {.timeout_ns = DKCTL_DEFAULT_TIMEOUT_NS};
	struct dk_policy_client *c;
	struct dk_policy_stats s;
	int ret, err;

	ret = parse_opts(argc, argv, true, &o);
	if (ret >= 0)
		return ret;
	if (optind < argc)
		return dkctl_usage_error("policy", "unexpected argument '%s'", argv[optind]);
	if (!o.socket || o.runtime_dir)
		return dkctl_usage_error("policy", "--socket PATH is required");
	err = dk_policy_connect(o.socket, dk_deadline_in(o.timeout_ns), &c);
	if (err < 0)
		return dkctl_fail(o.socket, err);
	err = dk_policy_stats(c, dk_deadline_in(o.timeout_ns), &s);
	dk_policy_close(c);
	if (err < 0)
		return dkctl_fail("policy stats", err);
#define U(x) ((unsigned long long)(x))
	if (o.json)
		printf("{\"generation\":%llu,\"rules\":%u,\"checks\":%llu,\"allowed\":%llu,"
		       "\"denied\":%llu,\"refused\":%llu,\"askers_refused\":%llu,"
		       "\"audited\":%llu,\"unaudited\":%llu,\"reloads\":%llu,"
		       "\"reload_failures\":%llu,\"clients\":%u,\"clients_refused\":%llu}\n",
		       U(s.generation), s.rules, U(s.checks), U(s.allowed), U(s.denied),
		       U(s.refused), U(s.askers_refused), U(s.audited), U(s.unaudited),
		       U(s.reloads), U(s.reload_failures), s.clients, U(s.clients_refused));
	else
		printf("generation:      %llu\n"
		       "rules:           %u\n"
		       "checks:          %llu (%llu allowed, %llu denied)\n"
		       "refused:         %llu (%llu askers refused)\n"
		       "audited:         %llu (%llu unaudited)\n"
		       "reloads:         %llu (%llu failed)\n"
		       "clients:         %u (%llu refused)\n",
		       U(s.generation), s.rules, U(s.checks), U(s.allowed), U(s.denied),
		       U(s.refused), U(s.askers_refused), U(s.audited), U(s.unaudited),
		       U(s.reloads), U(s.reload_failures), s.clients, U(s.clients_refused));
#undef U
	return fflush(stdout) == 0 ? DKCTL_EXIT_OK : dkctl_fail("write", -EIO);
}

static int policy_reload(int argc, char **argv)
{
	struct policy_opts o = {.timeout_ns = DKCTL_DEFAULT_TIMEOUT_NS};
	struct dk_policy_error e = {0};
	struct dk_policy_client *c;
	struct dk_policy_stats s;
	char dir[DK_RT_PATH_MAX], sock[DK_RT_PATH_MAX];
	int ret, err;

	ret = parse_opts(argc, argv, true, &o);
	if (ret >= 0)
		return ret;
	if (optind < argc)
		return dkctl_usage_error("policy", "unexpected argument '%s'", argv[optind]);
	if (o.socket && o.runtime_dir)
		return dkctl_usage_error("policy", "--socket and --runtime-dir exclude each other");
	if (!o.socket) {
		if (!o.runtime_dir && getenv(DK_ENV_RUNTIME_DIR) && *getenv(DK_ENV_RUNTIME_DIR))
			o.runtime_dir = getenv(DK_ENV_RUNTIME_DIR);
		if (!o.runtime_dir) {
			if (dk_runtime_dir_default(dir, sizeof(dir)) < 0)
				return dkctl_usage_error("policy", "no runtime directory: give "
								   "--socket or --runtime-dir");
			o.runtime_dir = dir;
		}
		err = dk_runtime_path(o.runtime_dir, DK_RT_POLICYD_SOCKET, sock, sizeof(sock));
		if (err < 0)
			return dkctl_fail(o.runtime_dir, err);
		o.socket = sock;
	}
	err = dk_policy_connect(o.socket, dk_deadline_in(o.timeout_ns), &c);
	if (err < 0)
		return dkctl_fail(o.socket, err);
	err = dk_policy_reload(c, dk_deadline_in(o.timeout_ns), &e);
	if (err == 0 && dk_policy_stats(c, dk_deadline_in(o.timeout_ns), &s) < 0)
		s.generation = 0; /* reloaded; the counters are a courtesy */
	dk_policy_close(c);
	if (err == 0) {
		if (o.json && s.generation)
			printf("{\"reloaded\":true,\"generation\":%llu,\"rules\":%u}\n",
			       (unsigned long long)s.generation, s.rules);
		else if (o.json)
			printf("{\"reloaded\":true}\n");
		else if (s.generation)
			printf("policy reloaded: generation %llu, %u rules\n",
			       (unsigned long long)s.generation, s.rules);
		else
			printf("policy reloaded\n");
		return fflush(stdout) == 0 ? DKCTL_EXIT_OK : dkctl_fail("write", -EIO);
	}
	if (o.json) {
		printf("{\"reloaded\":false,\"error\":\"%s\",\"line\":%u,\"message\":",
		       dk_strerror(err), e.line);
		dkctl_json_string(stdout, e.message);
		fputs("}\n", stdout);
	} else if (e.message[0] && e.line) {
		printf("reload refused: line %u: %s\n", e.line, e.message);
	} else if (e.message[0]) {
		printf("reload refused: %s\n", e.message);
	}
	fflush(stdout);
	return dkctl_fail("policy reload", err);
}

static int policy_run(int argc, char **argv)
{
	if (argc < 2)
		return dkctl_usage_error("policy",
					 "policy needs a subcommand: check, stats or reload");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		policy_usage(stdout);
		return DKCTL_EXIT_OK;
	}
	if (!strcmp(argv[1], "check"))
		return policy_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stats"))
		return policy_stats(argc - 1, argv + 1);
	if (!strcmp(argv[1], "reload"))
		return policy_reload(argc - 1, argv + 1);
	return dkctl_usage_error("policy", "unknown policy subcommand '%s'", argv[1]);
}

const struct dkctl_command dkctl_policy_command = {
	.name = "policy",
	.summary = "check a policy file offline, read dk-policyd's counters, reload it",
	.run = policy_run,
	.usage = policy_usage,
};
