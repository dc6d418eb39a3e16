/* SPDX-License-Identifier: MIT */
/*
 * test-wire.c - payload readers and writers: byte order, sticky errors, zero fill, strings.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dk/wire.h>

static const uint8_t le_bytes[] = {
    0x11,					    /* u8 */
    0x22, 0x33,					    /* u16 0x3322 */
    0x44, 0x55, 0x66, 0x77,			    /* u32 0x77665544 */
    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, /* u64 0xffeeddccbbaa9988 */
};

static void test_reader_values(void **state)
{
	struct dk_wire_reader r;

	(void)state;
	dk_wire_reader_init(&r, le_bytes, sizeof(le_bytes));
	assert_int_equal(dk_wire_reader_left(&r), 15);
	assert_int_equal(dk_wire_get_u8(&r), 0x11);
	assert_int_equal(dk_wire_get_u16(&r), 0x3322);
	assert_int_equal(dk_wire_reader_left(&r), 12);
	assert_int_equal(dk_wire_get_u32(&r), 0x77665544u);
	assert_true(dk_wire_get_u64(&r) == 0xffeeddccbbaa9988ull);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	assert_int_equal(dk_wire_reader_error(&r), 0);
}

/* Reads at odd offsets never need aligned input. */
static void test_reader_unaligned(void **state)
{
	uint8_t buf[sizeof(le_bytes) + 3];
	struct dk_wire_reader r;

	(void)state;
	for (size_t off = 0; off < 4; off++) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf + off, le_bytes + 7, 8);
		dk_wire_reader_init(&r, buf + off, 8);
		assert_true(dk_wire_get_u64(&r) == 0xffeeddccbbaa9988ull);
		assert_int_equal(dk_wire_reader_error(&r), 0);
	}
}

static void test_reader_underrun_sticky(void **state)
{
	struct dk_wire_reader r;

	(void)state;
	dk_wire_reader_init(&r, le_bytes, 3);
	assert_int_equal(dk_wire_get_u32(&r), 0);
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);
	/* Exhausted: bytes that were left are not handed out after the failure. */
	assert_int_equal(dk_wire_reader_left(&r), 0);
	assert_int_equal(dk_wire_get_u8(&r), 0);
	assert_int_equal(dk_wire_get_u16(&r), 0);
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);

	/* Each width underruns by one byte. */
	dk_wire_reader_init(&r, le_bytes, 1);
	assert_int_equal(dk_wire_get_u16(&r), 0);
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);
	dk_wire_reader_init(&r, le_bytes, 7);
	assert_true(dk_wire_get_u64(&r) == 0);
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);
	dk_wire_reader_init(&r, le_bytes, 0);
	assert_int_equal(dk_wire_get_u8(&r), 0);
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);

	/* Reading up to the end exactly is fine; one more is not. */
	dk_wire_reader_init(&r, le_bytes, 2);
	assert_int_equal(dk_wire_get_u16(&r), 0x2211);
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_get_u8(&r), 0);
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);

	/* An empty or NULL range has nothing to give. */
	dk_wire_reader_init(&r, NULL, 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_get_u32(&r), 0);
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);
}

static void test_reader_bytes_zero_fill(void **state)
{
	struct dk_wire_reader r;
	uint8_t dst[32];
	const uint8_t zeros[32] = {0};

	(void)state;
	dk_wire_reader_init(&r, le_bytes, sizeof(le_bytes));
	memset(dst, 0xff, sizeof(dst));
	dk_wire_get_bytes(&r, dst, 4);
	assert_memory_equal(dst, le_bytes, 4);
	assert_int_equal(dst[4], 0xff);
	assert_int_equal(dk_wire_reader_left(&r), 11);

	/* Zero bytes is always fine, even with no destination. */
	dk_wire_get_bytes(&r, NULL, 0);
	assert_int_equal(dk_wire_reader_error(&r), 0);

	/* Asking for more than is left fills the whole destination with zeros. */
	dk_wire_get_bytes(&r, dst, 12);
	assert_memory_equal(dst, zeros, 12);
	assert_int_equal(dst[12], 0xff);
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);

	/* And every later read too, even one that would have fit before. */
	memset(dst, 0xff, sizeof(dst));
	dk_wire_get_bytes(&r, dst, 1);
	assert_int_equal(dst[0], 0);
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);
}

/* Build "u16 length + bytes" into @buf. */
static size_t make_string(uint8_t *buf, uint16_t len, const void *bytes, size_t n)
{
	buf[0] = (uint8_t)len;
	buf[1] = (uint8_t)(len >> 8);
	memcpy(buf + 2, bytes, n);
	return 2 + n;
}

static void test_string_basic(void **state)
{
	struct dk_wire_reader r;
	uint8_t buf[64];
	char dst[8];
	size_t n;

	(void)state;
	/* Empty. */
	n = make_string(buf, 0, "", 0);
	memset(dst, 'x', sizeof(dst));
	dk_wire_reader_init(&r, buf, n);
	assert_int_equal(dk_wire_get_string(&r, dst, sizeof(dst)), 0);
	assert_string_equal(dst, "");
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);

	/* Empty string into a one-byte destination. */
	dk_wire_reader_init(&r, buf, n);
	assert_int_equal(dk_wire_get_string(&r, dst, 1), 0);
	assert_int_equal(dst[0], '\0');
	assert_int_equal(dk_wire_reader_error(&r), 0);

	/* The longest that fits: dst_size - 1 bytes. */
	n = make_string(buf, 7, "abcdefg", 7);
	buf[n] = 0x42;
	memset(dst, 'x', sizeof(dst));
	dk_wire_reader_init(&r, buf, n + 1);
	assert_int_equal(dk_wire_get_string(&r, dst, sizeof(dst)), 7);
	assert_string_equal(dst, "abcdefg");
	assert_int_equal(dk_wire_get_u8(&r), 0x42);
	assert_int_equal(dk_wire_reader_error(&r), 0);

	/* Two strings in a row. */
	n = make_string(buf, 2, "hi", 2);
	n += make_string(buf + n, 3, "you", 3);
	dk_wire_reader_init(&r, buf, n);
	assert_int_equal(dk_wire_get_string(&r, dst, sizeof(dst)), 2);
	assert_string_equal(dst, "hi");
	assert_int_equal(dk_wire_get_string(&r, dst, sizeof(dst)), 3);
	assert_string_equal(dst, "you");
	assert_int_equal(dk_wire_reader_error(&r), 0);
}

/* Refused strings set -EPROTO and leave an empty string behind. */
static void test_string_refused(void **state)
{
	static const struct {
		const char *what;
		uint16_t len;
		const char *bytes;
		size_t n;
		size_t dst_size;
	} cases[] = {
	    {"one too long", 8, "abcdefgh", 8, 8},
	    {"much too long", 20, "abcdefghijklmnopqrst", 20, 8},
	    {"nul inside", 3, "a\0b", 3, 8},
	    {"nul first", 1, "\0", 1, 8},
	    {"nul last", 4, "abc\0", 4, 8},
	    {"truncated", 10, "abcde", 5, 16},
	    {"no room for nul", 1, "a", 1, 1},
	    {"empty, no destination", 0, "", 0, 0},
	    {"some, no destination", 1, "a", 1, 0},
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dk_wire_reader r;
		uint8_t buf[64];
		char dst[16];
		size_t n;

		print_message("case: %s\n", cases[i].what);
		n = make_string(buf, cases[i].len, cases[i].bytes, cases[i].n);
		memset(dst, 'x', sizeof(dst));
		dk_wire_reader_init(&r, buf, n);
		assert_int_equal(
		    dk_wire_get_string(&r, cases[i].dst_size ? dst : NULL, cases[i].dst_size), 0);
		assert_int_equal(dk_wire_reader_error(&r), -EPROTO);
		if (cases[i].dst_size > 0)
			assert_int_equal(dst[0], '\0');
		else
			assert_int_equal(dst[0], 'x');
		/* Sticky: nothing more comes out. */
		assert_int_equal(dk_wire_get_u8(&r), 0);
		assert_int_equal(dk_wire_reader_error(&r), -EPROTO);
	}
}

static void test_string_prefix_underrun(void **state)
{
	const uint8_t one = 5;
	struct dk_wire_reader r;
	char dst[8];

	(void)state;
	memset(dst, 'x', sizeof(dst));
	dk_wire_reader_init(&r, &one, 1);
	assert_int_equal(dk_wire_get_string(&r, dst, sizeof(dst)), 0);
	assert_string_equal(dst, "");
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);

	/* A string read after an earlier failure also yields "". */
	memset(dst, 'x', sizeof(dst));
	assert_int_equal(dk_wire_get_string(&r, dst, sizeof(dst)), 0);
	assert_string_equal(dst, "");
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);
}

/* The longest string the prefix can carry, through a writer and a reader. */
static void test_string_max(void **state)
{
	const size_t max = 0xffff;
	char *s = malloc(max + 2), *dst = malloc(max + 2);
	uint8_t *buf = malloc(max + 3);
	struct dk_wire_writer w;
	struct dk_wire_reader r;

	(void)state;
	assert_non_null(s);
	assert_non_null(dst);
	assert_non_null(buf);
	for (size_t i = 0; i < max; i++)
		s[i] = (char)('a' + i % 26);
	s[max] = '\0';

	dk_wire_writer_init(&w, buf, max + 2);
	dk_wire_put_string(&w, s);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_wire_writer_len(&w), max + 2);
	assert_int_equal(buf[0], 0xff);
	assert_int_equal(buf[1], 0xff);

	dk_wire_reader_init(&r, buf, max + 2);
	assert_int_equal(dk_wire_get_string(&r, dst, max + 1), max);
	assert_string_equal(dst, s);
	assert_int_equal(dk_wire_reader_error(&r), 0);

	/* One byte short of room for the NUL. */
	dk_wire_reader_init(&r, buf, max + 2);
	assert_int_equal(dk_wire_get_string(&r, dst, max), 0);
	assert_string_equal(dst, "");
	assert_int_equal(dk_wire_reader_error(&r), -EPROTO);

	/* One byte too long for the prefix: -EINVAL, nothing written. */
	s[max] = 'z';
	s[max + 1] = '\0';
	memset(buf, 0xc3, max + 3);
	dk_wire_writer_init(&w, buf, max + 3);
	dk_wire_put_string(&w, s);
	assert_int_equal(dk_wire_writer_error(&w), -EINVAL);
	assert_int_equal(dk_wire_writer_len(&w), 0);
	assert_int_equal(buf[0], 0xc3);

	free(buf);
	free(dst);
	free(s);
}

static void test_writer_values(void **state)
{
	uint8_t buf[sizeof(le_bytes) + 1];
	struct dk_wire_writer w;

	(void)state;
	memset(buf, 0xc3, sizeof(buf));
	dk_wire_writer_init(&w, buf, sizeof(buf) - 1);
	assert_int_equal(dk_wire_writer_len(&w), 0);
	dk_wire_put_u8(&w, 0x11);
	dk_wire_put_u16(&w, 0x3322);
	dk_wire_put_u32(&w, 0x77665544u);
	dk_wire_put_u64(&w, 0xffeeddccbbaa9988ull);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_wire_writer_len(&w), sizeof(le_bytes));
	assert_memory_equal(buf, le_bytes, sizeof(le_bytes));
	assert_int_equal(buf[sizeof(le_bytes)], 0xc3);
	dk_wire_put_bytes(&w, NULL, 0);
	assert_int_equal(dk_wire_writer_error(&w), 0);
}

static void test_writer_overflow_sticky(void **state)
{
	uint8_t buf[8];
	struct dk_wire_writer w;

	(void)state;
	memset(buf, 0xc3, sizeof(buf));
	dk_wire_writer_init(&w, buf, 5);
	dk_wire_put_u32(&w, 0x01020304u);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	/* Does not fit: nothing of it is written. */
	dk_wire_put_u16(&w, 0xabcd);
	assert_int_equal(dk_wire_writer_error(&w), -ENOSPC);
	assert_int_equal(dk_wire_writer_len(&w), 4);
	assert_int_equal(buf[4], 0xc3);
	/* Sticky: a byte that would fit is not written either. */
	dk_wire_put_u8(&w, 0x55);
	dk_wire_put_bytes(&w, "z", 1);
	dk_wire_put_string(&w, "");
	assert_int_equal(dk_wire_writer_error(&w), -ENOSPC);
	assert_int_equal(dk_wire_writer_len(&w), 4);
	assert_int_equal(buf[4], 0xc3);

	/* Each width overflowing by one byte. */
	dk_wire_writer_init(&w, buf, 7);
	dk_wire_put_u64(&w, 1);
	assert_int_equal(dk_wire_writer_error(&w), -ENOSPC);
	assert_int_equal(dk_wire_writer_len(&w), 0);
	dk_wire_writer_init(&w, buf, 0);
	dk_wire_put_u8(&w, 1);
	assert_int_equal(dk_wire_writer_error(&w), -ENOSPC);
	dk_wire_writer_init(&w, NULL, 0);
	dk_wire_put_u8(&w, 1);
	assert_int_equal(dk_wire_writer_error(&w), -ENOSPC);
	assert_int_equal(dk_wire_writer_len(&w), 0);

	/* Exact fit. */
	dk_wire_writer_init(&w, buf, 8);
	dk_wire_put_u64(&w, 2);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_wire_writer_len(&w), 8);
}

static void test_writer_string(void **state)
{
	uint8_t buf[8];
	struct dk_wire_writer w;
	const uint8_t expected[] = {3, 0, 'a', 'b', 'c', 0, 0};

	(void)state;
	memset(buf, 0xc3, sizeof(buf));
	dk_wire_writer_init(&w, buf, sizeof(buf));
	dk_wire_put_string(&w, "abc");
	dk_wire_put_string(&w, "");
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_wire_writer_len(&w), sizeof(expected));
	assert_memory_equal(buf, expected, sizeof(expected));

	/* The prefix and the bytes go together or not at all. */
	memset(buf, 0xc3, sizeof(buf));
	dk_wire_writer_init(&w, buf, 5);
	dk_wire_put_string(&w, "abcd");
	assert_int_equal(dk_wire_writer_error(&w), -ENOSPC);
	assert_int_equal(dk_wire_writer_len(&w), 0);
	assert_int_equal(buf[0], 0xc3);

	/* NULL is refused; the first error is kept. */
	dk_wire_writer_init(&w, buf, sizeof(buf));
	dk_wire_put_string(&w, NULL);
	assert_int_equal(dk_wire_writer_error(&w), -EINVAL);
	dk_wire_put_u64(&w, 0);
	dk_wire_put_u8(&w, 0);
	assert_int_equal(dk_wire_writer_error(&w), -EINVAL);
	assert_int_equal(dk_wire_writer_len(&w), 0);
}

/* A message written field by field reads back the same way. */
static void test_round_trip(void **state)
{
	uint8_t buf[64], raw[5] = {1, 2, 3, 4, 5}, got[5];
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	char name[16];

	(void)state;
	dk_wire_writer_init(&w, buf, sizeof(buf));
	dk_wire_put_u16(&w, 0xbeef);
	dk_wire_put_string(&w, "gpu0");
	dk_wire_put_u64(&w, UINT64_MAX - 1);
	dk_wire_put_bytes(&w, raw, sizeof(raw));
	dk_wire_put_u32(&w, (uint32_t)-EIO);
	dk_wire_put_u8(&w, 0x80);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_wire_writer_len(&w), 2 + 6 + 8 + 5 + 4 + 1);

	dk_wire_reader_init(&r, buf, dk_wire_writer_len(&w));
	assert_int_equal(dk_wire_get_u16(&r), 0xbeef);
	assert_int_equal(dk_wire_get_string(&r, name, sizeof(name)), 4);
	assert_string_equal(name, "gpu0");
	assert_true(dk_wire_get_u64(&r) == UINT64_MAX - 1);
	dk_wire_get_bytes(&r, got, sizeof(got));
	assert_memory_equal(got, raw, sizeof(raw));
	assert_int_equal((int32_t)dk_wire_get_u32(&r), -EIO);
	assert_int_equal(dk_wire_get_u8(&r), 0x80);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	assert_int_equal(dk_wire_reader_error(&r), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reader_values),
	    cmocka_unit_test(test_reader_unaligned),
	    cmocka_unit_test(test_reader_underrun_sticky),
	    cmocka_unit_test(test_reader_bytes_zero_fill),
	    cmocka_unit_test(test_string_basic),
	    cmocka_unit_test(test_string_refused),
	    cmocka_unit_test(test_string_prefix_underrun),
	    cmocka_unit_test(test_string_max),
	    cmocka_unit_test(test_writer_values),
	    cmocka_unit_test(test_writer_overflow_sticky),
	    cmocka_unit_test(test_writer_string),
	    cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
