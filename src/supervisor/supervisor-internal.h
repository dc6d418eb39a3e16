/* SPDX-License-Identifier: MIT */
/*
 * supervisor-internal.h - what the files of dk-supervisor-lib share: the supervisor and
 * service structures and the functions one file offers the others.
 *
 *   supervisor.c  create/destroy, the event loop, boot and shutdown order, the runtime dir
 *   service.c     one service: spawn, READY, death, restart policy, timers
 *   registry.c    the control socket of a child and the fence registry it feeds
 *   journal.c     the supervisor's dk-logd client: records, crash reports, the pending queue
 *   public.c      $RT/supervisor.sock: STATUS and STOP
 */
#ifndef DK_SUPD_INTERNAL_H
#define DK_SUPD_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <dk/log.h>
#include <dk/msg.h>
#include <dk/runtime.h>

#include "supervisor.h"

/* What the data of an epoll event names: a type in the high half, an index in the low half. */
enum dk_supd_ev {
	DK_SUPD_EV_SIGNAL = 1,
	DK_SUPD_EV_LISTEN = 2,
	DK_SUPD_EV_CLIENT = 3,  /* index: client slot */
	DK_SUPD_EV_CONTROL = 4, /* index: service */
	DK_SUPD_EV_PIDFD = 5,   /* index: service */
	DK_SUPD_EV_TIMER = 6,   /* index: service */
};
#define DK_SUPD_EV(type, index) ((uint64_t)(type) << 32 | (uint32_t)(index))

/* How long one send to a child or one journal call may hold the loop. */
#define DK_SUPD_SEND_TIMEOUT_NS (1000ull * 1000 * 1000)
#define DK_SUPD_LOG_TIMEOUT_NS (500ull * 1000 * 1000)
/* Frames read from one control socket per wakeup (the loop comes back for more). */
#define DK_SUPD_FRAMES_PER_WAKEUP 64
/* Records kept while dk-logd is unreachable, delivered once it is back. */
#define DK_SUPD_PENDING_MAX 32u

enum dk_supd_timer {
	DK_SUPD_TIMER_NONE = 0,
	DK_SUPD_TIMER_START,   /* spawn -> READY */
	DK_SUPD_TIMER_STOP,    /* SIGTERM -> exit */
	DK_SUPD_TIMER_BACKOFF, /* death -> restart */
};

/* One registered fence: the service's tag and our SIGNAL|WAIT|TRANSFER handle. */
struct dk_supd_fence {
	uint64_t tag;
	struct dk_fence *fence;
};

struct dk_supd_service {
	const struct dk_supd_service_cfg *cfg;
	const char *exec;
	uint32_t index;
	uint32_t state; /* enum dk_service_state */
	pid_t pid;      /* 0: not running */
	int pidfd, ctl_fd, timer_fd;
	int broker_peer_fd; /* device: the broker's end of the channel, until ATTACH */
	enum dk_supd_timer timer;
	uint64_t generation;
	uint32_t restarts;
	int32_t last_exit;
	uint32_t last_signal;
	uint64_t fences_reaped;
	uint64_t last_ready_ns;
	uint64_t t0_ns; /* spawn, or death for a restart: where restart-to-ready starts */
	bool t0_valid;
	bool stop_requested; /* the death that follows was asked for: not a crash */
	bool dying;          /* its death is being handled (control socket drained) */
	bool attached;       /* ATTACH sent for this start */
	bool wait_deps;      /* device: (re)start once the broker (and dk-hwsim) are RUNNING */
	bool violated;       /* broke the control protocol in this start (journaled once) */
	bool ready_seen;     /* READY arrived in this start */
	/* Crash times within the window, oldest first (restart_limit + 1 entries). */
	uint64_t *crash_ns;
	uint32_t n_crashes;
	/* The fence registry of this start. */
	struct dk_supd_fence *fences;
	uint32_t n_fences, cap_fences;
};

struct dk_supd_pconn {
	int fd; /* -1: free slot */
	uint32_t uid;
};

struct dk_supd_pending {
	uint8_t severity;
	char scope[DK_LOG_SCOPE_MAX + 1];
	char message[DK_LOG_MESSAGE_MAX + 1];
	char fields[DK_LOG_FIELDS_MAX + 1];
};

struct dk_supd {
	struct dk_supd_config cfg;
	const struct dk_supd_manifest *m;
	char rt[DK_RT_PATH_MAX];
	char sock_path[DK_RT_PATH_MAX], logd_sock[DK_RT_PATH_MAX];
	char policyd_sock[DK_RT_PATH_MAX], broker_sock[DK_RT_PATH_MAX];
	char journal_dir[DK_RT_PATH_MAX];
	bool rt_created, journal_created, owns_runtime;
	int epfd, lfd, ready_fd;
	struct rlimit nofile; /* as we found it: what the services get */
	bool nofile_raised;
	uint64_t fd_limit;    /* our own soft limit, after raising it */
	uint64_t start_ns;
	uint64_t generation; /* of the latest start of any service */
	uint32_t n;
	struct dk_supd_service svcs[DK_SUPD_SERVICES_MAX];
	/* Start order: logd, policyd, hwsim, broker, devices. */
	uint32_t order[DK_SUPD_SERVICES_MAX];
	bool ordered;              /* @order is filled */
	int logd, policyd, broker; /* indices of the core services */
	int hwsim;                 /* index of dk-hwsim, -1 when the manifest has none */
	uint32_t boot_next;                   /* position in @order; n once booted */
	bool booted;
	bool shutting_down, done;
	uint32_t shutdown_pos; /* position in reverse @order */
	int exit_err;
	struct dk_supd_pconn conns[DK_SUPD_CLIENTS_MAX];
	struct dk_log_client *log;
	struct dk_supd_pending pending[DK_SUPD_PENDING_MAX];
	uint32_t n_pending;
	struct dk_msg msg; /* receive buffer */
};

/* ---- supervisor.c ---- */

/* A line for the operator (the report callback). */
__attribute__((format(printf, 2, 3))) void dk_supd_report(struct dk_supd *s, const char *fmt,
							  ...);
/* Every service has been ready once, or the boot waits for the next one: move on. */
void dk_supd_boot_advance(struct dk_supd *s);
/* Stop the stack in reverse order; @err is what dk_supd_run() returns. Idempotent. */
void dk_supd_shutdown(struct dk_supd *s, int err);
/* The next service of the shutdown order, once the previous one is gone. */
void dk_supd_shutdown_advance(struct dk_supd *s);
/* Register @fd in the loop under @ev (EPOLLIN). 0 or -errno. */
int dk_supd_watch(struct dk_supd *s, int fd, uint64_t ev);
void dk_supd_unwatch(struct dk_supd *s, int fd);

/* ---- service.c ---- */

int dk_supd_service_init(struct dk_supd *s, struct dk_supd_service *v, uint32_t index);
void dk_supd_service_finish(struct dk_supd *s, struct dk_supd_service *v);
/* Spawn @v now (or, for a device, once the broker and dk-hwsim, if any, are RUNNING). */
void dk_supd_service_start(struct dk_supd *s, struct dk_supd_service *v);
/* Ask @v to stop (SIGTERM, then SIGKILL after stop_timeout_ms). */
void dk_supd_service_stop(struct dk_supd *s, struct dk_supd_service *v);
/* The pidfd of @v became readable. */
void dk_supd_service_died(struct dk_supd *s, struct dk_supd_service *v);
/* The timer of @v expired. */
void dk_supd_service_timer(struct dk_supd *s, struct dk_supd_service *v);
/* READY arrived on @v's control socket. */
void dk_supd_service_ready(struct dk_supd *s, struct dk_supd_service *v);
/* @v broke the control protocol: journal it (once per start) and SIGKILL it. */
void dk_supd_service_violation(struct dk_supd *s, struct dk_supd_service *v, const char *what,
			       int err);
/* Cancel a pending restart (shutdown). */
void dk_supd_service_cancel(struct dk_supd *s, struct dk_supd_service *v);

/* ---- registry.c ---- */

/* Read what is queued on @v's control socket: at most @max frames, or all when @max is 0. */
void dk_supd_control_read(struct dk_supd *s, struct dk_supd_service *v, unsigned int max);
/* Fail every registered fence of @v (-ENODEV, DK_REASON_DRIVER_CRASHED), then drop them all.
 * Returns the number of fences reaped; @ret_failed_ns (optional): when the last was failed. */
uint32_t dk_supd_registry_reap(struct dk_supd_service *v, uint64_t *ret_failed_ns);
/* Send ATTACH / DETACH for device service @v to the broker. 0 or -errno. */
int dk_supd_send_attach(struct dk_supd *s, struct dk_supd_service *v);
int dk_supd_send_detach(struct dk_supd *s, struct dk_supd_service *v, uint32_t device_state);
/*
 * When the manifest has a dk-hwsim and it and the broker are both RUNNING: make a channel
 * between them (a socketpair), send dk-hwsim HWSIM_CHANNEL with one end and the broker
 * HWSIM_ATTACH with the other. Returns 0 (sent, or nothing to do: no dk-hwsim); -ENOTCONN (one
 * of them is not RUNNING); -errno (journaled as supervisor.hwsim).
 */
int dk_supd_hwsim_connect(struct dk_supd *s);

/* ---- journal.c ---- */

/* Append one record to dk-logd; when it is unreachable the record waits in the pending queue
 * (and a warning or worse is also reported to the operator). */
__attribute__((format(printf, 5, 6))) void dk_supd_journal(struct dk_supd *s, uint8_t severity,
							   const char *scope, const char *message,
							   const char *fields_fmt, ...);
/* dk-logd became ready: deliver what waited. */
void dk_supd_journal_flush(struct dk_supd *s);
/* dk-logd is gone: drop the connection. */
void dk_supd_journal_disconnect(struct dk_supd *s);
/* The crash report of @v's start that died with pid @pid: one record, then its last lines. */
void dk_supd_crash_report(struct dk_supd *s, struct dk_supd_service *v, pid_t pid,
			  uint32_t n_reaped, uint64_t reap_ns);

/* ---- public.c ---- */

void dk_supd_public_accept(struct dk_supd *s);
void dk_supd_public_readable(struct dk_supd *s, uint32_t slot);
void dk_supd_public_close_all(struct dk_supd *s);

#endif /* DK_SUPD_INTERNAL_H */
