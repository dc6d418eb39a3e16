/* SPDX-License-Identifier: MIT */
/*
 * test-dev.h - the command set of dk-test-dev, the device class the service tests drive
 * (tests/service/dk-test-dev.c), shared by the device and the tests.
 *
 * Its "hardware" is emulated in the service process: a job runs until its command says it is
 * done, so that a test decides when each job completes, hangs or loses its interrupt, and
 * never waits for time to pass. Results: (attempts << 32) | the order in which the hardware
 * finished it (1, 2, ... over the service's life), except TD_OP_STAT.
 *
 * Its interrupt can be masked (irq_mask; only a DK_DEVICE_F_POLL device, TD_ENV_POLL, is ever
 * masked by the library): while masked, an interrupt the hardware would raise is held pending
 * and written when it is unmasked, unless a harvest took every finished job first
 * (level-triggered: the line is up while a finished job is unreported).
 */
#ifndef DK_TEST_DEV_H
#define DK_TEST_DEV_H

/* Commands (struct dk_sqe.opcode). */
enum td_op {
	TD_OP_NOP = 0,      /* finishes at once, interrupt raised */
	TD_OP_HOLD = 1,     /* param: fence index (low 32 bits) | point (high 32): finishes when
			     * that registered fence reaches the point, interrupt raised */
	TD_OP_HANG = 2,     /* never finishes: only a reset takes it off */
	TD_OP_LOST_IRQ = 3, /* finishes at once, but no interrupt is raised */
	TD_OP_STAT = 4,     /* param: enum td_stat; result: that counter, read in submit */
	TD_OP_FAIL = 5,     /* finishes at once with a device fault (-EIO, device-fault) */
};
#define TD_OP_COUNT 6u

/* Counters TD_OP_STAT reads: the library's (dk_svc_stats()) and the device's. */
enum td_stat {
	TD_STAT_SESSIONS = 0,
	TD_STAT_BUFFERS = 1,      /* registered, all sessions */
	TD_STAT_BYTES = 2,
	TD_STAT_KILLS = 3,
	TD_STAT_RESETS = 4,
	TD_STAT_HANGS = 5,
	TD_STAT_LOST_IRQS = 6,
	TD_STAT_RESUBMITTED = 7,
	TD_STAT_VIOLATIONS = 8,
	TD_STAT_REMOVED = 9,      /* buffer_removed calls */
	TD_STAT_BAD_REMOVALS = 10, /* buffer_removed while a job naming it was on the hardware */
	TD_STAT_DEV_RESETS = 11,  /* reset calls the device saw */
	TD_STAT_TRACE = 12,       /* trace records readable (dk_svc_trace_read()) */
	TD_STAT_FENCE_WAKEUPS = 13,
	TD_STAT_RETIRED = 14,     /* retire calls */
	TD_STAT_BUSY = 15,        /* submits answered -EBUSY */
	TD_STAT_COMMITS = 16,     /* commit calls */
	TD_STAT_IRQS = 17,        /* interrupts written (not those held while masked) */
	TD_STAT_MASKED = 18,      /* 1 while the library has the interrupt masked, else 0 */
	TD_STAT_MASK_CALLS = 19,  /* irq_mask calls */
	/* Jobs validated while masked and handed to submit unmasked: the library unmasked to
	 * hand them over (not, say, because a poll ended before they were taken). */
	TD_STAT_HANDOVER_UNMASKS = 20,
};
#define TD_STAT_COUNT 21u

#define TD_RESULT_SEQ(r) ((r) & 0xffffffffu)
#define TD_RESULT_ATTEMPTS(r) ((r) >> 32)

/* Environment of dk-test-dev. */
#define TD_ENV_SLOTS "DK_TESTDEV_SLOTS"   /* hardware slots, 1..64 (default 1) */
#define TD_ENV_LIMITS "DK_TESTDEV_LIMITS" /* "frugal,normal,burst" time limits in ms */
#define TD_ENV_RESET "DK_TESTDEV_RESET"   /* "resubmit" (default) or "fail" */
/* Slots the hardware really has (default: all it declares); past them submit says -EBUSY. */
#define TD_ENV_REAL_SLOTS "DK_TESTDEV_REAL_SLOTS"
/* Set (any value): the class says DK_DEVICE_F_POLL (its harvest may be polled). */
#define TD_ENV_POLL "DK_TESTDEV_POLL"
/* caps.take_batch as given (default 0: the library's 64), not range-checked here: the
 * library's probe check is under test too. */
#define TD_ENV_TAKE_BATCH "DK_TESTDEV_TAKE_BATCH"
#define TD_SLOTS_MAX 64u

#endif /* DK_TEST_DEV_H */
