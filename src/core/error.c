/* SPDX-License-Identifier: MIT */
/* Error and reason names. The strings are part of the documented, stable vocabulary. */
#include <errno.h>
#include <stddef.h>

#include <dk/error.h>

const char *dk_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "ok";
	case EINVAL:
		return "invalid argument";
	case EPERM:
		return "missing right";
	case EACCES:
		return "denied by policy";
	case EBADF:
		return "bad or stale handle";
	case ENOSPC:
		return "bound reached";
	case EAGAIN:
		return "queue full, try again";
	case ETIMEDOUT:
		return "deadline passed";
	case ECANCELED:
		return "cancelled";
	case EIO:
		return "device error";
	case ENODEV:
		return "device gone";
	case EOVERFLOW:
		return "arithmetic overflow";
	case EPROTO:
		return "malformed frame";
	case EBUSY:
		return "in use or in flight";
	case EFBIG:
		return "larger than the cap";
	case EOPNOTSUPP:
		return "not supported";
	case EPIPE:
		return "peer closed";
	case EMSGSIZE:
		return "message too large";
	case ENOMEM:
		return "out of memory";
	case ENOENT:
		return "not found";
	case ECONNREFUSED:
		return "connection refused";
	case EADDRINUSE:
		return "address in use";
	case ENAMETOOLONG:
		return "name too long";
	case ESRCH:
		return "no such process";
	case ECHILD:
		return "child process failed";
	default:
		return "unknown error";
	}
}

static const char *const reason_names[DK_REASON_COUNT] = {
	[DK_REASON_NONE] = "none",
	[DK_REASON_HANG] = "hang",
	[DK_REASON_DEVICE_RESET] = "device-reset",
	[DK_REASON_CLIENT_KILLED] = "client-killed",
	[DK_REASON_DRIVER_CRASHED] = "driver-crashed",
	[DK_REASON_BUDGET] = "budget",
	[DK_REASON_VALIDATION] = "validation-failed",
	[DK_REASON_CANCELLED] = "cancelled",
	[DK_REASON_DEVICE_FAULT] = "device-fault",
	[DK_REASON_LOST_IRQ] = "lost-irq",
	[DK_REASON_DEADLINE] = "deadline-missed",
	[DK_REASON_POLICY] = "policy",
	[DK_REASON_PROTOCOL] = "protocol",
	[DK_REASON_SHUTDOWN] = "shutdown",
	[DK_REASON_DEPENDENCY] = "dependency-failed",
	[DK_REASON_QUEUE_BROKEN] = "queue-broken",
};

const char *dk_reason_name(uint32_t reason)
{
	if (reason >= DK_REASON_COUNT)
		return "unknown";
	return reason_names[reason];
}
