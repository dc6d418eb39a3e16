/* SPDX-License-Identifier: MIT */
/*
 * Helpers for multi-process tests: a forked child runs a function and reports through its exit
 * status (0 = every check passed, otherwise the line number of the first failed check). The
 * child has an alarm as a last-resort guard, never as synchronisation: every wait in the tests
 * has its own deadline.
 */
#ifndef DK_TEST_MP_H
#define DK_TEST_MP_H

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dk/frame.h>

/* In a child: fail with the line number (truncated to 1..255). */
#define CHILD_CHECK(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			_exit((__LINE__ % 255) + 1);                                               \
	} while (0)

static inline pid_t mp_fork(void (*fn)(int sock, void *arg), int sock, int other, void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(60);
		if (other >= 0)
			close(other);
		fn(sock, arg);
		_exit(0);
	}
	return pid;
}

/* Wait for @pid and return its exit code, or 1000 + signal when it was killed. */
static inline int mp_join(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static inline int mp_socketpair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

/* Open descriptors of this process. */
static inline int mp_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* Send raw @bytes with @fds attached: for forging lying frames. */
static inline int mp_send_raw(int sock, const void *bytes, size_t len, const int *fds, int n_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)bytes, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cmsg;

	memset(&cbuf, 0, sizeof(cbuf));
	if (n_fds > 0) {
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)n_fds);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* Encode a DK_OP_HANDLE frame with arbitrary (possibly lying) fields. */
static inline int mp_handle_frame(uint8_t *out, size_t size, const struct dk_frame_proto *proto,
				  uint32_t type, uint32_t rights, uint64_t size_or_id,
				  uint32_t flags, uint32_t n_fds)
{
	uint8_t p[32] = {0};

	for (int i = 0; i < 4; i++) {
		p[0 + i] = (uint8_t)(type >> (8 * i));
		p[4 + i] = (uint8_t)(rights >> (8 * i));
		p[16 + i] = (uint8_t)(flags >> (8 * i));
		p[20 + i] = (uint8_t)(n_fds >> (8 * i));
	}
	for (int i = 0; i < 8; i++)
		p[8 + i] = (uint8_t)(size_or_id >> (8 * i));
	return dk_frame_encode(out, size, proto, 0x0001, DK_FRAME_F_FDS, 1, p, sizeof(p));
}

#endif /* DK_TEST_MP_H */
