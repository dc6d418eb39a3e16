/* SPDX-License-Identifier: MIT */
/*
 * The QoS table (docs/qos.md). Coalescing follows the sibling QoS service's windows (burst 0,
 * normal served at once, idle-like Frugal gathered for 4 ms); depths follow the sibling
 * library (Frugal 1, Normal half the ring, Burst the whole ring).
 */
#include <errno.h>

#include <dk/qos.h>
#include <dk/time.h>

static const struct dk_qos_params qos_table[] = {
	[DK_QOS_FRUGAL] = {
		.depth_percent = 0, /* one entry */
		.consumer_spin_ns = 0,
		.waiter_spin_ns = 0,
		.coalesce_ns = 4 * DK_NSEC_PER_MSEC,
	},
	[DK_QOS_NORMAL] = {
		.depth_percent = 50,
		.consumer_spin_ns = 20 * DK_NSEC_PER_USEC,
		.waiter_spin_ns = 0,
		.coalesce_ns = 0,
	},
	[DK_QOS_BURST] = {
		.depth_percent = 100,
		.consumer_spin_ns = 1000 * DK_NSEC_PER_USEC,
		.waiter_spin_ns = 200 * DK_NSEC_PER_USEC,
		.coalesce_ns = 0,
	},
};

int dk_qos_check(uint32_t qos)
{
	return qos >= DK_QOS_FRUGAL && qos <= DK_QOS_BURST ? 0 : -EINVAL;
}

int dk_qos_params(uint32_t qos, struct dk_qos_params *ret_params)
{
	if (dk_qos_check(qos) < 0)
		return -EINVAL;
	*ret_params = qos_table[qos];
	return 0;
}

uint32_t dk_qos_depth(uint32_t qos, uint32_t ring_entries)
{
	uint64_t d;

	if (dk_qos_check(qos) < 0)
		return 1;
	d = (uint64_t)ring_entries * qos_table[qos].depth_percent / 100;
	return d ? (uint32_t)d : 1;
}

const char *dk_qos_name(uint32_t qos)
{
	switch (qos) {
	case DK_QOS_FRUGAL:
		return "frugal";
	case DK_QOS_NORMAL:
		return "normal";
	case DK_QOS_BURST:
		return "burst";
	default:
		return "invalid";
	}
}
