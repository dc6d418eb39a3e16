/* SPDX-License-Identifier: MIT */
/*
 * watchdog.c - time limits of jobs on the hardware, lost interrupts, device reset
 * (docs/service.md, "Watchdog and reset").
 *
 * Every job handed to the hardware gets an expiry: the start plus its QoS class's time limit
 * (caps.time_limit_ns), or its own deadline when that is earlier. One timerfd is armed at the
 * earliest expiry (and at the earliest deadline of a parked job). When it fires:
 *
 *  1. the jobs past their expiry are marked suspect and the class harvests: a suspect job it
 *     reports done had finished without its interrupt (lost-irq: counted, journalled
 *     "service.lost-irq", completed as reported);
 *  2. if suspects remain, the device hangs: reset. The guilty jobs fail with -EIO, reason
 *     hang (a violation of their session), the innocent ones on the hardware are resubmitted
 *     once or failed with -EIO, reason device-reset (caps.reset_policy); jobs of killed
 *     sessions are dropped. Journal: "service.reset" (AUDIT). A reset that fails stops the
 *     service (exit status 1): the supervisor restarts it and its reaper fails what is left.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "service-internal.h"

static void timer_set(struct dk_svc *v, uint64_t at_ns)
{
	struct itimerspec its = {0};

	if (at_ns) {
		its.it_value.tv_sec = (time_t)(at_ns / DK_NSEC_PER_SEC);
		its.it_value.tv_nsec = (long)(at_ns % DK_NSEC_PER_SEC);
	}
	timerfd_settime(v->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
	v->timer_ns = at_ns;
}

/* wd_arm - make sure the timer fires no later than @expiry_ns. */
void wd_arm(struct dk_svc *v, uint64_t expiry_ns)
{
	if (!expiry_ns)
		expiry_ns = 1; /* a timerfd value of 0 disarms it */
	if (!v->timer_ns || expiry_ns < v->timer_ns)
		timer_set(v, expiry_ns);
}

/* Arm the timer for the earliest expiry on the hardware and @parked_ns, or disarm it. */
static void rearm(struct dk_svc *v, uint64_t parked_ns)
{
	uint64_t next = parked_ns;

	for (struct list *n = v->hw_jobs.next; n != &v->hw_jobs; n = n->next) {
		struct job *j = list_entry(n, struct job, link);

		if (j->expiry_ns < next)
			next = j->expiry_ns;
	}
	timer_set(v, next == UINT64_MAX ? 0 : next ? next : 1);
}

static const char *policy_name(uint32_t policy)
{
	return policy == DK_RESET_RESUBMIT_ONCE ? "resubmit-once" : "fail";
}

/*
 * svc_reset - reset the device and settle every job that was on it. The suspect jobs are the
 * guilty ones when @reason is DK_REASON_HANG.
 */
void svc_reset(struct dk_svc *v, uint32_t reason)
{
	uint32_t guilty = 0, resubmitted = 0, failed = 0, dropped = 0;
	uint64_t guilty_session = 0, now;
	int err = -EOPNOTSUPP;

	if (v->ops->reset) {
		svc_op_enter(v);
		err = v->ops->reset(v->dev);
		svc_op_exit(v);
	}
	v->irq_masked = false; /* a reset leaves the interrupt unmasked */
	v->st.resets++;
	v->hw_busy = false;
	now = dk_now_ns();
	while (!list_empty(&v->hw_jobs)) {
		struct job *j = list_entry(v->hw_jobs.next, struct job, link);
		struct session *s = j->s;

		list_del(&j->link);
		v->n_hw--;
		if (j->posted) {
			/* Its session was killed or its queue destroyed: nobody waits for it. */
			svc_signal_out(v, j, j->cancel_status, j->cancel_reason);
			s->n_zombies--;
			dropped++;
			svc_retire_later(v, j);
		} else if (j->suspect && reason == DK_REASON_HANG) {
			guilty++;
			if (!guilty_session)
				guilty_session = s->id;
			v->st.hangs++;
			svc_violation(v, s);
			j->state = JOB_NEW;
			svc_post(v, j, -EIO, DK_REASON_HANG, 0, now);
			svc_retire_later(v, j);
		} else if (err == 0 && v->dev->caps.reset_policy == DK_RESET_RESUBMIT_ONCE &&
			   j->pub.attempts < 2 && !v->stop) {
			resubmitted++;
			v->st.resubmitted++;
			j->suspect = false;
			sched_push(v, j);
		} else {
			failed++;
			j->state = JOB_NEW;
			svc_post(v, j, -EIO,
				 err == 0 ? DK_REASON_DEVICE_RESET : DK_REASON_DEVICE_FAULT, 0,
				 now);
			svc_retire_later(v, j);
		}
	}
	svc_log(v, DK_LOG_AUDIT, "service.reset",
		"device=%s reason=%s result=%s guilty=%u guilty_session=%" PRIu64
		" innocents=%s resubmitted=%u failed=%u dropped=%u",
		v->device, dk_reason_name(reason), err == 0 ? "ok" : dk_strerror(err), guilty,
		guilty_session, policy_name(v->dev->caps.reset_policy), resubmitted, failed,
		dropped);
	if (err < 0 && reason != DK_REASON_SHUTDOWN) {
		/* The device cannot be brought back: let the supervisor restart the service. */
		v->stop = true;
		v->exit_status = 1;
	}
	svc_retire_all(v);
}

/* wd_fire - the timer fired: parked deadlines, then the jobs past their time limit. */
void wd_fire(struct dk_svc *v)
{
	uint64_t ticks, now, parked_next = UINT64_MAX;
	uint32_t suspects = 0;

	if (read(v->timerfd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return; /* re-armed since it fired */
	v->timer_ns = 0;
	now = dk_now_ns();
	svc_parked_recheck(v, now, &parked_next);
	for (struct list *n = v->hw_jobs.next; n != &v->hw_jobs; n = n->next) {
		struct job *j = list_entry(n, struct job, link);

		if (j->expiry_ns <= now) {
			j->suspect = true;
			suspects++;
		}
	}
	if (suspects && v->ops->harvest) {
		svc_op_enter(v);
		v->ops->harvest(v->dev);
		svc_op_exit(v);
	}
	suspects = 0;
	for (struct list *n = v->hw_jobs.next; n != &v->hw_jobs; n = n->next)
		suspects += list_entry(n, struct job, link)->suspect;
	if (suspects)
		svc_reset(v, DK_REASON_HANG);
	rearm(v, parked_next);
}
