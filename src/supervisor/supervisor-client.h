/* SPDX-License-Identifier: MIT */
/*
 * supervisor-client.h - the client side of $RT/supervisor.sock (protocol "supervisor",
 * dk/runtime.h): STATUS and STOP, for dkctl and the tests. Part of dk-supervisor-lib (link
 * libdk as well); not part of libdk.
 */
#ifndef DK_SUPD_CLIENT_H
#define DK_SUPD_CLIENT_H

#include <stdint.h>

#include <dk/runtime.h>

/*
 * dk_supd_status - ask the supervisor at @socket_path for the state of every service.
 * @deadline_ns: absolute CLOCK_MONOTONIC deadline for connecting and the whole exchange.
 * @out, @max: the caller's array; the first min(@max, n) entries are written, in manifest order.
 * @ret_n: optional; how many services the supervisor reported (may exceed @max).
 * @ret_uptime_ns: optional; how long the supervisor has run.
 * Returns 0; -ENOENT / -ECONNREFUSED (no supervisor); -EACCES (not the supervisor's uid);
 * -ETIMEDOUT; -EPROTO (malformed reply); -ENOMEM; the supervisor's error.
 */
int dk_supd_status(const char *socket_path, uint64_t deadline_ns, struct dk_service_status *out,
		   uint32_t max, uint32_t *ret_n, uint64_t *ret_uptime_ns);

/*
 * dk_supd_stop - ask the supervisor at @socket_path to shut the stack down. Returns once the
 * request is acknowledged (the shutdown itself follows): 0, or the errors of dk_supd_status().
 */
int dk_supd_stop(const char *socket_path, uint64_t deadline_ns);

#endif /* DK_SUPD_CLIENT_H */
