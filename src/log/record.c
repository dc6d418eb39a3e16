/* SPDX-License-Identifier: MIT */
/*
 * record.c - record checks, field redaction and record encoding, shared by the client and the
 * journal server. Every check is bounded by the caps of dk/log.h and reads nothing past @len.
 */
#include <errno.h>
#include <string.h>

#include "log-internal.h"

static bool is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_scope_char(unsigned char c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
}

static bool is_key_char(unsigned char c)
{
	return is_alnum(c) || c == '_' || c == '.' || c == '-';
}

int dk_logi_check_scope(const char *s, size_t len)
{
	if (len > DK_LOG_SCOPE_MAX)
		return -EMSGSIZE;
	if (len == 0)
		return -EPROTO;
	for (size_t i = 0; i < len; i++)
		if (!is_scope_char((unsigned char)s[i]))
			return -EPROTO;
	return 0;
}

int dk_logi_check_name(const char *s, size_t len)
{
	if (len > DK_LOG_NAME_MAX)
		return -EMSGSIZE;
	for (size_t i = 0; i < len; i++)
		if (!is_scope_char((unsigned char)s[i]) && s[i] != '@')
			return -EPROTO;
	return 0;
}

/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF) without C0 controls or DEL. */
static int check_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		uint32_t cp;

		if (c < 0x20 || c == 0x7f)
			return -EPROTO;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return -EPROTO;
		}
		if (len - i - 1 < n)
			return -EPROTO;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return -EPROTO;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return -EPROTO;
		i += n + 1;
	}
	return 0;
}

int dk_logi_check_message(const char *s, size_t len)
{
	if (len > DK_LOG_MESSAGE_MAX)
		return -EMSGSIZE;
	return check_text(s, len);
}

static const char *const secret_words[] = {
	"secret", "secrets", "password", "passwords", "passwd", "token", "tokens", "key", "keys",
};

/* Word parts: runs of letters, split again where a lower-case letter meets an upper-case one. */
bool dk_logi_key_is_secret(const char *key, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t start, wlen;

		while (i < len && !((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z')))
			i++;
		start = i;
		while (i < len && ((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= 'A' && key[i] <= 'Z'))) {
			if (i > start && key[i] >= 'A' && key[i] <= 'Z' && key[i - 1] >= 'a' &&
			    key[i - 1] <= 'z')
				break;
			i++;
		}
		wlen = i - start;
		for (size_t w = 0; wlen > 0 && w < sizeof(secret_words) / sizeof(secret_words[0]);
		     w++) {
			if (strlen(secret_words[w]) == wlen &&
			    strncasecmp(secret_words[w], key + start, wlen) == 0)
				return true;
		}
	}
	return false;
}

/* An output buffer of DK_LOG_FIELDS_MAX bytes plus a NUL. */
struct out {
	char *buf;
	size_t len;
	int error;
};

static void out_put(struct out *o, const char *s, size_t n)
{
	if (o->error)
		return;
	if (n > DK_LOG_FIELDS_MAX - o->len) {
		o->error = -EMSGSIZE;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static size_t skip_spaces(const char *s, size_t i, size_t len)
{
	while (i < len && s[i] == ' ')
		i++;
	return i;
}

static size_t scan_key(const char *s, size_t i, size_t len)
{
	while (i < len && is_key_char((unsigned char)s[i]))
		i++;
	return i;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*
 * A JSON string starting at s[i] == '"'. Returns the index after the closing quote, or 0 when
 * malformed (0 is never a valid end).
 */
static size_t scan_json_string(const char *s, size_t i, size_t len)
{
	i++;
	while (i < len) {
		if (s[i] == '"')
			return i + 1;
		if (s[i] == '\\') {
			if (i + 1 >= len)
				return 0;
			switch (s[i + 1]) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				i += 2;
				break;
			case 'u':
				if (len - i < 6 || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) ||
				    !is_hex(s[i + 4]) || !is_hex(s[i + 5]))
					return 0;
				i += 6;
				break;
			default:
				return 0;
			}
			continue;
		}
		i++;
	}
	return 0;
}

static size_t scan_json_scalar(const char *s, size_t i, size_t len)
{
	static const char *const lits[] = {"true", "false", "null"};
	size_t start = i;
	bool digit = false;

	if (s[i] == '"')
		return scan_json_string(s, i, len);
	for (size_t k = 0; k < 3; k++) {
		size_t n = strlen(lits[k]);

		if (len - i >= n && memcmp(s + i, lits[k], n) == 0)
			return i + n;
	}
	while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '+' ||
			   s[i] == '.' || s[i] == 'e' || s[i] == 'E')) {
		digit |= s[i] >= '0' && s[i] <= '9';
		i++;
	}
	return digit && i > start ? i : 0;
}

static int fields_json(const char *s, size_t len, struct out *o, bool *redacted)
{
	size_t i = skip_spaces(s, 0, len), copied = 0;

	if (i >= len || s[i] != '{')
		return -EPROTO;
	i = skip_spaces(s, i + 1, len);
	if (i < len && s[i] == '}') {
		i = skip_spaces(s, i + 1, len);
		goto done;
	}
	for (;;) {
		size_t kstart, kend, vstart, vend;

		if (i >= len || s[i] != '"')
			return -EPROTO;
		kstart = i + 1;
		kend = scan_key(s, kstart, len);
		if (kend == kstart || kend >= len || s[kend] != '"')
			return -EPROTO;
		i = skip_spaces(s, kend + 1, len);
		if (i >= len || s[i] != ':')
			return -EPROTO;
		vstart = skip_spaces(s, i + 1, len);
		if (vstart >= len)
			return -EPROTO;
		vend = scan_json_scalar(s, vstart, len);
		if (vend == 0)
			return -EPROTO;
		if (dk_logi_key_is_secret(s + kstart, kend - kstart)) {
			out_put(o, s + copied, vstart - copied);
			out_put(o, "\"[redacted]\"", 12);
			copied = vend;
			*redacted = true;
		}
		i = skip_spaces(s, vend, len);
		if (i < len && s[i] == ',') {
			i = skip_spaces(s, i + 1, len);
			continue;
		}
		if (i < len && s[i] == '}') {
			i = skip_spaces(s, i + 1, len);
			break;
		}
		return -EPROTO;
	}
done:
	if (i != len)
		return -EPROTO;
	out_put(o, s + copied, len - copied);
	return o->error;
}

static int fields_kv(const char *s, size_t len, struct out *o, bool *redacted)
{
	size_t i = skip_spaces(s, 0, len), copied = 0;

	while (i < len) {
		size_t kstart = i, kend, vstart, vend;

		kend = scan_key(s, kstart, len);
		if (kend == kstart || kend >= len || s[kend] != '=')
			return -EPROTO;
		vstart = kend + 1;
		vend = vstart;
		if (vend < len && s[vend] == '"') {
			vend++;
			for (;;) {
				if (vend >= len)
					return -EPROTO;
				if (s[vend] == '\\') {
					if (vend + 1 >= len || (s[vend + 1] != '"' && s[vend + 1] != '\\'))
						return -EPROTO;
					vend += 2;
					continue;
				}
				if (s[vend++] == '"')
					break;
			}
		} else {
			while (vend < len && s[vend] != ' ') {
				if (s[vend] == '"')
					return -EPROTO;
				vend++;
			}
		}
		if (vend < len && s[vend] != ' ')
			return -EPROTO;
		if (dk_logi_key_is_secret(s + kstart, kend - kstart)) {
			out_put(o, s + copied, vstart - copied);
			out_put(o, "[redacted]", 10);
			copied = vend;
			*redacted = true;
		}
		i = skip_spaces(s, vend, len);
	}
	out_put(o, s + copied, len - copied);
	return o->error;
}

int dk_logi_fields_normalize(const char *in, size_t len, char *outbuf, bool *ret_redacted)
{
	struct out o = {.buf = outbuf, .len = 0, .error = 0};
	bool redacted = false;
	size_t first;
	int err;

	outbuf[0] = '\0';
	if (len > DK_LOG_FIELDS_MAX)
		return -EMSGSIZE;
	err = check_text(in, len);
	if (err < 0)
		return err;
	first = skip_spaces(in, 0, len);
	if (first < len && in[first] == '{')
		err = fields_json(in, len, &o, &redacted);
	else
		err = fields_kv(in, len, &o, &redacted);
	if (err < 0) {
		outbuf[0] = '\0';
		return err;
	}
	*ret_redacted = redacted;
	return (int)o.len;
}

int dk_logi_get_string(struct dk_wire_reader *r, char *dst, size_t cap)
{
	uint16_t len = dk_wire_get_u16(r);

	dst[0] = '\0';
	if (dk_wire_reader_error(r) < 0)
		return -EPROTO;
	if (len > dk_wire_reader_left(r))
		return -EPROTO;
	if (len > cap) {
		r->pos += len; /* bounded by the check above */
		return -EMSGSIZE;
	}
	dk_wire_get_bytes(r, dst, len);
	dst[len] = '\0';
	if (memchr(dst, '\0', len))
		return -EPROTO;
	return len;
}

void dk_logi_put_record(struct dk_wire_writer *w, const struct dk_log_record *rec)
{
	dk_wire_put_u64(w, rec->seq);
	dk_wire_put_u64(w, rec->realtime_ns);
	dk_wire_put_u64(w, rec->monotonic_ns);
	dk_wire_put_u32(w, rec->pid);
	dk_wire_put_u32(w, rec->uid);
	dk_wire_put_u32(w, rec->gid);
	dk_wire_put_u8(w, rec->severity);
	dk_wire_put_u8(w, rec->flags);
	dk_wire_put_string(w, rec->name_claim);
	dk_wire_put_string(w, rec->scope);
	dk_wire_put_string(w, rec->message);
	dk_wire_put_string(w, rec->fields);
}

size_t dk_logi_record_wire_size(const struct dk_log_record *rec)
{
	return DK_LOGD_RECORD_FIXED + 8 + strlen(rec->name_claim) + strlen(rec->scope) +
	       strlen(rec->message) + strlen(rec->fields);
}
