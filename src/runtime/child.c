/* SPDX-License-Identifier: MIT */
/*
 * child.c - the child side of the supervisor's control socket (dk/runtime.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dk/fence.h>
#include <dk/msg.h>
#include <dk/rights.h>
#include <dk/runtime.h>
#include <dk/wire.h>

int dk_child_control_fd(void)
{
	const char *s = getenv(DK_ENV_SUPERVISOR_FD);
	struct stat st;
	char *end;
	long v;

	if (!s || !*s)
		return -ENOENT;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 3 || v > INT_MAX)
		return -EBADF;
	if (fstat((int)v, &st) < 0 || !S_ISSOCK(st.st_mode))
		return -EBADF;
	return (int)v;
}

int dk_child_ready(uint64_t deadline_ns)
{
	int fd = dk_child_control_fd();

	if (fd < 0)
		return fd;
	return dk_msg_send(fd, &dk_supctl_proto, DK_SUPCTL_OP_READY, 0, 0, NULL, 0, NULL, 0,
			   deadline_ns);
}

int dk_child_fence_register(struct dk_fence *fence, uint64_t tag, uint64_t deadline_ns)
{
	int fd = dk_child_control_fd(), fds[DK_FENCE_NR_FDS], err;
	static __thread struct dk_msg reply;
	uint8_t p[8];
	struct dk_wire_writer w;

	if (fd < 0)
		return fd;
	if (!fence)
		return -EINVAL;
	err = dk_fence_export(fence, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT | DK_RIGHT_TRANSFER, fds);
	if (err < 0)
		return err;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, tag);
	err = dk_msg_call(fd, &dk_supctl_proto, &dk_supctl_reply_proto,
			  DK_SUPCTL_OP_FENCE_REGISTER, p, sizeof(p), fds, DK_FENCE_NR_FDS,
			  deadline_ns, &reply, NULL);
	for (int i = 0; i < DK_FENCE_NR_FDS; i++)
		close(fds[i]);
	if (err == 0)
		dk_msg_close_fds(&reply);
	return err;
}

int dk_child_fence_release(uint64_t tag, uint64_t deadline_ns)
{
	int fd = dk_child_control_fd();
	uint8_t p[8];
	struct dk_wire_writer w;

	if (fd < 0)
		return fd;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, tag);
	return dk_msg_send(fd, &dk_supctl_proto, DK_SUPCTL_OP_FENCE_RELEASE, 0, tag, p, sizeof(p),
			   NULL, 0, deadline_ns);
}
