/* SPDX-License-Identifier: MIT */
/*
 * broker-client.h - tools' side of the broker's operator requests: STATUS (dkctl status),
 * INJECT (dkctl inject) and KILL_CLIENT (dkctl kill-client). Part of the static library
 * dk-broker-lib, not libdk: applications open devices through dk/client.h.
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

/*
 * dk_broker_inject - connect to the broker at @socket_path, ask it to set fault mode @fault
 * (enum dk_hwsim_fault) on the emulated device @device, and close. The broker forwards it to
 * dk-hwsim and journals it. Only the broker's own uid and root are answered.
 * @deadline_ns: absolute CLOCK_MONOTONIC deadline for the connection and the answer.
 * Returns 0; -EINVAL (bad argument or deadline; or a fault the broker does not know); -ENOENT /
 * -ECONNREFUSED (no broker); -EACCES (another uid); -ENODEV (no emulated device of that name,
 * or no dk-hwsim); -ETIMEDOUT; -EPIPE; -EPROTO; -ENOMEM.
 */
int dk_broker_inject(const char *socket_path, const char *device, uint32_t fault,
		     uint64_t deadline_ns);

/*
 * dk_broker_kill_client - connect to the broker at @socket_path, ask it to end session
 * @session_id of @device (the device's service ends it, with reason client-killed), and close.
 * Journaled by the broker. Only the broker's own uid and root are answered.
 * Returns 0; -EINVAL; -ENOENT / -ECONNREFUSED (no broker); -EACCES (another uid); -ENODEV (no
 * such device, or its service is not up); -ESRCH (the service has no such session); -EBUSY
 * (too many kills in flight on the device); -EAGAIN (the service died meanwhile); -ETIMEDOUT;
 * -EPIPE; -EPROTO; -ENOMEM.
 */
int dk_broker_kill_client(const char *socket_path, const char *device, uint64_t session_id,
			  uint64_t deadline_ns);

#endif /* DK_BROKER_CLIENT_H */
