/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memfd.h"

int dk_memfd_create(const char *name, uint64_t size, unsigned int extra_seals, int *ret_fd)
{
	int fd, ret;

	if (size > (uint64_t)INT64_MAX)
		return -EFBIG;
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		goto out_close_fd;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | extra_seals) < 0) {
		ret = -errno;
		goto out_close_fd;
	}
	*ret_fd = fd;
	return 0;

out_close_fd:
	close(fd);
	return ret;
}

int dk_memfd_inspect(int fd, uint64_t *ret_size, unsigned int *ret_seals, bool *ret_writable)
{
	struct stat st;
	int seals, fl;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -EBADF;
	/* Only shmem files answer F_GET_SEALS; a memfd created without MFD_ALLOW_SEALING or a
	 * tmpfs file carries F_SEAL_SEAL and can never have been size-sealed. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -EBADF;
	if ((seals & (F_SEAL_GROW | F_SEAL_SHRINK)) != (F_SEAL_GROW | F_SEAL_SHRINK))
		return -EBADF;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -EBADF;
	*ret_size = (uint64_t)st.st_size;
	*ret_seals = (unsigned int)seals;
	*ret_writable = (fl & O_ACCMODE) == O_RDWR;
	return 0;
}

int dk_fd_reopen_readonly(int fd, int *ret_fd)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nfd < 0)
		return -errno;
	*ret_fd = nfd;
	return 0;
}

bool dk_fd_is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

int dk_fd_dup(int fd, int *ret_fd)
{
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (nfd < 0)
		return -errno;
	*ret_fd = nfd;
	return 0;
}
