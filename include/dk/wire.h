/* SPDX-License-Identifier: MIT */
/*
 * dk/wire.h - bounded little-endian readers and writers for frame payloads.
 *
 * A reader walks a byte range; any read past its end sets a sticky error and yields zeros, so
 * a decoder can read every field and check dk_wire_reader_error() once at the end; after a failed
 * read nothing more is read, even if bytes were left. A writer works the same way on an output
 * buffer and never writes part of a value. Neither allocates. Values are little-endian on the
 * wire whatever the host order.
 */
#ifndef DK_WIRE_H
#define DK_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dk_wire_reader {
	const uint8_t *pos;
	const uint8_t *end;
	int error; /* 0 or -EPROTO, sticky */
};

struct dk_wire_writer {
	uint8_t *start;
	uint8_t *pos;
	uint8_t *end;
	int error; /* 0, -ENOSPC (buffer too small) or -EINVAL (bad string), sticky */
};

DK_EXPORT void dk_wire_reader_init(struct dk_wire_reader *r, const void *buf, size_t len);
DK_EXPORT uint8_t dk_wire_get_u8(struct dk_wire_reader *r);
DK_EXPORT uint16_t dk_wire_get_u16(struct dk_wire_reader *r);
DK_EXPORT uint32_t dk_wire_get_u32(struct dk_wire_reader *r);
DK_EXPORT uint64_t dk_wire_get_u64(struct dk_wire_reader *r);
/* Copy @len bytes out; on underrun the destination is zero-filled and the error set. */
DK_EXPORT void dk_wire_get_bytes(struct dk_wire_reader *r, void *dst, size_t len);
/*
 * dk_wire_get_string - a u16 length followed by that many bytes, no NUL on the wire.
 * Copies into @dst (of @dst_size bytes, NUL-terminated). A string longer than @dst_size - 1,
 * or one containing a NUL byte, sets the error (-EPROTO) and leaves @dst empty; a @dst_size of 0
 * refuses every string. Returns the string length.
 */
DK_EXPORT size_t dk_wire_get_string(struct dk_wire_reader *r, char *dst, size_t dst_size);
/* Bytes left to read. */
DK_EXPORT size_t dk_wire_reader_left(const struct dk_wire_reader *r);
/* 0, or -EPROTO if any read ran past the end or met malformed data. */
DK_EXPORT int dk_wire_reader_error(const struct dk_wire_reader *r);

DK_EXPORT void dk_wire_writer_init(struct dk_wire_writer *w, void *buf, size_t size);
DK_EXPORT void dk_wire_put_u8(struct dk_wire_writer *w, uint8_t v);
DK_EXPORT void dk_wire_put_u16(struct dk_wire_writer *w, uint16_t v);
DK_EXPORT void dk_wire_put_u32(struct dk_wire_writer *w, uint32_t v);
DK_EXPORT void dk_wire_put_u64(struct dk_wire_writer *w, uint64_t v);
DK_EXPORT void dk_wire_put_bytes(struct dk_wire_writer *w, const void *src, size_t len);
/* A u16 length and the bytes of @s (without its NUL); strings over 65535 bytes set -EINVAL. */
DK_EXPORT void dk_wire_put_string(struct dk_wire_writer *w, const char *s);
/* Bytes written so far. */
DK_EXPORT size_t dk_wire_writer_len(const struct dk_wire_writer *w);
/* 0, or the first error (-ENOSPC when the buffer was too small, -EINVAL). */
DK_EXPORT int dk_wire_writer_error(const struct dk_wire_writer *w);

#ifdef __cplusplus
}
#endif

#endif /* DK_WIRE_H */
