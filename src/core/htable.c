/* SPDX-License-Identifier: MIT */
/*
 * Registered handles. An index is (generation << 16) | slot; a slot's generation moves on
 * every removal, so an index that outlived its object never reaches the next one.
 */
#include <errno.h>
#include <stdlib.h>

#include <dk/buffer.h>
#include <dk/fence.h>
#include <dk/htable.h>
#include <dk/rights.h>

enum entry_type {
	ENTRY_FREE = 0,
	ENTRY_BUFFER,
	ENTRY_FENCE,
};

struct entry {
	uint16_t type;
	uint16_t gen; /* never 0 for a live entry */
	union {
		struct dk_buffer *buffer;
		struct dk_fence *fence;
	};
};

struct dk_htable {
	uint32_t capacity;
	uint32_t count;
	uint32_t n_free;
	uint32_t *free_slots; /* stack of free slots */
	struct entry *e;
};

int dk_htable_create(uint32_t capacity, struct dk_htable **ret_table)
{
	struct dk_htable *t;

	if (capacity == 0 || capacity > DK_HTABLE_MAX)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->e = calloc(capacity, sizeof(*t->e));
	t->free_slots = calloc(capacity, sizeof(*t->free_slots));
	if (!t->e || !t->free_slots) {
		free(t->e);
		free(t->free_slots);
		free(t);
		return -ENOMEM;
	}
	t->capacity = capacity;
	/* Hand out low slots first. */
	for (uint32_t i = 0; i < capacity; i++)
		t->free_slots[i] = capacity - 1 - i;
	t->n_free = capacity;
	for (uint32_t i = 0; i < capacity; i++)
		t->e[i].gen = 1;
	*ret_table = t;
	return 0;
}

static void entry_drop(struct entry *e)
{
	if (e->type == ENTRY_BUFFER)
		dk_buffer_release(e->buffer);
	else if (e->type == ENTRY_FENCE)
		dk_fence_unref(e->fence);
	e->type = ENTRY_FREE;
}

void dk_htable_destroy(struct dk_htable *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->capacity; i++)
		entry_drop(&t->e[i]);
	free(t->e);
	free(t->free_slots);
	free(t);
}

static int add(struct dk_htable *t, uint16_t type, void *obj, uint32_t *ret_index)
{
	struct entry *e;
	uint32_t slot;

	if (!obj)
		return -EINVAL;
	if (t->n_free == 0)
		return -ENOSPC;
	slot = t->free_slots[--t->n_free];
	e = &t->e[slot];
	e->type = type;
	if (type == ENTRY_BUFFER)
		e->buffer = obj;
	else
		e->fence = obj;
	t->count++;
	*ret_index = ((uint32_t)e->gen << 16) | slot;
	return 0;
}

int dk_htable_add_buffer(struct dk_htable *t, struct dk_buffer *buffer, uint32_t *ret_index)
{
	return add(t, ENTRY_BUFFER, buffer, ret_index);
}

int dk_htable_add_fence(struct dk_htable *t, struct dk_fence *fence, uint32_t *ret_index)
{
	return add(t, ENTRY_FENCE, fence, ret_index);
}

/* The live entry @index names, or NULL (out of range, free, stale). */
static struct entry *lookup(const struct dk_htable *t, uint32_t index)
{
	uint32_t slot = index & 0xffff, gen = index >> 16;
	struct entry *e;

	if (slot >= t->capacity)
		return NULL;
	e = &t->e[slot];
	if (e->type == ENTRY_FREE || e->gen != gen)
		return NULL;
	return e;
}

int dk_htable_remove(struct dk_htable *t, uint32_t index)
{
	struct entry *e = lookup(t, index);
	int ret;

	if (!e)
		return -EBADF;
	if (e->type == ENTRY_BUFFER) {
		ret = dk_buffer_release(e->buffer);
		if (ret < 0)
			return ret; /* -EBUSY: in flight or mapped; still registered */
	} else {
		dk_fence_unref(e->fence);
	}
	e->type = ENTRY_FREE;
	e->gen = (uint16_t)(e->gen + 1) ? (uint16_t)(e->gen + 1) : 1;
	t->free_slots[t->n_free++] = index & 0xffff;
	t->count--;
	return 0;
}

int dk_htable_buffer(const struct dk_htable *t, uint32_t index, uint32_t rights,
		     struct dk_buffer **ret_buffer)
{
	struct entry *e = lookup(t, index);

	if (!e || e->type != ENTRY_BUFFER)
		return -EBADF;
	if (!dk_rights_has(dk_buffer_rights(e->buffer), rights))
		return -EPERM;
	*ret_buffer = e->buffer;
	return 0;
}

int dk_htable_fence(const struct dk_htable *t, uint32_t index, uint32_t rights,
		    struct dk_fence **ret_fence)
{
	struct entry *e = lookup(t, index);

	if (!e || e->type != ENTRY_FENCE)
		return -EBADF;
	if (!dk_rights_has(dk_fence_rights(e->fence), rights))
		return -EPERM;
	*ret_fence = e->fence;
	return 0;
}

uint32_t dk_htable_count(const struct dk_htable *t)
{
	return t->count;
}
