/* SPDX-License-Identifier: MIT */
/* The dk-hwsim test rig (rig.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "rig.h"

#include <dk/wire.h>

/* Descriptor numbers the daemon gets its channel and control socket on. */
#define CHILD_CHAN_FD 3
#define CHILD_CTL_FD 4

static int ms_left(uint64_t deadline)
{
	uint64_t now = dk_now_ns();

	return deadline <= now ? 0 : (int)((deadline - now) / DK_NSEC_PER_MSEC + 1);
}

/* Move @fd to @target in the child (the intermediate copy drops O_CLOEXEC whatever @fd is). */
static void child_move_fd(int fd, int target)
{
	if (dup2(fd, 100 + target) < 0 || dup2(100 + target, target) < 0)
		_exit(127);
	close(100 + target);
}

void rig_start_opts(struct rig *R, const char *config, const struct rig_opts *o)
{
	const char *bin = getenv("DK_HWSIM"), *wrap = getenv("DK_HWSIM_WRAPPER");
	int chan[2] = {-1, -1}, ctl[2] = {-1, -1}, errp[2] = {-1, -1};

	if (!bin)
		skip();
	memset(R, 0, sizeof(*R));
	R->chan = R->ctl = R->stderr_fd = -1;
	strcpy(R->dir, "/tmp/dk-hwsim-test-XXXXXX");
	assert_non_null(mkdtemp(R->dir));
	snprintf(R->config, sizeof(R->config), "%s/board.ini", R->dir);
	if (config) {
		FILE *f = fopen(R->config, "we");

		assert_non_null(f);
		assert_int_equal(fputs(config, f) >= 0, 1);
		assert_int_equal(fclose(f), 0);
	}
	if (!o->no_channel)
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan), 0);
	if (o->supervisor)
		assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl), 0);
	if (o->capture_stderr)
		assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
	R->pid = fork();
	assert_true(R->pid >= 0);
	if (R->pid == 0) {
		char *argv[64], *wcopy = wrap ? strdup(wrap) : NULL, *save = NULL, *tok;
		char chan_arg[16];
		int n = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (chan[1] >= 0)
			child_move_fd(chan[1], CHILD_CHAN_FD);
		if (ctl[1] >= 0)
			child_move_fd(ctl[1], CHILD_CTL_FD);
		if (errp[1] >= 0 && dup2(errp[1], STDERR_FILENO) < 0)
			_exit(127);
		unsetenv("DK_SUPERVISOR_FD");
		unsetenv("DK_RUNTIME_DIR");
		if (ctl[1] >= 0)
			setenv("DK_SUPERVISOR_FD", "4", 1);
		for (tok = wcopy ? strtok_r(wcopy, " ", &save) : NULL; tok && n < 16;
		     tok = strtok_r(NULL, " ", &save))
			argv[n++] = tok;
		argv[n++] = (char *)bin;
		argv[n++] = "--config";
		argv[n++] = R->config;
		if (chan[1] >= 0) {
			snprintf(chan_arg, sizeof(chan_arg), "%d", CHILD_CHAN_FD);
			argv[n++] = "--channel-fd";
			argv[n++] = chan_arg;
		}
		if (o->runtime_dir) {
			argv[n++] = "--runtime-dir";
			argv[n++] = (char *)o->runtime_dir;
		}
		for (int i = 0; o->extra_args && o->extra_args[i] && n < 62; i++)
			argv[n++] = (char *)o->extra_args[i];
		argv[n] = NULL;
		execvp(argv[0], argv);
		_exit(127);
	}
	if (chan[1] >= 0)
		close(chan[1]);
	if (ctl[1] >= 0)
		close(ctl[1]);
	if (errp[1] >= 0)
		close(errp[1]);
	R->chan = chan[0];
	R->ctl = ctl[0];
	R->stderr_fd = errp[0];
}

void rig_start(struct rig *R, const char *config)
{
	const struct rig_opts o = {0};

	rig_start_opts(R, config, &o);
}

static void rig_cleanup(struct rig *R)
{
	if (R->chan >= 0)
		close(R->chan);
	if (R->ctl >= 0)
		close(R->ctl);
	if (R->stderr_fd >= 0)
		close(R->stderr_fd);
	R->chan = R->ctl = R->stderr_fd = -1;
	dk_test_remove_tree(R->dir);
}

void rig_stop(struct rig *R)
{
	dk_test_stop_daemon(R->pid, NULL);
	rig_cleanup(R);
}

int rig_wait_exit(struct rig *R)
{
	uint64_t deadline = RIG_DEADLINE();
	int pfd = (int)syscall(SYS_pidfd_open, R->pid, 0), status;
	struct pollfd p = {.fd = pfd, .events = POLLIN};

	assert_true(pfd >= 0);
	assert_int_equal(poll(&p, 1, ms_left(deadline)), 1); /* exited before the deadline */
	close(pfd);
	assert_int_equal(waitpid(R->pid, &status, 0), R->pid);
	rig_cleanup(R);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void rig_read_stderr(struct rig *R, char *buf, size_t size)
{
	uint64_t deadline = RIG_DEADLINE();
	size_t len = 0;

	assert_true(R->stderr_fd >= 0);
	for (;;) {
		struct pollfd p = {.fd = R->stderr_fd, .events = POLLIN};
		ssize_t n;

		assert_int_equal(poll(&p, 1, ms_left(deadline)), 1);
		n = read(R->stderr_fd, buf + len, size - 1 - len);
		assert_true(n >= 0);
		if (n == 0 || len + (size_t)n == size - 1) {
			len += (size_t)n;
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
}

int rig_call(struct rig *R, uint16_t opcode, const void *payload, size_t len, const int *fds,
	     uint32_t n_fds, struct dk_msg *reply)
{
	return dk_msg_call(R->chan, &dk_hwsim_proto, &dk_hwsim_reply_proto, opcode, payload, len,
			   fds, n_fds, RIG_DEADLINE(), reply, NULL);
}

static struct dk_msg reply_msg;

uint32_t rig_devices(struct rig *R, char (*names)[DK_RT_NAME_MAX + 1], char (*models)[16],
		     uint32_t max)
{
	struct dk_wire_reader r;
	uint32_t n;

	assert_int_equal(rig_call(R, DK_HWSIM_OP_DEVICES, NULL, 0, NULL, 0, &reply_msg), 0);
	assert_int_equal(reply_msg.n_fds, 0);
	dk_wire_reader_init(&r, reply_msg.frame.payload, reply_msg.frame.length);
	n = dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_get_u32(&r), 0);
	for (uint32_t i = 0; i < n; i++) {
		char name[DK_RT_NAME_MAX + 1], model[16];

		dk_wire_get_string(&r, name, sizeof(name));
		dk_wire_get_string(&r, model, sizeof(model));
		assert_int_equal(dk_wire_get_u32(&r), DK_COPY_REGS_SIZE);
		assert_int_equal(dk_wire_get_u32(&r), 0);
		if (i < max) {
			strcpy(names[i], name);
			strcpy(models[i], model);
		}
	}
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	return n;
}

int rig_map(struct rig *R, const char *device, int fd, uint32_t access, uint64_t offset,
	    uint64_t length, uint64_t *ret_iova)
{
	uint8_t p[128];
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	int err;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	dk_wire_put_u32(&w, access);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_u64(&w, offset);
	dk_wire_put_u64(&w, length);
	err = rig_call(R, DK_HWSIM_OP_MAP, p, dk_wire_writer_len(&w), &fd, fd >= 0 ? 1 : 0,
		       &reply_msg);
	if (err < 0)
		return err;
	assert_int_equal(reply_msg.n_fds, 0);
	dk_wire_reader_init(&r, reply_msg.frame.payload, reply_msg.frame.length);
	*ret_iova = dk_wire_get_u64(&r);
	assert_int_equal(dk_wire_reader_error(&r), 0);
	return 0;
}

int rig_unmap(struct rig *R, const char *device, uint64_t iova)
{
	uint8_t p[128];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	dk_wire_put_u64(&w, iova);
	return rig_call(R, DK_HWSIM_OP_UNMAP, p, dk_wire_writer_len(&w), NULL, 0, &reply_msg);
}

int rig_inject(struct rig *R, const char *device, uint32_t fault)
{
	uint8_t p[128];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	dk_wire_put_u32(&w, fault);
	dk_wire_put_u32(&w, 0);
	return rig_call(R, DK_HWSIM_OP_INJECT, p, dk_wire_writer_len(&w), NULL, 0, &reply_msg);
}

void rig_stats(struct rig *R, const char *device, struct dk_hwsim_stats *ret)
{
	uint8_t p[128];
	struct dk_wire_writer w;
	struct dk_wire_reader r;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	assert_int_equal(rig_call(R, DK_HWSIM_OP_STATS, p, dk_wire_writer_len(&w), NULL, 0,
				  &reply_msg),
			 0);
	assert_int_equal(reply_msg.frame.length, 48);
	dk_wire_reader_init(&r, reply_msg.frame.payload, reply_msg.frame.length);
	ret->descriptors = dk_wire_get_u64(&r);
	ret->faults = dk_wire_get_u64(&r);
	ret->resets = dk_wire_get_u64(&r);
	ret->irqs = dk_wire_get_u64(&r);
	ret->irqs_lost = dk_wire_get_u64(&r);
	ret->windows = dk_wire_get_u32(&r);
	ret->fault_mode = dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_reader_error(&r), 0);
}

/* ---- buffers ---- */

void buf_new(struct buf *B, size_t size)
{
	B->fd = memfd_create("hwsim-test-buf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(B->fd >= 0);
	assert_int_equal(ftruncate(B->fd, (off_t)size), 0);
	assert_int_equal(fcntl(B->fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK), 0);
	B->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, B->fd, 0);
	assert_true(B->p != MAP_FAILED);
	B->size = size;
}

void buf_free(struct buf *B)
{
	munmap(B->p, B->size);
	close(B->fd);
	B->fd = -1;
}

/* ---- the driver ---- */

void drv_grant(struct rig *R, const char *device, struct drv *D)
{
	uint8_t p[128];
	struct dk_wire_writer w;
	struct dk_wire_reader r;

	memset(D, 0, sizeof(*D));
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	assert_int_equal(rig_call(R, DK_HWSIM_OP_GRANT, p, dk_wire_writer_len(&w), NULL, 0,
				  &reply_msg),
			 0);
	assert_int_equal(reply_msg.n_fds, 3);
	dk_wire_reader_init(&r, reply_msg.frame.payload, reply_msg.frame.length);
	D->regs_size = dk_wire_get_u32(&r);
	dk_wire_get_u32(&r);
	dk_wire_get_string(&r, D->model, sizeof(D->model));
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	D->regs_fd = reply_msg.fds[0];
	D->doorbell = reply_msg.fds[1];
	D->irq = reply_msg.fds[2];
	assert_int_equal(D->regs_size, DK_COPY_REGS_SIZE);
	D->regs = mmap(NULL, D->regs_size, PROT_READ | PROT_WRITE, MAP_SHARED, D->regs_fd, 0);
	assert_true(D->regs != MAP_FAILED);
}

void drv_close(struct drv *D)
{
	munmap(D->regs, D->regs_size);
	close(D->regs_fd);
	close(D->doorbell);
	close(D->irq);
}

uint32_t reg(struct drv *D, uint32_t off)
{
	return dk_copy_reg_read(D->regs, off);
}

void reg_set(struct drv *D, uint32_t off, uint32_t v)
{
	dk_copy_reg_write(D->regs, off, v);
}

void doorbell(struct drv *D)
{
	const uint64_t one = 1;

	assert_int_equal(write(D->doorbell, &one, sizeof(one)), (ssize_t)sizeof(one));
}

void drv_ring(struct drv *D, struct buf *ring, uint64_t ring_iova, uint32_t size)
{
	D->ring = ring;
	D->ring_iova = ring_iova;
	D->ring_size = size;
	D->tail = 0;
	reg_set(D, DK_COPY_REG_RING_BASE_LO, (uint32_t)ring_iova);
	reg_set(D, DK_COPY_REG_RING_BASE_HI, (uint32_t)(ring_iova >> 32));
	reg_set(D, DK_COPY_REG_RING_SIZE, size);
	reg_set(D, DK_COPY_REG_RING_TAIL, 0);
	reg_set(D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_ENABLE | DK_COPY_CONTROL_IRQ_ENABLE);
}

struct dk_copy_desc *drv_desc(struct drv *D, uint32_t index)
{
	size_t slot = index & (D->ring_size - 1);

	return (struct dk_copy_desc *)(D->ring->p + slot * sizeof(struct dk_copy_desc));
}

uint32_t drv_queue(struct drv *D, uint16_t op, uint32_t length, uint64_t src, uint64_t dst)
{
	uint32_t index = D->tail;
	struct dk_copy_desc *d = drv_desc(D, index);

	d->op = op;
	d->flags = 0;
	d->length = length;
	d->src = src;
	d->dst = dst;
	d->tag = 0x7a6 + index;
	d->status = 0xffffffffu;
	D->tail++;
	return index;
}

void drv_kick(struct drv *D)
{
	reg_set(D, DK_COPY_REG_RING_TAIL, D->tail); /* release: the descriptors first */
	doorbell(D);
}

uint32_t drv_submit(struct drv *D, uint16_t op, uint32_t length, uint64_t src, uint64_t dst)
{
	uint32_t index = drv_queue(D, op, length, src, dst);

	drv_kick(D);
	return index;
}

uint64_t drv_wait_irq(struct drv *D)
{
	struct pollfd p = {.fd = D->irq, .events = POLLIN};
	uint64_t v = 0;

	assert_int_equal(poll(&p, 1, ms_left(RIG_DEADLINE())), 1);
	assert_int_equal(read(D->irq, &v, sizeof(v)), (ssize_t)sizeof(v));
	return v;
}

uint64_t drv_irq_count(struct drv *D)
{
	uint64_t v = 0;
	ssize_t n = read(D->irq, &v, sizeof(v));

	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	assert_int_equal(n, (ssize_t)sizeof(v));
	return v;
}

void drv_ack(struct drv *D)
{
	reg_set(D, DK_COPY_REG_IRQ_ACK, reg(D, DK_COPY_REG_IRQ_STATUS));
}

void drv_wait_reg(struct drv *D, uint32_t off, uint32_t mask, uint32_t want)
{
	uint64_t deadline = RIG_DEADLINE();

	/* A register poll, as a driver waits for a reset: the condition is the synchronisation,
	 * the deadline only bounds a broken device. */
	while ((reg(D, off) & mask) != want) {
		if (dk_now_ns() > deadline)
			fail_msg("register 0x%03x: 0x%08x & 0x%08x != 0x%08x", off, reg(D, off),
				 mask, want);
		sched_yield();
	}
}

static uint32_t model_id(const struct drv *D)
{
	return strcmp(D->model, "null") == 0 ? DK_HWSIM_NULL_ID : DK_COPY_ID;
}

void drv_sync(struct drv *D)
{
	reg_set(D, DK_COPY_REG_ID, 0);
	doorbell(D);
	drv_wait_reg(D, DK_COPY_REG_ID, 0xffffffffu, model_id(D));
}

void drv_reset(struct drv *D)
{
	reg_set(D, DK_COPY_REG_CONTROL, DK_COPY_CONTROL_RESET);
	doorbell(D);
	/* The reset zeroes the window in order (CONTROL after ID), then rewrites ID. */
	drv_wait_reg(D, DK_COPY_REG_CONTROL, 0xffffffffu, 0);
	drv_wait_reg(D, DK_COPY_REG_ID, 0xffffffffu, model_id(D));
	D->tail = 0;
}
