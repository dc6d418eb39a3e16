/* SPDX-License-Identifier: MIT */
/*
 * stackbench.c - the real stack behind the "-stack" figures (stackbench.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dk/client.h>
#include <dk/error.h>
#include <dk/time.h>

#include "stack.h"
#include "stackbench.h"

#define STACK_WAIT_NS (30 * DK_NSEC_PER_SEC)

static struct dk_stack stack;
static bool started;

static void stop_stack(void)
{
	if (started)
		dk_stack_stop(&stack, dk_now_ns() + STACK_WAIT_NS, NULL);
	started = false;
}

static int start_stack(struct bench_error *error)
{
	int err;

	if (started)
		return 0;
	strcpy(stack.runtime_dir, "/tmp/dk-bench-stack-XXXXXX");
	if (!mkdtemp(stack.runtime_dir))
		return bench_fail(error, -errno, "mkdtemp");
	stack.made_dir = true;
	err = dk_stack_write_config(&stack, stack.runtime_dir);
	if (err == 0)
		err = dk_stack_start(&stack, dk_now_ns() + STACK_WAIT_NS);
	if (err < 0) {
		dk_stack_stop(&stack, dk_now_ns() + STACK_WAIT_NS, NULL);
		return bench_fail(error, err, "starting the stack (dk-supervisor)");
	}
	started = true;
	atexit(stop_stack);
	return 0;
}

int stackbench_open(const struct dk_ring_params *params, struct stackbench_client *c,
		    struct bench_error *error)
{
	uint64_t dl;
	int err;

	memset(c, 0, sizeof(*c));
	err = start_stack(error);
	if (err < 0)
		return err;
	dl = dk_now_ns() + STACK_WAIT_NS;
	err = dk_client_connect(stack.runtime_dir, dl, &c->client);
	if (err < 0)
		return bench_fail(error, err, "dk_client_connect");
	err = dk_device_open(c->client, "null0", dl, &c->device);
	if (err < 0) {
		stackbench_close(c);
		return bench_fail(error, err, "dk_device_open(null0)");
	}
	err = dk_device_create_queue(c->device, params, dl, &c->ring);
	if (err < 0) {
		stackbench_close(c);
		return bench_fail(error, err, "dk_device_create_queue");
	}
	return 0;
}

void stackbench_close(struct stackbench_client *c)
{
	if (c->ring)
		dk_device_destroy_queue(c->device, c->ring, dk_now_ns() + STACK_WAIT_NS);
	dk_device_close(c->device);
	dk_client_close(c->client);
	memset(c, 0, sizeof(*c));
}
