/* SPDX-License-Identifier: MIT */
/*
 * Journal records: every cap at exactly the limit and one byte over, malformed strings, field
 * syntax (key=value and flat JSON), redaction of secret-looking keys, and the record codec.
 * dk/log.h is included first, alone, to prove it compiles by itself.
 */
#include <dk/log.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log-internal.h"
#include "logd.h"

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_scope_cap(void **state)
{
	char *at = repeat('a', DK_LOG_SCOPE_MAX), *over = repeat('a', DK_LOG_SCOPE_MAX + 1);

	(void)state;
	assert_int_equal(dk_logi_check_scope(at, strlen(at)), 0);
	assert_int_equal(dk_logi_check_scope(over, strlen(over)), -EMSGSIZE);
	assert_int_equal(dk_logi_check_scope("", 0), -EPROTO);
	assert_int_equal(dk_logi_check_scope("a b", 3), -EPROTO);
	assert_int_equal(dk_logi_check_scope("broker.open:x/y-z_1", 19), 0);
	free(at);
	free(over);
}

static void test_name_cap(void **state)
{
	char *at = repeat('n', DK_LOG_NAME_MAX), *over = repeat('n', DK_LOG_NAME_MAX + 1);

	(void)state;
	assert_int_equal(dk_logi_check_name(at, strlen(at)), 0);
	assert_int_equal(dk_logi_check_name(over, strlen(over)), -EMSGSIZE);
	assert_int_equal(dk_logi_check_name("", 0), 0);
	assert_int_equal(dk_logi_check_name("svc\"x", 5), -EPROTO);
	free(at);
	free(over);
}

static void test_message_cap(void **state)
{
	char *at = repeat('m', DK_LOG_MESSAGE_MAX), *over = repeat('m', DK_LOG_MESSAGE_MAX + 1);

	(void)state;
	assert_int_equal(dk_logi_check_message(at, strlen(at)), 0);
	assert_int_equal(dk_logi_check_message(over, strlen(over)), -EMSGSIZE);
	assert_int_equal(dk_logi_check_message("", 0), 0);
	assert_int_equal(dk_logi_check_message("line\nbreak", 10), -EPROTO);
	assert_int_equal(dk_logi_check_message("del\x7f", 4), -EPROTO);
	assert_int_equal(dk_logi_check_message("caf\xc3\xa9 \"q\" \\", 11), 0);
	assert_int_equal(dk_logi_check_message("bad \xc3", 5), -EPROTO);        /* cut sequence */
	assert_int_equal(dk_logi_check_message("\xc0\xaf", 2), -EPROTO);        /* overlong */
	assert_int_equal(dk_logi_check_message("\xed\xa0\x80", 3), -EPROTO);    /* surrogate */
	free(at);
	free(over);
}

static void test_fields_cap(void **state)
{
	char out[DK_LOG_FIELDS_MAX + 1];
	char *at = repeat('v', DK_LOG_FIELDS_MAX), *over = repeat('v', DK_LOG_FIELDS_MAX + 1);
	bool red;

	(void)state;
	at[0] = 'k';
	at[1] = '=';
	over[0] = 'k';
	over[1] = '=';
	assert_int_equal(dk_logi_fields_normalize(at, strlen(at), out, &red), DK_LOG_FIELDS_MAX);
	assert_string_equal(out, at);
	assert_false(red);
	assert_int_equal(dk_logi_fields_normalize(over, strlen(over), out, &red), -EMSGSIZE);
	assert_string_equal(out, "");
	free(at);
	free(over);
}

static void test_fields_syntax(void **state)
{
	static const char *const good[] = {
		"",
		"a=1",
		"a=1 b=two  c=\"quoted value\" d=\"esc \\\" \\\\\"",
		"dev=gpu0 bytes=4096",
		"{}",
		"{\"a\": 1, \"b\": \"x\", \"c\": true, \"d\": null, \"e\": -1.5e3}",
		" { \"a\" : \"s\\n\\u00e9\" } ",
	};
	static const char *const bad[] = {
		"novalue",
		"=1",
		"a=\"unterminated",
		"a=\"x\"y",
		"a=b\"c",
		"a=\"bad \\q\"",
		"k y=1",
		"{",
		"{\"a\":}",
		"{\"a\":{\"nested\":1}}",
		"{\"a\":[1]}",
		"{\"a\":1,}",
		"{\"a\":1} x",
		"{\"we ird\":1}",
		"{\"a\":\"\\x\"}",
		"{\"a\":\"\\u12\"}",
		"a=1\tb=2",
	};
	char out[DK_LOG_FIELDS_MAX + 1];
	bool red;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int n = dk_logi_fields_normalize(good[i], strlen(good[i]), out, &red);

		assert_int_equal(n, (int)strlen(good[i]));
		assert_string_equal(out, good[i]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dk_logi_fields_normalize(bad[i], strlen(bad[i]), out, &red),
				 -EPROTO);
}

static void test_secret_keys(void **state)
{
	static const char *const secret[] = {"password", "api_key", "authToken", "db-password",
					     "SECRET", "client.secret", "key", "KeyID",
					     "session_token2", "passwd", "x-api-keys"};
	static const char *const plain[] = {"monkey", "keyboard", "tokenizer", "passage", "secretary",
					    "dev", "bytes", "donkey_count", "hotkeys"};

	(void)state;
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
		if (!dk_logi_key_is_secret(secret[i], strlen(secret[i])))
			fail_msg("%s should be secret", secret[i]);
	}
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		if (dk_logi_key_is_secret(plain[i], strlen(plain[i])))
			fail_msg("%s should not be secret", plain[i]);
	}
}

static void test_redaction(void **state)
{
	char out[DK_LOG_FIELDS_MAX + 1];
	const char *in;
	bool red;

	(void)state;
	in = "user=ann password=hunter2 dev=gpu0 api_key=\"abc def\"";
	assert_true(dk_logi_fields_normalize(in, strlen(in), out, &red) > 0);
	assert_true(red);
	assert_string_equal(out, "user=ann password=[redacted] dev=gpu0 api_key=[redacted]");
	assert_null(strstr(out, "hunter2"));

	in = "{\"user\": \"ann\", \"authToken\": \"t0k\", \"n\": 3, \"secret\": 42}";
	assert_true(dk_logi_fields_normalize(in, strlen(in), out, &red) > 0);
	assert_true(red);
	assert_string_equal(out, "{\"user\": \"ann\", \"authToken\": \"[redacted]\", \"n\": 3, "
				 "\"secret\": \"[redacted]\"}");

	in = "monkey=banana";
	assert_true(dk_logi_fields_normalize(in, strlen(in), out, &red) > 0);
	assert_false(red);
	assert_string_equal(out, in);
}

/* Redaction that would push the fields over the cap refuses instead of truncating. */
static void test_redaction_never_truncates(void **state)
{
	char in[DK_LOG_FIELDS_MAX + 1] = "", out[DK_LOG_FIELDS_MAX + 1];
	bool red;

	(void)state;
	while (strlen(in) + 6 <= DK_LOG_FIELDS_MAX - 1)
		strcat(in, "key=x ");
	assert_int_equal(dk_logi_fields_normalize(in, strlen(in), out, &red), -EMSGSIZE);
}

static void test_record_codec(void **state)
{
	struct dk_log_record rec = {0}, back;
	uint8_t buf[DK_LOGD_RECORD_WIRE_MAX];
	struct dk_wire_writer w;
	char *m = repeat('m', DK_LOG_MESSAGE_MAX), *f = repeat('f', DK_LOG_FIELDS_MAX);

	(void)state;
	rec.seq = 7;
	rec.realtime_ns = 1;
	rec.monotonic_ns = 2;
	rec.pid = 3;
	rec.uid = 4;
	rec.gid = 5;
	rec.severity = DK_LOG_AUDIT;
	rec.flags = DK_LOG_RECORD_F_REDACTED;
	memset(rec.name_claim, 'n', DK_LOG_NAME_MAX);
	memset(rec.scope, 's', DK_LOG_SCOPE_MAX);
	memcpy(rec.message, m, DK_LOG_MESSAGE_MAX);
	memcpy(rec.fields, f, DK_LOG_FIELDS_MAX);
	dk_wire_writer_init(&w, buf, sizeof(buf));
	dk_logi_put_record(&w, &rec);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_wire_writer_len(&w), DK_LOGD_RECORD_WIRE_MAX);
	assert_int_equal(dk_logi_record_wire_size(&rec), DK_LOGD_RECORD_WIRE_MAX);
	assert_int_equal(dk_log_record_decode(buf, sizeof(buf), &back), (int)sizeof(buf));
	assert_memory_equal(&rec, &back, sizeof(rec));
	/* Every truncation is refused. */
	for (size_t len = 0; len < sizeof(buf); len += 37)
		assert_int_equal(dk_log_record_decode(buf, len, &back), -EPROTO);
	/* A bad severity is refused. */
	buf[36] = DK_LOG_SEVERITY_MAX + 1;
	assert_int_equal(dk_log_record_decode(buf, sizeof(buf), &back), -EPROTO);
	assert_true(DK_LOGD_QUERY_PAGE_MIN >= 4);
	assert_string_equal(dk_log_severity_name(DK_LOG_WARNING), "warning");
	assert_string_equal(dk_log_severity_name(99), "unknown");
	free(m);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scope_cap),
		cmocka_unit_test(test_name_cap),
		cmocka_unit_test(test_message_cap),
		cmocka_unit_test(test_fields_cap),
		cmocka_unit_test(test_fields_syntax),
		cmocka_unit_test(test_secret_keys),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_redaction_never_truncates),
		cmocka_unit_test(test_record_codec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
