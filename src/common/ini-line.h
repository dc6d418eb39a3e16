/* SPDX-License-Identifier: MIT */
/*
 * ini-line.h - the line rules every DriverKit INI file obeys (policy files, manifests), for
 * the ini_reader callbacks that feed libinih one checked line at a time. Header-only: shared by
 * the static libraries dk-policy and dk-supervisor-lib.
 *
 * A line is at most a given number of bytes (without its newline), holds no NUL byte, and is
 * not indented unless it is a comment (inih would read an indented line as a continuation).
 */
#ifndef DK_INI_LINE_H
#define DK_INI_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

enum dk_ini_line_error {
	DK_INI_LINE_OK = 0,
	DK_INI_LINE_TOO_LONG, /* over the cap, or over what inih's buffer holds */
	DK_INI_LINE_NUL,      /* a NUL byte */
	DK_INI_LINE_INDENTED, /* an indented line that is not a comment */
};

static inline bool dk_ini_is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/*
 * dk_ini_take_line - take the next line of [*@pos, @end) (the caller checked *@pos < @end) and
 * check it against @max bytes and inih's buffer of @num bytes. *@pos moves past the line and
 * its newline whatever the verdict. The line is *@ret_s, *@ret_len bytes, not terminated.
 */
static inline enum dk_ini_line_error dk_ini_take_line(const char **pos, const char *end,
						       size_t max, int num, const char **ret_s,
						       size_t *ret_len)
{
	const char *nl = memchr(*pos, '\n', (size_t)(end - *pos)), *s = *pos;
	size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);

	*pos = nl ? nl + 1 : end;
	*ret_s = s;
	*ret_len = len;
	if (len > max || len + 3 > (size_t)num)
		return DK_INI_LINE_TOO_LONG;
	if (memchr(s, '\0', len))
		return DK_INI_LINE_NUL;
	if (len > 0 && dk_ini_is_blank(s[0])) {
		size_t i = 0;

		while (i < len && dk_ini_is_blank(s[i]))
			i++;
		if (i < len && s[i] != ';' && s[i] != '#')
			return DK_INI_LINE_INDENTED;
	}
	return DK_INI_LINE_OK;
}

/* dk_ini_give_line - hand @s (@len bytes) to inih in @str, with its newline. Returns @str. */
static inline char *dk_ini_give_line(char *str, const char *s, size_t len)
{
	memcpy(str, s, len);
	str[len] = '\n';
	str[len + 1] = '\0';
	return str;
}

#endif /* DK_INI_LINE_H */
