/* SPDX-License-Identifier: MIT */
/*
 * manifest.h - the dk-supervisor manifest: an INI file (read with libinih) naming the stack's
 * timing numbers, the policy file and every service to run (docs/supervisor.md, "Manifest").
 *
 * Parsing is strict and stops at the first error, which is reported with its line: unknown
 * sections and keys, duplicates, numbers outside their documented range, a stack without
 * exactly one logd, one policyd and one broker, and one with more than one hwsim are all
 * refused. Nothing here prints and nothing here touches the file system except
 * dk_supd_manifest_load() and dk_supd_resolve_exec().
 */
#ifndef DK_SUPD_MANIFEST_H
#define DK_SUPD_MANIFEST_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <dk/runtime.h>

#define DK_SUPD_MANIFEST_MAX (64u * 1024u) /* bytes of a manifest file */
#define DK_SUPD_LINE_MAX 196u              /* bytes of one line, without its newline */
#define DK_SUPD_ARGS_MAX 32u               /* extra arguments of one service */
#define DK_SUPD_MESSAGE_MAX 256u

/* The [stack] numbers: defaults and inclusive ranges (docs/supervisor.md, "Numbers"). */
#define DK_SUPD_RESTART_DELAY_DEFAULT 100u
#define DK_SUPD_RESTART_DELAY_MIN 1u
#define DK_SUPD_RESTART_DELAY_MAX 600000u
#define DK_SUPD_RESTART_DELAY_MAX_DEFAULT 5000u /* restart_delay_max_ms */
#define DK_SUPD_RESTART_LIMIT_DEFAULT 5u
#define DK_SUPD_RESTART_LIMIT_MAX 1000u /* 0..this */
#define DK_SUPD_RESTART_WINDOW_DEFAULT 60000u
#define DK_SUPD_RESTART_WINDOW_MIN 1u
#define DK_SUPD_RESTART_WINDOW_MAX 86400000u /* a day */
#define DK_SUPD_START_TIMEOUT_DEFAULT 5000u
#define DK_SUPD_STOP_TIMEOUT_DEFAULT 3000u
#define DK_SUPD_TIMEOUT_MIN 1u
#define DK_SUPD_TIMEOUT_MAX 600000u /* DK_WAIT_MAX_NS */
#define DK_SUPD_CRASH_LOG_LINES_DEFAULT 5u
#define DK_SUPD_CRASH_LOG_LINES_MAX 64u /* 0..this */

enum dk_supd_kind {
	DK_SUPD_KIND_LOGD = 1,
	DK_SUPD_KIND_POLICYD = 2,
	DK_SUPD_KIND_BROKER = 3,
	DK_SUPD_KIND_DEVICE = 4,
	DK_SUPD_KIND_HWSIM = 5, /* the emulated board, dk-hwsim (at most one) */
};
#define DK_SUPD_KIND_MAX DK_SUPD_KIND_HWSIM

/* dk_supd_kind_name - "logd", "policyd", "broker", "device", "hwsim"; "unknown". Static. */
const char *dk_supd_kind_name(uint32_t kind);

/* One [service NAME] section. Strings are NUL-terminated; unset ones are empty. */
struct dk_supd_service_cfg {
	char name[DK_RT_NAME_MAX + 1];
	uint32_t kind; /* enum dk_supd_kind */
	char exec[DK_SUPD_LINE_MAX + 1]; /* as written in the manifest */
	char args[DK_SUPD_LINE_MAX + 1]; /* as written; dk_supd_split_args() splits it */
	char device[DK_RT_NAME_MAX + 1]; /* kind = device only */
	char device_class[DK_RT_NAME_MAX + 1];
	/* kind = hwsim only: the board's configuration file, passed as --config; as written by
	 * dk_supd_manifest_parse(), made absolute by dk_supd_manifest_load(). Empty: none. */
	char config[PATH_MAX];
	uint32_t line;        /* of the section header */
	uint32_t exec_line;   /* of the exec key */
	uint32_t config_line; /* of the config key, 0 when none */
};

struct dk_supd_manifest {
	uint32_t restart_delay_ms;
	uint32_t restart_delay_max_ms;
	uint32_t restart_limit;
	uint32_t restart_window_ms;
	uint32_t start_timeout_ms;
	uint32_t stop_timeout_ms;
	uint32_t crash_log_lines;
	char policy[PATH_MAX]; /* as written; made absolute by dk_supd_manifest_load() */
	uint32_t policy_line;
	uint32_t n_services;
	struct dk_supd_service_cfg services[DK_SUPD_SERVICES_MAX];
};

/* Why a manifest was refused: the first error in the file. @line is 0 when no line applies. */
struct dk_supd_manifest_error {
	uint32_t line;
	char message[DK_SUPD_MESSAGE_MAX];
};

/*
 * dk_supd_manifest_parse - check @len bytes of manifest text into @ret_manifest (the caller's
 * memory; written whole, also on error, but meaningful only on success).
 * @ret_error: optional; the first error (line and message) when the text is refused.
 * Returns 0; -EINVAL (invalid manifest); -EFBIG (over DK_SUPD_MANIFEST_MAX).
 */
int dk_supd_manifest_parse(const char *text, size_t len, struct dk_supd_manifest *ret_manifest,
			   struct dk_supd_manifest_error *ret_error);

/*
 * dk_supd_manifest_load - read and parse the file @path, then make the policy path and the
 * config path of a kind hwsim service absolute (a relative one is relative to the manifest's
 * directory).
 * @ret_manifest: allocated; the caller frees it with free().
 * Returns 0; the errors of dk_supd_manifest_parse(); -ENAMETOOLONG; -errno of reading the file
 * (with @ret_error's message saying so and line 0).
 */
int dk_supd_manifest_load(const char *path, struct dk_supd_manifest **ret_manifest,
			  struct dk_supd_manifest_error *ret_error);

/*
 * dk_supd_manifest_dir - the directory of manifest @path, absolute, into @buf.
 * Returns 0; -ENAMETOOLONG; -errno of getcwd().
 */
int dk_supd_manifest_dir(const char *path, char *buf, size_t size);

/*
 * dk_supd_resolve_exec - the executable a service's exec value names, into @buf.
 * An absolute path is taken as it is; a relative path with a '/' is relative to @manifest_dir;
 * a bare name is searched in each directory of @bin_path (':'-separated, may be NULL), then of
 * $DK_BIN_PATH, then in @self_dir (the supervisor's own directory, may be NULL).
 * Returns 0 when the result is an executable regular file; -ENOENT (not found); -EACCES (found,
 * not executable); -ENAMETOOLONG.
 */
int dk_supd_resolve_exec(const char *exec, const char *manifest_dir, const char *bin_path,
			 const char *self_dir, char *buf, size_t size);

/*
 * dk_supd_split_args - split @args on blanks into at most @max words.
 * @buf: the caller's copy of @args, cut in place; @argv receives pointers into it.
 * Returns the number of words; -E2BIG when there are more than @max.
 */
int dk_supd_split_args(char *buf, char **argv, size_t max);

#endif /* DK_SUPD_MANIFEST_H */
