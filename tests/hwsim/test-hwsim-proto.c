/* SPDX-License-Identifier: MIT */
/*
 * dk-hwsim's protocol side: DEVICES, what GRANT hands out (a sealed 4096-byte memfd, two
 * eventfds), MAP's checks and the window cap, malformed frames answered while the daemon
 * stays up, the supervisor's control socket (READY, HWSIM_CHANNEL replacing the channel),
 * faults in the journal (a real dk-logd), and SIGTERM.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "rig.h"

#include <dk/error.h>
#include <dk/frame.h>
#include <dk/log.h>
#include <dk/runtime.h>
#include <dk/wire.h>

#define RW (DK_DMA_READ | DK_DMA_WRITE)

static struct dk_msg msg;

static int ms_left(uint64_t deadline)
{
	uint64_t now = dk_now_ns();

	return deadline <= now ? 0 : (int)((deadline - now) / DK_NSEC_PER_MSEC + 1);
}

/* A payload holding just a device name. */
static size_t name_payload(uint8_t *p, size_t size, const char *device)
{
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, size);
	dk_wire_put_string(&w, device);
	return dk_wire_writer_len(&w);
}

/* ---- DEVICES and GRANT ---- */

static void devices_list(void **state)
{
	char names[4][DK_RT_NAME_MAX + 1], models[4][16];
	struct rig R;

	(void)state;
	rig_start(&R, RIG_BOARD);
	assert_int_equal(rig_devices(&R, names, models, 4), 3);
	assert_string_equal(names[0], "copy0");
	assert_string_equal(models[0], "copy");
	assert_string_equal(names[1], "copy1");
	assert_string_equal(models[1], "copy");
	assert_string_equal(names[2], "null0");
	assert_string_equal(models[2], "null");
	rig_stop(&R);
}

static void assert_eventfd(int fd)
{
	char path[64], link[64] = "";
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, "anon_inode:[eventfd]");
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static void grant_resources(void **state)
{
	uint8_t p[128];
	struct stat st;
	struct drv D;
	struct rig R;
	char c = 1;

	(void)state;
	rig_start(&R, RIG_BOARD);
	drv_grant(&R, "copy0", &D);
	assert_string_equal(D.model, "copy");
	/* The register window: exactly one page, sealed so nobody can resize or reseal it. */
	assert_int_equal(fstat(D.regs_fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4096);
	assert_int_equal(fcntl(D.regs_fd, F_GET_SEALS),
			 F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	assert_int_equal(ftruncate(D.regs_fd, 8192), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(D.regs_fd, 0), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(pwrite(D.regs_fd, &c, 1, 4096), -1); /* growing by writing past the end */
	assert_int_equal(errno, EPERM);
	assert_int_equal(fcntl(D.regs_fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fstat(D.regs_fd, &st), 0);
	assert_int_equal(st.st_size, 4096);
	assert_eventfd(D.doorbell);
	assert_eventfd(D.irq);
	assert_int_equal(reg(&D, DK_COPY_REG_ID), DK_COPY_ID);
	assert_int_equal(reg(&D, DK_COPY_REG_VERSION), DK_COPY_VERSION);
	assert_int_equal(drv_irq_count(&D), 0);
	drv_close(&D);
	/* The null model: ID and VERSION, no DMA, nothing to inject. */
	drv_grant(&R, "null0", &D);
	assert_string_equal(D.model, "null");
	assert_int_equal(reg(&D, DK_COPY_REG_ID), DK_HWSIM_NULL_ID);
	assert_int_equal(reg(&D, DK_COPY_REG_VERSION), DK_HWSIM_NULL_VERSION);
	reg_set(&D, DK_COPY_REG_VERSION, 7);
	drv_sync(&D);
	assert_int_equal(reg(&D, DK_COPY_REG_VERSION), DK_HWSIM_NULL_VERSION);
	{
		uint64_t iova;
		struct buf b;

		buf_new(&b, 4096);
		assert_int_equal(rig_map(&R, "null0", b.fd, RW, 0, 4096, &iova), -EOPNOTSUPP);
		buf_free(&b);
	}
	assert_int_equal(rig_inject(&R, "null0", DK_HWSIM_FAULT_HANG), -EOPNOTSUPP);
	drv_close(&D);
	/* No such device. */
	assert_int_equal(rig_call(&R, DK_HWSIM_OP_GRANT, p, name_payload(p, sizeof(p), "gpu0"),
				  NULL, 0, &msg),
			 -ENODEV);
	assert_int_equal(rig_inject(&R, "gpu0", DK_HWSIM_FAULT_NONE), -ENODEV);
	assert_int_equal(rig_call(&R, DK_HWSIM_OP_STATS, p, name_payload(p, sizeof(p), "gpu0"),
				  NULL, 0, &msg),
			 -ENODEV);
	rig_stop(&R);
}

/* ---- MAP ---- */

static void map_checks(void **state)
{
	struct buf b, unsealed_b;
	struct rig R;
	uint64_t iova, prev = 0;
	char path[128];
	int fd, p[2];

	(void)state;
	rig_start(&R, RIG_BOARD);
	buf_new(&b, 8192);
	/* Bad arguments. */
	assert_int_equal(rig_map(&R, "copy0", b.fd, 0, 0, 4096, &iova), -EINVAL);
	assert_int_equal(rig_map(&R, "copy0", b.fd, 4, 0, 4096, &iova), -EINVAL);
	assert_int_equal(rig_map(&R, "copy0", b.fd, RW | 8, 0, 4096, &iova), -EINVAL);
	assert_int_equal(rig_map(&R, "copy0", b.fd, RW, 0, 0, &iova), -EINVAL);
	assert_int_equal(rig_map(&R, "copy0", b.fd, RW, 4096, 4097, &iova), -EINVAL);
	assert_int_equal(rig_map(&R, "copy0", b.fd, RW, 8192, 1, &iova), -EINVAL);
	assert_int_equal(rig_map(&R, "copy0", b.fd, RW, UINT64_MAX, 2, &iova), -EINVAL);
	assert_int_equal(rig_map(&R, "gpu0", b.fd, RW, 0, 4096, &iova), -ENODEV);
	/* No descriptor at all is a malformed MAP. */
	assert_int_equal(rig_map(&R, "copy0", -1, RW, 0, 4096, &iova), -EPROTO);
	/* Not a memfd: a pipe, a regular file. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(rig_map(&R, "copy0", p[0], DK_DMA_READ, 0, 1, &iova), -EBADF);
	close(p[0]);
	close(p[1]);
	snprintf(path, sizeof(path), "%s/file", R.dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(rig_map(&R, "copy0", fd, DK_DMA_READ, 0, 4096, &iova), -EBADF);
	close(fd);
	/* A memfd whose size is not sealed (it could shrink under the device). */
	unsealed_b.fd = memfd_create("unsealed", MFD_CLOEXEC);
	assert_true(unsealed_b.fd >= 0);
	assert_int_equal(ftruncate(unsealed_b.fd, 4096), 0);
	assert_int_equal(rig_map(&R, "copy0", unsealed_b.fd, DK_DMA_READ, 0, 4096, &iova), -EBADF);
	close(unsealed_b.fd);
	/* A read-only descriptor: READ windows yes, WRITE windows no. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b.fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(rig_map(&R, "copy0", fd, DK_DMA_WRITE, 0, 4096, &iova), -EBADF);
	assert_int_equal(rig_map(&R, "copy0", fd, DK_DMA_READ, 0, 4096, &iova), 0);
	close(fd);
	/* IOVAs: from the base, page-aligned, a free page between windows, unaligned offsets. */
	assert_int_equal(iova, DK_HWSIM_IOVA_BASE);
	prev = iova;
	assert_int_equal(rig_map(&R, "copy0", b.fd, RW, 1, 5000, &iova), 0);
	assert_int_equal(iova, prev + 2 * 4096);
	prev = iova;
	assert_int_equal(rig_map(&R, "copy0", b.fd, RW, 8191, 1, &iova), 0);
	assert_int_equal(iova, prev + 3 * 4096);
	/* Another device has its own table. */
	assert_int_equal(rig_map(&R, "copy1", b.fd, RW, 0, 1, &iova), 0);
	assert_int_equal(iova, DK_HWSIM_IOVA_BASE);
	buf_free(&b);
	rig_stop(&R);
}

static void window_cap(void **state)
{
	struct dk_hwsim_stats st;
	struct drv D;
	struct buf b;
	struct rig R;
	uint64_t iova, first = 0;

	(void)state;
	rig_start(&R, RIG_BOARD);
	buf_new(&b, 4096);
	for (uint32_t i = 0; i < DK_HWSIM_WINDOWS_MAX; i++) {
		assert_int_equal(rig_map(&R, "copy0", b.fd, DK_DMA_READ, 0, 4096, &iova), 0);
		if (i == 0)
			first = iova;
	}
	assert_int_equal(rig_map(&R, "copy0", b.fd, DK_DMA_READ, 0, 4096, &iova), -ENOSPC);
	rig_stats(&R, "copy0", &st);
	assert_int_equal(st.windows, DK_HWSIM_WINDOWS_MAX);
	/* One out, one in (at a new IOVA). */
	assert_int_equal(rig_unmap(&R, "copy0", first), 0);
	assert_int_equal(rig_map(&R, "copy0", b.fd, DK_DMA_READ, 0, 4096, &iova), 0);
	assert_true(iova > first);
	assert_int_equal(rig_map(&R, "copy0", b.fd, DK_DMA_READ, 0, 4096, &iova), -ENOSPC);
	/* The cap is per device, and a GRANT empties the table. */
	assert_int_equal(rig_map(&R, "copy1", b.fd, DK_DMA_READ, 0, 4096, &iova), 0);
	drv_grant(&R, "copy0", &D);
	rig_stats(&R, "copy0", &st);
	assert_int_equal(st.windows, 0);
	assert_int_equal(rig_map(&R, "copy0", b.fd, DK_DMA_READ, 0, 4096, &iova), 0);
	drv_close(&D);
	buf_free(&b);
	rig_stop(&R);
}

/* ---- malformed frames ---- */

/* Read one error reply; returns its error and checks it answers @opcode/@seq. */
static int error_reply(struct rig *R, uint16_t opcode, uint64_t seq)
{
	struct pollfd p = {.fd = R->chan, .events = POLLIN};
	uint8_t buf[DK_FRAME_MAX_SIZE];
	struct dk_wire_reader r;
	uint16_t flags;
	ssize_t n;
	int32_t err;

	/* Raw: the reply to an unknown opcode is itself of an unknown opcode. */
	assert_int_equal(poll(&p, 1, ms_left(RIG_DEADLINE())), 1);
	n = recv(R->chan, buf, sizeof(buf), 0);
	assert_int_equal(n, DK_FRAME_HEADER_SIZE + DK_FRAME_ERROR_PAYLOAD);
	dk_wire_reader_init(&r, buf, (size_t)n);
	assert_int_equal(dk_wire_get_u32(&r), DK_FRAME_MAGIC);
	dk_wire_get_u32(&r); /* version */
	assert_int_equal(dk_wire_get_u16(&r), opcode);
	flags = dk_wire_get_u16(&r);
	assert_int_equal(flags, DK_FRAME_F_REPLY | DK_FRAME_F_ERROR);
	assert_int_equal(dk_wire_get_u32(&r), DK_FRAME_ERROR_PAYLOAD);
	assert_int_equal(dk_wire_get_u64(&r), seq);
	err = (int32_t)dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_get_u32(&r), DK_REASON_PROTOCOL);
	return err;
}

static void send_frame(struct rig *R, uint16_t opcode, uint16_t flags, uint64_t seq,
		       const void *payload, size_t len, const int *fds, uint32_t n_fds)
{
	assert_int_equal(dk_msg_send(R->chan, &dk_hwsim_proto, opcode, flags, seq, payload, len,
				     fds, n_fds, RIG_DEADLINE()),
			 0);
}

static void malformed_frames(void **state)
{
	char names[4][DK_RT_NAME_MAX + 1], models[4][16];
	uint8_t p[256], junk[40];
	struct dk_wire_writer w;
	struct rig R;
	size_t len;
	int efd;

	(void)state;
	rig_start(&R, RIG_BOARD);
	/* Not a frame at all: answered -EPROTO (opcode and seq 0: there was no header). */
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(send(R.chan, junk, 10, 0), 10);
	assert_int_equal(error_reply(&R, 0, 0), -EPROTO);
	/* An unknown opcode: -EOPNOTSUPP, with its opcode and seq. */
	send_frame(&R, 0x0777, 0, 41, NULL, 0, NULL, 0);
	assert_int_equal(error_reply(&R, 0x0777, 41), -EOPNOTSUPP);
	/* A reply where a request belongs. */
	send_frame(&R, DK_HWSIM_OP_DEVICES, DK_FRAME_F_REPLY, 42, NULL, 0, NULL, 0);
	assert_int_equal(error_reply(&R, DK_HWSIM_OP_DEVICES, 42), -EPROTO);
	/* A descriptor on a request that takes none (it is closed, not kept). */
	efd = memfd_create("x", MFD_CLOEXEC);
	len = name_payload(p, sizeof(p), "copy0");
	send_frame(&R, DK_HWSIM_OP_GRANT, 0, 43, p, len, &efd, 1);
	assert_int_equal(error_reply(&R, DK_HWSIM_OP_GRANT, 43), -EPROTO);
	close(efd);
	/* Trailing bytes after the device name. */
	p[len] = 0;
	send_frame(&R, DK_HWSIM_OP_GRANT, 0, 44, p, len + 1, NULL, 0);
	assert_int_equal(error_reply(&R, DK_HWSIM_OP_GRANT, 44), -EPROTO);
	/* A string longer than its payload. */
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u16(&w, 200);
	dk_wire_put_bytes(&w, "copy0", 5);
	send_frame(&R, DK_HWSIM_OP_STATS, 0, 45, p, dk_wire_writer_len(&w), NULL, 0);
	assert_int_equal(error_reply(&R, DK_HWSIM_OP_STATS, 45), -EPROTO);
	/* MAP cut short (its minimum size is met, its fields are not). */
	len = name_payload(p, sizeof(p), "copy0");
	memset(p + len, 0, 24);
	send_frame(&R, DK_HWSIM_OP_MAP, 0, 46, p, len + 20, NULL, 0);
	assert_int_equal(error_reply(&R, DK_HWSIM_OP_MAP, 46), -EPROTO);
	/* A payload over the opcode's bound. */
	send_frame(&R, DK_HWSIM_OP_DEVICES, 0, 47, p, 8, NULL, 0);
	assert_int_equal(error_reply(&R, DK_HWSIM_OP_DEVICES, 47), -EPROTO);
	/* Unknown fault mode: well formed, refused. */
	assert_int_equal(rig_inject(&R, "copy0", DK_HWSIM_FAULT_COUNT), -EINVAL);
	/* Still serving. */
	assert_int_equal(rig_devices(&R, names, models, 4), 3);
	rig_stop(&R);
}

/* ---- the supervisor's control socket ---- */

static void send_channel(struct rig *R, uint64_t generation, int fd)
{
	uint8_t p[8];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, generation);
	assert_int_equal(dk_msg_send(R->ctl, &dk_supctl_proto, DK_SUPCTL_OP_HWSIM_CHANNEL, 0, 0, p,
				     sizeof(p), &fd, 1, RIG_DEADLINE()),
			 0);
}

static void control_socket(void **state)
{
	const struct rig_opts o = {.no_channel = true, .supervisor = true};
	char names[4][DK_RT_NAME_MAX + 1], models[4][16];
	struct dk_hwsim_stats st;
	struct buf b;
	struct rig R;
	uint64_t iova;
	int a[2], c[2];

	(void)state;
	rig_start_opts(&R, RIG_BOARD, &o);
	/* READY once the board is built. */
	assert_int_equal(dk_msg_recv(R.ctl, &dk_supctl_proto, RIG_DEADLINE(), &msg, NULL), 0);
	assert_int_equal(msg.frame.opcode, DK_SUPCTL_OP_READY);
	/* Something that is not for dk-hwsim is refused and ignored. */
	assert_int_equal(dk_msg_send(R.ctl, &dk_supctl_proto, DK_SUPCTL_OP_FENCE_RELEASE, 0, 0,
				     "\0\0\0\0\0\0\0\0", 8, NULL, 0, RIG_DEADLINE()),
			 0);
	/* The first channel. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, a), 0);
	send_channel(&R, 1, a[1]);
	close(a[1]);
	R.chan = a[0];
	assert_int_equal(rig_devices(&R, names, models, 4), 3);
	buf_new(&b, 4096);
	assert_int_equal(rig_map(&R, "copy0", b.fd, DK_DMA_READ, 0, 4096, &iova), 0);
	/* A broker restart: the new channel replaces the old one, which is closed... */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c), 0);
	send_channel(&R, 2, c[1]);
	close(c[1]);
	assert_int_equal(dk_msg_recv(a[0], &dk_hwsim_reply_proto, RIG_DEADLINE(), &msg, NULL),
			 -EPIPE);
	close(a[0]);
	/* ...and the board is the same board (windows stay until the next GRANT). */
	R.chan = c[0];
	rig_stats(&R, "copy0", &st);
	assert_int_equal(st.windows, 1);
	buf_free(&b);
	rig_stop(&R);
}

/* Before any channel arrives it just waits; SIGTERM still ends it cleanly. */
static void no_channel(void **state)
{
	const struct rig_opts o = {.no_channel = true, .supervisor = true};
	struct rig R;

	(void)state;
	rig_start_opts(&R, RIG_BOARD, &o);
	/* READY: set up, signals blocked, serving. */
	assert_int_equal(dk_msg_recv(R.ctl, &dk_supctl_proto, RIG_DEADLINE(), &msg, NULL), 0);
	assert_int_equal(msg.frame.opcode, DK_SUPCTL_OP_READY);
	rig_stop(&R);
}

/* SIGTERM while a device waits out a slow descriptor and another one is hung: exit 0. */
static void sigterm_while_busy(void **state)
{
	struct drv D0, D1;
	struct buf ring0, ring1, dst;
	struct rig R;
	uint64_t r0, r1, d0, d1;

	(void)state;
	rig_start(&R, RIG_BOARD);
	drv_grant(&R, "copy0", &D0);
	drv_grant(&R, "copy1", &D1);
	buf_new(&ring0, 4096);
	buf_new(&ring1, 4096);
	buf_new(&dst, 4096);
	assert_int_equal(rig_map(&R, "copy0", ring0.fd, RW, 0, 4096, &r0), 0);
	assert_int_equal(rig_map(&R, "copy1", ring1.fd, RW, 0, 4096, &r1), 0);
	assert_int_equal(rig_map(&R, "copy0", dst.fd, RW, 0, 4096, &d0), 0);
	assert_int_equal(rig_map(&R, "copy1", dst.fd, RW, 0, 4096, &d1), 0);
	assert_int_equal(rig_inject(&R, "copy0", DK_HWSIM_FAULT_SLOW), 0);
	assert_int_equal(rig_inject(&R, "copy1", DK_HWSIM_FAULT_HANG), 0);
	drv_ring(&D0, &ring0, r0, 64);
	drv_ring(&D1, &ring1, r1, 64);
	for (int i = 0; i < 32; i++) {
		drv_queue(&D0, DK_COPY_OP_FILL, 1, 1, d0 + i);
		drv_queue(&D1, DK_COPY_OP_FILL, 1, 1, d1 + i);
	}
	drv_kick(&D0);
	drv_kick(&D1);
	drv_sync(&D1);
	assert_true(reg(&D1, DK_COPY_REG_STATUS) & DK_COPY_STATUS_BUSY);
	rig_stop(&R);
	drv_close(&D0);
	drv_close(&D1);
	buf_free(&ring0);
	buf_free(&ring1);
	buf_free(&dst);
}

/* ---- the journal ---- */

struct logd {
	pid_t pid;
	char sock[128];
};

static void logd_start(struct logd *L, const char *dir)
{
	const char *bin = getenv("DK_LOGD");
	char jdir[128], ready[8] = "";
	struct pollfd pfd;
	int p[2];

	if (!bin)
		skip();
	snprintf(L->sock, sizeof(L->sock), "%s/%s", dir, DK_RT_LOGD_SOCKET);
	snprintf(jdir, sizeof(jdir), "%s/%s", dir, DK_RT_JOURNAL_DIR);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	L->pid = fork();
	assert_true(L->pid >= 0);
	if (L->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(p[1], 3) < 0)
			_exit(127);
		execl(bin, bin, "--socket", L->sock, "--dir", jdir, "--ready-fd", "3",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, ms_left(RIG_DEADLINE())), 1);
	assert_true(read(p[0], ready, sizeof(ready) - 1) > 0);
	assert_memory_equal(ready, "READY\n", 6);
	close(p[0]);
}

static void faults_journaled(void **state)
{
	struct rig_opts o = {0};
	struct dk_log_client *follower;
	struct dk_log_record rec;
	struct logd L;
	struct drv D;
	struct buf ring, dst;
	struct rig R;
	char dir[64] = "/tmp/dk-hwsim-journal-XXXXXX", want[160];
	uint64_t ri, di;

	(void)state;
	assert_non_null(mkdtemp(dir));
	logd_start(&L, dir);
	assert_int_equal(dk_log_connect(L.sock, "test", RIG_DEADLINE(), &follower), 0);
	assert_int_equal(dk_log_follow(follower, DK_LOG_NOTICE, 0, RIG_DEADLINE(), NULL), 0);
	o.runtime_dir = dir;
	rig_start_opts(&R, RIG_BOARD, &o);
	drv_grant(&R, "copy0", &D);
	buf_new(&ring, 4096);
	buf_new(&dst, 4096);
	assert_int_equal(rig_map(&R, "copy0", ring.fd, RW, 0, 4096, &ri), 0);
	assert_int_equal(rig_map(&R, "copy0", dst.fd, DK_DMA_WRITE, 0, 4096, &di), 0);
	assert_int_equal(rig_inject(&R, "copy0", DK_HWSIM_FAULT_DMA_OOB), 0);
	drv_ring(&D, &ring, ri, 64);
	drv_submit(&D, DK_COPY_OP_FILL, 8, 0, di);
	assert_int_equal(drv_wait_irq(&D), 1);
	/* The injection (NOTICE), then the fault (WARNING) with its fields. */
	assert_int_equal(dk_log_next(follower, RIG_DEADLINE(), &rec), 0);
	assert_string_equal(rec.scope, "hwsim.inject");
	assert_string_equal(rec.fields, "device=copy0 fault=dma-oob");
	assert_int_equal(dk_log_next(follower, RIG_DEADLINE(), &rec), 0);
	assert_string_equal(rec.scope, "hwsim.fault");
	assert_int_equal(rec.severity, DK_LOG_WARNING);
	assert_string_equal(rec.name_claim, "hwsim");
	assert_int_equal(rec.pid, R.pid);
	snprintf(want, sizeof(want), "device=copy0 kind=2 iova=0x%llx desc=0",
		 (unsigned long long)(di + 4096 + (1ull << 30)));
	assert_string_equal(rec.fields, want);
	drv_close(&D);
	buf_free(&ring);
	buf_free(&dst);
	rig_stop(&R);
	dk_log_close(follower);
	dk_test_stop_daemon(L.pid, L.sock);
	dk_test_remove_tree(dir);
}

/* A runtime directory without a dk-logd: no journal, the board works anyway. */
static void journal_unreachable(void **state)
{
	struct rig_opts o = {0};
	char names[4][DK_RT_NAME_MAX + 1], models[4][16];
	char dir[64] = "/tmp/dk-hwsim-nolog-XXXXXX";
	struct rig R;

	(void)state;
	assert_non_null(mkdtemp(dir));
	o.runtime_dir = dir;
	rig_start_opts(&R, RIG_BOARD, &o);
	assert_int_equal(rig_devices(&R, names, models, 4), 3);
	rig_stop(&R);
	dk_test_remove_tree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(devices_list),
		cmocka_unit_test(grant_resources),
		cmocka_unit_test(map_checks),
		cmocka_unit_test(window_cap),
		cmocka_unit_test(malformed_frames),
		cmocka_unit_test(control_socket),
		cmocka_unit_test(no_channel),
		cmocka_unit_test(sigterm_while_busy),
		cmocka_unit_test(faults_journaled),
		cmocka_unit_test(journal_unreachable),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
