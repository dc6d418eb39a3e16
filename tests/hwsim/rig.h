/* SPDX-License-Identifier: MIT */
/*
 * The dk-hwsim test rig: the test plays the broker (it holds the other end of the channel a
 * dk-hwsim started with --channel-fd speaks "hwsim" on) and the driver (it maps the register
 * window, writes the ring registers, rings the doorbell and waits on the interrupt eventfd).
 *
 * The daemon is the built binary ($DK_HWSIM; an optional $DK_HWSIM_WRAPPER such as
 * "valgrind --error-exitcode=99" goes in front), started in a mkdtemp directory. Every wait
 * has a deadline. Nothing depends on timing: where a test must know the device has handled a
 * doorbell, it scribbles over the RO ID register and waits for the device to rewrite it
 * (the device rewrites every RO register at every doorbell, docs/devices/copy.md).
 *
 * Uses cmocka's assertions: include <cmocka.h> before this header.
 */
#ifndef DK_TEST_HWSIM_RIG_H
#define DK_TEST_HWSIM_RIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <dk/hwsim.h>
#include <dk/msg.h>
#include <dk/runtime.h>
#include <dk/time.h>

#include "copy-regs.h"

#define RIG_DEADLINE() dk_deadline_in(20 * DK_NSEC_PER_SEC)

/* A running dk-hwsim. */
struct rig {
	pid_t pid;
	char dir[64];
	char config[128];
	int chan;   /* our end of the channel; -1 when started without one */
	int ctl;    /* our end of its control socket; -1 without a supervisor */
	int stderr_fd; /* read end of its stderr when captured; else -1 */
};

/* Options for rig_start_opts(). */
struct rig_opts {
	bool no_channel;      /* do not pass --channel-fd */
	bool supervisor;      /* give it a control socket ($DK_SUPERVISOR_FD) */
	bool capture_stderr;  /* keep its stderr in @stderr_fd */
	const char *runtime_dir; /* --runtime-dir, or NULL */
	const char *const *extra_args; /* NULL-terminated, appended; or NULL */
};

/* The board most tests use: copy0 and copy1 (copy engines) and null0. */
#define RIG_BOARD "[device copy0]\nmodel = copy\n[device copy1]\nmodel = copy\n" \
		  "; the null model\n[device null0]\nmodel = null\n"

/* Write @config into a fresh directory and start dk-hwsim on it with a channel. Skips the test
 * when $DK_HWSIM is not set. */
void rig_start(struct rig *R, const char *config);
void rig_start_opts(struct rig *R, const char *config, const struct rig_opts *opts);

/* SIGTERM it, check it exits 0, remove the directory. */
void rig_stop(struct rig *R);

/* Wait for it to exit on its own; returns its exit status (or 128 + signal). */
int rig_wait_exit(struct rig *R);

/* Read what it wrote on stderr (captured) until EOF, into @buf (NUL-terminated). */
void rig_read_stderr(struct rig *R, char *buf, size_t size);

/* One "hwsim" request; the reply (its descriptors the caller's) in @reply. 0 or the error. */
int rig_call(struct rig *R, uint16_t opcode, const void *payload, size_t len, const int *fds,
	     uint32_t n_fds, struct dk_msg *reply);

/* DEVICES: up to @max entries into @names and @models; returns how many the board has. */
uint32_t rig_devices(struct rig *R, char (*names)[DK_RT_NAME_MAX + 1], char (*models)[16],
		     uint32_t max);

/* MAP @fd's [@offset, +@length) with @access into @device's windows. 0 and the IOVA, or the
 * error. */
int rig_map(struct rig *R, const char *device, int fd, uint32_t access, uint64_t offset,
	    uint64_t length, uint64_t *ret_iova);
int rig_unmap(struct rig *R, const char *device, uint64_t iova);
int rig_inject(struct rig *R, const char *device, uint32_t fault);
void rig_stats(struct rig *R, const char *device, struct dk_hwsim_stats *ret);

/* A DMA buffer: a size-sealed memfd, mapped read/write here. */
struct buf {
	int fd;
	uint8_t *p;
	size_t size;
};

void buf_new(struct buf *B, size_t size);
void buf_free(struct buf *B);

/* The driver's side of a granted device. */
struct drv {
	int regs_fd, doorbell, irq;
	void *regs;
	char model[16];
	uint32_t regs_size;
	/* The ring, when set up with drv_ring(). */
	struct buf *ring;
	uint64_t ring_iova;
	uint32_t ring_size;
	uint32_t tail;
};

/* GRANT @device: its three descriptors, the window mapped read/write. */
void drv_grant(struct rig *R, const char *device, struct drv *D);
void drv_close(struct drv *D);

uint32_t reg(struct drv *D, uint32_t off);
void reg_set(struct drv *D, uint32_t off, uint32_t v);
void doorbell(struct drv *D);

/* Program the ring (@ring mapped at @ring_iova, @size descriptors) and CONTROL (ENABLE and
 * IRQ_ENABLE); RING_TAIL starts at 0. Takes effect at the next doorbell. */
void drv_ring(struct drv *D, struct buf *ring, uint64_t ring_iova, uint32_t size);

/* Write one descriptor at the tail (status preset to 0xffffffff), without telling the device.
 * Returns its ring index. */
uint32_t drv_queue(struct drv *D, uint16_t op, uint32_t length, uint64_t src, uint64_t dst);

/* Publish the tail (RING_TAIL) and ring. */
void drv_kick(struct drv *D);

/* drv_queue() and drv_kick(). */
uint32_t drv_submit(struct drv *D, uint16_t op, uint32_t length, uint64_t src, uint64_t dst);

/* The descriptor in ring slot @index. */
struct dk_copy_desc *drv_desc(struct drv *D, uint32_t index);

/* Wait for the interrupt eventfd (poll with a deadline) and consume it; returns the count. */
uint64_t drv_wait_irq(struct drv *D);

/* Non-blocking read of the interrupt counter: 0 when nothing was signalled. */
uint64_t drv_irq_count(struct drv *D);

/* Acknowledge every pending IRQ_STATUS bit (takes effect at the next doorbell). */
void drv_ack(struct drv *D);

/* Ring and wait until the device has handled that doorbell (the ID barrier). Only while no
 * earlier wakeup of the device may still be running. */
void drv_sync(struct drv *D);

/* Wait until register @off has (value & @mask) == @want. */
void drv_wait_reg(struct drv *D, uint32_t off, uint32_t mask, uint32_t want);

/* CONTROL.RESET, ring, wait for the reset to be done; the ring must be programmed again. */
void drv_reset(struct drv *D);

#endif /* DK_TEST_HWSIM_RIG_H */
