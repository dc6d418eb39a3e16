/* SPDX-License-Identifier: MIT */
/*
 * replay.c - run a libFuzzer target over a stored corpus, as an ordinary test.
 *
 * Usage: replay PATH...; each PATH is a file or a directory of files (not recursive). Every
 * file (its first 64 KiB) is passed to LLVMFuzzerTestOneInput(); the target aborts on a
 * failure. Exits 0 after replaying at least one input, 1 if none was found or one could not
 * be read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPLAY_MAX_INPUT (64u * 1024u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t input[REPLAY_MAX_INPUT];

/* Replay one file. Returns 0, or -errno if it cannot be read. */
static int replay_file(int dirfd, const char *path)
{
	size_t len = 0;
	int fd, ret = 0;
	uint8_t *copy;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (len < sizeof(input)) {
		ssize_t n = read(fd, input + len, sizeof(input) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out_close;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}

	/* An exactly sized heap copy, so ASan sees any read past the input. */
	copy = malloc(len ? len : 1);
	if (!copy) {
		ret = -ENOMEM;
		goto out_close;
	}
	memcpy(copy, input, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);

out_close:
	close(fd);
	return ret;
}

/* Replay @path, a file or a directory. Adds the inputs replayed to @count. */
static int replay_path(const char *path, unsigned long *count)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int ret = 0;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		ret = replay_file(AT_FDCWD, path);
		if (ret == 0)
			(*count)++;
		return ret;
	}

	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		struct stat est;

		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(dir), de->d_name, &est, 0) < 0 || !S_ISREG(est.st_mode))
			continue;
		ret = replay_file(dirfd(dir), de->d_name);
		if (ret < 0) {
			fprintf(stderr, "replay: %s/%s: %s\n", path, de->d_name, strerror(-ret));
			break;
		}
		(*count)++;
	}
	closedir(dir);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned long count = 0;

	for (int i = 1; i < argc; i++) {
		int ret = replay_path(argv[i], &count);

		if (ret < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(-ret));
			return 1;
		}
	}
	printf("replayed %lu inputs\n", count);
	return count > 0 ? 0 : 1;
}
