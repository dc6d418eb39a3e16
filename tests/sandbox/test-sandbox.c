/* SPDX-License-Identifier: MIT */
/*
 * The driver sandbox (src/sandbox, docs/sandbox.md). Every test forks: the child enters the
 * sandbox and reports through its exit status (0 = every check passed, otherwise the line of
 * the first failed check, 1..255), or dies. A violation must end the child with SIGSYS and
 * nothing else; what a service does must go on working inside.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/buffer.h>
#include <dk/fence.h>
#include <dk/qos.h>
#include <dk/rights.h>
#include <dk/ring.h>
#include <dk/time.h>
#include <dk/transfer.h>

#include "sandbox.h"

#define RDONLY DK_SANDBOX_ALLOW_OPEN_RDONLY
#define NOT_KILLED 77 /* a violation's child that went on living */
#define RING_JOBS 2000u
#define LONG_NS (10 * DK_NSEC_PER_SEC)

/* In a child: fail with the line number (1..255). */
#define CHILD_CHECK(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			_exit((__LINE__ % 255) + 1);                                               \
	} while (0)

/* ---- children ---- */

struct child {
	void (*fn)(int sock, uint32_t flags);
	int sock, other;
	uint32_t flags;
};

/*
 * Fork a child that runs @c->fn (which enters the sandbox itself) and exits 0 when it returns.
 * No core dump for a SIGSYS; an alarm ends a stuck child (a guard, never synchronisation).
 */
static pid_t spawn(const struct child *c)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = {0, 0};

		/* cmocka's handlers would make a faulting child run the rest of the tests. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGILL, SIG_DFL);
		signal(SIGFPE, SIG_DFL);
		signal(SIGSYS, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		setrlimit(RLIMIT_CORE, &no_core);
		alarm(60);
		if (c->other >= 0)
			close(c->other);
		c->fn(c->sock, c->flags);
		_exit(0);
	}
	return pid;
}

/* Wait for @pid: its exit code, or 1000 + the signal that killed it. */
static int join(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int run(void (*fn)(int, uint32_t), uint32_t flags)
{
	struct child c = {.fn = fn, .sock = -1, .other = -1, .flags = flags};

	return join(spawn(&c));
}

static void enter(uint32_t flags)
{
	CHILD_CHECK(dk_sandbox_enter(flags) == 0);
}

/* ---- entering ---- */

static void child_no_new_privs(int sock, uint32_t flags)
{
	CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
	/* Refusals apply nothing. */
	CHILD_CHECK(dk_sandbox_enter(1u << 31) == -EINVAL);
	CHILD_CHECK(dk_sandbox_enter(DK_SANDBOX_FLAGS_ALL + 1) == -EINVAL);
	if (dk_sandbox_landlock_abi() < 0)
		CHILD_CHECK(dk_sandbox_enter(DK_SANDBOX_REQUIRE_LANDLOCK) == -EOPNOTSUPP);
	CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
	enter(flags);
	CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
	/* Entering again stacks the same restrictions. */
	enter(flags);
	CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
}

static void test_no_new_privs(void **state)
{
	(void)state;
	assert_int_equal(run(child_no_new_privs, 0), 0);
	assert_int_equal(run(child_no_new_privs, RDONLY), 0);
}

/*
 * An orderly exit() inside works: atexit handlers run, and in ASan builds the leak check (which
 * ptraces and reads /proc, and would hang the process here) ran when entering instead.
 */
static void child_exits(int sock, uint32_t flags)
{
	enter(flags);
	exit(0);
}

static void test_orderly_exit(void **state)
{
	(void)state;
	assert_int_equal(run(child_exits, 0), 0);
	assert_int_equal(run(child_exits, RDONLY), 0);
}

static void child_require_landlock(int sock, uint32_t flags)
{
	enter(DK_SANDBOX_REQUIRE_LANDLOCK | flags);
	CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
}

static void test_landlock_abi(void **state)
{
	int abi = dk_sandbox_landlock_abi();

	(void)state;
	assert_true(abi >= 1 || abi == -EOPNOTSUPP);
	if (abi < 0)
		return; /* the refusal is checked in test_no_new_privs */
	assert_int_equal(run(child_require_landlock, 0), 0);
	assert_int_equal(run(child_require_landlock, RDONLY), 0);
}

/* ---- violations: each must kill the child with SIGSYS ---- */

static int make_memfd(size_t size)
{
	int fd = memfd_create("dk-sandbox-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(ftruncate(fd, (off_t)size) == 0);
	return fd;
}

static void proc_fd_path(int fd, char *path, size_t size)
{
	snprintf(path, size, "/proc/self/fd/%d", fd);
}

static void v_execve(void)
{
	char *argv[] = {(char *)"/bin/true", NULL};

	execve("/bin/true", argv, environ);
}

static void v_execveat(void)
{
	char *argv[] = {(char *)"/bin/true", NULL};

	syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, environ, 0);
}

static void v_open_file(void)
{
	open("/etc/hostname", O_RDONLY | O_CLOEXEC);
}

static void v_reopen_memfd_rdonly(void)
{
	char path[64];

	proc_fd_path(make_memfd(4096), path, sizeof(path));
	open(path, O_RDONLY | O_CLOEXEC);
}

static void v_reopen_memfd_rdwr(void)
{
	char path[64];

	proc_fd_path(make_memfd(4096), path, sizeof(path));
	open(path, O_RDWR | O_CLOEXEC);
}

static void v_open_wronly(void)
{
	open("/dev/null", O_WRONLY | O_CLOEXEC);
}

static void v_open_creat(void)
{
	open("/tmp/dk-sandbox-test-never", O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
}

static void v_open_trunc(void)
{
	syscall(SYS_openat, AT_FDCWD, "/tmp/dk-sandbox-test-never", O_RDONLY | O_TRUNC);
}

static void v_open_path(void)
{
	open("/", O_PATH | O_CLOEXEC);
}

static void v_open_tmpfile(void)
{
	open("/tmp", O_TMPFILE | O_RDONLY, 0600);
}

static void v_open_legacy(void)
{
#ifdef SYS_open
	syscall(SYS_open, "/dev/null", O_RDWR);
#else
	syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);
#endif
}

static void v_openat2(void)
{
	uint64_t how[3] = {O_RDONLY, 0, 0};

	syscall(SYS_openat2, AT_FDCWD, "/dev/null", how, sizeof(how));
}

static void v_creat(void)
{
#ifdef SYS_creat
	syscall(SYS_creat, "/tmp/dk-sandbox-test-never", 0600);
#else
	syscall(SYS_openat, AT_FDCWD, "/tmp/dk-sandbox-test-never", O_CREAT | O_WRONLY, 0600);
#endif
}

static void v_mmap_exec_anon(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void v_mmap_exec_memfd(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, make_memfd(4096), 0);
}

static void v_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHILD_CHECK(p != MAP_FAILED);
	memset(p, 0xc3, 4096); /* ret */
	mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

static void v_pkey_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHILD_CHECK(p != MAP_FAILED);
	syscall(SYS_pkey_mprotect, p, 4096, PROT_READ | PROT_EXEC, -1);
}

static void v_personality(void)
{
	personality(READ_IMPLIES_EXEC);
}

static void v_shmat_exec(void)
{
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);

	CHILD_CHECK(id >= 0);
	/* Removed at once: nothing is left behind when the attach kills us. */
	CHILD_CHECK(shmctl(id, IPC_RMID, NULL) == 0);
	shmat(id, NULL, SHM_EXEC);
}

static void v_ptrace(void)
{
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

static void v_process_vm_readv(void)
{
	char a[8], b[8] = "parent";
	struct iovec local = {a, sizeof(a)}, remote = {b, sizeof(b)};

	process_vm_readv(getppid(), &local, 1, &remote, 1, 0);
}

static void v_socket(void)
{
	socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
}

static void v_socketpair_inet(void)
{
	int sv[2];

	socketpair(AF_INET, SOCK_STREAM, 0, sv);
}

static void v_connect(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = "/nonexistent"};
	int sv[2];

	CHILD_CHECK(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0);
	connect(sv[0], (struct sockaddr *)&addr, sizeof(addr));
}

static void v_unshare(void)
{
	unshare(CLONE_NEWUSER);
}

static void v_clone_newns(void)
{
	/* Killed before it could make a child; a child would exit at once. */
	if (syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0) == 0)
		_exit(NOT_KILLED);
}

static void v_mount(void)
{
	syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL);
}

static void v_bpf(void)
{
	syscall(SYS_bpf, 0, NULL, 0);
}

static void v_perf_event_open(void)
{
	syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
}

static void v_io_uring_setup(void)
{
	syscall(SYS_io_uring_setup, 8, NULL);
}

static void v_userfaultfd(void)
{
	syscall(SYS_userfaultfd, O_CLOEXEC);
}

static void v_finit_module(void)
{
	syscall(SYS_finit_module, -1, "", 0);
}

static void v_keyctl(void)
{
	syscall(SYS_keyctl, 0, 0, 0, 0, 0);
}

static void v_mkdir(void)
{
	mkdir("/tmp/dk-sandbox-test-never", 0700);
}

static void v_unlink(void)
{
	unlink("/tmp/dk-sandbox-test-never");
}

static void v_fchmod(void)
{
	fchmod(make_memfd(4096), 0777);
}

static void v_kill_other(void)
{
	/* SIGURG: ignored by default, harmless should the filter let it through. */
	kill(getppid(), SIGURG);
}

static void v_kill_group(void)
{
	kill(0, SIGURG);
}

static void v_tgkill_other(void)
{
	syscall(SYS_tgkill, getppid(), getppid(), SIGURG);
}

static void v_tkill(void)
{
	syscall(SYS_tkill, getppid(), SIGURG);
}

static void v_sigqueue_other(void)
{
	union sigval v = {0};

	sigqueue(getppid(), SIGURG, v);
}

static void v_prlimit_other(void)
{
	struct rlimit old;

	/* Reading another process's limit is allowed; setting it (to the same value) is not. */
	CHILD_CHECK(prlimit(getppid(), RLIMIT_NOFILE, NULL, &old) == 0);
	prlimit(getppid(), RLIMIT_NOFILE, &old, NULL);
}

static void v_tiocsti(void)
{
	char c = 'x';

	/* On a memfd: harmless (-ENOTTY) should the filter let it through. */
	ioctl(make_memfd(4096), TIOCSTI, &c);
}

static void v_prctl_set_mm(void)
{
	prctl(PR_SET_MM, PR_SET_MM_START_BRK, 0, 0, 0);
}

static void v_ring_send_without_flag(void)
{
	struct dk_ring_params prm = {8, 8, DK_QOS_NORMAL};
	struct dk_ring *ring;
	int sv[2];

	CHILD_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	CHILD_CHECK(dk_ring_create(&prm, &ring) == 0);
	/* The wait-only fence export reopens the memfd through /proc/self/fd: an open. */
	dk_ring_send(sv[0], ring, 1);
}

#if defined(__x86_64__)
static void v_i386_abi(void)
{
	long ret;

	/* getpid (20) through the i386 entry. */
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
	(void)ret;
}

static void v_x32_abi(void)
{
	syscall(0x40000000L | SYS_getpid);
}
#endif

struct violation {
	const char *what;
	uint32_t flags;
	void (*fn)(void);
};

static const struct violation violations[] = {
	{"execve", 0, v_execve},
	{"execve (open flag)", RDONLY, v_execve},
	{"execveat", RDONLY, v_execveat},
	{"open a file", 0, v_open_file},
	{"reopen a memfd read-only without the open flag", 0, v_reopen_memfd_rdonly},
	{"reopen a memfd read-write", RDONLY, v_reopen_memfd_rdwr},
	{"open O_WRONLY", RDONLY, v_open_wronly},
	{"open O_CREAT", RDONLY, v_open_creat},
	{"open O_TRUNC", RDONLY, v_open_trunc},
	{"open O_PATH", RDONLY, v_open_path},
	{"open O_TMPFILE", RDONLY, v_open_tmpfile},
	{"open(2) O_RDWR", RDONLY, v_open_legacy},
	{"openat2", RDONLY, v_openat2},
	{"creat", RDONLY, v_creat},
	{"dk_ring_send without the open flag", 0, v_ring_send_without_flag},
	{"mmap PROT_EXEC anonymous", 0, v_mmap_exec_anon},
	{"mmap PROT_EXEC anonymous (open flag)", RDONLY, v_mmap_exec_anon},
	{"mmap PROT_EXEC of a memfd", 0, v_mmap_exec_memfd},
	{"mprotect to PROT_EXEC", 0, v_mprotect_exec},
	{"mprotect to PROT_EXEC (open flag)", RDONLY, v_mprotect_exec},
	{"pkey_mprotect to PROT_EXEC", 0, v_pkey_mprotect_exec},
	{"personality READ_IMPLIES_EXEC", 0, v_personality},
	{"shmat SHM_EXEC", 0, v_shmat_exec},
	{"ptrace", 0, v_ptrace},
	{"process_vm_readv", 0, v_process_vm_readv},
	{"socket", 0, v_socket},
	{"socketpair AF_INET", 0, v_socketpair_inet},
	{"connect", 0, v_connect},
	{"unshare", 0, v_unshare},
	{"clone CLONE_NEWUSER", 0, v_clone_newns},
	{"mount", 0, v_mount},
	{"bpf", 0, v_bpf},
	{"perf_event_open", 0, v_perf_event_open},
	{"io_uring_setup", 0, v_io_uring_setup},
	{"userfaultfd", 0, v_userfaultfd},
	{"finit_module", 0, v_finit_module},
	{"keyctl", 0, v_keyctl},
	{"mkdir", RDONLY, v_mkdir},
	{"unlink", RDONLY, v_unlink},
	{"fchmod", 0, v_fchmod},
	{"kill another process", 0, v_kill_other},
	{"kill the process group", 0, v_kill_group},
	{"tgkill another process", 0, v_tgkill_other},
	{"tkill", 0, v_tkill},
	{"sigqueue another process", 0, v_sigqueue_other},
	{"prlimit another process", 0, v_prlimit_other},
	{"ioctl TIOCSTI", 0, v_tiocsti},
	{"prctl PR_SET_MM", 0, v_prctl_set_mm},
#if defined(__x86_64__)
	{"x32 system call", 0, v_x32_abi},
#endif
};

static const struct violation *current;

static void child_violation(int sock, uint32_t flags)
{
	enter(flags);
	current->fn();
	_exit(NOT_KILLED);
}

static void check_violation(const struct violation *v)
{
	int code;

	current = v;
	code = run(child_violation, v->flags);
	if (code != 1000 + SIGSYS)
		fail_msg("%s: the child ended with %d, not killed by SIGSYS (%d)", v->what, code,
			 1000 + SIGSYS);
}

static void test_violations_kill(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(violations) / sizeof(violations[0]); i++)
		check_violation(&violations[i]);
}


#if defined(__x86_64__)
static void child_i386_unconfined(int sock, uint32_t flags)
{
	v_i386_abi();
}

static void test_i386_abi_kills(void **state)
{
	static const struct violation v = {"i386 system call (int $0x80)", 0, v_i386_abi};
	int code = run(child_i386_unconfined, 0);

	(void)state;
	/*
	 * Without ia32 emulation (or with it turned off at run time), int $0x80 faults, sandbox
	 * or not: nothing more to check. (cmocka's skip() would count as a failed case.)
	 */
	if (code == 1000 + SIGSEGV) {
		print_message("no i386 entry here: int $0x80 faults outside the sandbox\n");
		return;
	}
	assert_int_equal(code, 0);
	check_violation(&v);
}
#endif

/* ---- what a service does goes on working ---- */

static void check_handles_over_a_socket(uint32_t flags)
{
	struct dk_buffer_registry *reg;
	struct dk_buffer *b;
	struct dk_fence *f;
	struct dk_handle h;
	uint8_t byte = 0;
	int sv[2];

	CHILD_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	CHILD_CHECK(dk_buffer_registry_create(NULL, &reg) == 0);
	CHILD_CHECK(dk_buffer_create(reg, NULL, 4096, 0, &b) == 0);
	CHILD_CHECK(dk_buffer_write(b, 100, "\x42", 1) == 0);
	CHILD_CHECK(dk_fence_create(0, &f) == 0);

	/* Writable buffers and signalling fences travel as duplicates: no open. */
	CHILD_CHECK(dk_buffer_send(sv[0], b, DK_RIGHTS_BUFFER_RW, 1) == 0);
	CHILD_CHECK(dk_handle_recv(sv[1], dk_deadline_in(LONG_NS), reg, NULL, &h) == 0);
	CHILD_CHECK(h.type == DK_HANDLE_BUFFER && h.rights == DK_RIGHTS_BUFFER_RW);
	CHILD_CHECK(dk_buffer_read(h.buffer, 100, &byte, 1) == 0 && byte == 0x42);
	CHILD_CHECK(dk_buffer_release(h.buffer) == 0);
	CHILD_CHECK(dk_fence_send(sv[0], f, DK_RIGHT_SIGNAL | DK_RIGHTS_FENCE_WAIT, 2) == 0);
	CHILD_CHECK(dk_handle_recv(sv[1], dk_deadline_in(LONG_NS), reg, NULL, &h) == 0);
	CHILD_CHECK(h.type == DK_HANDLE_FENCE);
	CHILD_CHECK(dk_fence_signal(h.fence, 3) == 0);
	CHILD_CHECK(dk_fence_wait(f, 3, dk_deadline_in(LONG_NS)) == 0);
	dk_fence_unref(h.fence);

	if (flags & RDONLY) {
		/* Read-only and wait-only handles reopen the memfd: the open flag lets them. */
		CHILD_CHECK(dk_buffer_send(sv[0], b, DK_RIGHTS_BUFFER_RO, 3) == 0);
		CHILD_CHECK(dk_handle_recv(sv[1], dk_deadline_in(LONG_NS), reg, NULL, &h) == 0);
		CHILD_CHECK(h.type == DK_HANDLE_BUFFER && h.rights == DK_RIGHTS_BUFFER_RO);
		CHILD_CHECK(dk_buffer_read(h.buffer, 100, &byte, 1) == 0 && byte == 0x42);
		CHILD_CHECK(dk_buffer_release(h.buffer) == 0);
		CHILD_CHECK(dk_fence_send(sv[0], f, DK_RIGHTS_FENCE_WAIT, 4) == 0);
		CHILD_CHECK(dk_handle_recv(sv[1], dk_deadline_in(LONG_NS), reg, NULL, &h) == 0);
		CHILD_CHECK(h.type == DK_HANDLE_FENCE && h.rights == DK_RIGHTS_FENCE_WAIT);
		CHILD_CHECK(dk_fence_wait(h.fence, 3, dk_deadline_in(LONG_NS)) == 0);
		dk_fence_unref(h.fence);
	}
	dk_fence_unref(f);
	CHILD_CHECK(dk_buffer_release(b) == 0);
	dk_buffer_registry_destroy(reg);
	close(sv[0]);
	close(sv[1]);
}

static void child_service_syscalls(int sock, uint32_t flags)
{
	const size_t size = 1 << 16;
	struct dk_ring_params prm = {8, 8, DK_QOS_NORMAL};
	struct itimerspec its = {.it_value = {0, 1000 * 1000}};
	struct epoll_event ev = {.events = EPOLLIN}, got;
	struct signalfd_siginfo si;
	struct dk_ring *ring;
	struct dk_fence *f;
	struct timespec ts;
	struct stat st;
	sigset_t mask;
	uint64_t n = 1;
	int mfd, efd, tfd, sfd, epfd;
	unsigned char *p;

	enter(flags);

	/* A memfd: size, seals, a shared read-write mapping, a hole punched, fstat. */
	mfd = make_memfd(size);
	CHILD_CHECK(fcntl(mfd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) == 0);
	CHILD_CHECK(fcntl(mfd, F_GET_SEALS) == (F_SEAL_GROW | F_SEAL_SHRINK));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	CHILD_CHECK(p != MAP_FAILED);
	memset(p, 0xab, size);
	CHILD_CHECK(fallocate(mfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096) == 0);
	CHILD_CHECK(p[0] == 0 && p[4096] == 0xab);
	CHILD_CHECK(madvise(p, size, MADV_DONTNEED) == 0);
	CHILD_CHECK(p[8192] == 0xab); /* shared: the bytes live in the memfd */
	CHILD_CHECK(mprotect(p, size, PROT_READ) == 0);
	CHILD_CHECK(fstat(mfd, &st) == 0 && st.st_size == (off_t)size);
	CHILD_CHECK(fstatat(mfd, "", &st, AT_EMPTY_PATH) == 0 && st.st_size == (off_t)size);
	CHILD_CHECK(munmap(p, size) == 0);
	CHILD_CHECK(close(mfd) == 0);
	/* Anonymous memory. */
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_CHECK(p != MAP_FAILED);
	p[size - 1] = 1;
	CHILD_CHECK(munmap(p, size) == 0);

	/* An event loop: eventfd, timerfd, signalfd on one epoll. */
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	CHILD_CHECK(efd >= 0 && epfd >= 0);
	ev.data.u32 = 1;
	CHILD_CHECK(epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) == 0);
	CHILD_CHECK(write(efd, &n, sizeof(n)) == sizeof(n));
	CHILD_CHECK(epoll_wait(epfd, &got, 1, 5000) == 1 && got.data.u32 == 1);
	CHILD_CHECK(read(efd, &n, sizeof(n)) == sizeof(n) && n == 1);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	CHILD_CHECK(tfd >= 0 && timerfd_settime(tfd, 0, &its, NULL) == 0);
	ev.data.u32 = 2;
	CHILD_CHECK(epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev) == 0);
	CHILD_CHECK(epoll_wait(epfd, &got, 1, 5000) == 1 && got.data.u32 == 2);
	CHILD_CHECK(read(tfd, &n, sizeof(n)) == sizeof(n) && n >= 1);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	CHILD_CHECK(sigprocmask(SIG_BLOCK, &mask, NULL) == 0);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	CHILD_CHECK(sfd >= 0);
	ev.data.u32 = 3;
	CHILD_CHECK(epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) == 0);
	CHILD_CHECK(raise(SIGUSR1) == 0); /* a signal to ourselves */
	CHILD_CHECK(kill(getpid(), SIGUSR1) == 0);
	CHILD_CHECK(epoll_wait(epfd, &got, 1, 5000) == 1 && got.data.u32 == 3);
	CHILD_CHECK(read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGUSR1);

	/* Clocks, identities, the liveness probe (signal 0 goes anywhere), yielding. */
	CHILD_CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	CHILD_CHECK(gettid() == getpid());
	CHILD_CHECK(kill(getppid(), 0) == 0);
	CHILD_CHECK(syscall(SYS_tgkill, getppid(), getppid(), 0) == 0);
	CHILD_CHECK(syscall(SYS_tkill, gettid(), 0) == 0);
	CHILD_CHECK(sched_yield() == 0);

	/* A fence: create (getrandom), signal, wait, time out (futex with a deadline). */
	CHILD_CHECK(dk_fence_create(0, &f) == 0);
	CHILD_CHECK(dk_fence_signal(f, 1) == 0);
	CHILD_CHECK(dk_fence_wait(f, 1, dk_deadline_in(LONG_NS)) == 0);
	CHILD_CHECK(dk_fence_wait(f, 2, dk_deadline_in(DK_NSEC_PER_MSEC)) == -ETIMEDOUT);
	dk_fence_unref(f);
	/* An idle ring: spin, then futex_waitv on its doorbell until the deadline. */
	CHILD_CHECK(dk_ring_create(&prm, &ring) == 0);
	CHILD_CHECK(dk_ring_idle(&ring, 1, dk_deadline_in(2 * DK_NSEC_PER_MSEC)) == 0);
	dk_ring_destroy(ring);

	/* Handles over an AF_UNIX pair made inside (SCM_RIGHTS). */
	check_handles_over_a_socket(flags);
}

static void test_service_syscalls_work(void **state)
{
	(void)state;
	assert_int_equal(run(child_service_syscalls, 0), 0);
	assert_int_equal(run(child_service_syscalls, RDONLY), 0);
}

/* With the open flag: memfds reopen read-only; other files only where Landlock is missing. */
static void child_open_rdonly(int sock, uint32_t flags)
{
	char path[64], byte = 0;
	int mfd, fd;

	enter(flags);
	mfd = make_memfd(4096);
	CHILD_CHECK(pwrite(mfd, "s", 1, 10) == 1);
	proc_fd_path(mfd, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(pread(fd, &byte, 1, 10) == 1 && byte == 's');
	CHILD_CHECK(close(fd) == 0);

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (dk_sandbox_landlock_abi() > 0) {
		CHILD_CHECK(fd == -1 && errno == EACCES);
	} else {
		CHILD_CHECK(fd >= 0); /* the documented risk without Landlock */
		close(fd);
	}
}

static void test_open_rdonly_flag(void **state)
{
	(void)state;
	assert_int_equal(run(child_open_rdonly, RDONLY), 0);
}

/*
 * A device service in miniature, entered with the open flag before it does anything for its
 * client: it gets a buffer (SCM_RIGHTS), creates a queue and sends it (a wait-only fence export),
 * serves RING_JOBS no-ops sleeping in dk_ring_idle() (futex_waitv), then sends a read-only
 * buffer back.
 */
static void child_ring_service(int sock, uint32_t flags)
{
	struct dk_ring_params prm = {64, 64, DK_QOS_NORMAL};
	static struct dk_ring_job jobs[64];
	struct dk_buffer_registry *reg;
	struct dk_buffer *out;
	struct dk_ring *ring;
	struct dk_handle h;
	uint32_t done = 0;
	uint8_t byte = 0;

	enter(flags);
	CHILD_CHECK(dk_buffer_registry_create(NULL, &reg) == 0);
	CHILD_CHECK(dk_handle_recv(sock, dk_deadline_in(LONG_NS), reg, NULL, &h) == 0);
	CHILD_CHECK(h.type == DK_HANDLE_BUFFER && h.rights == DK_RIGHTS_BUFFER_RW);
	CHILD_CHECK(dk_buffer_read(h.buffer, 7, &byte, 1) == 0 && byte == 0x5a);
	CHILD_CHECK(dk_buffer_write(h.buffer, 7, "\xa5", 1) == 0);
	CHILD_CHECK(dk_buffer_release(h.buffer) == 0);

	CHILD_CHECK(dk_ring_create(&prm, &ring) == 0);
	CHILD_CHECK(dk_ring_send(sock, ring, 2) == 0);
	while (done < RING_JOBS) {
		int n = dk_ring_consume(ring, jobs, 64);

		CHILD_CHECK(n >= 0);
		if (n == 0) {
			CHILD_CHECK(dk_ring_idle(&ring, 1, dk_deadline_in(LONG_NS)) == 1);
			continue;
		}
		for (int i = 0; i < n; i++) {
			uint64_t result = jobs[i].sqe.user_data * 2;
			int err = dk_ring_complete(ring, &jobs[i], 0, 0, result, dk_now_ns());

			CHILD_CHECK(err == 0);
		}
		CHILD_CHECK(dk_ring_publish(ring) == 0);
		done += (uint32_t)n;
	}

	CHILD_CHECK(dk_buffer_create(reg, NULL, 4096, 0, &out) == 0);
	CHILD_CHECK(dk_buffer_write(out, 9, "\x33", 1) == 0);
	CHILD_CHECK(dk_buffer_send(sock, out, DK_RIGHTS_BUFFER_RO, 3) == 0);
	/* Wait for the client to hang up before the queue goes away. */
	CHILD_CHECK(recv(sock, &byte, 1, 0) == 0);
	dk_ring_destroy(ring);
}

static void test_ring_service(void **state)
{
	struct dk_buffer_registry *reg;
	struct dk_buffer *b;
	struct dk_handle h, ro;
	struct dk_ring *ring;
	struct dk_cqe cqe;
	uint64_t next = 1, reaped = 0;
	uint8_t byte = 0;
	int sv[2];
	pid_t pid;
	struct child c = {.fn = child_ring_service, .flags = RDONLY};

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	c.sock = sv[1];
	c.other = sv[0];
	pid = spawn(&c);
	close(sv[1]);

	assert_int_equal(dk_buffer_registry_create(NULL, &reg), 0);
	assert_int_equal(dk_buffer_create(reg, NULL, 4096, 0, &b), 0);
	assert_int_equal(dk_buffer_write(b, 7, "\x5a", 1), 0);
	assert_int_equal(dk_buffer_send(sv[0], b, DK_RIGHTS_BUFFER_RW, 1), 0);
	assert_int_equal(dk_handle_recv(sv[0], dk_deadline_in(LONG_NS), reg, NULL, &h), 0);
	assert_int_equal(h.type, DK_HANDLE_RING);
	ring = h.ring;

	while (reaped < RING_JOBS) {
		struct dk_sqe *sqe;
		int k = 0;

		while (next <= RING_JOBS && (sqe = dk_ring_get_sqe(ring, NULL))) {
			sqe->opcode = DK_OP_NOP;
			sqe->user_data = next++;
			k++;
		}
		if (k)
			assert_int_equal(dk_ring_submit(ring), k);
		assert_int_equal(dk_ring_wait_cqe(ring, &cqe, dk_deadline_in(LONG_NS)), 0);
		do {
			assert_int_equal(cqe.status, 0);
			assert_int_equal(cqe.result, cqe.user_data * 2);
			reaped++;
		} while (dk_ring_peek_cqe(ring, &cqe) == 0);
	}

	assert_int_equal(dk_handle_recv(sv[0], dk_deadline_in(LONG_NS), reg, NULL, &ro), 0);
	assert_int_equal(ro.type, DK_HANDLE_BUFFER);
	assert_int_equal(ro.rights, DK_RIGHTS_BUFFER_RO);
	assert_int_equal(dk_buffer_read(ro.buffer, 9, &byte, 1), 0);
	assert_int_equal(byte, 0x33);
	assert_int_equal(dk_buffer_read(b, 7, &byte, 1), 0);
	assert_int_equal(byte, 0xa5); /* written by the sandboxed child through the shared memory */

	close(sv[0]);
	assert_int_equal(join(pid), 0);
	dk_ring_destroy(ring);
	assert_int_equal(dk_buffer_release(ro.buffer), 0);
	assert_int_equal(dk_buffer_release(b), 0);
	dk_buffer_registry_destroy(reg);
}

/* ---- threads ---- */

static int thread_violates; /* set by the test before forking */

struct worker {
	int efd;
	int failed_line;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct dk_fence *f;
	uint64_t n;

	/* Created before the sandbox; runs once the main thread has entered it. */
	if (w->efd >= 0 && read(w->efd, &n, sizeof(n)) != sizeof(n)) {
		w->failed_line = __LINE__;
		return NULL;
	}
	if (thread_violates)
		v_mmap_exec_anon(); /* the filter covers this thread too, and kills the process */
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		w->failed_line = __LINE__;
	else if (dk_fence_create(0, &f) < 0)
		w->failed_line = __LINE__;
	else if (dk_fence_signal(f, 5) < 0 || dk_fence_wait(f, 5, dk_deadline_in(LONG_NS)) < 0)
		w->failed_line = __LINE__;
	else
		dk_fence_unref(f);
	return NULL;
}

static void child_thread_before(int sock, uint32_t flags)
{
	struct worker w = {.efd = eventfd(0, EFD_CLOEXEC)};
	uint64_t one = 1;
	pthread_t th;

	CHILD_CHECK(w.efd >= 0);
	CHILD_CHECK(pthread_create(&th, NULL, worker_main, &w) == 0);
	enter(flags);
	CHILD_CHECK(write(w.efd, &one, sizeof(one)) == sizeof(one));
	CHILD_CHECK(pthread_join(th, NULL) == 0);
	CHILD_CHECK(w.failed_line == 0);
}

static void child_thread_after(int sock, uint32_t flags)
{
	struct worker w = {.efd = -1};
	pthread_t th;

	enter(flags);
	/* clone3 answers -ENOSYS; the C library falls back to clone(), which is checked. */
	CHILD_CHECK(pthread_create(&th, NULL, worker_main, &w) == 0);
	CHILD_CHECK(pthread_join(th, NULL) == 0);
	CHILD_CHECK(w.failed_line == 0);
}

static void test_threads(void **state)
{
	(void)state;
	thread_violates = 0;
	assert_int_equal(run(child_thread_before, 0), 0);
	assert_int_equal(run(child_thread_before, RDONLY), 0);
	assert_int_equal(run(child_thread_after, 0), 0);
	thread_violates = 1;
	assert_int_equal(run(child_thread_before, 0), 1000 + SIGSYS);
	thread_violates = 0;
}

/* A child forked inside inherits the sandbox. */
static void child_fork_inside(int sock, uint32_t flags)
{
	pid_t pid;
	int status;

	enter(flags);
	pid = fork();
	CHILD_CHECK(pid >= 0);
	if (pid == 0) {
		v_execve();
		_exit(NOT_KILLED);
	}
	CHILD_CHECK(waitpid(pid, &status, 0) == pid);
	CHILD_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
}

static void test_fork_inherits(void **state)
{
	(void)state;
	assert_int_equal(run(child_fork_inside, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_new_privs),
		cmocka_unit_test(test_orderly_exit),
		cmocka_unit_test(test_landlock_abi),
		cmocka_unit_test(test_violations_kill),
#if defined(__x86_64__)
		cmocka_unit_test(test_i386_abi_kills),
#endif
		cmocka_unit_test(test_service_syscalls_work),
		cmocka_unit_test(test_open_rdonly_flag),
		cmocka_unit_test(test_ring_service),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_fork_inherits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
