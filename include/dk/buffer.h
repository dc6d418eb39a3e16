/* SPDX-License-Identifier: MIT */
/*
 * dk/buffer.h - shared-memory buffers (VMOs), slices, mapping cache, DMA ownership.
 *
 * A buffer is a memfd whose size is fixed at creation (F_SEAL_GROW | F_SEAL_SHRINK are applied
 * before anyone else can see it). It is passed between processes by descriptor, never by
 * copying its bytes; the receiver checks the descriptor and uses the object's intrinsic size.
 *
 * Write protection is enforced by the kernel (docs/abi.md, "Rights and their enforcement"):
 *  - dk_buffer_seal_readonly() applies F_SEAL_WRITE: nobody, in any process, can map the
 *    buffer writable or write() it afterwards, whatever descriptor they hold.
 *  - A read-only handle (rights without DK_RIGHT_WRITE, from dk_buffer_export()) is an O_RDONLY
 *    file description, and the first one exported applies F_SEAL_FUTURE_WRITE to the buffer:
 *    writable mappings that exist at that moment keep working (the producer can go on writing),
 *    but no new writable mapping or write() can be made by anyone, so a holder cannot get write
 *    access by reopening /proc/self/fd/N, by fchmod(), or by mprotect(). In short: map for
 *    writing before you hand out the first read-only handle; from then on the writers are fixed.
 *
 * Ownership (CONTRACTS section 4): a buffer is CPU-owned or device-owned. dk_buffer_submit()
 * hands it to the device, bound to a fence point; dk_buffer_reclaim() gives it back once the
 * fence reaches that point (also when the fence completed with an error, which is reported).
 * While device-owned, the CPU side cannot map, read, write, seal, export or release it.
 *
 * Thread rules: a registry is thread-safe; one buffer object is used by one thread at a time
 * unless stated otherwise.
 */
#ifndef DK_BUFFER_H
#define DK_BUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dk/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dk_budget;
struct dk_fence;

/* Hard caps; registry limits can be lower, never higher. */
#define DK_BUFFER_MAX_BYTES_HARD (16ull << 30)  /* 16 GiB */
#define DK_BUFFER_LIVE_HARD 65536u
/* Defaults used when dk_buffer_registry_create() gets NULL limits. */
#define DK_BUFFER_MAX_BYTES_DEFAULT (1ull << 30) /* 1 GiB */
#define DK_BUFFER_LIVE_DEFAULT 4096u
#define DK_BUFFER_POOL_BUFFERS_DEFAULT 64u
#define DK_BUFFER_POOL_BYTES_DEFAULT (256ull << 20)

struct dk_buffer_registry_limits {
	uint64_t max_buffer_bytes; /* the largest single buffer */
	uint32_t max_live_buffers; /* buffers alive at once in this registry */
	uint32_t pool_max_buffers; /* released buffers kept for reuse (0: no pool) */
	uint64_t pool_max_bytes;   /* bytes kept in the pool */
};

/*
 * Honesty counters. "Zero-copy" is only claimed where a consumer really mapped the producer's
 * memory: imported_maps counts those mappings; copies through the API are counted separately.
 */
struct dk_buffer_stats {
	uint64_t live_buffers;
	uint64_t live_bytes;
	uint64_t map_hits;      /* dk_buffer_map() answered from the mapping cache */
	uint64_t map_misses;    /* dk_buffer_map() had to mmap() */
	uint64_t imported_maps; /* mappings of buffers that another process created */
	uint64_t copy_fallbacks; /* copies made instead of sharing (dk_buffer_read/write, notes) */
	uint64_t copy_bytes;
	uint64_t control_bytes; /* bytes sent on the control plane (frames) */
	uint64_t bulk_bytes;    /* bytes of buffers shared by handle instead of copied */
	uint64_t exports;
	uint64_t imports;
	uint64_t pool_reuses;   /* creations served from the pool */
	uint64_t pool_zeroed;   /* of which zeroed because the owner changed */
	uint64_t refusals;      /* creations/imports refused by a cap or budget */
};

/* What a note adds to (dk_buffer_registry_note()). */
enum dk_buffer_note {
	DK_NOTE_COPY_FALLBACK = 1,
	DK_NOTE_CONTROL_BYTES = 2,
	DK_NOTE_BULK_BYTES = 3,
};

enum dk_buffer_owner {
	DK_BUFFER_OWNER_CPU = 0,
	DK_BUFFER_OWNER_DEVICE = 1,
};

/* Creation flags. */
enum dk_buffer_flag {
	/* While device-owned, this process's cached mappings are made inaccessible (PROT_NONE),
	 * so a stale CPU pointer faults instead of racing the device. Costs two mprotect()s per
	 * submit/reclaim. */
	DK_BUFFER_GUARD_INFLIGHT = 1u << 0,
};

struct dk_buffer_registry;
struct dk_buffer;

struct dk_slice {
	uint64_t offset;
	uint64_t length;
};

/*
 * dk_buffer_registry_create - a registry of buffers: caps, mapping cache, pool, counters.
 * @limits: NULL for the defaults; each field 0 means its default; values above the hard caps
 *   are refused with -EINVAL.
 * Returns 0 and the registry in @ret_registry (caller owns it), -EINVAL, -ENOMEM.
 */
DK_EXPORT int dk_buffer_registry_create(const struct dk_buffer_registry_limits *limits,
					struct dk_buffer_registry **ret_registry);

/*
 * dk_buffer_registry_destroy - free the registry, its pool and mapping cache.
 * All buffers of the registry must have been released before (NULL is accepted).
 */
DK_EXPORT void dk_buffer_registry_destroy(struct dk_buffer_registry *registry);

/* dk_buffer_registry_stats - a snapshot of the honesty counters. */
DK_EXPORT void dk_buffer_registry_stats(struct dk_buffer_registry *registry,
					struct dk_buffer_stats *ret_stats);

/* dk_buffer_registry_note - add @bytes to a counter kept by upper layers. */
DK_EXPORT void dk_buffer_registry_note(struct dk_buffer_registry *registry,
				       enum dk_buffer_note note, uint64_t bytes);

/*
 * dk_buffer_create - a new zero-filled buffer of @size_bytes with all buffer rights.
 * @budget: the owner's budget charged for it (NULL: no budget). The pool zeroes a reused buffer
 *   whenever it goes to a different budget than its last owner.
 * @flags: DK_BUFFER_* flags.
 * Returns 0 and the buffer in @ret_buffer (caller owns it: dk_buffer_release()); -EINVAL for a
 * size of 0 or unknown flags; -EFBIG above the registry's largest size; -ENOSPC at the live cap
 * or over budget; -ENOMEM or another errno from memfd_create(). A refusal changes nothing.
 */
DK_EXPORT int dk_buffer_create(struct dk_buffer_registry *registry, struct dk_budget *budget,
			       uint64_t size_bytes, uint32_t flags, struct dk_buffer **ret_buffer);

/*
 * dk_buffer_release - drop the buffer: its budget is credited, its mappings are unmapped
 * (or kept in the pool). Refused with -EBUSY while device-owned or mapped (nothing changes).
 * NULL is accepted (returns 0).
 */
DK_EXPORT int dk_buffer_release(struct dk_buffer *buffer);

DK_EXPORT uint64_t dk_buffer_size(const struct dk_buffer *buffer);
DK_EXPORT uint32_t dk_buffer_rights(const struct dk_buffer *buffer);
/* Whether F_SEAL_WRITE is on the object (read by F_GET_SEALS, not from a local flag). */
DK_EXPORT bool dk_buffer_is_sealed(const struct dk_buffer *buffer);
DK_EXPORT enum dk_buffer_owner dk_buffer_owner(const struct dk_buffer *buffer);
/* The descriptor, owned by the buffer; valid until dk_buffer_release(). */
DK_EXPORT int dk_buffer_fd(const struct dk_buffer *buffer);

/*
 * dk_buffer_map - map the buffer. @rights is DK_RIGHT_READ, optionally | DK_RIGHT_WRITE.
 * The mapping is cached per object in the registry: mapping the same object again, even through
 * another dk_buffer of the same memfd, reuses it. Each successful map must be paired with
 * dk_buffer_unmap(); the address stays valid until then.
 * Returns 0 and the address; -EPERM without MAP/READ/WRITE rights or when the kernel refuses a
 * writable mapping (sealed, frozen by a read-only export); -EBUSY while device-owned.
 */
DK_EXPORT int dk_buffer_map(struct dk_buffer *buffer, uint32_t rights, void **ret_addr);

/* dk_buffer_unmap - end a dk_buffer_map(). -EINVAL if @addr is not mapped by @buffer. */
DK_EXPORT int dk_buffer_unmap(struct dk_buffer *buffer, void *addr);

/*
 * dk_buffer_write / dk_buffer_read - copy bytes in or out (counted as copy fallbacks).
 * Returns 0; -EOVERFLOW/-EINVAL for a range outside the buffer; -EPERM without the right or when
 * the kernel refuses the write (sealed or frozen); -EBUSY while device-owned.
 */
DK_EXPORT int dk_buffer_write(struct dk_buffer *buffer, uint64_t offset, const void *src,
			      uint64_t len);
DK_EXPORT int dk_buffer_read(struct dk_buffer *buffer, uint64_t offset, void *dst, uint64_t len);

/*
 * dk_buffer_seal_readonly - make the buffer immutable for everyone (F_SEAL_WRITE), drop the
 * WRITE right. Needs DK_RIGHT_WRITE. This process's cached writable mapping is unmapped first.
 * Returns 0; -EPERM without WRITE; -EBUSY while a writable mapping is in use anywhere (here or in
 * another process) or while device-owned. Sealing twice is a no-op.
 */
DK_EXPORT int dk_buffer_seal_readonly(struct dk_buffer *buffer);

/*
 * dk_slice_check - whether [offset, offset + length) lies inside an object of @object_size.
 * Returns 0; -EOVERFLOW if offset + length overflows; -EINVAL if the range leaves the object
 * or length is 0.
 */
DK_EXPORT int dk_slice_check(uint64_t object_size, uint64_t offset, uint64_t length);

/* dk_buffer_slice - a checked slice of @buffer (same errors as dk_slice_check()). */
DK_EXPORT int dk_buffer_slice(const struct dk_buffer *buffer, uint64_t offset, uint64_t length,
			      struct dk_slice *ret_slice);

/*
 * dk_buffer_export - a descriptor to pass to another process with @rights (a subset of the
 * buffer's rights, and DK_RIGHT_TRANSFER must be held).
 * With DK_RIGHT_WRITE the descriptor is an O_RDWR duplicate; without it, an O_RDONLY
 * reopening, and the buffer is frozen (F_SEAL_FUTURE_WRITE, see above).
 * Returns 0 and a new O_CLOEXEC descriptor the caller owns; -EPERM (rights); -EBUSY in flight;
 * -EPERM for WRITE on a sealed or frozen buffer.
 */
DK_EXPORT int dk_buffer_export(struct dk_buffer *buffer, uint32_t rights, int *ret_fd);

/*
 * dk_buffer_import - adopt a descriptor received from another process.
 * @fd: taken over on success (closed by dk_buffer_release()); left to the caller on failure.
 * @rights: the rights the sender granted. The descriptor is checked against them and nothing
 *   from the sender is trusted: it must be a memfd with GROW and SHRINK seals; without WRITE it
 *   must be O_RDONLY and write-sealed (F_SEAL_WRITE or F_SEAL_FUTURE_WRITE); with WRITE it must
 *   be O_RDWR and not write-sealed.
 * @expect_size: the size the sender claims, 0 to accept any; a mismatch with the intrinsic size
 *   is refused. The buffer's size is always the intrinsic one.
 * @budget: the importer-side budget charged (may be NULL).
 * Returns 0; -EBADF for a descriptor that is not a buffer or does not match @rights; -EPROTO
 * for a size mismatch; -EFBIG / -ENOSPC for caps and budgets.
 */
DK_EXPORT int dk_buffer_import(struct dk_buffer_registry *registry, struct dk_budget *budget,
			       int fd, uint32_t rights, uint64_t expect_size,
			       struct dk_buffer **ret_buffer);

/*
 * dk_buffer_submit - hand the buffer to the device until @fence reaches @point.
 * Returns 0; -EBUSY if already device-owned (double submit) or while mapped by a CPU user;
 * -ENOSPC when the owner's in-flight budget is used up; -EPERM if @fence cannot be waited on.
 * A refusal changes nothing.
 */
DK_EXPORT int dk_buffer_submit(struct dk_buffer *buffer, struct dk_fence *fence, uint64_t point);

/*
 * dk_buffer_reclaim - take the buffer back from the device once its fence point is reached.
 * @deadline_ns: how long to wait (a past deadline polls once).
 * @ret_reason: optional; the fence's reason code when it completed with an error.
 * Returns 0 (CPU-owned again); the fence's error (< 0, the buffer is CPU-owned again too);
 * -ETIMEDOUT (still device-owned); -EINVAL if the buffer was not device-owned or the deadline
 * is unacceptable.
 */
DK_EXPORT int dk_buffer_reclaim(struct dk_buffer *buffer, uint64_t deadline_ns,
				uint32_t *ret_reason);

#ifdef __cplusplus
}
#endif

#endif /* DK_BUFFER_H */
