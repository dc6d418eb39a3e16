/* SPDX-License-Identifier: MIT */
#ifndef DK_FENCE_PRIVATE_H
#define DK_FENCE_PRIVATE_H

#include <stdbool.h>

/* Whether @error is one a fence may carry (docs/errors.md, "Fence errors"). */
bool dk_fence_error_valid(int error);

#endif /* DK_FENCE_PRIVATE_H */
