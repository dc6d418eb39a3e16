/* SPDX-License-Identifier: MIT */
/*
 * sandbox.h - the driver sandbox (docs/sandbox.md).
 *
 * A device service enters the sandbox once its set-up is done (sockets connected, threads
 * started, configuration read). From then on, in every thread of the process:
 *
 *  - no_new_privs is set (PR_SET_NO_NEW_PRIVS): nothing it could exec would gain privileges;
 *  - a seccomp filter kills the whole process (SCMP_ACT_KILL_PROCESS, seen by the parent as
 *    "killed by signal 31, SIGSYS") on any system call of the denied set: executing code
 *    (execve, execveat, executable mappings: mmap/mprotect/pkey_mprotect with PROT_EXEC,
 *    shmat with SHM_EXEC, personality changes), opening files, changing the file system,
 *    creating sockets, touching other processes (ptrace, process_vm_*, signals other than 0
 *    to another process) and the kernel's rarely needed attack surface (bpf, perf_event_open,
 *    io_uring, user namespaces, mounts, modules, kexec, keys, ...). Everything else is allowed:
 *    it is a deny-list (docs/sandbox.md, "Why a deny-list");
 *  - where the kernel has Landlock, a Landlock domain that grants no file-system access at all
 *    (a second, independent layer: opening a file by path fails with -EACCES even where the
 *    seccomp filter lets the call through). Anonymous kernel files (memfds, even reopened
 *    through /proc/self/fd/N) are not subject to it.
 *
 * Nothing is ever removed: the sandbox lasts until the process ends, and the children it forks
 * inherit it.
 */
#ifndef DK_SANDBOX_H
#define DK_SANDBOX_H

#include <stdint.h>

/*
 * DK_SANDBOX_ALLOW_OPEN_RDONLY - let open()/openat() through when they ask for nothing but
 * reading: no O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_PATH or O_TMPFILE (with any of them the
 * process is killed, as is every openat2(), creat() and open_by_handle_at()). Needed by a
 * service that hands out read-only or wait-only handles after set-up: dk_buffer_export()
 * without DK_RIGHT_WRITE, dk_fence_export() without DK_RIGHT_SIGNAL and so dk_ring_send() reopen
 * the memfd read-only through /proc/self/fd/N. Every device service creates its queues (and
 * sends them) while serving, so every device service needs this flag.
 * The risk: seccomp cannot read the path, so on a kernel without Landlock the process can read
 * every file its uid can read. With Landlock, only kernel-internal files (memfds) can be
 * opened; any other path fails with -EACCES (docs/sandbox.md, "Opening files").
 */
#define DK_SANDBOX_ALLOW_OPEN_RDONLY (1u << 0)

/*
 * DK_SANDBOX_REQUIRE_LANDLOCK - refuse (-EOPNOTSUPP, nothing applied) when the kernel has no
 * Landlock, instead of entering with the seccomp filter alone.
 */
#define DK_SANDBOX_REQUIRE_LANDLOCK (1u << 1)

#define DK_SANDBOX_FLAGS_ALL (DK_SANDBOX_ALLOW_OPEN_RDONLY | DK_SANDBOX_REQUIRE_LANDLOCK)

/*
 * dk_sandbox_enter - confine the calling process for good (see the top of this file).
 * @flags: DK_SANDBOX_* flags.
 *
 * Call it once set-up is done, from the thread that handles untrusted input (the serving
 * thread). The seccomp filter and no_new_privs apply to every thread, those created before
 * included (SECCOMP_FILTER_FLAG_TSYNC). The Landlock layer applies to every thread on kernels
 * with Landlock ABI 8 or later (LANDLOCK_RESTRICT_SELF_TSYNC); on older ones to the calling
 * thread and the threads it creates afterwards only.
 *
 * Threads may be created after entering too: clone3() answers -ENOSYS, and the C library falls
 * back to clone(), whose flags the filter can check (no new namespaces).
 *
 * The steps, in this order: the filter is built (nothing applied yet), no_new_privs is set,
 * the Landlock domain is entered, the seccomp filter is loaded. Calling it again stacks the
 * same restrictions again (harmless).
 *
 * Returns 0 when every step is in force; -EINVAL for unknown @flags, -EOPNOTSUPP with
 * DK_SANDBOX_REQUIRE_LANDLOCK on a kernel without Landlock, -ENOMEM, and those three with
 * nothing applied. A later failure (an errno of prctl(), landlock_restrict_self() or the
 * seccomp load, e.g. -ESRCH when another thread has a seccomp filter of its own) may leave the
 * earlier steps in force: the process should then exit rather than go on half-confined.
 */
int dk_sandbox_enter(uint32_t flags);

/*
 * dk_sandbox_landlock_abi - the Landlock ABI version the running kernel offers (1 or more), or
 * -EOPNOTSUPP when it has none (not built in, or not enabled at boot). For a start-up log line
 * and for tests; dk_sandbox_enter() needs no help from the caller to use it.
 */
int dk_sandbox_landlock_abi(void);

#endif /* DK_SANDBOX_H */
