/* SPDX-License-Identifier: MIT */
/*
 * dk/ring.h - submission and completion rings between a client and a device service.
 *
 * One queue is one memfd (docs/abi.md, "Rings"): a header page, the submission queue (SQ) of
 * 128-byte entries written by the client (producer), the completion queue (CQ) of 64-byte
 * entries written by the service (consumer). Depths are powers of two up to DK_RING_MAX_ENTRIES.
 * Each queue has a timeline fence that the service signals to its count of completions.
 *
 * The service creates the queue (dk_ring_create()) and passes the memfd and a wait-only handle
 * of the fence to the client, which attaches to it (dk_ring_attach()). Each side keeps its own
 * copy of the geometry and its own indices; it never trusts what the other side can rewrite.
 *
 * Hostile shared memory: the consumer copies every entry out of shared memory before looking at
 * it. An SQ tail or CQ head that is out of range, or that moves backwards, marks the queue
 * broken (reason DK_REASON_QUEUE_BROKEN): the consumer stops serving it and fails its fence.
 * Nothing the client writes can make the service read or write out of bounds or loop.
 *
 * Backpressure, graded (docs/qos.md, "Backpressure"):
 *   1. dk_ring_pressure(): the SQ is at or above its watermark (3/4 full);
 *   2. dk_ring_submit_wait(): blocks for space until a deadline, then -ETIMEDOUT;
 *   3. dk_ring_get_sqe(): NULL when full; dk_ring_submit() never blocks.
 * The no-drop rule: a job the service has taken from the SQ and not yet completed holds a
 * reserved CQ entry, so the service takes a submission only when the CQ has room for its
 * completion. Completions are therefore never dropped or overwritten, and the number of jobs
 * between "taken" and "reaped by the client" never exceeds the CQ depth. A client that stops
 * reaping completions stops the service from taking its submissions: reap to make room.
 *
 * Wake-ups only when someone sleeps: the consumer sets NEED_WAKEUP in the header before it
 * sleeps, and dk_ring_submit() rings the doorbell (a futex) only then. Completion waiters sleep
 * on the queue's fence, whose signal makes no system call when nobody sleeps.
 *
 * Thread rules: each side of a ring is used by one thread at a time.
 */
#ifndef DK_RING_H
#define DK_RING_H

#include <stdbool.h>
#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DK_RING_MAX_ENTRIES 4096u
#define DK_RING_MIN_ENTRIES 2u
#define DK_SQE_SIZE 128u
#define DK_CQE_SIZE 64u
#define DK_SQE_MAX_BUFFERS 2u
#define DK_SQE_MAX_WAITS 2u
/* The most rings one consumer can sleep on at once (the futex_waitv limit). */
#define DK_RING_WAIT_MAX 128u

struct dk_fence;
struct dk_htable;
struct dk_ring;

/* A buffer reference inside a submission: a registered index and a slice of it. */
struct dk_sqe_buffer {
	uint32_t index;  /* dk_htable index, DK_HANDLE_NONE when unused */
	uint32_t access; /* DK_RIGHT_READ and/or DK_RIGHT_WRITE: what the job does to the slice */
	uint64_t offset;
	uint64_t length;
};

/* A fence reference inside a submission: a registered index and a point. */
struct dk_sqe_fence {
	uint32_t index; /* dk_htable index, DK_HANDLE_NONE when unused */
	uint32_t reserved;
	uint64_t point;
};

/* A submission entry, 128 bytes, version 1. Fields are host-endian (shared memory is local). */
struct dk_sqe {
	uint8_t opcode;    /* device-class command; 0 (DK_OP_NOP) is understood by every class */
	uint8_t flags;     /* DK_SQE_F_* */
	uint8_t qos;       /* 0: the queue's class; else a class at or below it */
	uint8_t n_buffers; /* used entries of buf[] (<= DK_SQE_MAX_BUFFERS) */
	uint8_t n_waits;   /* used entries of wait[] (<= DK_SQE_MAX_WAITS) */
	uint8_t reserved0[3];
	uint64_t user_data; /* returned untouched in the completion */
	uint64_t deadline_ns; /* absolute CLOCK_MONOTONIC; 0: the service's default limit */
	struct dk_sqe_fence signal; /* an extra fence point to signal on completion, optional */
	struct dk_sqe_fence wait[DK_SQE_MAX_WAITS]; /* input fences to wait for */
	struct dk_sqe_buffer buf[DK_SQE_MAX_BUFFERS];
	uint64_t param; /* command-specific */
};

enum dk_sqe_op {
	DK_OP_NOP = 0,
};

enum dk_sqe_flag {
	DK_SQE_F_KNOWN = 0, /* no flags are defined in v1: any bit set is refused */
};

/* A completion entry, 64 bytes, version 1. */
struct dk_cqe {
	uint64_t user_data;
	int32_t status;   /* 0 or a negative errno */
	uint32_t reason;  /* enum dk_reason */
	uint64_t result;  /* command-specific */
	uint64_t ticket;  /* the submission's ticket: its 1-based position in the queue */
	uint64_t t_taken_ns;     /* when the service took the submission */
	uint64_t t_started_ns;   /* when the device started it */
	uint64_t t_completed_ns; /* when it completed */
	uint64_t reserved;
};

_Static_assert(sizeof(struct dk_sqe) == DK_SQE_SIZE, "SQE is 128 bytes");
_Static_assert(sizeof(struct dk_cqe) == DK_CQE_SIZE, "CQE is 64 bytes");

struct dk_ring_params {
	uint32_t sq_entries; /* power of two, DK_RING_MIN_ENTRIES..DK_RING_MAX_ENTRIES */
	uint32_t cq_entries; /* power of two, >= sq_entries, <= DK_RING_MAX_ENTRIES */
	uint32_t qos;        /* enum dk_qos */
};

/* What the consumer keeps of a taken submission (private memory, never shared). */
struct dk_ring_job {
	struct dk_sqe sqe; /* copied out of shared memory, then validated */
	uint64_t ticket;
	uint32_t slot;
	uint32_t gen;
	uint64_t t_taken_ns;
};

struct dk_ring_stats {
	uint64_t submitted;  /* producer: entries published; consumer: entries taken */
	uint64_t completed;  /* completions posted (consumer) or reaped (producer) */
	uint64_t abandoned;  /* slots freed without a completion */
	uint64_t doorbells;  /* producer: doorbell wake-ups made; consumer: sleeps */
	uint64_t spins_won;  /* consumer: work found while spinning, no sleep needed */
	uint32_t inflight;   /* consumer: taken and not completed */
	uint32_t broken;     /* 0, or the reason the queue is broken */
};

/* ---- the consumer (service) side -------------------------------------------------------- */

/*
 * dk_ring_create - create a queue and its completion fence.
 * Returns 0 and the ring (caller owns it: dk_ring_destroy()); -EINVAL for bad depths or QoS.
 */
DK_EXPORT int dk_ring_create(const struct dk_ring_params *params, struct dk_ring **ret_ring);

/* dk_ring_destroy - unmap and free either side of a ring (NULL accepted). */
DK_EXPORT void dk_ring_destroy(struct dk_ring *ring);

/* dk_ring_fd - the queue's memfd, owned by the ring: pass it to the client (SCM_RIGHTS). */
DK_EXPORT int dk_ring_fd(const struct dk_ring *ring);

/* dk_ring_fence - the queue's completion fence (owned by the ring; take a ref to keep it). */
DK_EXPORT struct dk_fence *dk_ring_fence(const struct dk_ring *ring);

/*
 * dk_ring_consume - take up to @max submissions, copying each out of shared memory.
 * Takes only as many as the CQ can complete (the no-drop rule) and the QoS depth allows.
 * Validation of each entry's contents is the caller's (dk_ring_check_sqe() does the generic
 * part); a taken job must be completed or abandoned.
 * Returns the number taken (0 when there is none); -EPROTO when the queue is or becomes broken
 * (the reason is in dk_ring_stats().broken).
 */
DK_EXPORT int dk_ring_consume(struct dk_ring *ring, struct dk_ring_job *jobs, uint32_t max);

/*
 * dk_ring_check_sqe - the generic validation of a taken submission against the session's
 * handle table: known flags, a QoS at or below the queue's, counts in range, every buffer
 * reference registered with the rights its access needs and its slice inside the buffer's
 * intrinsic size, every fence reference registered (WAIT for inputs, SIGNAL for the output).
 * Returns 0; -EINVAL (malformed), -EBADF (bad or stale index), -EPERM (rights or QoS),
 * -EOVERFLOW (slice arithmetic).
 */
DK_EXPORT int dk_ring_check_sqe(const struct dk_ring *ring, const struct dk_htable *table,
				const struct dk_sqe *sqe);

/*
 * dk_ring_complete - post the completion of @job (in any order).
 * Returns 0; -EINVAL for a stale slot (generation mismatch) or a slot not in flight, which
 * covers double completion; nothing is posted then.
 */
DK_EXPORT int dk_ring_complete(struct dk_ring *ring, const struct dk_ring_job *job, int32_t status,
			       uint32_t reason, uint64_t result, uint64_t t_started_ns);

/*
 * dk_ring_abandon - free @job's slot without posting or counting a completion (lost interrupt,
 * reset): the fence never claims work that did not finish. The caller may re-admit the job.
 * Returns 0; -EINVAL for a stale or free slot.
 */
DK_EXPORT int dk_ring_abandon(struct dk_ring *ring, const struct dk_ring_job *job);

/* dk_ring_abandon_all - abandon every job in flight (device reset). Returns how many. */
DK_EXPORT int dk_ring_abandon_all(struct dk_ring *ring);

/*
 * dk_ring_readmit - give an abandoned job a slot again (resubmission after a reset).
 * Returns 0 and updates @job's slot and generation; -ENOSPC when no slot is free.
 */
DK_EXPORT int dk_ring_readmit(struct dk_ring *ring, struct dk_ring_job *job);

/*
 * dk_ring_publish - make posted completions visible and signal the fence to the count of
 * completions. Cheap when nothing is new; makes a system call only if a waiter sleeps.
 */
DK_EXPORT int dk_ring_publish(struct dk_ring *ring);

/*
 * dk_ring_mark_broken - stop serving the queue: set BROKEN with @reason, fail the fence
 * (-EPROTO, DK_REASON_QUEUE_BROKEN) so no waiter hangs. Idempotent.
 */
DK_EXPORT void dk_ring_mark_broken(struct dk_ring *ring, uint32_t reason);

/*
 * dk_ring_idle - wait until any of @rings has submissions or @deadline_ns, the QoS way:
 * spin for the largest consumer spin budget among them, then set NEED_WAKEUP and sleep on all
 * their doorbells at once (futex_waitv). When only Frugal rings have work, wait out their
 * coalescing window first (waking early if another ring gets work), so their submissions are
 * served together.
 * @n: 1..DK_RING_WAIT_MAX.
 * Returns 1 when work is pending, 0 at the deadline, -EINVAL.
 */
DK_EXPORT int dk_ring_idle(struct dk_ring *const *rings, uint32_t n, uint64_t deadline_ns);

/*
 * dk_ring_idle_wake - dk_ring_idle() that also returns as soon as *@wake differs from
 * @wake_seen, i.e. another thread called dk_ring_wake(@wake) after the caller read @wake_seen.
 * Lets a service thread sleep on its queues and on "something else changed" (a new queue, a
 * control message) at once. @n may be 0 (then only @wake and the deadline end the wait).
 * Returns 1 when work is pending, 2 when woken, 0 at the deadline; -EINVAL.
 */
DK_EXPORT int dk_ring_idle_wake(struct dk_ring *const *rings, uint32_t n, uint32_t *wake,
				uint32_t wake_seen, uint64_t deadline_ns);

/* dk_ring_wake - bump *@wake and wake a thread in dk_ring_idle_wake() on it. */
DK_EXPORT void dk_ring_wake(uint32_t *wake);

/* ---- the producer (client) side --------------------------------------------------------- */

/*
 * dk_ring_attach - attach to a queue from its memfd and completion fence (wait-only suffices).
 * @fd: taken over on success. The memfd is checked: size-sealed, its size matches the geometry
 * the header declares, magic, version, entry sizes, depths; the geometry is copied once.
 * Takes a reference on @completion.
 * Returns 0; -EBADF for a descriptor that is not a ring; -EPROTO for a bad header.
 */
DK_EXPORT int dk_ring_attach(int fd, struct dk_fence *completion, struct dk_ring **ret_ring);

/*
 * dk_ring_get_sqe - the next free submission entry, zeroed (except signal.index, preset to
 * DK_HANDLE_NONE), or NULL when the SQ is full (or the queue is broken). Fill it, then dk_ring_submit().
 * @ret_ticket: optional; the ticket the entry will have.
 */
DK_EXPORT struct dk_sqe *dk_ring_get_sqe(struct dk_ring *ring, uint64_t *ret_ticket);

/*
 * dk_ring_submit - publish every entry obtained since the last submit, and ring the doorbell
 * if the service sleeps. Never blocks. Returns the number published; -EPIPE if broken.
 */
DK_EXPORT int dk_ring_submit(struct dk_ring *ring);

/*
 * dk_ring_submit_wait - wait until at least @n SQ entries are free, or @deadline_ns.
 * Returns 0; -ETIMEDOUT; -EINVAL (@n larger than the ring, bad deadline); -EPIPE if broken.
 */
DK_EXPORT int dk_ring_submit_wait(struct dk_ring *ring, uint32_t n, uint64_t deadline_ns);

/* dk_ring_sq_space - free SQ entries (producer view). */
DK_EXPORT uint32_t dk_ring_sq_space(const struct dk_ring *ring);

/* dk_ring_pressure - whether the SQ is at or above its watermark (3/4 full). */
DK_EXPORT bool dk_ring_pressure(const struct dk_ring *ring);

/*
 * dk_ring_peek_cqe - copy out the oldest unreaped completion and consume it.
 * Returns 0; -EAGAIN when there is none; -EPROTO if the service's indices are out of range.
 */
DK_EXPORT int dk_ring_peek_cqe(struct dk_ring *ring, struct dk_cqe *ret_cqe);

/*
 * dk_ring_reap - copy out up to @max completions at once and consume them (one index update
 * for the batch). Returns the number reaped (0 when there is none); -EINVAL for @max 0;
 * -EPROTO if the service's indices are out of range.
 */
DK_EXPORT int dk_ring_reap(struct dk_ring *ring, struct dk_cqe *cqes, uint32_t max);

/*
 * dk_ring_wait_cqe - dk_ring_peek_cqe(), waiting up to @deadline_ns: a Burst queue first polls
 * the CQ for its QoS waiter spin, then the wait sleeps on the completion fence.
 * Returns 0; -ETIMEDOUT; the fence's error if the queue failed (e.g. -ENODEV when the service
 * died, -EPROTO when broken).
 */
DK_EXPORT int dk_ring_wait_cqe(struct dk_ring *ring, struct dk_cqe *ret_cqe, uint64_t deadline_ns);

/* ---- both sides ------------------------------------------------------------------------- */

DK_EXPORT uint32_t dk_ring_qos(const struct dk_ring *ring);
DK_EXPORT uint32_t dk_ring_sq_entries(const struct dk_ring *ring);
DK_EXPORT uint32_t dk_ring_cq_entries(const struct dk_ring *ring);
DK_EXPORT void dk_ring_stats(const struct dk_ring *ring, struct dk_ring_stats *ret_stats);

#ifdef __cplusplus
}
#endif

#endif /* DK_RING_H */
