/* SPDX-License-Identifier: MIT */
/*
 * test-frame.c - control-plane frames: encoding, decoding, every refusal class, versioning.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <dk/frame.h>
#include <dk/wire.h>

enum {
	OP_PING = 1,  /* no payload */
	OP_OPEN = 2,  /* fixed 16 bytes */
	OP_WRITE = 3, /* 4..64 bytes */
	OP_FENCE = 4, /* fixed 8 bytes, introduced in minor 1 */
	OP_UNKNOWN = 0x7777,
};

static const struct dk_frame_opdesc test_ops[] = {
    {.opcode = OP_PING, .since_minor = 0, .min_payload = 0, .max_payload = 0, .name = "ping"},
    {.opcode = OP_OPEN, .since_minor = 0, .min_payload = 16, .max_payload = 16, .name = "open"},
    {.opcode = OP_WRITE, .since_minor = 0, .min_payload = 4, .max_payload = 64, .name = "write"},
    {.opcode = OP_FENCE, .since_minor = 1, .min_payload = 8, .max_payload = 8, .name = "fence"},
};

/* The receiver's protocol: minor 1. */
static const struct dk_frame_proto test_proto = {
    .name = "test",
    .minor = 1,
    .n_ops = sizeof(test_ops) / sizeof(test_ops[0]),
    .ops = test_ops,
};

static uint8_t pattern[DK_FRAME_MAX_PAYLOAD + 16];

/* Encode a frame as a sender of minor @minor would. Returns its size. */
static size_t build(uint8_t *buf, size_t size, uint16_t minor, uint16_t opcode, uint16_t flags,
		    uint64_t seq, size_t payload_len)
{
	struct dk_frame_proto sender = test_proto;
	int n;

	sender.minor = minor;
	n = dk_frame_encode(buf, size, &sender, opcode, flags, seq, pattern, payload_len);
	assert_true(n >= 0);
	assert_int_equal(n, DK_FRAME_HEADER_SIZE + payload_len);
	return (size_t)n;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

/*
 * Decode @len bytes of @buf and expect refusal with @err and @detail, with the frame left
 * untouched.
 */
static void expect_refused(const uint8_t *buf, size_t len, const struct dk_frame_proto *proto,
			   int err, enum dk_frame_detail detail)
{
	struct dk_frame frame, before;
	enum dk_frame_detail got = DK_FRAME_OK;

	memset(&frame, 0x5a, sizeof(frame));
	before = frame;
	assert_int_equal(dk_frame_decode(buf, len, proto, &frame, &got), err);
	assert_int_equal(got, detail);
	assert_memory_equal(&frame, &before, sizeof(frame));

	/* The detail is optional. */
	assert_int_equal(dk_frame_decode(buf, len, proto, &frame, NULL), err);
	assert_memory_equal(&frame, &before, sizeof(frame));
}

/* Decode and expect success; returns the frame. */
static struct dk_frame expect_ok(const uint8_t *buf, size_t len)
{
	struct dk_frame frame;
	enum dk_frame_detail got = DK_FRAME_ERR_MAGIC;

	memset(&frame, 0, sizeof(frame));
	assert_int_equal(dk_frame_decode(buf, len, &test_proto, &frame, &got), 0);
	assert_int_equal(got, DK_FRAME_OK);
	assert_ptr_equal(frame.payload, buf + DK_FRAME_HEADER_SIZE);
	assert_int_equal(frame.major, DK_ABI_MAJOR);
	assert_non_null(frame.op);
	assert_int_equal(frame.op->opcode, frame.opcode);
	return frame;
}

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + 3);
	return 0;
}

static void test_detail_names(void **state)
{
	static const char *const names[] = {
	    [DK_FRAME_OK] = "ok",
	    [DK_FRAME_ERR_SHORT] = "short",
	    [DK_FRAME_ERR_MAGIC] = "magic",
	    [DK_FRAME_ERR_MAJOR] = "major",
	    [DK_FRAME_ERR_FLAGS] = "flags",
	    [DK_FRAME_ERR_LENGTH] = "length",
	    [DK_FRAME_ERR_TRUNCATED] = "truncated",
	    [DK_FRAME_ERR_TRAILING] = "trailing",
	    [DK_FRAME_ERR_UNKNOWN_OPCODE] = "unknown-opcode",
	    [DK_FRAME_ERR_PAYLOAD_SIZE] = "payload-size",
	    [DK_FRAME_ERR_MINOR] = "minor",
	};

	(void)state;
	for (unsigned int i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(dk_frame_detail_name((enum dk_frame_detail)i), names[i]);
	assert_string_equal(dk_frame_detail_name((enum dk_frame_detail)11), "unknown");
	assert_string_equal(dk_frame_detail_name((enum dk_frame_detail)12), "unknown");
	assert_string_equal(dk_frame_detail_name((enum dk_frame_detail)1000), "unknown");
}

static void test_find_op(void **state)
{
	const struct dk_frame_proto empty = {.name = "empty", .minor = 0, .n_ops = 0, .ops = NULL};

	(void)state;
	assert_ptr_equal(dk_frame_find_op(&test_proto, OP_PING), &test_ops[0]);
	assert_ptr_equal(dk_frame_find_op(&test_proto, OP_FENCE), &test_ops[3]);
	assert_null(dk_frame_find_op(&test_proto, 0));
	assert_null(dk_frame_find_op(&test_proto, OP_UNKNOWN));
	assert_null(dk_frame_find_op(&empty, OP_PING));
	assert_null(dk_frame_find_op(NULL, OP_PING));
}

/* The exact bytes of the header, little-endian whatever the host order. */
static void test_encode_layout(void **state)
{
	const uint8_t payload[3] = {0xaa, 0xbb, 0xcc};
	const uint8_t expected[DK_FRAME_HEADER_SIZE + 3] = {
	    'D',  'K',	'F',  '1',			    /* magic */
	    0x01, 0x00,					    /* major */
	    0x01, 0x00,					    /* minor (test_proto) */
	    0x34, 0x12,					    /* opcode */
	    0x05, 0x00,					    /* flags */
	    0x03, 0x00, 0x00, 0x00,			    /* length */
	    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* seq */
	    0xaa, 0xbb, 0xcc,
	};
	uint8_t buf[64];

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(dk_frame_encode(buf, sizeof(buf), &test_proto, 0x1234,
					 DK_FRAME_F_REPLY | DK_FRAME_F_FDS, 0x0102030405060708ull,
					 payload, sizeof(payload)),
			 sizeof(expected));
	assert_memory_equal(buf, expected, sizeof(expected));
	assert_int_equal(buf[sizeof(expected)], 0xee);

	/* Without a protocol the minor is the library's. */
	assert_int_equal(dk_frame_encode(buf, sizeof(buf), NULL, 1, 0, 0, NULL, 0),
			 DK_FRAME_HEADER_SIZE);
	assert_int_equal(buf[6], DK_ABI_MINOR & 0xff);
	assert_int_equal(buf[7], DK_ABI_MINOR >> 8);
	assert_int_equal(buf[12], 0);
}

static void test_round_trip(void **state)
{
	static const struct {
		uint16_t opcode;
		uint16_t flags;
		uint64_t seq;
		size_t len;
	} cases[] = {
	    {OP_PING, 0, 0, 0},
	    {OP_PING, DK_FRAME_F_REPLY, 1, 0},
	    {OP_OPEN, 0, 42, 16},
	    {OP_OPEN, DK_FRAME_F_FDS, UINT64_MAX, 16},
	    {OP_WRITE, 0, 7, 4},
	    {OP_WRITE, DK_FRAME_F_REPLY | DK_FRAME_F_FDS, 0x8000000000000001ull, 37},
	    {OP_WRITE, 0, 9, 64},
	    {OP_FENCE, 0, 10, 8},
	};
	uint8_t buf[DK_FRAME_MAX_SIZE], again[DK_FRAME_MAX_SIZE];

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dk_frame f;
		size_t n = build(buf, sizeof(buf), test_proto.minor, cases[i].opcode,
				 cases[i].flags, cases[i].seq, cases[i].len);
		int m;

		f = expect_ok(buf, n);
		assert_int_equal(f.minor, test_proto.minor);
		assert_int_equal(f.opcode, cases[i].opcode);
		assert_int_equal(f.flags, cases[i].flags);
		assert_true(f.seq == cases[i].seq);
		assert_int_equal(f.length, cases[i].len);
		assert_int_equal(f.known_length, cases[i].len);
		assert_memory_equal(f.payload, pattern, cases[i].len);
		assert_ptr_equal(f.op, dk_frame_find_op(&test_proto, cases[i].opcode));

		/* Re-encoding the decoded frame gives the same bytes. */
		m = dk_frame_encode(again, sizeof(again), &test_proto, f.opcode, f.flags, f.seq,
				    f.payload, f.length);
		assert_int_equal(m, n);
		assert_memory_equal(again, buf, n);
	}
}

/* An older sender (minor 0) is held to the exact bounds of the opcodes it knows. */
static void test_older_sender(void **state)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	struct dk_frame f;
	size_t n;

	(void)state;
	n = build(buf, sizeof(buf), 0, OP_OPEN, 0, 1, 16);
	f = expect_ok(buf, n);
	assert_int_equal(f.minor, 0);
	assert_int_equal(f.known_length, 16);

	n = build(buf, sizeof(buf), 0, OP_OPEN, 0, 1, 17);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_PAYLOAD_SIZE);
	n = build(buf, sizeof(buf), 0, OP_WRITE, 0, 1, 65);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_PAYLOAD_SIZE);
}

static void test_refuse_short(void **state)
{
	uint8_t buf[DK_FRAME_HEADER_SIZE];

	(void)state;
	build(buf, sizeof(buf), 1, OP_PING, 0, 0, 0);
	for (size_t len = 0; len < DK_FRAME_HEADER_SIZE; len++)
		expect_refused(buf, len, &test_proto, -EPROTO, DK_FRAME_ERR_SHORT);
	expect_refused(NULL, 0, &test_proto, -EPROTO, DK_FRAME_ERR_SHORT);
}

static void test_refuse_magic(void **state)
{
	uint8_t buf[64];
	size_t n;

	(void)state;
	n = build(buf, sizeof(buf), 1, OP_WRITE, 0, 0, 4);
	for (unsigned int i = 0; i < 4; i++) {
		buf[i] ^= 0x20;
		expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_MAGIC);
		buf[i] ^= 0x20;
	}
	/* Big-endian magic is not the magic. */
	put_le32(buf, 0x444b4631u);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_MAGIC);
}

static void test_refuse_major(void **state)
{
	static const uint16_t majors[] = {0, DK_ABI_MAJOR + 1, 0x0100, UINT16_MAX};
	uint8_t buf[64];
	size_t n;

	(void)state;
	n = build(buf, sizeof(buf), 1, OP_PING, 0, 0, 0);
	for (unsigned int i = 0; i < sizeof(majors) / sizeof(majors[0]); i++) {
		put_le16(buf + 4, majors[i]);
		expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_MAJOR);
	}
}

static void test_refuse_flags(void **state)
{
	static const uint16_t flags[] = {
	    1u << 3,
	    1u << 7,
	    1u << 15,
	    DK_FRAME_F_KNOWN | 1u << 4,
	    UINT16_MAX,
	    DK_FRAME_F_ERROR,
	    DK_FRAME_F_ERROR | DK_FRAME_F_FDS,
	};
	uint8_t buf[64];
	size_t n;

	(void)state;
	n = build(buf, sizeof(buf), 1, OP_FENCE, 0, 0, 8);
	for (unsigned int i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		put_le16(buf + 10, flags[i]);
		expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_FLAGS);
	}
}

static void test_refuse_length(void **state)
{
	static const uint32_t lengths[] = {DK_FRAME_MAX_PAYLOAD + 1, 0x10000, 0x80000000u,
					   UINT32_MAX};
	static uint8_t buf[DK_FRAME_MAX_SIZE + 16];

	(void)state;
	build(buf, sizeof(buf), 1, OP_WRITE, 0, 0, 4);
	for (unsigned int i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		put_le32(buf + 12, lengths[i]);
		/* Checked before the actual size: a header alone, or more than enough bytes. */
		expect_refused(buf, DK_FRAME_HEADER_SIZE, &test_proto, -EPROTO,
			       DK_FRAME_ERR_LENGTH);
		expect_refused(buf, sizeof(buf), &test_proto, -EPROTO, DK_FRAME_ERR_LENGTH);
	}
}

/* Every prefix of a valid frame is refused: short below a header, truncated after. */
static void test_refuse_every_truncation(void **state)
{
	static const struct {
		uint16_t opcode;
		size_t len;
	} cases[] = {{OP_OPEN, 16}, {OP_WRITE, 64}, {OP_FENCE, 8}};
	uint8_t buf[DK_FRAME_MAX_SIZE];

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = build(buf, sizeof(buf), 1, cases[i].opcode, 0, 3, cases[i].len);

		for (size_t len = 0; len < n; len++) {
			expect_refused(buf, len, &test_proto, -EPROTO,
				       len < DK_FRAME_HEADER_SIZE ? DK_FRAME_ERR_SHORT
								  : DK_FRAME_ERR_TRUNCATED);
		}
		expect_ok(buf, n);
	}

	/* The largest frame, cut anywhere in its payload, from a newer sender. */
	size_t n = build(buf, sizeof(buf), 2, OP_WRITE, 0, 3, DK_FRAME_MAX_PAYLOAD);
	for (size_t len = DK_FRAME_HEADER_SIZE; len < n; len++)
		expect_refused(buf, len, &test_proto, -EPROTO, DK_FRAME_ERR_TRUNCATED);
	expect_ok(buf, n);
}

static void test_refuse_trailing(void **state)
{
	uint8_t buf[DK_FRAME_MAX_SIZE + 8];
	size_t n;

	(void)state;
	n = build(buf, sizeof(buf), 1, OP_OPEN, 0, 0, 16);
	memset(buf + n, 0, 8);
	for (size_t extra = 1; extra <= 8; extra++)
		expect_refused(buf, n + extra, &test_proto, -EPROTO, DK_FRAME_ERR_TRAILING);

	/* Two frames in one datagram are refused too. */
	n = build(buf, sizeof(buf), 1, OP_PING, 0, 0, 0);
	memcpy(buf + n, buf, n);
	expect_refused(buf, 2 * n, &test_proto, -EPROTO, DK_FRAME_ERR_TRAILING);
}

static void test_refuse_unknown_opcode(void **state)
{
	const struct dk_frame_proto empty = {.name = "empty", .minor = 1, .n_ops = 0, .ops = NULL};
	uint8_t buf[64];
	size_t n;

	(void)state;
	n = build(buf, sizeof(buf), 1, OP_UNKNOWN, 0, 5, 12);
	expect_refused(buf, n, &test_proto, -EOPNOTSUPP, DK_FRAME_ERR_UNKNOWN_OPCODE);
	n = build(buf, sizeof(buf), 1, 0, 0, 5, 0);
	expect_refused(buf, n, &test_proto, -EOPNOTSUPP, DK_FRAME_ERR_UNKNOWN_OPCODE);
	/* Also from a newer sender, and as a reply. */
	n = build(buf, sizeof(buf), 9, OP_UNKNOWN, DK_FRAME_F_REPLY, 5, 0);
	expect_refused(buf, n, &test_proto, -EOPNOTSUPP, DK_FRAME_ERR_UNKNOWN_OPCODE);
	/* A protocol without opcodes, or none at all, knows nothing. */
	n = build(buf, sizeof(buf), 1, OP_PING, 0, 5, 0);
	expect_refused(buf, n, &empty, -EOPNOTSUPP, DK_FRAME_ERR_UNKNOWN_OPCODE);
	expect_refused(buf, n, NULL, -EOPNOTSUPP, DK_FRAME_ERR_UNKNOWN_OPCODE);
}

static void test_refuse_payload_size(void **state)
{
	static const struct {
		uint16_t opcode;
		uint16_t minor;
		size_t len;
	} cases[] = {
	    {OP_PING, 1, 1},
	    {OP_OPEN, 1, 0},
	    {OP_OPEN, 1, 15},
	    {OP_OPEN, 1, 17},
	    {OP_WRITE, 1, 0},
	    {OP_WRITE, 1, 3},
	    {OP_WRITE, 1, 65},
	    {OP_FENCE, 1, 7},
	    {OP_FENCE, 1, 9},
	    {OP_FENCE, 1, 4096},
	    /* A newer sender may add bytes but not carry fewer than the minimum. */
	    {OP_OPEN, 2, 15},
	    {OP_WRITE, 2, 3},
	    {OP_FENCE, 7, 0},
	};
	uint8_t buf[DK_FRAME_MAX_SIZE];

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n =
		    build(buf, sizeof(buf), cases[i].minor, cases[i].opcode, 0, 0, cases[i].len);

		expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_PAYLOAD_SIZE);
	}
}

/* An opcode introduced in minor 1 cannot come from a minor-0 sender. */
static void test_refuse_minor(void **state)
{
	uint8_t buf[64];
	size_t n;

	(void)state;
	n = build(buf, sizeof(buf), 0, OP_FENCE, 0, 0, 8);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_MINOR);
	n = build(buf, sizeof(buf), 0, OP_FENCE, DK_FRAME_F_REPLY, 0, 8);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_MINOR);

	n = build(buf, sizeof(buf), 1, OP_FENCE, 0, 0, 8);
	expect_ok(buf, n);
}

/* A newer sender may append bytes; the receiver sees them but understands only its part. */
static void test_newer_minor(void **state)
{
	static const struct {
		uint16_t opcode;
		uint16_t minor;
		size_t len;
		uint32_t known;
	} cases[] = {
	    {OP_PING, 2, 0, 0},
	    {OP_PING, 2, 5, 0},
	    {OP_OPEN, 2, 16, 16},
	    {OP_OPEN, 2, 26, 16},
	    {OP_WRITE, 2, 10, 10},
	    {OP_WRITE, 2, 64, 64},
	    {OP_WRITE, 3, 100, 64},
	    {OP_WRITE, UINT16_MAX, DK_FRAME_MAX_PAYLOAD, 64},
	    {OP_FENCE, 2, 8, 8},
	    {OP_FENCE, 2, 9, 8},
	    {OP_FENCE, 2, DK_FRAME_MAX_PAYLOAD, 8},
	};
	uint8_t buf[DK_FRAME_MAX_SIZE];

	(void)state;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n =
		    build(buf, sizeof(buf), cases[i].minor, cases[i].opcode, 0, 77, cases[i].len);
		struct dk_frame f = expect_ok(buf, n);

		assert_int_equal(f.minor, cases[i].minor);
		assert_int_equal(f.length, cases[i].len);
		assert_int_equal(f.known_length, cases[i].known);
		assert_memory_equal(f.payload, pattern, cases[i].len);
	}

	/* Still bounded by the frame limits. */
	size_t n = build(buf, sizeof(buf), 2, OP_WRITE, 0, 0, 10);
	put_le32(buf + 12, DK_FRAME_MAX_PAYLOAD + 1);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_LENGTH);
}

static size_t build_error(uint8_t *buf, size_t size, uint16_t minor, uint16_t opcode, int32_t error,
			  uint32_t reason, size_t extra)
{
	struct dk_frame_proto sender = test_proto;
	uint8_t payload[DK_FRAME_ERROR_PAYLOAD + 64];
	struct dk_wire_writer w;
	int n;

	assert_true(extra <= 64);
	dk_wire_writer_init(&w, payload, sizeof(payload));
	dk_wire_put_u32(&w, (uint32_t)error);
	dk_wire_put_u32(&w, reason);
	dk_wire_put_bytes(&w, pattern, extra);
	assert_int_equal(dk_wire_writer_error(&w), 0);

	sender.minor = minor;
	n = dk_frame_encode(buf, size, &sender, opcode, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR, 99,
			    payload, dk_wire_writer_len(&w));
	assert_true(n > 0);
	return (size_t)n;
}

static void test_error_reply(void **state)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	struct dk_wire_reader r;
	struct dk_frame f;
	size_t n;

	(void)state;
	/* Checked against the error payload, not the opcode's bounds (ping carries none). */
	n = build_error(buf, sizeof(buf), 1, OP_PING, -EBUSY, 5, 0);
	f = expect_ok(buf, n);
	assert_int_equal(f.flags, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR);
	assert_int_equal(f.length, DK_FRAME_ERROR_PAYLOAD);
	assert_int_equal(f.known_length, DK_FRAME_ERROR_PAYLOAD);
	assert_true(f.seq == 99);
	dk_wire_reader_init(&r, f.payload, f.known_length);
	assert_int_equal((int32_t)dk_wire_get_u32(&r), -EBUSY);
	assert_int_equal(dk_wire_get_u32(&r), 5);
	assert_int_equal(dk_wire_reader_error(&r), 0);

	n = build_error(buf, sizeof(buf), 1, OP_OPEN, -EINVAL, 6, 0);
	expect_ok(buf, n);

	/* Same minor: exactly the error payload. */
	n = build(buf, sizeof(buf), 1, OP_OPEN, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR, 0, 7);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_PAYLOAD_SIZE);
	n = build(buf, sizeof(buf), 1, OP_OPEN, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR, 0, 0);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_PAYLOAD_SIZE);
	n = build_error(buf, sizeof(buf), 1, OP_OPEN, -EINVAL, 6, 1);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_PAYLOAD_SIZE);
	/* An older sender too. */
	n = build_error(buf, sizeof(buf), 0, OP_OPEN, -EINVAL, 6, 4);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_PAYLOAD_SIZE);

	/* A newer sender may append to the error payload. */
	n = build_error(buf, sizeof(buf), 2, OP_WRITE, -EIO, 1, 12);
	f = expect_ok(buf, n);
	assert_int_equal(f.length, DK_FRAME_ERROR_PAYLOAD + 12);
	assert_int_equal(f.known_length, DK_FRAME_ERROR_PAYLOAD);
	n = build(buf, sizeof(buf), 2, OP_OPEN, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR, 0, 7);
	expect_refused(buf, n, &test_proto, -EPROTO, DK_FRAME_ERR_PAYLOAD_SIZE);

	/* An error reply to an opcode we do not know is still refused. */
	n = build_error(buf, sizeof(buf), 1, OP_UNKNOWN, -EIO, 1, 0);
	expect_refused(buf, n, &test_proto, -EOPNOTSUPP, DK_FRAME_ERR_UNKNOWN_OPCODE);

	/*
	 * An older peer may refuse an opcode newer than it with an error reply: that reply is
	 * accepted, since it carries no payload of the opcode.
	 */
	n = build_error(buf, sizeof(buf), 0, OP_FENCE, -EOPNOTSUPP, 0, 0);
	f = expect_ok(buf, n);
	assert_int_equal(f.opcode, OP_FENCE);
	assert_int_equal(f.minor, 0);
}

/* Refused encodes return the right error and write nothing. */
static void test_encode_refusals(void **state)
{
	static uint8_t buf[DK_FRAME_MAX_SIZE + 8], before[DK_FRAME_MAX_SIZE + 8];
	static const struct {
		uint16_t flags;
		size_t len;
		size_t buf_size;
		int err;
	} cases[] = {
	    {1u << 3, 0, sizeof(buf), -EINVAL},
	    {UINT16_MAX, 0, sizeof(buf), -EINVAL},
	    {DK_FRAME_F_ERROR, 8, sizeof(buf), -EINVAL},
	    {0, DK_FRAME_MAX_PAYLOAD + 1, sizeof(buf), -EMSGSIZE},
	    {0, SIZE_MAX, sizeof(buf), -EMSGSIZE},
	    {0, 0, DK_FRAME_HEADER_SIZE - 1, -ENOSPC},
	    {0, 0, 0, -ENOSPC},
	    {0, 16, DK_FRAME_HEADER_SIZE + 15, -ENOSPC},
	    {0, DK_FRAME_MAX_PAYLOAD, DK_FRAME_MAX_SIZE - 1, -ENOSPC},
	};

	(void)state;
	memset(buf, 0xc3, sizeof(buf));
	memcpy(before, buf, sizeof(buf));
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(dk_frame_encode(buf, cases[i].buf_size, &test_proto, OP_WRITE,
						 cases[i].flags, 1, pattern, cases[i].len),
				 cases[i].err);
		assert_memory_equal(buf, before, sizeof(buf));
	}
	/* A payload length without a payload. */
	assert_int_equal(dk_frame_encode(buf, sizeof(buf), &test_proto, OP_WRITE, 0, 1, NULL, 4),
			 -EINVAL);
	assert_memory_equal(buf, before, sizeof(buf));
	/* The exact size fits. */
	assert_int_equal(dk_frame_encode(buf, DK_FRAME_MAX_SIZE, &test_proto, OP_WRITE, 0, 1,
					 pattern, DK_FRAME_MAX_PAYLOAD),
			 DK_FRAME_MAX_SIZE);
	assert_int_equal(buf[DK_FRAME_MAX_SIZE], 0xc3);
}

/* A corrupted byte anywhere in the header is either refused or decodes consistently. */
static void test_header_bit_flips(void **state)
{
	uint8_t buf[64];
	size_t n;

	(void)state;
	n = build(buf, sizeof(buf), 1, OP_WRITE, 0, 0x1122334455667788ull, 8);
	for (size_t byte = 0; byte < DK_FRAME_HEADER_SIZE; byte++) {
		for (unsigned int bit = 0; bit < 8; bit++) {
			struct dk_frame f;
			enum dk_frame_detail d = DK_FRAME_OK;
			int ret;

			buf[byte] ^= (uint8_t)(1u << bit);
			ret = dk_frame_decode(buf, n, &test_proto, &f, &d);
			if (ret == 0) {
				assert_int_equal(d, DK_FRAME_OK);
				assert_true(f.known_length <= f.length);
				assert_true(DK_FRAME_HEADER_SIZE + f.length == n);
			} else {
				assert_true(ret == -EPROTO || ret == -EOPNOTSUPP);
				assert_int_not_equal(d, DK_FRAME_OK);
				assert_true((ret == -EOPNOTSUPP) ==
					    (d == DK_FRAME_ERR_UNKNOWN_OPCODE));
			}
			buf[byte] ^= (uint8_t)(1u << bit);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detail_names),
	    cmocka_unit_test(test_find_op),
	    cmocka_unit_test(test_encode_layout),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_older_sender),
	    cmocka_unit_test(test_refuse_short),
	    cmocka_unit_test(test_refuse_magic),
	    cmocka_unit_test(test_refuse_major),
	    cmocka_unit_test(test_refuse_flags),
	    cmocka_unit_test(test_refuse_length),
	    cmocka_unit_test(test_refuse_every_truncation),
	    cmocka_unit_test(test_refuse_trailing),
	    cmocka_unit_test(test_refuse_unknown_opcode),
	    cmocka_unit_test(test_refuse_payload_size),
	    cmocka_unit_test(test_refuse_minor),
	    cmocka_unit_test(test_newer_minor),
	    cmocka_unit_test(test_error_reply),
	    cmocka_unit_test(test_encode_refusals),
	    cmocka_unit_test(test_header_bit_flips),
	};

	return cmocka_run_group_tests_name("frame", tests, setup, NULL);
}
