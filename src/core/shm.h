/* SPDX-License-Identifier: MIT */
/*
 * Accessors for memory shared with other processes.
 *
 * Every load or store of a field that another process can change goes through one of these
 * helpers, so that a plain access of shared memory never happens by accident and each access
 * names its ordering. The other side of each pairing is named at the call site.
 */
#ifndef DK_SHM_H
#define DK_SHM_H

#include <stdatomic.h>
#include <stdint.h>

#include "spin.h"

/*
 * Ask for the cache line at @p for writing, without waiting. A line of a ring the other process
 * touched last sits in its CPU's cache; a plain store to it waits for the transfer at the head
 * of the store buffer, and every store behind it waits too. Prefetched ahead, the transfers of
 * several lines overlap each other and the work in between. PREFETCHW is in every x86-64 CPU
 * DriverKit runs on (a NOP where it is not implemented); elsewhere the compiler's write
 * prefetch.
 */
static inline void dk_shm_prefetch_write(const void *p)
{
#if defined(__x86_64__)
	__asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

/* Pairs with a release store by the other process: everything written before it is visible. */
static inline uint64_t dk_shm_load_acquire64(_Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_acquire);
}

static inline uint32_t dk_shm_load_acquire32(_Atomic uint32_t *p)
{
	return atomic_load_explicit(p, memory_order_acquire);
}

/* Publishes every write made before it to a reader that load-acquires the same word. */
static inline void dk_shm_store_release64(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_release);
}

static inline void dk_shm_store_release32(_Atomic uint32_t *p, uint32_t v)
{
	atomic_store_explicit(p, v, memory_order_release);
}

/* Sequentially consistent: used for the two halves of a "store mine, then load yours"
 * (Dekker) handshake between a signaller and a sleeper, where acquire/release is not enough. */
static inline uint32_t dk_shm_load_sc32(_Atomic uint32_t *p)
{
	return atomic_load_explicit(p, memory_order_seq_cst);
}

static inline uint32_t dk_shm_add_sc32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_fetch_add_explicit(p, v, memory_order_seq_cst);
}

static inline uint32_t dk_shm_sub_sc32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_fetch_sub_explicit(p, v, memory_order_seq_cst);
}

static inline _Bool dk_shm_cas64(_Atomic uint64_t *p, uint64_t *expected, uint64_t desired)
{
	return atomic_compare_exchange_strong_explicit(p, expected, desired, memory_order_seq_cst,
						       memory_order_acquire);
}

#endif /* DK_SHM_H */
