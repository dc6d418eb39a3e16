/* SPDX-License-Identifier: MIT */
/*
 * The real stack for the "-stack" figures (P1-stack, P2-stack, P3-stack): dk-supervisor with
 * dk-logd, dk-policyd, dk-broker and dk-null, started once per dk-bench run in a private
 * runtime directory and stopped at exit. A client opens null0 through the broker (policy
 * checked, audited) and creates its queue on the service, exactly as an application does.
 */
#ifndef DK_BENCH_STACKBENCH_H
#define DK_BENCH_STACKBENCH_H

#include <dk/client.h>
#include <dk/ring.h>

#include "bench.h"

struct stackbench_client {
	struct dk_client *client;
	struct dk_device *device;
	struct dk_ring *ring;
};

/* Start the stack if needed, open null0 and create a queue of @params. */
int stackbench_open(const struct dk_ring_params *params, struct stackbench_client *ret_client,
		    struct bench_error *error);

/* Destroy the queue, close the session and the broker connection. */
void stackbench_close(struct stackbench_client *client);

#endif /* DK_BENCH_STACKBENCH_H */
