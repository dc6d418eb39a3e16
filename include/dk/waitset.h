/* SPDX-License-Identifier: MIT */
/*
 * dk/waitset.h - wait on many sources at once.
 *
 * A waitset holds up to its capacity of members: fences at a target point, file descriptors
 * (poll events), and timers (an absolute deadline). dk_waitset_wait() sleeps until any (or all)
 * members are ready or its own deadline passes, and says which member woke and in what state.
 * It never busy-waits, and leaves no waiter registered on any fence once it returns.
 *
 * Thread rules: one thread uses a waitset at a time.
 */
#ifndef DK_WAITSET_H
#define DK_WAITSET_H

#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DK_WAITSET_MAX_MEMBERS 256u

struct dk_fence;
struct dk_waitset;

enum dk_wait_mode {
	DK_WAIT_ANY = 0, /* return when one member is ready */
	DK_WAIT_ALL = 1, /* return when every member is ready */
};

enum dk_member_state {
	DK_MEMBER_PENDING = 0,
	DK_MEMBER_SIGNALLED = 1, /* fence reached, fd ready, or timer expired */
	DK_MEMBER_ERROR = 2,     /* fence reached with an error, or fd error/hang-up */
};

struct dk_waitset_result {
	int32_t index;  /* member index, -1 when the wait timed out */
	uint64_t cookie;
	uint32_t state; /* enum dk_member_state */
	int32_t error;  /* the fence error, or -EIO / -EPIPE for an fd error or hang-up */
	uint32_t reason;
	uint32_t revents; /* poll events, fd members */
};

/*
 * dk_waitset_create - a waitset for up to @capacity members (1..DK_WAITSET_MAX_MEMBERS).
 * Returns 0 and the waitset in @ret_waitset (caller owns it), -EINVAL, -ENOMEM.
 */
DK_EXPORT int dk_waitset_create(uint32_t capacity, struct dk_waitset **ret_waitset);

/* dk_waitset_destroy - free the waitset and drop its fence references (NULL accepted). */
DK_EXPORT void dk_waitset_destroy(struct dk_waitset *waitset);

/*
 * Adding members. Each returns the member index (>= 0) or: -ENOSPC at capacity (nothing
 * added), -EPERM for a fence without DK_RIGHT_WAIT, -EINVAL for bad arguments. The waitset
 * takes a reference on a fence; an fd stays the caller's and must outlive its membership.
 */
DK_EXPORT int dk_waitset_add_fence(struct dk_waitset *waitset, struct dk_fence *fence,
				   uint64_t target, uint64_t cookie);
DK_EXPORT int dk_waitset_add_fd(struct dk_waitset *waitset, int fd, uint32_t events,
				uint64_t cookie);
DK_EXPORT int dk_waitset_add_timer(struct dk_waitset *waitset, uint64_t deadline_ns,
				   uint64_t cookie);

/* dk_waitset_remove - remove member @index; -EINVAL if there is none. */
DK_EXPORT int dk_waitset_remove(struct dk_waitset *waitset, uint32_t index);

/* dk_waitset_count - the number of members. */
DK_EXPORT uint32_t dk_waitset_count(const struct dk_waitset *waitset);

/*
 * dk_waitset_wait - sleep until the members are ready (@mode) or @deadline_ns.
 * DK_WAIT_ANY: @ret_result describes the ready member with the lowest index.
 * DK_WAIT_ALL: returns once every member is ready; @ret_result describes the first member in
 *   an error state if any, else the last one.
 * Returns 0; -ETIMEDOUT at the deadline (@ret_result->index = -1, state PENDING); -EINVAL for a
 * bad deadline or an empty waitset.
 */
DK_EXPORT int dk_waitset_wait(struct dk_waitset *waitset, enum dk_wait_mode mode,
			      uint64_t deadline_ns, struct dk_waitset_result *ret_result);

/* dk_waitset_member - the current state of member @index without blocking. */
DK_EXPORT int dk_waitset_member(struct dk_waitset *waitset, uint32_t index,
				struct dk_waitset_result *ret_result);

#ifdef __cplusplus
}
#endif

#endif /* DK_WAITSET_H */
