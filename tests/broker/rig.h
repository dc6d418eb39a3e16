/* SPDX-License-Identifier: MIT */
/*
 * rig.h - the broker tests' harness: dk-logd, dk-policyd and dk-broker as processes in a
 * mkdtemp runtime directory (paths to the binaries in $DK_LOGD, $DK_POLICYD, $DK_BROKER), the
 * test as the broker's supervisor (the other end of its control socket), as dk-hwsim (the
 * other end of the channel in HWSIM_ATTACH) and as its device services (the other end of each
 * channel, and of the DMA socket in GRANT), a client speaking the broker protocol frame by
 * frame, and journal queries. Every helper asserts with cmocka (include <cmocka.h> first) and
 * every wait has a deadline.
 *
 * The policy every rig starts with (uid: the test's):
 *   svc-null       service dk-null drives class null       (read, write, map, wait, signal)
 *   svc-gpu        service dk-null drives class gpu
 *   me-null        uid may open class null                 (read, map, wait; frugal; 1M/2/1/3)
 *   me-ghost       uid may open device ghost0               (never attached)
 *   me-not-secret  uid may not open device secret0          (deny rule)
 * Nothing else: the uid may not open gpu devices (no rule), service "rogue" may drive nothing.
 */
#ifndef DK_TEST_BROKER_RIG_H
#define DK_TEST_BROKER_RIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <dk/hwsim.h>
#include <dk/log.h>
#include <dk/msg.h>
#include <dk/runtime.h>
#include <dk/time.h>

#define DEADLINE() dk_deadline_in(30 * DK_NSEC_PER_SEC)
#define NOBODY 65534u

struct rig {
	char dir[64];
	char logd_sock[128], jdir[128], policyd_sock[128], broker_sock[128], policy[128];
	char errlog[128]; /* stderr of every daemon of the rig */
	pid_t logd, policyd, broker; /* 0: not running */
	int ctl;                     /* our end of the broker's control socket; -1: none */
};

/* ---- processes ---- */

/* fork+exec @argv with fd 3 a pipe and stderr appended to @errlog; wait for its READY line. */
pid_t spawn_ready(char **argv, const char *errlog);

/* Make the directory and write the policy; skips the test when the binaries are not given. */
void rig_init(struct rig *R);
void start_logd(struct rig *R);
void start_policyd(struct rig *R); /* journalling to the rig's dk-logd */

/*
 * Start dk-broker --runtime-dir with its control socket as fd 3, named by --control-fd or
 * (@via_env) by $DK_SUPERVISOR_FD; up to two extra arguments. Returns once READY came on it.
 */
void start_broker(struct rig *R, bool via_env, const char *extra1, const char *extra2);

/* rig_init, then dk-logd, dk-policyd and dk-broker (under --control-fd). */
void rig_start(struct rig *R, const char *extra1, const char *extra2);

/* SIGTERM what runs (each must exit 0 and remove its socket), remove the directory. */
void rig_stop(struct rig *R);

/* The daemons' stderr so far into @buf (NUL-terminated). */
void read_errlog(struct rig *R, char *buf, size_t size);

/* ---- the supervisor's side ---- */

/* ATTACH @device of class @cls driven by @service (pid 4000 + @generation); our channel end. */
int attach(struct rig *R, const char *service, const char *device, const char *cls,
	   uint64_t generation);

/* DETACH @device at @generation with @state (RESTARTING or FAILED). */
void detach(struct rig *R, const char *device, uint64_t generation, uint32_t state);

/* Wait until the broker closed the channel whose end we hold in @chan, then close it. */
void assert_channel_closed(int chan);

/* HWSIM_ATTACH of dk-hwsim start @generation (pid 5000 + @generation); our end of the channel. */
int hwsim_attach(struct rig *R, uint64_t generation);

/* ---- dk-hwsim's side ---- */

/* A request as dk-hwsim sees it. */
struct hwsim_req {
	uint16_t opcode;
	uint64_t seq;
	char device[DK_RT_NAME_MAX + 1];
	uint32_t a, b; /* MAP: access, reserved; INJECT: fault, reserved */
	uint64_t x, y; /* MAP: offset, length; UNMAP: iova */
	int fd;        /* MAP: the buffer (the caller closes it); otherwise -1 */
};

/* Receive the next request on @hw; it must be @opcode, with every field as the protocol says. */
void hwsim_take(int hw, uint16_t opcode, struct hwsim_req *q);

/* The resources a GRANT answer hands out; the copies we keep, to check them. */
struct hwsim_res {
	int regs, doorbell, irq;
};

/* Answer GRANT @q: a register window memfd of @regs_size bytes, two eventfds, model @model.
 * @ret (optional): our copies (the caller closes them); else they are closed. */
void hwsim_grant(int hw, const struct hwsim_req *q, uint32_t regs_size, const char *model,
		 struct hwsim_res *ret);

/* Answer @q: success with @len bytes of @p when @err is 0, else an error reply (reason @reason). */
void hwsim_answer(int hw, const struct hwsim_req *q, int err, uint32_t reason, const void *p,
		  size_t len);

/* Answer MAP @q with @iova. */
void hwsim_answer_iova(int hw, const struct hwsim_req *q, uint64_t iova);

/* Nothing is waiting on @hw: the broker forwarded nothing. */
void hwsim_quiet(int hw);

/* ---- a device service's side ---- */

/* A SESSION request as the service sees it. */
struct session_req {
	uint64_t seq, id;
	uint32_t pid, uid, gid, rights, qos, max_buffers, max_inflight, max_fences;
	uint32_t max_violations; /* the kill threshold; DK_SESSION_MAX_VIOLATIONS_UNSET: none */
	uint64_t max_bytes;
	int fd; /* the service's end of the session: the caller closes it */
};

/* Receive the next SESSION on @chan (it must be one, with one descriptor, of the length of a
 * SESSION with a kill threshold and its reserved word 0). */
void service_take(int chan, struct session_req *s);

/* Answer @s: success when @err is 0, else an error reply (reason none). */
void service_answer(int chan, const struct session_req *s, int err);

/* Tell the broker session @session_id ended. */
void service_end(int chan, uint64_t session_id);

/* A devctl GRANT as the service sees it; the caller closes the descriptors. */
struct grant {
	uint32_t regs_size;
	char model[DK_RT_HWSIM_MODEL_MAX + 1];
	int regs, doorbell, irq, dma;
};

/* Receive the next frame on @chan: it must be GRANT, with its four descriptors. */
void service_take_grant(int chan, struct grant *g);

/*
 * ATTACH @device (as attach()) while we are dk-hwsim on @hw: answer its GRANT with a "copy"
 * window of 4096 bytes and take the service's GRANT into @g. Returns our end of the channel.
 */
int attach_granted(struct rig *R, int hw, const char *device, uint64_t generation,
		   struct grant *g);

/* Send a DMA MAP (descriptor @fd unless it is -1) or UNMAP on @dma; returns the seq. */
uint64_t dma_map_send(int dma, uint32_t access, uint64_t offset, uint64_t length, int fd);
uint64_t dma_unmap_send(int dma, uint64_t iova);

/* The answer to DMA request (@opcode, @seq): 0 (and the IOVA of a MAP), or the error. */
int dma_recv(int dma, uint16_t opcode, uint64_t seq, uint64_t *ret_iova, uint32_t *reason);

/* A KILL_SESSION as the service sees it: its seq, the session and the reason. */
void service_take_kill(int chan, uint64_t *ret_seq, uint64_t *ret_session, uint32_t *ret_reason);

/* Answer KILL_SESSION @seq: empty when @err is 0, else an error reply. */
void service_answer_kill(int chan, uint64_t seq, int err);

/* A STATS or TRACE as the service sees it (@opcode): its seq, and TRACE's after_seq. */
void service_take_relay(int chan, uint16_t opcode, uint64_t *ret_seq, uint64_t *ret_after_seq);

/* Answer STATS or TRACE @seq: @len bytes of @p when @err is 0, else an error reply (@reason). */
void service_answer_relay(int chan, uint16_t opcode, uint64_t seq, int err, uint32_t reason,
			  const void *p, size_t len);

/* ---- the client's side ---- */

/* A connection to the rig's broker.sock. */
int bconnect(struct rig *R);

/* Send a request with a fresh seq; returns the seq. */
uint64_t request(int fd, uint16_t opcode, const void *p, size_t len);
uint64_t open_send(int fd, const char *device);
uint64_t inject_send(int fd, const char *device, uint32_t fault);
uint64_t kill_send(int fd, const char *device, uint64_t session_id);
uint64_t stats_send(int fd, const char *device);
uint64_t trace_send(int fd, const char *device, uint64_t after_seq);

/* The reply to (@opcode, @seq): 0 with @m filled, or the error (and its @reason). */
int reply_recv(int fd, uint16_t opcode, uint64_t seq, struct dk_msg *m, uint32_t *reason);

/* The answer to OPEN @seq: 0 with the grant and the session socket (*@ret_fd), or the error. */
int open_recv(int fd, uint64_t seq, struct dk_session_grant *g, int *ret_fd, uint32_t *reason);

/* An OPEN refused before any service is asked: its error. */
int open_error(int fd, const char *device, uint32_t *reason);

/* An OPEN the service (@chan) accepts: the grant, the client's end, what the service saw. */
void open_ok(int fd, int chan, const char *device, struct dk_session_grant *g,
	     int *ret_client_end, struct session_req *s);

struct list_entry {
	char device[DK_RT_NAME_MAX + 1], cls[DK_RT_NAME_MAX + 1];
	uint64_t generation;
	uint32_t state;
};

/* LIST: the number of entries (at most @max, into @e), or the error (reason policy). */
int list(int fd, struct list_entry *e, uint32_t max);

/* STATUS (through dk_broker_status()) of one device, which must be known. */
void status_of(struct rig *R, const char *device, struct dk_device_status *ret);

/* Send @len raw bytes as one record, with descriptor @pass_fd unless it is -1. */
void raw_send(int fd, const void *bytes, size_t len, int pass_fd);

/* The error of the reply to a raw request (@opcode, @seq), whose reason must be protocol. */
int raw_error(int fd, uint16_t opcode, uint64_t seq);

/* ---- the journal ---- */

/* Whether @fields holds the whole pair @kv. */
bool has_field(const char *fields, const char *kv);

/*
 * The number of audit records of @scope with @message whose fields hold every key=value pair
 * of the NULL-terminated list that follows; the last match into @ret (optional).
 */
int audit_count(struct rig *R, const char *scope, const char *message,
		struct dk_log_record *ret, ...);

/* "uid=N" for the test's uid. Static buffer. */
const char *kv_uid(void);

#endif /* DK_TEST_BROKER_RIG_H */
