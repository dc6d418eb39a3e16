/* SPDX-License-Identifier: MIT */
/*
 * supervisor.h - the dk-supervisor library (dk-supervisor-lib): starts the stack a manifest
 * describes, restarts what crashes, keeps the fence registry and fails every registered fence
 * of a service that dies, serves $RT/supervisor.sock, and shuts everything down in reverse
 * order (docs/supervisor.md). Used by daemons/supervisor and the tests; not part of libdk.
 *
 * Nothing here prints: lines for the operator go to the caller's report callback. Records go
 * to dk-logd (the stack's own journal) once it runs.
 *
 * Single-threaded: one thread owns a struct dk_supd, and it must be the only thread of the
 * process (children are forked from it).
 */
#ifndef DK_SUPD_H
#define DK_SUPD_H

#include <stdbool.h>
#include <stdint.h>

#include "manifest.h"

#define DK_SUPD_CLIENTS_MAX 16u /* connections to supervisor.sock */

struct dk_supd_config {
	/* The checked manifest; borrowed until dk_supd_destroy(). */
	const struct dk_supd_manifest *manifest;
	/* Resolved executables, one per manifest service (dk_supd_resolve_exec()); borrowed. */
	const char *exec[DK_SUPD_SERVICES_MAX];
	/* The runtime directory (absolute); NULL: dk_runtime_dir_default(), else a private
	 * mkdtemp directory under /tmp. Created 0700 when missing. */
	const char *runtime_dir;
	/* Written "READY\n" and closed once every service has been ready once; -1: none. The
	 * library takes it over. */
	int ready_fd;
	/* Optional: one line of text for the operator (crash reports while dk-logd is down,
	 * errors). */
	void (*report)(void *data, const char *line);
	void *report_data;
};

struct dk_supd;

/*
 * dk_supd_create - take the runtime directory (creating it if missing) and listen on
 * $RT/supervisor.sock. Starts nothing yet.
 * Returns 0 and the supervisor (caller owns it: dk_supd_destroy()); -EINVAL; -EADDRINUSE
 * (another supervisor serves this runtime directory: nothing in it is touched); -ENAMETOOLONG;
 * -ENOMEM; another -errno.
 */
int dk_supd_create(const struct dk_supd_config *cfg, struct dk_supd **ret_supd);

/* dk_supd_runtime_dir - the runtime directory in use (valid until dk_supd_destroy()). */
const char *dk_supd_runtime_dir(const struct dk_supd *s);

/*
 * dk_supd_run - start the stack and supervise it until it has been shut down: by SIGTERM or
 * SIGINT on @signal_fd (a signalfd for SIGTERM, SIGINT and SIGHUP, read here; SIGHUP is
 * forwarded to dk-policyd), by a STOP request, or because a service of kind logd, policyd or
 * broker reached the crash-loop limit (the stack cannot work without it).
 * Returns 0 after an orderly shutdown; -ENODEV when a core service failed for good (the stack
 * was still shut down in order); -errno when the event loop itself failed.
 */
int dk_supd_run(struct dk_supd *s, int signal_fd);

/*
 * dk_supd_destroy - kill (SIGKILL) whatever still runs, reap its fences, and remove what the
 * supervisor created in the runtime directory (sockets, the journal directory, the directory
 * itself). Accepts NULL.
 */
void dk_supd_destroy(struct dk_supd *s);

#endif /* DK_SUPD_H */
