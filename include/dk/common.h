/* SPDX-License-Identifier: MIT */
/*
 * dk/common.h - definitions shared by every public DriverKit header.
 *
 * Conventions used by the whole API:
 *  - functions return 0 (or a non-negative count) on success and a negative errno on failure;
 *    they never set errno;
 *  - out-parameters come last, are named ret_<name>, and are written only on success;
 *  - every deadline is an absolute CLOCK_MONOTONIC time in nanoseconds (see dk/time.h).
 */
#ifndef DK_COMMON_H
#define DK_COMMON_H

#define DK_EXPORT __attribute__((visibility("default")))

/* The DriverKit ABI version this library speaks (docs/abi.md, "Versioning"). */
#define DK_ABI_MAJOR 1
#define DK_ABI_MINOR 0

#endif /* DK_COMMON_H */
