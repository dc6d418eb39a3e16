/* SPDX-License-Identifier: MIT */
/*
 * proto.c - the "policyd" request table and reason names (dk/policy.h, docs/policy.md).
 */
#include <dk/policy.h>

/* CHECK: the fixed part and three strings (service, device, class) of at most NAME_MAX.
 * RELOAD came with minor 1: a sender of minor 0 cannot ask for it. */
static const struct dk_frame_opdesc policyd_ops[] = {
	{DK_POLICYD_OP_CHECK, 0, DK_POLICYD_CHECK_FIXED + 6,
	 DK_POLICYD_CHECK_FIXED + 3 * (2 + DK_POLICY_NAME_MAX), "check"},
	{DK_POLICYD_OP_STATS, 0, 0, 0, "stats"},
	{DK_POLICYD_OP_RELOAD, 1, 0, 0, "reload"},
};

const struct dk_frame_proto dk_policyd_proto = {
	.name = "policyd",
	.minor = DK_POLICYD_PROTO_MINOR,
	.n_ops = sizeof(policyd_ops) / sizeof(policyd_ops[0]),
	.ops = policyd_ops,
};

const char *dk_policy_reason_name(uint32_t reason)
{
	switch (reason) {
	case DK_POLICY_REASON_NO_RULE:
		return "no-rule";
	case DK_POLICY_REASON_GRANT:
		return "grant";
	case DK_POLICY_REASON_DENY_RULE:
		return "deny-rule";
	default:
		return "unknown";
	}
}
