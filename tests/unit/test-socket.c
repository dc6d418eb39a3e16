/* SPDX-License-Identifier: MIT */
/* Control-plane socket helpers: a stale socket file is replaced, a live one or a file never. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/socket.h>
#include <dk/time.h>

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/dk-socket-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/s", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

static void test_listen_live_and_stale(void **state)
{
	char path[128];
	int a = -1, b = -1;

	(void)state;
	snprintf(path, sizeof(path), "%s/s", dir);
	assert_int_equal(dk_socket_listen(path, 8, &a), 0);
	assert_true(fcntl(a, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(a, F_GETFL) & O_NONBLOCK);
	/* Somebody listens there: never stolen. */
	assert_int_equal(dk_socket_listen(path, 8, &b), -EADDRINUSE);
	assert_int_equal(b, -1);
	/* The listener dies without removing its file: the next one replaces it. */
	close(a);
	assert_int_equal(dk_socket_listen(path, 8, &b), 0);
	close(b);
}

static void test_listen_never_replaces_a_file(void **state)
{
	char path[128];
	struct stat st;
	int fd, s = -1;

	(void)state;
	snprintf(path, sizeof(path), "%s/f", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(dk_socket_listen(path, 8, &s), -EADDRINUSE);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4);
}

static void test_listen_path_too_long(void **state)
{
	char path[256];
	int s = -1;

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(dk_socket_listen(path, 8, &s), -ENAMETOOLONG);
	assert_int_equal(s, -1);
}

static void test_wait_ready_and_deadline(void **state)
{
	uint64_t deadline;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(dk_socket_wait(sv[0], POLLIN, 1), -ETIMEDOUT); /* past: polls once */
	deadline = dk_deadline_in(2 * DK_NSEC_PER_MSEC);
	assert_int_equal(dk_socket_wait(sv[0], POLLIN, deadline), -ETIMEDOUT);
	assert_true(dk_now_ns() >= deadline);
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_int_equal(dk_socket_wait(sv[0], POLLIN, dk_deadline_in(DK_NSEC_PER_SEC)), 0);
	assert_int_equal(dk_socket_wait(sv[0], POLLOUT, 1), 0);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_listen_live_and_stale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_never_replaces_a_file, setup, teardown),
		cmocka_unit_test(test_listen_path_too_long),
		cmocka_unit_test(test_wait_ready_and_deadline),
	};

	return cmocka_run_group_tests_name("socket", tests, NULL, NULL);
}
