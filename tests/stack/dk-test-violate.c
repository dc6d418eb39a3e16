/* SPDX-License-Identifier: MIT */
/*
 * dk-test-violate - a device class for the tests only: every job completes at once, except
 * opcode VIOLATE_OP, which makes the service try to run a program. The driver sandbox
 * (docs/sandbox.md) must kill it with SIGSYS before anything runs; the supervisor then
 * journals the crash as a sandbox violation and restarts it.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <dk/dk.h>
#include <dk/service/device.h>
#include <dk/service/service.h>

#define VIOLATE_OP 9

static const struct dk_device_ops violate_ops;

static int violate_probe(struct dk_svc *svc, const struct dk_device_hw *hw,
			 struct dk_svc_device **ret_dev)
{
	struct dk_svc_device *dev = malloc(sizeof(*dev));

	if (!dev)
		return -ENOMEM;
	dk_svc_device_init(dev, &violate_ops, svc);
	dev->caps.hw_slots = 16;
	*ret_dev = dev;
	return 0;
}

static void violate_destroy(struct dk_svc_device *dev)
{
	free(dev);
}

static int violate_validate(struct dk_svc_device *dev, struct dk_svc_job *job)
{
	return job->sqe.opcode == DK_OP_NOP || job->sqe.opcode == VIOLATE_OP ? 0 : -EINVAL;
}

static int violate_submit(struct dk_svc_device *dev, struct dk_svc_job *job)
{
	if (job->sqe.opcode == VIOLATE_OP) {
		char *const argv[] = {"/bin/true", NULL};

		execv(argv[0], argv); /* the sandbox ends the process here */
		_exit(99);            /* never reached when the sandbox holds */
	}
	return dk_svc_job_done(dev->svc, job, 0, DK_REASON_NONE, 0);
}

static const struct dk_device_ops violate_ops = {
	.version = DK_DEVICE_OPS_VERSION,
	.class_name = "violate",
	.probe = violate_probe,
	.destroy = violate_destroy,
	.validate = violate_validate,
	.submit = violate_submit,
};

int main(int argc, char **argv)
{
	return dk_svc_main(&violate_ops, argc, argv);
}
