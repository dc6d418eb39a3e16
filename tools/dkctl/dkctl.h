/* SPDX-License-Identifier: MIT */
/*
 * dkctl - shared helpers of the command groups (main.c, log.c, policy.c, up.c, demo.c,
 * device.c, top.c).
 *
 * Exit status of every command: DKCTL_EXIT_OK, DKCTL_EXIT_FAIL (the operation failed; the
 * dk_strerror() text is on stderr) or DKCTL_EXIT_USAGE.
 */
#ifndef DKCTL_H
#define DKCTL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define DKCTL_EXIT_OK 0
#define DKCTL_EXIT_FAIL 1
#define DKCTL_EXIT_USAGE 2

#define DKCTL_DEFAULT_TIMEOUT_NS (5ull * 1000000000ull)

/* A command group: run() gets argv with argv[0] the group name. */
struct dkctl_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
	void (*usage)(FILE *out);
};

extern const struct dkctl_command dkctl_log_command;
extern const struct dkctl_command dkctl_policy_command;
extern const struct dkctl_command dkctl_up_command;
extern const struct dkctl_command dkctl_status_command;
extern const struct dkctl_command dkctl_demo_command;
extern const struct dkctl_command dkctl_inject_command;      /* device.c */
extern const struct dkctl_command dkctl_kill_client_command; /* device.c */
extern const struct dkctl_command dkctl_top_command;         /* top.c */
extern const struct dkctl_command dkctl_trace_command;       /* top.c */

/* The runtime directory a command talks to: @opt, else $DK_RUNTIME_DIR, else the default. */
int dkctl_runtime_dir(const char *opt, char *buf, size_t size);

/* The pid of service @name's current process, from the supervisor of the stack in @rt.
 * Returns 0; -ESRCH (no such service, or not running); the supervisor call's errors. */
int dkctl_service_pid(const char *rt, const char *name, uint64_t timeout_ns, uint32_t *ret_pid);

/* Parse SECONDS (decimal, > 0, at most one day) into nanoseconds. Returns 0 or -EINVAL. */
int dkctl_parse_timeout(const char *s, uint64_t *ret_timeout_ns);

/* Parse an unsigned decimal in [@min, @max]. Returns 0 or -EINVAL. */
int dkctl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret_value);

/* Print @s to @out as a JSON string, quotes included. */
void dkctl_json_string(FILE *out, const char *s);

/* Report a failed operation: "dkctl: WHAT: dk_strerror(err)" on stderr. Returns 1. */
int dkctl_fail(const char *what, int err);

/* Report a usage error on stderr, then a hint. Returns 2. */
int dkctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* DKCTL_H */
