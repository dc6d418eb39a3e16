/* SPDX-License-Identifier: MIT */
/*
 * Budgets: all-or-nothing charges under one mutex, so a refused charge leaves every counter as
 * it was and a release can never take a counter below zero.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <dk/budget.h>

struct dk_budget {
	pthread_mutex_t lock;
	uint64_t id;
	struct dk_budget_limits limits;
	struct dk_budget_usage usage;
};

static _Atomic uint64_t next_budget_id = 1;

int dk_budget_create(const struct dk_budget_limits *limits, struct dk_budget **ret_budget)
{
	struct dk_budget *b;

	if (!limits || !limits->max_bytes || !limits->max_buffers || !limits->max_inflight)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	b->limits = *limits;
	b->id = atomic_fetch_add(&next_budget_id, 1);
	*ret_budget = b;
	return 0;
}

void dk_budget_destroy(struct dk_budget *budget)
{
	if (!budget)
		return;
	pthread_mutex_destroy(&budget->lock);
	free(budget);
}

int dk_budget_charge(struct dk_budget *b, uint64_t bytes, uint32_t buffers)
{
	uint64_t new_bytes;
	uint32_t new_buffers;
	int ret = 0;

	pthread_mutex_lock(&b->lock);
	if (__builtin_add_overflow(b->usage.bytes, bytes, &new_bytes) ||
	    __builtin_add_overflow(b->usage.buffers, buffers, &new_buffers))
		ret = -EOVERFLOW;
	else if (new_bytes > b->limits.max_bytes || new_buffers > b->limits.max_buffers)
		ret = -ENOSPC;
	if (ret == 0) {
		b->usage.bytes = new_bytes;
		b->usage.buffers = new_buffers;
	} else {
		b->usage.refusals++;
	}
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int dk_budget_release(struct dk_budget *b, uint64_t bytes, uint32_t buffers)
{
	int ret = 0;

	pthread_mutex_lock(&b->lock);
	if (bytes > b->usage.bytes || buffers > b->usage.buffers) {
		ret = -EOVERFLOW;
	} else {
		b->usage.bytes -= bytes;
		b->usage.buffers -= buffers;
	}
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int dk_budget_inflight_acquire(struct dk_budget *b)
{
	int ret = 0;

	pthread_mutex_lock(&b->lock);
	if (b->usage.inflight >= b->limits.max_inflight) {
		b->usage.refusals++;
		ret = -ENOSPC;
	} else {
		b->usage.inflight++;
	}
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int dk_budget_inflight_release(struct dk_budget *b)
{
	int ret = 0;

	pthread_mutex_lock(&b->lock);
	if (b->usage.inflight == 0)
		ret = -EOVERFLOW;
	else
		b->usage.inflight--;
	pthread_mutex_unlock(&b->lock);
	return ret;
}

void dk_budget_usage(struct dk_budget *b, struct dk_budget_usage *ret_usage)
{
	pthread_mutex_lock(&b->lock);
	*ret_usage = b->usage;
	pthread_mutex_unlock(&b->lock);
}

void dk_budget_limits(struct dk_budget *b, struct dk_budget_limits *ret_limits)
{
	pthread_mutex_lock(&b->lock);
	*ret_limits = b->limits;
	pthread_mutex_unlock(&b->lock);
}

uint64_t dk_budget_id(const struct dk_budget *b)
{
	return b->id;
}
