/* SPDX-License-Identifier: MIT */
/*
 * dk/htable.h - a session's table of registered handles.
 *
 * Submissions refer to buffers and fences by a 32-bit registered index, never by descriptor,
 * so no descriptor crosses per job. An index is (generation << 16 | slot): when a slot is
 * reused its generation changes, so a stale index is refused (-EBADF) instead of reaching the
 * new object. Lookups check the type and the rights the use needs (-EPERM). The table has a
 * fixed capacity (<= DK_HTABLE_MAX) chosen at creation.
 *
 * Thread rules: not thread-safe; one owner (the session) uses it.
 */
#ifndef DK_HTABLE_H
#define DK_HTABLE_H

#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DK_HTABLE_MAX 4096u
#define DK_HANDLE_NONE 0xffffffffu /* "no handle" in a submission field */

struct dk_buffer;
struct dk_fence;
struct dk_htable;

/*
 * dk_htable_create - a table of @capacity entries (1..DK_HTABLE_MAX).
 * Returns 0 and the table (caller owns it), -EINVAL, -ENOMEM.
 */
DK_EXPORT int dk_htable_create(uint32_t capacity, struct dk_htable **ret_table);

/*
 * dk_htable_destroy - free the table. Registered fences are unreferenced; registered buffers
 * are released (dk_buffer_release()); NULL is accepted.
 */
DK_EXPORT void dk_htable_destroy(struct dk_htable *table);

/*
 * dk_htable_add_buffer / dk_htable_add_fence - register an object; the table takes it over
 * (buffers: released on removal; fences: one reference).
 * Returns 0 and the index in @ret_index, or -ENOSPC when full (the object stays the caller's).
 */
DK_EXPORT int dk_htable_add_buffer(struct dk_htable *table, struct dk_buffer *buffer,
				   uint32_t *ret_index);
DK_EXPORT int dk_htable_add_fence(struct dk_htable *table, struct dk_fence *fence,
				  uint32_t *ret_index);

/*
 * dk_htable_remove - unregister @index: the buffer is released (-EBUSY, and nothing changes,
 * while it is device-owned or mapped), the fence unreferenced. -EBADF for a bad or stale index.
 */
DK_EXPORT int dk_htable_remove(struct dk_htable *table, uint32_t index);

/*
 * dk_htable_buffer / dk_htable_fence - look up @index for a use needing @rights.
 * Returns 0 and the object (owned by the table, valid until removed); -EBADF for an index out
 * of range, free, stale, or of the other type; -EPERM when the object lacks @rights.
 */
DK_EXPORT int dk_htable_buffer(const struct dk_htable *table, uint32_t index, uint32_t rights,
			       struct dk_buffer **ret_buffer);
DK_EXPORT int dk_htable_fence(const struct dk_htable *table, uint32_t index, uint32_t rights,
			      struct dk_fence **ret_fence);

/* dk_htable_count - registered entries. */
DK_EXPORT uint32_t dk_htable_count(const struct dk_htable *table);

#ifdef __cplusplus
}
#endif

#endif /* DK_HTABLE_H */
