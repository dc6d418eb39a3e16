/* SPDX-License-Identifier: MIT */
/*
 * dk/fence.h - timeline fences shared across processes.
 *
 * A fence is a monotonic 64-bit timeline. Signalling sets the value to a point at or above the
 * current one (a lower point is refused: never a rollback). A wait for @target is satisfied
 * once value >= target. A fence can carry one error with a reason code: it is set once, before
 * the signal that reports it, and sticks. It covers every point that had not been signalled when
 * it was recorded: a waiter whose target is above the value at that moment gets the error, a
 * waiter for an earlier point does not (its work completed cleanly). Waits block in the kernel (futex) with a mandatory
 * absolute deadline and never busy-wait (an explicit, bounded spin is opt-in).
 *
 * Shared memory (docs/abi.md, "Fences"): the timeline page is a memfd that only signallers
 * map writable. dk_fence_seal() (implied by the first wait-only export) applies
 * F_SEAL_FUTURE_WRITE, so a process holding a wait-only handle cannot signal, not even by
 * reopening its descriptor writable. A second small page counts sleeping waiters and pollers,
 * so a signal makes no system call when nobody sleeps. An eventfd makes the fence pollable.
 *
 * Thread rules: all functions are thread-safe on the same fence.
 */
#ifndef DK_FENCE_H
#define DK_FENCE_H

#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Threads of one process that may sleep on one fence handle at once. */
#define DK_FENCE_MAX_WAITERS 1024u
/* The longest spin a waiter may ask for before it sleeps. */
#define DK_FENCE_MAX_SPIN_NS (200ull * 1000ull)
/* Descriptors that make up a transferred fence (timeline page, waiter page, eventfd). */
#define DK_FENCE_NR_FDS 3

struct dk_fence;

/* The state of a fence, read without blocking. */
struct dk_fence_state {
	uint64_t value;
	int32_t error;        /* 0 or a negative errno, sticky */
	uint32_t reason;      /* enum dk_reason, DK_REASON_NONE without error */
	uint64_t error_point; /* the first point the error covers (0 without error) */
};

/*
 * dk_fence_create - a new fence at @initial_value with all fence rights, not yet sealed.
 * Returns 0 and the fence in @ret_fence (caller holds one reference: dk_fence_unref()).
 */
DK_EXPORT int dk_fence_create(uint64_t initial_value, struct dk_fence **ret_fence);

/* dk_fence_ref / dk_fence_unref - reference counting; unref accepts NULL. */
DK_EXPORT struct dk_fence *dk_fence_ref(struct dk_fence *fence);
DK_EXPORT void dk_fence_unref(struct dk_fence *fence);

/* dk_fence_rights - the rights of this handle. */
DK_EXPORT uint32_t dk_fence_rights(const struct dk_fence *fence);

/*
 * dk_fence_seal - fix the set of signallers: from now on nobody can map the timeline page
 * writable. Signallers that already hold a writable mapping (this handle, and handles exported
 * with DK_RIGHT_SIGNAL and imported before the seal) keep signalling. Idempotent.
 */
DK_EXPORT int dk_fence_seal(struct dk_fence *fence);

/*
 * dk_fence_signal - advance the timeline to @value.
 * Returns 0 (also when @value equals the current value); -EINVAL if @value is below the
 * current value (nothing changes); -EPERM without DK_RIGHT_SIGNAL.
 */
DK_EXPORT int dk_fence_signal(struct dk_fence *fence, uint64_t value);

/*
 * dk_fence_signal_error - record an error covering the points after the current value, then
 * advance to @value (UINT64_MAX fails every point still to come: what the reaper does when the
 * owning service dies).
 * @error: one of -EIO, -ECANCELED, -ENODEV, -EPROTO, -EACCES (docs/errors.md, "Fence errors").
 * @reason: an enum dk_reason other than DK_REASON_NONE.
 * The first error sticks: later ones advance the timeline but do not replace it.
 * Returns 0; -EINVAL for a bad error/reason or a @value below the current one; -EPERM.
 */
DK_EXPORT int dk_fence_signal_error(struct dk_fence *fence, uint64_t value, int error,
				    uint32_t reason);

/*
 * dk_fence_wait - sleep until the timeline reaches @target or @deadline_ns passes.
 * Returns 0 when reached without error; the fence error (< 0) when reached and the error covers
 * @target (error_point <= @target); -ETIMEDOUT at the deadline; -EINVAL for a missing or too far
 * deadline (dk/time.h); -EPERM without DK_RIGHT_WAIT; -ENOSPC when DK_FENCE_MAX_WAITERS threads
 * of this process already wait on the handle.
 */
DK_EXPORT int dk_fence_wait(struct dk_fence *fence, uint64_t target, uint64_t deadline_ns);

/*
 * dk_fence_wait_spin - dk_fence_wait(), polling the timeline for up to @spin_ns (capped at
 * DK_FENCE_MAX_SPIN_NS) before sleeping. For latency-critical waiters (Burst QoS).
 */
DK_EXPORT int dk_fence_wait_spin(struct dk_fence *fence, uint64_t target, uint64_t deadline_ns,
				 uint64_t spin_ns);

/*
 * dk_fence_query - the current state without blocking. Needs DK_RIGHT_WAIT (-EPERM).
 */
DK_EXPORT int dk_fence_query(struct dk_fence *fence, struct dk_fence_state *ret_state);

/*
 * dk_fence_status - the result a wait for @target would return right now, without blocking:
 * 0 (reached), the fence error (reached with error), or -EAGAIN (not reached yet).
 */
DK_EXPORT int dk_fence_status(struct dk_fence *fence, uint64_t target, uint32_t *ret_reason);

/*
 * Polling from an event loop. dk_fence_poll_fd() returns an eventfd (owned by the fence) that
 * becomes readable on every signal made while at least one poller is registered. Register it
 * with EPOLLET, call dk_fence_poll_begin() before checking the fence, re-check with
 * dk_fence_status() after every wake-up, and dk_fence_poll_end() when done. Never read() it:
 * other processes share it. dk_waitset (dk/waitset.h) does all of this for you.
 */
DK_EXPORT int dk_fence_poll_fd(struct dk_fence *fence);
DK_EXPORT int dk_fence_poll_begin(struct dk_fence *fence);
DK_EXPORT void dk_fence_poll_end(struct dk_fence *fence);

/*
 * dk_fence_dup - a new handle to the same timeline with narrowed @rights (in this process).
 * Returns 0; -EPERM if @rights adds a right.
 */
DK_EXPORT int dk_fence_dup(struct dk_fence *fence, uint32_t rights, struct dk_fence **ret_fence);

/*
 * dk_fence_export - descriptors to pass to another process with @rights (a subset of ours, and
 * DK_RIGHT_TRANSFER held). Without DK_RIGHT_SIGNAL the fence is sealed first and the timeline
 * descriptor is O_RDONLY; with it, the fence must not be sealed yet (-EPERM).
 * @ret_fds: DK_FENCE_NR_FDS new O_CLOEXEC descriptors the caller owns.
 */
DK_EXPORT int dk_fence_export(struct dk_fence *fence, uint32_t rights,
			      int ret_fds[DK_FENCE_NR_FDS]);

/*
 * dk_fence_import - adopt descriptors received from another process with @rights.
 * Every descriptor is checked (memfds of the right size and seals, magic and version in the
 * timeline page, an eventfd); nothing the sender says is trusted.
 * @fds: taken over on success, left to the caller on failure.
 * Returns 0; -EBADF for descriptors that are not a fence or do not match @rights; -EPROTO for a
 * bad magic or version.
 */
DK_EXPORT int dk_fence_import(const int fds[DK_FENCE_NR_FDS], uint32_t rights,
			      struct dk_fence **ret_fence);

/* dk_fence_id - a 64-bit identifier of the timeline, random, the same in every process. */
DK_EXPORT uint64_t dk_fence_id(const struct dk_fence *fence);

#ifdef __cplusplus
}
#endif

#endif /* DK_FENCE_H */
