/* SPDX-License-Identifier: MIT */
/*
 * Buffers: memfd-backed shared memory with kernel-enforced write protection.
 *
 * Pieces, all under the registry lock:
 *  - the mapping cache: one entry per memfd (by device and inode) holding at most one
 *    read-only and one writable mapping, shared by every dk_buffer of that memfd in this
 *    process and kept until the last of them is released;
 *  - the pool: released buffers that never left this process, kept for reuse; a buffer that
 *    goes to another budget than its last owner is zeroed first (FALLOC_FL_PUNCH_HOLE: the
 *    pages are freed, and read back as zeros);
 *  - the live caps and the honesty counters.
 * Buffers that were exported are never pooled: another process may still hold them.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dk/budget.h>
#include <dk/buffer.h>
#include <dk/error.h>
#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/time.h>

#include "fence-private.h"
#include "memfd.h"

#define MAP_BUCKETS 256u

struct map_entry {
	struct map_entry *next;
	dev_t dev;
	ino_t ino;
	uint64_t size;
	void *ro_addr;
	void *rw_addr;
	uint32_t ro_users; /* outstanding dk_buffer_map() calls on each mapping */
	uint32_t rw_users;
	uint32_t holders; /* dk_buffer objects referencing this entry */
	bool guarded;     /* mappings made PROT_NONE while device-owned */
};

struct pool_item {
	struct pool_item *next;
	int fd;
	uint64_t size;
	uint64_t last_owner; /* dk_budget_id(), 0 for no budget */
	struct map_entry *map;
};

struct dk_buffer_registry {
	pthread_mutex_t lock;
	struct dk_buffer_registry_limits limits;
	struct map_entry *buckets[MAP_BUCKETS];
	struct pool_item *pool;
	uint32_t pool_count;
	uint64_t pool_bytes;
	struct dk_buffer_stats stats; /* under lock */
};

struct dk_buffer {
	struct dk_buffer_registry *reg;
	struct dk_budget *budget;
	struct map_entry *map;
	int fd;
	uint64_t size;
	uint32_t rights;
	uint32_t flags;
	uint32_t maps; /* this object's outstanding dk_buffer_map() calls */
	bool imported;
	bool exported;
	enum dk_buffer_owner owner;
	struct dk_fence *fence;
	uint64_t point;
};

/* ---- registry ---------------------------------------------------------------------------- */

int dk_buffer_registry_create(const struct dk_buffer_registry_limits *limits,
			      struct dk_buffer_registry **ret_registry)
{
	struct dk_buffer_registry_limits l = {
		.max_buffer_bytes = DK_BUFFER_MAX_BYTES_DEFAULT,
		.max_live_buffers = DK_BUFFER_LIVE_DEFAULT,
		.pool_max_buffers = DK_BUFFER_POOL_BUFFERS_DEFAULT,
		.pool_max_bytes = DK_BUFFER_POOL_BYTES_DEFAULT,
	};
	struct dk_buffer_registry *reg;

	if (limits) {
		if (limits->max_buffer_bytes > DK_BUFFER_MAX_BYTES_HARD ||
		    limits->max_live_buffers > DK_BUFFER_LIVE_HARD)
			return -EINVAL;
		if (limits->max_buffer_bytes)
			l.max_buffer_bytes = limits->max_buffer_bytes;
		if (limits->max_live_buffers)
			l.max_live_buffers = limits->max_live_buffers;
		l.pool_max_buffers = limits->pool_max_buffers;
		l.pool_max_bytes = limits->pool_max_bytes;
	}
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	pthread_mutex_init(&reg->lock, NULL);
	reg->limits = l;
	*ret_registry = reg;
	return 0;
}

static void map_entry_unmap(struct map_entry *m)
{
	if (m->ro_addr)
		munmap(m->ro_addr, m->size);
	if (m->rw_addr)
		munmap(m->rw_addr, m->size);
	m->ro_addr = NULL;
	m->rw_addr = NULL;
}

void dk_buffer_registry_destroy(struct dk_buffer_registry *reg)
{
	struct pool_item *p, *pn;
	struct map_entry *m, *mn;
	unsigned int i;

	if (!reg)
		return;
	for (p = reg->pool; p; p = pn) {
		pn = p->next;
		map_entry_unmap(p->map);
		free(p->map);
		close(p->fd);
		free(p);
	}
	for (i = 0; i < MAP_BUCKETS; i++) {
		for (m = reg->buckets[i]; m; m = mn) {
			mn = m->next;
			map_entry_unmap(m);
			free(m);
		}
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

void dk_buffer_registry_stats(struct dk_buffer_registry *reg, struct dk_buffer_stats *ret_stats)
{
	pthread_mutex_lock(&reg->lock);
	*ret_stats = reg->stats;
	pthread_mutex_unlock(&reg->lock);
}

void dk_buffer_registry_note(struct dk_buffer_registry *reg, enum dk_buffer_note note,
			     uint64_t bytes)
{
	pthread_mutex_lock(&reg->lock);
	switch (note) {
	case DK_NOTE_COPY_FALLBACK:
		reg->stats.copy_fallbacks++;
		reg->stats.copy_bytes += bytes;
		break;
	case DK_NOTE_CONTROL_BYTES:
		reg->stats.control_bytes += bytes;
		break;
	case DK_NOTE_BULK_BYTES:
		reg->stats.bulk_bytes += bytes;
		break;
	}
	pthread_mutex_unlock(&reg->lock);
}

/* ---- mapping cache (registry lock held) -------------------------------------------------- */

static unsigned int map_bucket(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ (uint64_t)ino;

	return (unsigned int)((h * 0x9e3779b97f4a7c15ull) >> 56) % MAP_BUCKETS;
}

static void map_insert(struct dk_buffer_registry *reg, struct map_entry *m)
{
	unsigned int b = map_bucket(m->dev, m->ino);

	m->next = reg->buckets[b];
	reg->buckets[b] = m;
}

static void map_remove(struct dk_buffer_registry *reg, struct map_entry *m)
{
	struct map_entry **pp = &reg->buckets[map_bucket(m->dev, m->ino)];

	while (*pp && *pp != m)
		pp = &(*pp)->next;
	if (*pp)
		*pp = m->next;
	m->next = NULL;
}

/* Find or make the entry of @fd's memfd; takes a holder reference. */
static int map_get(struct dk_buffer_registry *reg, int fd, uint64_t size,
		   struct map_entry **ret_map)
{
	struct map_entry *m;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	for (m = reg->buckets[map_bucket(st.st_dev, st.st_ino)]; m; m = m->next) {
		if (m->dev == st.st_dev && m->ino == st.st_ino) {
			m->holders++;
			*ret_map = m;
			return 0;
		}
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->size = size;
	m->holders = 1;
	map_insert(reg, m);
	*ret_map = m;
	return 0;
}

/* Drop a holder reference; the last one unmaps and frees the entry. */
static void map_put(struct dk_buffer_registry *reg, struct map_entry *m)
{
	if (--m->holders)
		return;
	map_remove(reg, m);
	map_entry_unmap(m);
	free(m);
}

static int map_guard(struct map_entry *m, bool on)
{
	int r = 0;

	if (m->ro_addr && mprotect(m->ro_addr, m->size, on ? PROT_NONE : PROT_READ) < 0)
		r = -errno;
	if (m->rw_addr &&
	    mprotect(m->rw_addr, m->size, on ? PROT_NONE : PROT_READ | PROT_WRITE) < 0)
		r = -errno;
	m->guarded = on;
	return r;
}

/* ---- creation and release ---------------------------------------------------------------- */

static int buffer_alloc(struct dk_buffer_registry *reg, struct dk_budget *budget, int fd,
			uint64_t size, uint32_t rights, uint32_t flags, struct map_entry *map,
			struct dk_buffer **ret_buffer)
{
	struct dk_buffer *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->reg = reg;
	b->budget = budget;
	b->map = map;
	b->fd = fd;
	b->size = size;
	b->rights = rights;
	b->flags = flags;
	b->owner = DK_BUFFER_OWNER_CPU;
	*ret_buffer = b;
	return 0;
}

/* Admission: caps and budget, all or nothing. Registry lock held. */
static int admit(struct dk_buffer_registry *reg, struct dk_budget *budget, uint64_t size)
{
	int ret;

	if (size > reg->limits.max_buffer_bytes) {
		reg->stats.refusals++;
		return -EFBIG;
	}
	if (reg->stats.live_buffers >= reg->limits.max_live_buffers) {
		reg->stats.refusals++;
		return -ENOSPC;
	}
	if (budget) {
		ret = dk_budget_charge(budget, size, 1);
		if (ret < 0) {
			reg->stats.refusals++;
			return ret;
		}
	}
	return 0;
}

static void unadmit(struct dk_buffer_registry *reg, struct dk_budget *budget, uint64_t size)
{
	if (budget)
		dk_budget_release(budget, size, 1);
	(void)reg;
}

/* Take a pooled buffer of exactly @size, preferring one last owned by @owner. Lock held. */
static struct pool_item *pool_take(struct dk_buffer_registry *reg, uint64_t size, uint64_t owner)
{
	struct pool_item **pp, **match = NULL, *p;

	for (pp = &reg->pool; *pp; pp = &(*pp)->next) {
		if ((*pp)->size != size)
			continue;
		if ((*pp)->last_owner == owner) {
			match = pp;
			break;
		}
		if (!match)
			match = pp;
	}
	if (!match)
		return NULL;
	p = *match;
	*match = p->next;
	reg->pool_count--;
	reg->pool_bytes -= p->size;
	return p;
}

int dk_buffer_create(struct dk_buffer_registry *reg, struct dk_budget *budget,
		     uint64_t size_bytes, uint32_t flags, struct dk_buffer **ret_buffer)
{
	uint64_t owner = budget ? dk_budget_id(budget) : 0;
	struct map_entry *map = NULL;
	struct pool_item *p;
	int fd = -1, ret;

	if (size_bytes == 0 || (flags & ~(uint32_t)DK_BUFFER_GUARD_INFLIGHT))
		return -EINVAL;

	pthread_mutex_lock(&reg->lock);
	ret = admit(reg, budget, size_bytes);
	if (ret < 0)
		goto out_unlock;

	p = pool_take(reg, size_bytes, owner);
	if (p) {
		/* Never hand one owner's old contents to another. */
		if (p->last_owner != owner) {
			if (fallocate(p->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
				      (off_t)p->size) < 0) {
				/* Cannot zero it: drop it rather than reuse it. */
				map_entry_unmap(p->map);
				free(p->map);
				close(p->fd);
				free(p);
				p = NULL;
			} else {
				reg->stats.pool_zeroed++;
			}
		}
	}
	if (p) {
		fd = p->fd;
		map = p->map;
		map_insert(reg, map);
		reg->stats.pool_reuses++;
		free(p);
	} else {
		ret = dk_memfd_create("dk-buffer", size_bytes, 0, &fd);
		if (ret < 0)
			goto out_unadmit;
		ret = map_get(reg, fd, size_bytes, &map);
		if (ret < 0)
			goto out_close_fd;
	}

	ret = buffer_alloc(reg, budget, fd, size_bytes, DK_RIGHTS_BUFFER_RW, flags, map,
			   ret_buffer);
	if (ret < 0)
		goto out_put_map;
	reg->stats.live_buffers++;
	reg->stats.live_bytes += size_bytes;
	pthread_mutex_unlock(&reg->lock);
	return 0;

out_put_map:
	map_put(reg, map);
out_close_fd:
	close(fd);
out_unadmit:
	unadmit(reg, budget, size_bytes);
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

static bool poolable(const struct dk_buffer *b)
{
	struct dk_buffer_registry *reg = b->reg;
	int seals;

	if (b->imported || b->exported || b->map->holders != 1)
		return false;
	if (reg->pool_count >= reg->limits.pool_max_buffers ||
	    reg->pool_bytes + b->size > reg->limits.pool_max_bytes)
		return false;
	seals = fcntl(b->fd, F_GET_SEALS);
	return seals >= 0 && !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE));
}

int dk_buffer_release(struct dk_buffer *b)
{
	struct dk_buffer_registry *reg;
	struct pool_item *p = NULL;

	if (!b)
		return 0;
	reg = b->reg;
	pthread_mutex_lock(&reg->lock);
	if (b->owner == DK_BUFFER_OWNER_DEVICE || b->maps) {
		pthread_mutex_unlock(&reg->lock);
		return -EBUSY;
	}
	if (poolable(b))
		p = calloc(1, sizeof(*p));
	if (p) {
		map_remove(reg, b->map);
		p->fd = b->fd;
		p->size = b->size;
		p->last_owner = b->budget ? dk_budget_id(b->budget) : 0;
		p->map = b->map;
		p->next = reg->pool;
		reg->pool = p;
		reg->pool_count++;
		reg->pool_bytes += b->size;
	} else {
		map_put(reg, b->map);
		close(b->fd);
	}
	reg->stats.live_buffers--;
	reg->stats.live_bytes -= b->size;
	unadmit(reg, b->budget, b->size);
	pthread_mutex_unlock(&reg->lock);
	free(b);
	return 0;
}

/* ---- accessors --------------------------------------------------------------------------- */

uint64_t dk_buffer_size(const struct dk_buffer *b)
{
	return b->size;
}

uint32_t dk_buffer_rights(const struct dk_buffer *b)
{
	return b->rights;
}

bool dk_buffer_is_sealed(const struct dk_buffer *b)
{
	int seals = fcntl(b->fd, F_GET_SEALS);

	return seals >= 0 && (seals & F_SEAL_WRITE);
}

enum dk_buffer_owner dk_buffer_owner(const struct dk_buffer *b)
{
	return b->owner;
}

int dk_buffer_fd(const struct dk_buffer *b)
{
	return b->fd;
}

/* ---- mapping ----------------------------------------------------------------------------- */

int dk_buffer_map(struct dk_buffer *b, uint32_t rights, void **ret_addr)
{
	struct dk_buffer_registry *reg = b->reg;
	struct map_entry *m = b->map;
	bool write = rights & DK_RIGHT_WRITE;
	void **slot, *addr;
	int ret = 0;

	if (!(rights & DK_RIGHT_READ) || (rights & ~(DK_RIGHT_READ | DK_RIGHT_WRITE)))
		return -EINVAL;
	if (!dk_rights_has(b->rights, rights | DK_RIGHT_MAP))
		return -EPERM;

	pthread_mutex_lock(&reg->lock);
	/* Device-owned: this object, or another of the same memfd guarded while in flight. */
	if (b->owner == DK_BUFFER_OWNER_DEVICE || m->guarded) {
		ret = -EBUSY;
		goto out_unlock;
	}
	if (!write && !m->ro_addr && m->rw_addr && (b->rights & DK_RIGHT_WRITE))
		write = true; /* this object may write anyway: reuse the writable mapping */
	slot = write ? &m->rw_addr : &m->ro_addr;
	if (*slot) {
		reg->stats.map_hits++;
	} else {
		addr = mmap(NULL, m->size, PROT_READ | (write ? PROT_WRITE : 0), MAP_SHARED, b->fd,
			    0);
		if (addr == MAP_FAILED) {
			/* EPERM/EACCES: the kernel refuses a writable mapping (seals, O_RDONLY). */
			ret = (errno == EACCES || errno == EPERM) ? -EPERM : -errno;
			goto out_unlock;
		}
		*slot = addr;
		reg->stats.map_misses++;
		if (b->imported)
			reg->stats.imported_maps++;
	}
	if (write)
		m->rw_users++;
	else
		m->ro_users++;
	b->maps++;
	*ret_addr = *slot;
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

int dk_buffer_unmap(struct dk_buffer *b, void *addr)
{
	struct dk_buffer_registry *reg = b->reg;
	struct map_entry *m = b->map;
	int ret = 0;

	pthread_mutex_lock(&reg->lock);
	if (!addr || !b->maps)
		ret = -EINVAL;
	else if (addr == m->rw_addr && m->rw_users)
		m->rw_users--;
	else if (addr == m->ro_addr && m->ro_users)
		m->ro_users--;
	else
		ret = -EINVAL;
	if (ret == 0)
		b->maps--;
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

/* ---- copies ------------------------------------------------------------------------------ */

static int copy_check(struct dk_buffer *b, uint64_t offset, uint64_t len, uint32_t right)
{
	int ret;

	if (!dk_rights_has(b->rights, right))
		return -EPERM;
	ret = dk_slice_check(b->size, offset, len);
	if (ret < 0)
		return ret;
	if (b->owner == DK_BUFFER_OWNER_DEVICE)
		return -EBUSY;
	return 0;
}

int dk_buffer_write(struct dk_buffer *b, uint64_t offset, const void *src, uint64_t len)
{
	const uint8_t *p = src;
	uint64_t done = 0;
	ssize_t n;
	int ret;

	ret = copy_check(b, offset, len, DK_RIGHT_WRITE);
	if (ret < 0)
		return ret;
	while (done < len) {
		n = pwrite(b->fd, p + done, (size_t)(len - done), (off_t)(offset + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EPERM || errno == EBADF ? -EPERM : -errno;
		}
		done += (uint64_t)n;
	}
	dk_buffer_registry_note(b->reg, DK_NOTE_COPY_FALLBACK, len);
	return 0;
}

int dk_buffer_read(struct dk_buffer *b, uint64_t offset, void *dst, uint64_t len)
{
	uint8_t *p = dst;
	uint64_t done = 0;
	ssize_t n;
	int ret;

	ret = copy_check(b, offset, len, DK_RIGHT_READ);
	if (ret < 0)
		return ret;
	while (done < len) {
		n = pread(b->fd, p + done, (size_t)(len - done), (off_t)(offset + done));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* cannot happen: the size is sealed */
		done += (uint64_t)n;
	}
	dk_buffer_registry_note(b->reg, DK_NOTE_COPY_FALLBACK, len);
	return 0;
}

/* ---- sealing, slices --------------------------------------------------------------------- */

int dk_buffer_seal_readonly(struct dk_buffer *b)
{
	struct dk_buffer_registry *reg = b->reg;
	struct map_entry *m = b->map;
	int ret = 0;

	if (dk_buffer_is_sealed(b)) {
		b->rights &= ~(uint32_t)DK_RIGHT_WRITE;
		return 0;
	}
	if (!dk_rights_has(b->rights, DK_RIGHT_WRITE))
		return -EPERM;
	pthread_mutex_lock(&reg->lock);
	if (b->owner == DK_BUFFER_OWNER_DEVICE || m->rw_users) {
		ret = -EBUSY;
		goto out_unlock;
	}
	if (m->rw_addr) {
		munmap(m->rw_addr, m->size);
		m->rw_addr = NULL;
	}
	/* F_SEAL_WRITE fails with EBUSY while any writable shared mapping exists, in any
	 * process: once it succeeds, the contents can never change again. */
	if (fcntl(b->fd, F_ADD_SEALS, F_SEAL_WRITE) < 0) {
		ret = errno == EBUSY ? -EBUSY : -errno;
		goto out_unlock;
	}
	b->rights &= ~(uint32_t)DK_RIGHT_WRITE;
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

int dk_slice_check(uint64_t object_size, uint64_t offset, uint64_t length)
{
	uint64_t end;

	if (length == 0)
		return -EINVAL;
	if (__builtin_add_overflow(offset, length, &end))
		return -EOVERFLOW;
	if (end > object_size)
		return -EINVAL;
	return 0;
}

int dk_buffer_slice(const struct dk_buffer *b, uint64_t offset, uint64_t length,
		    struct dk_slice *ret_slice)
{
	int ret = dk_slice_check(b->size, offset, length);

	if (ret < 0)
		return ret;
	ret_slice->offset = offset;
	ret_slice->length = length;
	return 0;
}

/* ---- passing between processes ----------------------------------------------------------- */

int dk_buffer_export(struct dk_buffer *b, uint32_t rights, int *ret_fd)
{
	uint32_t narrowed;
	int ret, seals, fd;

	ret = dk_rights_narrow(b->rights, rights, &narrowed);
	if (ret < 0)
		return ret;
	if (!dk_rights_has(b->rights, DK_RIGHT_TRANSFER))
		return -EPERM;
	if (b->owner == DK_BUFFER_OWNER_DEVICE)
		return -EBUSY;
	seals = fcntl(b->fd, F_GET_SEALS);
	if (seals < 0)
		return -errno;
	if (narrowed & DK_RIGHT_WRITE) {
		if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
			return -EPERM;
		ret = dk_fd_dup(b->fd, &fd);
	} else {
		/* Freeze the writers: existing writable mappings go on working, but no new one
		 * can be made by anyone, however they reopen the file. */
		if (!(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) &&
		    fcntl(b->fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0)
			return -errno;
		ret = dk_fd_reopen_readonly(b->fd, &fd);
	}
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&b->reg->lock);
	b->exported = true;
	b->reg->stats.exports++;
	pthread_mutex_unlock(&b->reg->lock);
	*ret_fd = fd;
	return 0;
}

int dk_buffer_import(struct dk_buffer_registry *reg, struct dk_budget *budget, int fd,
		     uint32_t rights, uint64_t expect_size, struct dk_buffer **ret_buffer)
{
	struct map_entry *map;
	unsigned int seals;
	uint64_t size;
	bool writable;
	int ret;

	if (rights & ~DK_RIGHTS_ALL)
		return -EINVAL;
	if (dk_memfd_inspect(fd, &size, &seals, &writable) < 0 || size == 0)
		return -EBADF;
	if (rights & DK_RIGHT_WRITE) {
		if (!writable || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
			return -EBADF;
	} else if (writable || !(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) {
		return -EBADF;
	}
	if (expect_size && expect_size != size)
		return -EPROTO;

	pthread_mutex_lock(&reg->lock);
	ret = admit(reg, budget, size);
	if (ret < 0)
		goto out_unlock;
	ret = map_get(reg, fd, size, &map);
	if (ret < 0)
		goto out_unadmit;
	ret = buffer_alloc(reg, budget, fd, size, rights, 0, map, ret_buffer);
	if (ret < 0)
		goto out_put_map;
	(*ret_buffer)->imported = true;
	reg->stats.imports++;
	reg->stats.live_buffers++;
	reg->stats.live_bytes += size;
	pthread_mutex_unlock(&reg->lock);
	return 0;

out_put_map:
	map_put(reg, map);
out_unadmit:
	unadmit(reg, budget, size);
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

/* ---- ownership --------------------------------------------------------------------------- */

int dk_buffer_submit(struct dk_buffer *b, struct dk_fence *fence, uint64_t point)
{
	struct dk_buffer_registry *reg = b->reg;
	int ret = 0;

	if (!dk_rights_has(dk_fence_rights(fence), DK_RIGHT_WAIT))
		return -EPERM;
	pthread_mutex_lock(&reg->lock);
	if (b->owner == DK_BUFFER_OWNER_DEVICE || b->maps) {
		ret = -EBUSY;
		goto out_unlock;
	}
	if (b->budget) {
		ret = dk_budget_inflight_acquire(b->budget);
		if (ret < 0)
			goto out_unlock;
	}
	if (b->flags & DK_BUFFER_GUARD_INFLIGHT) {
		ret = map_guard(b->map, true);
		if (ret < 0) {
			map_guard(b->map, false);
			if (b->budget)
				dk_budget_inflight_release(b->budget);
			goto out_unlock;
		}
	}
	b->owner = DK_BUFFER_OWNER_DEVICE;
	b->fence = dk_fence_ref(fence);
	b->point = point;
out_unlock:
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

int dk_buffer_reclaim(struct dk_buffer *b, uint64_t deadline_ns, uint32_t *ret_reason)
{
	struct dk_buffer_registry *reg = b->reg;
	uint32_t reason = DK_REASON_NONE;
	struct dk_fence *fence;
	int r;

	if (b->owner != DK_BUFFER_OWNER_DEVICE)
		return -EINVAL;
	r = dk_fence_wait(b->fence, b->point, deadline_ns);
	if (r < 0 && !dk_fence_error_valid(r))
		return r; /* -ETIMEDOUT, -EINVAL, -ENOSPC: still device-owned */
	if (r < 0)
		dk_fence_status(b->fence, b->point, &reason);

	pthread_mutex_lock(&reg->lock);
	if (b->map->guarded)
		map_guard(b->map, false);
	fence = b->fence;
	b->fence = NULL;
	b->owner = DK_BUFFER_OWNER_CPU;
	if (b->budget)
		dk_budget_inflight_release(b->budget);
	pthread_mutex_unlock(&reg->lock);
	dk_fence_unref(fence);
	if (ret_reason)
		*ret_reason = reason;
	return r;
}
