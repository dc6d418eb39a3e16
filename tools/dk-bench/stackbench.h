/* SPDX-License-Identifier: MIT */
/*
 * The real stack for the "-stack", "-copy" and stack-wide figures (P1-stack, P2-stack, P3-stack,
 * P1-copy, P3-copy, P6, P9, P9-copy): dk-supervisor with dk-logd, dk-policyd, dk-broker,
 * dk-hwsim (the emulated board, device copy0), dk-null (null0) and dk-copy (copy0), from the
 * default configuration with the board (dk_stack_write_config_ex(DK_STACK_COPY)), started once
 * per dk-bench run in a private runtime directory and stopped at exit. A client opens a device
 * through the broker (policy checked, audited) and creates its queue on the service, exactly as
 * an application does.
 */
#ifndef DK_BENCH_STACKBENCH_H
#define DK_BENCH_STACKBENCH_H

#include <stdint.h>
#include <sys/types.h>

#include <dk/client.h>
#include <dk/ring.h>

#include "bench.h"

struct dk_buffer;
struct dk_buffer_registry;
struct dk_stack;

/* The opcodes of the copy class (docs/devices/copy.md). */
#define STACKBENCH_OP_COPY 1
#define STACKBENCH_OP_FILL 2

struct stackbench_client {
	struct dk_client *client;
	struct dk_device *device;
	struct dk_ring *ring;
	/* With buffers (stackbench_open_device(..., buf_bytes > 0)): a source and a destination,
	 * registered read/write in the session and mapped read/write here. */
	struct dk_buffer_registry *registry;
	struct dk_buffer *src, *dst;
	uint8_t *src_map, *dst_map;
	uint64_t buf_bytes;
	uint32_t src_index, dst_index;
};

/*
 * stackbench_start - start the stack if this process has not yet (idempotent). Call it before
 * forking clients: children use the parent's stack and never stop it.
 * Returns 0 or a negative errno with @error filled in.
 */
int stackbench_start(struct bench_error *error);

/*
 * stackbench_start_private - start another private stack into @st (dk_stack_start_private()
 * with @template and @flags), stopped at exit by this process like the figures' stack. At
 * most two per run. Returns 0 or a negative errno with @error filled in.
 */
int stackbench_start_private(struct dk_stack *st, const char *template, uint32_t flags,
			     struct bench_error *error);

/* stackbench_started_ns - when the stack was ready (CLOCK_MONOTONIC), 0 before. */
uint64_t stackbench_started_ns(void);

/* stackbench_runtime_dir - the stack's runtime directory ("" before stackbench_start()). */
const char *stackbench_runtime_dir(void);

/* stackbench_supervisor_pid - the pid of dk-supervisor (0 before stackbench_start()). */
pid_t stackbench_supervisor_pid(void);

/* Start the stack if needed, open null0 and create a queue of @params. */
int stackbench_open(const struct dk_ring_params *params, struct stackbench_client *ret_client,
		    struct bench_error *error);

/*
 * stackbench_open_device - start the stack if needed, open @device, register two buffers of
 * @buf_bytes each (none when 0; see struct stackbench_client) and create a queue of @params.
 * On failure everything is undone. Returns 0 or a negative errno with @error filled in.
 */
int stackbench_open_device(const char *device, const struct dk_ring_params *params,
			   uint64_t buf_bytes, struct stackbench_client *ret_client,
			   struct bench_error *error);

/* Destroy the queue, close the session and the broker connection, release the buffers. */
void stackbench_close(struct stackbench_client *client);

/*
 * stackbench_sqe_copy - fill @sqe (all of it) as a COPY of @len bytes from @src_off in the
 * client's source buffer to @dst_off in its destination buffer.
 */
void stackbench_sqe_copy(const struct stackbench_client *client, struct dk_sqe *sqe,
			 uint64_t src_off, uint64_t dst_off, uint64_t len, uint64_t user_data);

#endif /* DK_BENCH_STACKBENCH_H */
