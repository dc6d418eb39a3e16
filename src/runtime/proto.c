/* SPDX-License-Identifier: MIT */
/*
 * proto.c - the runtime's frame protocol tables and small shared helpers (dk/runtime.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dk/hwsim.h>
#include <dk/runtime.h>

#define NAME_WIRE_MAX (2u + DK_RT_NAME_MAX)

static const struct dk_frame_opdesc supctl_ops[] = {
	{DK_SUPCTL_OP_READY, 0, 0, 0, "ready"},
	{DK_SUPCTL_OP_FENCE_REGISTER, 0, 8, 8, "fence-register"},
	{DK_SUPCTL_OP_FENCE_RELEASE, 0, 8, 8, "fence-release"},
	{DK_SUPCTL_OP_ATTACH, 0, 16 + 3 * 3, 16 + 3 * NAME_WIRE_MAX, "attach"},
	{DK_SUPCTL_OP_DETACH, 0, 16 + 3, 16 + NAME_WIRE_MAX, "detach"},
	{DK_SUPCTL_OP_HWSIM_ATTACH, 0, 16, 16, "hwsim-attach"},
	{DK_SUPCTL_OP_HWSIM_CHANNEL, 0, 8, 8, "hwsim-channel"},
};
const struct dk_frame_proto dk_supctl_proto = {
	.name = "supctl",
	.minor = DK_SUPCTL_PROTO_MINOR,
	.n_ops = sizeof(supctl_ops) / sizeof(supctl_ops[0]),
	.ops = supctl_ops,
};

static const struct dk_frame_opdesc supctl_reply_ops[] = {
	{DK_SUPCTL_OP_FENCE_REGISTER, 0, 0, 0, "fence-register"},
};
const struct dk_frame_proto dk_supctl_reply_proto = {
	.name = "supctl-reply",
	.minor = DK_SUPCTL_PROTO_MINOR,
	.n_ops = 1,
	.ops = supctl_reply_ops,
};

static const struct dk_frame_opdesc supd_ops[] = {
	{DK_SUPD_OP_STATUS, 0, 0, 0, "status"},
	{DK_SUPD_OP_STOP, 0, 0, 0, "stop"},
};
const struct dk_frame_proto dk_supd_proto = {
	.name = "supervisor",
	.minor = DK_SUPD_PROTO_MINOR,
	.n_ops = 2,
	.ops = supd_ops,
};
static const struct dk_frame_opdesc supd_reply_ops[] = {
	{DK_SUPD_OP_STATUS, 0, 16, DK_FRAME_MAX_PAYLOAD, "status"},
	{DK_SUPD_OP_STOP, 0, 0, 0, "stop"},
};
const struct dk_frame_proto dk_supd_reply_proto = {
	.name = "supervisor-reply",
	.minor = DK_SUPD_PROTO_MINOR,
	.n_ops = 2,
	.ops = supd_reply_ops,
};

static const struct dk_frame_opdesc broker_ops[] = {
	{DK_BROKER_OP_OPEN, 0, 3, NAME_WIRE_MAX, "open"},
	{DK_BROKER_OP_LIST, 0, 0, 0, "list"},
	{DK_BROKER_OP_STATUS, 0, 0, 0, "status"},
	{DK_BROKER_OP_INJECT, 0, 3 + 8, NAME_WIRE_MAX + 8, "inject"},
	{DK_BROKER_OP_KILL_CLIENT, 0, 3 + 8, NAME_WIRE_MAX + 8, "kill-client"},
	{DK_BROKER_OP_DEVICE_STATS, 0, 3, NAME_WIRE_MAX, "device-stats"},
	{DK_BROKER_OP_TRACE, 0, 3 + 8, NAME_WIRE_MAX + 8, "trace"},
};
const struct dk_frame_proto dk_broker_proto = {
	.name = "broker",
	.minor = DK_BROKER_PROTO_MINOR,
	.n_ops = 7,
	.ops = broker_ops,
};
static const struct dk_frame_opdesc broker_reply_ops[] = {
	{DK_BROKER_OP_OPEN, 0, 48 + 3, 48 + NAME_WIRE_MAX, "open"},
	{DK_BROKER_OP_LIST, 0, 8, DK_FRAME_MAX_PAYLOAD, "list"},
	{DK_BROKER_OP_STATUS, 0, 24, DK_FRAME_MAX_PAYLOAD, "status"},
	{DK_BROKER_OP_INJECT, 0, 0, 0, "inject"},
	{DK_BROKER_OP_KILL_CLIENT, 0, 0, 0, "kill-client"},
	{DK_BROKER_OP_DEVICE_STATS, 0, DK_DEVCTL_STATS_FIXED, DK_FRAME_MAX_PAYLOAD, "device-stats"},
	{DK_BROKER_OP_TRACE, 0, DK_DEVCTL_TRACE_FIXED, DK_FRAME_MAX_PAYLOAD, "trace"},
};
const struct dk_frame_proto dk_broker_reply_proto = {
	.name = "broker-reply",
	.minor = DK_BROKER_PROTO_MINOR,
	.n_ops = 7,
	.ops = broker_reply_ops,
};

static const struct dk_frame_opdesc devctl_ops[] = {
	{DK_DEVCTL_OP_SESSION, 0, DK_DEVCTL_SESSION_PAYLOAD, DK_DEVCTL_SESSION_PAYLOAD_KILL,
	 "session"},
	{DK_DEVCTL_OP_SESSION_END, 0, 8, 8, "session-end"},
	{DK_DEVCTL_OP_GRANT, 0, 8 + 3, 8 + 2 + DK_RT_HWSIM_MODEL_MAX, "grant"},
	{DK_DEVCTL_OP_KILL_SESSION, 0, 16, 16, "kill-session"},
	{DK_DEVCTL_OP_STATS, 0, 0, 0, "stats"},
	{DK_DEVCTL_OP_TRACE, 0, 8, 8, "trace"},
};
const struct dk_frame_proto dk_devctl_proto = {
	.name = "devctl",
	.minor = DK_DEVCTL_PROTO_MINOR,
	.n_ops = 6,
	.ops = devctl_ops,
};
static const struct dk_frame_opdesc devctl_reply_ops[] = {
	{DK_DEVCTL_OP_SESSION, 0, 0, 0, "session"},
	{DK_DEVCTL_OP_KILL_SESSION, 0, 0, 0, "kill-session"},
	{DK_DEVCTL_OP_STATS, 0, DK_DEVCTL_STATS_FIXED, DK_FRAME_MAX_PAYLOAD, "stats"},
	{DK_DEVCTL_OP_TRACE, 0, DK_DEVCTL_TRACE_FIXED, DK_FRAME_MAX_PAYLOAD, "trace"},
};
const struct dk_frame_proto dk_devctl_reply_proto = {
	.name = "devctl-reply",
	.minor = DK_DEVCTL_PROTO_MINOR,
	.n_ops = 4,
	.ops = devctl_reply_ops,
};

static const struct dk_frame_opdesc session_ops[] = {
	{DK_SESSION_OP_REG_BUFFER, 0, 16, 16, "reg-buffer"},
	{DK_SESSION_OP_REG_FENCE, 0, 8, 8, "reg-fence"},
	{DK_SESSION_OP_UNREGISTER, 0, 8, 8, "unregister"},
	{DK_SESSION_OP_CREATE_QUEUE, 0, 16, 16, "create-queue"},
	{DK_SESSION_OP_DESTROY_QUEUE, 0, 8, 8, "destroy-queue"},
	{DK_SESSION_OP_STATS, 0, 0, 0, "stats"},
};
const struct dk_frame_proto dk_session_proto = {
	.name = "session",
	.minor = DK_SESSION_PROTO_MINOR,
	.n_ops = sizeof(session_ops) / sizeof(session_ops[0]),
	.ops = session_ops,
};
static const struct dk_frame_opdesc session_reply_ops[] = {
	{DK_SESSION_OP_REG_BUFFER, 0, 8, 8, "reg-buffer"},
	{DK_SESSION_OP_REG_FENCE, 0, 8, 8, "reg-fence"},
	{DK_SESSION_OP_UNREGISTER, 0, 0, 0, "unregister"},
	{DK_SESSION_OP_CREATE_QUEUE, 0, 8, 8, "create-queue"},
	{DK_SESSION_OP_DESTROY_QUEUE, 0, 0, 0, "destroy-queue"},
	{DK_SESSION_OP_STATS, 0, DK_SESSION_STATS_PAYLOAD, DK_SESSION_STATS_PAYLOAD, "stats"},
};
const struct dk_frame_proto dk_session_reply_proto = {
	.name = "session-reply",
	.minor = DK_SESSION_PROTO_MINOR,
	.n_ops = sizeof(session_reply_ops) / sizeof(session_reply_ops[0]),
	.ops = session_reply_ops,
};

const char *dk_device_state_name(uint32_t state)
{
	switch (state) {
	case DK_DEVICE_UP:
		return "up";
	case DK_DEVICE_RESTARTING:
		return "restarting";
	case DK_DEVICE_FAILED:
		return "failed";
	default:
		return "unknown";
	}
}

const char *dk_service_state_name(uint32_t state)
{
	static const char *const names[] = {
		[DK_SERVICE_STARTING] = "starting", [DK_SERVICE_RUNNING] = "running",
		[DK_SERVICE_BACKOFF] = "backoff",   [DK_SERVICE_FAILED] = "failed",
		[DK_SERVICE_STOPPING] = "stopping", [DK_SERVICE_STOPPED] = "stopped",
	};

	if (state >= sizeof(names) / sizeof(names[0]) || !names[state])
		return "unknown";
	return names[state];
}

int dk_runtime_path(const char *dir, const char *name, char *buf, size_t size)
{
	int n;

	if (!dir || !name || !buf)
		return -EINVAL;
	if (size > DK_RT_PATH_MAX)
		size = DK_RT_PATH_MAX;
	n = snprintf(buf, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int dk_runtime_dir_default(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	int n;

	if (!buf)
		return -EINVAL;
	if (!xdg || xdg[0] != '/')
		return -ENOENT;
	n = snprintf(buf, size, "%s/driverkit", xdg);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	return 0;
}

int dk_rt_check_name(const char *s)
{
	size_t n;

	if (!s)
		return -EINVAL;
	n = strlen(s);
	if (n == 0 || n > DK_RT_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

/* ---- dk/hwsim.h ---- */

static const struct dk_frame_opdesc hwsim_ops[] = {
	{DK_HWSIM_OP_DEVICES, 0, 0, 0, "devices"},
	{DK_HWSIM_OP_GRANT, 0, 3, NAME_WIRE_MAX, "grant"},
	{DK_HWSIM_OP_MAP, 0, 3 + 24, NAME_WIRE_MAX + 24, "map"},
	{DK_HWSIM_OP_UNMAP, 0, 3 + 8, NAME_WIRE_MAX + 8, "unmap"},
	{DK_HWSIM_OP_INJECT, 0, 3 + 8, NAME_WIRE_MAX + 8, "inject"},
	{DK_HWSIM_OP_STATS, 0, 3, NAME_WIRE_MAX, "stats"},
};
const struct dk_frame_proto dk_hwsim_proto = {
	.name = "hwsim",
	.minor = DK_HWSIM_PROTO_MINOR,
	.n_ops = sizeof(hwsim_ops) / sizeof(hwsim_ops[0]),
	.ops = hwsim_ops,
};
static const struct dk_frame_opdesc hwsim_reply_ops[] = {
	{DK_HWSIM_OP_DEVICES, 0, 8, DK_FRAME_MAX_PAYLOAD, "devices"},
	{DK_HWSIM_OP_GRANT, 0, 8 + 3, 8 + 2 + DK_RT_HWSIM_MODEL_MAX, "grant"},
	{DK_HWSIM_OP_MAP, 0, 8, 8, "map"},
	{DK_HWSIM_OP_UNMAP, 0, 0, 0, "unmap"},
	{DK_HWSIM_OP_INJECT, 0, 0, 0, "inject"},
	{DK_HWSIM_OP_STATS, 0, 48, 48, "stats"},
};
const struct dk_frame_proto dk_hwsim_reply_proto = {
	.name = "hwsim-reply",
	.minor = DK_HWSIM_PROTO_MINOR,
	.n_ops = sizeof(hwsim_reply_ops) / sizeof(hwsim_reply_ops[0]),
	.ops = hwsim_reply_ops,
};

static const struct dk_frame_opdesc dma_ops[] = {
	{DK_DMA_OP_MAP, 0, 24, 24, "map"},
	{DK_DMA_OP_UNMAP, 0, 8, 8, "unmap"},
};
const struct dk_frame_proto dk_dma_proto = {
	.name = "dma",
	.minor = DK_DMA_PROTO_MINOR,
	.n_ops = 2,
	.ops = dma_ops,
};
static const struct dk_frame_opdesc dma_reply_ops[] = {
	{DK_DMA_OP_MAP, 0, 8, 8, "map"},
	{DK_DMA_OP_UNMAP, 0, 0, 0, "unmap"},
};
const struct dk_frame_proto dk_dma_reply_proto = {
	.name = "dma-reply",
	.minor = DK_DMA_PROTO_MINOR,
	.n_ops = 2,
	.ops = dma_reply_ops,
};

static const char *const fault_names[DK_HWSIM_FAULT_COUNT] = {
	"none", "hang", "lost-irq", "slow", "corrupt", "dma-oob",
};

const char *dk_hwsim_fault_name(uint32_t fault)
{
	return fault < DK_HWSIM_FAULT_COUNT ? fault_names[fault] : "unknown";
}

int dk_hwsim_fault_parse(const char *name, uint32_t *ret_fault)
{
	if (!name || !ret_fault)
		return -EINVAL;
	for (uint32_t i = 0; i < DK_HWSIM_FAULT_COUNT; i++) {
		if (strcmp(name, fault_names[i]) == 0) {
			*ret_fault = i;
			return 0;
		}
	}
	return -EINVAL;
}
