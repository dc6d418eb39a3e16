/* SPDX-License-Identifier: MIT */
/*
 * dk/qos.h - QoS classes: Frugal, Normal, Burst.
 *
 * A class is a typed value; anything else is refused (-EINVAL), never clamped. Each class sets,
 * for a queue (docs/qos.md):
 *  - the target in-flight depth: how many of its jobs the service keeps in flight at once;
 *  - the consumer's spin budget before it sleeps, and the waiter's spin before it sleeps;
 *  - the wake-up coalescing window: a Frugal queue's submissions are gathered for a window and
 *    served with one wake-up and one completion signal; Burst and Normal are served at once.
 * Lowering one's class is free; raising it is a policy decision (the runtime's, not this
 * library's).
 */
#ifndef DK_QOS_H
#define DK_QOS_H

#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum dk_qos {
	DK_QOS_FRUGAL = 1,
	DK_QOS_NORMAL = 2,
	DK_QOS_BURST = 3,
};

struct dk_qos_params {
	uint32_t depth_percent;    /* target in-flight depth, % of the ring (at least 1 entry) */
	uint64_t consumer_spin_ns; /* the service polls this long for new work before sleeping */
	uint64_t waiter_spin_ns;   /* a completion waiter polls this long before sleeping */
	uint64_t coalesce_ns;      /* gather submissions this long before serving them */
};

/* dk_qos_check - 0 for a valid class, -EINVAL otherwise. */
DK_EXPORT int dk_qos_check(uint32_t qos);

/*
 * dk_qos_params - the parameters of class @qos.
 * Returns 0, or -EINVAL for an invalid class (@ret_params untouched).
 */
DK_EXPORT int dk_qos_params(uint32_t qos, struct dk_qos_params *ret_params);

/* dk_qos_depth - the target in-flight depth of class @qos on a ring of @ring_entries (>= 1). */
DK_EXPORT uint32_t dk_qos_depth(uint32_t qos, uint32_t ring_entries);

/* dk_qos_name - "frugal", "normal", "burst", or "invalid". */
DK_EXPORT const char *dk_qos_name(uint32_t qos);

#ifdef __cplusplus
}
#endif

#endif /* DK_QOS_H */
