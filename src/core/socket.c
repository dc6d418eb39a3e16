/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <dk/socket.h>
#include <dk/time.h>

int dk_socket_listen(const char *path, int backlog, int *ret_fd)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int probe;
		bool live;

		if (errno != EADDRINUSE)
			goto out_errno;
		/* Somebody listening there is left alone; a dead socket file is replaced. */
		probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		live = probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0;
		if (probe >= 0)
			close(probe);
		if (live || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
			close(fd);
			return -EADDRINUSE;
		}
		unlink(path);
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			goto out_errno;
	}
	if (listen(fd, backlog) < 0)
		goto out_errno;
	*ret_fd = fd;
	return 0;

out_errno:
	err = -errno;
	close(fd);
	return err;
}

int dk_socket_wait(int fd, short events, uint64_t deadline_ns)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	uint64_t now = dk_now_ns(), left = deadline_ns > now ? deadline_ns - now : 0;
	struct timespec ts = {.tv_sec = (time_t)(left / DK_NSEC_PER_SEC),
			      .tv_nsec = (long)(left % DK_NSEC_PER_SEC)};
	int n;

	do {
		n = ppoll(&pfd, 1, &ts, NULL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

int dk_socket_connect(const char *path, uint64_t deadline_ns, int *ret_fd)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd, err;

	if (!path || !ret_fd)
		return -EINVAL;
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A non-blocking AF_UNIX connect either completes or fails with EAGAIN (backlog full). */
	while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		struct timespec pause = {.tv_sec = 0, .tv_nsec = 1000000};

		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || dk_now_ns() >= deadline_ns) {
			err = errno == EAGAIN ? -ETIMEDOUT : -errno;
			close(fd);
			return err;
		}
		nanosleep(&pause, NULL); /* backlog full: bounded retry until the deadline */
	}
	*ret_fd = fd;
	return 0;
}

int dk_socket_peer(int fd, uint32_t *ret_pid, uint32_t *ret_uid, uint32_t *ret_gid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	if (ret_pid)
		*ret_pid = (uint32_t)cred.pid;
	if (ret_uid)
		*ret_uid = (uint32_t)cred.uid;
	if (ret_gid)
		*ret_gid = (uint32_t)cred.gid;
	return 0;
}
