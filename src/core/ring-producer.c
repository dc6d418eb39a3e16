/* SPDX-License-Identifier: MIT */
/*
 * The producer (client) side of a queue: attach, submit, reap, wait. The ordering rules it
 * follows are described at the top of ring.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <dk/buffer.h>
#include <dk/error.h>
#include <dk/fence.h>
#include <dk/htable.h>
#include <dk/qos.h>
#include <dk/rights.h>
#include <dk/ring.h>
#include <dk/time.h>

#include "memfd.h"
#include "shm.h"
#include "ring-private.h"

int dk_ring_attach(int fd, struct dk_fence *completion, struct dk_ring **ret_ring)
{
	uint64_t size, sq_off, cq_off, total;
	struct ring_header h;
	unsigned int seals;
	struct dk_ring *r;
	bool writable;
	int ret;

	if (!completion)
		return -EINVAL;
	if (!dk_rights_has(dk_fence_rights(completion), DK_RIGHT_WAIT))
		return -EPERM;
	if (dk_memfd_inspect(fd, &size, &seals, &writable) < 0 || !writable ||
	    size < sizeof(h) || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
		return -EBADF;
	/* Read the geometry with pread, once: what is mapped can change under us. */
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -EBADF;
	if (h.magic != RING_MAGIC || h.major != RING_LAYOUT_MAJOR || h.sqe_size != DK_SQE_SIZE ||
	    h.cqe_size != DK_CQE_SIZE ||
	    !dk_ring_pow2_in(h.sq_entries, DK_RING_MIN_ENTRIES, DK_RING_MAX_ENTRIES) ||
	    !dk_ring_pow2_in(h.cq_entries, DK_RING_MIN_ENTRIES, DK_RING_MAX_ENTRIES) ||
	    h.cq_entries < h.sq_entries || dk_qos_check(h.qos) < 0)
		return -EPROTO;
	dk_ring_layout(h.sq_entries, h.cq_entries, &sq_off, &cq_off, &total);
	if (h.sq_offset != sq_off || h.cq_offset != cq_off || h.total_size != total ||
	    size != total)
		return -EPROTO;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = -1;
	r->sq_entries = h.sq_entries;
	r->cq_entries = h.cq_entries;
	ret = dk_ring_set_qos(r, h.qos);
	if (ret == 0) {
		r->fd = fd;
		ret = dk_ring_map(r, total);
	}
	if (ret < 0) {
		r->fd = -1; /* left to the caller on failure */
		dk_ring_destroy(r);
		return ret;
	}
	/* Start from where the queue is (a re-attach after a restart starts fresh anyway). */
	r->sq_tail = r->sq_submitted = dk_shm_load_acquire32(&r->hdr->sq_tail);
	r->sq_head_cache = dk_shm_load_acquire32(&r->hdr->sq_head);
	r->cq_head = dk_shm_load_acquire32(&r->hdr->cq_head);
	r->fence = dk_fence_ref(completion);
	{
		/* Completions reaped before us = counted - still unreaped. */
		struct dk_fence_state fs;
		uint32_t unreaped = dk_shm_load_acquire32(&r->hdr->cq_tail) - r->cq_head;

		if (dk_fence_query(completion, &fs) == 0 && unreaped <= r->cq_entries &&
		    fs.value >= unreaped && fs.value != UINT64_MAX)
			r->reaped = fs.value - unreaped;
	}
	*ret_ring = r;
	return 0;
}

static bool producer_broken(struct dk_ring *r)
{
	if (!r->broken && (dk_shm_load_acquire32(&r->hdr->flags) & RING_F_BROKEN))
		r->broken = DK_REASON_QUEUE_BROKEN;
	return r->broken != 0;
}

uint32_t dk_ring_sq_space(const struct dk_ring *r)
{
	/* Pairs with the consumer's seq_cst store of sq_head after copying the entries out. */
	uint32_t head = dk_shm_load_acquire32(&r->hdr->sq_head);
	uint32_t used = r->sq_tail - head;

	if (r->consumer || used > r->sq_entries)
		return 0; /* a head out of range: nothing is free (peek reports the breakage) */
	return r->sq_entries - used;
}

bool dk_ring_pressure(const struct dk_ring *r)
{
	return dk_ring_sq_space(r) <= r->sq_entries / 4;
}

/* Entries ahead of the tail whose lines dk_ring_get_sqe() asks for. */
#define SQ_PREFETCH_AHEAD 4u

struct dk_sqe *dk_ring_get_sqe(struct dk_ring *r, uint64_t *ret_ticket)
{
	struct dk_sqe *sqe;

	if (r->consumer || producer_broken(r))
		return NULL;
	/* Re-read the consumer's head only when the cached one says the SQ is full. */
	if (r->sq_tail - r->sq_head_cache >= r->sq_entries) {
		uint32_t head = dk_shm_load_acquire32(&r->hdr->sq_head);

		if ((uint32_t)(r->sq_tail - head) > r->sq_entries ||
		    (int32_t)(head - r->sq_head_cache) < 0)
			return NULL;
		r->sq_head_cache = head;
		if (r->sq_tail - head >= r->sq_entries)
			return NULL;
	}
	/*
	 * Ask for the lines of an entry a few ahead, for writing, if the consumer is known to be
	 * done with it: it read them last, and a cold store waits for the transfer with every
	 * store behind it (see dk_shm_prefetch_write()).
	 */
	if (r->sq_tail + SQ_PREFETCH_AHEAD - r->sq_head_cache < r->sq_entries) {
		const uint8_t *ahead = r->sq + (size_t)((r->sq_tail + SQ_PREFETCH_AHEAD) &
							 (r->sq_entries - 1)) * DK_SQE_SIZE;

		for (uint32_t off = 0; off < DK_SQE_SIZE; off += 64)
			dk_shm_prefetch_write(ahead + off);
	}
	sqe = (struct dk_sqe *)(r->sq + (size_t)(r->sq_tail & (r->sq_entries - 1)) * DK_SQE_SIZE);
	memset(sqe, 0, sizeof(*sqe));
	sqe->signal.index = DK_HANDLE_NONE;
	r->sq_tail++;
	if (ret_ticket)
		*ret_ticket = r->st.submitted + (uint32_t)(r->sq_tail - r->sq_submitted);
	return sqe;
}

int dk_ring_submit(struct dk_ring *r)
{
	uint32_t n = r->sq_tail - r->sq_submitted;

	if (r->consumer)
		return -EINVAL;
	if (producer_broken(r))
		return -EPIPE;
	if (n == 0)
		return 0;
	/* Dekker with the consumer's sleep: store the tail, then look for NEED_WAKEUP. */
	atomic_store_explicit(&r->hdr->sq_tail, r->sq_tail, memory_order_seq_cst);
	r->sq_submitted = r->sq_tail;
	r->st.submitted += n;
	if (dk_shm_load_sc32(&r->hdr->flags) & RING_F_NEED_WAKEUP) {
		dk_shm_add_sc32(&r->hdr->doorbell, 1);
		syscall(SYS_futex, &r->hdr->doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
		r->st.doorbells++;
	}
	return (int)n;
}

int dk_ring_submit_wait(struct dk_ring *r, uint32_t n, uint64_t deadline_ns)
{
	struct timespec ts;
	uint32_t seq;
	int ret;

	if (r->consumer || n == 0 || n > r->sq_entries)
		return -EINVAL;
	ret = dk_deadline_check(deadline_ns);
	if (ret < 0)
		return ret;
	for (;;) {
		if (producer_broken(r))
			return -EPIPE;
		if (dk_ring_sq_space(r) >= n)
			return 0;
		if (dk_now_ns() >= deadline_ns)
			return -ETIMEDOUT;
		seq = dk_shm_load_sc32(&r->hdr->space_seq);
		/* Dekker with dk_ring_consume(): announce, then re-check the head. */
		atomic_store_explicit(&r->hdr->producer_waiting, 1, memory_order_seq_cst);
		if (dk_ring_sq_space(r) < n) {
			ts.tv_sec = (time_t)(deadline_ns / DK_NSEC_PER_SEC);
			ts.tv_nsec = (long)(deadline_ns % DK_NSEC_PER_SEC);
			syscall(SYS_futex, &r->hdr->space_seq, FUTEX_WAIT_BITSET, seq, &ts, NULL,
				FUTEX_BITSET_MATCH_ANY);
		}
		atomic_store_explicit(&r->hdr->producer_waiting, 0, memory_order_seq_cst);
	}
}

int dk_ring_reap(struct dk_ring *r, struct dk_cqe *cqes, uint32_t max)
{
	uint32_t tail, avail, n;

	if (r->consumer || max == 0)
		return -EINVAL;
	/* Pairs with the consumer's store-release of cq_tail in dk_ring_publish(). */
	tail = dk_shm_load_acquire32(&r->hdr->cq_tail);
	avail = tail - r->cq_head;
	if (avail > r->cq_entries)
		return -EPROTO;
	n = avail < max ? avail : max;
	for (uint32_t i = 0; i < n; i++)
		memcpy(&cqes[i], r->cq + (size_t)((r->cq_head + i) & (r->cq_entries - 1)) * DK_CQE_SIZE,
		       sizeof(cqes[i]));
	if (n == 0)
		return 0;
	r->cq_head += n;
	r->reaped += n;
	r->st.completed += n;
	/* One store per batch. Dekker with the consumer sleeping for CQ room: store the head,
	 * then look for NEED_CQ_SPACE. */
	atomic_store_explicit(&r->hdr->cq_head, r->cq_head, memory_order_seq_cst);
	if (dk_shm_load_sc32(&r->hdr->flags) & RING_F_NEED_CQ_SPACE) {
		dk_shm_add_sc32(&r->hdr->doorbell, 1);
		syscall(SYS_futex, &r->hdr->doorbell, FUTEX_WAKE, 1, NULL, NULL, 0);
		r->st.doorbells++;
	}
	return (int)n;
}

int dk_ring_peek_cqe(struct dk_ring *r, struct dk_cqe *ret_cqe)
{
	int n = dk_ring_reap(r, ret_cqe, 1);

	return n == 0 ? -EAGAIN : n < 0 ? n : 0;
}

int dk_ring_wait_cqe(struct dk_ring *r, struct dk_cqe *ret_cqe, uint64_t deadline_ns)
{
	int ret;

	ret = dk_ring_peek_cqe(r, ret_cqe);
	if (ret != -EAGAIN)
		return ret;
	if (r->qp.waiter_spin_ns) {
		/* Burst: poll the CQ tail itself (the line the completion arrives on), not the
		 * fence, so a fast completion costs no wake-up and no extra cache line. */
		uint64_t until = dk_now_ns() + r->qp.waiter_spin_ns;
		unsigned int i = 0;

		if (until > deadline_ns)
			until = deadline_ns;
		while (dk_shm_load_acquire32(&r->hdr->cq_tail) == r->cq_head) {
			dk_spin_step(&i);
			if ((i & 63) == 0 && dk_now_ns() >= until)
				break;
		}
		ret = dk_ring_peek_cqe(r, ret_cqe);
		if (ret != -EAGAIN)
			return ret;
	}
	/* Each completion is counted on the fence after its entry is published, so count >
	 * reaped means an entry is there to read. */
	ret = dk_fence_wait(r->fence, r->reaped + 1, deadline_ns);
	if (ret < 0) {
		/* A queue that failed may still hold completions posted before. */
		if (dk_ring_peek_cqe(r, ret_cqe) == 0)
			return 0;
		return ret;
	}
	ret = dk_ring_peek_cqe(r, ret_cqe);
	/* The count says an entry is published: its absence is a protocol violation. */
	return ret == -EAGAIN ? -EPROTO : ret;
}
