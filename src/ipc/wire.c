/* SPDX-License-Identifier: MIT */
/*
 * wire.c - bounded little-endian payload readers and writers (dk/wire.h).
 *
 * Both sides keep a sticky error. Once a reader has failed it is exhausted: every later read
 * yields zeros, so a decoder can read a whole message and check the error once. Once a writer
 * has failed it writes nothing more, so its length never covers a partly written field.
 * Values are assembled byte by byte, so no load or store is unaligned and the host byte order
 * does not matter.
 */
#include <errno.h>
#include <string.h>

#include <dk/wire.h>

/* Size of the string length prefix on the wire, and the longest string it can describe. */
#define WIRE_STRING_PREFIX 2u
#define WIRE_STRING_MAX	   0xffffu

void dk_wire_reader_init(struct dk_wire_reader *r, const void *buf, size_t len)
{
	r->error = 0;
	if (!buf) {
		/* No pointer arithmetic on NULL; a NULL range is empty, and wrong if not 0 long. */
		r->pos = NULL;
		r->end = NULL;
		if (len > 0)
			r->error = -EPROTO;
		return;
	}
	r->pos = buf;
	r->end = r->pos + len;
}

size_t dk_wire_reader_left(const struct dk_wire_reader *r)
{
	return r->pos ? (size_t)(r->end - r->pos) : 0;
}

int dk_wire_reader_error(const struct dk_wire_reader *r)
{
	return r->error;
}

/* Mark the reader failed and exhausted: later reads yield zeros. */
static void reader_fail(struct dk_wire_reader *r)
{
	r->error = -EPROTO;
	r->pos = r->end;
}

/*
 * Take @len bytes from @r: a pointer to them, or NULL (with the error set) if fewer are left
 * or the reader already failed. @len must be non-zero.
 */
static const uint8_t *reader_take(struct dk_wire_reader *r, size_t len)
{
	const uint8_t *p;

	if (r->error || dk_wire_reader_left(r) < len) {
		reader_fail(r);
		return NULL;
	}
	p = r->pos;
	r->pos += len;
	return p;
}

uint8_t dk_wire_get_u8(struct dk_wire_reader *r)
{
	const uint8_t *p = reader_take(r, 1);

	return p ? p[0] : 0;
}

uint16_t dk_wire_get_u16(struct dk_wire_reader *r)
{
	const uint8_t *p = reader_take(r, 2);

	if (!p)
		return 0;
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

uint32_t dk_wire_get_u32(struct dk_wire_reader *r)
{
	const uint8_t *p = reader_take(r, 4);

	if (!p)
		return 0;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t dk_wire_get_u64(struct dk_wire_reader *r)
{
	const uint8_t *p = reader_take(r, 8);
	uint64_t v = 0;

	if (!p)
		return 0;
	for (unsigned int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

void dk_wire_get_bytes(struct dk_wire_reader *r, void *dst, size_t len)
{
	const uint8_t *p;

	if (len == 0)
		return;
	p = reader_take(r, len);
	if (p)
		memcpy(dst, p, len);
	else
		memset(dst, 0, len);
}

size_t dk_wire_get_string(struct dk_wire_reader *r, char *dst, size_t dst_size)
{
	const uint8_t *p;
	uint16_t len;

	len = dk_wire_get_u16(r);
	if (len == 0) {
		/* An empty string still needs room for its NUL. */
		if (dst_size == 0)
			reader_fail(r);
		if (dst_size > 0)
			dst[0] = '\0';
		return 0;
	}
	p = reader_take(r, len);
	if (!p || dst_size == 0 || len > dst_size - 1 || memchr(p, '\0', len)) {
		reader_fail(r);
		if (dst_size > 0)
			dst[0] = '\0';
		return 0;
	}
	memcpy(dst, p, len);
	dst[len] = '\0';
	return len;
}

void dk_wire_writer_init(struct dk_wire_writer *w, void *buf, size_t size)
{
	w->error = 0;
	if (!buf) {
		/* No pointer arithmetic on NULL; a NULL buffer holds nothing. */
		w->start = NULL;
		w->pos = NULL;
		w->end = NULL;
		return;
	}
	w->start = buf;
	w->pos = w->start;
	w->end = w->start + size;
}

size_t dk_wire_writer_len(const struct dk_wire_writer *w)
{
	return w->start ? (size_t)(w->pos - w->start) : 0;
}

int dk_wire_writer_error(const struct dk_wire_writer *w)
{
	return w->error;
}

/*
 * Reserve @len bytes in @w: a pointer to them, or NULL (with -ENOSPC set, unless an earlier
 * error stands) if they do not fit or the writer already failed. @len must be non-zero.
 */
static uint8_t *writer_take(struct dk_wire_writer *w, size_t len)
{
	uint8_t *p;

	if (w->error)
		return NULL;
	if (!w->pos || (size_t)(w->end - w->pos) < len) {
		w->error = -ENOSPC;
		return NULL;
	}
	p = w->pos;
	w->pos += len;
	return p;
}

static void store_le(uint8_t *p, uint64_t v, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void dk_wire_put_u8(struct dk_wire_writer *w, uint8_t v)
{
	uint8_t *p = writer_take(w, 1);

	if (p)
		p[0] = v;
}

void dk_wire_put_u16(struct dk_wire_writer *w, uint16_t v)
{
	uint8_t *p = writer_take(w, 2);

	if (p)
		store_le(p, v, 2);
}

void dk_wire_put_u32(struct dk_wire_writer *w, uint32_t v)
{
	uint8_t *p = writer_take(w, 4);

	if (p)
		store_le(p, v, 4);
}

void dk_wire_put_u64(struct dk_wire_writer *w, uint64_t v)
{
	uint8_t *p = writer_take(w, 8);

	if (p)
		store_le(p, v, 8);
}

void dk_wire_put_bytes(struct dk_wire_writer *w, const void *src, size_t len)
{
	uint8_t *p;

	if (len == 0)
		return;
	p = writer_take(w, len);
	if (p)
		memcpy(p, src, len);
}

void dk_wire_put_string(struct dk_wire_writer *w, const char *s)
{
	size_t len;
	uint8_t *p;

	if (w->error)
		return;
	if (!s) {
		w->error = -EINVAL;
		return;
	}
	len = strnlen(s, WIRE_STRING_MAX + 1);
	if (len > WIRE_STRING_MAX) {
		w->error = -EINVAL;
		return;
	}
	/* Prefix and bytes are reserved together, so a failed string leaves no prefix behind. */
	p = writer_take(w, WIRE_STRING_PREFIX + len);
	if (!p)
		return;
	store_le(p, len, WIRE_STRING_PREFIX);
	memcpy(p + WIRE_STRING_PREFIX, s, len);
}
