/* SPDX-License-Identifier: MIT */
/*
 * service-internal.h - the state of a device service (libdk-service) shared by its files:
 *
 *   main.c      dk_svc_main(), the serving loop, the watcher thread, the broker channel
 *   session.c   session requests, session end, kill
 *   job.c       taking jobs, input fences, completion, retirement, the job accessors
 *   sched.c     ready queues, QoS weighted round-robin, deficit round-robin, EDF, dispatch
 *   watchdog.c  time limits, lost interrupts, device reset
 *   stats.c     counters, the trace ring, the journal
 *
 * Everything here is owned by the serving thread, except the fields marked as shared with
 * the watcher thread.
 */
#ifndef DK_SERVICE_INTERNAL_H
#define DK_SERVICE_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <dk/dk.h>
#include <dk/log.h>
#include <dk/service/device.h>
#include <dk/service/service.h>

#define CTL_DEADLINE_NS (2 * DK_NSEC_PER_SEC) /* a control reply or call */
#define IDLE_NS DK_NSEC_PER_SEC               /* longest sleep; parked jobs re-checked then */
#define PARKED_POLL_NS (1 * DK_NSEC_PER_MSEC) /* re-check when a fence could not be watched */
#define SVC_QUEUES_MAX DK_RING_WAIT_MAX
#define SVC_BATCH 64u /* submissions one dk_ring_consume() takes (a pass: v->take_batch) */
#define QOS_N (DK_QOS_BURST + 1) /* arrays indexed by enum dk_qos; [0] unused */
#define LATENCY_SAMPLES 64u /* per session: submitted -> signalled of its latest completed jobs */

/* Event ids in the epoll set (sessions use their index, below DK_SERVICE_SESSIONS_MAX). */
#define EV_SIGNAL UINT64_MAX
#define EV_BROKER (UINT64_MAX - 1)
#define EV_IRQ (UINT64_MAX - 2)
#define EV_TIMER (UINT64_MAX - 3)
#define EV_FENCE (UINT64_MAX - 4)

/* An intrusive circular list; a head is a node whose next/prev point at itself when empty. */
struct list {
	struct list *prev, *next;
};

#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void list_init(struct list *h)
{
	h->prev = h->next = h;
}

static inline bool list_empty(const struct list *h)
{
	return h->next == h;
}

static inline void list_add_tail(struct list *h, struct list *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_add_head(struct list *h, struct list *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

enum job_state {
	JOB_FREE = 0,
	JOB_NEW,     /* taken, being checked */
	JOB_PARKED,  /* waiting for an input fence (svc.parked) */
	JOB_READY,   /* in its session's ready heap */
	JOB_HW,      /* on the hardware (svc.hw_jobs) */
	JOB_RETIRED, /* done with; retire is due (svc.retired) */
};

struct session;
struct squeue;
struct fwatch;

struct job {
	struct dk_svc_job pub; /* first: the class's view */
	uint64_t ticket;     /* in its queue */
	uint32_t slot, gen;  /* its ring slot (struct dk_ring_job) */
	struct session *s;
	struct squeue *q;    /* NULL once the completion is posted */
	struct list qlink;   /* in q->jobs while q is set */
	struct list link;    /* svc.parked, svc.hw, svc.retired or the free list */
	struct fwatch *watch; /* JOB_PARKED: the fence watched for it, or NULL (polled) */
	uint64_t seq;        /* take order: EDF ties go first come, first served */
	uint64_t expiry_ns;  /* JOB_HW: the watchdog's limit */
	uint32_t heap_pos;   /* JOB_READY */
	uint32_t queue_id;
	int32_t cancel_status; /* posted (zombie): what its output fence gets when off the hw */
	uint32_t cancel_reason;
	uint8_t state;       /* enum job_state */
	uint8_t wait_i;      /* JOB_PARKED: the entry of sqe.wait[] it waits on */
	bool validated;      /* the class's validate accepted it: retire is owed */
	bool posted;         /* on the hardware with its completion already posted (cancelled) */
	bool suspect;        /* past its time limit; the watchdog is harvesting */
};

static inline struct job *job_of(const struct dk_svc_job *pub)
{
	return (struct job *)pub;
}

/* A registered fence with a poll descriptor in the epoll set, for the jobs parked on it. */
struct fwatch {
	struct dk_fence *fence; /* the session's (registered while jobs wait) */
	int fd;                 /* its poll fd (the fence's) while watched, else -1 */
	uint32_t n_jobs;
};

/* A registered buffer and the class's cookie for it, by handle-table slot. */
struct sbuf {
	struct dk_buffer *buffer; /* NULL: free */
	uint32_t index;
	uint64_t cookie;
	uint64_t size;
};

/* One session's ready jobs of one QoS class: an EDF heap and its deficit round-robin state. */
struct sclass {
	struct job **heap;
	uint32_t n, cap, reserved;
	uint32_t deficit;
	bool turn;      /* its turn has started (the quantum was added) */
	bool active;    /* in svc.drr[qos] */
	struct list link;
};

enum session_state {
	SESSION_FREE = 0,
	SESSION_LIVE,
	SESSION_DRAINING, /* ended; waiting for its jobs to leave the hardware */
};

struct session {
	uint8_t state;
	bool send_failed;  /* a reply could not be sent: the session ends */
	bool kill_pending; /* killed at the next safe point (threshold reached) */
	int fd;
	uint64_t id;
	uint32_t pid, uid, gid;
	uint32_t rights, qos, max_buffers, max_inflight, max_fences;
	uint64_t max_bytes;
	uint32_t weight; /* deficit round-robin quantum (equal for all: 1) */
	struct dk_htable *table;
	struct dk_budget *budget;
	uint32_t capacity; /* of the table: slots of bufs[] and watches[] */
	struct sbuf *bufs;
	struct fwatch *watches;
	uint32_t n_buffers, n_fences, next_queue_id;
	uint32_t inflight; /* taken, completion not posted */
	uint32_t n_jobs;   /* job structs alive (inflight + cancelled on the hardware + retiring) */
	uint32_t n_zombies; /* cancelled, still on the hardware */
	uint64_t completed, refused, violations;
	uint32_t kill_threshold; /* violations that kill the session automatically; 0: never */
	uint64_t latency_ns[LATENCY_SAMPLES]; /* a ring, by completed % LATENCY_SAMPLES */
	struct squeue *queues[DK_SESSION_QUEUES_MAX];
	struct sclass cls[QOS_N];
};

struct squeue {
	struct dk_ring *ring;
	struct session *s;
	uint32_t id;
	uint32_t qos;
	uint64_t tag; /* its completion fence's tag in the supervisor's registry */
	struct list jobs; /* taken, completion not posted */
	bool dirty;       /* completions posted since the last publish */
	bool broken;      /* reported once */
};

struct dk_svc {
	const struct dk_device_ops *ops;
	struct dk_svc_device *dev; /* NULL until probed */
	uint32_t take_batch;       /* per queue and pass: caps.take_batch, else the default */
	struct dk_device_hw hw;
	bool have_hw;
	int epfd, sigfd, broker_fd, timerfd;
	uint64_t generation, next_tag, next_seq;
	uint32_t kill_threshold;
	char device[DK_RT_NAME_MAX + 1];
	struct dk_buffer_registry *registry;
	struct dk_log_client *log;
	struct session sessions[DK_SERVICE_SESSIONS_MAX];
	struct dk_ring *rings[SVC_QUEUES_MAX];
	struct squeue *ring_q[SVC_QUEUES_MAX];
	uint32_t n_rings;

	/* Jobs. */
	struct list free_jobs, parked, hw_jobs, retired;
	void **chunks;
	uint32_t n_chunks;
	uint32_t n_parked_polled; /* parked without a watch: re-checked every PARKED_POLL_NS */
	uint32_t n_ready, n_hw;
	uint32_t n_ready_qos[QOS_N];
	struct list drr[QOS_N]; /* sessions with ready jobs of that class, round-robin order */
	int64_t swrr[QOS_N];    /* smooth weighted round-robin between the classes */
	bool hw_busy;           /* submit said -EBUSY: nothing more until a completion */
	uint32_t in_op;         /* inside a device op: retirement waits */
	uint64_t timer_ns;      /* the watchdog timer's expiry, 0 when disarmed */
	uint64_t now_hint;      /* during a dispatch: its clock reading, for completions */
	uint64_t poll_until;    /* DK_DEVICE_F_POLL: harvest by polling until then (0: not) */
	unsigned int poll_steps; /* dk_spin_step() between polls */
	bool uncommitted;       /* a submit took a job since the class's last commit */
	bool irq_masked;        /* the class's irq_mask(true) is in force */
	void (*irq_mask)(struct dk_svc_device *dev, bool masked); /* ops->irq_mask (v2) or NULL */
	uint64_t limit_ns[QOS_N]; /* the time limits of the QoS classes (caps, or the default) */
	uint32_t n_kill_pending;

	struct dk_svc_stats st;
	struct dk_svc_trace_record trace[DK_SVC_TRACE_RECORDS];
	uint64_t trace_seq;

	bool stop;
	int exit_status;
	/* Shared with the watcher thread. */
	uint32_t wake;
	_Atomic uint32_t ctl_pending;
	_Atomic uint32_t fence_event;
	_Atomic bool quit;
	struct dk_msg msg;
	struct dk_msg dma_msg;
};

/* The time limit of a job of class @qos on the hardware. */
static inline uint64_t svc_time_limit(const struct dk_svc *v, uint32_t qos)
{
	return v->limit_ns[qos < QOS_N ? qos : 0];
}

/* stats.c */
void svc_log(struct dk_svc *v, enum dk_log_severity sev, const char *scope, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void svc_trace(struct dk_svc *v, const struct job *j, int status, uint32_t reason);
int svc_stats_reply(struct dk_svc *v, const struct dk_frame *f);
int svc_trace_reply(struct dk_svc *v, const struct dk_frame *f);

/* job.c */
int svc_jobs_init(struct dk_svc *v);
void svc_jobs_finish(struct dk_svc *v);
int svc_take(struct dk_svc *v, struct squeue *q);
void svc_parked_recheck(struct dk_svc *v, uint64_t now, uint64_t *ret_next_deadline);
void svc_post(struct dk_svc *v, struct job *j, int status, uint32_t reason, uint64_t result,
	      uint64_t now);
void svc_signal_out(struct dk_svc *v, struct job *j, int status, uint32_t reason);
void svc_cancel(struct dk_svc *v, struct job *j, int status, uint32_t reason, uint64_t now);
void svc_retire_later(struct dk_svc *v, struct job *j);
void svc_retire_all_slow(struct dk_svc *v);
void svc_violation(struct dk_svc *v, struct session *s);

/* svc_retire_all - retire what is due, unless inside a device op (then at its end). */
static inline void svc_retire_all(struct dk_svc *v)
{
	if (!v->in_op && !list_empty(&v->retired))
		svc_retire_all_slow(v);
}

/* Around every call of a device op: the class is never re-entered. */
static inline void svc_op_enter(struct dk_svc *v)
{
	v->in_op++;
}

static inline void svc_op_exit(struct dk_svc *v)
{
	v->in_op--;
	svc_retire_all(v);
}

/* svc_commit - a submit took a job since the last commit: the class's commit, if any. */
static inline void svc_commit(struct dk_svc *v)
{
	if (v->uncommitted && !v->in_op) {
		v->uncommitted = false;
		if (v->ops->commit) {
			svc_op_enter(v);
			v->ops->commit(v->dev);
			svc_op_exit(v);
		}
	}
}

/*
 * svc_irq_mask - mask or unmask the device's interrupt through the class's irq_mask (when it
 * has one and the state changes). Only from the serving thread's own steps, never inside an op.
 */
static inline void svc_irq_mask(struct dk_svc *v, bool masked)
{
	if (!v->irq_mask || v->irq_masked == masked || !v->dev)
		return;
	v->irq_masked = masked;
	svc_op_enter(v);
	v->irq_mask(v->dev, masked);
	svc_op_exit(v);
}

/* sched.c */
int sclass_reserve(struct sclass *c, uint32_t n);
void sclass_unreserve(struct sclass *c, uint32_t n);
void sched_push(struct dk_svc *v, struct job *j);
void sched_remove(struct dk_svc *v, struct job *j);
void sched_ready(struct dk_svc *v, struct job *j, uint64_t now);
void sched_dispatch(struct dk_svc *v);

/* watchdog.c */
void wd_arm(struct dk_svc *v, uint64_t expiry_ns);
void wd_fire(struct dk_svc *v);
void svc_reset(struct dk_svc *v, uint32_t reason);

/* session.c */
void session_readable(struct dk_svc *v, struct session *s);
int session_new(struct dk_svc *v, struct dk_msg *m);
void session_end(struct dk_svc *v, struct session *s, uint32_t reason, bool killed);
void session_kill(struct dk_svc *v, struct session *s, uint32_t reason);
void session_finalize(struct dk_svc *v, struct session *s);
void svc_publish(struct dk_svc *v);

#endif /* DK_SERVICE_INTERNAL_H */
