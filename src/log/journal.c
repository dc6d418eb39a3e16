/* SPDX-License-Identifier: MIT */
/*
 * journal.c - the RAM ring of records (drop-oldest), per-sender token buckets and counters.
 *
 * The ring holds the newest @capacity records in sequence order: record k (0 = oldest) lives at
 * ring[(start + k) % capacity] and has sequence number first_seq + k, so a sequence lookup is
 * O(1). Senders are keyed by authenticated pid; the table is bounded and recycles the entry
 * seen least recently.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dk/time.h>

#include "log-internal.h"
#include "logd.h"

struct sender {
	bool used;
	uint32_t pid, uid;
	uint64_t tokens_nano; /* tokens * 1e9 */
	uint64_t last_ns;     /* last refill */
	uint64_t accepted, suppressed, refused;
};

struct dk_logj {
	struct dk_log_record *ring;
	uint32_t capacity, count, start;
	uint64_t next_seq;
	uint64_t accepted, bytes, dropped, suppressed, refused, file_errors;
	uint32_t rate, burst;
	struct sender *senders;
	uint32_t n_senders;
	struct dk_logf *file;
};

void dk_logd_config_defaults(struct dk_logd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = DK_LOGD_CAPACITY_DEFAULT;
	cfg->file_size = DK_LOGD_FILE_SIZE_DEFAULT;
	cfg->quota = DK_LOGD_QUOTA_DEFAULT;
	cfg->rate = DK_LOGD_RATE_DEFAULT;
	cfg->burst = DK_LOGD_BURST_DEFAULT;
	cfg->max_clients = DK_LOGD_CLIENTS_DEFAULT;
}

int dk_logd_config_check(const struct dk_logd_config *cfg)
{
	if (!cfg || cfg->capacity < 1 || cfg->capacity > DK_LOGD_CAPACITY_MAX)
		return -EINVAL;
	if (cfg->file_size < DK_LOGD_FILE_SIZE_MIN || cfg->file_size > DK_LOGD_FILE_SIZE_MAX)
		return -EINVAL;
	if (cfg->quota / 2 < cfg->file_size || cfg->quota / cfg->file_size > DK_LOGD_FILES_MAX)
		return -EINVAL;
	if (cfg->rate > DK_LOGD_RATE_MAX || cfg->burst < 1 || cfg->burst > DK_LOGD_BURST_MAX)
		return -EINVAL;
	if (cfg->max_clients < 1 || cfg->max_clients > DK_LOGD_CLIENTS_MAX)
		return -EINVAL;
	return 0;
}

int dk_logj_create(const struct dk_logd_config *cfg, struct dk_logj **ret_journal)
{
	struct dk_logj *j;
	int err;

	err = dk_logd_config_check(cfg);
	if (err < 0)
		return err;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->ring = calloc(cfg->capacity, sizeof(*j->ring));
	j->senders = calloc(DK_LOGD_SENDERS_MAX, sizeof(*j->senders));
	if (!j->ring || !j->senders) {
		err = -ENOMEM;
		goto out_free;
	}
	j->capacity = cfg->capacity;
	j->next_seq = 1;
	j->rate = cfg->rate;
	j->burst = cfg->burst;
	if (cfg->dir) {
		err = dk_logf_open(cfg->dir, cfg->file_size, cfg->quota, &j->file);
		if (err < 0)
			goto out_free;
	}
	*ret_journal = j;
	return 0;

out_free:
	free(j->senders);
	free(j->ring);
	free(j);
	return err;
}

void dk_logj_destroy(struct dk_logj *j)
{
	if (!j)
		return;
	dk_logf_close(j->file);
	free(j->senders);
	free(j->ring);
	free(j);
}

/* The bucket of @cred's pid, recycling the least recently refilled entry when full. */
static struct sender *sender_get(struct dk_logj *j, const struct dk_logj_cred *cred,
				 uint64_t now_ns)
{
	struct sender *victim = NULL;

	for (uint32_t i = 0; i < j->n_senders; i++) {
		struct sender *s = &j->senders[i];

		if (s->pid == cred->pid && s->uid == cred->uid)
			return s;
		if (!victim || s->last_ns < victim->last_ns)
			victim = s;
	}
	if (j->n_senders < DK_LOGD_SENDERS_MAX)
		victim = &j->senders[j->n_senders++];
	memset(victim, 0, sizeof(*victim));
	victim->used = true;
	victim->pid = cred->pid;
	victim->uid = cred->uid;
	victim->tokens_nano = (uint64_t)j->burst * DK_NSEC_PER_SEC;
	victim->last_ns = now_ns;
	return victim;
}

/* Refill and take one token. */
static bool sender_take(struct dk_logj *j, struct sender *s, uint64_t now_ns)
{
	uint64_t cap = (uint64_t)j->burst * DK_NSEC_PER_SEC;

	if (now_ns > s->last_ns && j->rate > 0) {
		uint64_t dt = now_ns - s->last_ns;

		/* Capping dt at 1000 s keeps dt * rate below 2^64 (rate <= 1e6). */
		if (dt > 1000 * DK_NSEC_PER_SEC)
			dt = 1000 * DK_NSEC_PER_SEC;
		s->tokens_nano += dt * j->rate;
		if (s->tokens_nano > cap)
			s->tokens_nano = cap;
	}
	if (now_ns > s->last_ns)
		s->last_ns = now_ns;
	if (s->tokens_nano < DK_NSEC_PER_SEC)
		return false;
	s->tokens_nano -= DK_NSEC_PER_SEC;
	return true;
}

void dk_logj_note_refused(struct dk_logj *j, const struct dk_logj_cred *cred)
{
	j->refused++;
	if (cred)
		sender_get(j, cred, dk_now_ns())->refused++;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * DK_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

int dk_logj_append(struct dk_logj *j, const struct dk_logj_cred *cred, const char *name_claim,
		   uint8_t severity, const char *scope, const char *message, const char *fields,
		   uint64_t now_ns, const struct dk_log_record **ret_record)
{
	struct dk_log_record *rec, tmp;
	size_t scope_len, msg_len, name_len;
	struct sender *s;
	bool redacted = false;
	int err, n;

	if (!name_claim)
		name_claim = "";
	if (!fields)
		fields = "";
	if (!scope || !message) {
		err = -EPROTO;
		goto out_refused;
	}
	scope_len = strlen(scope);
	msg_len = strlen(message);
	name_len = strlen(name_claim);
	err = severity > DK_LOG_SEVERITY_MAX ? -EPROTO : 0;
	if (!err)
		err = dk_logi_check_scope(scope, scope_len);
	if (!err)
		err = dk_logi_check_message(message, msg_len);
	if (!err)
		err = dk_logi_check_name(name_claim, name_len);
	if (err < 0)
		goto out_refused;
	n = dk_logi_fields_normalize(fields, strlen(fields), tmp.fields, &redacted);
	if (n < 0) {
		err = n;
		goto out_refused;
	}

	s = sender_get(j, cred, now_ns);
	if (!sender_take(j, s, now_ns)) {
		s->suppressed++;
		j->suppressed++;
		return -EAGAIN;
	}
	s->accepted++;

	if (j->count == j->capacity) {
		/* Drop the oldest. */
		j->start = (j->start + 1) % j->capacity;
		j->count--;
		j->dropped++;
	}
	rec = &j->ring[(j->start + j->count) % j->capacity];
	j->count++;
	rec->seq = j->next_seq++;
	rec->realtime_ns = realtime_ns();
	rec->monotonic_ns = now_ns;
	rec->pid = cred->pid;
	rec->uid = cred->uid;
	rec->gid = cred->gid;
	rec->severity = severity;
	rec->flags = redacted ? DK_LOG_RECORD_F_REDACTED : 0;
	memcpy(rec->name_claim, name_claim, name_len + 1);
	memcpy(rec->scope, scope, scope_len + 1);
	memcpy(rec->message, message, msg_len + 1);
	memcpy(rec->fields, tmp.fields, (size_t)n + 1);
	j->accepted++;
	j->bytes += scope_len + msg_len + (size_t)n;
	if (j->file && dk_logf_write(j->file, rec) < 0)
		j->file_errors++;
	if (ret_record)
		*ret_record = rec;
	return 0;

out_refused:
	dk_logj_note_refused(j, cred);
	return err;
}

bool dk_logj_match(const struct dk_log_record *rec, uint8_t min_severity, uint32_t pid,
		   const char *scope_prefix)
{
	if (rec->severity < min_severity)
		return false;
	if (pid && rec->pid != pid)
		return false;
	if (scope_prefix && scope_prefix[0] &&
	    strncmp(rec->scope, scope_prefix, strlen(scope_prefix)) != 0)
		return false;
	return true;
}

const struct dk_log_record *dk_logj_find(const struct dk_logj *j, const struct dk_log_query *q,
					 uint64_t from_seq)
{
	uint64_t first, k;

	if (j->count == 0)
		return NULL;
	first = j->next_seq - j->count;
	k = from_seq > first ? from_seq - first : 0;
	for (; k < j->count; k++) {
		const struct dk_log_record *rec = &j->ring[(j->start + k) % j->capacity];

		if (q->seq_max && rec->seq > q->seq_max)
			return NULL;
		if (dk_logj_match(rec, q->min_severity, q->pid, q->scope_prefix))
			return rec;
	}
	return NULL;
}

void dk_logj_stats(const struct dk_logj *j, struct dk_log_stats *ret_stats)
{
	struct dk_log_stats *st = ret_stats;

	memset(st, 0, sizeof(*st));
	st->records = j->count;
	st->accepted = j->accepted;
	st->bytes = j->bytes;
	st->dropped = j->dropped;
	st->suppressed = j->suppressed;
	st->refused = j->refused;
	st->file_errors = j->file_errors;
	st->next_seq = j->next_seq;
	st->capacity = j->capacity;
	st->disk_bytes = j->file ? dk_logf_bytes(j->file) : 0;
	st->files = j->file ? dk_logf_files(j->file) : 0;
	st->n_senders_total = j->n_senders;
	for (uint32_t i = 0; i < j->n_senders && st->n_senders < DK_LOG_STATS_MAX_SENDERS; i++) {
		const struct sender *s = &j->senders[i];
		struct dk_log_sender_stats *o = &st->senders[st->n_senders++];

		o->pid = s->pid;
		o->uid = s->uid;
		o->accepted = s->accepted;
		o->suppressed = s->suppressed;
		o->refused = s->refused;
	}
}
