/* SPDX-License-Identifier: MIT */
/*
 * dk/service/service.h - libdk-service, the runtime of a device-class service (docs/service.md).
 *
 * A device service is one process per device, started by dk-supervisor and reached only
 * through sessions the broker hands it. Everything it owes its clients is here, so that a
 * device class only writes its device-specific part (dk/service/device.h):
 *
 *  - sessions with the policy grant, per-session handle tables and budgets, queues whose
 *    completion fences are in the supervisor's registry before any client can wait on them;
 *  - the job pipeline: take (the no-drop rule of dk/ring.h), check (dk_ring_check_sqe(), then
 *    the class's validate), park on input fences, schedule, run on the hardware, complete
 *    (output fence, completion entry, stats, trace);
 *  - the scheduler across clients: hardware slots bounded by the class; QoS classes by
 *    weighted round-robin (Burst 8 : Normal 4 : Frugal 1 among those with ready work); within a
 *    class, sessions by deficit round-robin; within a session, earliest deadline first;
 *  - the watchdog (a time limit per job on the hardware), lost-interrupt recovery, device
 *    reset, and per-client kill (by the broker, or after too many validation failures);
 *  - the journal records service.kill, service.reset (AUDIT) and service.lost-irq.
 *
 * Library: static (dk-service), linked into each service binary; see docs/service.md for why.
 *
 * Threads: one serving thread owns every session, queue, job and handle and calls every
 * device op; a watcher thread only sleeps in epoll_wait (control sockets, the interrupt, the
 * watchdog timer, the poll descriptors of awaited input fences) and wakes it. Unless a
 * function says otherwise it must be called on the serving thread, i.e. from a device op.
 */
#ifndef DK_SERVICE_SERVICE_H
#define DK_SERVICE_SERVICE_H

#include <stdint.h>

#include <dk/qos.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dk_device_ops;
struct dk_svc;

/* Validation failures (and hangs) of one session after which it is killed, by default. */
#define DK_SVC_KILL_THRESHOLD_DEFAULT 16u
/* Environment variable that sets the kill threshold when --kill-threshold is not given. */
#define DK_ENV_KILL_THRESHOLD "DK_KILL_THRESHOLD"
/* Job records kept for tracing (the latest ones; older ones are overwritten). */
#define DK_SVC_TRACE_RECORDS 1024u

/*
 * dk_svc_main - run a device service of the class @ops until SIGTERM (or the broker hangs up).
 * Environment: dk/runtime.h (DK_BROKER_FD, DK_DEVICE, DK_SUPERVISOR_FD, DK_RUNTIME_DIR,
 * DK_SERVICE, DK_GENERATION) and DK_KILL_THRESHOLD.
 * Options in @argv: --kill-threshold N (0: never kill automatically; overrides the
 * environment), --help.
 * Returns the process exit status: 0 after SIGTERM or when the broker hung up; 1 on a set-up
 * error, a failed probe or a device that could not be reset (printed to stderr); 2 for a bad
 * environment, bad options or bad @ops.
 */
int dk_svc_main(const struct dk_device_ops *ops, int argc, char **argv);

/* Service-wide counters (dk_svc_stats()). */
struct dk_svc_stats {
	uint32_t sessions;      /* open now (a killed session draining its hardware jobs counts) */
	uint32_t queues;
	uint32_t buffers;       /* registered now, all sessions */
	uint32_t hw_inflight;   /* jobs on the hardware now */
	uint64_t bytes;         /* bytes of registered buffers now, all sessions */
	uint32_t ready;         /* jobs waiting for a hardware slot */
	uint32_t parked;        /* jobs waiting for input fences */
	uint64_t completed;     /* jobs completed successfully */
	uint64_t failed;        /* jobs completed with an error */
	uint64_t violations;    /* validation failures and hangs, all sessions */
	uint64_t kills;         /* sessions killed (broker request or threshold) */
	uint64_t resets;        /* device resets */
	uint64_t hangs;         /* jobs failed as guilty of a hang */
	uint64_t resubmitted;   /* innocent jobs resubmitted after a reset */
	uint64_t lost_irqs;     /* completions found by the watchdog, not by an interrupt */
	uint64_t fence_wakeups; /* wake-ups by awaited input fences */
};

/* dk_svc_stats - a snapshot of the service-wide counters. */
void dk_svc_stats(const struct dk_svc *svc, struct dk_svc_stats *ret_stats);

/* One finished job, as kept in the trace ring. Times are CLOCK_MONOTONIC ns, 0 if never. */
struct dk_svc_trace_record {
	uint64_t seq;            /* 1, 2, ...: position in the service's record stream */
	uint64_t session_id;
	uint64_t ticket;         /* in its queue */
	uint64_t t_submitted_ns; /* taken from the ring */
	uint64_t t_ready_ns;     /* inputs met */
	uint64_t t_started_ns;   /* handed to the hardware (latest attempt) */
	uint64_t t_completed_ns; /* reported done by the class */
	uint64_t t_signalled_ns; /* completion posted, output fence signalled */
	int32_t status;
	uint32_t reason;         /* enum dk_reason */
	uint32_t queue_id;
	uint8_t qos;
	uint8_t opcode;
	uint8_t attempts;        /* hardware submissions (more than 1 after a reset) */
	uint8_t reserved;
};

/*
 * dk_svc_trace_read - copy trace records with seq > @after_seq, oldest first, at most @max.
 * Records older than the last DK_SVC_TRACE_RECORDS are gone (the first one returned then has
 * seq > @after_seq + 1). Returns the number copied.
 */
uint32_t dk_svc_trace_read(const struct dk_svc *svc, uint64_t after_seq,
			   struct dk_svc_trace_record *records, uint32_t max);

/* dk_svc_device_name - the device this service drives ($DK_DEVICE); owned by @svc. */
const char *dk_svc_device_name(const struct dk_svc *svc);

#ifdef __cplusplus
}
#endif

#endif /* DK_SERVICE_SERVICE_H */
