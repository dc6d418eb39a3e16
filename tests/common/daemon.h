/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the tests that run real daemons: clean up a test's private directory, and
 * stop a daemon the way the stack does (SIGTERM) checking it exits cleanly.
 */
#ifndef DK_TEST_DAEMON_H
#define DK_TEST_DAEMON_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Remove @dir and everything below it (a test's mkdtemp directory). */
static inline void dk_test_remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d))) {
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue; /* cannot be one of ours */
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			dk_test_remove_tree(path);
		else
			unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/*
 * SIGTERM @pid and check it exits 0; when @sock is not NULL, also that it removed its socket.
 * Uses cmocka's assertions: include <cmocka.h> first.
 */
static inline void dk_test_stop_daemon(pid_t pid, const char *sock)
{
	int status;

	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	if (sock) {
		assert_int_equal(access(sock, F_OK), -1);
		assert_int_equal(errno, ENOENT);
	}
}

#endif /* DK_TEST_DAEMON_H */
