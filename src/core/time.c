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
