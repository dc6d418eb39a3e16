/* SPDX-License-Identifier: MIT */
/*
 * The policy engine in-process: deny by default, exact grants, precedence, and every class of
 * load error with its line number.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/policy.h>
#include <dk/qos.h>
#include <dk/rights.h>

#define GRANT(rights, qos, bytes, bufs, infl, fences)                                             \
	"rights = " rights "\nqos = " qos "\nmax_bytes = " bytes "\nmax_buffers = " bufs       \
	"\nmax_inflight = " infl "\nmax_fences = " fences "\n"
#define G1 GRANT("read, map", "normal", "1M", "8", "4", "16")

static struct dk_policy *parse_ok(const char *text)
{
	struct dk_policy_error e = {0};
	struct dk_policy *p = NULL;
	int err = dk_policy_parse(text, strlen(text), &p, &e);

	if (err)
		fprintf(stderr, "unexpected error %d at line %u: %s\n", err, e.line, e.message);
	assert_int_equal(err, 0);
	return p;
}

static struct dk_policy_decision decide(const struct dk_policy *p, uint32_t kinds,
					const char *service, uint32_t uid, uint32_t gid,
					const char *device, const char *cls)
{
	struct dk_policy_subject s = {.kinds = kinds, .uid = uid, .gid = gid, .service = service};
	struct dk_policy_decision d;

	assert_int_equal(dk_policy_decide(p, &s, device, cls, &d), 0);
	return d;
}

#define ALL (DK_POLICY_SUBJECT_SERVICE | DK_POLICY_SUBJECT_UID | DK_POLICY_SUBJECT_GID)
#define UG (DK_POLICY_SUBJECT_UID | DK_POLICY_SUBJECT_GID)

static void test_empty_denies(void **state)
{
	const char *texts[] = {"", "; only a comment\n# another\n\n"};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct dk_policy *p = parse_ok(texts[i]);
		struct dk_policy_decision d = decide(p, ALL, "svc", 0, 0, "gpu0", "gpu");

		assert_int_equal(dk_policy_n_rules(p), 0);
		assert_int_equal(d.verdict, DK_POLICY_DENY);
		assert_int_equal(d.reason, DK_POLICY_REASON_NO_RULE);
		assert_string_equal(d.rule, "");
		assert_int_equal(d.grant.rights, 0);
		assert_int_equal(d.grant.qos, 0);
		assert_int_equal(d.grant.max_bytes, 0);
		dk_policy_destroy(p);
	}
}

static void test_no_match_denies(void **state)
{
	struct dk_policy *p = parse_ok("[rule a]\nuid = 1000\ndevice = gpu0\n" G1);
	struct dk_policy_decision d;

	(void)state;
	d = decide(p, UG, NULL, 1001, 1000, "gpu0", "gpu"); /* gid 1000 is not uid 1000 */
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	assert_int_equal(d.reason, DK_POLICY_REASON_NO_RULE);
	d = decide(p, UG, NULL, 1000, 1000, "gpu1", "gpu"); /* another device */
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	d = decide(p, DK_POLICY_SUBJECT_GID, NULL, 1000, 1000, "gpu0", "gpu"); /* uid unknown */
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	d = decide(p, DK_POLICY_SUBJECT_SERVICE, "1000", 0, 0, "gpu0", NULL);
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	dk_policy_destroy(p);
}

static void test_exact_grant(void **state)
{
	struct dk_policy *p = parse_ok(
		"; the compositor\n"
		"[rule compositor-gpu]   ; inline comment\n"
		"service = compositor\n"
		"device = gpu0\n"
		GRANT("read, write,map ,wait", "burst", "256M", "64", "16", "32"));
	struct dk_policy_decision d = decide(p, DK_POLICY_SUBJECT_SERVICE, "compositor", 0, 0,
					     "gpu0", "gpu");

	(void)state;
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	assert_int_equal(d.reason, DK_POLICY_REASON_GRANT);
	assert_string_equal(d.rule, "compositor-gpu");
	assert_int_equal(d.grant.rights,
			 DK_RIGHT_READ | DK_RIGHT_WRITE | DK_RIGHT_MAP | DK_RIGHT_WAIT);
	assert_int_equal(d.grant.qos, DK_QOS_BURST);
	assert_int_equal(d.grant.max_bytes, 256ull << 20);
	assert_int_equal(d.grant.max_buffers, 64);
	assert_int_equal(d.grant.max_inflight, 16);
	assert_int_equal(d.grant.max_fences, 32);
	assert_int_equal(d.grant.max_violations, DK_POLICY_MAX_VIOLATIONS_UNSET);
	assert_int_equal(d.generation, 0);
	dk_policy_destroy(p);
}

/*
 * The kill threshold: optional in an allow rule (absent: unset, the service's own applies),
 * 0 (never) up to the cap, granted exactly; nothing in a denial.
 */
static void test_max_violations(void **state)
{
	struct dk_policy *p = parse_ok(
		"[rule two]\nuid = 1\ndevice = d\n" G1 "max_violations = 2\n"
		"[rule never]\nuid = 2\ndevice = d\nmax_violations = 0 ; no automatic kill\n" G1
		"[rule cap]\nuid = 3\ndevice = d\n" G1 "max_violations: 65536\n"
		"[rule unset]\nuid = 4\ndevice = d\n" G1
		"[rule nobody]\nuid = 5\ndevice = d\neffect = deny\n");
	struct dk_policy_decision d;

	(void)state;
	d = decide(p, UG, NULL, 1, 0, "d", NULL);
	assert_string_equal(d.rule, "two");
	assert_int_equal(d.grant.max_violations, 2);
	assert_int_equal(d.grant.max_fences, 16); /* the rest of the grant as without it */
	d = decide(p, UG, NULL, 2, 0, "d", NULL);
	assert_string_equal(d.rule, "never");
	assert_int_equal(d.verdict, DK_POLICY_ALLOW);
	assert_int_equal(d.grant.max_violations, 0);
	d = decide(p, UG, NULL, 3, 0, "d", NULL);
	assert_int_equal(d.grant.max_violations, DK_POLICY_MAX_VIOLATIONS_CAP);
	d = decide(p, UG, NULL, 4, 0, "d", NULL);
	assert_string_equal(d.rule, "unset");
	assert_int_equal(d.grant.max_violations, DK_POLICY_MAX_VIOLATIONS_UNSET);
	d = decide(p, UG, NULL, 5, 0, "d", NULL);
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	assert_int_equal(d.grant.max_violations, 0);
	d = decide(p, UG, NULL, 6, 0, "d", NULL);
	assert_int_equal(d.reason, DK_POLICY_REASON_NO_RULE);
	assert_int_equal(d.grant.max_violations, 0);
	dk_policy_destroy(p);
}

static const char *const prec_text =
	"[rule by-gid-class]\ngid = 100\nclass = gpu\n"
	GRANT("read", "frugal", "1K", "1", "1", "1")
	"[rule by-gid-device]\ngid = 100\ndevice = gpu0\n"
	GRANT("read", "frugal", "2K", "2", "2", "2")
	"[rule by-uid-class]\nuid = 1000\nclass = gpu\n"
	GRANT("read", "normal", "3K", "3", "3", "3")
	"[rule by-uid-device]\nuid = 1000\ndevice = gpu1\n"
	GRANT("read", "normal", "4K", "4", "4", "4")
	"[rule by-service]\nservice = gpud\nclass = gpu\n"
	GRANT("read, signal", "burst", "5K", "5", "5", "5")
	"[rule no-gpu2]\nuid = 1000\ndevice = gpu2\neffect = deny\n";

static void test_precedence(void **state)
{
	struct dk_policy *p = parse_ok(prec_text);
	struct dk_policy_decision d;

	(void)state;
	/* gid only: device beats class. */
	d = decide(p, DK_POLICY_SUBJECT_GID, NULL, 0, 100, "gpu0", "gpu");
	assert_string_equal(d.rule, "by-gid-device");
	d = decide(p, DK_POLICY_SUBJECT_GID, NULL, 0, 100, "gpu7", "gpu");
	assert_string_equal(d.rule, "by-gid-class");
	/* uid beats gid, even uid+class over gid+device. */
	d = decide(p, UG, NULL, 1000, 100, "gpu0", "gpu");
	assert_string_equal(d.rule, "by-uid-class");
	assert_int_equal(d.grant.max_bytes, 3 * 1024);
	d = decide(p, UG, NULL, 1000, 100, "gpu1", "gpu");
	assert_string_equal(d.rule, "by-uid-device");
	/* service beats uid. */
	d = decide(p, ALL, "gpud", 1000, 100, "gpu1", "gpu");
	assert_string_equal(d.rule, "by-service");
	assert_int_equal(d.grant.rights, DK_RIGHT_READ | DK_RIGHT_SIGNAL);
	/* An explicit deny, more specific than the uid's class grant, wins. */
	d = decide(p, UG, NULL, 1000, 100, "gpu2", "gpu");
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	assert_int_equal(d.reason, DK_POLICY_REASON_DENY_RULE);
	assert_string_equal(d.rule, "no-gpu2");
	assert_int_equal(d.grant.rights, 0);
	/* A class rule never matches a device without a class. */
	d = decide(p, DK_POLICY_SUBJECT_GID, NULL, 0, 100, "gpu7", NULL);
	assert_int_equal(d.verdict, DK_POLICY_DENY);
	/* Deterministic: the same question, the same answer. */
	for (int i = 0; i < 3; i++) {
		d = decide(p, ALL, "gpud", 1000, 100, "gpu1", "gpu");
		assert_string_equal(d.rule, "by-service");
	}
	dk_policy_destroy(p);
}

static void test_order_independent(void **state)
{
	/* The same rules in reverse order decide the same. */
	struct dk_policy *a = parse_ok("[rule g]\ngid = 5\nclass = x\n" G1
				       "[rule u]\nuid = 5\nclass = x\n" G1);
	struct dk_policy *b = parse_ok("[rule u]\nuid = 5\nclass = x\n" G1
				       "[rule g]\ngid = 5\nclass = x\n" G1);

	(void)state;
	assert_string_equal(decide(a, UG, NULL, 5, 5, "d", "x").rule, "u");
	assert_string_equal(decide(b, UG, NULL, 5, 5, "d", "x").rule, "u");
	dk_policy_destroy(a);
	dk_policy_destroy(b);
}

static void test_bad_question(void **state)
{
	struct dk_policy *p = parse_ok("");
	struct dk_policy_subject s = {.kinds = DK_POLICY_SUBJECT_UID};
	struct dk_policy_decision d;

	(void)state;
	assert_int_equal(dk_policy_decide(p, &s, "", NULL, &d), -EINVAL);
	assert_int_equal(dk_policy_decide(p, &s, NULL, NULL, &d), -EINVAL);
	assert_int_equal(dk_policy_decide(p, &s, "a b", NULL, &d), -EINVAL);
	assert_int_equal(dk_policy_decide(p, &s, "gpu0", "g/x", &d), -EINVAL);
	s.kinds = 0;
	assert_int_equal(dk_policy_decide(p, &s, "gpu0", NULL, &d), -EINVAL);
	s.kinds = 8;
	assert_int_equal(dk_policy_decide(p, &s, "gpu0", NULL, &d), -EINVAL);
	s.kinds = DK_POLICY_SUBJECT_SERVICE;
	assert_int_equal(dk_policy_decide(p, &s, "gpu0", NULL, &d), -EINVAL);
	dk_policy_destroy(p);
}

struct bad {
	const char *text;
	uint32_t line;
	const char *needle; /* a part of the message */
};

#define R "[rule r]\nuid = 1\ndevice = d\n"
static const struct bad bads[] = {
	{R G1 "colour = red\n", 10, "unknown key 'colour'"},
	{R "qos = fast\n", 4, "invalid qos 'fast'"},
	{R "rights = read, fly\n", 4, "unknown right 'fly'"},
	{R "rights = read, read\n", 4, "listed twice"},
	{R "rights =\n", 4, "unknown right ''"},
	{"[rule r]\nuid = -1\n", 2, "invalid uid '-1'"},
	{"[rule r]\ngid = 4294967295\n", 2, "invalid gid"},
	{"[rule r]\nuid = 12abc\n", 2, "invalid uid"},
	{R "uid = 2\n", 4, "duplicate key 'uid' (first at line 2)"},
	{R G1 "[rule r]\n", 10, "duplicate rule 'r' (first at line 1)"},
	{R "service = x\n", 4, "conflicting subjects 'uid' and 'service'"},
	{"[rule r]\ngid = 1\nuid = 2\n", 3, "conflicting subjects 'gid' and 'uid'"},
	{R "class = gpu\n", 4, "conflicting 'device' and 'class'"},
	{R "max_bytes = 65G\n", 4, "max_bytes '65G' is out of range"},
	{R "max_buffers = 65537\n", 4, "max_buffers '65537' is out of range"},
	{R "max_inflight = 0\n", 4, "max_inflight '0' is out of range"},
	{R "max_fences = 99999999999999999999999\n", 4, "out of range"},
	{R "max_bytes = 1T\n", 4, "max_bytes '1T' is not a number"},
	{R "max_buffers = 1K\n", 4, "max_buffers '1K' is not a number"},
	{R G1 "max_violations = 65537\n", 10, "max_violations '65537' is out of range (0..65536)"},
	{R G1 "max_violations = 4294967295\n", 10, "max_violations '4294967295' is out of range"},
	{R G1 "max_violations = 99999999999999999999999\n", 10, "is out of range (0..65536)"},
	{R G1 "max_violations = -1\n", 10, "max_violations '-1' is not a number (0..65536)"},
	{R G1 "max_violations = 2K\n", 10, "max_violations '2K' is not a number"},
	{R G1 "max_violations = 2 3\n", 10, "max_violations '2 3' is not a number"},
	{R G1 "max_violations = never\n", 10, "max_violations 'never' is not a number"},
	{R G1 "max_violations =\n", 10, "max_violations '' is not a number"},
	{R "max_violations = 2\n" G1 "max_violations = 3\n", 11,
	 "duplicate key 'max_violations' (first at line 4)"},
	{R "effect = deny\nmax_violations = 2\n", 5,
	 "a deny rule grants nothing, remove 'max_violations'"},
	{R "max_violations = 2\n", 1, "missing key 'rights'"},
	{R "rights = read\nqos = normal\nmax_bytes = 1\nmax_buffers = 1\nmax_inflight = 1\n", 1,
	 "missing key 'max_fences'"},
	{"[rule r]\ndevice = d\n" G1, 1, "no subject"},
	{"\n\n[rule r]\nuid = 1\n" G1, 3, "no device"},
	{R "effect = deny\nqos = burst\n", 5, "a deny rule grants nothing, remove 'qos'"},
	{R "effect = maybe\n", 4, "invalid effect 'maybe'"},
	{R G1 "[rule s]\nuid = 1\ndevice = d\neffect = deny\n", 10,
	 "same subject and device as rule 'r' (line 1)"},
	{"[policy]\n", 1, "unknown section 'policy'"},
	{"[rule]\n", 1, "unknown section"},
	{"[rule a/b]\n", 1, "invalid rule name 'a/b'"},
	{"[rule a] extra\n", 1, "text after the section header"},
	{"[rule a\n", 1, "without ']'"},
	{"uid = 1\n", 1, "key 'uid' outside a [rule NAME] section"},
	{R "just words\n", 4, "syntax error"},
	{R "  qos = normal\n", 4, "indented line"},
	{"; fine\n[rule r]\nservice = bad name\n", 3, "invalid service name"},
	{R "device = x\n", 4, "duplicate key 'device'"},
};

static void test_load_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct dk_policy_error e = {0};
		struct dk_policy *p = NULL;
		int err = dk_policy_parse(bads[i].text, strlen(bads[i].text), &p, &e);

		if (err != -EINVAL || e.line != bads[i].line || !strstr(e.message, bads[i].needle))
			fail_msg("case %zu: err %d line %u '%s', wanted line %u '%s'", i, err,
				 e.line, e.message, bads[i].line, bads[i].needle);
		assert_null(p);
	}
}

static void test_line_limits(void **state)
{
	char text[512], big[DK_POLICY_LINE_MAX + 40];
	struct dk_policy_error e = {0};
	struct dk_policy *p = NULL;
	char *huge;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(text, sizeof(text), "[rule r]\n; %s\n", big);
	assert_int_equal(dk_policy_parse(text, strlen(text), &p, &e), -EINVAL);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.message, "line longer than"));

	memcpy(text, "[rule r]\nuid = 1\0\n", 18);
	assert_int_equal(dk_policy_parse(text, 18, &p, &e), -EINVAL);
	assert_int_equal(e.line, 2);
	assert_non_null(strstr(e.message, "NUL"));

	huge = calloc(1, DK_POLICY_FILE_MAX + 1);
	assert_non_null(huge);
	memset(huge, '\n', DK_POLICY_FILE_MAX + 1);
	assert_int_equal(dk_policy_parse(huge, DK_POLICY_FILE_MAX + 1, &p, &e), -EFBIG);
	free(huge);
	assert_null(p);

	/* CRLF line ends and a last line without a newline are fine. */
	p = parse_ok("[rule r]\r\nuid = 7\r\ndevice = d\r\neffect = deny");
	assert_int_equal(dk_policy_n_rules(p), 1);
	dk_policy_destroy(p);
}

/* Mutated files (fixed seed): the parser answers 0 or -EINVAL with a line and a message. */
static void test_mutations(void **state)
{
	static const char alphabet[] = "[]=;# \n\r\tabruledvicqos0123456789,KMG-_.\x01\xff";
	size_t base = strlen(prec_text);
	char *buf = malloc(base + 64);
	uint64_t x = 0x9e3779b97f4a7c15ull;

	(void)state;
	assert_non_null(buf);
	for (int iter = 0; iter < 4000; iter++) {
		struct dk_policy_error e = {0};
		struct dk_policy *p = NULL;
		size_t len = base, lines = 1;
		int err;

		memcpy(buf, prec_text, base);
		for (int m = 0; m < 1 + iter % 4; m++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[x % len] = alphabet[(x >> 32) % (sizeof(alphabet) - 1)];
		}
		if (iter % 7 == 0)
			len = (size_t)(x >> 20) % len; /* truncated */
		for (size_t i = 0; i < len; i++)
			lines += buf[i] == '\n';
		err = dk_policy_parse(buf, len, &p, &e);
		if (err == 0) {
			dk_policy_destroy(p);
			continue;
		}
		assert_int_equal(err, -EINVAL);
		assert_true(e.line >= 1 && e.line <= lines);
		assert_true(e.message[0] != '\0');
		assert_null(p);
	}
	free(buf);
}

static void test_check_file(void **state)
{
	char dir[] = "/tmp/dk-policy-unit-XXXXXX", path[128], msg[DK_POLICY_ERROR_MAX + 160];
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/policy.ini", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(prec_text, f);
	fclose(f);
	assert_int_equal(dk_policy_check_file(path, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[rule r]\nuid = 1\nqos = warp\n", f);
	fclose(f);
	assert_int_equal(dk_policy_check_file(path, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, ":3: rule 'r': invalid qos 'warp'"));
	assert_int_equal(strncmp(msg, path, strlen(path)), 0);

	/* The kill threshold, as dkctl policy check sees it. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[rule r]\nuid = 1\ndevice = d\n" G1 "max_violations = 2\n", f);
	fclose(f);
	assert_int_equal(dk_policy_check_file(path, msg, sizeof(msg)), 0);
	assert_string_equal(msg, "");
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("[rule r]\nuid = 1\ndevice = d\n" G1 "max_violations = 70000\n", f);
	fclose(f);
	assert_int_equal(dk_policy_check_file(path, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, ":10: rule 'r': max_violations '70000' is out of range"));
	unlink(path);

	assert_int_equal(dk_policy_check_file(path, msg, sizeof(msg)), -ENOENT);
	assert_non_null(strstr(msg, "cannot read"));
	assert_int_equal(dk_policy_check_file(dir, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "not a regular file"));
	assert_int_equal(dk_policy_check_file(path, NULL, 0), -ENOENT);
	rmdir(dir);
}

static void test_reason_names(void **state)
{
	(void)state;
	assert_string_equal(dk_policy_reason_name(DK_POLICY_REASON_NO_RULE), "no-rule");
	assert_string_equal(dk_policy_reason_name(DK_POLICY_REASON_GRANT), "grant");
	assert_string_equal(dk_policy_reason_name(DK_POLICY_REASON_DENY_RULE), "deny-rule");
	assert_string_equal(dk_policy_reason_name(99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_denies),   cmocka_unit_test(test_no_match_denies),
		cmocka_unit_test(test_exact_grant),    cmocka_unit_test(test_max_violations),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_order_independent), cmocka_unit_test(test_bad_question),
		cmocka_unit_test(test_load_errors),    cmocka_unit_test(test_line_limits),
		cmocka_unit_test(test_check_file),     cmocka_unit_test(test_reason_names),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
