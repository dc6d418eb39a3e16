/* SPDX-License-Identifier: MIT */
/*
 * The journal in-process: drop-oldest with its counter, per-sender token buckets (a flooder
 * cannot evict another sender's records), queries, and the rotating JSON-lines files (the
 * total on disk never exceeds the quota, the oldest file goes first, lines are valid JSON
 * with secrets redacted). Time for the rate limit is passed in, so nothing depends on timing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include <dk/log.h>
#include <dk/time.h>

#include "logd.h"

static const struct dk_logj_cred alice = {.pid = 100, .uid = 1000, .gid = 1000};
static const struct dk_logj_cred mallory = {.pid = 200, .uid = 1001, .gid = 1001};

static struct dk_logj *journal(uint32_t capacity, uint32_t rate, uint32_t burst, const char *dir)
{
	struct dk_logd_config cfg;
	struct dk_logj *j;

	dk_logd_config_defaults(&cfg);
	cfg.capacity = capacity;
	cfg.rate = rate;
	cfg.burst = burst;
	cfg.dir = dir;
	cfg.file_size = DK_LOGD_FILE_SIZE_MIN;
	cfg.quota = 4 * DK_LOGD_FILE_SIZE_MIN;
	assert_int_equal(dk_logj_create(&cfg, &j), 0);
	return j;
}

static void test_config_bounds(void **state)
{
	struct dk_logd_config cfg;
	struct dk_logj *j;

	(void)state;
	dk_logd_config_defaults(&cfg);
	assert_int_equal(dk_logd_config_check(&cfg), 0);
	cfg.capacity = DK_LOGD_CAPACITY_MAX + 1;
	assert_int_equal(dk_logj_create(&cfg, &j), -EINVAL);
	dk_logd_config_defaults(&cfg);
	cfg.capacity = 0;
	assert_int_equal(dk_logd_config_check(&cfg), -EINVAL);
	dk_logd_config_defaults(&cfg);
	cfg.quota = cfg.file_size; /* needs room for two files */
	assert_int_equal(dk_logd_config_check(&cfg), -EINVAL);
	dk_logd_config_defaults(&cfg);
	cfg.file_size = DK_LOGD_FILE_SIZE_MIN - 1;
	assert_int_equal(dk_logd_config_check(&cfg), -EINVAL);
	dk_logd_config_defaults(&cfg);
	cfg.burst = 0;
	assert_int_equal(dk_logd_config_check(&cfg), -EINVAL);
}

static void test_drop_oldest(void **state)
{
	struct dk_logj *j = journal(8, 0, 1000, NULL);
	struct dk_log_query q = {0};
	const struct dk_log_record *r;
	struct dk_log_stats st;
	char msg[32];

	(void)state;
	for (int i = 1; i <= 20; i++) {
		snprintf(msg, sizeof(msg), "m%d", i);
		assert_int_equal(dk_logj_append(j, &alice, "a", DK_LOG_INFO, "t", msg, "", 1, &r),
				 0);
		assert_int_equal(r->seq, (uint64_t)i);
	}
	dk_logj_stats(j, &st);
	assert_int_equal(st.records, 8);
	assert_int_equal(st.accepted, 20);
	assert_int_equal(st.dropped, 12);
	r = dk_logj_find(j, &q, 0);
	assert_non_null(r);
	assert_int_equal(r->seq, 13);
	assert_string_equal(r->message, "m13");
	assert_null(dk_logj_find(j, &q, 21));
	dk_logj_destroy(j);
}

static void test_refused_changes_nothing(void **state)
{
	struct dk_logj *j = journal(8, 0, 2, NULL);
	char big[DK_LOG_MESSAGE_MAX + 2];
	struct dk_log_stats st;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(dk_logj_append(j, &alice, "", DK_LOG_INFO, "t", big, "", 1, NULL),
			 -EMSGSIZE);
	assert_int_equal(dk_logj_append(j, &alice, "", 9, "t", "m", "", 1, NULL), -EPROTO);
	assert_int_equal(dk_logj_append(j, &alice, "", DK_LOG_INFO, "", "m", "", 1, NULL), -EPROTO);
	assert_int_equal(dk_logj_append(j, &alice, "", DK_LOG_INFO, "t", "m", "k", 1, NULL),
			 -EPROTO);
	dk_logj_stats(j, &st);
	assert_int_equal(st.records, 0);
	assert_int_equal(st.refused, 4);
	assert_int_equal(st.next_seq, 1);
	/* Refused records do not consume rate tokens: both of the burst are still there. */
	assert_int_equal(dk_logj_append(j, &alice, "", DK_LOG_INFO, "t", "m", "", 1, NULL), 0);
	assert_int_equal(dk_logj_append(j, &alice, "", DK_LOG_INFO, "t", "m", "", 1, NULL), 0);
	dk_logj_destroy(j);
}

static void test_rate_limit_refill(void **state)
{
	struct dk_logj *j = journal(64, 10, 5, NULL);
	uint64_t t = 1000 * DK_NSEC_PER_SEC;
	struct dk_log_stats st;
	int ok = 0;

	(void)state;
	for (int i = 0; i < 20; i++)
		ok += dk_logj_append(j, &alice, "", DK_LOG_INFO, "t", "m", "", t, NULL) == 0;
	assert_int_equal(ok, 5); /* the burst */
	/* 10 records/s: 300 ms later three more tokens. */
	t += 300 * DK_NSEC_PER_MSEC;
	ok = 0;
	for (int i = 0; i < 20; i++)
		ok += dk_logj_append(j, &alice, "", DK_LOG_INFO, "t", "m", "", t, NULL) == 0;
	assert_int_equal(ok, 3);
	/* A long pause refills only up to the burst. */
	t += 3600 * DK_NSEC_PER_SEC;
	ok = 0;
	for (int i = 0; i < 20; i++)
		ok += dk_logj_append(j, &alice, "", DK_LOG_INFO, "t", "m", "", t, NULL) == 0;
	assert_int_equal(ok, 5);
	dk_logj_stats(j, &st);
	assert_int_equal(st.accepted, 13);
	assert_int_equal(st.suppressed, 47);
	assert_int_equal(st.n_senders, 1);
	assert_int_equal(st.senders[0].pid, alice.pid);
	assert_int_equal(st.senders[0].suppressed, 47);
	dk_logj_destroy(j);
}

static void test_flooder_cannot_evict(void **state)
{
	struct dk_logj *j = journal(32, 0, 16, NULL);
	struct dk_log_query q = {.pid = alice.pid};
	const struct dk_log_record *r;
	struct dk_log_stats st;
	uint64_t from = 0;
	int n = 0;

	(void)state;
	for (int i = 0; i < 10; i++)
		assert_int_equal(
			dk_logj_append(j, &alice, "alice", DK_LOG_AUDIT, "a", "keep", "", 1, NULL), 0);
	for (int i = 0; i < 10000; i++)
		dk_logj_append(j, &mallory, "alice", DK_LOG_INFO, "m", "flood", "", 1, NULL);
	while ((r = dk_logj_find(j, &q, from))) {
		assert_string_equal(r->message, "keep");
		from = r->seq + 1;
		n++;
	}
	assert_int_equal(n, 10);
	dk_logj_stats(j, &st);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.suppressed, 10000 - 16);
	for (uint32_t i = 0; i < st.n_senders; i++) {
		if (st.senders[i].pid == mallory.pid) {
			assert_int_equal(st.senders[i].accepted, 16);
			assert_int_equal(st.senders[i].suppressed, 10000 - 16);
		} else {
			assert_int_equal(st.senders[i].pid, alice.pid);
			assert_int_equal(st.senders[i].suppressed, 0);
		}
	}
	dk_logj_destroy(j);
}

static void test_query_filters(void **state)
{
	struct dk_logj *j = journal(64, 0, 1000, NULL);
	struct dk_log_query q = {0};
	const struct dk_log_record *r;

	(void)state;
	dk_logj_append(j, &alice, "", DK_LOG_DEBUG, "gpu.submit", "1", "", 1, NULL);
	dk_logj_append(j, &mallory, "", DK_LOG_ERROR, "gpu.reset", "2", "", 1, NULL);
	dk_logj_append(j, &alice, "", DK_LOG_AUDIT, "broker.open", "3", "", 1, NULL);
	dk_logj_append(j, &alice, "", DK_LOG_WARNING, "gpu.fault", "4", "", 1, NULL);
	q.min_severity = DK_LOG_WARNING;
	r = dk_logj_find(j, &q, 0);
	assert_string_equal(r->message, "2");
	q.pid = alice.pid;
	r = dk_logj_find(j, &q, 0);
	assert_string_equal(r->message, "3");
	q.scope_prefix = "gpu.";
	r = dk_logj_find(j, &q, 0);
	assert_string_equal(r->message, "4");
	q.seq_max = 3;
	assert_null(dk_logj_find(j, &q, 0));
	dk_logj_destroy(j);
}

static char *make_tmpdir(void)
{
	char *dir = strdup("/tmp/dk-log-test-XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

/* Bytes and files on disk; @ret_max: the largest file. */
static uint64_t disk_usage(const char *dir, int *ret_files, uint64_t *ret_max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t total = 0;
	char path[512];

	*ret_files = 0;
	*ret_max = 0;
	assert_non_null(d);
	while ((e = readdir(d))) {
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(stat(path, &st), 0);
		total += (uint64_t)st.st_size;
		*ret_max = (uint64_t)st.st_size > *ret_max ? (uint64_t)st.st_size : *ret_max;
		(*ret_files)++;
	}
	closedir(d);
	return total;
}

static uint64_t first_seq_in(const char *dir, const char *name)
{
	char path[512], line[8192];
	unsigned long long seq = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f))
		sscanf(line, "{\"seq\":%llu,", &seq);
	fclose(f);
	return seq;
}

static void test_rotation_and_quota(void **state)
{
	char *dir = make_tmpdir();
	uint64_t quota = 4 * DK_LOGD_FILE_SIZE_MIN, max, total, prev_oldest = 0;
	char msg[DK_LOG_MESSAGE_MAX + 1];
	struct dk_log_stats st;
	struct dk_logj *j;
	int files;

	(void)state;
	memset(msg, 'x', 200);
	msg[200] = '\0';
	j = journal(16, 0, DK_LOGD_BURST_MAX, dir);
	for (int i = 0; i < 2000; i++) {
		assert_int_equal(dk_logj_append(j, &alice, "rot", DK_LOG_INFO, "disk", msg,
						"n=1 password=x", 1, NULL),
				 0);
		total = disk_usage(dir, &files, &max);
		assert_true(total <= quota);
		assert_true(max <= DK_LOGD_FILE_SIZE_MIN);
		assert_true(files <= 4);
	}
	dk_logj_stats(j, &st);
	assert_int_equal(st.file_errors, 0);
	assert_int_equal(st.files, 4);
	assert_int_equal(st.disk_bytes, total);
	/* The oldest file has the oldest records; newer files follow in order. */
	assert_true(first_seq_in(dir, "journal.3.jsonl") > 1);
	for (int k = 3; k >= 1; k--) {
		char name[32];
		uint64_t s;

		snprintf(name, sizeof(name), "journal.%d.jsonl", k);
		s = first_seq_in(dir, name);
		assert_true(s > prev_oldest);
		prev_oldest = s;
	}
	assert_true(first_seq_in(dir, "journal.jsonl") > prev_oldest);
	assert_false(access("/nonexistent", F_OK) == 0);
	dk_logj_destroy(j);

	/* A restart with a smaller quota takes the files over and trims them. */
	{
		struct dk_logd_config cfg;

		dk_logd_config_defaults(&cfg);
		cfg.dir = dir;
		cfg.file_size = DK_LOGD_FILE_SIZE_MIN;
		cfg.quota = 2 * DK_LOGD_FILE_SIZE_MIN;
		assert_int_equal(dk_logj_create(&cfg, &j), 0);
		assert_true(disk_usage(dir, &files, &max) <= cfg.quota);
		assert_true(files <= 2);
		dk_logj_destroy(j);
	}
	dk_test_remove_tree(dir);
	free(dir);
}

static void test_json_line(void **state)
{
	struct dk_log_record rec = {0};
	char line[8192];
	int n;

	(void)state;
	rec.seq = 42;
	rec.realtime_ns = 1700000000ull * DK_NSEC_PER_SEC + 5;
	rec.pid = 7;
	rec.severity = DK_LOG_AUDIT;
	strcpy(rec.name_claim, "svc");
	strcpy(rec.scope, "a.b");
	strcpy(rec.message, "say \"hi\" \\ caf\xc3\xa9");
	strcpy(rec.fields, "k=\"v\"");
	n = dk_logf_format(&rec, line, sizeof(line));
	assert_true(n > 0);
	assert_int_equal(line[n - 1], '\n');
	assert_non_null(strstr(line, "\"seq\":42,"));
	assert_non_null(strstr(line, "\"time\":\"2023-11-14T22:13:20.000000005Z\""));
	assert_non_null(strstr(line, "\"severity\":\"audit\""));
	assert_non_null(strstr(line, "\"name_claim\":\"svc\""));
	assert_non_null(strstr(line, "\"message\":\"say \\\"hi\\\" \\\\ caf\xc3\xa9\""));
	assert_non_null(strstr(line, "\"fields\":\"k=\\\"v\\\"\""));
	assert_int_equal(dk_logf_format(&rec, line, 64), -ENOSPC);
}

static void test_redacted_on_disk(void **state)
{
	char *dir = make_tmpdir(), path[512], buf[4096];
	const struct dk_log_record *r;
	struct dk_logj *j = journal(16, 0, 100, dir);
	ssize_t n;
	int fd;

	(void)state;
	assert_int_equal(dk_logj_append(j, &alice, "svc", DK_LOG_AUDIT, "auth",
					"login", "user=ann password=hunter2 api_token=abc", 1, &r),
			 0);
	assert_true(r->flags & DK_LOG_RECORD_F_REDACTED);
	assert_string_equal(r->fields, "user=ann password=[redacted] api_token=[redacted]");
	dk_logj_destroy(j);
	snprintf(path, sizeof(path), "%s/journal.jsonl", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_null(strstr(buf, "hunter2"));
	assert_null(strstr(buf, "abc"));
	assert_non_null(strstr(buf, "\"redacted\":true"));
	dk_test_remove_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_bounds),
		cmocka_unit_test(test_drop_oldest),
		cmocka_unit_test(test_refused_changes_nothing),
		cmocka_unit_test(test_rate_limit_refill),
		cmocka_unit_test(test_flooder_cannot_evict),
		cmocka_unit_test(test_query_filters),
		cmocka_unit_test(test_rotation_and_quota),
		cmocka_unit_test(test_json_line),
		cmocka_unit_test(test_redacted_on_disk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
