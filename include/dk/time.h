/* SPDX-License-Identifier: MIT */
/*
 * dk/time.h - the monotonic clock and deadlines.
 *
 * Every wait in DriverKit takes an absolute CLOCK_MONOTONIC deadline in nanoseconds.
 * A deadline is mandatory: 0 means "no deadline" and is refused with -EINVAL, as is a deadline
 * further than DK_WAIT_MAX_NS in the future. A deadline in the past is valid: the wait checks
 * its condition once and returns -ETIMEDOUT if it does not hold.
 */
#ifndef DK_TIME_H
#define DK_TIME_H

#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DK_NSEC_PER_SEC 1000000000ull
#define DK_NSEC_PER_MSEC 1000000ull
#define DK_NSEC_PER_USEC 1000ull

/* The longest any single wait may last: ten minutes. */
#define DK_WAIT_MAX_NS (600ull * DK_NSEC_PER_SEC)

/* dk_now_ns - the current CLOCK_MONOTONIC time in nanoseconds. */
DK_EXPORT uint64_t dk_now_ns(void);

/*
 * dk_now_fast_ns - CLOCK_MONOTONIC in nanoseconds, for timestamps on hot paths.
 *
 * Read from the CPU's time-stamp counter where it is invariant (x86-64), scaled by a rate each
 * thread measures against dk_now_ns() and re-anchored on it every 2^22 counter ticks (2 ms at
 * 2.1 GHz), so a reading is within 2000 counter ticks of dk_now_ns() (1 us at 2 GHz;
 * src/core/time.c gives the arithmetic) and never smaller than the previous one in the same
 * thread.
 * A reading costs one unordered rdtsc and no clock_gettime(): the vDSO clock orders its counter
 * read behind every earlier load (lfence), which on a hot path waits for the cache misses in
 * flight. Where there is no such counter, or the thread's calibration samples are disturbed
 * (preemption, a slow virtual clock), it is dk_now_ns() itself. Deadlines use dk_now_ns().
 */
DK_EXPORT uint64_t dk_now_fast_ns(void);

/*
 * dk_deadline_in - the absolute deadline @timeout_ns from now, clamped to DK_WAIT_MAX_NS so
 * that the result is always an acceptable deadline.
 */
DK_EXPORT uint64_t dk_deadline_in(uint64_t timeout_ns);

/*
 * dk_deadline_check - whether @deadline_ns is acceptable for a wait.
 * Returns 0, or -EINVAL when it is 0 (no deadline) or more than DK_WAIT_MAX_NS in the future.
 */
DK_EXPORT int dk_deadline_check(uint64_t deadline_ns);

#ifdef __cplusplus
}
#endif

#endif /* DK_TIME_H */
