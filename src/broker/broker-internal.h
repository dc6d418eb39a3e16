/* SPDX-License-Identifier: MIT */
/*
 * broker-internal.h - the broker's state, shared by its parts:
 *   server.c  the loop, client connections, LIST and STATUS;
 *   device.c  the supervisor's ATTACH / DETACH and each device service's channel;
 *   open.c    OPEN: policy, then state, then a session from the service, answered later;
 *   hwsim.c   the channel to dk-hwsim: GRANT at ATTACH, each grant's DMA requests, INJECT;
 *   kill.c    KILL_CLIENT: forwarded to the device's service, answered later;
 *   relay.c   DEVICE_STATS and TRACE: forwarded to the device's service, its answer relayed;
 *   ask.c     the dk-policyd and dk-logd connections (questions and audit records).
 */
#ifndef DK_BROKER_INTERNAL_H
#define DK_BROKER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <dk/hwsim.h>
#include <dk/log.h>
#include <dk/msg.h>
#include <dk/policy.h>
#include <dk/runtime.h>

#include "broker.h"

#define FRAMES_PER_WAKEUP 32

/* epoll tags: the kind in the high half, the slot in the low half. */
#define EV_LISTEN (1ull << 32)
#define EV_SIGNAL (2ull << 32)
#define EV_CONTROL (3ull << 32)
#define EV_CHANNEL (4ull << 32)
#define EV_CLIENT (5ull << 32)
#define EV_DMA (6ull << 32) /* slot: the device */
#define EV_HWSIM (7ull << 32)
#define EV_KIND(tag) ((tag) & ~0xffffffffull)
#define EV_SLOT(tag) ((uint32_t)(tag))

/* An OPEN allowed by policy, waiting for the service to answer SESSION. */
struct pending {
	bool used;
	uint64_t session_id; /* also the seq of the SESSION request */
	uint64_t deadline_ns;
	uint32_t client;        /* slot of the asking connection ... */
	uint64_t client_cookie; /* ... if it is still the same connection */
	uint64_t client_seq;    /* the OPEN's seq, echoed by the answer */
	int client_end;         /* the session socket's client end, sent on success */
	uint32_t pid, uid, gid; /* the client, for the audit record */
	struct dk_policy_decision dec;
};

/* A KILL_CLIENT forwarded to a device's service (KILL_SESSION), waiting for its answer. */
struct kill {
	bool used;
	uint64_t seq; /* of the KILL_SESSION request */
	uint64_t session_id;
	uint64_t deadline_ns;
	uint32_t client;        /* slot of the asking connection ... */
	uint64_t client_cookie; /* ... if it is still the same connection */
	uint64_t client_seq;    /* the KILL_CLIENT's seq */
	uint32_t uid, pid;      /* who asked, for the audit record */
};

/* A DEVICE_STATS or TRACE forwarded to a device's service (STATS / TRACE), waiting for its
 * answer, which is relayed verbatim. */
struct relay {
	bool used;
	uint16_t opcode; /* of the devctl request: DK_DEVCTL_OP_STATS or DK_DEVCTL_OP_TRACE */
	uint64_t seq;    /* of the devctl request */
	uint64_t deadline_ns;
	uint32_t client;        /* slot of the asking connection ... */
	uint64_t client_cookie; /* ... if it is still the same connection */
	uint64_t client_seq;    /* the DEVICE_STATS's or TRACE's seq */
};

struct device {
	bool used;
	char name[DK_RT_NAME_MAX + 1];
	char device_class[DK_RT_NAME_MAX + 1];
	char service[DK_RT_NAME_MAX + 1];
	uint64_t generation; /* of the latest ATTACH / DETACH; later ones must be newer */
	uint32_t pid;
	uint32_t state; /* enum dk_device_state */
	int chan;       /* the channel to the service; -1 when none */
	uint64_t opens, denials;
	uint32_t n_sessions;
	uint64_t sessions[DK_SERVICE_SESSIONS_MAX]; /* live session ids, unordered */
	uint32_t n_pending;
	struct pending pending[DK_BROKER_PENDING_MAX];
	uint32_t n_kills;
	struct kill kills[DK_BROKER_KILLS_MAX];
	uint32_t n_relays;
	struct relay relays[DK_BROKER_RELAYS_MAX];
	/* The hardware dk-hwsim granted the current start (hwsim.c); dma < 0: none. */
	int dma; /* our end of the service's DMA request socket */
	char model[DK_RT_HWSIM_MODEL_MAX + 1];
	uint32_t regs_size;
	uint64_t maps, unmaps; /* forwarded successfully, all starts */
	uint32_t n_windows;    /* mapped through @dma and not unmapped */
	uint64_t windows[DK_HWSIM_WINDOWS_MAX]; /* their IOVAs, unordered */
};

struct client {
	int fd; /* -1: free slot */
	uint32_t pid, uid, gid; /* SO_PEERCRED at accept */
	uint64_t cookie;        /* unique per connection, for answers that come late */
	uint32_t n_pending;
};

struct dk_broker {
	struct dk_broker_config cfg;
	char *socket_path; /* set once the socket is ours to remove */
	char *policyd_path, *logd_path;
	int epfd, lfd, ctl;
	uint32_t uid; /* ours: STATUS is answered to it and to root */
	struct client *clients;
	struct device devices[DK_BROKER_DEVICES_MAX];
	struct dk_policy_client *policy;
	struct dk_log_client *log;
	uint64_t log_retry_ns; /* no reconnect attempt before this time */
	uint64_t last_session_id;
	uint64_t last_cookie;
	uint64_t last_kill_seq;
	uint64_t last_relay_seq;
	/* The channel to dk-hwsim the supervisor sent last (HWSIM_ATTACH); -1: none. */
	int hwsim;
	uint64_t hwsim_generation;
	uint32_t hwsim_pid;
	uint64_t hwsim_seq; /* of the latest request: replies to older ones are stale */
	struct dk_broker_counters st;
	struct dk_msg msg;  /* the client message being handled */
	struct dk_msg cmsg; /* the supervisor or service message being handled */
	struct dk_msg dmsg; /* the DMA request being handled */
	struct dk_msg hmsg; /* dk-hwsim's reply */
	uint8_t pbuf[DK_FRAME_MAX_PAYLOAD];
};

/* server.c */
__attribute__((format(printf, 2, 3))) void broker_report(struct dk_broker *b, const char *fmt,
							  ...);
/* The connection in @slot if it is still the one with @cookie, else NULL. */
struct client *broker_client(struct dk_broker *b, uint32_t slot, uint64_t cookie);
/* Answer without waiting; a client whose socket is full or gone is disconnected. */
void broker_reply(struct dk_broker *b, struct client *c, uint16_t opcode, uint64_t seq,
		  const void *payload, size_t len, const int *fds, uint32_t n_fds);
void broker_reply_error(struct dk_broker *b, struct client *c, uint16_t opcode, uint64_t seq,
			int err, uint32_t reason);

/* device.c */
struct device *broker_device_find(struct dk_broker *b, const char *name);
void broker_control_readable(struct dk_broker *b);
/*
 * Handle whatever the supervisor and the services have sent by now (poll, no wait). Called
 * between reading a client's frame and handling it: a message sent before the client's
 * request takes effect before it, whatever order epoll reports them in.
 */
void broker_sync(struct dk_broker *b);
void broker_channel_readable(struct dk_broker *b, struct device *d);
/* Close @d's channel and DMA socket, fail its opens, kills and relays in flight with @err /
 * @reason, forget its sessions. */
void broker_channel_close(struct dk_broker *b, struct device *d, int err, uint32_t reason);
/* The channel broke (the service died): close it; an UP device becomes RESTARTING. */
void broker_channel_dead(struct dk_broker *b, struct device *d);

/* open.c */
void broker_op_open(struct dk_broker *b, struct client *c, const struct dk_frame *f);
/* The service answered SESSION @seq (@err 0, or its error and @reason). */
void broker_session_answer(struct dk_broker *b, struct device *d, uint64_t seq, int err,
			   uint32_t reason);
/* Fail @p (answer the client, audit, free the slot). */
void broker_pending_fail(struct dk_broker *b, struct device *d, struct pending *p, int err,
			 uint32_t reason);
/* Fail opens (and kills and relays) whose deadline passed; the earliest deadline left
 * (UINT64_MAX when none). */
uint64_t broker_pending_expire(struct dk_broker *b, uint64_t now_ns);

/* hwsim.c */
/* HWSIM_ATTACH from the supervisor (@m: one descriptor): the new channel replaces the old. */
void broker_hwsim_attach(struct dk_broker *b, struct dk_msg *m);
/* The channel to dk-hwsim is readable outside a request: late replies, or its end. */
void broker_hwsim_readable(struct dk_broker *b);
/*
 * Ask dk-hwsim for @d's hardware (GRANT) and send it to @d's service (devctl GRANT, with a new
 * DMA request socket whose other end we watch). Called at ATTACH, once the channel is watched
 * and before anything else can be sent to the service. Returns 0 when granted, or when there is
 * nothing to grant (no dk-hwsim channel, or no such device on the board: -ENODEV from
 * dk-hwsim); otherwise the error that left the service without its hardware.
 */
int broker_grant(struct dk_broker *b, struct device *d);
/* A device's DMA request socket is readable. */
void broker_dma_readable(struct dk_broker *b, struct device *d);
/* Forget @d's grant: close its DMA request socket. */
void broker_dma_close(struct dk_broker *b, struct device *d);
/* INJECT from a client: the broker's uid or root only, forwarded to dk-hwsim. */
void broker_op_inject(struct dk_broker *b, struct client *c, const struct dk_frame *f);

/* kill.c */
/* KILL_CLIENT from a client: the broker's uid or root only, forwarded to the service. */
void broker_op_kill_client(struct dk_broker *b, struct client *c, const struct dk_frame *f);
/* The service answered KILL_SESSION @seq (@err 0, or its error and @reason). */
void broker_kill_answer(struct dk_broker *b, struct device *d, uint64_t seq, int err,
			uint32_t reason);
/* Fail every kill in flight on @d with @err / @reason. */
void broker_kills_fail(struct dk_broker *b, struct device *d, int err, uint32_t reason);
/* Fail kills whose deadline passed; the earliest deadline left (UINT64_MAX when none). */
uint64_t broker_kills_expire(struct dk_broker *b, uint64_t now_ns);

/* relay.c */
/* DEVICE_STATS or TRACE from a client: the broker's uid or root only, forwarded to the service. */
void broker_op_relay(struct dk_broker *b, struct client *c, const struct dk_frame *f);
/* The service answered STATS or TRACE @f (@err 0: @f's payload is relayed; else its error and
 * @reason). */
void broker_relay_answer(struct dk_broker *b, struct device *d, const struct dk_frame *f,
			 int err, uint32_t reason);
/* Fail every relay in flight on @d with @err / @reason. */
void broker_relays_fail(struct dk_broker *b, struct device *d, int err, uint32_t reason);
/* Fail relays whose deadline passed; the earliest deadline left (UINT64_MAX when none). */
uint64_t broker_relays_expire(struct dk_broker *b, uint64_t now_ns);

/* ask.c */
/*
 * Ask dk-policyd (reconnecting once when the connection broke). Returns 0 and the decision,
 * or the error that left the question unanswered (the caller then denies).
 */
int broker_policy_ask(struct dk_broker *b, const struct dk_policy_subject *s, const char *device,
		      const char *device_class, struct dk_policy_decision *ret_dec);
/* Append one record to dk-logd; counted as unaudited when it cannot be stored. */
void broker_audit(struct dk_broker *b, enum dk_log_severity sev, const char *scope,
		  const char *message, const char *fields);
/* "EBUSY", "ETIMEDOUT", ... for audit fields. Static. */
const char *broker_errno_name(int err);

#endif /* DK_BROKER_INTERNAL_H */
