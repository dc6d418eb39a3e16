/* SPDX-License-Identifier: MIT */
/*
 * hwsim-internal.h - what the pieces of dk-hwsim-lib share: the IOMMU window table
 * (iommu.c), a device and its model ops (board.c, copy.c, null.c) and the board (board.c,
 * server.c). Private to src/hwsim.
 *
 * Threads and locks. The board's owning thread (the "server") runs the protocol; each device
 * has a thread of its own that sleeps in epoll on its doorbell, its timer and the board's stop
 * eventfd. A device's mutex protects all of its state below it (model state, IOMMU table,
 * fault mode, stats); its thread holds it while it handles one wakeup (at most HWSIM_BATCH
 * descriptors or HWSIM_BATCH_BYTES), the server holds it for GRANT, MAP, UNMAP, INJECT and
 * STATS. So a window is never unmapped while a descriptor that uses it runs, and a descriptor
 * never sees half a GRANT. The journal client has its own mutex, always taken inside a device
 * mutex, never the other way round.
 */
#ifndef DK_HWSIM_INTERNAL_H
#define DK_HWSIM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dk/hwsim.h>
#include <dk/log.h>
#include <dk/msg.h>

#include "copy-regs.h"
#include "hwsim-board.h"

/* Work a device does per wakeup before it lets the server take its lock: at most this many
 * descriptors and, once this many bytes were moved, no further one (a few ms of memmove). */
#define HWSIM_BATCH 64u
#define HWSIM_BATCH_BYTES (16u << 20)
/* The extra time per descriptor of the "slow" injection. */
#define HWSIM_SLOW_NS (50ull * 1000 * 1000)
/* The "dma-oob" injection moves a destination this far past its window. */
#define HWSIM_OOB_DISTANCE (1ull << 30)

/* ---- IOMMU: one device's DMA windows (iommu.c) ---- */

struct hwsim_window {
	uint64_t iova;   /* first IOVA; page-aligned */
	uint64_t length; /* bytes reachable; > 0 */
	uint32_t access; /* DK_DMA_* */
	uint8_t *host;   /* the window's first byte in our mapping */
	void *map;       /* the mapping (page-aligned, covers host..host+length) */
	size_t map_len;
};

struct hwsim_iommu {
	uint32_t n;         /* windows in use: windows[0..n) */
	uint64_t next_iova; /* where the next window goes; only grows */
	struct hwsim_window windows[DK_HWSIM_WINDOWS_MAX];
};

/* hwsim_iommu_init - an empty table; IOVAs start at DK_HWSIM_IOVA_BASE. */
void hwsim_iommu_init(struct hwsim_iommu *mmu);

/*
 * hwsim_iommu_map - map [@offset, @offset + @length) of the memfd @fd as a new window with
 * @access (DK_DMA_READ and/or DK_DMA_WRITE). The memfd must have its size sealed (GROW and
 * SHRINK; so nothing the device reads can vanish under it) and be open for what @access needs.
 * The descriptor stays the caller's: the mapping keeps the file.
 * The window gets the next free page-aligned IOVA, at least one unmapped page after the
 * previous window; IOVAs are never reused for the life of the table.
 * Returns 0 and @ret_iova; -EINVAL (no or unknown access bits, length 0, range past the end of
 * the memfd or overflowing); -EBADF (not a size-sealed memfd, or not open for @access);
 * -ENOSPC (DK_HWSIM_WINDOWS_MAX windows, or the IOVA space is used up); -ENOMEM.
 */
int hwsim_iommu_map(struct hwsim_iommu *mmu, int fd, uint32_t access, uint64_t offset,
		    uint64_t length, uint64_t *ret_iova);

/* hwsim_iommu_unmap - remove the window starting at @iova. Returns 0; -ENOENT. */
int hwsim_iommu_unmap(struct hwsim_iommu *mmu, uint64_t iova);

/* hwsim_iommu_clear - remove every window (IOVAs already used stay used). */
void hwsim_iommu_clear(struct hwsim_iommu *mmu);

/*
 * hwsim_iommu_translate - the host address of [@iova, @iova + @length) if it lies inside ONE
 * window whose access includes @access; @length > 0.
 * Returns the address, or NULL with @ret_fault_iova set to the first byte the device may not
 * reach: the end of the window @iova is in (when that window has the access), else @iova.
 */
uint8_t *hwsim_iommu_translate(const struct hwsim_iommu *mmu, uint64_t iova, uint64_t length,
			       uint32_t access, uint64_t *ret_fault_iova);

/*
 * hwsim_iommu_window_end - the IOVA one past the window containing @iova, or @iova when none
 * does (for the "dma-oob" injection).
 */
uint64_t hwsim_iommu_window_end(const struct hwsim_iommu *mmu, uint64_t iova);

/* ---- devices and models ---- */

/* Wakeup reasons handed to a model's run(). */
#define HWSIM_EV_DOORBELL (1u << 0)
#define HWSIM_EV_TIMER (1u << 1)

struct hwsim_device;

/* A device model. Every op is called with the device's mutex held. */
struct hwsim_model_ops {
	uint32_t version; /* 1 */
	uint32_t kind;    /* enum dk_hwsim_model_kind */
	bool dma;         /* has DMA windows (MAP is refused otherwise) */
	/* Back to the state after power-on: every register and the model's state. */
	void (*reset)(struct hwsim_device *dev);
	/* A wakeup (@events: HWSIM_EV_*, 0 to continue). Returns true when work is left, so the
	 * device thread calls it again at once (after letting go of the lock). */
	bool (*run)(struct hwsim_device *dev, unsigned int events);
};

extern const struct hwsim_model_ops hwsim_null_ops;
extern const struct hwsim_model_ops hwsim_copy_ops;

/* The copy engine's state: the device's truth, the window only shows it. */
struct hwsim_copy {
	uint32_t control;    /* CONTROL as latched at the last doorbell (ENABLE, IRQ_ENABLE) */
	uint32_t status;     /* DK_COPY_STATUS_* */
	uint32_t irq_status; /* DK_COPY_IRQ_* */
	uint64_t ring_base;  /* latched at the last doorbell */
	uint32_t ring_size;
	uint32_t tail;
	uint32_t head;
	uint32_t completed;
	uint64_t fault_addr;
	uint32_t fault_desc;
	uint32_t fault_kind;
	bool irq_pending; /* an interrupt to signal once the registers are published */
	/* COMPLETED when the completion interrupt was last signalled: completions after it that
	 * found IRQ_STATUS.COMPLETION still set raised nothing, so acknowledging the bit while
	 * COMPLETED has moved on signals again (the line stays asserted, as on hardware). */
	uint32_t completed_signalled;
	bool slow_armed;  /* the slow timer runs for the descriptor at head */
	bool slow_due;    /* it expired: execute the descriptor at head now */
};

struct hwsim_device {
	struct dk_hwsim_board *board;
	char name[DK_RT_NAME_MAX + 1];
	const struct hwsim_model_ops *ops;
	/* Set at create, constant afterwards. */
	int regs_fd;     /* the register window memfd (4096 bytes, size sealed) */
	int doorbell_fd; /* eventfd the driver writes */
	int irq_fd;      /* eventfd the device writes */
	int timer_fd;    /* timerfd for the slow injection */
	int epfd;        /* the device thread's: doorbell, timer, board stop */
	uint8_t *regs;   /* our MAP_SHARED mapping of the window */
	pthread_t thread;
	bool thread_started;
	bool lock_init;
	pthread_mutex_t lock;
	/* Under @lock. */
	uint32_t fault_mode; /* enum dk_hwsim_fault */
	struct dk_hwsim_stats stats; /* windows and fault_mode are filled in by STATS */
	struct hwsim_iommu iommu;
	struct hwsim_copy copy;
};

/* hwsim_reg_read / hwsim_reg_write - the device's side of the register window. */
static inline uint32_t hwsim_reg_read(const struct hwsim_device *dev, uint32_t offset)
{
	return dk_copy_reg_read(dev->regs, offset);
}

static inline void hwsim_reg_write(struct hwsim_device *dev, uint32_t offset, uint32_t value)
{
	dk_copy_reg_write(dev->regs, offset, value);
}

/* hwsim_regs_clear - zero the whole window (reset). */
void hwsim_regs_clear(struct hwsim_device *dev);

/* hwsim_device_irq - write 1 to the interrupt eventfd; counts it. */
void hwsim_device_irq(struct hwsim_device *dev);

/*
 * hwsim_device_journal_fault - journal a device fault (WARNING, scope "hwsim.fault", fields
 * device= kind= iova= desc=). Never waits; a record the journal cannot take is counted.
 */
void hwsim_device_journal_fault(struct hwsim_device *dev, uint32_t kind, uint64_t iova,
				uint32_t desc);

/*
 * hwsim_device_grant - GRANT: reset the device and remove all its windows; the doorbell and
 * interrupt counters are drained so the next driver starts clean. Lock held by the caller.
 */
void hwsim_device_grant(struct hwsim_device *dev);

/* ---- the board ---- */

struct dk_hwsim_board {
	struct dk_hwsim_board_config cfg;
	struct dk_hwsim_config devcfg;
	uint32_t n_devices;
	struct hwsim_device *devices; /* n_devices of them */
	int stop_fd; /* eventfd: readable once the device threads must exit */
	int epfd;    /* the server's: signals, control socket, channel */
	int ctl;     /* control socket, -1 */
	int chan;    /* channel to the broker, -1 */
	pthread_mutex_t log_lock;
	struct dk_log_client *log; /* under log_lock; NULL: no journal */
	uint64_t journal_dropped;  /* any thread: __atomic */
	struct dk_hwsim_board_counters st; /* server thread; journal_dropped unused */
	struct dk_msg msg;
	uint8_t pbuf[DK_FRAME_MAX_PAYLOAD];
};

/* hwsim_board_report - one line for the operator through cfg.report (server thread only). */
__attribute__((format(printf, 2, 3))) void hwsim_board_report(struct dk_hwsim_board *b,
							       const char *fmt, ...);

/* hwsim_board_device - the device called @name, or NULL. */
struct hwsim_device *hwsim_board_device(struct dk_hwsim_board *b, const char *name);

/*
 * hwsim_board_journal - append one record if there is a journal. Never waits (async append);
 * any thread. Returns 0, -ENOENT without a journal, or the append's error (counted).
 */
int hwsim_board_journal(struct dk_hwsim_board *b, enum dk_log_severity severity, const char *scope,
			const char *message, const char *fields);

/* hwsim_server_watch_control - add the control socket to the server's epoll set. */
int hwsim_server_watch_control(struct dk_hwsim_board *b);
/* hwsim_server_set_channel - serve @fd (taken) from now on; the old channel is closed. */
int hwsim_server_set_channel(struct dk_hwsim_board *b, int fd);

#endif /* DK_HWSIM_INTERNAL_H */
