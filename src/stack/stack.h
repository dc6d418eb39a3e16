/* SPDX-License-Identifier: MIT */
/*
 * stack.h - run a private DriverKit stack from a tool or a test (static library dk-stack):
 * dk-supervisor as a child of the calling process, in a runtime directory of its choice.
 */
#ifndef DK_STACK_H
#define DK_STACK_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A stack run by a tool or a test: dk-supervisor as a child of this process. */
struct dk_stack {
	char runtime_dir[PATH_MAX];
	char manifest[PATH_MAX];
	char policy[PATH_MAX];
	char hwsim[PATH_MAX];
	bool made_dir, wrote_manifest, wrote_policy, wrote_hwsim;
	bool quiet; /* dk_stack_start(): the supervisor's stdout and stderr to /dev/null */
	pid_t pid;
};

/* The directories searched for the stack's binaries: $DK_BIN_PATH, else beside the running
 * executable (an install) or the build tree it was built in. Returns 0 or -errno. */
int dk_stack_bin_path(char *buf, size_t size);

/* The executable @name (e.g. "dk-hwsim") in the first of those directories that has it, into
 * @out. Returns 0, -ENOENT, or dk_stack_bin_path()'s error. */
int dk_stack_find_bin(const char *name, char *out, size_t size);

/* Write the default manifest and policy (one null device, this uid allowed) into @conf_dir. */
int dk_stack_write_config(struct dk_stack *st, const char *conf_dir);

/* Flags of dk_stack_write_config_ex(). */
#define DK_STACK_COPY (1u << 0) /* also dk-hwsim with a copy engine, copy0, and dk-copy */
/*
 * Restart a crashed service after 1 ms, every time: restart_delay_ms = restart_delay_max_ms = 1
 * and restart_window_ms = 1 (a crash is forgotten 1 ms later, so none reaches the crash-loop
 * limit). For tools that kill services on purpose, over and over (dk-bench's R1 and R2).
 */
#define DK_STACK_FAST_RESTART (1u << 1)
/* dk_stack_start_private() only: the stack's stdout and stderr go to /dev/null (its journal
 * still has every record), for tools whose own output must stay readable. */
#define DK_STACK_QUIET (1u << 2)

/* dk_stack_write_config with @flags: 0 is the default stack, DK_STACK_COPY adds the board,
 * DK_STACK_FAST_RESTART drops the restart back-off. */
int dk_stack_write_config_ex(struct dk_stack *st, const char *conf_dir, uint32_t flags);

/* Start dk-supervisor on st->manifest in st->runtime_dir; wait for the stack to be ready. */
int dk_stack_start(struct dk_stack *st, uint64_t deadline_ns);

/*
 * dk_stack_start_private - the usual whole run: a fresh runtime directory from the mkdtemp
 * @template (ending in XXXXXX), the default configuration with @flags written into it, and the
 * stack started. On failure everything is undone (dk_stack_stop()) and -errno returned.
 */
int dk_stack_start_private(struct dk_stack *st, const char *template, uint32_t flags,
			   uint64_t deadline_ns);

/* SIGTERM the supervisor, wait for it (SIGKILL at @deadline_ns), remove what dkctl wrote. */
int dk_stack_stop(struct dk_stack *st, uint64_t deadline_ns, int *ret_status);

#endif /* DK_STACK_H */
