/* SPDX-License-Identifier: MIT */
/*
 * The dk-supervisor manifest parser on strings: a valid manifest and its defaults, every error
 * class refused with the line it is on, exec resolution and argument splitting.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "manifest.h"

/* The core of every manifest below: lines 1..10. */
#define CORE                                                                                       \
	"[stack]\n"                                                                                \
	"policy = policy.conf\n"                                                                   \
	"[service logd]\n"                                                                         \
	"kind = logd\n"                                                                            \
	"exec = dk-logd\n"                                                                         \
	"[service policyd]\n"                                                                      \
	"kind = policyd\n"                                                                         \
	"exec = dk-policyd\n"                                                                      \
	"[service broker]\n"                                                                       \
	"kind = broker\n"                                                                          \
	"exec = dk-broker\n"

static struct dk_supd_manifest m;

static int parse(const char *text, struct dk_supd_manifest_error *err)
{
	memset(err, 0, sizeof(*err));
	return dk_supd_manifest_parse(text, strlen(text), &m, err);
}

static void test_valid(void **state)
{
	static const char text[] =
		"; the example of docs/supervisor.md\n"
		"[stack]\n"
		"restart_delay_ms = 100        ; first restart delay, doubles each crash\n"
		"restart_delay_max_ms = 5000\n"
		"restart_limit = 5\n"
		"restart_window_ms = 60000\n"
		"start_timeout_ms = 5000\n"
		"stop_timeout_ms = 3000\n"
		"crash_log_lines = 5\n"
		"policy = policy.conf\n"
		"\n"
		"[service logd]\n"
		"kind = logd\n"
		"exec = dk-logd\n"
		"args = --capacity 4096\n"
		"\n"
		"[service policyd]\n"
		"kind = policyd\n"
		"exec = /usr/sbin/dk-policyd\n"
		"[ service  broker ]   ; blanks are fine\n"
		"kind = broker\n"
		"exec = ./bin/dk-broker\n"
		"[service null]\n"
		"kind = device\n"
		"exec = dk-null\n"
		"device = null0\n"
		"class = null\n"
		"[service null.2]\n"
		"kind = device\n"
		"exec = dk-null\n"
		"device = null1\n"
		"class = null\n"
		"args = --a\t--b  c\n";
	struct dk_supd_manifest_error err;
	char buf[DK_SUPD_LINE_MAX + 1], *argv[DK_SUPD_ARGS_MAX];

	(void)state;
	assert_int_equal(parse(text, &err), 0);
	assert_int_equal(m.n_services, 5);
	assert_int_equal(m.restart_delay_ms, 100);
	assert_int_equal(m.restart_delay_max_ms, 5000);
	assert_int_equal(m.restart_limit, 5);
	assert_int_equal(m.restart_window_ms, 60000);
	assert_int_equal(m.start_timeout_ms, 5000);
	assert_int_equal(m.stop_timeout_ms, 3000);
	assert_int_equal(m.crash_log_lines, 5);
	assert_string_equal(m.policy, "policy.conf");
	assert_int_equal(m.policy_line, 10);
	assert_string_equal(m.services[0].name, "logd");
	assert_int_equal(m.services[0].kind, DK_SUPD_KIND_LOGD);
	assert_string_equal(m.services[0].args, "--capacity 4096");
	assert_int_equal(m.services[0].line, 12);
	assert_int_equal(m.services[0].exec_line, 14);
	assert_string_equal(m.services[2].name, "broker");
	assert_string_equal(m.services[2].exec, "./bin/dk-broker");
	assert_int_equal(m.services[3].kind, DK_SUPD_KIND_DEVICE);
	assert_string_equal(m.services[3].device, "null0");
	assert_string_equal(m.services[3].device_class, "null");
	strcpy(buf, m.services[4].args);
	assert_int_equal(dk_supd_split_args(buf, argv, DK_SUPD_ARGS_MAX), 3);
	assert_string_equal(argv[0], "--a");
	assert_string_equal(argv[1], "--b");
	assert_string_equal(argv[2], "c");
	assert_string_equal(dk_supd_kind_name(DK_SUPD_KIND_POLICYD), "policyd");
}

static void test_hwsim(void **state)
{
	struct dk_supd_manifest_error err;

	(void)state;
	assert_int_equal(parse(CORE "[service board]\nkind = hwsim\nexec = dk-hwsim\n"
				    "config = boards/copy.ini\nargs = --verbose\n",
			       &err),
			 0);
	assert_int_equal(m.n_services, 4);
	assert_int_equal(m.services[3].kind, DK_SUPD_KIND_HWSIM);
	assert_string_equal(m.services[3].config, "boards/copy.ini"); /* as written */
	assert_int_equal(m.services[3].config_line, 15);
	assert_string_equal(m.services[3].args, "--verbose");
	assert_string_equal(dk_supd_kind_name(DK_SUPD_KIND_HWSIM), "hwsim");
	/* Without config: the manifest author passes it in args, or dk-hwsim has a default. */
	assert_int_equal(parse(CORE "[service board]\nkind = hwsim\nexec = dk-hwsim\n", &err), 0);
	assert_string_equal(m.services[3].config, "");
	assert_int_equal(m.services[3].config_line, 0);
}

static void test_defaults(void **state)
{
	struct dk_supd_manifest_error err;

	(void)state;
	assert_int_equal(parse(CORE, &err), 0);
	assert_int_equal(m.n_services, 3);
	assert_int_equal(m.restart_delay_ms, DK_SUPD_RESTART_DELAY_DEFAULT);
	assert_int_equal(m.restart_delay_max_ms, DK_SUPD_RESTART_DELAY_MAX_DEFAULT);
	assert_int_equal(m.restart_limit, DK_SUPD_RESTART_LIMIT_DEFAULT);
	assert_int_equal(m.restart_window_ms, DK_SUPD_RESTART_WINDOW_DEFAULT);
	assert_int_equal(m.start_timeout_ms, DK_SUPD_START_TIMEOUT_DEFAULT);
	assert_int_equal(m.stop_timeout_ms, DK_SUPD_STOP_TIMEOUT_DEFAULT);
	assert_int_equal(m.crash_log_lines, DK_SUPD_CRASH_LOG_LINES_DEFAULT);
	/* The ranges' ends are accepted. */
	assert_int_equal(parse(CORE "[stack]\n", &err), -EINVAL); /* (duplicate, see below) */
	assert_int_equal(parse("[stack]\nrestart_limit = 0\ncrash_log_lines = 64\n"
			       "restart_delay_ms = 1\nrestart_delay_max_ms = 600000\n"
			       "start_timeout_ms = 600000\nstop_timeout_ms = 1\n"
			       "restart_window_ms = 86400000\npolicy = /p\n"
			       "[service l]\nkind = logd\nexec = a\n[service p]\nkind = policyd\n"
			       "exec = b\n[service b]\nkind = broker\nexec = c\n",
			       &err),
			 0);
	assert_int_equal(m.restart_limit, 0);
	assert_int_equal(m.crash_log_lines, 64);
	assert_int_equal(m.restart_window_ms, 86400000);
}

static void test_errors(void **state)
{
	static const struct {
		const char *text;
		uint32_t line;
		const char *needle;
	} cases[] = {
		/* Syntax. */
		{CORE "[devices]\n", 12, "unknown section"},
		{CORE "[service]\n", 12, "unknown section"},
		{CORE "[service x\n", 12, "without ']'"},
		{CORE "[service x] y\n", 12, "text after"},
		{CORE "[service x]\n  kind = device\n", 13, "indented"},
		{CORE "[service x]\nkind\n", 13, "syntax error"},
		{"kind = logd\n" CORE, 1, "outside"},
		{CORE "[service x]\nkind = device\nexec = \n", 14, "without a value"},
		{CORE "[service x]\nexec = "
		      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		      "aaaaaaaaaaaaaaaaaa"
		      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		 13, "longer than"},
		/* Sections. */
		{CORE "[stack]\n", 12, "duplicate [stack]"},
		{CORE "[service logd]\n", 12, "duplicate service 'logd'"},
		{CORE "[service bad/name]\n", 12, "invalid service name"},
		/* Keys. */
		{CORE "[service x]\ncolour = red\n", 13, "unknown key 'colour'"},
		{"[stack]\npolicy = a\nrestart = 1\n", 3, "unknown key 'restart'"},
		{CORE "[service x]\nkind = device\nkind = device\n", 14, "duplicate key 'kind'"},
		{"[stack]\npolicy = a\npolicy = b\n", 3, "duplicate key 'policy'"},
		{CORE "[service x]\nkind = gpu\n", 13, "invalid kind"},
		{CORE "[service x]\nexec = dk-null\n", 12, "missing key 'kind'"},
		{CORE "[service x]\nkind = device\n", 12, "missing key 'exec'"},
		{CORE "[service x]\nkind = device\nexec = e\nclass = c\n", 12,
		 "needs key 'device'"},
		{CORE "[service x]\nkind = device\nexec = e\ndevice = d\n", 12,
		 "needs key 'class'"},
		{CORE "[service x]\nkind = device\nexec = e\ndevice = d!\n", 15,
		 "invalid device name"},
		{CORE "[service x]\nkind = device\nexec = e\nclass = \"c\"\n", 15,
		 "invalid class name"},
		{"[stack]\npolicy = p\n[service logd]\nkind = logd\nexec = e\ndevice = d\n"
		 "[service p]\nkind = policyd\nexec = e\n[service b]\nkind = broker\nexec = e\n",
		 6, "only kind device"},
		{CORE "[service x]\nkind = device\nexec = e\nargs = 1 2 3 4 5 6 7 8 9 10 11 12 "
		      "13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33\n",
		 15, "more than 32 arguments"},
		/* Numbers. */
		{"[stack]\npolicy = p\nrestart_limit = 1001\n", 3, "out of range"},
		{"[stack]\npolicy = p\nrestart_limit = -1\n", 3, "not a number"},
		{"[stack]\npolicy = p\nstart_timeout_ms = 5s\n", 3, "not a number"},
		{"[stack]\npolicy = p\nstop_timeout_ms = 0\n", 3, "out of range"},
		{"[stack]\npolicy = p\ncrash_log_lines = 99999999999\n", 3, "out of range"},
		{"[stack]\npolicy = p\nrestart_window_ms = 0x10\n", 3, "not a number"},
		{"[stack]\nrestart_delay_ms = 200\nrestart_delay_max_ms = 100\npolicy = p\n"
		 "[service l]\nkind = logd\nexec = a\n[service p]\nkind = policyd\nexec = b\n"
		 "[service b]\nkind = broker\nexec = c\n",
		 3, "below restart_delay_ms"},
		/* The stack as a whole. */
		{CORE "[service logd2]\nkind = logd\nexec = e\n", 12, "a second logd"},
		{CORE "[service b2]\nkind = broker\nexec = e\n", 12, "a second broker"},
		{"[stack]\npolicy = p\n[service logd]\nkind = logd\nexec = dk-logd\n"
		 "[service b]\nkind = broker\nexec = e\n",
		 0, "no service of kind policyd"},
		{"[stack]\npolicy = p\n[service p]\nkind = policyd\nexec = e\n"
		 "[service b]\nkind = broker\nexec = e\n",
		 0, "no service of kind logd"},
		{"[service l]\nkind = logd\nexec = a\n[service p]\nkind = policyd\nexec = b\n"
		 "[service b]\nkind = broker\nexec = c\n",
		 4, "missing key 'policy'"},
		{CORE "[service n1]\nkind = device\nexec = e\ndevice = d0\nclass = c\n"
		      "[service n2]\nkind = device\nexec = e\ndevice = d0\nclass = c\n",
		 20, "device 'd0' already driven by service 'n1'"},
		/* dk-hwsim: at most one; config only there; no device or class. */
		{CORE "[service h1]\nkind = hwsim\nexec = e\n"
		      "[service h2]\nkind = hwsim\nexec = e\n",
		 15, "a second hwsim (first: service 'h1' at line 12)"},
		{CORE "[service n]\nkind = device\nexec = e\ndevice = d0\nclass = c\n"
		      "config = x.conf\n",
		 17, "only kind hwsim takes 'config'"},
		{CORE "[service h]\nkind = hwsim\nexec = e\ndevice = d0\n", 15,
		 "only kind device takes"},
		{CORE "[service h]\nkind = hwsim\nexec = e\nconfig = a\nconfig = b\n", 16,
		 "duplicate key 'config'"},
	};
	struct dk_supd_manifest_error err;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = parse(cases[i].text, &err);

		if (r != -EINVAL || err.line != cases[i].line ||
		    !strstr(err.message, cases[i].needle))
			fail_msg("case %zu: got %d, line %u: '%s' (want line %u: '%s')", i, r,
				 err.line, err.message, cases[i].line, cases[i].needle);
	}
}

/* A manifest: [stack], the three core services, then @n_devices devices; names padded to
 * @name_len bytes. Caller frees. */
static char *build(uint32_t n_devices, size_t name_len)
{
	static const char *const core[] = {"logd", "policyd", "broker"};
	size_t size = 64 * 1024, len;
	char *text = malloc(size), name[DK_RT_NAME_MAX + 1];

	assert_non_null(text);
	len = (size_t)snprintf(text, size, "[stack]\npolicy = p\n");
	for (uint32_t i = 0; i < 3 + n_devices; i++) {
		memset(name, 'n', sizeof(name));
		snprintf(name + name_len - 3, 4, "%03u", i % 1000u);
		if (i < 3)
			len += (size_t)snprintf(text + len, size - len,
						"[service %s]\nkind = %s\nexec = e\n", name,
						core[i]);
		else
			len += (size_t)snprintf(text + len, size - len,
						"[service %s]\nkind = device\nexec = e\n"
						"device = d%u\nclass = c\n",
						name, i);
	}
	return text;
}

static void test_too_many_services(void **state)
{
	struct dk_supd_manifest_error err;
	char *text;

	(void)state;
	text = build(DK_SUPD_SERVICES_MAX - 3, 8);
	assert_int_equal(parse(text, &err), 0);
	assert_int_equal(m.n_services, DK_SUPD_SERVICES_MAX);
	free(text);
	text = build(DK_SUPD_SERVICES_MAX - 2, 8);
	assert_int_equal(parse(text, &err), -EINVAL);
	/* The 33rd section: after 2 lines of [stack], 3 of each core service, 5 of each device. */
	assert_int_equal(err.line, 2 + 3 * 3 + 5 * (DK_SUPD_SERVICES_MAX - 3) + 1);
	assert_non_null(strstr(err.message, "more than 32 services"));
	free(text);
}

static void test_status_must_fit(void **state)
{
	struct dk_supd_manifest_error err;
	char *text;

	(void)state;
	/* 32 services with names of 63 bytes: the STATUS reply would not fit in one frame. */
	text = build(DK_SUPD_SERVICES_MAX - 3, DK_RT_NAME_MAX);
	assert_int_equal(parse(text, &err), -EINVAL);
	assert_non_null(strstr(err.message, "too long in total"));
	free(text);
	text = build(DK_SUPD_SERVICES_MAX - 3, 48);
	assert_int_equal(parse(text, &err), 0);
	free(text);
}

static void test_oversized_and_nul(void **state)
{
	char *big = calloc(1, DK_SUPD_MANIFEST_MAX + 2);
	struct dk_supd_manifest_error err;
	char nul[] = CORE "x\0y = 1\n";

	(void)state;
	assert_non_null(big);
	memset(big, ';', DK_SUPD_MANIFEST_MAX + 1);
	assert_int_equal(dk_supd_manifest_parse(big, DK_SUPD_MANIFEST_MAX + 1, &m, &err), -EFBIG);
	free(big);
	assert_int_equal(dk_supd_manifest_parse(nul, sizeof(nul) - 1, &m, &err), -EINVAL);
	assert_int_equal(err.line, 12);
	assert_non_null(strstr(err.message, "NUL"));
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_load_and_resolve(void **state)
{
	char dir[64] = "/tmp/dk-supd-manifest-XXXXXX", path[128], bin[96], out[PATH_MAX];
	char other[128];
	struct dk_supd_manifest *lm;
	struct dk_supd_manifest_error err;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/stack.ini", dir);
	write_text(path, CORE, 0600);
	assert_int_equal(dk_supd_manifest_load(path, &lm, &err), 0);
	/* The policy path is made relative to the manifest's directory. */
	snprintf(out, sizeof(out), "%s/policy.conf", dir);
	assert_string_equal(lm->policy, out);
	free(lm);
	/* So is the config path of a dk-hwsim; an absolute one stays as it is. */
	write_text(path, CORE "[service board]\nkind = hwsim\nexec = e\nconfig = b/copy.ini\n",
		   0600);
	assert_int_equal(dk_supd_manifest_load(path, &lm, &err), 0);
	snprintf(out, sizeof(out), "%s/b/copy.ini", dir);
	assert_string_equal(lm->services[3].config, out);
	free(lm);
	write_text(path, CORE "[service board]\nkind = hwsim\nexec = e\nconfig = /etc/b.ini\n",
		   0600);
	assert_int_equal(dk_supd_manifest_load(path, &lm, &err), 0);
	assert_string_equal(lm->services[3].config, "/etc/b.ini");
	free(lm);
	snprintf(other, sizeof(other), "%s/nope.ini", dir);
	assert_int_equal(dk_supd_manifest_load(other, &lm, &err), -ENOENT);
	assert_int_equal(err.line, 0);

	/* Executables: --bin-path first, then $DK_BIN_PATH, then the supervisor's directory. */
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	assert_int_equal(mkdir(bin, 0700), 0);
	snprintf(other, sizeof(other), "%s/dk-x", bin);
	write_text(other, "#!/bin/sh\n", 0700);
	assert_int_equal(dk_supd_resolve_exec("dk-x", dir, "/nonexistent:", NULL, out,
					      sizeof(out)),
			 -ENOENT);
	assert_int_equal(dk_supd_resolve_exec("dk-x", dir, "/nonexistent:" "", bin, out,
					      sizeof(out)),
			 0);
	assert_string_equal(out, other);
	assert_int_equal(dk_supd_resolve_exec("dk-x", dir, bin, NULL, out, sizeof(out)), 0);
	setenv("DK_BIN_PATH", bin, 1);
	assert_int_equal(dk_supd_resolve_exec("dk-x", dir, NULL, NULL, out, sizeof(out)), 0);
	unsetenv("DK_BIN_PATH");
	/* A relative path is relative to the manifest's directory. */
	assert_int_equal(dk_supd_resolve_exec("bin/dk-x", dir, NULL, NULL, out, sizeof(out)), 0);
	assert_string_equal(out, other);
	assert_int_equal(dk_supd_resolve_exec(other, NULL, NULL, NULL, out, sizeof(out)), 0);
	/* Found but not executable. */
	write_text(other, "#!/bin/sh\n", 0600);
	chmod(other, 0600);
	assert_int_equal(dk_supd_resolve_exec(other, NULL, NULL, NULL, out, sizeof(out)), -EACCES);
	assert_int_equal(dk_supd_resolve_exec("dk-x", dir, bin, NULL, out, sizeof(out)), -EACCES);
	dk_test_remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_hwsim),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_too_many_services),
		cmocka_unit_test(test_status_must_fit),
		cmocka_unit_test(test_oversized_and_nul),
		cmocka_unit_test(test_load_and_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
