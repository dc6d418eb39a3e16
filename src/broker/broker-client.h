/* SPDX-License-Identifier: MIT */
/*
 * broker-client.h - tools' side of the broker's operator requests: STATUS (dkctl status),
 * INJECT (dkctl inject), KILL_CLIENT (dkctl kill-client), DEVICE_STATS (dkctl top) and TRACE
 * (dkctl trace), with the decoders of the last two's reply layouts (the device service's devctl
 * STATS and TRACE replies, relayed verbatim). Part of the static library dk-broker-lib, not
 * libdk: applications open devices through dk/client.h.
 */
#ifndef DK_BROKER_CLIENT_H
#define DK_BROKER_CLIENT_H

#include <stddef.h>
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

/* ---- DEVICE_STATS and TRACE (stats-wire.c) ---- */

/*
 * dk_broker_device_stats - connect to the broker at @socket_path, ask for the live statistics
 * of @device's service (DEVICE_STATS) and close. Only the broker's own uid and root are
 * answered.
 * @deadline_ns: absolute CLOCK_MONOTONIC deadline for the connection and the answer.
 * @buf, @size: where the reply payload goes, as the service sent it (DK_DEVCTL_OP_STATS layout
 *   of dk/runtime.h; decode it with dk_devstats_decode()). DK_FRAME_MAX_PAYLOAD bytes always
 *   suffice.
 * @ret_len: the payload's length.
 * Returns 0; -EINVAL (bad argument or deadline); -ENOENT / -ECONNREFUSED (no broker); -EACCES
 * (another uid); -ENODEV (no such device, or its service is not up); -EBUSY (too many requests
 * in flight on the device, or its service does not read its channel); -EAGAIN (the service
 * died meanwhile); -ETIMEDOUT (the service did not answer in time, or the deadline passed); the
 * service's own error; -EMSGSIZE (@size too small); -EPIPE; -EPROTO; -ENOMEM. Nothing is
 * written to @buf on failure.
 */
int dk_broker_device_stats(const char *socket_path, const char *device, uint64_t deadline_ns,
			   void *buf, size_t size, size_t *ret_len);

/*
 * dk_broker_trace - as dk_broker_device_stats(), for TRACE: the records of @device's finished
 * jobs with seq > @after_seq, oldest first, at most DK_DEVCTL_TRACE_MAX (DK_DEVCTL_OP_TRACE
 * layout; decode it with dk_devtrace_decode()). Page through them by asking again after the
 * last seq received until a reply holds none.
 */
int dk_broker_trace(const char *socket_path, const char *device, uint64_t after_seq,
		    uint64_t deadline_ns, void *buf, size_t size, size_t *ret_len);

/* The service-wide part of a DK_DEVCTL_OP_STATS reply (fields as in dk/runtime.h). */
struct dk_devstats {
	uint32_t sessions, queues, buffers, hw_inflight;
	uint64_t bytes;
	uint32_t ready, parked;
	uint64_t completed, failed, violations, kills, resets, hangs, resubmitted, lost_irqs;
	uint64_t fence_wakeups;
	uint32_t n;       /* session entries in the reply */
	uint32_t n_total; /* sessions of the service (n is less when they do not fit) */
};

/* One session entry of a DK_DEVCTL_OP_STATS reply. */
struct dk_devstats_session {
	uint64_t session_id;
	uint32_t pid, uid;
	uint32_t qos;     /* the ceiling (enum dk_qos) */
	uint32_t queues;
	uint32_t pending; /* submissions in its queues not taken yet */
	uint32_t inflight;
	uint64_t completed, failed;
	uint64_t bytes;   /* of its registered buffers */
	uint32_t buffers, fences, violations;
	uint64_t p50_ns, p99_ns; /* submitted -> signalled over its latest jobs; 0: none */
};

/* One record of a DK_DEVCTL_OP_TRACE reply (dk_svc_trace_record of dk/service/service.h). */
struct dk_devtrace_record {
	uint64_t seq, session_id, ticket;
	uint64_t t_submitted_ns, t_ready_ns, t_started_ns, t_completed_ns, t_signalled_ns;
	int32_t status;
	uint32_t reason; /* enum dk_reason */
	uint32_t queue_id;
	uint8_t qos, opcode, attempts;
};

/*
 * dk_devstats_decode - check and decode a DK_DEVCTL_OP_STATS reply payload.
 * @ret_stats: the service-wide counters, n and n_total.
 * @sessions, @max: the first min(@max, n) session entries are written here.
 * Bytes past the n entries are ignored (a newer service may append fields).
 * Returns 0; -EINVAL (NULL arguments); -EPROTO (too short for its n, n over
 * DK_DEVCTL_STATS_SESSIONS_MAX or over n_total). Nothing is written on failure.
 */
int dk_devstats_decode(const void *payload, size_t len, struct dk_devstats *ret_stats,
		       struct dk_devstats_session *sessions, uint32_t max);

/*
 * dk_devtrace_decode - check and decode a DK_DEVCTL_OP_TRACE reply payload to a request with
 * @after_seq.
 * @ret_last_seq: the service's newest record's seq (0 when it has none).
 * @records, @max: the first min(@max, n) records are written here; @ret_n: n.
 * Bytes past the n records are ignored.
 * Returns 0; -EINVAL (NULL arguments); -EPROTO (too short for its n, n over
 * DK_DEVCTL_TRACE_MAX, a seq not above @after_seq, seqs not strictly increasing, or one above
 * last_seq). Nothing is written on failure.
 */
int dk_devtrace_decode(const void *payload, size_t len, uint64_t after_seq,
		       uint64_t *ret_last_seq, struct dk_devtrace_record *records, uint32_t max,
		       uint32_t *ret_n);

#endif /* DK_BROKER_CLIENT_H */
