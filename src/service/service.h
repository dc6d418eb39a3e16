/* SPDX-License-Identifier: MIT */
/*
 * service.h - the device-service runtime (static library dk-service): what every device service
 * shares, so that a device class only supplies how to run one job.
 *
 * A service started by dk-supervisor receives sessions from the broker (one per client open,
 * with the policy grant), answers session requests (register buffers and fences, create and
 * destroy queues, stats), and serves the queues: it takes submissions (the no-drop rule of
 * dk/ring.h), validates them against the session's handle table and rights, waits for their
 * input fences, runs them through the class, signals their output fence and posts completions.
 * Every queue's completion fence is in the supervisor's registry before the client can wait on
 * it, so a crash wakes every waiter with driver-crashed.
 *
 * Threads: one serving thread owns every session, queue and handle. A second thread only
 * sleeps in epoll_wait on the control sockets and wakes the serving thread (dk_ring_wake())
 * when one is readable, so the serving thread sleeps on its queues' doorbells and on control
 * traffic at once, and no state is shared between threads.
 *
 * Bounds: DK_SERVICE_SESSIONS_MAX sessions, DK_SESSION_QUEUES_MAX queues per session,
 * DK_SVC_QUEUES_MAX queues in all (the futex_waitv limit), the grant's budgets per session.
 */
#ifndef DK_SERVICE_H
#define DK_SERVICE_H

#include <stdint.h>

#include <dk/ring.h>

#define DK_SVC_QUEUES_MAX DK_RING_WAIT_MAX
#define DK_SVC_BATCH 64u /* submissions taken from one queue per pass */

struct dk_htable;

/* What a device class supplies. */
struct dk_svc_class {
	const char *name; /* the class name, as in the manifest */
	/*
	 * run - execute one validated job whose inputs are ready, on the serving thread.
	 * @sqe: the submission (generic checks done: rights, slices, indices).
	 * @table: the session's handle table, for the buffers the job names.
	 * Returns 0 and the result in @ret_result, or a negative errno with a reason in
	 * @ret_reason (e.g. -EINVAL, DK_REASON_VALIDATION for an opcode the class lacks).
	 */
	int (*run)(void *ctx, const struct dk_sqe *sqe, const struct dk_htable *table,
		   uint64_t *ret_result, uint32_t *ret_reason);
	void *ctx;
};

/*
 * dk_svc_main - run a device service from its environment (dk/runtime.h: DK_BROKER_FD,
 * DK_SUPERVISOR_FD, DK_RUNTIME_DIR, DK_DEVICE, DK_SERVICE, DK_GENERATION) until SIGTERM.
 * Returns the process exit status: 0 after SIGTERM or when the broker hung up, 1 on a set-up
 * error (printed to stderr), 2 for a bad environment.
 */
int dk_svc_main(const struct dk_svc_class *cls);

#endif /* DK_SERVICE_H */
