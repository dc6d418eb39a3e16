/* SPDX-License-Identifier: MIT */
/*
 * dk/rights.h - the rights carried by a handle.
 *
 * A handle (buffer, fence) carries a rights mask. Rights only ever narrow: duplicating a handle
 * or passing it to another process can drop rights but never add one. What each right allows is
 * enforced by the kernel where Linux can (docs/abi.md, "Rights and their enforcement").
 */
#ifndef DK_RIGHTS_H
#define DK_RIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum dk_right {
	DK_RIGHT_READ = 1u << 0,     /* read the contents (buffer) */
	DK_RIGHT_WRITE = 1u << 1,    /* write the contents (buffer) */
	DK_RIGHT_MAP = 1u << 2,      /* map into the address space (buffer) */
	DK_RIGHT_SIGNAL = 1u << 3,   /* advance the timeline or set its error (fence) */
	DK_RIGHT_WAIT = 1u << 4,     /* wait on and query the timeline (fence) */
	DK_RIGHT_TRANSFER = 1u << 5, /* pass the handle on to another process */
};

#define DK_RIGHTS_ALL 0x3fu
#define DK_RIGHTS_BUFFER_RW (DK_RIGHT_READ | DK_RIGHT_WRITE | DK_RIGHT_MAP | DK_RIGHT_TRANSFER)
#define DK_RIGHTS_BUFFER_RO (DK_RIGHT_READ | DK_RIGHT_MAP | DK_RIGHT_TRANSFER)
#define DK_RIGHTS_FENCE_WAIT (DK_RIGHT_WAIT | DK_RIGHT_TRANSFER)

/* dk_rights_has - whether @have contains every right in @need. */
static inline bool dk_rights_has(uint32_t have, uint32_t need)
{
	return (have & need) == need;
}

/*
 * dk_rights_narrow - compute the rights of a derived handle.
 * @have: the rights of the original handle.
 * @want: the rights requested for the derived handle.
 * Returns 0 and writes @want to @ret_rights; -EINVAL if @want has bits outside DK_RIGHTS_ALL;
 * -EPERM if @want asks for a right @have lacks.
 */
DK_EXPORT int dk_rights_narrow(uint32_t have, uint32_t want, uint32_t *ret_rights);

#ifdef __cplusplus
}
#endif

#endif /* DK_RIGHTS_H */
