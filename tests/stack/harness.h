/* SPDX-License-Identifier: MIT */
/*
 * harness.h - the integration tests' stack: dk-supervisor with the real dk-logd, dk-policyd,
 * dk-broker and dk-null (found through $DK_BIN_PATH), run by dk_stack_start() as a child of
 * the test in a mkdtemp runtime directory, from a manifest and policy the test writes there.
 * Helpers for what the tests look at: the supervisor's and the broker's STATUS, the journal
 * (queries, and records awaited by following the journal and then looking back), frames sent
 * raw to a daemon, and client processes forked by the test.
 *
 * Every helper asserts with cmocka (include <cmocka.h> first) except those that run in a
 * forked client (ts_child_*), which report instead. Every wait has a deadline.
 */
#ifndef DK_TEST_STACK_HARNESS_H
#define DK_TEST_STACK_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <dk/dk.h>
#include <dk/log.h>

#include "stack.h"

/* Every wait of the tests: long enough for a loaded machine under ASan, never reached when
 * the stack works. */
#define WAIT_NS (30 * DK_NSEC_PER_SEC)
#define DEADLINE() dk_deadline_in(WAIT_NS)

/* A NULL-terminated list of "key=value" pairs a record's fields must all hold. */
#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

/*
 * How a test's stack differs from the default: a manifest with logd, policyd, broker and one
 * device service "null" (dk-null, device null0, class null), restart_delay_ms 10, and the
 * default policy (ts_policy_default).
 */
struct ts_config {
	const char *stack;     /* lines of [stack] besides policy (NULL: the default numbers) */
	const char *logd_args; /* args of dk-logd, or NULL */
	const char *null_args; /* args of dk-null, or NULL */
	const char *policy;    /* the policy; "@UID@" stands for the test's uid (NULL: default) */
};

/*
 * The default policy: service null drives null0; the test's uid may open class null (rule
 * me-null: every right, QoS burst, 4M / 8 buffers / 64 in flight / 8 fences).
 */
extern const char ts_policy_default[];
/* Only the service rule: the test's uid has none. */
extern const char ts_policy_service_only[];

struct ts {
	struct dk_stack st;
	char rt[PATH_MAX]; /* the runtime directory */
	char sup_sock[DK_RT_PATH_MAX], broker_sock[DK_RT_PATH_MAX];
	char logd_sock[DK_RT_PATH_MAX], policyd_sock[DK_RT_PATH_MAX];
};

/* The files the test writes into the runtime directory (the only ones left after a stop). */
#define TS_MANIFEST "manifest.ini"
#define TS_POLICY "policy.conf"

/* Make the runtime directory, write the manifest and the policy, start the stack. */
void ts_start(struct ts *T, const struct ts_config *cfg);

/*
 * Stop the stack as its owner does (SIGTERM to the supervisor, dk_stack_stop()) and check it
 * left nothing: the supervisor exited 0, every pid STATUS reported before the stop is gone
 * (kill(pid, 0) fails with ESRCH: reaped, not a zombie), and the runtime directory holds only
 * TS_MANIFEST and TS_POLICY. Then remove them and the directory.
 */
void ts_stop(struct ts *T);

/* After a failed test: kill what still runs (the supervisor, forked clients), remove the
 * directory. No assertions. */
void ts_cleanup(void);

/* ---- STATUS ---- */

/* The supervisor's STATUS into @svc (DK_SUPD_SERVICES_MAX entries); the number of services. */
uint32_t ts_status(struct ts *T, struct dk_service_status *svc);

/* One service of the supervisor's STATUS, which must be there. */
struct dk_service_status ts_service(struct ts *T, const char *name);

/* The broker's STATUS into @out (DK_BROKER_DEVICES_MAX entries); the number of devices. */
uint32_t ts_devices(struct ts *T, struct dk_device_status *out);

/* One device of the broker's STATUS: true and *@ret when the broker knows it. */
bool ts_device(struct ts *T, const char *device, struct dk_device_status *ret);

/* ---- the journal ---- */

/* A journal connection claiming @name. */
struct dk_log_client *ts_log(struct ts *T, const char *name);

/* Whether @fields holds the whole pair @kv. */
bool ts_has_field(const char *fields, const char *kv);

/*
 * The number of records with exactly @scope (and @message unless NULL) and at least
 * @min_severity whose fields hold every pair of @kvs; the last match into @ret (optional).
 */
int ts_journal_count(struct ts *T, const char *scope, const char *message, uint8_t min_severity,
		     const char *const *kvs, struct dk_log_record *ret);

/* A follower of every record with at least @min_severity accepted from now on. */
struct dk_log_client *ts_follow(struct ts *T, uint8_t min_severity);

/*
 * Wait for a record with exactly @scope whose fields hold every pair of @kvs: look back in the
 * journal first (a record accepted before @follower started), then take what @follower (made
 * before the event with ts_follow()) delivers until one matches or the deadline passes, which
 * fails the test. The match into @ret (optional). Closes @follower.
 */
void ts_await_record(struct ts *T, struct dk_log_client *follower, const char *scope,
		     const char *const *kvs, struct dk_log_record *ret);

/*
 * Wait until the records of the boot that may come after the ready notification are in: the
 * broker's audit of null0's ATTACH and dk-policyd's record of the question it asked (journalled
 * after the answer). From then on the stack journals nothing unless someone acts.
 */
void ts_settle(struct ts *T);

/* ---- raw frames ---- */

/* A connection to the socket at @path. */
int ts_connect(const char *path);

/* Send @len bytes as one record, with the descriptor @pass_fd unless it is -1. */
void ts_raw_send(int fd, const void *bytes, size_t len, int pass_fd);

/* Encode a frame of @proto with @opcode and @seq into @buf (DK_FRAME_MAX_SIZE + extra). */
size_t ts_frame(uint8_t *buf, size_t size, const struct dk_frame_proto *proto, uint16_t opcode,
		uint64_t seq, const void *payload, size_t len);

/*
 * Read the reply to (@opcode, @seq) raw (the reply tables do not know made-up opcodes): it
 * must be an error reply echoing them. Returns its error; its reason into @ret_reason.
 */
int ts_raw_error(int fd, uint16_t opcode, uint64_t seq, uint32_t *ret_reason);

/* ---- client processes ---- */

/* Fork a client running @fn(@arg, @wfd) with the write end of a pipe whose read end is
 * returned in *@ret_rfd; the child exits with @fn's value. Killed by ts_cleanup(). */
pid_t ts_fork(int (*fn)(void *arg, int wfd), void *arg, int *ret_rfd);

/* Read exactly @len bytes from @fd before the deadline. 0 or -errno (-ETIMEDOUT, -EPIPE). */
int ts_read_full(int fd, void *buf, size_t len, uint64_t deadline_ns);

/* Wait for client @pid (killed at the deadline) and assert it exited 0. */
void ts_reap(pid_t pid);

#endif /* DK_TEST_STACK_HARNESS_H */
