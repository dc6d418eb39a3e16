/* SPDX-License-Identifier: MIT */
/*
 * dk/client.h - the application side of the runtime: connect to the broker, open a device,
 * register buffers and fences in the session, create queues, and reopen after the device's
 * service restarted (docs/runtime.md, "Client API").
 *
 * A typical client:
 *
 *   dk_client_connect(NULL, deadline, &client);           // $DK_RUNTIME_DIR or the default
 *   dk_device_open(client, "null0", deadline, &dev);       // broker -> policy -> session
 *   dk_device_register_buffer(dev, buf, DK_RIGHTS_BUFFER_RW, deadline, &buf_index);
 *   dk_device_create_queue(dev, &params, deadline, &ring); // a dk_ring, producer side
 *   sqe = dk_ring_get_sqe(ring, NULL); ...; dk_ring_submit(ring);
 *   dk_ring_wait_cqe(ring, &cqe, deadline);
 *
 * When the device's service dies, every wait on its queues ends with -ENODEV (reason
 * driver-crashed: the supervisor's reaper failed the queues' fences) and every session call
 * returns -ENODEV. dk_device_reopen() then opens a new session with the service's next
 * generation, retrying a bounded number of times while the service restarts; it returns
 * -ENODEV at once when the device is gone for good. The old session's registrations and
 * queues do not carry over: the application registers again and creates new queues (it still
 * releases the old queues with dk_device_destroy_queue(), which then only frees memory).
 *
 * Thread rules: a struct dk_client and its devices are used by one thread at a time; queues
 * follow dk/ring.h (one producer thread each).
 */
#ifndef DK_CLIENT_H
#define DK_CLIENT_H

#include <stdint.h>

#include <dk/common.h>
#include <dk/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dk_buffer;
struct dk_fence;
struct dk_ring;
struct dk_ring_params;

struct dk_client;
struct dk_device;

/* Bounds of dk_device_reopen(): attempts, and the pause between them (doubling). */
#define DK_CLIENT_REOPEN_ATTEMPTS 100u
#define DK_CLIENT_REOPEN_PAUSE_MIN_NS (1ull * 1000 * 1000)   /* 1 ms */
#define DK_CLIENT_REOPEN_PAUSE_MAX_NS (50ull * 1000 * 1000)  /* 50 ms */

/* One device as LIST reports it. */
struct dk_device_entry {
	char device[DK_RT_NAME_MAX + 1];
	char device_class[DK_RT_NAME_MAX + 1];
	uint64_t generation;
	uint32_t state; /* enum dk_device_state */
};

/*
 * dk_client_connect - connect to the broker of the stack in @runtime_dir (NULL: the
 * $DK_RUNTIME_DIR variable, else dk_runtime_dir_default()).
 * Returns 0; -EINVAL; -ENOENT / -ECONNREFUSED (no broker); -ETIMEDOUT; -ENAMETOOLONG; -ENOMEM.
 */
DK_EXPORT int dk_client_connect(const char *runtime_dir, uint64_t deadline_ns,
				struct dk_client **ret_client);

/* dk_client_close - close the broker connection and free @client. Devices stay open. NULL ok. */
DK_EXPORT void dk_client_close(struct dk_client *client);

/*
 * dk_client_list - the devices policy lets this process open (no others are ever named).
 * Returns the number of entries written (<= @max); -errno as dk_device_open().
 */
DK_EXPORT int dk_client_list(struct dk_client *client, struct dk_device_entry *entries,
			     uint32_t max, uint64_t deadline_ns);

/*
 * dk_device_open - open a session on @device. The broker asks the policy authority (with this
 * process's kernel-verified uid and gid), audits the decision and hands over a session socket
 * connected to the device's service.
 * Returns 0; -EACCES (denied by policy, or a name policy would not allow: names cannot be
 * probed); -ENODEV (no such device, or gone for good); -EAGAIN (its service is restarting:
 * try again, or use dk_device_reopen()); -EBUSY (session cap); -ETIMEDOUT; -EPIPE (broker
 * gone); -EPROTO; -ENOMEM.
 */
DK_EXPORT int dk_device_open(struct dk_client *client, const char *device, uint64_t deadline_ns,
			     struct dk_device **ret_device);

/*
 * dk_device_adopt - a device on a session socket that came another way than dk_device_open():
 * relayed by a process that opened it, or from a harness that plays the broker (tests).
 * @fd: the session socket, taken over on success. @grant: what the session was granted.
 * @name: the device name. Such a device cannot be reopened (dk_device_reopen(): -ENODEV).
 * Returns 0; -EINVAL; -ENOMEM.
 */
DK_EXPORT int dk_device_adopt(int fd, const struct dk_session_grant *grant, const char *name,
			      struct dk_device **ret_device);

/*
 * dk_device_close - end the session: the service drops its registrations and queues. Queues
 * created on @device are destroyed (their struct dk_ring pointers become invalid). NULL ok.
 */
DK_EXPORT void dk_device_close(struct dk_device *device);

/*
 * dk_device_grant - what the open granted (rights, QoS ceiling, budgets, kill threshold,
 * generation). The kill threshold (max_violations) is the deciding policy rule's: when the rule
 * sets one it wins over the service's --kill-threshold / $DK_KILL_THRESHOLD for this session
 * (0: never killed automatically); DK_SESSION_MAX_VIOLATIONS_UNSET (UINT32_MAX) when the rule
 * has none, and the service's own, not reported, applies. Owned by @device: valid until
 * dk_device_close(), updated in place by dk_device_reopen().
 */
DK_EXPORT const struct dk_session_grant *dk_device_grant(const struct dk_device *device);

/* dk_device_generation - the service generation of the current session. */
DK_EXPORT uint64_t dk_device_generation(const struct dk_device *device);

/*
 * dk_device_check - whether the session is alive, without blocking.
 * Returns 0; -ENODEV when its service went away (the session socket hung up).
 */
DK_EXPORT int dk_device_check(struct dk_device *device);

/*
 * dk_device_reopen - open a new session on the same device after its service died: waits for
 * the next generation, retrying while the broker answers -EAGAIN (at most
 * DK_CLIENT_REOPEN_ATTEMPTS times, pausing 1 ms doubling to 50 ms, never past @deadline_ns),
 * reconnecting to the broker if it restarted too. After a broker restart, -ENODEV and -EACCES
 * are retried within the same bounds as well (the new broker knows the device only once the
 * supervisor re-attached its service).
 * Returns 0 (dk_device_generation() is the new one; register again and create new queues);
 * -ENODEV (the device is gone for good); -EACCES (policy now denies); -ETIMEDOUT (still
 * restarting at the deadline or after the last attempt); -EPIPE (no broker).
 */
DK_EXPORT int dk_device_reopen(struct dk_device *device, uint64_t deadline_ns);

/*
 * dk_device_register_buffer - register @buffer in the session with @rights (a subset of the
 * buffer's and of the grant's): the service imports it and charges the session's budget.
 * @ret_index: the handle index to put in submissions (struct dk_sqe_buffer.index).
 * Returns 0; -EPERM (rights); -ENOSPC (budget: buffers or bytes); -EBADF; -ENODEV (service
 * gone); -ETIMEDOUT; the errors of dk_buffer_export().
 */
DK_EXPORT int dk_device_register_buffer(struct dk_device *device, struct dk_buffer *buffer,
					uint32_t rights, uint64_t deadline_ns,
					uint32_t *ret_index);

/*
 * dk_device_register_fence - register @fence with @rights (DK_RIGHT_WAIT for input fences,
 * DK_RIGHT_SIGNAL too for a fence jobs signal). @ret_index: for struct dk_sqe_fence.index.
 * Returns as dk_device_register_buffer(); the errors of dk_fence_export().
 */
DK_EXPORT int dk_device_register_fence(struct dk_device *device, struct dk_fence *fence,
				       uint32_t rights, uint64_t deadline_ns,
				       uint32_t *ret_index);

/* dk_device_unregister - drop a registration. 0; -EBADF (stale); -EBUSY (in use); -ENODEV. */
DK_EXPORT int dk_device_unregister(struct dk_device *device, uint32_t index,
				   uint64_t deadline_ns);

/*
 * dk_device_create_queue - create a queue on the service and attach to it.
 * @params: depths and QoS (at most the grant's ceiling).
 * @ret_ring: the producer side (dk/ring.h), owned by @device until dk_device_destroy_queue()
 *   or dk_device_close().
 * Returns 0; -EPERM (QoS above the ceiling); -ENOSPC (DK_SESSION_QUEUES_MAX); -EINVAL;
 * -ENODEV; -ETIMEDOUT; -EPROTO / -EBADF (the service's answer did not check out).
 */
DK_EXPORT int dk_device_create_queue(struct dk_device *device,
				     const struct dk_ring_params *params, uint64_t deadline_ns,
				     struct dk_ring **ret_ring);

/*
 * dk_device_destroy_queue - destroy @ring (its jobs in flight complete first, on the service)
 * and free it. A queue of an earlier generation is only freed.
 * Returns 0; -EINVAL (not a queue of @device); -ENODEV (service gone: freed anyway).
 */
DK_EXPORT int dk_device_destroy_queue(struct dk_device *device, struct dk_ring *ring,
				      uint64_t deadline_ns);

/* dk_device_stats - the session's counters as the service keeps them. 0 or -errno. */
DK_EXPORT int dk_device_stats(struct dk_device *device, uint64_t deadline_ns,
			      struct dk_session_stats *ret_stats);

#ifdef __cplusplus
}
#endif

#endif /* DK_CLIENT_H */
