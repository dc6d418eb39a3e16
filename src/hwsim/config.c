/* SPDX-License-Identifier: MIT */
/*
 * config.c - the board configuration (hwsim-board.h, docs/hwsim.md "Configuration").
 *
 * inih does the key = value syntax. We feed it the file ourselves through a line reader, which
 * gives us exact line numbers, catches over-long lines before inih would split them, and sees
 * section headers (inih reports only keys, and truncates section names to 50 bytes): a section
 * exists, with its line, even when it has no key.
 */
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hwsim-board.h"

/* Longest accepted line, without its line ending. */
#define CONFIG_LINE_MAX 192u

struct parse {
	FILE *f;
	uint32_t line; /* lines handed to inih so far */
	int cur;       /* device section: CUR_NONE before the first, CUR_BAD after a bad one */
	struct dk_hwsim_config cfg;
	bool model_seen[DK_HWSIM_DEVICES_MAX];
	struct dk_hwsim_config_error *error;
	bool failed;
	int read_error;
};

#define CUR_NONE (-1)
#define CUR_BAD (-2)

static const char *const model_names[] = {
	[DK_HWSIM_MODEL_NULL] = "null",
	[DK_HWSIM_MODEL_COPY] = "copy",
};

const char *dk_hwsim_model_name(uint32_t model)
{
	if (model < sizeof(model_names) / sizeof(model_names[0]) && model_names[model])
		return model_names[model];
	return "unknown";
}

int dk_hwsim_model_parse(const char *name, uint32_t *ret_model)
{
	if (!name || !ret_model)
		return -EINVAL;
	for (uint32_t i = 0; i < sizeof(model_names) / sizeof(model_names[0]); i++) {
		if (model_names[i] && strcmp(name, model_names[i]) == 0) {
			*ret_model = i;
			return 0;
		}
	}
	return -EINVAL;
}

/*
 * Record an error at @line unless one on an earlier line is already recorded (line 0, the file
 * as a whole, only when there is no other).
 */
__attribute__((format(printf, 3, 4))) static void fail(struct parse *p, uint32_t line,
						       const char *fmt, ...)
{
	va_list ap;

	if (p->failed && (line == 0 || line >= p->error->line))
		return;
	p->failed = true;
	p->error->line = line;
	va_start(ap, fmt);
	vsnprintf(p->error->message, sizeof(p->error->message), fmt, ap);
	va_end(ap);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * A section header: "[device NAME]", optionally followed by a comment. Anything else that
 * starts with '[' is an error here, so inih's own section handling never matters.
 */
static void section(struct parse *p, const char *s)
{
	char name[DK_RT_NAME_MAX + 2];
	const char *end = strchr(s, ']'), *q;
	size_t n;

	p->cur = CUR_BAD;
	if (!end) {
		fail(p, p->line, "section header without ']'");
		return;
	}
	for (q = end + 1; is_blank(*q); q++)
		;
	if (*q && *q != ';' && *q != '#') {
		fail(p, p->line, "text after the section header");
		return;
	}
	s++; /* past '[' */
	if (strncmp(s, "device", 6) != 0 || !is_blank(s[6])) {
		fail(p, p->line, "unknown section (expected [device NAME])");
		return;
	}
	for (s += 6; is_blank(*s); s++)
		;
	for (q = end; q > s && is_blank(q[-1]); q--)
		;
	n = (size_t)(q - s);
	if (n == 0 || n > DK_RT_NAME_MAX) {
		fail(p, p->line, "device name must be 1..%u bytes", DK_RT_NAME_MAX);
		return;
	}
	memcpy(name, s, n);
	name[n] = '\0';
	if (dk_rt_check_name(name) < 0) {
		fail(p, p->line, "invalid device name \"%s\" (allowed: A-Z a-z 0-9 . _ -)", name);
		return;
	}
	for (uint32_t i = 0; i < p->cfg.n_devices; i++) {
		if (strcmp(p->cfg.devices[i].name, name) == 0) {
			fail(p, p->line, "device \"%s\" already defined on line %u", name,
			     p->cfg.devices[i].line);
			return;
		}
	}
	if (p->cfg.n_devices >= DK_HWSIM_DEVICES_MAX) {
		fail(p, p->line, "more than %u devices", DK_HWSIM_DEVICES_MAX);
		return;
	}
	p->cur = (int)p->cfg.n_devices++;
	memcpy(p->cfg.devices[p->cur].name, name, n + 1);
	p->cfg.devices[p->cur].line = p->line;
}

/* inih's reader: one physical line per call, checked and counted here. */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char buf[CONFIG_LINE_MAX + 3];
	size_t n;
	bool whole;
	const char *s;

	if (!fgets(buf, sizeof(buf), p->f)) {
		if (ferror(p->f))
			p->read_error = -EIO;
		return NULL;
	}
	p->line++;
	n = strlen(buf);
	whole = n > 0 && buf[n - 1] == '\n';
	if (!whole && !feof(p->f)) {
		int c;

		/* Too long: swallow the rest so the next call starts on the next line. */
		while ((c = fgetc(p->f)) != EOF && c != '\n')
			;
		fail(p, p->line, "line longer than %u bytes", CONFIG_LINE_MAX);
		buf[0] = '\0';
		n = 0;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (n > CONFIG_LINE_MAX || num < 3 || n > (size_t)num - 3) {
		fail(p, p->line, "line longer than %u bytes", CONFIG_LINE_MAX);
		buf[0] = '\0';
		n = 0;
	}
	for (s = buf; is_blank(*s); s++)
		;
	if (s != buf && *s && *s != ';' && *s != '#') {
		/* inih would take it as a continuation of the previous value. */
		fail(p, p->line, "indented line (continuation lines are not supported)");
		buf[0] = '\0';
		n = 0;
	} else if (*s == '[') {
		section(p, s);
		buf[0] = '\0'; /* handled: inih sees a blank line */
		n = 0;
	}
	memcpy(str, buf, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* inih's handler: one key = value of the current section. */
static int handler(void *user, const char *sect, const char *name, const char *value)
{
	struct parse *p = user;
	struct dk_hwsim_device_config *d;
	uint32_t model;

	(void)sect; /* truncated by inih to 50 bytes: the reader tracks sections itself */
	if (p->cur == CUR_BAD)
		return 1; /* inside a section already refused */
	if (p->cur == CUR_NONE) {
		fail(p, p->line, "\"%s\" outside a [device NAME] section", name);
		return 1;
	}
	d = &p->cfg.devices[p->cur];
	if (strcmp(name, "model") != 0) {
		fail(p, p->line, "unknown key \"%s\" (devices have: model)", name);
		return 1;
	}
	if (p->model_seen[p->cur]) {
		fail(p, p->line, "model of device \"%s\" given twice", d->name);
		return 1;
	}
	p->model_seen[p->cur] = true; /* a bad one is reported here, not as a missing one */
	if (dk_hwsim_model_parse(value, &model) < 0) {
		fail(p, p->line, "unknown model \"%s\" (models: copy, null)", value);
		return 1;
	}
	d->model = model;
	return 1;
}

int dk_hwsim_config_load(const char *path, struct dk_hwsim_config *ret_cfg,
			 struct dk_hwsim_config_error *error)
{
	struct parse *p;
	int ret, err = 0;

	if (!path || !ret_cfg || !error)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->f = fopen(path, "re");
	if (!p->f) {
		err = -errno;
		free(p);
		return err;
	}
	p->cur = CUR_NONE;
	p->error = error;
	ret = ini_parse_stream(reader, p, handler, p);
	fclose(p->f);
	if (p->read_error) {
		err = p->read_error;
		goto out;
	}
	if (ret == -2) {
		err = -ENOMEM;
		goto out;
	}
	if (ret > 0) /* inih's own syntax error: kept when it is the first */
		fail(p, (uint32_t)ret, "syntax error (expected \"key = value\" or [device NAME])");
	for (uint32_t i = 0; i < p->cfg.n_devices; i++)
		if (!p->model_seen[i])
			fail(p, p->cfg.devices[i].line, "device \"%s\" has no model",
			     p->cfg.devices[i].name);
	if (p->cfg.n_devices == 0)
		fail(p, 0, "no [device NAME] section");
	if (p->failed) {
		err = -EINVAL;
		goto out;
	}
	*ret_cfg = p->cfg;
out:
	free(p);
	return err;
}
