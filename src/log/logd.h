/* SPDX-License-Identifier: MIT */
/*
 * logd.h - the journal server library (dk-log-server): the RAM ring with per-sender rate
 * limits, the rotating JSON-lines writer, and the socket server of dk-logd. Used by
 * daemons/logd and by the tests; not part of libdk (docs/logd.md, "Layout").
 *
 * Nothing here prints. Single-threaded: one thread owns a struct dk_logd and its journal.
 */
#ifndef DK_LOGD_H
#define DK_LOGD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dk/log.h>

#define DK_LOGD_CAPACITY_DEFAULT 4096u
#define DK_LOGD_CAPACITY_MAX 65536u
#define DK_LOGD_FILE_SIZE_DEFAULT (1024ull * 1024)
#define DK_LOGD_FILE_SIZE_MIN 16384ull /* more than the longest JSON line */
#define DK_LOGD_FILE_SIZE_MAX (1024ull * 1024 * 1024)
#define DK_LOGD_QUOTA_DEFAULT (8ull * 1024 * 1024)
#define DK_LOGD_FILES_MAX 1024u /* quota / file size, at most */
#define DK_LOGD_RATE_DEFAULT 100u
#define DK_LOGD_BURST_DEFAULT 200u
#define DK_LOGD_RATE_MAX 1000000u
#define DK_LOGD_BURST_MAX 1000000u
#define DK_LOGD_CLIENTS_DEFAULT 64u
#define DK_LOGD_CLIENTS_MAX 1024u
#define DK_LOGD_SENDERS_MAX 1024u /* rate-limit buckets; idle ones are recycled */

struct dk_logd_config {
	const char *socket_path; /* server only */
	const char *dir;         /* journal directory; NULL: RAM only */
	uint32_t capacity;       /* ring records, 1..DK_LOGD_CAPACITY_MAX */
	uint64_t file_size;      /* bytes per file, DK_LOGD_FILE_SIZE_MIN..MAX */
	uint64_t quota;          /* bytes of all files, >= 2 * file_size */
	uint32_t rate;           /* records per second per sender pid; 0: no refill */
	uint32_t burst;          /* bucket size, 1..DK_LOGD_BURST_MAX */
	uint32_t max_clients;    /* connections, 1..DK_LOGD_CLIENTS_MAX */
};

/* dk_logd_config_defaults - fill @cfg with the documented defaults (paths NULL). */
void dk_logd_config_defaults(struct dk_logd_config *cfg);

/* dk_logd_config_check - 0, or -EINVAL naming no field (see the ranges above). */
int dk_logd_config_check(const struct dk_logd_config *cfg);

/* ---- the journal: ring, rate limit, stats, optional file ---- */

struct dk_logj;

/* The authenticated identity of a sender (SO_PEERCRED). */
struct dk_logj_cred {
	uint32_t pid, uid, gid;
};

/*
 * dk_logj_create - a journal per @cfg (socket_path unused). When cfg->dir is set, the
 * directory is created (0700) if missing and journal files in it are taken over and trimmed
 * to the quota. Returns 0, -EINVAL, -ENOMEM or the error of opening the directory.
 */
int dk_logj_create(const struct dk_logd_config *cfg, struct dk_logj **ret_journal);

/* dk_logj_destroy - close files and free. Accepts NULL. */
void dk_logj_destroy(struct dk_logj *j);

/*
 * dk_logj_append - check, redact and store one record, and write it to the file.
 * The strings are NUL-terminated; their lengths are checked against the caps (never
 * truncated). @now_ns is CLOCK_MONOTONIC, for the rate limit and the record.
 * @ret_record: optional; the stored record, valid until the next append.
 * Returns 0; -EAGAIN when @cred's pid is over its rate (counted as suppressed); -EMSGSIZE or
 * -EPROTO when a string is over its cap or malformed, -EPROTO for a bad severity (counted as
 * refused). A refused record changes nothing else.
 */
int dk_logj_append(struct dk_logj *j, const struct dk_logj_cred *cred, const char *name_claim,
		   uint8_t severity, const char *scope, const char *message, const char *fields,
		   uint64_t now_ns, const struct dk_log_record **ret_record);

/* dk_logj_note_refused - count a malformed frame against @cred's pid (NULL: not known). */
void dk_logj_note_refused(struct dk_logj *j, const struct dk_logj_cred *cred);

/*
 * dk_logj_find - the oldest record in the ring with seq >= @from_seq that matches @q (seq_min
 * is ignored, @from_seq replaces it), or NULL. Valid until the next append.
 */
const struct dk_log_record *dk_logj_find(const struct dk_logj *j, const struct dk_log_query *q,
					 uint64_t from_seq);

/* dk_logj_match - whether @rec passes @q's filters other than the sequence range. */
bool dk_logj_match(const struct dk_log_record *rec, uint8_t min_severity, uint32_t pid,
		   const char *scope_prefix);

/* dk_logj_stats - the journal's counters (followers, clients: left 0). */
void dk_logj_stats(const struct dk_logj *j, struct dk_log_stats *ret_stats);

/* ---- the rotating JSON-lines writer ---- */

struct dk_logf;

int dk_logf_open(const char *dir, uint64_t file_size, uint64_t quota, struct dk_logf **ret_file);
void dk_logf_close(struct dk_logf *f);
/* Append @rec as one JSON line, rotating and deleting first as needed. 0 or -errno. */
int dk_logf_write(struct dk_logf *f, const struct dk_log_record *rec);
/* dk_logf_format - the JSON line for @rec (with '\n') into @buf; its length or -ENOSPC. */
int dk_logf_format(const struct dk_log_record *rec, char *buf, size_t size);
uint32_t dk_logf_files(const struct dk_logf *f);
uint64_t dk_logf_bytes(const struct dk_logf *f);

/* ---- the server ---- */

struct dk_logd;

/*
 * dk_logd_create - bind and listen on cfg->socket_path (a stale socket file nobody answers on
 * is replaced; a live one gives -EADDRINUSE) and open the journal.
 */
int dk_logd_create(const struct dk_logd_config *cfg, struct dk_logd **ret_server);

/*
 * dk_logd_run - serve until @stop_fd becomes readable (the caller's signalfd; it is not read
 * here). Sleeps in epoll_wait when idle. Returns 0, or -errno when epoll fails.
 */
int dk_logd_run(struct dk_logd *d, int stop_fd);

/* dk_logd_destroy - close every connection, remove the socket file, free. Accepts NULL. */
void dk_logd_destroy(struct dk_logd *d);

#endif /* DK_LOGD_H */
