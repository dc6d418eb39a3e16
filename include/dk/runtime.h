/* SPDX-License-Identifier: MIT */
/*
 * dk/runtime.h - the runtime's processes and the frame protocols between them (docs/runtime.md).
 *
 *   dk-supervisor  starts the stack from a manifest, owns the fence registry, restarts services
 *     |-- dk-logd      journal            ($RT/logd.sock)
 *     |-- dk-policyd   policy authority   ($RT/policyd.sock)
 *     |-- dk-broker    device registry    ($RT/broker.sock, public: clients open devices here)
 *     `-- device services (dk-null, ...)  no public socket: reached only through the broker
 *
 * Identity is never a claim. Every child of the supervisor inherits one end of a socketpair
 * (its *control socket*, descriptor number in $DK_SUPERVISOR_FD); the supervisor knows which
 * child holds which pair because it made them before the fork. A device service additionally
 * inherits one end of a pair whose other end the supervisor hands to the broker with the
 * service's name, device and generation (ATTACH): the broker knows who is at the other end of
 * that socket because the supervisor told it, never because the service said so. Clients reach
 * the broker on its public socket, where only SO_PEERCRED identifies them.
 *
 * Protocols (all frames of dk/frame.h over SOCK_SEQPACKET, dk/msg.h):
 *   "supctl"     child <-> supervisor on the control socket (READY, fence registry) and
 *                supervisor -> broker (ATTACH/DETACH of device services).
 *   "supervisor" dkctl -> supervisor on $RT/supervisor.sock (STATUS, STOP); same uid only.
 *   "broker"     clients -> broker on $RT/broker.sock (OPEN, LIST, STATUS).
 *   "devctl"     broker <-> device service on the pair made by the supervisor (SESSION, ...).
 *   "session"    client <-> device service on the socket the broker hands out in OPEN.
 * Strings on the wire are u16 length + bytes (dk_wire_put_string); names are at most
 * DK_RT_NAME_MAX bytes of [A-Za-z0-9._-]. Every request gets exactly one reply (or an error
 * reply, struct dk_frame_error) unless the opcode says "no reply".
 */
#ifndef DK_RUNTIME_H
#define DK_RUNTIME_H

#include <stdint.h>

#include <dk/common.h>
#include <dk/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dk_fence;

#define DK_RT_NAME_MAX 63u   /* service, device and class names */
#define DK_RT_PATH_MAX 108u  /* sun_path: every socket path, with its NUL */

/* Socket and directory names inside the runtime directory. */
#define DK_RT_LOGD_SOCKET "logd.sock"
#define DK_RT_POLICYD_SOCKET "policyd.sock"
#define DK_RT_BROKER_SOCKET "broker.sock"
#define DK_RT_SUPERVISOR_SOCKET "supervisor.sock"
#define DK_RT_JOURNAL_DIR "journal"

/* Environment every child of the supervisor gets. */
#define DK_ENV_RUNTIME_DIR "DK_RUNTIME_DIR"       /* the runtime directory */
#define DK_ENV_SUPERVISOR_FD "DK_SUPERVISOR_FD"   /* the control socket (decimal fd) */
#define DK_ENV_SERVICE "DK_SERVICE"               /* the manifest name (informational) */
#define DK_ENV_GENERATION "DK_GENERATION"         /* this start's generation (decimal) */
/* Device services only. */
#define DK_ENV_BROKER_FD "DK_BROKER_FD"           /* the channel to the broker (decimal fd) */
#define DK_ENV_DEVICE "DK_DEVICE"                 /* the device it drives */
#define DK_ENV_DEVICE_CLASS "DK_DEVICE_CLASS"

/* State of a device as the broker reports it. */
enum dk_device_state {
	DK_DEVICE_UP = 1,         /* its service is attached: opens succeed (policy permitting) */
	DK_DEVICE_RESTARTING = 2, /* its service died and will be restarted: open gives -EAGAIN */
	DK_DEVICE_FAILED = 3,     /* its service hit the crash-loop limit: open gives -ENODEV */
};

/* State of a service as the supervisor reports it. */
enum dk_service_state {
	DK_SERVICE_STARTING = 1, /* started, READY not yet received */
	DK_SERVICE_RUNNING = 2,
	DK_SERVICE_BACKOFF = 3,  /* died; waiting out the restart delay */
	DK_SERVICE_FAILED = 4,   /* crash-loop limit reached; not restarted */
	DK_SERVICE_STOPPING = 5,
	DK_SERVICE_STOPPED = 6,
};

/* dk_device_state_name / dk_service_state_name - "up", "restarting", ...; static strings. */
DK_EXPORT const char *dk_device_state_name(uint32_t state);
DK_EXPORT const char *dk_service_state_name(uint32_t state);

/*
 * dk_runtime_dir_default - the default runtime directory, $XDG_RUNTIME_DIR/driverkit.
 * Returns 0 and the path in @buf; -ENOENT when XDG_RUNTIME_DIR is unset or not absolute (the
 * caller then makes a private mkdtemp directory under /tmp); -ENAMETOOLONG.
 */
DK_EXPORT int dk_runtime_dir_default(char *buf, size_t size);

/*
 * dk_runtime_path - "@dir/@name" into @buf, checked against the socket path limit.
 * Returns 0; -ENAMETOOLONG.
 */
DK_EXPORT int dk_runtime_path(const char *dir, const char *name, char *buf, size_t size);

/* dk_rt_check_name - 0 when @s is 1..DK_RT_NAME_MAX bytes of [A-Za-z0-9._-]; else -EINVAL. */
DK_EXPORT int dk_rt_check_name(const char *s);

/* ---- "supctl": the control socket (child <-> supervisor) and supervisor -> broker ---------- */

#define DK_SUPCTL_PROTO_MINOR 0
enum dk_supctl_opcode {
	/* child -> supervisor, no reply: set-up is done, the child serves. Payload empty. */
	DK_SUPCTL_OP_READY = 0x0001,
	/* service -> supervisor: take a fence into the registry.
	 * Payload: u64 tag (the service's name for it, unique among its live registrations).
	 * Descriptors: the DK_FENCE_NR_FDS of a fence exported with SIGNAL|WAIT|TRANSFER.
	 * Reply (empty) once the supervisor holds the fence with signal rights; only then may the
	 * service export it wait-only (which seals it: a sealed fence cannot be imported with
	 * SIGNAL any more). An error reply (-ENOSPC over the cap) leaves it unregistered. */
	DK_SUPCTL_OP_FENCE_REGISTER = 0x0002,
	/* service -> supervisor, no reply: drop registration @tag (u64) (queue destroyed). */
	DK_SUPCTL_OP_FENCE_RELEASE = 0x0003,
	/* supervisor -> broker, no reply: a device service started.
	 * Payload: u64 generation, u32 pid, u32 reserved, string service, string device,
	 * string class. Descriptor: the broker's end of the channel to that service. */
	DK_SUPCTL_OP_ATTACH = 0x0010,
	/* supervisor -> broker, no reply: a device service is gone.
	 * Payload: u64 generation, u32 state (enum dk_device_state: RESTARTING or FAILED),
	 * u32 reserved, string device. */
	DK_SUPCTL_OP_DETACH = 0x0011,
	/* supervisor -> broker, no reply: the emulated board (dk-hwsim) is up. Payload: u64
	 * generation (of the dk-hwsim start), u32 pid, u32 reserved. Descriptor: the broker's end
	 * of a channel to dk-hwsim ("hwsim" protocol, dk/hwsim.h). Sent on every start of either
	 * process; a new channel replaces the old one. */
	DK_SUPCTL_OP_HWSIM_ATTACH = 0x0012,
	/* supervisor -> dk-hwsim, no reply: the other end of that channel. Payload: u64
	 * generation (of the broker start). A new channel replaces the old one. */
	DK_SUPCTL_OP_HWSIM_CHANNEL = 0x0013,
};
#define DK_SUPCTL_FENCES_MAX 4096u /* registered fences per service start */

DK_EXPORT extern const struct dk_frame_proto dk_supctl_proto;
DK_EXPORT extern const struct dk_frame_proto dk_supctl_reply_proto;

/*
 * The child side of the control socket, for every process the supervisor starts.
 * dk_child_control_fd - the control socket from $DK_SUPERVISOR_FD: the descriptor, or -ENOENT
 * when not started by a supervisor, -EBADF when the variable does not name a socket.
 */
DK_EXPORT int dk_child_control_fd(void);

/* dk_child_ready - tell the supervisor set-up is done. 0; -ENOENT (no supervisor); -errno. */
DK_EXPORT int dk_child_ready(uint64_t deadline_ns);

/*
 * dk_child_fence_register - put @fence (which must hold SIGNAL|WAIT|TRANSFER and not be sealed)
 * in the supervisor's registry under @tag, so that if this process dies every waiter on it
 * wakes with -ENODEV / DK_REASON_DRIVER_CRASHED. Call it before the fence is exported wait-only
 * (which seals it) and before any other process can wait on it; it returns once the supervisor
 * holds the fence.
 * Returns 0; -ENOENT (no supervisor); the supervisor's refusal (-ENOSPC over its cap); the
 * errors of dk_fence_export() and dk_msg_call().
 */
DK_EXPORT int dk_child_fence_register(struct dk_fence *fence, uint64_t tag, uint64_t deadline_ns);

/* dk_child_fence_release - drop registration @tag (the fence is no longer used). */
DK_EXPORT int dk_child_fence_release(uint64_t tag, uint64_t deadline_ns);

/* ---- "supervisor": $RT/supervisor.sock (dkctl) -------------------------------------------- */

#define DK_SUPD_PROTO_MINOR 0
enum dk_supd_opcode {
	/* Payload empty. Reply: u32 n, u32 reserved, u64 uptime_ns, then n entries of
	 * struct dk_service_status as: string name, string kind, u32 state, u32 pid,
	 * u64 generation, u32 restarts, u32 reserved, i32 last_exit (exit status, or -1),
	 * u32 last_signal (0 when it exited), u64 fences_registered, u64 fences_reaped,
	 * u64 last_ready_ns (restart-to-ready of the latest start, 0 when not yet ready). */
	DK_SUPD_OP_STATUS = 0x0001,
	/* Payload empty. Reply empty, sent before the orderly shutdown starts. */
	DK_SUPD_OP_STOP = 0x0002,
};
#define DK_SUPD_SERVICES_MAX 32u /* services in a manifest */

struct dk_service_status {
	char name[DK_RT_NAME_MAX + 1];
	char kind[16];
	uint32_t state;       /* enum dk_service_state */
	uint32_t pid;         /* 0 when not running */
	uint64_t generation;  /* of the current (or last) start; 0 before the first */
	uint32_t restarts;    /* restarts since the supervisor started */
	int32_t last_exit;    /* exit status of the last death, -1 when killed by a signal/none */
	uint32_t last_signal; /* signal of the last death, 0 when none */
	uint64_t fences_registered; /* in the registry now */
	uint64_t fences_reaped;     /* failed with driver-crashed over all deaths */
	uint64_t last_ready_ns;     /* start (or death, for a restart) to READY of the latest start */
};

DK_EXPORT extern const struct dk_frame_proto dk_supd_proto;
DK_EXPORT extern const struct dk_frame_proto dk_supd_reply_proto;

/* ---- "broker": $RT/broker.sock (clients) -------------------------------------------------- */

#define DK_BROKER_PROTO_MINOR 1
enum dk_broker_opcode {
	/* Payload: string device. Reply (with one descriptor, the session socket): struct
	 * dk_session_grant as u64 generation, u64 session_id, u32 rights, u32 qos, u64 max_bytes,
	 * u32 max_buffers, u32 max_inflight, u32 max_fences, u32 max_violations (since minor 1;
	 * a broker of minor 0 sends 0 there, read as DK_SESSION_MAX_VIOLATIONS_UNSET),
	 * string class.
	 * Errors: -EACCES (policy: denied, reason DK_REASON_POLICY; also for a device that does
	 * not exist unless policy would allow it, so names cannot be probed); -ENODEV (allowed,
	 * but no such device or its service failed for good); -EAGAIN (its service is restarting,
	 * reason DK_REASON_DRIVER_CRASHED); -EBUSY (session cap of the device). */
	DK_BROKER_OP_OPEN = 0x0001,
	/* Payload empty. Reply: u32 n, u32 reserved, then n entries: string device, string class,
	 * u64 generation, u32 state, u32 reserved. Only devices policy lets the asker open. */
	DK_BROKER_OP_LIST = 0x0002,
	/* Payload empty; the broker's uid (or root) only, else -EACCES. Reply: u32 n, u32 reserved,
	 * u64 opens, u64 denials, then n entries: string device, string class, string service,
	 * u64 generation, u32 pid, u32 state, u32 sessions (open now), u32 reserved, u64 opens,
	 * u64 denials. */
	DK_BROKER_OP_STATUS = 0x0003,
	/* Fault injection into an emulated device (dkctl inject). Payload: string device,
	 * u32 fault (enum dk_hwsim_fault), u32 reserved. The broker's uid (or root) only; audited.
	 * Reply empty. -ENODEV: no emulated device of that name. */
	DK_BROKER_OP_INJECT = 0x0004,
	/* Cut a client off (dkctl kill-client). Payload: string device, u64 session_id. The
	 * broker's uid (or root) only; audited. Reply empty. -ESRCH: no such session. */
	DK_BROKER_OP_KILL_CLIENT = 0x0005,
	/* Live statistics of a device's service (dkctl top). Payload: string device. The broker's
	 * uid (or root) only. Reply: the service's DK_DEVCTL_OP_STATS reply, relayed as is. */
	DK_BROKER_OP_DEVICE_STATS = 0x0006,
	/* Job records of a device's service (dkctl trace). Payload: string device, u64 after_seq.
	 * The broker's uid (or root) only. Reply: the service's DK_DEVCTL_OP_TRACE reply. */
	DK_BROKER_OP_TRACE = 0x0007,
};
#define DK_BROKER_DEVICES_MAX 32u
#define DK_BROKER_CLIENTS_MAX 256u /* connections to broker.sock */

/* What an OPEN grants: the policy decision, bound to one session of one service start. */
struct dk_session_grant {
	uint64_t generation;
	uint64_t session_id;
	uint32_t rights;       /* DK_RIGHT_*: the most a registered handle may carry */
	uint32_t qos;          /* QoS ceiling */
	uint64_t max_bytes;    /* budget: bytes of registered buffers */
	uint32_t max_buffers;  /* budget: registered buffers */
	uint32_t max_inflight; /* budget: jobs taken and not completed */
	uint32_t max_fences;   /* budget: registered fences */
	/* The kill threshold the service applies to this session: the validation failures and
	 * hangs after which it kills the session on its own (0: never), as policy set it;
	 * DK_SESSION_MAX_VIOLATIONS_UNSET when policy left it to the service (whose own
	 * --kill-threshold then applies, a number the client is not told). */
	uint32_t max_violations;
	char device_class[DK_RT_NAME_MAX + 1];
};

struct dk_device_status {
	char device[DK_RT_NAME_MAX + 1];
	char device_class[DK_RT_NAME_MAX + 1];
	char service[DK_RT_NAME_MAX + 1];
	uint64_t generation;
	uint32_t pid;
	uint32_t state; /* enum dk_device_state */
	uint32_t sessions;
	uint64_t opens;
	uint64_t denials;
};

DK_EXPORT extern const struct dk_frame_proto dk_broker_proto;
DK_EXPORT extern const struct dk_frame_proto dk_broker_reply_proto;

/* ---- "devctl": broker <-> device service ------------------------------------------------- */

#define DK_DEVCTL_PROTO_MINOR 1
enum dk_devctl_opcode {
	/* broker -> service. Payload: u64 session_id, u32 pid, u32 uid, u32 gid, u32 rights,
	 * u32 qos, u32 max_buffers, u64 max_bytes, u32 max_inflight, u32 max_fences (48 bytes,
	 * DK_DEVCTL_SESSION_PAYLOAD); since minor 1 optionally followed by u32 max_violations (the
	 * policy's kill threshold: 0 never, DK_SESSION_MAX_VIOLATIONS_UNSET for the service's own)
	 * and u32 reserved (0) (DK_DEVCTL_SESSION_PAYLOAD_KILL bytes in all). Any other length, a
	 * reserved field that is not 0 or a zero budget is refused with -EPROTO.
	 * Descriptor: the service's end of the session socket. Reply empty, or an error (-EBUSY
	 * at the session cap): the broker then closes the client's end and fails the OPEN. */
	DK_DEVCTL_OP_SESSION = 0x0001,
	/* service -> broker, no reply: session @session_id (u64) ended (client closed). */
	DK_DEVCTL_OP_SESSION_END = 0x0002,
	/* broker -> service, no reply: the device's resources, sent right after ATTACH and before
	 * any SESSION when dk-hwsim has a device of that name. Payload: u32 regs_size,
	 * u32 reserved, string model. Descriptors: the register window memfd (exact size), the
	 * doorbell eventfd, the interrupt eventfd, and a socket for the service's DMA requests
	 * ("dma" protocol, dk/hwsim.h). */
	DK_DEVCTL_OP_GRANT = 0x0003,
	/* broker -> service: end session @session_id now (u64), reason (u32 enum dk_reason, e.g.
	 * DK_REASON_CLIENT_KILLED), u32 reserved. Reply empty; -ESRCH for an unknown session. */
	DK_DEVCTL_OP_KILL_SESSION = 0x0004,
	/* broker -> service: live statistics. Payload empty. Reply: the service counters
	 * (DK_DEVCTL_STATS_FIXED bytes: u32 sessions, u32 queues, u32 buffers, u32 hw_inflight,
	 * u64 bytes, u32 ready, u32 parked, u64 completed, u64 failed, u64 violations, u64 kills,
	 * u64 resets, u64 hangs, u64 resubmitted, u64 lost_irqs, u64 fence_wakeups, u32 n,
	 * u32 n_total), then n session entries of DK_DEVCTL_STATS_SESSION bytes: u64 session_id,
	 * u32 pid, u32 uid, u32 qos (the ceiling), u32 queues, u32 pending (submissions in its SQs
	 * not yet taken), u32 inflight, u64 completed, u64 failed, u64 bytes, u32 buffers,
	 * u32 fences, u32 violations, u32 reserved, u64 p50_ns, u64 p99_ns (submitted -> signalled
	 * over its latest completed jobs, 0 when none). At most DK_DEVCTL_STATS_SESSIONS_MAX
	 * entries; n_total says how many sessions there are. */
	DK_DEVCTL_OP_STATS = 0x0005,
	/* broker -> service: job records (struct dk_svc_trace_record of dk/service/service.h).
	 * Payload: u64 after_seq. Reply: u32 n, u32 reserved, u64 last_seq (the newest record's,
	 * 0 when none), then n records of DK_DEVCTL_TRACE_RECORD bytes: u64 seq, u64 session_id,
	 * u64 ticket, u64 t_submitted_ns, u64 t_ready_ns, u64 t_started_ns, u64 t_completed_ns,
	 * u64 t_signalled_ns, i32 status, u32 reason, u32 queue_id, u8 qos, u8 opcode,
	 * u8 attempts, u8 reserved; oldest first, seq > after_seq, at most
	 * DK_DEVCTL_TRACE_MAX per reply. */
	DK_DEVCTL_OP_TRACE = 0x0006,
};
#define DK_DEVCTL_STATS_FIXED 112u
#define DK_DEVCTL_STATS_SESSION 88u
#define DK_DEVCTL_STATS_SESSIONS_MAX                                                               \
	((DK_FRAME_MAX_PAYLOAD - DK_DEVCTL_STATS_FIXED) / DK_DEVCTL_STATS_SESSION)
#define DK_DEVCTL_TRACE_FIXED 16u
#define DK_DEVCTL_TRACE_RECORD 80u
#define DK_DEVCTL_TRACE_MAX ((DK_FRAME_MAX_PAYLOAD - DK_DEVCTL_TRACE_FIXED) / DK_DEVCTL_TRACE_RECORD)
#define DK_DEVCTL_SESSION_PAYLOAD 48u      /* SESSION without a kill threshold */
#define DK_DEVCTL_SESSION_PAYLOAD_KILL 56u /* SESSION with one (since minor 1) */
/* A session's kill threshold that is not set: the service's own (--kill-threshold) applies. */
#define DK_SESSION_MAX_VIOLATIONS_UNSET 0xffffffffu

DK_EXPORT extern const struct dk_frame_proto dk_devctl_proto;
DK_EXPORT extern const struct dk_frame_proto dk_devctl_reply_proto;

/* ---- "session": client <-> device service ------------------------------------------------- */

#define DK_SESSION_PROTO_MINOR 0
enum dk_session_opcode {
	/* Payload: u32 rights, u32 reserved, u64 size. Descriptor: the buffer (dk_buffer_export
	 * with @rights). Reply: u32 index, u32 reserved. Errors: -EPERM (rights beyond the grant),
	 * -EBADF / -EPROTO (not a buffer of that size and rights), -ENOSPC (budget). */
	DK_SESSION_OP_REG_BUFFER = 0x0001,
	/* Payload: u32 rights, u32 reserved. Descriptors: DK_FENCE_NR_FDS of a fence.
	 * Reply: u32 index, u32 reserved. */
	DK_SESSION_OP_REG_FENCE = 0x0002,
	/* Payload: u32 index, u32 reserved. Reply empty. -EBADF for a stale index, -EBUSY while a
	 * job in flight uses it. */
	DK_SESSION_OP_UNREGISTER = 0x0003,
	/* Payload: u32 sq_entries, u32 cq_entries, u32 qos, u32 reserved. Reply: u32 queue_id,
	 * u32 reserved; descriptors: the queue memfd, then the DK_FENCE_NR_FDS of its completion
	 * fence (wait-only). -EPERM for a QoS above the ceiling; -ENOSPC over the queue cap. */
	DK_SESSION_OP_CREATE_QUEUE = 0x0004,
	/* Payload: u32 queue_id, u32 reserved. Reply empty. Every job taken and not completed is
	 * cancelled first: its completion (-ECANCELED, reason cancelled; shutdown when the service
	 * stops) is posted before the reply. A job on the hardware keeps its slot until the
	 * hardware gives it back, and fails its output fence only then (docs/service.md). */
	DK_SESSION_OP_DESTROY_QUEUE = 0x0005,
	/* Payload empty. Reply: struct dk_session_stats as u64 generation, u64 session_id,
	 * u32 buffers, u32 fences, u64 bytes, u32 queues, u32 inflight, u64 completed,
	 * u64 refused (56 bytes). */
	DK_SESSION_OP_STATS = 0x0006,
};
#define DK_SESSION_QUEUES_MAX 8u   /* queues per session */
#define DK_SESSION_HANDLES_MAX 1024u /* registered buffers + fences per session (hard cap) */
#define DK_SERVICE_SESSIONS_MAX 64u  /* sessions per device service */

struct dk_session_stats {
	uint64_t generation;
	uint64_t session_id;
	uint32_t buffers;   /* registered now */
	uint32_t fences;    /* registered now */
	uint64_t bytes;     /* bytes of registered buffers */
	uint32_t queues;
	uint32_t inflight;  /* jobs taken and not completed */
	uint64_t completed; /* jobs completed successfully */
	uint64_t refused;   /* jobs completed with an error */
};
#define DK_SESSION_STATS_PAYLOAD 56u

DK_EXPORT extern const struct dk_frame_proto dk_session_proto;
DK_EXPORT extern const struct dk_frame_proto dk_session_reply_proto;

#ifdef __cplusplus
}
#endif

#endif /* DK_RUNTIME_H */
