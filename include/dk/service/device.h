/* SPDX-License-Identifier: MIT */
/*
 * dk/service/device.h - what a device class implements: struct dk_device_ops (docs/service.md).
 *
 * A class fills a static const ops table and passes it to dk_svc_main(). Its device object
 * embeds struct dk_svc_device first (the class gets back to its own struct with a cast or
 * container_of). The library calls the ops on the serving thread, one at a time, never
 * re-entrantly: dk_svc_job_done() only records a completion, and whatever it causes (retire,
 * buffer_removed) runs after the op returns.
 *
 * A job's life:
 *
 *   taken -> dk_ring_check_sqe() -> validate -> [parked on input fences] -> ready (scheduler)
 *         -> submit (on the hardware; the watchdog runs) -> dk_svc_job_done() -> completed
 *         -> retire
 *
 * Every job that passed validate is retired exactly once, whatever happened to it (completed,
 * failed, cancelled, killed, lost in a reset), after the hardware no longer has it.
 *
 * Hardware contract: a job handed to submit (which returned 0) is on the hardware until the
 * class reports it with dk_svc_job_done() or the library calls reset. After reset returns the
 * class never reports a job it was given before the reset.
 */
#ifndef DK_SERVICE_DEVICE_H
#define DK_SERVICE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dk/qos.h>
#include <dk/ring.h>
#include <dk/service/service.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dk_buffer;
struct dk_fence;

/* Version 2 added irq_mask; a version-1 table (without it) is still accepted. */
#define DK_DEVICE_OPS_VERSION 2u
#define DK_SVC_HW_SLOTS_MAX 65536u   /* the most jobs a class may keep on its hardware */
#define DK_SVC_TAKE_BATCH_DEFAULT 64u /* submissions taken from one queue per pass */
#define DK_SVC_TAKE_BATCH_MAX 4096u   /* DK_RING_MAX_ENTRIES: a whole SQ */
#define DK_SVC_JOB_SCRATCH_WORDS 8u  /* u64 words of class scratch space per job */
#define DK_SVC_JOB_COST_MAX 64u      /* the largest cost validate may give a job */
/* Time limit of a job on the hardware when the class gives none (every QoS class). */
#define DK_SVC_TIME_LIMIT_DEFAULT_NS (2ull * 1000 * 1000 * 1000)

/* What happens to the innocent jobs that were on the hardware when it was reset. */
enum dk_reset_policy {
	/* Put back in front of the scheduler and submitted again, once; an innocent job caught
	 * in a second reset fails with -EIO, DK_REASON_DEVICE_RESET. For idempotent commands. */
	DK_RESET_RESUBMIT_ONCE = 1,
	/* Fail at once with -EIO, DK_REASON_DEVICE_RESET (the client decides whether to retry).
	 * For commands with side effects a second run could repeat. */
	DK_RESET_FAIL = 2,
};

/* What the class declares in probe. */
struct dk_device_caps {
	uint32_t hw_slots;     /* jobs on the hardware at once: 1..DK_SVC_HW_SLOTS_MAX */
	uint32_t reset_policy; /* enum dk_reset_policy */
	/* The longest a job may stay on the hardware, per QoS class (indexed by enum dk_qos,
	 * [0] unused); 0: DK_SVC_TIME_LIMIT_DEFAULT_NS. A job's own deadline can only shorten
	 * it. Past it, the watchdog harvests and, if the job is still not done, resets. */
	uint64_t time_limit_ns[DK_QOS_BURST + 1];
	/* The most submissions one pass takes from one queue (0: DK_SVC_TAKE_BATCH_DEFAULT, else
	 * at most DK_SVC_TAKE_BATCH_MAX). A pass hands what it took to submit, then calls commit
	 * once, so this is also how much of one client's work one commit (a doorbell) can carry.
	 * Larger batches suit hardware whose hand-over costs a wake-up (docs/service.md). */
	uint32_t take_batch;
};

/* Flags of struct dk_device_ops. */
enum dk_device_flag {
	/* The class drives hardware granted by the broker (devctl GRANT): probe is called when
	 * the grant arrives, and sessions are refused (-ENODEV) until it succeeded. Without it,
	 * probe is called at start with no hardware (a class like null). */
	DK_DEVICE_F_HARDWARE = 1u << 0,
	/* harvest only reads the device when nothing finished, and may be called whenever jobs
	 * are on the hardware: the library then polls it for a while after handing a job over
	 * instead of only waiting for the interrupt (the interrupt's two wake-ups, device ->
	 * watcher -> serving thread, are most of a short job's time). How long depends on the
	 * job's QoS: DK_SVC_POLL_NORMAL_NS for Normal, DK_SVC_POLL_BURST_NS for Burst, never
	 * for Frugal. The interrupt stays the way completions are found otherwise. */
	DK_DEVICE_F_POLL = 1u << 1,
};

/* How long the library polls a DK_DEVICE_F_POLL device after handing it a job, by QoS. */
#define DK_SVC_POLL_NORMAL_NS (50ull * 1000)
#define DK_SVC_POLL_BURST_NS (1000ull * 1000)

/* The hardware resources of devctl GRANT (dk/hwsim.h), as the library hands them to probe. */
struct dk_device_hw {
	char model[16];   /* the board's model name, e.g. "copy" */
	void *regs;       /* the register window, mapped shared read/write (never executable) */
	size_t regs_size; /* its exact size */
	int doorbell_fd;  /* eventfd: write 1 after changing registers */
	int irq_fd;       /* eventfd: the device's interrupt (the library watches it) */
	int dma_fd;       /* the "dma" socket: use dk_svc_dma_map() / dk_svc_dma_unmap() */
};

/*
 * The base of a class's device object. probe allocates the class's object, embeds this first,
 * and fills it; the library owns nothing in it but reads it.
 */
struct dk_svc_device {
	const struct dk_device_ops *ops; /* set by dk_svc_device_init() */
	struct dk_svc *svc;              /* the service the device belongs to */
	struct dk_device_caps caps;      /* filled by probe */
	/*
	 * The interrupt: an eventfd the library watches (-1: none). When it is readable the
	 * library reads it (draining the count) and calls harvest. From GRANT this is
	 * hw->irq_fd; a class without hardware may use its own (or none: it then completes jobs
	 * in submit).
	 */
	int irq_fd;
};

/* dk_svc_device_init - set up @dev's base for @ops and @svc: no interrupt, default caps. */
void dk_svc_device_init(struct dk_svc_device *dev, const struct dk_device_ops *ops,
			struct dk_svc *svc);

/*
 * A job, as the class sees it. The library owns it; the class may write only scratch[] and
 * cost (in validate), and must not keep the pointer past retire.
 */
struct dk_svc_job {
	struct dk_sqe sqe;          /* copied out of shared memory and checked: read-only */
	uint64_t session_id;
	uint32_t qos;               /* enum dk_qos: sqe.qos, or its queue's when 0 */
	uint32_t attempts;          /* submissions to the hardware so far (2 after a reset) */
	uint64_t deadline_ns;       /* sqe.deadline_ns, else taken + the QoS time limit (EDF) */
	uint64_t t_submitted_ns;    /* taken from the ring */
	uint64_t t_ready_ns;        /* inputs met */
	uint64_t t_started_ns;      /* handed to submit (latest attempt) */
	uint64_t t_completed_ns;    /* dk_svc_job_done() */
	uint64_t t_signalled_ns;    /* completion posted and output fence signalled */
	uint32_t cost;              /* deficit round-robin cost, 1..DK_SVC_JOB_COST_MAX (1) */
	uint32_t reserved;
	uint64_t scratch[DK_SVC_JOB_SCRATCH_WORDS]; /* the class's; zero when taken */
};

/*
 * The ops table of a device class. Each member is documented with when it is called, what it
 * may do and what it returns. NULL members: see each.
 */
struct dk_device_ops {
	uint32_t version;       /* DK_DEVICE_OPS_VERSION */
	uint32_t flags;         /* enum dk_device_flag */
	const char *class_name; /* as in the manifest, e.g. "null" */

	/*
	 * probe - create the device object. @hw: the granted hardware (DK_DEVICE_F_HARDWARE),
	 * else NULL. The descriptors and the mapping in @hw stay the library's (valid until
	 * destroy returned). Fill dev->caps and dev->irq_fd (dk_svc_device_init() first).
	 * Returns 0 and the device; -errno makes the service exit with status 1. Required.
	 */
	int (*probe)(struct dk_svc *svc, const struct dk_device_hw *hw,
		     struct dk_svc_device **ret_dev);
	/* destroy - stop the hardware and free the device, at exit. Every job was retired. */
	void (*destroy)(struct dk_svc_device *dev);

	/*
	 * validate - the class's checks of a job, after dk_ring_check_sqe(): opcode, param,
	 * buffer uses (dk_svc_job_buffer()). May set job->cost and job->scratch. Returns 0, or
	 * -errno: the job completes with it and reason validation-failed, which counts towards
	 * the session's kill threshold. NULL: only DK_OP_NOP with param 0 is accepted.
	 */
	int (*validate)(struct dk_svc_device *dev, struct dk_svc_job *job);

	/*
	 * buffer_added - a session registered @buffer (the class maps it into its DMA windows
	 * here, dk_svc_dma_map()). @ret_cookie: the class's value for it (an IOVA...), returned
	 * by dk_svc_job_buffer() and given to buffer_removed. Returns 0, or -errno: the
	 * registration is refused with it. NULL: cookie 0.
	 */
	int (*buffer_added)(struct dk_svc_device *dev, uint64_t session_id,
			    struct dk_buffer *buffer, uint64_t *ret_cookie);
	/*
	 * buffer_removed - @buffer is being unregistered (UNREGISTER, session end, kill): no job
	 * that names it is on the hardware any more. Undo buffer_added. NULL: nothing.
	 */
	void (*buffer_removed)(struct dk_svc_device *dev, uint64_t session_id,
			       struct dk_buffer *buffer, uint64_t cookie);

	/*
	 * submit - program the hardware with @job (fewer than caps.hw_slots jobs are on it).
	 * Returns 0: the job is on the hardware until reported with dk_svc_job_done() (which
	 * submit itself may call, for a device that completes at once); -EBUSY: the hardware
	 * cannot take it now (it goes back to the scheduler, and nothing more is submitted until
	 * a job completes); another -errno: the job fails with it, reason device-fault. Required.
	 */
	int (*submit)(struct dk_svc_device *dev, struct dk_svc_job *job);
	/*
	 * harvest - report every job the hardware finished, with dk_svc_job_done(). Called when
	 * the interrupt fired, and by the watchdog before it declares a hang (a job reported
	 * then had its interrupt lost). NULL for a class that completes every job in submit.
	 */
	void (*harvest)(struct dk_svc_device *dev);
	/*
	 * commit - the library has handed over every job of this pass (one or more submits
	 * returned 0 since the last commit): make the hardware see them, e.g. ring the doorbell
	 * once for the batch (as blk-mq's commit_rqs). Called before the serving thread polls,
	 * waits or sleeps, never inside another op. NULL: each submit starts its job itself.
	 */
	void (*commit)(struct dk_svc_device *dev);
	/*
	 * reset - stop the hardware and bring it back to a working state, forgetting every job
	 * it held (the library completes or resubmits them per caps.reset_policy). Returns 0, or
	 * -errno: the device is dead and the service exits (status 1) so that the supervisor
	 * restarts it. NULL: reset is impossible (the same as failing).
	 */
	int (*reset)(struct dk_svc_device *dev);
	/* retire - the library is done with @job: drop what validate or submit took. NULL ok. */
	void (*retire)(struct dk_svc_device *dev, struct dk_svc_job *job);

	/*
	 * irq_mask (version 2) - mask (@masked true) or unmask the device's interrupt, the way a
	 * network driver does around NAPI polling. On a DK_DEVICE_F_POLL device the library masks
	 * it before it hands over a job it will poll for (the completion is found by polling; its
	 * interrupt would only wake the watcher and the serving thread for nothing), and unmasks it
	 * when it stops polling with jobs still on the hardware, or hands over a job it will not
	 * poll for (Frugal) while no poll is under way. Masking may take effect at the next
	 * commit. Unmasking takes effect at once and raises the interrupt if a completion is
	 * pending (level-triggered), so none is missed. The interrupt is unmasked after probe and
	 * after reset. NULL: the interrupt stays on while the library polls.
	 */
	void (*irq_mask)(struct dk_svc_device *dev, bool masked);
};

/*
 * dk_svc_job_done - the hardware finished @job (from submit or harvest): @status 0 or -errno,
 * @reason (enum dk_reason, DK_REASON_NONE with status 0, e.g. DK_REASON_DEVICE_FAULT), and the
 * command's @result. The output fence is signalled (or failed) and the completion posted at
 * once; a job of a killed session is only retired (its completion was posted at the kill).
 * The class must not use @job afterwards (a class without retire: it may be freed at once).
 * Returns 0; -EINVAL for a job that is not on the hardware (reported twice, or given before a
 * reset): nothing happens then.
 */
int dk_svc_job_done(struct dk_svc *svc, struct dk_svc_job *job, int status, uint32_t reason,
		    uint64_t result);

/*
 * dk_svc_job_buffer - the buffer job->sqe.buf[@i] names (checked: registered, rights, slice)
 * and the class's cookie for it. Valid in validate and until the job is retired.
 * Returns 0; -EINVAL for @i >= sqe.n_buffers; -EBADF (cannot happen for a checked job).
 */
int dk_svc_job_buffer(const struct dk_svc_job *job, uint32_t i, struct dk_buffer **ret_buffer,
		      uint64_t *ret_cookie);

/*
 * dk_svc_job_fence - a fence registered in the job's session, for a class command that names
 * one (e.g. in sqe.param), looked up for @rights. Owned by the session: take a reference
 * (dk_fence_ref()) to use it past the op, and drop it in retire. Registrations cannot go
 * while the session has jobs, so the fence stays registered until the job is retired.
 * Returns 0; -EBADF (not a registered fence); -EPERM (rights).
 */
int dk_svc_job_fence(const struct dk_svc_job *job, uint32_t index, uint32_t rights,
		     struct dk_fence **ret_fence);

/*
 * dk_svc_dma_map - map [@offset, @offset + @length) of @buffer into the device's DMA windows
 * with @access (DK_DMA_READ/WRITE of dk/hwsim.h), through the broker (the GRANT's "dma"
 * socket); waits for the answer until @deadline_ns. Returns 0 and the IOVA; -ENODEV without
 * granted hardware; the broker's or dk-hwsim's refusal; -ETIMEDOUT.
 */
int dk_svc_dma_map(struct dk_svc *svc, struct dk_buffer *buffer, uint32_t access,
		   uint64_t offset, uint64_t length, uint64_t deadline_ns, uint64_t *ret_iova);

/* dk_svc_dma_unmap - remove the window at @iova. Returns 0 or -errno as dk_svc_dma_map(). */
int dk_svc_dma_unmap(struct dk_svc *svc, uint64_t iova, uint64_t deadline_ns);

/* dk_svc_device - the device object probe returned (NULL before). */
struct dk_svc_device *dk_svc_device(const struct dk_svc *svc);

#ifdef __cplusplus
}
#endif

#endif /* DK_SERVICE_DEVICE_H */
