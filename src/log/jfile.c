/* SPDX-License-Identifier: MIT */
/*
 * jfile.c - the rotating JSON-lines journal files.
 *
 * <dir>/journal.jsonl is written; when the next line would take it past @file_size it becomes
 * journal.1.jsonl, the older ones shift up by one, and the oldest beyond quota / file_size files
 * is deleted first. Every file stays <= file_size and there are at most quota / file_size of
 * them, so the total never exceeds the quota. Sizes are tracked in memory (the daemon is the
 * only writer).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dk/time.h>

#include "logd.h"

#define LINE_MAX_BYTES 8192u

struct dk_logf {
	int dirfd;
	int fd;
	uint64_t file_size, quota, total;
	uint32_t max_files, n_files;
	uint64_t sizes[DK_LOGD_FILES_MAX]; /* [0] is journal.jsonl, [k] journal.k.jsonl */
	char line[LINE_MAX_BYTES];
};

static void file_name(char *buf, size_t size, uint32_t k)
{
	if (k == 0)
		snprintf(buf, size, "journal.jsonl");
	else
		snprintf(buf, size, "journal.%" PRIu32 ".jsonl", k);
}

static int open_current(struct dk_logf *f)
{
	f->fd = openat(f->dirfd, "journal.jsonl", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	return f->fd < 0 ? -errno : 0;
}

/* Delete the oldest file (never the current one). */
static void delete_oldest(struct dk_logf *f)
{
	char name[32];

	file_name(name, sizeof(name), f->n_files - 1);
	unlinkat(f->dirfd, name, 0);
	f->total -= f->sizes[f->n_files - 1];
	f->n_files--;
}

int dk_logf_open(const char *dir, uint64_t file_size, uint64_t quota, struct dk_logf **ret_file)
{
	struct dk_logf *f;
	int err;

	if (!dir || file_size < DK_LOGD_FILE_SIZE_MIN || quota / 2 < file_size ||
	    quota / file_size > DK_LOGD_FILES_MAX)
		return -EINVAL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->file_size = file_size;
	f->quota = quota;
	f->max_files = (uint32_t)(quota / file_size);
	f->fd = -1;
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		err = -errno;
		goto out_free;
	}
	/* Take over the files of an earlier run, in order, and trim them to the limits. */
	for (uint32_t k = 0; k < DK_LOGD_FILES_MAX; k++) {
		struct stat st;
		char name[32];

		file_name(name, sizeof(name), k);
		if (fstatat(f->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
			if (k == 0)
				continue; /* no current file yet: rotated ones may still exist */
			break;
		}
		if (k >= f->max_files) {
			unlinkat(f->dirfd, name, 0);
			continue;
		}
		f->sizes[k] = (uint64_t)st.st_size;
		f->total += (uint64_t)st.st_size;
		f->n_files = k + 1;
	}
	if (f->n_files == 0)
		f->n_files = 1;
	while (f->n_files > 1 && f->total > quota)
		delete_oldest(f);
	err = open_current(f);
	if (err < 0)
		goto out_close_dir;
	*ret_file = f;
	return 0;

out_close_dir:
	close(f->dirfd);
out_free:
	free(f);
	return err;
}

void dk_logf_close(struct dk_logf *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	close(f->dirfd);
	free(f);
}

static int rotate(struct dk_logf *f)
{
	char from[32], to[32];

	if (f->n_files == f->max_files)
		delete_oldest(f);
	for (uint32_t k = f->n_files; k > 0; k--) {
		file_name(from, sizeof(from), k - 1);
		file_name(to, sizeof(to), k);
		if (renameat(f->dirfd, from, f->dirfd, to) < 0)
			return -errno;
		f->sizes[k] = f->sizes[k - 1];
	}
	f->sizes[0] = 0;
	f->n_files++;
	close(f->fd);
	return open_current(f);
}

/* Append @s escaped as the body of a JSON string; returns the new position or @size on overflow. */
static size_t put_escaped(char *buf, size_t pos, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s && pos < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			if (size - pos < 2)
				return size;
			buf[pos++] = '\\';
			buf[pos++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			if (size - pos < 6)
				return size;
			memcpy(buf + pos, "\\u00", 4);
			buf[pos + 4] = hex[c >> 4];
			buf[pos + 5] = hex[c & 15];
			pos += 6;
		} else {
			buf[pos++] = (char)c;
		}
	}
	return pos;
}

static size_t put_fmt(char *buf, size_t pos, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static size_t put_fmt(char *buf, size_t pos, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (pos >= size)
		return size;
	va_start(ap, fmt);
	n = vsnprintf(buf + pos, size - pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - pos)
		return size;
	return pos + (size_t)n;
}

int dk_logf_format(const struct dk_log_record *rec, char *buf, size_t size)
{
	time_t secs = (time_t)(rec->realtime_ns / DK_NSEC_PER_SEC);
	struct tm tm;
	size_t p = 0;

	gmtime_r(&secs, &tm);
	p = put_fmt(buf, p, size,
		    "{\"seq\":%" PRIu64 ",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09" PRIu64
		    "Z\",\"realtime_ns\":%" PRIu64 ",\"monotonic_ns\":%" PRIu64
		    ",\"severity\":\"%s\",\"pid\":%" PRIu32 ",\"uid\":%" PRIu32 ",\"gid\":%" PRIu32
		    ",\"name_claim\":\"",
		    rec->seq, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, (uint64_t)(rec->realtime_ns % DK_NSEC_PER_SEC), rec->realtime_ns,
		    rec->monotonic_ns, dk_log_severity_name(rec->severity), rec->pid, rec->uid,
		    rec->gid);
	p = put_escaped(buf, p, size, rec->name_claim);
	p = put_fmt(buf, p, size, "\",\"scope\":\"");
	p = put_escaped(buf, p, size, rec->scope);
	p = put_fmt(buf, p, size, "\",\"message\":\"");
	p = put_escaped(buf, p, size, rec->message);
	p = put_fmt(buf, p, size, "\",\"fields\":\"");
	p = put_escaped(buf, p, size, rec->fields);
	p = put_fmt(buf, p, size, "\",\"redacted\":%s}\n",
		    (rec->flags & DK_LOG_RECORD_F_REDACTED) ? "true" : "false");
	if (p >= size)
		return -ENOSPC;
	return (int)p;
}

int dk_logf_write(struct dk_logf *f, const struct dk_log_record *rec)
{
	ssize_t w;
	size_t len;
	int n, err;

	n = dk_logf_format(rec, f->line, sizeof(f->line));
	if (n < 0)
		return n;
	len = (size_t)n;
	if (f->fd < 0) {
		err = open_current(f);
		if (err < 0)
			return err;
	}
	if (f->sizes[0] > 0 && f->sizes[0] + len > f->file_size) {
		err = rotate(f);
		if (err < 0)
			return err;
	}
	while (f->n_files > 1 && f->total + len > f->quota)
		delete_oldest(f);
	w = write(f->fd, f->line, len);
	if (w < 0)
		return -errno;
	f->sizes[0] += (uint64_t)w;
	f->total += (uint64_t)w;
	return (size_t)w == len ? 0 : -EIO;
}

uint32_t dk_logf_files(const struct dk_logf *f)
{
	return f->n_files;
}

uint64_t dk_logf_bytes(const struct dk_logf *f)
{
	return f->total;
}
