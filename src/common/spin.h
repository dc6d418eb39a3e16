/* SPDX-License-Identifier: MIT */
/*
 * spin.h - the steps of a bounded spin, for every spinner in DriverKit: libdk's ring and fence
 * waits (src/core) and libdk-service's completion polling. Header-only.
 */
#ifndef DK_SPIN_H
#define DK_SPIN_H

#include <sched.h>

static inline void dk_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/*
 * One step of a bounded spin. Every 256 steps it yields the CPU: when the peer the spinner waits
 * for runs on the same CPU (two processes, one core), spinning alone would only burn the time
 * slice the peer needs to make progress. On an idle second CPU the yield returns at once.
 */
static inline void dk_spin_step(unsigned int *step)
{
	dk_cpu_relax();
	if ((++*step & 255) == 0)
		sched_yield();
}

#endif /* DK_SPIN_H */
