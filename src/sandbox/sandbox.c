/* SPDX-License-Identifier: MIT */
/*
 * sandbox.c - no_new_privs, a Landlock domain without file-system rights and a seccomp
 * deny-list, for device services after set-up (sandbox.h, docs/sandbox.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include "sandbox.h"

/* ---- Landlock (linux/landlock.h, defined here so that old kernel headers build too) ---- */

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RESTRICT_SELF_TSYNC (1u << 3) /* ABI 8 */
#define LL_ACCESS_FS_ABI1 ((1ull << 13) - 1) /* EXECUTE .. MAKE_SYM */
#define LL_ACCESS_FS_REFER (1ull << 13)      /* ABI 2 */
#define LL_ACCESS_FS_TRUNCATE (1ull << 14)   /* ABI 3 */
#define LL_ACCESS_FS_IOCTL_DEV (1ull << 15)  /* ABI 5 */

/* The first member of struct landlock_ruleset_attr: every ABI accepts this size. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
};

int dk_sandbox_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);

	return abi > 0 ? (int)abi : -EOPNOTSUPP;
}

/*
 * A ruleset that handles every file-system right the kernel knows and grants none: with it,
 * no file can be opened, created, removed, renamed, linked, truncated or executed by path.
 * Returns the ruleset descriptor, or a negative errno.
 */
static int landlock_ruleset(int abi)
{
	struct ll_ruleset_attr attr = {.handled_access_fs = LL_ACCESS_FS_ABI1};
	long fd;

	if (abi >= 2)
		attr.handled_access_fs |= LL_ACCESS_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LL_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		attr.handled_access_fs |= LL_ACCESS_FS_IOCTL_DEV;
	fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	return fd < 0 ? -errno : (int)fd;
}

/* ---- the seccomp deny-list ---- */

/*
 * System calls the sandbox kills on, whatever their arguments. @nr: the number to use when
 * libseccomp does not know the name (calls newer than it; numbers from 424 on are the same on
 * every architecture), or -1 to skip a name the architecture does not have.
 */
struct denied {
	const char *name;
	int nr;
};

static const struct denied denied_always[] = {
	/* Running other code. */
	{"execve", -1},
	{"execveat", -1},
	{"uselib", -1},
	/* Opening files (the read-only case is handled apart). */
	{"creat", -1},
	{"openat2", -1},
	{"open_by_handle_at", -1},
	{"name_to_handle_at", -1},
	{"inotify_add_watch", -1},
	/* Changing the file system. */
	{"mkdir", -1},
	{"mkdirat", -1},
	{"mknod", -1},
	{"mknodat", -1},
	{"rmdir", -1},
	{"unlink", -1},
	{"unlinkat", -1},
	{"rename", -1},
	{"renameat", -1},
	{"renameat2", -1},
	{"link", -1},
	{"linkat", -1},
	{"symlink", -1},
	{"symlinkat", -1},
	{"chmod", -1},
	{"fchmod", -1},
	{"fchmodat", -1},
	{"fchmodat2", 452},
	{"chown", -1},
	{"fchown", -1},
	{"lchown", -1},
	{"fchownat", -1},
	{"truncate", -1},
	{"utime", -1},
	{"utimes", -1},
	{"futimesat", -1},
	{"utimensat", -1},
	{"setxattr", -1},
	{"lsetxattr", -1},
	{"fsetxattr", -1},
	{"setxattrat", 463},
	{"removexattr", -1},
	{"lremovexattr", -1},
	{"fremovexattr", -1},
	{"removexattrat", 466},
	{"chroot", -1},
	{"pivot_root", -1},
	{"acct", -1},
	{"swapon", -1},
	{"swapoff", -1},
	{"quotactl", -1},
	{"quotactl_fd", 443},
	/* Mounts and namespaces. */
	{"mount", -1},
	{"umount2", -1},
	{"fsopen", 430},
	{"fsconfig", 431},
	{"fsmount", 432},
	{"fspick", 433},
	{"move_mount", 429},
	{"open_tree", 428},
	{"open_tree_attr", 467},
	{"mount_setattr", 442},
	{"unshare", -1},
	{"setns", -1},
	/* New sockets, and giving addresses to old ones (socketpair is handled apart). */
	{"socket", -1},
	{"connect", -1},
	{"bind", -1},
	{"listen", -1},
	/* Other processes. */
	{"ptrace", -1},
	{"process_vm_readv", -1},
	{"process_vm_writev", -1},
	{"process_madvise", 440},
	{"pidfd_getfd", 438},
	{"pidfd_send_signal", 424},
	{"kcmp", -1},
	{"migrate_pages", -1},
	{"move_pages", -1},
	/* The kernel's attack surface no driver service needs after set-up. */
	{"bpf", -1},
	{"perf_event_open", -1},
	{"userfaultfd", -1},
	{"io_uring_setup", 425},
	{"io_uring_enter", 426},
	{"io_uring_register", 427},
	{"keyctl", -1},
	{"add_key", -1},
	{"request_key", -1},
	{"fanotify_init", -1},
	{"lookup_dcookie", -1},
	{"modify_ldt", -1},
	{"iopl", -1},
	{"ioperm", -1},
	{"vm86", -1},
	{"vm86old", -1},
	{"kexec_load", -1},
	{"kexec_file_load", -1},
	{"init_module", -1},
	{"finit_module", -1},
	{"delete_module", -1},
	{"create_module", -1},
	{"reboot", -1},
	{"syslog", -1},
	{"settimeofday", -1},
	{"clock_settime", -1},
	{"clock_adjtime", -1},
	{"adjtimex", -1},
	{"sethostname", -1},
	{"setdomainname", -1},
	{"vhangup", -1},
	{"nfsservctl", -1},
	{"_sysctl", -1},
};

#ifndef SHM_EXEC
#define SHM_EXEC 0100000
#endif
#define DK_O_TMPFILE_BIT 020000000 /* __O_TMPFILE: O_TMPFILE without O_DIRECTORY */

struct filter {
	scmp_filter_ctx ctx;
	uint64_t self; /* our pid when the filter was built */
};

static int resolve(const char *name, int fallback)
{
	int nr = seccomp_syscall_resolve_name(name);

	/* Unknown to libseccomp: __NR_SCMP_ERROR; absent on this architecture: a pseudo number. */
	return nr >= 0 ? nr : fallback;
}

/* Kill the process on @name when all @n comparisons hold (every call when @n is 0). */
static int kill_on(struct filter *f, const char *name, unsigned int n,
		   const struct scmp_arg_cmp *cmp)
{
	int nr = resolve(name, -1);

	if (nr < 0)
		return 0;
	return seccomp_rule_add_array(f->ctx, SCMP_ACT_KILL_PROCESS, nr, n, cmp);
}

static struct scmp_arg_cmp arg_bit(unsigned int arg, uint64_t bit)
{
	return (struct scmp_arg_cmp){
		.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = bit, .datum_b = bit};
}

static struct scmp_arg_cmp arg_cmp(unsigned int arg, enum scmp_compare op, uint64_t value)
{
	return (struct scmp_arg_cmp){.arg = arg, .op = op, .datum_a = value};
}

/* Kill on @name when argument @arg has any of the bits of @mask (one rule per bit). */
static int kill_on_any_bit(struct filter *f, const char *name, unsigned int arg, uint64_t mask)
{
	int ret = 0;

	for (unsigned int b = 0; b < 64 && ret == 0; b++) {
		struct scmp_arg_cmp c = arg_bit(arg, 1ull << b);

		if (mask & (1ull << b))
			ret = kill_on(f, name, 1, &c);
	}
	return ret;
}

/* Kill on @name when the 32-bit argument @arg (an int or a command number) equals @value. */
static int kill_on_u32(struct filter *f, const char *name, unsigned int arg, uint32_t value)
{
	struct scmp_arg_cmp c = {
		.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffu, .datum_b = value};

	return kill_on(f, name, 1, &c);
}

/*
 * Signals: signal 0 (the "is it alive" probe, which the fence code uses on other processes'
 * threads) goes anywhere; any other signal only to this process. Killed otherwise.
 */
static int deny_signals(struct filter *f)
{
	struct scmp_arg_cmp c[2];
	int ret;

	c[0] = arg_cmp(0, SCMP_CMP_NE, f->self); /* kill(pid, sig) */
	c[1] = arg_cmp(1, SCMP_CMP_NE, 0);
	ret = kill_on(f, "kill", 2, c);
	if (ret == 0)
		ret = kill_on(f, "rt_sigqueueinfo", 2, c); /* (tgid, sig, info) */
	c[1] = arg_cmp(2, SCMP_CMP_NE, 0);
	if (ret == 0)
		ret = kill_on(f, "tgkill", 2, c); /* (tgid, tid, sig) */
	if (ret == 0)
		ret = kill_on(f, "rt_tgsigqueueinfo", 2, c); /* (tgid, tid, sig, info) */
	/* tkill(tid, sig) names a thread without its process: only the probe. */
	c[0] = arg_cmp(1, SCMP_CMP_NE, 0);
	if (ret == 0)
		ret = kill_on(f, "tkill", 1, c);
	return ret;
}

static int deny_exec_mappings(struct filter *f)
{
	int ret = kill_on_any_bit(f, "mmap", 2, PROT_EXEC);

	if (ret == 0)
		ret = kill_on_any_bit(f, "mmap2", 2, PROT_EXEC);
	if (ret == 0)
		ret = kill_on_any_bit(f, "mprotect", 2, PROT_EXEC);
	if (ret == 0)
		ret = kill_on_any_bit(f, "pkey_mprotect", 2, PROT_EXEC);
	if (ret == 0)
		ret = kill_on_any_bit(f, "shmat", 2, SHM_EXEC);
	if (ret == 0) {
		/* Only the query: READ_IMPLIES_EXEC makes every readable mapping executable. */
		struct scmp_arg_cmp c = arg_cmp(0, SCMP_CMP_NE, 0xffffffffu);

		ret = kill_on(f, "personality", 1, &c);
	}
	return ret;
}

static int deny_open(struct filter *f, bool allow_rdonly)
{
	const uint64_t not_read_only = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_PATH |
				       DK_O_TMPFILE_BIT;
	int ret;

	if (!allow_rdonly) {
		ret = kill_on(f, "open", 0, NULL);
		return ret ? ret : kill_on(f, "openat", 0, NULL);
	}
	ret = kill_on_any_bit(f, "open", 1, not_read_only);
	return ret ? ret : kill_on_any_bit(f, "openat", 2, not_read_only);
}

static int deny_misc(struct filter *f)
{
	const uint64_t new_ns = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
				CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
	struct scmp_arg_cmp c[2];
	int ret, nr;

	/* Threads (and forks) without new namespaces; clone3's flags are out of reach. */
	ret = kill_on_any_bit(f, "clone", 0, new_ns);
	nr = resolve("clone3", 435);
	if (ret == 0)
		ret = seccomp_rule_add_array(f->ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0, NULL);
	/* Sockets: only a new AF_UNIX pair. */
	c[0] = arg_cmp(0, SCMP_CMP_NE, AF_UNIX);
	if (ret == 0)
		ret = kill_on(f, "socketpair", 1, c);
	/*
	 * Setting limits other than our own: pid 0 is the caller (what setrlimit() passes). One
	 * rule cannot compare an argument twice, so our own pid spelled out counts as another.
	 */
	c[0] = arg_cmp(0, SCMP_CMP_NE, 0);
	c[1] = arg_cmp(2, SCMP_CMP_NE, 0);
	if (ret == 0)
		ret = kill_on(f, "prlimit64", 2, c);
	/* Typing into the terminal of whoever started us; rewriting our own memory map. */
	if (ret == 0)
		ret = kill_on_u32(f, "ioctl", 1, TIOCSTI);
	if (ret == 0)
		ret = kill_on_u32(f, "ioctl", 1, TIOCLINUX);
	if (ret == 0)
		ret = kill_on_u32(f, "prctl", 0, PR_SET_MM);
	return ret;
}

static int filter_build(struct filter *f, uint32_t flags)
{
	int ret = 0;

	f->self = (uint64_t)getpid();
	f->ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!f->ctx)
		return -ENOMEM;
	/* Another ABI (i386's int 0x80, x32) would dodge every rule: kill. */
	ret = seccomp_attr_set(f->ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (ret == 0)
		ret = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	/* A binary search over the rules instead of a linear scan. */
	if (ret == 0)
		ret = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; ret == 0 && i < sizeof(denied_always) / sizeof(denied_always[0]); i++) {
		int nr = resolve(denied_always[i].name, denied_always[i].nr);

		if (nr >= 0)
			ret = seccomp_rule_add_array(f->ctx, SCMP_ACT_KILL_PROCESS, nr, 0, NULL);
	}
	if (ret == 0)
		ret = deny_open(f, flags & DK_SANDBOX_ALLOW_OPEN_RDONLY);
	if (ret == 0)
		ret = deny_exec_mappings(f);
	if (ret == 0)
		ret = deny_signals(f);
	if (ret == 0)
		ret = deny_misc(f);
	if (ret < 0) {
		seccomp_release(f->ctx);
		f->ctx = NULL;
	}
	return ret;
}

/*
 * LeakSanitizer (part of ASan builds) looks for leaks at exit from a tracer task that ptraces
 * this process and reads /proc: inside the sandbox the tracer is killed and the process hangs
 * waiting for it. So in such builds the leak check runs once when entering, and not at exit
 * (docs/sandbox.md, "Sanitizers"). Weak: NULL without a sanitizer runtime.
 */
extern void __lsan_do_leak_check(void) __attribute__((weak));

int dk_sandbox_enter(uint32_t flags)
{
	struct filter f;
	int abi, ll_fd = -1, ret;

	if (flags & ~DK_SANDBOX_FLAGS_ALL)
		return -EINVAL;
	abi = dk_sandbox_landlock_abi();
	if (abi < 0 && (flags & DK_SANDBOX_REQUIRE_LANDLOCK))
		return -EOPNOTSUPP;
	ret = filter_build(&f, flags);
	if (ret < 0)
		return ret;
	if (abi > 0) {
		ll_fd = landlock_ruleset(abi);
		if (ll_fd < 0) {
			seccomp_release(f.ctx);
			return ll_fd;
		}
	}

	if (__lsan_do_leak_check)
		__lsan_do_leak_check();
	/* From here on, each step stays in force even if a later one fails. */
	ret = prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
	if (ret == 0 && ll_fd >= 0 &&
	    syscall(SYS_landlock_restrict_self, ll_fd, abi >= 8 ? LL_RESTRICT_SELF_TSYNC : 0) < 0)
		ret = -errno;
	if (ll_fd >= 0)
		close(ll_fd);
	if (ret == 0)
		ret = seccomp_load(f.ctx);
	seccomp_release(f.ctx);
	return ret;
}
