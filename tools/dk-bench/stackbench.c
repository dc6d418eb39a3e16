/* SPDX-License-Identifier: MIT */
/*
 * stackbench.c - the real stack behind the "-stack", "-copy" and stack-wide figures
 * (stackbench.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dk/buffer.h>
#include <dk/client.h>
#include <dk/error.h>
#include <dk/htable.h>
#include <dk/rights.h>
#include <dk/time.h>

#include "stack.h"
#include "stackbench.h"

#define STACK_WAIT_NS (30 * DK_NSEC_PER_SEC)
#define OWNED_MAX 2u /* the figures' stack and R1/R2's crash stack */

static struct dk_stack stack;
static bool started;
static uint64_t started_ns;

/* The stacks this run started, stopped at exit by the process that started them. */
static struct {
	struct dk_stack *st;
	pid_t owner;
} owned[OWNED_MAX];
static unsigned int n_owned;

static void stop_owned(void)
{
	for (unsigned int i = 0; i < n_owned; i++)
		if (getpid() == owned[i].owner)
			dk_stack_stop(owned[i].st, dk_now_ns() + STACK_WAIT_NS, NULL);
	n_owned = 0;
}

int stackbench_start_private(struct dk_stack *st, const char *template, uint32_t flags,
			     struct bench_error *error)
{
	int err;

	if (n_owned == OWNED_MAX)
		return bench_fail(error, -ENOSPC, "more than %u stacks", OWNED_MAX);
	err = dk_stack_start_private(st, template, flags, dk_now_ns() + STACK_WAIT_NS);
	if (err < 0)
		return bench_fail(error, err, "starting a stack (dk-supervisor, flags %#x)", flags);
	if (n_owned == 0)
		atexit(stop_owned);
	owned[n_owned].st = st;
	owned[n_owned].owner = getpid();
	n_owned++;
	return 0;
}

int stackbench_start(struct bench_error *error)
{
	int err;

	if (started)
		return 0;
	/* With the emulated board: copy0 for the copy figures, and every daemon counts in P6. */
	err = stackbench_start_private(&stack, "/tmp/dk-bench-stack-XXXXXX", DK_STACK_COPY, error);
	if (err < 0)
		return err;
	started = true;
	started_ns = dk_now_ns();
	return 0;
}

uint64_t stackbench_started_ns(void)
{
	return started ? started_ns : 0;
}

const char *stackbench_runtime_dir(void)
{
	return started ? stack.runtime_dir : "";
}

pid_t stackbench_supervisor_pid(void)
{
	return started ? stack.pid : 0;
}

int stackbench_open(const struct dk_ring_params *params, struct stackbench_client *c,
		    struct bench_error *error)
{
	return stackbench_open_device("null0", params, 0, c, error);
}

/* Create, map and register one buffer of c->buf_bytes. */
static int add_buffer(struct stackbench_client *c, uint64_t dl, struct dk_buffer **ret_buf,
		      uint8_t **ret_map, uint32_t *ret_index, struct bench_error *error)
{
	void *map;
	int err;

	err = dk_buffer_create(c->registry, NULL, c->buf_bytes, 0, ret_buf);
	if (err < 0)
		return bench_fail(error, err, "dk_buffer_create(%llu)",
				  (unsigned long long)c->buf_bytes);
	err = dk_buffer_map(*ret_buf, DK_RIGHT_READ | DK_RIGHT_WRITE, &map);
	if (err < 0)
		return bench_fail(error, err, "dk_buffer_map");
	*ret_map = map;
	err = dk_device_register_buffer(c->device, *ret_buf, DK_RIGHTS_BUFFER_RW, dl, ret_index);
	if (err < 0)
		return bench_fail(error, err, "dk_device_register_buffer");
	return 0;
}

int stackbench_open_device(const char *device, const struct dk_ring_params *params,
			   uint64_t buf_bytes, struct stackbench_client *c,
			   struct bench_error *error)
{
	struct dk_buffer_registry_limits rl = {.max_buffer_bytes = buf_bytes, .max_live_buffers = 2};
	uint64_t dl;
	int err;

	memset(c, 0, sizeof(*c));
	err = stackbench_start(error);
	if (err < 0)
		return err;
	dl = dk_now_ns() + STACK_WAIT_NS;
	err = dk_client_connect(stack.runtime_dir, dl, &c->client);
	if (err < 0)
		return bench_fail(error, err, "dk_client_connect");
	err = dk_device_open(c->client, device, dl, &c->device);
	if (err < 0) {
		bench_fail(error, err, "dk_device_open(%s)", device);
		goto fail;
	}
	if (buf_bytes) {
		c->buf_bytes = buf_bytes;
		err = dk_buffer_registry_create(&rl, &c->registry);
		if (err < 0) {
			bench_fail(error, err, "dk_buffer_registry_create");
			goto fail;
		}
		err = add_buffer(c, dl, &c->src, &c->src_map, &c->src_index, error);
		if (err == 0)
			err = add_buffer(c, dl, &c->dst, &c->dst_map, &c->dst_index, error);
		if (err < 0)
			goto fail;
	}
	err = dk_device_create_queue(c->device, params, dl, &c->ring);
	if (err < 0) {
		bench_fail(error, err, "dk_device_create_queue(%s)", device);
		goto fail;
	}
	return 0;
fail:
	stackbench_close(c);
	return err;
}

void stackbench_close(struct stackbench_client *c)
{
	if (c->ring)
		dk_device_destroy_queue(c->device, c->ring, dk_now_ns() + STACK_WAIT_NS);
	/* Closing the session drops its registrations (the service unmaps its DMA windows). */
	dk_device_close(c->device);
	dk_client_close(c->client);
	if (c->src_map)
		dk_buffer_unmap(c->src, c->src_map);
	if (c->dst_map)
		dk_buffer_unmap(c->dst, c->dst_map);
	dk_buffer_release(c->src);
	dk_buffer_release(c->dst);
	dk_buffer_registry_destroy(c->registry);
	memset(c, 0, sizeof(*c));
}

void stackbench_sqe_copy(const struct stackbench_client *c, struct dk_sqe *sqe, uint64_t src_off,
			 uint64_t dst_off, uint64_t len, uint64_t user_data)
{
	unsigned int i;

	memset(sqe, 0, sizeof(*sqe));
	sqe->signal.index = DK_HANDLE_NONE;
	for (i = 0; i < DK_SQE_MAX_WAITS; i++)
		sqe->wait[i].index = DK_HANDLE_NONE;
	for (i = 2; i < DK_SQE_MAX_BUFFERS; i++)
		sqe->buf[i].index = DK_HANDLE_NONE;
	sqe->opcode = STACKBENCH_OP_COPY;
	sqe->n_buffers = 2;
	sqe->user_data = user_data;
	sqe->buf[0] = (struct dk_sqe_buffer){c->src_index, DK_RIGHT_READ, src_off, len};
	sqe->buf[1] = (struct dk_sqe_buffer){c->dst_index, DK_RIGHT_WRITE, dst_off, len};
}
