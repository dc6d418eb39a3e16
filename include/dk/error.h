/* SPDX-License-Identifier: MIT */
/*
 * dk/error.h - error vocabulary and reason codes.
 *
 * Errors are negative Linux errno values, across the C API and on the wire. DriverKit uses a
 * small documented subset (docs/errors.md). Fences and completions additionally carry a
 * reason code saying *why* work failed (hang, reset, client killed, ...). Both sets of
 * numeric values are stable: a value, once shipped, never changes meaning.
 */
#ifndef DK_ERROR_H
#define DK_ERROR_H

#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Why a job or a fence failed. Stable numeric values (docs/errors.md). */
enum dk_reason {
	DK_REASON_NONE = 0,            /* no failure */
	DK_REASON_HANG = 1,            /* the job ran past its time limit */
	DK_REASON_DEVICE_RESET = 2,    /* an innocent job lost to a device reset */
	DK_REASON_CLIENT_KILLED = 3,   /* the submitting client was cut off */
	DK_REASON_DRIVER_CRASHED = 4,  /* the service owning the fence died */
	DK_REASON_BUDGET = 5,          /* a budget was exhausted */
	DK_REASON_VALIDATION = 6,      /* the command failed validation */
	DK_REASON_CANCELLED = 7,       /* cancelled by its submitter */
	DK_REASON_DEVICE_FAULT = 8,    /* the device reported a fault (e.g. DMA outside windows) */
	DK_REASON_LOST_IRQ = 9,        /* the completion interrupt never came */
	DK_REASON_DEADLINE = 10,       /* the job's own deadline passed before it ran */
	DK_REASON_POLICY = 11,         /* refused by policy */
	DK_REASON_PROTOCOL = 12,       /* the peer broke the protocol */
	DK_REASON_SHUTDOWN = 13,       /* the stack or service shut down */
	DK_REASON_DEPENDENCY = 14,     /* an input fence completed with an error */
	DK_REASON_QUEUE_BROKEN = 15,   /* the shared ring was corrupted by its peer */
	DK_REASON_COUNT
};

/*
 * dk_strerror - a short, stable, human-readable name for an error.
 * @err: a negative (or positive) errno value.
 * Returns a static string, never NULL ("unknown error" for values outside the vocabulary).
 */
DK_EXPORT const char *dk_strerror(int err);

/*
 * dk_reason_name - the stable identifier of a reason code, e.g. "driver-crashed".
 * Returns a static string, never NULL ("unknown" for out-of-range values).
 */
DK_EXPORT const char *dk_reason_name(uint32_t reason);

#ifdef __cplusplus
}
#endif

#endif /* DK_ERROR_H */
