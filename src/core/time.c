/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <time.h>

#include <dk/time.h>

uint64_t dk_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * DK_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__)
#include <x86intrin.h>

/*
 * The fast clock (dk_now_fast_ns()), per thread, so it needs no lock and no shared line:
 *   ns = ns_base + ((tsc - tsc_base) * mult >> 32)
 * mult (nanoseconds per tick, 32.32) is measured between the thread's first clean sample and
 * its latest one, restarted once that span passes FC_SPAN_MAX_NS (so the product cannot
 * overflow and the rate follows NTP slewing). The base is re-taken from clock_gettime() every
 * FC_ANCHOR_TICKS, so extrapolation never runs further than that:
 * error <= rate error x FC_ANCHOR_TICKS, and the rate error is at most two sample errors
 * (FC_SAMPLE_TICKS / 2 each) over a span of at least FC_RATE_MIN_TICKS:
 * 2 x 1000 / 2^23 x 2^22 ticks = 1000 ticks in the first milliseconds of a thread, nanoseconds
 * once the span is long; the anchor adds at most 1000 more. 2000 ticks: 0.95 us at this
 * machine's 2.1 GHz. A rate that moves by more than 0.4% between two measurements (the counter
 * jumped, a virtual machine was restored on another host) restarts the measurement. A sample is a clock_gettime() bracketed by two
 * counter reads; one that took longer than FC_SAMPLE_TICKS (the thread was preempted, the
 * clock trapped) is not used, and that reading is dk_now_ns() itself.
 */
#define FC_ANCHOR_TICKS (1ull << 22)   /* ~1.4 ms at 3 GHz */
#define FC_RATE_MIN_TICKS (1ull << 23) /* ~2.8 ms: the shortest span a rate is measured over */
#define FC_SAMPLE_TICKS 2000ull         /* the longest clean sample, ~0.7 us at 3 GHz */
#define FC_SPAN_MAX_NS (1ull << 30)     /* ~1.07 s: (ns span << 32) stays within 64 bits */

struct fast_clock {
	uint64_t tsc_base, ns_base; /* the anchor; tsc_base 0: none */
	uint64_t mult;              /* ns per tick, 32.32; 0: not measured yet */
	uint64_t cal_tsc, cal_ns;   /* where the rate is measured from; cal_tsc 0: none */
	uint64_t last;              /* the last reading: none is ever smaller */
};

static __thread struct fast_clock fc __attribute__((tls_model("initial-exec")));

static uint64_t fc_return(uint64_t ns)
{
	if (ns < fc.last)
		ns = fc.last;
	fc.last = ns;
	return ns;
}

static uint64_t fc_sample(void)
{
	uint64_t t0 = __rdtsc(), ns = dk_now_ns(), t1 = __rdtsc(), tsc;

	if (t1 - t0 > FC_SAMPLE_TICKS) { /* a counter gone back wraps past it too */
		fc.tsc_base = 0; /* disturbed: no anchor until a clean sample */
		return fc_return(ns);
	}
	tsc = t0 + (t1 - t0) / 2;
	if (!fc.cal_tsc || tsc < fc.cal_tsc || ns - fc.cal_ns > FC_SPAN_MAX_NS) {
		/* A span too long (the thread slept) or a counter that went back: start over,
		 * keeping the rate measured so far for the next anchor. */
		fc.cal_tsc = tsc;
		fc.cal_ns = ns;
	} else if (tsc - fc.cal_tsc >= FC_RATE_MIN_TICKS) {
		uint64_t mult = ((ns - fc.cal_ns) << 32) / (tsc - fc.cal_tsc);

		if (fc.mult && (mult > fc.mult + (fc.mult >> 8) || mult < fc.mult - (fc.mult >> 8))) {
			/* The rate moved by more than 0.4%: the counter jumped or changed speed
			 * (a virtual machine restored elsewhere). Measure it afresh. */
			fc.cal_tsc = tsc;
			fc.cal_ns = ns;
			mult = 0;
		}
		fc.mult = mult;
	}
	fc.tsc_base = tsc;
	fc.ns_base = ns;
	return fc_return(ns);
}

uint64_t dk_now_fast_ns(void)
{
	uint64_t tsc = __rdtsc(), d = tsc - fc.tsc_base;

	/* A counter gone back below the anchor wraps d past FC_ANCHOR_TICKS: sampled too. */
	if (!fc.tsc_base || !fc.mult || d >= FC_ANCHOR_TICKS)
		return fc_sample();
	return fc_return(fc.ns_base + ((d * fc.mult) >> 32));
}
#else
uint64_t dk_now_fast_ns(void)
{
	return dk_now_ns();
}
#endif

uint64_t dk_deadline_in(uint64_t timeout_ns)
{
	if (timeout_ns > DK_WAIT_MAX_NS)
		timeout_ns = DK_WAIT_MAX_NS;
	return dk_now_ns() + timeout_ns;
}

int dk_deadline_check(uint64_t deadline_ns)
{
	if (deadline_ns == 0)
		return -EINVAL;
	if (deadline_ns > dk_now_ns() + DK_WAIT_MAX_NS)
		return -EINVAL;
	return 0;
}
