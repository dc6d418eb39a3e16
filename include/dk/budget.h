/* SPDX-License-Identifier: MIT */
/*
 * dk/budget.h - per-owner resource budgets.
 *
 * An owner (a client, a session) has a budget of bytes, live buffers and in-flight buffers.
 * Every charge is all-or-nothing: a refused charge changes nothing. A release larger than what
 * is charged is refused (-EOVERFLOW) and changes nothing, so usage can never underflow.
 * Thread-safe.
 */
#ifndef DK_BUDGET_H
#define DK_BUDGET_H

#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dk_budget_limits {
	uint64_t max_bytes;    /* bytes of live buffers */
	uint32_t max_buffers;  /* live buffers */
	uint32_t max_inflight; /* buffers owned by a device at once */
};

struct dk_budget_usage {
	uint64_t bytes;
	uint32_t buffers;
	uint32_t inflight;
	uint64_t refusals; /* charges refused so far */
};

struct dk_budget;

/*
 * dk_budget_create - a new budget with @limits.
 * Returns 0 and the budget in @ret_budget (caller owns it; dk_budget_destroy()), -EINVAL if a
 * limit is 0, -ENOMEM.
 */
DK_EXPORT int dk_budget_create(const struct dk_budget_limits *limits,
			       struct dk_budget **ret_budget);

/* dk_budget_destroy - free @budget (NULL is accepted). Usage need not be zero. */
DK_EXPORT void dk_budget_destroy(struct dk_budget *budget);

/*
 * dk_budget_charge - take @bytes and @buffers from the budget, all or nothing.
 * Returns 0; -ENOSPC if either would pass its limit (nothing changed); -EOVERFLOW if the sum
 * overflows (nothing changed).
 */
DK_EXPORT int dk_budget_charge(struct dk_budget *budget, uint64_t bytes, uint32_t buffers);

/*
 * dk_budget_release - give back @bytes and @buffers.
 * Returns 0; -EOVERFLOW if more is released than is charged (nothing changed).
 */
DK_EXPORT int dk_budget_release(struct dk_budget *budget, uint64_t bytes, uint32_t buffers);

/* dk_budget_inflight_acquire - one more buffer in flight; -ENOSPC at the limit. */
DK_EXPORT int dk_budget_inflight_acquire(struct dk_budget *budget);

/* dk_budget_inflight_release - one buffer fewer in flight; -EOVERFLOW if none is. */
DK_EXPORT int dk_budget_inflight_release(struct dk_budget *budget);

/* dk_budget_usage - a consistent snapshot of the usage. */
DK_EXPORT void dk_budget_usage(struct dk_budget *budget, struct dk_budget_usage *ret_usage);

/*
 * dk_budget_id - an identifier of the budget, unique within the process and never reused
 * (the buffer pool uses it to know when a buffer changes owner).
 */
DK_EXPORT uint64_t dk_budget_id(const struct dk_budget *budget);

/* dk_budget_limits - the limits the budget was created with. */
DK_EXPORT void dk_budget_limits(struct dk_budget *budget, struct dk_budget_limits *ret_limits);

#ifdef __cplusplus
}
#endif

#endif /* DK_BUDGET_H */
