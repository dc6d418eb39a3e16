/* SPDX-License-Identifier: MIT */
/*
 * dk-hwsim's board configuration: every bad line is refused with FILE:LINE and exit status 2
 * before anything starts; good files (comments, blank lines, CRLF, 16 devices) start a board
 * that lists exactly what they say.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rig.h"

#include <dk/wire.h>

/* Start on @config without a channel, expect exit 2 and "board.ini:@line: ...@what..." on
 * stderr (":@line" left out when @line is 0). */
static void refused(const char *config, unsigned int line, const char *what)
{
	const struct rig_opts o = {.no_channel = true, .capture_stderr = true};
	char err[2048], want[64];
	const char *at;
	struct rig R;

	rig_start_opts(&R, config, &o);
	if (line)
		snprintf(want, sizeof(want), "board.ini:%u: ", line);
	else
		snprintf(want, sizeof(want), "board.ini: ");
	rig_read_stderr(&R, err, sizeof(err));
	assert_int_equal(rig_wait_exit(&R), 2);
	at = strstr(err, want);
	if (!at || !strstr(at, what))
		fail_msg("expected \"%s...%s\" in: %s", want, what, err);
}

static void bad_lines(void **state)
{
	static const struct {
		const char *config;
		unsigned int line;
		const char *what;
	} cases[] = {
		{"[device a]\nmodel = gpu\n", 2, "unknown model \"gpu\""},
		{"[device a]\nmodel = copy\n[device a]\nmodel = null\n", 3,
		 "device \"a\" already defined on line 1"},
		{"[board]\nmodel = copy\n", 1, "unknown section"},
		{"[devices a]\nmodel = copy\n", 1, "unknown section"},
		{"model = copy\n[device a]\nmodel = copy\n", 1,
		 "\"model\" outside a [device NAME] section"},
		{"[device a/b]\nmodel = copy\n", 1, "invalid device name \"a/b\""},
		{"[device a b]\nmodel = copy\n", 1, "invalid device name \"a b\""},
		{"[device ]\nmodel = copy\n", 1, "device name must be 1..63 bytes"},
		{"[device a]\n", 1, "device \"a\" has no model"},
		{"[device a]\nmodel = copy\n\n[device b]\n; no model\n", 4,
		 "device \"b\" has no model"},
		{"[device a]\nmodel = copy\ncolour = red\n", 3, "unknown key \"colour\""},
		{"[device a]\nmodel = copy\nmodel = null\n", 3,
		 "model of device \"a\" given twice"},
		{"[device a]\nmodel = copy\nnonsense\n", 3, "syntax error"},
		{"[device a\nmodel = copy\n", 1, "without ']'"},
		{"[device a] x\nmodel = copy\n", 1, "text after the section header"},
		{"[device a]\nmodel = copy\n  copy\n", 3, "indented line"},
		{"[device a]\nmodel = copy\n[device b]\nmodel = copy\nfoo\nbar = 1\n", 5,
		 "syntax error"},
		{"", 0, "no [device NAME] section"},
		{"; only a comment\n", 0, "no [device NAME] section"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		refused(cases[i].config, cases[i].line, cases[i].what);
}

static void too_many_devices(void **state)
{
	char config[4096];
	size_t len = 0;

	(void)state;
	for (unsigned int i = 0; i <= DK_HWSIM_DEVICES_MAX; i++)
		len += (size_t)snprintf(config + len, sizeof(config) - len,
					"[device d%u]\nmodel = null\n", i);
	/* The 17th section header is on line 33. */
	refused(config, 2 * DK_HWSIM_DEVICES_MAX + 1, "more than 16 devices");
}

static void long_line(void **state)
{
	char config[1024];

	(void)state;
	snprintf(config, sizeof(config), "[device a]\nmodel = copy\n; %0300d\n[device b]\n", 0);
	refused(config, 3, "line longer than");
	/* The name limit is the runtime's (63 bytes). */
	snprintf(config, sizeof(config), "[device %064d]\nmodel = copy\n", 0);
	refused(config, 1, "device name must be 1..63 bytes");
}

static void missing_file(void **state)
{
	(void)state;
	refused(NULL, 0, "No such file or directory");
}

static void bad_usage(void **state)
{
	static const char *const not_a_socket[] = {"--channel-fd", "99", NULL};
	static const char *const unknown[] = {"--bogus", NULL};
	static const char *const extra[] = {"extra", NULL};
	const char *const *cases[] = {not_a_socket, unknown, extra};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rig_opts o = {.no_channel = true, .extra_args = cases[i]};
		struct rig R;

		rig_start_opts(&R, "[device a]\nmodel = copy\n", &o);
		assert_int_equal(rig_wait_exit(&R), 2);
	}
}

/* Comments, blank lines, CRLF endings, inline comments, names at the limit, 16 devices. */
static void good_files(void **state)
{
	char names[DK_HWSIM_DEVICES_MAX][DK_RT_NAME_MAX + 1], models[DK_HWSIM_DEVICES_MAX][16];
	char config[4096], longname[DK_RT_NAME_MAX + 1];
	struct rig R;
	size_t len;

	(void)state;
	memset(longname, 'x', DK_RT_NAME_MAX);
	longname[DK_RT_NAME_MAX] = '\0';
	len = (size_t)snprintf(config, sizeof(config),
			       "; the board\r\n\r\n# another comment\r\n[device %s] ; long\r\n"
			       "model = copy ; the engine\r\n",
			       longname);
	for (unsigned int i = 1; i < DK_HWSIM_DEVICES_MAX; i++)
		len += (size_t)snprintf(config + len, sizeof(config) - len,
					"\n[device dev.%u_x-y]\nmodel=%s\n", i,
					i % 2 ? "null" : "copy");
	rig_start(&R, config);
	assert_int_equal(rig_devices(&R, names, models, DK_HWSIM_DEVICES_MAX),
			 DK_HWSIM_DEVICES_MAX);
	assert_string_equal(names[0], longname);
	assert_string_equal(models[0], "copy");
	assert_string_equal(names[1], "dev.1_x-y");
	assert_string_equal(models[1], "null");
	assert_string_equal(names[15], "dev.15_x-y");
	assert_string_equal(models[14], "copy");
	rig_stop(&R);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_lines),
		cmocka_unit_test(too_many_devices),
		cmocka_unit_test(long_line),
		cmocka_unit_test(missing_file),
		cmocka_unit_test(bad_usage),
		cmocka_unit_test(good_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
