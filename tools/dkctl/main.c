/* SPDX-License-Identifier: MIT */
/*
 * dkctl - the DriverKit control tool: run the stack (up, demo), inspect it (status, log, top,
 * trace), check and reload policy, inject device faults and cut clients off (inject,
 * kill-client).
 *
 * Exit status: 0 on success, 1 when an operation failed (the reason on stderr), 2 for a usage
 * error. man/dkctl.1 has the commands.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dk/error.h>

#include "dkctl.h"

static const struct dkctl_command *const commands[] = {
	&dkctl_up_command,
	&dkctl_status_command,
	&dkctl_demo_command,
	&dkctl_log_command,
	&dkctl_policy_command,
	&dkctl_inject_command,
	&dkctl_kill_client_command,
	&dkctl_top_command,
	&dkctl_trace_command,
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage: dkctl COMMAND [ARGS...]\n"
		     "       dkctl help [COMMAND]\n"
		     "\n"
		     "Control and inspect a DriverKit stack.\n"
		     "\n"
		     "Commands:\n");
	for (i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-11s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out, "\n"
		     "Every command that prints data takes --json (one JSON object per line).\n"
		     "Exit status: 0 success, 1 failed operation, 2 usage error.\n");
}

static const struct dkctl_command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

int dkctl_parse_timeout(const char *s, uint64_t *ret_timeout_ns)
{
	double v;
	char *end;

	if (!s[0])
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v <= 0.0 || v > 86400.0)
		return -EINVAL;
	*ret_timeout_ns = (uint64_t)(v * 1e9);
	if (*ret_timeout_ns == 0)
		*ret_timeout_ns = 1;
	return 0;
}

int dkctl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret_value)
{
	unsigned long long v;
	char *end;

	if (!s[0] || s[0] == '-' || s[0] == '+' || s[0] == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret_value = v;
	return 0;
}

void dkctl_json_string(FILE *out, const char *s)
{
	const unsigned char *p;

	fputc('"', out);
	for (p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

int dkctl_fail(const char *what, int err)
{
	const char *text = dk_strerror(err);

	/* Errors outside the DriverKit vocabulary get the system's text as well. */
	if (strcmp(text, "unknown error") == 0) /* dk/error.h: outside the vocabulary */
		fprintf(stderr, "dkctl: %s: %s (%s)\n", what, text, strerror(err < 0 ? -err : err));
	else
		fprintf(stderr, "dkctl: %s: %s\n", what, text);
	return DKCTL_EXIT_FAIL;
}

int dkctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("dkctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'dkctl help%s%s'.\n", cmd ? " " : "", cmd ? cmd : "");
	return DKCTL_EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const struct dkctl_command *cmd;

	if (argc < 2)
		return usage(stderr), DKCTL_EXIT_USAGE;
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return DKCTL_EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc == 2) {
			usage(stdout);
			return DKCTL_EXIT_OK;
		}
		if (argc > 3)
			return dkctl_usage_error(NULL, "help takes one command");
		cmd = find_command(argv[2]);
		if (!cmd)
			return dkctl_usage_error(NULL, "unknown command '%s'", argv[2]);
		cmd->usage(stdout);
		return DKCTL_EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (!cmd)
		return dkctl_usage_error(NULL, "unknown command '%s'", argv[1]);
	return cmd->run(argc - 1, argv + 1);
}
