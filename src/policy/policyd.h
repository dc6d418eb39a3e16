/* SPDX-License-Identifier: MIT */
/*
 * policyd.h - the dk-policyd server library (part of libdk-policy): the socket server that
 * answers CHECK, STATS and RELOAD, audits every decision to dk-logd and reloads the policy on
 * SIGHUP or when an asker sends RELOAD.
 * Used by daemons/policyd and the tests; not part of libdk (docs/policy.md).
 *
 * Reports go to the caller through a callback (the daemon prints them); nothing here prints.
 * Single-threaded: one thread owns a struct dk_policyd.
 */
#ifndef DK_POLICYD_H
#define DK_POLICYD_H

#include <stdint.h>

#include <dk/policy.h>

#define DK_POLICYD_CLIENTS_DEFAULT 64u
#define DK_POLICYD_CLIENTS_MAX 1024u
#define DK_POLICYD_ASKERS_MAX 64u
/* How long one audit append (or reconnect) may hold the loop, and the pause after a failure. */
#define DK_POLICYD_AUDIT_TIMEOUT_NS (500ull * 1000 * 1000)
#define DK_POLICYD_AUDIT_RETRY_NS (1000ull * 1000 * 1000)

struct dk_policyd_config {
	const char *socket_path; /* required */
	const char *policy_path; /* required; loaded at create; SIGHUP, RELOAD re-read */
	const char *logd_path;   /* NULL: no audit journal (every decision counts as unaudited) */
	uint32_t askers[DK_POLICYD_ASKERS_MAX]; /* uids allowed to ask */
	uint32_t n_askers;                      /* 1..DK_POLICYD_ASKERS_MAX */
	uint32_t max_clients;                   /* 1..DK_POLICYD_CLIENTS_MAX */
	/* Optional: called with one line of text for the operator (reload results, errors). */
	void (*report)(void *data, const char *line);
	void *report_data;
};

struct dk_policyd;

/*
 * dk_policyd_create - load cfg->policy_path, bind and listen on cfg->socket_path (a stale
 * socket nobody answers on is replaced; a live one gives -EADDRINUSE).
 * @ret_error: optional; the load error when the policy is invalid (-EINVAL).
 * Returns 0, -EINVAL (bad config or policy), -EADDRINUSE, -ENOMEM or -errno.
 */
int dk_policyd_create(const struct dk_policyd_config *cfg, struct dk_policyd **ret_server,
		      struct dk_policy_error *ret_error);

/*
 * dk_policyd_run - serve until SIGTERM or SIGINT arrives on @signal_fd (a signalfd for
 * SIGTERM, SIGINT and SIGHUP, which this function reads); SIGHUP reloads the policy. Sleeps in
 * epoll_wait when idle. Returns 0, or -errno when epoll fails.
 */
int dk_policyd_run(struct dk_policyd *d, int signal_fd);

/* dk_policyd_destroy - close every connection, remove the socket file, free. Accepts NULL. */
void dk_policyd_destroy(struct dk_policyd *d);

#endif /* DK_POLICYD_H */
