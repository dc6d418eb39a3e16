/* SPDX-License-Identifier: MIT */
/* Helpers shared by buffers and fences: memfd creation, checks of received descriptors. */
#ifndef DK_MEMFD_H
#define DK_MEMFD_H

#include <stdbool.h>
#include <stdint.h>

/* A new sealable memfd of @size bytes with GROW and SHRINK sealed (plus @extra_seals). */
int dk_memfd_create(const char *name, uint64_t size, unsigned int extra_seals, int *ret_fd);

/*
 * Check that @fd is a memfd with GROW and SHRINK sealed, and report its intrinsic size, its
 * seals and whether it is open for writing. -EBADF for anything else.
 */
int dk_memfd_inspect(int fd, uint64_t *ret_size, unsigned int *ret_seals, bool *ret_writable);

/* A new O_RDONLY, O_CLOEXEC file description of the same file (reopened via /proc/self/fd). */
int dk_fd_reopen_readonly(int fd, int *ret_fd);

/* Whether @fd is an eventfd (checked with the kernel's name for the anonymous inode). */
bool dk_fd_is_eventfd(int fd);

/* Duplicate @fd with O_CLOEXEC. */
int dk_fd_dup(int fd, int *ret_fd);

#endif /* DK_MEMFD_H */
