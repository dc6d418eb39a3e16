/* SPDX-License-Identifier: MIT */
/*
 * dk-null - the null device service (man/dk-null.8): completes every job at once.
 *
 * Everything a device service owes its clients comes from the service runtime (service.h):
 * sessions with the policy grant, handle tables and budgets, queues whose fences the
 * supervisor's reaper holds, input fences waited for, output fences signalled, QoS-paced
 * serving. This file is the device-specific part: the null class runs DK_OP_NOP and refuses
 * every other opcode.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <dk/dk.h>

#include "service.h"

static int null_run(void *ctx, const struct dk_sqe *sqe, const struct dk_htable *table,
		    uint64_t *ret_result, uint32_t *ret_reason)
{
	if (sqe->opcode != DK_OP_NOP || sqe->param != 0) {
		*ret_reason = DK_REASON_VALIDATION;
		return -EINVAL;
	}
	*ret_result = sqe->user_data;
	return 0;
}

static const struct dk_svc_class null_class = {
	.name = "null",
	.run = null_run,
};

int main(int argc, char **argv)
{
	if (argc > 1) {
		bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;

		fprintf(help ? stdout : stderr,
			"usage: dk-null (started by dk-supervisor; see dk-null(8))\n");
		return help ? 0 : 2;
	}
	return dk_svc_main(&null_class);
}
