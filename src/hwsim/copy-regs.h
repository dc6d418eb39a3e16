/* SPDX-License-Identifier: MIT */
/*
 * copy-regs.h - the copy engine's hardware interface (docs/devices/copy.md): register offsets
 * and bits, descriptor layout, fault kinds. One definition shared by the device model in
 * dk-hwsim and by the copy driver. Header only; users take the meson dependency
 * dk_copy_regs_dep.
 *
 * The register window is a 4096-byte memfd that the driver and the device both map MAP_SHARED
 * and write concurrently, so it is only ever reached through dk_copy_reg_read() and
 * dk_copy_reg_write() (32-bit atomic accesses; a plain load could be torn or cached).
 *
 * Memory ordering, with the pairing on the other side:
 *  - Driver submits: write the descriptors into the ring, then dk_copy_reg_write(RING_TAIL)
 *    (release), then write 1 to the doorbell eventfd. The device reads the doorbell, then
 *    RING_TAIL (acquire), then fetches the descriptors.
 *  - Device completes: writes each descriptor's status into the ring, then COMPLETED and
 *    RING_HEAD (release), then writes the interrupt eventfd. The driver reads COMPLETED
 *    (acquire) before it reads any status word.
 *
 * Descriptors and registers are little-endian; this header refuses to compile elsewhere rather
 * than pretend to convert.
 */
#ifndef DK_HWSIM_COPY_REGS_H
#define DK_HWSIM_COPY_REGS_H

#include <stddef.h>
#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the copy engine's registers and descriptors are little-endian");

/* Size of the register window (the memfd the broker grants), in bytes. */
#define DK_COPY_REGS_SIZE 4096u

/* Identification values of the ID register, per model. */
#define DK_COPY_ID 0x59504f43u      /* "COPY" in memory order */
#define DK_COPY_VERSION 1u
#define DK_HWSIM_NULL_ID 0x4c4c554eu /* "NULL": the null model's window (docs/hwsim.md) */
#define DK_HWSIM_NULL_VERSION 1u

/* Register byte offsets. RO: rewritten by the device from its own state. */
enum dk_copy_reg {
	DK_COPY_REG_ID = 0x000,            /* RO */
	DK_COPY_REG_VERSION = 0x004,       /* RO */
	DK_COPY_REG_CAPS = 0x008,          /* RO: DK_COPY_CAPS_* */
	DK_COPY_REG_STATUS = 0x00c,        /* RO: DK_COPY_STATUS_* */
	DK_COPY_REG_CONTROL = 0x010,       /* RW: DK_COPY_CONTROL_* */
	DK_COPY_REG_IRQ_STATUS = 0x014,    /* RO: DK_COPY_IRQ_* pending; cleared via IRQ_ACK */
	DK_COPY_REG_RING_BASE_LO = 0x018,  /* RW: ring IOVA, 32-byte aligned */
	DK_COPY_REG_RING_BASE_HI = 0x01c,  /* RW */
	DK_COPY_REG_RING_SIZE = 0x020,     /* RW: descriptors, power of two, 2..4096 */
	DK_COPY_REG_RING_HEAD = 0x024,     /* RO: next index the device executes (free-running) */
	DK_COPY_REG_RING_TAIL = 0x028,     /* RW: one past the last queued index (free-running) */
	DK_COPY_REG_COMPLETED = 0x02c,     /* RO: completed since reset (free-running) */
	DK_COPY_REG_FAULT_ADDR_LO = 0x030, /* RO: IOVA of the faulting access */
	DK_COPY_REG_FAULT_ADDR_HI = 0x034, /* RO */
	DK_COPY_REG_FAULT_DESC = 0x038,    /* RO: free-running index of the faulting descriptor */
	DK_COPY_REG_FAULT_KIND = 0x03c,    /* RO: enum dk_copy_fault_kind */
	DK_COPY_REG_IRQ_ACK = 0x040,       /* W1C: write 1 to a bit (and ring) to clear it */
};

/* CAPS bits. */
#define DK_COPY_CAPS_COPY (1u << 0)
#define DK_COPY_CAPS_FILL (1u << 1)

/* STATUS bits. */
#define DK_COPY_STATUS_BUSY (1u << 0)    /* descriptors queued and not yet executed */
#define DK_COPY_STATUS_FAULTED (1u << 1) /* stopped on a fault until reset */
#define DK_COPY_STATUS_ENABLED (1u << 2) /* CONTROL.ENABLE as the device last read it */

/* CONTROL bits. */
#define DK_COPY_CONTROL_ENABLE (1u << 0)
#define DK_COPY_CONTROL_RESET (1u << 1) /* write 1 and ring: the device resets, CONTROL reads 0 */
#define DK_COPY_CONTROL_IRQ_ENABLE (1u << 2) /* set with IRQ_STATUS pending: signals at once */

/* IRQ_STATUS and IRQ_ACK bits. */
#define DK_COPY_IRQ_COMPLETION (1u << 0)
#define DK_COPY_IRQ_FAULT (1u << 1)

/* Ring geometry. */
#define DK_COPY_RING_ALIGN 32u
#define DK_COPY_RING_SIZE_MIN 2u
#define DK_COPY_RING_SIZE_MAX 4096u

/* FAULT_KIND values, also written into a faulting descriptor's status. */
enum dk_copy_fault_kind {
	DK_COPY_FAULT_NONE = 0,
	DK_COPY_FAULT_READ = 1,      /* a read outside the DMA windows (or of a non-READ window) */
	DK_COPY_FAULT_WRITE = 2,     /* a write outside the DMA windows (or to a non-WRITE one) */
	DK_COPY_FAULT_MALFORMED = 3, /* a malformed descriptor or ring configuration */
	DK_COPY_FAULT_RING = 4,      /* the ring slot is not in a READ and WRITE window */
};

/* Descriptor ops. */
#define DK_COPY_OP_COPY 1u
#define DK_COPY_OP_FILL 2u
#define DK_COPY_LENGTH_MAX (16u << 20) /* bytes per descriptor */

/* Descriptor status values besides 0 (done) and a fault kind. */
#define DK_COPY_DESC_STATUS_DONE 0u
#define DK_COPY_DESC_STATUS_CORRUPT 0xdeadu /* the "corrupt" injection */

/* One descriptor as it lies in the command ring (DMA memory). */
struct dk_copy_desc {
	uint16_t op;     /* DK_COPY_OP_* */
	uint16_t flags;  /* 0; anything else is malformed */
	uint32_t length; /* bytes, 1..DK_COPY_LENGTH_MAX */
	uint64_t src;    /* copy: source IOVA; fill: the byte in the low 8 bits */
	uint64_t dst;    /* destination IOVA */
	uint32_t tag;    /* the driver's, untouched */
	uint32_t status; /* written back by the device: 0 done, else a fault kind (or 0xdead) */
};

_Static_assert(sizeof(struct dk_copy_desc) == 32, "a copy descriptor is 32 bytes");
_Static_assert(offsetof(struct dk_copy_desc, length) == 4, "length at 4");
_Static_assert(offsetof(struct dk_copy_desc, src) == 8, "src at 8");
_Static_assert(offsetof(struct dk_copy_desc, dst) == 16, "dst at 16");
_Static_assert(offsetof(struct dk_copy_desc, tag) == 24, "tag at 24");
_Static_assert(offsetof(struct dk_copy_desc, status) == 28, "status at 28");

#define DK_COPY_DESC_STATUS_OFFSET 28u

/*
 * dk_copy_reg_read - load register @offset of the window mapped at @regs (acquire: what the
 * other side wrote before its release store of this register is visible afterwards).
 */
static inline uint32_t dk_copy_reg_read(const volatile void *regs, uint32_t offset)
{
	return __atomic_load_n((const volatile uint32_t *)((const volatile uint8_t *)regs + offset),
			       __ATOMIC_ACQUIRE);
}

/*
 * dk_copy_reg_write - store @value to register @offset (release: everything this side wrote
 * before, such as descriptors or status words, is visible to whoever reads the register).
 */
static inline void dk_copy_reg_write(volatile void *regs, uint32_t offset, uint32_t value)
{
	__atomic_store_n((volatile uint32_t *)((volatile uint8_t *)regs + offset), value,
			 __ATOMIC_RELEASE);
}

#endif /* DK_HWSIM_COPY_REGS_H */
