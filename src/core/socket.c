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
