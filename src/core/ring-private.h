/* SPDX-License-Identifier: MIT */
/*
 * The shared layout of a queue and the private state of each side, shared by ring.c (creation
 * and the consumer side) and ring-producer.c (the producer side). See ring.c for the ordering
 * rules between the two sides.
 */
#ifndef DK_RING_PRIVATE_H
#define DK_RING_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dk/qos.h>
#include <dk/ring.h>

#define RING_MAGIC 0x4752444bu /* "DKRG" */
#define RING_LAYOUT_MAJOR 1u
#define RING_LAYOUT_MINOR 0u
#define RING_PAGE 4096u

/* Header flags, written by the consumer. */
#define RING_F_NEED_WAKEUP (1u << 0)
#define RING_F_BROKEN (1u << 1)
#define RING_F_NEED_CQ_SPACE (1u << 2) /* asleep with submissions waiting for CQ room */

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif

struct ring_header {
	/* Geometry: written once by the consumer; each side keeps its own checked copy. */
	uint32_t magic;
	uint16_t major;
	uint16_t minor;
	uint32_t sq_entries;
	uint32_t cq_entries;
	uint32_t sqe_size;
	uint32_t cqe_size;
	uint32_t qos;
	uint32_t reserved0;
	uint64_t sq_offset;
	uint64_t cq_offset;
	uint64_t total_size;
	uint8_t pad0[64 - 56];
	/*
	 * One cache line per index, so that a side polling one index is never disturbed by the
	 * other side writing a different one: the service polls sq_tail while the client writes
	 * cq_head; the client polls cq_tail while the service writes sq_head.
	 */
	/* Written by the producer: the SQ tail, and the doorbell (only when the consumer sleeps). */
	_Atomic uint32_t sq_tail;
	_Atomic uint32_t doorbell; /* futex word the consumer sleeps on */
	uint8_t pad1[64 - 8];
	/* Written by the producer: the CQ head, and whether it sleeps for SQ space. */
	_Atomic uint32_t cq_head;
	_Atomic uint32_t producer_waiting;
	uint8_t pad2[64 - 8];
	/* Written by the consumer: the SQ head, and the futex word producers sleep on. */
	_Atomic uint32_t sq_head;
	_Atomic uint32_t space_seq;
	uint8_t pad3[64 - 8];
	/* Written by the consumer: the CQ tail. */
	_Atomic uint32_t cq_tail;
	uint8_t pad4[64 - 4];
	/* Written by the consumer, rarely (when it sleeps, wakes, or gives up on the queue). */
	_Atomic uint32_t flags;
	_Atomic uint32_t broken_reason;
	uint8_t pad5[64 - 8];
};

_Static_assert(sizeof(struct ring_header) == 384, "six cache lines");
_Static_assert(offsetof(struct ring_header, sq_tail) == 64, "producer SQ line");
_Static_assert(offsetof(struct ring_header, cq_head) == 128, "producer CQ line");
_Static_assert(offsetof(struct ring_header, sq_head) == 192, "consumer SQ line");
_Static_assert(offsetof(struct ring_header, cq_tail) == 256, "consumer CQ line");
_Static_assert(offsetof(struct ring_header, flags) == 320, "flags line");

struct slot {
	uint32_t gen;
	uint32_t busy;
};

struct dk_ring {
	bool consumer;
	int fd;
	void *map;
	size_t map_size;
	struct ring_header *hdr;
	uint8_t *sq;
	uint8_t *cq;
	uint32_t sq_entries, cq_entries;
	uint32_t qos;
	struct dk_qos_params qp;
	uint32_t depth;
	struct dk_fence *fence;
	uint32_t broken; /* 0 or a reason */
	struct dk_ring_stats st;

	/* Consumer. */
	uint32_t sq_head;       /* next entry to take */
	uint32_t seen_sq_tail;  /* last producer tail seen */
	uint32_t cq_tail;       /* next completion to post */
	uint32_t published;     /* cq_tail made visible */
	uint32_t seen_cq_head;  /* last producer head seen */
	uint64_t tickets;
	uint64_t completed;
	uint64_t signalled;
	struct slot *slots;
	uint32_t *free_slots;
	uint32_t n_free;

	/* Producer. */
	uint32_t sq_head_cache; /* last consumer head seen: reloaded only when the SQ looks full */
	uint32_t sq_tail;       /* entries obtained, published or not */
	uint32_t sq_submitted;  /* sq_tail as published */
	uint32_t cq_head;
	uint64_t reaped;
};


/* Whether @v is a power of two within [lo, hi]. */
bool dk_ring_pow2_in(uint32_t v, uint32_t lo, uint32_t hi);
/* The layout every valid ring of this geometry has. */
void dk_ring_layout(uint32_t sq, uint32_t cq, uint64_t *sq_off, uint64_t *cq_off,
		    uint64_t *total);
/* Map the queue's memfd (r->fd) and set the section pointers. */
int dk_ring_map(struct dk_ring *r, uint64_t total);
/* Set the class and what follows from it (parameters, depth). */
int dk_ring_set_qos(struct dk_ring *r, uint32_t qos);

#endif /* DK_RING_PRIVATE_H */
