/* SPDX-License-Identifier: MIT */
/*
 * dk-null - the null device service (man/dk-null.8): completes every job at once.
 *
 * Everything a device service owes its clients comes from libdk-service (dk/service/): sessions
 * with the policy grant, handle tables and budgets, queues whose fences the supervisor's reaper
 * holds, input and output fences, the scheduler, the watchdog, per-client kill. This file is the
 * device-specific part: a class without hardware, which accepts DK_OP_NOP with param 0 (the
 * library's default validation) and completes it in submit, with the user data as its result.
 */
#include <errno.h>
#include <stdlib.h>

#include <dk/dk.h>
#include <dk/service/device.h>

static const struct dk_device_ops null_ops;

static int null_probe(struct dk_svc *svc, const struct dk_device_hw *hw,
		      struct dk_svc_device **ret_dev)
{
	struct dk_svc_device *dev = malloc(sizeof(*dev));

	if (!dev)
		return -ENOMEM;
	dk_svc_device_init(dev, &null_ops, svc);
	/* Nothing is ever left on the "hardware": no limit beyond what sessions may take. */
	dev->caps.hw_slots = DK_SVC_HW_SLOTS_MAX;
	*ret_dev = dev;
	return 0;
}

static void null_destroy(struct dk_svc_device *dev)
{
	free(dev);
}

static int null_submit(struct dk_svc_device *dev, struct dk_svc_job *job)
{
	return dk_svc_job_done(dev->svc, job, 0, DK_REASON_NONE, job->sqe.user_data);
}

static const struct dk_device_ops null_ops = {
	.version = DK_DEVICE_OPS_VERSION,
	.class_name = "null",
	.probe = null_probe,
	.destroy = null_destroy,
	.submit = null_submit,
};

int main(int argc, char **argv)
{
	return dk_svc_main(&null_ops, argc, argv);
}
