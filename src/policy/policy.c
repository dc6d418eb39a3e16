/* SPDX-License-Identifier: MIT */
/*
 * policy.c - the policy engine (dk/policy.h): an INI file (read with libinih) checked line by
 * line into an immutable array of rules, and the decision function.
 *
 * Parsing stops at the first error, so the error reported is always the first one in the file.
 * libinih reads lines through our reader, which counts lines itself, refuses what inih would
 * silently accept (over-long lines, continuation lines, NUL bytes) and parses section headers,
 * so that even an empty or duplicated section is reported with its line.
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

#include <dk/policy.h>
#include <dk/qos.h>
#include <dk/rights.h>

#include "ini-line.h"
#include "policy-internal.h"

enum key {
	KEY_SERVICE,
	KEY_UID,
	KEY_GID,
	KEY_DEVICE,
	KEY_CLASS,
	KEY_EFFECT,
	KEY_RIGHTS,
	KEY_QOS,
	KEY_MAX_BYTES,
	KEY_MAX_BUFFERS,
	KEY_MAX_INFLIGHT,
	KEY_MAX_FENCES,
	KEY_MAX_VIOLATIONS,
	KEY_COUNT
};

static const char *const key_names[KEY_COUNT] = {
	"service", "uid", "gid", "device", "class", "effect", "rights", "qos", "max_bytes",
	"max_buffers", "max_inflight", "max_fences", "max_violations",
};

enum subj { SUBJ_NONE = 0, SUBJ_GID = 1, SUBJ_UID = 2, SUBJ_SERVICE = 3 }; /* = specificity */
enum dev { DEV_NONE = 0, DEV_CLASS = 1, DEV_NAME = 2 };                    /* = specificity */

struct rule {
	char name[DK_POLICY_NAME_MAX + 1];
	uint32_t line;                /* of the section header */
	uint32_t key_line[KEY_COUNT]; /* 0: key not given */
	enum subj subj;
	uint32_t id; /* uid or gid */
	char service[DK_POLICY_NAME_MAX + 1];
	enum dev dev;
	char device[DK_POLICY_NAME_MAX + 1]; /* device or class name */
	bool deny;
	struct dk_policy_grant grant;
};

struct dk_policy {
	uint32_t n_rules;
	struct rule rules[];
};

struct parser {
	const char *pos, *end;
	uint32_t line;
	struct rule *rules;
	uint32_t n_rules;
	bool in_section;
	struct dk_policy_error err; /* err.message[0] != 0: failed */
	int errcode;
};

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

/* "[rule NAME]" with optional blanks and a trailing comment. */
static void section_header(struct parser *p, const char *s, size_t len)
{
	const char *close = memchr(s, ']', len), *name, *nend, *rest;
	struct rule *r;

	p->in_section = false;
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
	s++; /* '[' */
	while (s < close && dk_ini_is_blank(*s))
		s++;
	if ((size_t)(close - s) < 5 || memcmp(s, "rule", 4) != 0 || !dk_ini_is_blank(s[4])) {
		fail(p, p->line, "unknown section '%.*s' (expected [rule NAME])", (int)(close - s),
		     s);
		return;
	}
	for (name = s + 4; name < close && dk_ini_is_blank(*name); name++)
		;
	for (nend = close; nend > name && dk_ini_is_blank(nend[-1]); nend--)
		;
	if (!dk_policyi_name_ok(name, (size_t)(nend - name))) {
		fail(p, p->line, "invalid rule name '%.*s' (1..%u of [A-Za-z0-9._-])",
		     (int)(nend - name), name, DK_POLICY_NAME_MAX);
		return;
	}
	for (uint32_t i = 0; i < p->n_rules; i++) {
		if (strlen(p->rules[i].name) == (size_t)(nend - name) &&
		    !memcmp(p->rules[i].name, name, (size_t)(nend - name))) {
			fail(p, p->line, "duplicate rule '%s' (first at line %u)", p->rules[i].name,
			     p->rules[i].line);
			return;
		}
	}
	if (p->n_rules == DK_POLICY_RULES_MAX) {
		fail(p, p->line, "more than %u rules", DK_POLICY_RULES_MAX);
		return;
	}
	r = &p->rules[p->n_rules++];
	memset(r, 0, sizeof(*r));
	memcpy(r->name, name, (size_t)(nend - name));
	r->line = p->line;
	r->grant.max_violations = DK_POLICY_MAX_VIOLATIONS_UNSET;
	p->in_section = true;
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
	switch (dk_ini_take_line(&p->pos, p->end, DK_POLICY_LINE_MAX, num, &s, &len)) {
	case DK_INI_LINE_OK:
		break;
	case DK_INI_LINE_TOO_LONG:
		fail(p, p->line, "line longer than %u bytes", DK_POLICY_LINE_MAX);
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

static int parse_u64(const char *v, uint64_t *ret, bool suffix)
{
	uint64_t x = 0, mul = 1;
	const char *s = v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	if (suffix && *s && !s[1]) {
		switch (*s) {
		case 'K':
			mul = 1ull << 10;
			break;
		case 'M':
			mul = 1ull << 20;
			break;
		case 'G':
			mul = 1ull << 30;
			break;
		default:
			return -EINVAL;
		}
		s++;
	}
	if (*s)
		return -EINVAL;
	if (x > UINT64_MAX / mul)
		return -ERANGE;
	*ret = x * mul;
	return 0;
}

static void parse_rights(struct parser *p, struct rule *r, const char *v)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} names[] = {
		{"read", DK_RIGHT_READ},     {"write", DK_RIGHT_WRITE},
		{"map", DK_RIGHT_MAP},       {"signal", DK_RIGHT_SIGNAL},
		{"wait", DK_RIGHT_WAIT},     {"transfer", DK_RIGHT_TRANSFER},
	};
	uint32_t mask = 0;
	const char *s = v;

	for (;;) {
		const char *start, *end;
		size_t i, n = sizeof(names) / sizeof(names[0]);

		while (dk_ini_is_blank(*s))
			s++;
		start = s;
		while (*s && *s != ',')
			s++;
		for (end = s; end > start && dk_ini_is_blank(end[-1]); end--)
			;
		for (i = 0; i < n; i++)
			if (strlen(names[i].name) == (size_t)(end - start) &&
			    !memcmp(names[i].name, start, (size_t)(end - start)))
				break;
		if (i == n) {
			fail(p, p->line,
			     "rule '%s': unknown right '%.*s' (read, write, map, signal, wait, "
			     "transfer)", r->name, (int)(end - start), start);
			return;
		}
		if (mask & names[i].bit) {
			fail(p, p->line, "rule '%s': right '%s' listed twice", r->name,
			     names[i].name);
			return;
		}
		mask |= names[i].bit;
		if (!*s)
			break;
		s++; /* ',' */
	}
	r->grant.rights = mask;
}

/* A budget is 1..@cap; the kill threshold 0..@cap (0: never kill automatically). */
static void parse_budget(struct parser *p, struct rule *r, enum key k, const char *v,
			 uint64_t cap)
{
	uint64_t x, min = k == KEY_MAX_VIOLATIONS ? 0 : 1;
	int err = parse_u64(v, &x, k == KEY_MAX_BYTES);

	if (err < 0 || x < min || x > cap) {
		fail(p, p->line, "rule '%s': %s '%s' %s (%llu..%llu%s)", r->name, key_names[k], v,
		     err == -EINVAL ? "is not a number" : "is out of range",
		     (unsigned long long)min, (unsigned long long)cap,
		     k == KEY_MAX_BYTES ? ", suffix K, M or G" : "");
		return;
	}
	switch (k) {
	case KEY_MAX_BYTES:
		r->grant.max_bytes = x;
		break;
	case KEY_MAX_BUFFERS:
		r->grant.max_buffers = (uint32_t)x;
		break;
	case KEY_MAX_INFLIGHT:
		r->grant.max_inflight = (uint32_t)x;
		break;
	case KEY_MAX_VIOLATIONS:
		r->grant.max_violations = (uint32_t)x;
		break;
	default:
		r->grant.max_fences = (uint32_t)x;
		break;
	}
}

static void set_subject(struct parser *p, struct rule *r, enum key k, enum subj subj)
{
	for (enum key o = KEY_SERVICE; o <= KEY_GID; o++) {
		if (o != k && r->key_line[o]) {
			fail(p, p->line,
			     "rule '%s': conflicting subjects '%s' and '%s' (one subject per rule)",
			     r->name, key_names[o], key_names[k]);
			return;
		}
	}
	r->subj = subj;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;
	struct rule *r;
	enum key k;
	uint64_t x;

	if (failed(p))
		return 0;
	if (!p->in_section || !*section) {
		fail(p, p->line, "key '%s' outside a [rule NAME] section", name);
		return 0;
	}
	r = &p->rules[p->n_rules - 1];
	for (k = 0; k < KEY_COUNT; k++)
		if (!strcmp(name, key_names[k]))
			break;
	if (k == KEY_COUNT) {
		fail(p, p->line, "rule '%s': unknown key '%s'", r->name, name);
		return 0;
	}
	if (r->key_line[k]) {
		fail(p, p->line, "rule '%s': duplicate key '%s' (first at line %u)", r->name, name,
		     r->key_line[k]);
		return 0;
	}
	r->key_line[k] = p->line;
	switch (k) {
	case KEY_SERVICE:
		set_subject(p, r, k, SUBJ_SERVICE);
		if (!dk_policyi_name_ok(value, strlen(value)))
			fail(p, p->line, "rule '%s': invalid service name '%s'", r->name, value);
		else
			strcpy(r->service, value);
		break;
	case KEY_UID:
	case KEY_GID:
		set_subject(p, r, k, k == KEY_UID ? SUBJ_UID : SUBJ_GID);
		if (parse_u64(value, &x, false) < 0 || x >= UINT32_MAX)
			fail(p, p->line, "rule '%s': invalid %s '%s' (0..%u)", r->name, name, value,
			     UINT32_MAX - 1);
		else
			r->id = (uint32_t)x;
		break;
	case KEY_DEVICE:
	case KEY_CLASS:
		if (r->key_line[k == KEY_DEVICE ? KEY_CLASS : KEY_DEVICE])
			fail(p, p->line,
			     "rule '%s': conflicting 'device' and 'class' (one of them per rule)",
			     r->name);
		else if (!dk_policyi_name_ok(value, strlen(value)))
			fail(p, p->line, "rule '%s': invalid %s name '%s'", r->name, name, value);
		r->dev = k == KEY_DEVICE ? DEV_NAME : DEV_CLASS;
		if (!failed(p))
			strcpy(r->device, value);
		break;
	case KEY_EFFECT:
		if (!strcmp(value, "allow"))
			r->deny = false;
		else if (!strcmp(value, "deny"))
			r->deny = true;
		else
			fail(p, p->line, "rule '%s': invalid effect '%s' (allow or deny)", r->name,
			     value);
		break;
	case KEY_RIGHTS:
		parse_rights(p, r, value);
		break;
	case KEY_QOS:
		if (!strcmp(value, "frugal"))
			r->grant.qos = DK_QOS_FRUGAL;
		else if (!strcmp(value, "normal"))
			r->grant.qos = DK_QOS_NORMAL;
		else if (!strcmp(value, "burst"))
			r->grant.qos = DK_QOS_BURST;
		else
			fail(p, p->line, "rule '%s': invalid qos '%s' (frugal, normal or burst)",
			     r->name, value);
		break;
	case KEY_MAX_BYTES:
		parse_budget(p, r, k, value, DK_POLICY_MAX_BYTES_CAP);
		break;
	case KEY_MAX_BUFFERS:
		parse_budget(p, r, k, value, DK_POLICY_MAX_BUFFERS_CAP);
		break;
	case KEY_MAX_INFLIGHT:
		parse_budget(p, r, k, value, DK_POLICY_MAX_INFLIGHT_CAP);
		break;
	case KEY_MAX_FENCES:
		parse_budget(p, r, k, value, DK_POLICY_MAX_FENCES_CAP);
		break;
	case KEY_MAX_VIOLATIONS:
		parse_budget(p, r, k, value, DK_POLICY_MAX_VIOLATIONS_CAP);
		break;
	case KEY_COUNT:
		break;
	}
	return failed(p) ? 0 : 1;
}

/* Whole-rule checks, in file order: required keys, deny rules grant nothing, no twins. */
static void check_rules(struct parser *p)
{
	/* The grant keys; every one but the kill threshold is required in an allow rule. */
	static const struct {
		enum key key;
		bool required;
	} grants[] = {
		{KEY_RIGHTS, true}, {KEY_QOS, true}, {KEY_MAX_BYTES, true}, {KEY_MAX_BUFFERS, true},
		{KEY_MAX_INFLIGHT, true}, {KEY_MAX_FENCES, true}, {KEY_MAX_VIOLATIONS, false},
	};

	for (uint32_t i = 0; i < p->n_rules && !failed(p); i++) {
		struct rule *r = &p->rules[i];

		if (r->subj == SUBJ_NONE) {
			fail(p, r->line, "rule '%s': no subject (service, uid or gid)", r->name);
			break;
		}
		if (r->dev == DEV_NONE) {
			fail(p, r->line, "rule '%s': no device (device or class)", r->name);
			break;
		}
		for (size_t g = 0; g < sizeof(grants) / sizeof(grants[0]); g++) {
			enum key k = grants[g].key;

			if (r->deny && r->key_line[k]) {
				fail(p, r->key_line[k],
				     "rule '%s': a deny rule grants nothing, remove '%s'", r->name,
				     key_names[k]);
				break;
			}
			if (!r->deny && grants[g].required && !r->key_line[k]) {
				fail(p, r->line, "rule '%s': missing key '%s'", r->name, key_names[k]);
				break;
			}
		}
		for (uint32_t j = 0; j < i && !failed(p); j++) {
			const struct rule *o = &p->rules[j];

			if (o->subj != r->subj || o->dev != r->dev || strcmp(o->device, r->device))
				continue;
			if (r->subj == SUBJ_SERVICE ? strcmp(o->service, r->service) != 0
						    : o->id != r->id)
				continue;
			fail(p, r->line,
			     "rule '%s': same subject and device as rule '%s' (line %u); the "
			     "decision would be ambiguous",
			     r->name, o->name, o->line);
		}
	}
}

int dk_policy_parse(const char *text, size_t len, struct dk_policy **ret_policy,
		    struct dk_policy_error *ret_error)
{
	struct parser p;
	struct dk_policy *pol;
	int ini;

	if ((!text && len) || !ret_policy)
		return -EINVAL;
	memset(&p, 0, sizeof(p));
	if (len > DK_POLICY_FILE_MAX) {
		fail(&p, 0, "file larger than %u bytes", DK_POLICY_FILE_MAX);
		p.errcode = -EFBIG;
		goto out_error;
	}
	p.pos = text;
	p.end = text + len;
	p.rules = calloc(DK_POLICY_RULES_MAX, sizeof(*p.rules));
	if (!p.rules)
		return -ENOMEM;
	ini = len ? ini_parse_stream(reader, &p, handler, &p) : 0;
	if (ini == -2) {
		free(p.rules);
		return -ENOMEM;
	}
	/* inih's own syntax errors: it keeps going, so take the first one ourselves. */
	if (ini > 0 && (!failed(&p) || (uint32_t)ini < p.err.line)) {
		p.err.message[0] = '\0';
		fail(&p, (uint32_t)ini,
		     "syntax error (expected [rule NAME], key = value or a comment)");
	}
	if (!failed(&p))
		check_rules(&p);
	if (failed(&p)) {
		free(p.rules);
		goto out_error;
	}
	pol = malloc(sizeof(*pol) + (size_t)p.n_rules * sizeof(struct rule));
	if (!pol) {
		free(p.rules);
		return -ENOMEM;
	}
	pol->n_rules = p.n_rules;
	if (p.n_rules)
		memcpy(pol->rules, p.rules, (size_t)p.n_rules * sizeof(struct rule));
	free(p.rules);
	*ret_policy = pol;
	return 0;

out_error:
	if (ret_error)
		*ret_error = p.err;
	return p.errcode;
}

int dk_policy_load(const char *path, struct dk_policy **ret_policy,
		   struct dk_policy_error *ret_error)
{
	struct dk_policy_error e = {0};
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, err;

	if (!path || !ret_policy)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		err = -errno;
		goto out_error;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		snprintf(e.message, sizeof(e.message), "not a regular file");
		goto out_close;
	}
	/* Read one byte past the cap to see an oversized (or growing) file. */
	buf = malloc(DK_POLICY_FILE_MAX + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t n = read(fd, buf + got, DK_POLICY_FILE_MAX + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out_free;
		}
		if (n == 0 || (got += (size_t)n) > DK_POLICY_FILE_MAX)
			break;
	}
	close(fd);
	err = dk_policy_parse(buf, got, ret_policy, ret_error);
	free(buf);
	return err;

out_free:
	free(buf);
out_close:
	close(fd);
out_error:
	if (!e.message[0])
		snprintf(e.message, sizeof(e.message), "cannot read the file: %s", strerror(-err));
	if (ret_error)
		*ret_error = e;
	return err;
}

void dk_policy_destroy(struct dk_policy *policy)
{
	free(policy);
}

uint32_t dk_policy_n_rules(const struct dk_policy *policy)
{
	return policy ? policy->n_rules : 0;
}

static enum subj rule_matches_subject(const struct rule *r, const struct dk_policy_subject *s)
{
	switch (r->subj) {
	case SUBJ_SERVICE:
		return (s->kinds & DK_POLICY_SUBJECT_SERVICE) && !strcmp(r->service, s->service)
			       ? SUBJ_SERVICE
			       : SUBJ_NONE;
	case SUBJ_UID:
		return (s->kinds & DK_POLICY_SUBJECT_UID) && r->id == s->uid ? SUBJ_UID : SUBJ_NONE;
	case SUBJ_GID:
		return (s->kinds & DK_POLICY_SUBJECT_GID) && r->id == s->gid ? SUBJ_GID : SUBJ_NONE;
	default:
		return SUBJ_NONE;
	}
}

int dk_policy_decide(const struct dk_policy *policy, const struct dk_policy_subject *subject,
		     const char *device, const char *device_class,
		     struct dk_policy_decision *ret_decision)
{
	struct dk_policy_decision d;
	const struct rule *best = NULL;
	unsigned best_rank = 0;

	if (!policy || !ret_decision || !dk_policyi_question_ok(subject, device, device_class))
		return -EINVAL;
	for (uint32_t i = 0; i < policy->n_rules; i++) {
		const struct rule *r = &policy->rules[i];
		enum subj s = rule_matches_subject(r, subject);
		unsigned rank;

		if (s == SUBJ_NONE)
			continue;
		if (r->dev == DEV_NAME ? strcmp(r->device, device) != 0
				       : !device_class || strcmp(r->device, device_class) != 0)
			continue;
		/* Subject specificity first, then device; equal ranks were refused at load. */
		rank = (unsigned)s * 4 + (unsigned)r->dev;
		if (rank > best_rank) {
			best_rank = rank;
			best = r;
		}
	}
	memset(&d, 0, sizeof(d));
	if (!best) {
		d.verdict = DK_POLICY_DENY;
		d.reason = DK_POLICY_REASON_NO_RULE;
	} else if (best->deny) {
		d.verdict = DK_POLICY_DENY;
		d.reason = DK_POLICY_REASON_DENY_RULE;
		strcpy(d.rule, best->name);
	} else {
		d.verdict = DK_POLICY_ALLOW;
		d.reason = DK_POLICY_REASON_GRANT;
		strcpy(d.rule, best->name);
		d.grant = best->grant;
	}
	*ret_decision = d;
	return 0;
}

int dk_policy_check_file(const char *path, char *msg, size_t msg_size)
{
	struct dk_policy_error e = {0};
	struct dk_policy *pol = NULL;
	int err = dk_policy_load(path, &pol, &e);

	dk_policy_destroy(pol);
	if (msg && msg_size) {
		msg[0] = '\0';
		if (err < 0 && e.line)
			snprintf(msg, msg_size, "%s:%u: %s", path ? path : "", e.line, e.message);
		else if (err < 0)
			snprintf(msg, msg_size, "%s: %s", path ? path : "", e.message);
	}
	return err;
}
