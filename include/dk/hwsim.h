/* SPDX-License-Identifier: MIT */
/*
 * dk/hwsim.h - the emulated board (dk-hwsim) and how device resources reach a driver.
 *
 *   dk-supervisor --(HWSIM channel: a socketpair per broker start)--> dk-hwsim and dk-broker
 *   dk-broker --"hwsim" protocol--> dk-hwsim      GRANT a device, MAP/UNMAP DMA windows, INJECT
 *   dk-broker --devctl GRANT--> device service     register window, doorbell, interrupt, and
 *                                                  a socket for the service's DMA requests
 *   device service --"dma" protocol--> dk-broker   MAP/UNMAP its buffers in its device's windows
 *
 * A driver service never talks to dk-hwsim: it holds exactly its device's register window
 * (a memfd of exact size), doorbell and interrupt (eventfds), and asks the broker to map
 * buffers into its device's IOMMU table. The broker only ever forwards requests for the device
 * the supervisor attached the service for, so a driver cannot reach another device's window.
 * The device model reaches memory only through its DMA windows: anything outside is a device
 * fault (docs/devices/copy.md).
 */
#ifndef DK_HWSIM_H
#define DK_HWSIM_H

#include <stdint.h>

#include <dk/common.h>
#include <dk/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DK_RT_HWSIM_MODEL_MAX 15u  /* model names: "copy", "null" */
#define DK_HWSIM_DEVICES_MAX 16u   /* devices on one board */
#define DK_HWSIM_WINDOWS_MAX 256u  /* DMA windows per device */
#define DK_HWSIM_IOVA_BASE 0x100000000ull /* first IOVA handed out; 0 is never valid */

/* Access bits of a DMA window (the device's view). */
enum dk_dma_access {
	DK_DMA_READ = 1u << 0,  /* the device may read (copy source, command ring) */
	DK_DMA_WRITE = 1u << 1, /* the device may write (copy/fill destination, status write-back) */
};

/* Fault injection modes (docs/devices/copy.md, "Fault injection"). Stable values. */
enum dk_hwsim_fault {
	DK_HWSIM_FAULT_NONE = 0,
	DK_HWSIM_FAULT_HANG = 1,
	DK_HWSIM_FAULT_LOST_IRQ = 2,
	DK_HWSIM_FAULT_SLOW = 3,
	DK_HWSIM_FAULT_CORRUPT = 4,
	DK_HWSIM_FAULT_DMA_OOB = 5,
};
#define DK_HWSIM_FAULT_COUNT 6u

/* dk_hwsim_fault_name / dk_hwsim_fault_parse - "none", "hang", "lost-irq", "slow", "corrupt",
 * "dma-oob". parse: 0 and the value, or -EINVAL. */
DK_EXPORT const char *dk_hwsim_fault_name(uint32_t fault);
DK_EXPORT int dk_hwsim_fault_parse(const char *name, uint32_t *ret_fault);

/* ---- "hwsim": broker -> dk-hwsim on the channel the supervisor made ---------------------- */

#define DK_HWSIM_PROTO_MINOR 0
enum dk_hwsim_opcode {
	/* Payload empty. Reply: u32 n, u32 reserved, then n entries: string device, string model,
	 * u32 regs_size, u32 reserved. */
	DK_HWSIM_OP_DEVICES = 0x0001,
	/* Payload: string device. The device is reset and its DMA windows all removed (a new
	 * driver starts from a clean device; the old driver's buffers are unreachable). Reply:
	 * u32 regs_size, u32 reserved, string model; descriptors: the register window memfd, the
	 * doorbell eventfd, the interrupt eventfd. -ENODEV: no such device. */
	DK_HWSIM_OP_GRANT = 0x0002,
	/* Payload: string device, u32 access (DK_DMA_*), u32 reserved, u64 offset, u64 length.
	 * Descriptor: a buffer memfd (O_RDWR when access has WRITE). Maps [offset, offset+length)
	 * of it as a new window. Reply: u64 iova. -ENOSPC (DK_HWSIM_WINDOWS_MAX), -EINVAL (range
	 * outside the memfd, length 0, unknown access bits), -EBADF (not a memfd that fits). */
	DK_HWSIM_OP_MAP = 0x0003,
	/* Payload: string device, u64 iova (as MAP returned). Reply empty. -ENOENT: no window. */
	DK_HWSIM_OP_UNMAP = 0x0004,
	/* Payload: string device, u32 fault (enum dk_hwsim_fault), u32 reserved. Reply empty. */
	DK_HWSIM_OP_INJECT = 0x0005,
	/* Payload: string device. Reply: u64 descriptors, u64 faults, u64 resets, u64 irqs,
	 * u64 irqs_lost, u32 windows, u32 fault_mode (48 bytes). */
	DK_HWSIM_OP_STATS = 0x0006,
};

struct dk_hwsim_stats {
	uint64_t descriptors; /* executed successfully */
	uint64_t faults;      /* DMA or descriptor faults */
	uint64_t resets;
	uint64_t irqs;
	uint64_t irqs_lost;   /* completions whose interrupt was swallowed (lost-irq) */
	uint32_t windows;
	uint32_t fault_mode;
};

DK_EXPORT extern const struct dk_frame_proto dk_hwsim_proto;
DK_EXPORT extern const struct dk_frame_proto dk_hwsim_reply_proto;

/* ---- "dma": device service -> broker, on the socket that came with devctl GRANT ---------- */

#define DK_DMA_PROTO_MINOR 0
enum dk_dma_opcode {
	/* Payload: u32 access (DK_DMA_*), u32 reserved, u64 offset, u64 length. Descriptor: the
	 * buffer memfd. Reply: u64 iova. The broker forwards MAP for the service's own device. */
	DK_DMA_OP_MAP = 0x0001,
	/* Payload: u64 iova. Reply empty. */
	DK_DMA_OP_UNMAP = 0x0002,
};

DK_EXPORT extern const struct dk_frame_proto dk_dma_proto;
DK_EXPORT extern const struct dk_frame_proto dk_dma_reply_proto;

#ifdef __cplusplus
}
#endif

#endif /* DK_HWSIM_H */
