/* SPDX-License-Identifier: MIT */
/*
 * dk/log.h - the audit journal (dk-logd): record caps, the "logd" frame protocol, and the
 * client API services use to append, query, follow and read statistics.
 *
 * A record is: a severity, a scope (who inside the sender, e.g. "broker.open"), a message and
 * optional fields (key=value text or a flat JSON object as text). The daemon adds the sequence
 * number, both clocks and the sender's pid/uid/gid, which it takes from the socket peer
 * (SO_PEERCRED at connect time), never from the record. The sender's *name* is a claim: the
 * client says it, the daemon stores it apart from the authenticated identity and never trusts it.
 *
 * Clients must never send secrets. As a safety net, a field whose key contains "secret",
 * "password", "token" or "key" as a whole word part (api_key, authToken, db-password) has its
 * value replaced by "[redacted]" before it is stored anywhere. docs/logd.md has the protocol.
 *
 * Thread rules: a struct dk_log_client is used by one thread at a time.
 */
#ifndef DK_LOG_H
#define DK_LOG_H

#include <stddef.h>
#include <stdint.h>

#include <dk/common.h>
#include <dk/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Record caps in bytes, without a terminating NUL (CONTRACTS section 9). */
#define DK_LOG_SCOPE_MAX 64u
#define DK_LOG_MESSAGE_MAX 256u
#define DK_LOG_FIELDS_MAX 512u
#define DK_LOG_NAME_MAX 64u /* the claimed sender name */

enum dk_log_severity {
	DK_LOG_DEBUG = 0,
	DK_LOG_INFO = 1,
	DK_LOG_NOTICE = 2,
	DK_LOG_WARNING = 3,
	DK_LOG_ERROR = 4,
	DK_LOG_AUDIT = 5,
};
#define DK_LOG_SEVERITY_MAX DK_LOG_AUDIT

/* Record flags (struct dk_log_record.flags, u8 on the wire). */
#define DK_LOG_RECORD_F_REDACTED 0x1u /* at least one field value was replaced */

/* The "logd" protocol (docs/logd.md has every payload layout). */
#define DK_LOGD_PROTO_MINOR 0
enum dk_logd_opcode {
	DK_LOGD_OP_HELLO = 0x0001,        /* claim a name; reply: the authenticated pid/uid/gid */
	DK_LOGD_OP_APPEND = 0x0002,       /* one record; reply: its sequence number */
	DK_LOGD_OP_APPEND_ASYNC = 0x0003, /* one record; no reply unless malformed */
	DK_LOGD_OP_QUERY = 0x0004,        /* filtered page of records */
	DK_LOGD_OP_FOLLOW = 0x0005,       /* subscribe to new records */
	DK_LOGD_OP_RECORD = 0x0006,       /* daemon -> follower: one new record */
	DK_LOGD_OP_STATS = 0x0007,        /* counters */
};

/* Fixed parts of payloads, in bytes. */
#define DK_LOGD_QUERY_FIXED 24u       /* without the scope prefix string */
#define DK_LOGD_QUERY_REPLY_FIXED 16u /* u16 n, u16 flags, u32 reserved, u64 next_seq */
#define DK_LOGD_RECORD_FIXED 38u      /* record without its four strings */
#define DK_LOGD_RECORD_WIRE_MAX                                                                    \
	(DK_LOGD_RECORD_FIXED + 8u + DK_LOG_NAME_MAX + DK_LOG_SCOPE_MAX + DK_LOG_MESSAGE_MAX +     \
	 DK_LOG_FIELDS_MAX)
/* Records one QUERY reply can carry whatever their size (more are sent when they fit). */
#define DK_LOGD_QUERY_PAGE_MIN                                                                     \
	((DK_FRAME_MAX_PAYLOAD - DK_LOGD_QUERY_REPLY_FIXED) / DK_LOGD_RECORD_WIRE_MAX)
/* Hard cap on records per QUERY reply. */
#define DK_LOGD_QUERY_PAGE_MAX 64u
#define DK_LOGD_QUERY_F_MORE 0x1u /* more matching records follow next_seq */
/* Per-sender entries in a STATS reply. */
#define DK_LOGD_STATS_FIXED 112u
#define DK_LOGD_STATS_SENDER_SIZE 32u
#define DK_LOG_STATS_MAX_SENDERS 64u

/* The "logd" frame protocol table (for dk_frame_decode()). Static. */
DK_EXPORT extern const struct dk_frame_proto dk_logd_proto;

/* One journal record as stored by the daemon. Strings are NUL-terminated. */
struct dk_log_record {
	uint64_t seq;          /* monotonic, starts at 1, never reused within a daemon run */
	uint64_t realtime_ns;  /* CLOCK_REALTIME when accepted */
	uint64_t monotonic_ns; /* CLOCK_MONOTONIC when accepted */
	uint32_t pid;          /* authenticated: SO_PEERCRED of the connection */
	uint32_t uid;          /* authenticated */
	uint32_t gid;          /* authenticated */
	uint8_t severity;      /* enum dk_log_severity */
	uint8_t flags;         /* DK_LOG_RECORD_F_* */
	char name_claim[DK_LOG_NAME_MAX + 1]; /* NOT authenticated: what the client said */
	char scope[DK_LOG_SCOPE_MAX + 1];
	char message[DK_LOG_MESSAGE_MAX + 1];
	char fields[DK_LOG_FIELDS_MAX + 1];
};

/* Per-sender counters (keyed by authenticated pid). */
struct dk_log_sender_stats {
	uint32_t pid;
	uint32_t uid;
	uint64_t accepted;   /* records stored */
	uint64_t suppressed; /* records refused by the rate limit */
	uint64_t refused;    /* malformed or oversized records */
};

struct dk_log_stats {
	uint64_t records;           /* records in the RAM ring now */
	uint64_t accepted;          /* records accepted since start */
	uint64_t bytes;             /* payload bytes (scope+message+fields) accepted */
	uint64_t dropped;           /* records evicted from the ring (drop-oldest) */
	uint64_t suppressed;        /* records refused by the rate limit, all senders */
	uint64_t refused;           /* malformed frames and records, all senders */
	uint64_t followers_dropped; /* followers cut off because they did not read */
	uint64_t clients_refused;   /* connections refused over the client cap */
	uint64_t disk_bytes;        /* bytes in journal files now */
	uint64_t file_errors;       /* failed file writes (records stay in RAM) */
	uint64_t next_seq;          /* sequence number the next record will get */
	uint32_t capacity;          /* ring capacity in records */
	uint32_t followers;         /* current followers */
	uint32_t clients;           /* current connections */
	uint32_t files;             /* journal files on disk now */
	uint32_t n_senders;         /* entries in @senders */
	uint32_t n_senders_total;   /* senders the daemon tracks (may exceed @n_senders) */
	struct dk_log_sender_stats senders[DK_LOG_STATS_MAX_SENDERS];
};

/* A QUERY filter. Zero-initialise, then set what you need. */
struct dk_log_query {
	uint64_t seq_min;     /* first sequence number (0 or 1: from the oldest) */
	uint64_t seq_max;     /* last sequence number, inclusive (0: no upper bound) */
	uint32_t pid;         /* authenticated pid (0: any) */
	uint8_t min_severity; /* enum dk_log_severity */
	const char *scope_prefix; /* NULL or "": any scope; at most DK_LOG_SCOPE_MAX bytes */
};

struct dk_log_client;

/*
 * dk_log_connect - connect to dk-logd at @socket_path and claim the name @name.
 * @name: the claimed sender name (at most DK_LOG_NAME_MAX bytes of [A-Za-z0-9._:/@-]; may be
 *   NULL or ""). The daemon stores it as a claim; the authenticated identity is the peer's.
 * @deadline_ns: absolute CLOCK_MONOTONIC deadline for the connection and the HELLO exchange.
 * @ret_client: the client, owned by the caller until dk_log_close().
 * Returns 0; -EINVAL (bad argument or deadline), -ENOENT / -ECONNREFUSED (no daemon),
 * -ETIMEDOUT, -EPROTO (bad reply), -ENOMEM, or the daemon's error.
 */
DK_EXPORT int dk_log_connect(const char *socket_path, const char *name, uint64_t deadline_ns,
			     struct dk_log_client **ret_client);

/* dk_log_close - close the connection and free @client. Accepts NULL. */
DK_EXPORT void dk_log_close(struct dk_log_client *client);

/*
 * dk_log_peer - the identity the daemon authenticated for this connection (from the HELLO
 * reply). Any out-parameter may be NULL. Returns 0.
 */
DK_EXPORT int dk_log_peer(const struct dk_log_client *client, uint32_t *ret_pid,
			  uint32_t *ret_uid, uint32_t *ret_gid);

/*
 * dk_log_append - append one record and wait for the daemon's acknowledgement.
 * @scope: 1..DK_LOG_SCOPE_MAX bytes of [A-Za-z0-9._:/-].
 * @message: at most DK_LOG_MESSAGE_MAX bytes of UTF-8 without control characters.
 * @fields: NULL, "", key=value pairs separated by spaces (values bare or "quoted"), or a flat
 *   JSON object; at most DK_LOG_FIELDS_MAX bytes.
 * @ret_seq: optional; the record's sequence number.
 * Returns 0; -EMSGSIZE (a string over its cap, checked here and by the daemon: nothing is
 * truncated), -EPROTO (malformed string), -EAGAIN (refused by the rate limit), -ETIMEDOUT,
 * -EPIPE (daemon gone), -EBUSY (the connection is following), -EINVAL.
 */
DK_EXPORT int dk_log_append(struct dk_log_client *client, enum dk_log_severity severity,
			    const char *scope, const char *message, const char *fields,
			    uint64_t deadline_ns, uint64_t *ret_seq);

/*
 * dk_log_append_async - append one record without waiting for an answer.
 * Returns 0 once the frame is queued; -EAGAIN when the socket is full (nothing sent), the
 * argument errors of dk_log_append(), -EPIPE, -EBUSY. Records the rate limit refuses are
 * counted by the daemon as suppressed; a malformed record is answered with an error frame,
 * which this function and every later call discard, counting them (dk_log_async_errors()).
 */
DK_EXPORT int dk_log_append_async(struct dk_log_client *client, enum dk_log_severity severity,
				  const char *scope, const char *message, const char *fields);

/* dk_log_async_errors - error replies seen for async appends so far. */
DK_EXPORT uint64_t dk_log_async_errors(const struct dk_log_client *client);

/*
 * dk_log_query - one page of records matching @query, oldest first.
 * @records, @n_records: caller's array; at most min(@n_records, DK_LOGD_QUERY_PAGE_MAX)
 *   records are returned per call.
 * @ret_next_seq: optional; where the next page starts (set query->seq_min to it), or 0 when
 *   no more records match.
 * Returns the number of records (>= 0), or -errno as dk_log_append().
 */
DK_EXPORT int dk_log_query(struct dk_log_client *client, const struct dk_log_query *query,
			   struct dk_log_record *records, size_t n_records, uint64_t deadline_ns,
			   uint64_t *ret_next_seq);

/*
 * dk_log_follow - turn this connection into a follower: records accepted from now on with at
 * least @min_severity (and from @pid unless 0) are pushed to it. A follower that does not
 * read fast enough is disconnected by the daemon (dk_log_next() then returns -EPIPE). After
 * this call only dk_log_next(), dk_log_peer() and dk_log_close() may be used.
 * @ret_next_seq: optional; the sequence number the first delivered record will have at least.
 */
DK_EXPORT int dk_log_follow(struct dk_log_client *client, uint8_t min_severity, uint32_t pid,
			    uint64_t deadline_ns, uint64_t *ret_next_seq);

/*
 * dk_log_next - the next followed record. Returns 0; -ETIMEDOUT; -EPIPE when the daemon
 * dropped the follower or exited; -EINVAL when not following.
 */
DK_EXPORT int dk_log_next(struct dk_log_client *client, uint64_t deadline_ns,
			  struct dk_log_record *ret_record);

/* dk_log_stats - the daemon's counters. Returns 0 or -errno as dk_log_append(). */
DK_EXPORT int dk_log_stats(struct dk_log_client *client, uint64_t deadline_ns,
			   struct dk_log_stats *ret_stats);

/* dk_log_severity_name - "debug", "info", ..., "audit"; "unknown" out of range. Static. */
DK_EXPORT const char *dk_log_severity_name(uint32_t severity);

/*
 * dk_log_record_decode - decode one record as it travels in QUERY replies and RECORD frames.
 * Returns the number of bytes consumed, -EPROTO (malformed) or -EMSGSIZE (a string over its
 * cap). For tools that speak the protocol directly.
 */
DK_EXPORT int dk_log_record_decode(const void *buf, size_t len, struct dk_log_record *ret_record);

#ifdef __cplusplus
}
#endif

#endif /* DK_LOG_H */
