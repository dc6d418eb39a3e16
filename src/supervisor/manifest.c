/* SPDX-License-Identifier: MIT */
/*
 * manifest.c - the dk-supervisor manifest (manifest.h): INI text checked line by line.
 *
 * As in the policy engine, libinih reads lines through our reader, which counts lines itself,
 * refuses what inih would silently accept (over-long lines, continuation lines, NUL bytes) and
 * parses the section headers, so that an empty or duplicated section is reported with its line.
 * Parsing stops at the first error.
 */
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dk/frame.h>

#include "ini-line.h"
#include "manifest.h"

enum stack_key {
	SK_RESTART_DELAY,
	SK_RESTART_DELAY_MAX,
	SK_RESTART_LIMIT,
	SK_RESTART_WINDOW,
	SK_START_TIMEOUT,
	SK_STOP_TIMEOUT,
	SK_CRASH_LOG_LINES,
	SK_POLICY,
	SK_COUNT
};

static const struct {
	const char *name;
	uint32_t min, max;
} stack_keys[SK_COUNT] = {
	[SK_RESTART_DELAY] = {"restart_delay_ms", DK_SUPD_RESTART_DELAY_MIN,
			      DK_SUPD_RESTART_DELAY_MAX},
	[SK_RESTART_DELAY_MAX] = {"restart_delay_max_ms", DK_SUPD_RESTART_DELAY_MIN,
				  DK_SUPD_RESTART_DELAY_MAX},
	[SK_RESTART_LIMIT] = {"restart_limit", 0, DK_SUPD_RESTART_LIMIT_MAX},
	[SK_RESTART_WINDOW] = {"restart_window_ms", DK_SUPD_RESTART_WINDOW_MIN,
			       DK_SUPD_RESTART_WINDOW_MAX},
	[SK_START_TIMEOUT] = {"start_timeout_ms", DK_SUPD_TIMEOUT_MIN, DK_SUPD_TIMEOUT_MAX},
	[SK_STOP_TIMEOUT] = {"stop_timeout_ms", DK_SUPD_TIMEOUT_MIN, DK_SUPD_TIMEOUT_MAX},
	[SK_CRASH_LOG_LINES] = {"crash_log_lines", 0, DK_SUPD_CRASH_LOG_LINES_MAX},
	[SK_POLICY] = {"policy", 0, 0},
};

enum service_key { VK_KIND, VK_EXEC, VK_ARGS, VK_DEVICE, VK_CLASS, VK_CONFIG, VK_COUNT };

static const char *const service_keys[VK_COUNT] = {"kind",   "exec",  "args",
						   "device", "class", "config"};

enum section { SEC_NONE, SEC_STACK, SEC_SERVICE };

struct parser {
	const char *pos, *end;
	uint32_t line;
	enum section section;
	uint32_t stack_line; /* of [stack], 0 when not seen */
	uint32_t stack_key_line[SK_COUNT];
	uint32_t service_key_line[DK_SUPD_SERVICES_MAX][VK_COUNT];
	struct dk_supd_manifest *m;
	struct dk_supd_manifest_error err; /* err.message[0] != 0: failed */
	int errcode;
};

const char *dk_supd_kind_name(uint32_t kind)
{
	switch (kind) {
	case DK_SUPD_KIND_LOGD:
		return "logd";
	case DK_SUPD_KIND_POLICYD:
		return "policyd";
	case DK_SUPD_KIND_BROKER:
		return "broker";
	case DK_SUPD_KIND_DEVICE:
		return "device";
	case DK_SUPD_KIND_HWSIM:
		return "hwsim";
	default:
		return "unknown";
	}
}

static bool failed(const struct parser *p)
{
	return p->err.message[0] != '\0';
}

__attribute__((format(printf, 3, 4))) static void fail(struct parser *p, uint32_t line,
						      const char *fmt, ...)
{
	va_list ap;

	if (failed(p))
		return;
	p->err.line = line;
	va_start(ap, fmt);
	vsnprintf(p->err.message, sizeof(p->err.message), fmt, ap);
	va_end(ap);
	if (!p->errcode)
		p->errcode = -EINVAL;
}

/* A name of 1..DK_RT_NAME_MAX bytes of [A-Za-z0-9._-], given by pointer and length. */
static bool name_ok(const char *s, size_t n)
{
	char buf[DK_RT_NAME_MAX + 1];

	if (n == 0 || n > DK_RT_NAME_MAX)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return dk_rt_check_name(buf) == 0;
}

static void service_header(struct parser *p, const char *name, size_t n)
{
	struct dk_supd_manifest *m = p->m;
	struct dk_supd_service_cfg *s;

	if (!name_ok(name, n)) {
		fail(p, p->line, "invalid service name '%.*s' (1..%u of [A-Za-z0-9._-])", (int)n,
		     name, DK_RT_NAME_MAX);
		return;
	}
	for (uint32_t i = 0; i < m->n_services; i++) {
		if (strlen(m->services[i].name) == n && !memcmp(m->services[i].name, name, n)) {
			fail(p, p->line, "duplicate service '%s' (first at line %u)",
			     m->services[i].name, m->services[i].line);
			return;
		}
	}
	if (m->n_services == DK_SUPD_SERVICES_MAX) {
		fail(p, p->line, "more than %u services", DK_SUPD_SERVICES_MAX);
		return;
	}
	s = &m->services[m->n_services++];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, name, n);
	s->line = p->line;
	p->section = SEC_SERVICE;
}

/* "[stack]" or "[service NAME]", with optional blanks and a trailing comment. */
static void section_header(struct parser *p, const char *s, size_t len)
{
	const char *close = memchr(s, ']', len), *rest, *word, *wend, *name, *nend;

	p->section = SEC_NONE;
	if (!close) {
		fail(p, p->line, "section header without ']'");
		return;
	}
	for (rest = close + 1; rest < s + len && dk_ini_is_blank(*rest); rest++)
		;
	if (rest < s + len && *rest != ';' && *rest != '#') {
		fail(p, p->line, "text after the section header");
		return;
	}
	for (word = s + 1; word < close && dk_ini_is_blank(*word); word++)
		;
	for (wend = word; wend < close && !dk_ini_is_blank(*wend); wend++)
		;
	for (name = wend; name < close && dk_ini_is_blank(*name); name++)
		;
	for (nend = close; nend > name && dk_ini_is_blank(nend[-1]); nend--)
		;
	if (wend - word == 5 && !memcmp(word, "stack", 5) && name == nend) {
		if (p->stack_line) {
			fail(p, p->line, "duplicate [stack] section (first at line %u)",
			     p->stack_line);
			return;
		}
		p->stack_line = p->line;
		p->section = SEC_STACK;
		return;
	}
	if (wend - word == 7 && !memcmp(word, "service", 7) && name < nend) {
		service_header(p, name, (size_t)(nend - name));
		return;
	}
	fail(p, p->line, "unknown section '%.*s' (expected [stack] or [service NAME])",
	     (int)(close - s - 1), s + 1);
}

/* The ini_reader: one line of the text per call, checked (ini-line.h). */
static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	const char *s;
	size_t len;

	if (failed(p) || p->pos >= p->end)
		return NULL;
	p->line++;
	switch (dk_ini_take_line(&p->pos, p->end, DK_SUPD_LINE_MAX, num, &s, &len)) {
	case DK_INI_LINE_OK:
		break;
	case DK_INI_LINE_TOO_LONG:
		fail(p, p->line, "line longer than %u bytes", DK_SUPD_LINE_MAX);
		return NULL;
	case DK_INI_LINE_NUL:
		fail(p, p->line, "NUL byte in the file");
		return NULL;
	case DK_INI_LINE_INDENTED:
		fail(p, p->line, "indented line (continuation lines are not allowed)");
		return NULL;
	}
	if (len > 0 && s[0] == '[') {
		section_header(p, s, len);
		if (failed(p))
			return NULL;
	}
	return dk_ini_give_line(str, s, len);
}

/* A decimal number without sign or suffix. -EINVAL: not a number; -ERANGE: over UINT32_MAX. */
static int parse_u32(const char *v, uint32_t *ret)
{
	uint64_t x = 0;
	const char *s = v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		x = x * 10 + (uint64_t)(*s - '0');
		if (x > UINT32_MAX)
			return -ERANGE;
	}
	if (*s)
		return -EINVAL;
	*ret = (uint32_t)x;
	return 0;
}

static void stack_key(struct parser *p, const char *name, const char *value)
{
	struct dk_supd_manifest *m = p->m;
	uint32_t *fields[SK_COUNT] = {
		[SK_RESTART_DELAY] = &m->restart_delay_ms,
		[SK_RESTART_DELAY_MAX] = &m->restart_delay_max_ms,
		[SK_RESTART_LIMIT] = &m->restart_limit,
		[SK_RESTART_WINDOW] = &m->restart_window_ms,
		[SK_START_TIMEOUT] = &m->start_timeout_ms,
		[SK_STOP_TIMEOUT] = &m->stop_timeout_ms,
		[SK_CRASH_LOG_LINES] = &m->crash_log_lines,
	};
	enum stack_key k;
	uint32_t x;
	int err;

	for (k = 0; k < SK_COUNT; k++)
		if (!strcmp(name, stack_keys[k].name))
			break;
	if (k == SK_COUNT) {
		fail(p, p->line, "[stack]: unknown key '%s'", name);
		return;
	}
	if (p->stack_key_line[k]) {
		fail(p, p->line, "[stack]: duplicate key '%s' (first at line %u)", name,
		     p->stack_key_line[k]);
		return;
	}
	p->stack_key_line[k] = p->line;
	if (k == SK_POLICY) {
		if (strlen(value) >= sizeof(m->policy))
			fail(p, p->line, "[stack]: policy path too long");
		strcpy(m->policy, value);
		m->policy_line = p->line;
		return;
	}
	err = parse_u32(value, &x);
	if (err < 0 || x < stack_keys[k].min || x > stack_keys[k].max) {
		fail(p, p->line, "[stack]: %s '%s' %s (%u..%u)", name, value,
		     err == -EINVAL ? "is not a number" : "is out of range", stack_keys[k].min,
		     stack_keys[k].max);
		return;
	}
	*fields[k] = x;
}

static void service_key(struct parser *p, const char *name, const char *value)
{
	uint32_t idx = p->m->n_services - 1;
	struct dk_supd_service_cfg *s = &p->m->services[idx];
	uint32_t *key_line = p->service_key_line[idx];
	char buf[DK_SUPD_LINE_MAX + 1], *argv[DK_SUPD_ARGS_MAX];
	enum service_key k;

	for (k = 0; k < VK_COUNT; k++)
		if (!strcmp(name, service_keys[k]))
			break;
	if (k == VK_COUNT) {
		fail(p, p->line, "service '%s': unknown key '%s'", s->name, name);
		return;
	}
	if (key_line[k]) {
		fail(p, p->line, "service '%s': duplicate key '%s' (first at line %u)", s->name,
		     name, key_line[k]);
		return;
	}
	key_line[k] = p->line;
	switch (k) {
	case VK_KIND:
		for (uint32_t kind = DK_SUPD_KIND_LOGD; kind <= DK_SUPD_KIND_MAX; kind++)
			if (!strcmp(value, dk_supd_kind_name(kind)))
				s->kind = kind;
		if (!s->kind)
			fail(p, p->line,
			     "service '%s': invalid kind '%s' (logd, policyd, broker, hwsim or "
			     "device)",
			     s->name, value);
		break;
	case VK_EXEC:
		strcpy(s->exec, value); /* the line cap bounds it */
		s->exec_line = p->line;
		break;
	case VK_ARGS:
		strcpy(s->args, value);
		strcpy(buf, value);
		if (dk_supd_split_args(buf, argv, DK_SUPD_ARGS_MAX) < 0)
			fail(p, p->line, "service '%s': more than %u arguments", s->name,
			     DK_SUPD_ARGS_MAX);
		break;
	case VK_DEVICE:
	case VK_CLASS:
		if (dk_rt_check_name(value) < 0) {
			fail(p, p->line, "service '%s': invalid %s name '%s' (1..%u of "
					 "[A-Za-z0-9._-])",
			     s->name, name, value, DK_RT_NAME_MAX);
			break;
		}
		strcpy(k == VK_DEVICE ? s->device : s->device_class, value);
		break;
	case VK_CONFIG:
		strcpy(s->config, value); /* the line cap bounds it */
		s->config_line = p->line;
		break;
	case VK_COUNT:
		break;
	}
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;

	(void)section; /* ours, from the reader: inih's copy does not know about errors */
	if (failed(p))
		return 0;
	if (p->section == SEC_NONE) {
		fail(p, p->line, "key '%s' outside a [stack] or [service NAME] section", name);
		return 0;
	}
	if (!*value) {
		fail(p, p->line, "key '%s' without a value", name);
		return 0;
	}
	if (p->section == SEC_STACK)
		stack_key(p, name, value);
	else
		service_key(p, name, value);
	return failed(p) ? 0 : 1;
}

/* Bytes one service takes in a STATUS reply (dk/runtime.h). */
static size_t status_entry_size(const struct dk_supd_service_cfg *s)
{
	return 2 + strlen(s->name) + 2 + strlen(dk_supd_kind_name(s->kind)) + 56;
}

/* Whole-manifest checks, in file order. */
static void check_manifest(struct parser *p)
{
	struct dk_supd_manifest *m = p->m;
	const struct dk_supd_service_cfg *first[DK_SUPD_KIND_MAX + 1] = {0};
	size_t status_bytes = 16;

	for (uint32_t i = 0; i < m->n_services && !failed(p); i++) {
		const struct dk_supd_service_cfg *s = &m->services[i];
		const uint32_t *key_line = p->service_key_line[i];

		if (!s->kind) {
			fail(p, s->line, "service '%s': missing key 'kind'", s->name);
			break;
		}
		if (!s->exec[0]) {
			fail(p, s->line, "service '%s': missing key 'exec'", s->name);
			break;
		}
		if (key_line[VK_CONFIG] && s->kind != DK_SUPD_KIND_HWSIM) {
			fail(p, key_line[VK_CONFIG], "service '%s': only kind hwsim takes 'config'",
			     s->name);
			break;
		}
		if (s->kind == DK_SUPD_KIND_DEVICE) {
			if (!s->device[0])
				fail(p, s->line, "service '%s': kind device needs key 'device'",
				     s->name);
			else if (!s->device_class[0])
				fail(p, s->line, "service '%s': kind device needs key 'class'",
				     s->name);
			for (uint32_t j = 0; j < i && !failed(p); j++)
				if (m->services[j].kind == DK_SUPD_KIND_DEVICE &&
				    !strcmp(m->services[j].device, s->device))
					fail(p, key_line[VK_DEVICE],
					     "service '%s': device '%s' already driven by service "
					     "'%s' (line %u)",
					     s->name, s->device, m->services[j].name,
					     m->services[j].line);
		} else {
			uint32_t dline = key_line[VK_DEVICE] ? key_line[VK_DEVICE]
							      : key_line[VK_CLASS];

			if (dline)
				fail(p, dline,
				     "service '%s': only kind device takes 'device' and 'class'",
				     s->name);
			else if (first[s->kind])
				fail(p, s->line,
				     "service '%s': a second %s (first: service '%s' at line %u)",
				     s->name, dk_supd_kind_name(s->kind), first[s->kind]->name,
				     first[s->kind]->line);
			first[s->kind] = s;
		}
		status_bytes += status_entry_size(s);
		if (!failed(p) && status_bytes > DK_FRAME_MAX_PAYLOAD)
			fail(p, s->line,
			     "service '%s': service names too long in total (the status reply is "
			     "limited to %u bytes)",
			     s->name, DK_FRAME_MAX_PAYLOAD);
	}
	/* logd, policyd and broker are required; hwsim is optional (at most one, above). */
	for (uint32_t kind = DK_SUPD_KIND_LOGD; kind <= DK_SUPD_KIND_BROKER && !failed(p); kind++)
		if (!first[kind])
			fail(p, 0, "no service of kind %s (exactly one is required)",
			     dk_supd_kind_name(kind));
	if (failed(p))
		return;
	if (m->restart_delay_max_ms < m->restart_delay_ms) {
		uint32_t a = p->stack_key_line[SK_RESTART_DELAY];
		uint32_t b = p->stack_key_line[SK_RESTART_DELAY_MAX];

		fail(p, a > b ? a : b,
		     "[stack]: restart_delay_max_ms (%u) is below restart_delay_ms (%u)",
		     m->restart_delay_max_ms, m->restart_delay_ms);
		return;
	}
	if (!m->policy[0])
		fail(p, p->stack_line ? p->stack_line : first[DK_SUPD_KIND_POLICYD]->line,
		     "[stack]: missing key 'policy' (the policy file dk-policyd loads)");
}

int dk_supd_manifest_parse(const char *text, size_t len, struct dk_supd_manifest *ret_manifest,
			   struct dk_supd_manifest_error *ret_error)
{
	struct parser *p;
	int ini, err;

	if ((!text && len) || !ret_manifest)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	memset(ret_manifest, 0, sizeof(*ret_manifest));
	p->m = ret_manifest;
	p->m->restart_delay_ms = DK_SUPD_RESTART_DELAY_DEFAULT;
	p->m->restart_delay_max_ms = DK_SUPD_RESTART_DELAY_MAX_DEFAULT;
	p->m->restart_limit = DK_SUPD_RESTART_LIMIT_DEFAULT;
	p->m->restart_window_ms = DK_SUPD_RESTART_WINDOW_DEFAULT;
	p->m->start_timeout_ms = DK_SUPD_START_TIMEOUT_DEFAULT;
	p->m->stop_timeout_ms = DK_SUPD_STOP_TIMEOUT_DEFAULT;
	p->m->crash_log_lines = DK_SUPD_CRASH_LOG_LINES_DEFAULT;
	if (len > DK_SUPD_MANIFEST_MAX) {
		fail(p, 0, "file larger than %u bytes", DK_SUPD_MANIFEST_MAX);
		p->errcode = -EFBIG;
		goto out;
	}
	p->pos = text;
	p->end = text + len;
	ini = len ? ini_parse_stream(reader, p, handler, p) : 0;
	if (ini == -2) {
		p->errcode = -ENOMEM;
		goto out;
	}
	/* inih's own syntax errors: it keeps going, so take the first one ourselves. */
	if (ini > 0 && (!failed(p) || (uint32_t)ini < p->err.line)) {
		p->err.message[0] = '\0';
		fail(p, (uint32_t)ini,
		     "syntax error (expected a section header, key = value or a comment)");
	}
	if (!failed(p))
		check_manifest(p);
out:
	if (failed(p) && ret_error)
		*ret_error = p->err;
	err = p->errcode;
	free(p);
	return err;
}

int dk_supd_manifest_dir(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	char cwd[PATH_MAX];
	int n;

	if (slash && slash == path)
		n = snprintf(buf, size, "/");
	else if (slash && path[0] == '/')
		n = snprintf(buf, size, "%.*s", (int)(slash - path), path);
	else if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	else if (slash)
		n = snprintf(buf, size, "%s/%.*s", cwd, (int)(slash - path), path);
	else
		n = snprintf(buf, size, "%s", cwd);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int read_file(const char *path, char **ret_text, size_t *ret_len)
{
	struct stat st;
	char *text;
	size_t len = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out_close;
	}
	text = malloc(DK_SUPD_MANIFEST_MAX + 1);
	if (!text) {
		err = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n = read(fd, text + len, DK_SUPD_MANIFEST_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			free(text);
			goto out_close;
		}
		if (n == 0 || (len += (size_t)n) == DK_SUPD_MANIFEST_MAX + 1)
			break;
	}
	*ret_text = text;
	*ret_len = len;
out_close:
	close(fd);
	return err;
}

/*
 * @value (as written at @line of the manifest, key @what) made absolute: relative to @dir.
 * Returns 0; -ENAMETOOLONG, with @ret_error saying so.
 */
static int absolute(char *value, size_t size, const char *dir, const char *what, uint32_t line,
		    struct dk_supd_manifest_error *ret_error)
{
	char buf[PATH_MAX];

	if (value[0] == '/')
		return 0;
	if (snprintf(buf, sizeof(buf), "%s/%s", dir, value) >= (int)sizeof(buf) ||
	    strlen(buf) >= size) {
		if (ret_error) {
			ret_error->line = line;
			snprintf(ret_error->message, sizeof(ret_error->message), "%s: %s", what,
				 strerror(ENAMETOOLONG));
		}
		return -ENAMETOOLONG;
	}
	strcpy(value, buf);
	return 0;
}

int dk_supd_manifest_load(const char *path, struct dk_supd_manifest **ret_manifest,
			  struct dk_supd_manifest_error *ret_error)
{
	struct dk_supd_manifest *m;
	char dir[PATH_MAX], policy[PATH_MAX], *text = NULL;
	size_t len = 0;
	int err;

	if (!path || !ret_manifest)
		return -EINVAL;
	err = read_file(path, &text, &len);
	if (err < 0) {
		if (ret_error) {
			ret_error->line = 0;
			snprintf(ret_error->message, sizeof(ret_error->message), "cannot read: %s",
				 strerror(-err));
		}
		return err;
	}
	m = malloc(sizeof(*m));
	if (!m) {
		free(text);
		return -ENOMEM;
	}
	err = dk_supd_manifest_parse(text, len, m, ret_error);
	free(text);
	if (err == 0 && m->policy[0] != '/') {
		err = dk_supd_manifest_dir(path, dir, sizeof(dir));
		if (err == 0 && snprintf(policy, sizeof(policy), "%s/%s", dir, m->policy) >=
					(int)sizeof(policy))
			err = -ENAMETOOLONG;
		if (err == 0)
			strcpy(m->policy, policy);
		else if (ret_error)
			snprintf(ret_error->message, sizeof(ret_error->message),
				 "[stack]: policy path: %s", strerror(-err));
		if (err < 0 && ret_error)
			ret_error->line = m->policy_line;
	}
	for (uint32_t i = 0; err == 0 && i < m->n_services; i++) {
		struct dk_supd_service_cfg *s = &m->services[i];
		char what[DK_RT_NAME_MAX + 32];

		if (!s->config[0] || s->config[0] == '/')
			continue;
		err = dk_supd_manifest_dir(path, dir, sizeof(dir));
		snprintf(what, sizeof(what), "service '%s': config path", s->name);
		if (err < 0 && ret_error) {
			ret_error->line = s->config_line;
			snprintf(ret_error->message, sizeof(ret_error->message), "%s: %s", what,
				 strerror(-err));
		}
		if (err == 0)
			err = absolute(s->config, sizeof(s->config), dir, what, s->config_line,
				       ret_error);
	}
	if (err < 0) {
		free(m);
		return err;
	}
	*ret_manifest = m;
	return 0;
}

/* 0 when @path is an executable regular file, else -ENOENT or -EACCES. */
static int check_exec(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOENT;
	return access(path, X_OK) == 0 ? 0 : -EACCES;
}

/* Look for @name in each directory of the ':'-separated @dirs. */
static int search_dirs(const char *name, const char *dirs, char *buf, size_t size, int *found)
{
	const char *d = dirs;

	while (d && *d) {
		const char *colon = strchr(d, ':');
		size_t n = colon ? (size_t)(colon - d) : strlen(d);
		int len, err;

		if (n > 0) {
			len = snprintf(buf, size, "%.*s/%s", (int)n, d, name);
			if (len < 0 || (size_t)len >= size)
				return -ENAMETOOLONG;
			err = check_exec(buf);
			if (err == 0)
				return 0;
			if (err == -EACCES)
				*found = err;
		}
		d = colon ? colon + 1 : NULL;
	}
	return -ENOENT;
}

int dk_supd_resolve_exec(const char *exec, const char *manifest_dir, const char *bin_path,
			 const char *self_dir, char *buf, size_t size)
{
	const char *lists[3] = {bin_path, getenv("DK_BIN_PATH"), self_dir};
	int n, err, found = -ENOENT;

	if (!exec || !*exec || !buf)
		return -EINVAL;
	if (exec[0] == '/' || strchr(exec, '/')) {
		if (exec[0] == '/')
			n = snprintf(buf, size, "%s", exec);
		else
			n = snprintf(buf, size, "%s/%s", manifest_dir ? manifest_dir : ".", exec);
		if (n < 0 || (size_t)n >= size)
			return -ENAMETOOLONG;
		return check_exec(buf);
	}
	for (int i = 0; i < 3; i++) {
		err = search_dirs(exec, lists[i], buf, size, &found);
		if (err != -ENOENT)
			return err;
	}
	return found;
}

int dk_supd_split_args(char *buf, char **argv, size_t max)
{
	size_t n = 0;
	char *s = buf;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			*s++ = '\0';
		if (!*s)
			return (int)n;
		if (n == max)
			return -E2BIG;
		argv[n++] = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
}
