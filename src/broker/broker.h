/* SPDX-License-Identifier: MIT */
/*
 * broker.h - the dk-broker server library (static library dk-broker-lib): the device registry.
 * It learns which service drives which device from the supervisor (ATTACH / DETACH on the
 * control socket), asks dk-policyd whether a client may open a device, has the device's
 * service create a session and hands the client its end (docs/broker.md). With a channel to
 * the emulated board (HWSIM_ATTACH), it hands each device service its device's hardware
 * (GRANT) and forwards the service's DMA requests for that device only.
 *
 * Used by daemons/broker and the tests; not part of libdk. Reports go to the caller through a
 * callback (the daemon prints them); nothing here prints. Single-threaded: one thread owns a
 * struct dk_broker.
 */
#ifndef DK_BROKER_H
#define DK_BROKER_H

#include <stdint.h>

#include <dk/runtime.h>
#include <dk/time.h>

/* How long a service may take to answer SESSION before the OPEN fails with -ETIMEDOUT. */
#define DK_BROKER_SESSION_TIMEOUT_DEFAULT_NS (2 * DK_NSEC_PER_SEC)
#define DK_BROKER_SESSION_TIMEOUT_MAX_NS (60 * DK_NSEC_PER_SEC)
/* How long one policy question (connection included) may hold the loop. */
#define DK_BROKER_POLICY_TIMEOUT_NS (1 * DK_NSEC_PER_SEC)
/* How long one audit append (or reconnect) may hold the loop, and the pause after a timeout. */
#define DK_BROKER_AUDIT_TIMEOUT_NS (500 * DK_NSEC_PER_MSEC)
#define DK_BROKER_AUDIT_RETRY_NS (1 * DK_NSEC_PER_SEC)
/* Opens waiting for their service's answer: per device, and per client connection. */
#define DK_BROKER_PENDING_MAX 64u
#define DK_BROKER_CLIENT_PENDING_MAX 8u
/* KILL_CLIENTs waiting for their service's answer, per device. */
#define DK_BROKER_KILLS_MAX 8u
/* DEVICE_STATS and TRACE requests waiting for their service's answer, per device. */
#define DK_BROKER_RELAYS_MAX 8u
/* How long one request to dk-hwsim (GRANT, MAP, UNMAP, INJECT) may hold the loop. */
#define DK_BROKER_HWSIM_TIMEOUT_NS (1 * DK_NSEC_PER_SEC)

struct dk_broker_config {
	const char *socket_path;  /* required: the public socket (broker.sock) */
	const char *policyd_path; /* required: dk-policyd's socket */
	const char *logd_path;    /* NULL: no journal (every audit record counts as unaudited) */
	int control_fd;           /* the supervisor's control socket, taken over; -1: none */
	uint32_t max_clients;     /* 1..DK_BROKER_CLIENTS_MAX */
	uint64_t session_timeout_ns; /* 1 ns..DK_BROKER_SESSION_TIMEOUT_MAX_NS */
	/* Optional: called with one line of text for the operator (attach, detach, faults). */
	void (*report)(void *data, const char *line);
	void *report_data;
};

/* Counters for the operator; STATUS carries opens and denials, the rest is reported at exit. */
struct dk_broker_counters {
	uint64_t opens;              /* sessions handed out */
	uint64_t denials;            /* OPENs refused by policy (or with policy unreachable) */
	uint64_t failures;           /* OPENs allowed but failed (no device, restarting, ...) */
	uint64_t policy_unreachable; /* questions dk-policyd did not answer */
	uint64_t audited;            /* records dk-logd stored */
	uint64_t unaudited;          /* records that could not be stored */
	uint64_t refused;            /* malformed or unsupported client frames */
	uint64_t clients_refused;    /* connections closed over the client cap */
	uint64_t control_refused;    /* malformed, stale or refused supervisor messages */
	uint64_t service_refused;    /* malformed or unexpected frames from device services */
	uint64_t grants;             /* devctl GRANTs sent (hardware handed to a service) */
	uint64_t grant_failures;     /* ATTACHes whose GRANT failed (not -ENODEV) */
	uint64_t dma_maps;           /* DMA MAPs dk-hwsim did */
	uint64_t dma_unmaps;         /* DMA UNMAPs dk-hwsim did */
	uint64_t dma_refused;        /* DMA requests refused (malformed, caps, errors) */
	uint64_t hwsim_refused;      /* unexpected frames from dk-hwsim */
	uint64_t injects;            /* faults dk-hwsim injected */
	uint64_t kills;              /* sessions services ended on KILL_CLIENT */
	uint64_t relayed;            /* STATS and TRACE answers relayed (DEVICE_STATS, TRACE) */
	uint32_t clients;            /* connections now */
	uint32_t devices;            /* devices known now (any state) */
};

struct dk_broker;

/*
 * dk_broker_create - listen on cfg->socket_path (a stale socket nobody answers on is replaced,
 * a live one gives -EADDRINUSE; who can reach it is the runtime directory's business) and take
 * over cfg->control_fd (closed by dk_broker_destroy(), even when this fails). dk-policyd and
 * dk-logd are connected to on first use.
 * @ret_broker: owned by the caller until dk_broker_destroy(); written on success.
 * Returns 0; -EINVAL (bad config); -EADDRINUSE; -ENAMETOOLONG; -ENOMEM; another -errno.
 */
int dk_broker_create(const struct dk_broker_config *cfg, struct dk_broker **ret_broker);

/*
 * dk_broker_ready - tell the supervisor set-up is done (DK_SUPCTL_OP_READY on the control
 * socket), waiting for room until @deadline_ns. Call it once, after dk_broker_create().
 * Returns 0; -ENOENT (no control socket); the errors of dk_msg_send().
 */
int dk_broker_ready(struct dk_broker *b, uint64_t deadline_ns);

/*
 * dk_broker_run - serve until SIGTERM or SIGINT arrives on @signal_fd (a non-blocking signalfd
 * for at least those two, which this function reads). Sleeps in epoll_wait when idle, waking
 * only for the earliest deadline of an open in flight. Returns 0, or -errno when epoll fails.
 */
int dk_broker_run(struct dk_broker *b, int signal_fd);

/* dk_broker_counters - a copy of the counters into @ret_counters. */
void dk_broker_counters(const struct dk_broker *b, struct dk_broker_counters *ret_counters);

/*
 * dk_broker_destroy - fail every open in flight, close every connection and channel, remove the
 * socket file, free. Accepts NULL.
 */
void dk_broker_destroy(struct dk_broker *b);

#endif /* DK_BROKER_H */
