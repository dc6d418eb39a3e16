/* SPDX-License-Identifier: MIT */
/*
 * broker-client.h - tools' side of the broker's STATUS request (dkctl status). Part of the
 * static library dk-broker-lib, not libdk: applications open devices through dk/client.h.
 */
#ifndef DK_BROKER_CLIENT_H
#define DK_BROKER_CLIENT_H

#include <stdint.h>

#include <dk/runtime.h>

/*
 * dk_broker_status - connect to the broker at @socket_path, ask for STATUS and close.
 * Only the broker's own uid and root are answered.
 * @deadline_ns: absolute CLOCK_MONOTONIC deadline for the connection and the answer.
 * @out, @max: the caller's array; the first min(@max, n) devices are written to it.
 * @ret_n: n, the number of devices the broker reported (may exceed @max).
 * Returns 0; -EINVAL (bad argument or deadline); -ENOENT / -ECONNREFUSED (no broker); -EACCES
 * (another uid); -ETIMEDOUT; -EPIPE; -EPROTO (a malformed reply); -ENOMEM. Nothing is written
 * on failure.
 */
int dk_broker_status(const char *socket_path, uint64_t deadline_ns, struct dk_device_status *out,
		     uint32_t max, uint32_t *ret_n);

#endif /* DK_BROKER_CLIENT_H */
