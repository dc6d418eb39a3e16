/* SPDX-License-Identifier: MIT */
/*
 * Submission / completion rings.
 *
 * Shared layout (docs/abi.md, "Rings"): a header page, then the SQ, then the CQ, each
 * page-aligned. The header has one cache line of geometry (written once by the consumer at
 * creation, never read back by it), then one line per index and one for the rarely written
 * flags: the two sides never write the same line, and neither polls a line the other writes
 * for another reason.
 *
 * Ordering, side by side:
 *   producer: write SQEs; store sq_tail (seq_cst)  ...  load flags: NEED_WAKEUP -> doorbell
 *   consumer: set NEED_WAKEUP (seq_cst); load sq_tail ... sleep on the doorbell futex
 * (a Dekker pair: one of the two sees the other's store, so no submission sleeps unseen);
 *   consumer: write CQEs; store-release cq_tail; signal the fence to the completion count
 *   producer: wait on the fence; load-acquire cq_tail; read CQEs; store-release cq_head.
 *
 * Every value the other side writes is checked before use: indices must move forward and stay
 * within one ring of the local ones, or the queue is broken.
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

bool dk_ring_pow2_in(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v >= lo && v <= hi && (v & (v - 1)) == 0;
}

static uint64_t page_align(uint64_t v)
{
	return (v + RING_PAGE - 1) & ~(uint64_t)(RING_PAGE - 1);
}

/* The layout every valid ring of this geometry has. */
void dk_ring_layout(uint32_t sq, uint32_t cq, uint64_t *sq_off, uint64_t *cq_off, uint64_t *total)
{
	*sq_off = RING_PAGE;
	*cq_off = *sq_off + page_align((uint64_t)sq * DK_SQE_SIZE);
	*total = *cq_off + page_align((uint64_t)cq * DK_CQE_SIZE);
}

int dk_ring_map(struct dk_ring *r, uint64_t total)
{
	uint64_t sq_off, cq_off, t;

	dk_ring_layout(r->sq_entries, r->cq_entries, &sq_off, &cq_off, &t);
	r->map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -errno;
	}
	r->map_size = total;
	r->hdr = r->map;
	r->sq = (uint8_t *)r->map + sq_off;
	r->cq = (uint8_t *)r->map + cq_off;
	return 0;
}

int dk_ring_set_qos(struct dk_ring *r, uint32_t qos)
{
	int ret = dk_qos_params(qos, &r->qp);

	if (ret < 0)
		return ret;
	r->qos = qos;
	r->depth = dk_qos_depth(qos, r->cq_entries);
	return 0;
}
void dk_ring_destroy(struct dk_ring *r)
{
	if (!r)
		return;
	if (r->map)
		munmap(r->map, r->map_size);
	if (r->fd >= 0)
		close(r->fd);
	dk_fence_unref(r->fence);
	free(r->slots);
	free(r->free_slots);
	free(r);
}

int dk_ring_create(const struct dk_ring_params *p, struct dk_ring **ret_ring)
{
	uint64_t sq_off, cq_off, total;
	struct dk_ring *r;
	int ret;

	if (!p || !dk_ring_pow2_in(p->sq_entries, DK_RING_MIN_ENTRIES, DK_RING_MAX_ENTRIES) ||
	    !dk_ring_pow2_in(p->cq_entries, DK_RING_MIN_ENTRIES, DK_RING_MAX_ENTRIES) ||
	    p->cq_entries < p->sq_entries || dk_qos_check(p->qos) < 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = -1;
	r->consumer = true;
	r->sq_entries = p->sq_entries;
	r->cq_entries = p->cq_entries;
	ret = dk_ring_set_qos(r, p->qos);
	if (ret < 0)
		goto out_destroy;
	r->slots = calloc(r->cq_entries, sizeof(*r->slots));
	r->free_slots = calloc(r->cq_entries, sizeof(*r->free_slots));
	if (!r->slots || !r->free_slots) {
		ret = -ENOMEM;
		goto out_destroy;
	}
	for (uint32_t i = 0; i < r->cq_entries; i++) {
		r->slots[i].gen = 1;
		r->free_slots[i] = r->cq_entries - 1 - i;
	}
	r->n_free = r->cq_entries;

	dk_ring_layout(r->sq_entries, r->cq_entries, &sq_off, &cq_off, &total);
	/* No further seals: a client cannot write-seal the queue under the service. */
	ret = dk_memfd_create("dk-ring", total, F_SEAL_SEAL, &r->fd);
	if (ret < 0)
		goto out_destroy;
	ret = dk_ring_map(r, total);
	if (ret < 0)
		goto out_destroy;
	ret = dk_fence_create(0, &r->fence);
	if (ret < 0)
		goto out_destroy;

	r->hdr->magic = RING_MAGIC;
	r->hdr->major = RING_LAYOUT_MAJOR;
	r->hdr->minor = RING_LAYOUT_MINOR;
	r->hdr->sq_entries = r->sq_entries;
	r->hdr->cq_entries = r->cq_entries;
	r->hdr->sqe_size = DK_SQE_SIZE;
	r->hdr->cqe_size = DK_CQE_SIZE;
	r->hdr->qos = r->qos;
	r->hdr->sq_offset = sq_off;
	r->hdr->cq_offset = cq_off;
	r->hdr->total_size = total;
	*ret_ring = r;
	return 0;

out_destroy:
	dk_ring_destroy(r);
	return ret;
}

int dk_ring_fd(const struct dk_ring *r)
{
	return r->fd;
}

struct dk_fence *dk_ring_fence(const struct dk_ring *r)
{
	return r->fence;
}

uint32_t dk_ring_qos(const struct dk_ring *r)
{
	return r->qos;
}

uint32_t dk_ring_sq_entries(const struct dk_ring *r)
{
	return r->sq_entries;
}

uint32_t dk_ring_cq_entries(const struct dk_ring *r)
{
	return r->cq_entries;
}

void dk_ring_stats(const struct dk_ring *r, struct dk_ring_stats *ret_stats)
{
	*ret_stats = r->st;
	ret_stats->inflight = r->cq_entries - r->n_free;
	if (!r->consumer)
		ret_stats->inflight = 0;
	ret_stats->broken = r->broken;
}

/* ---- consumer --------------------------------------------------------------------------- */

void dk_ring_mark_broken(struct dk_ring *r, uint32_t reason)
{
	if (!r->consumer || r->broken)
		return;
	r->broken = reason ? reason : DK_REASON_QUEUE_BROKEN;
	dk_shm_store_release32(&r->hdr->broken_reason, r->broken);
	atomic_fetch_or(&r->hdr->flags, RING_F_BROKEN);
	/* Publish what was completed, then fail everything after it: no waiter hangs. */
	dk_ring_publish(r);
	dk_fence_signal_error(r->fence, UINT64_MAX, -EPROTO, DK_REASON_QUEUE_BROKEN);
}

/* Read and check the producer's SQ tail. Returns the submissions pending, or -EPROTO. */
static int sync_tail(struct dk_ring *r)
{
	/* Pairs with the producer's seq_cst store of sq_tail after writing the entries. */
	uint32_t tail = dk_shm_load_acquire32(&r->hdr->sq_tail);
	uint32_t pending = tail - r->sq_head;

	if ((int32_t)(tail - r->seen_sq_tail) < 0 || pending > r->sq_entries) {
		dk_ring_mark_broken(r, DK_REASON_QUEUE_BROKEN);
		return -EPROTO;
	}
	r->seen_sq_tail = tail;
	return (int)pending;
}

/* Jobs the CQ can still take (unreaped completions and jobs in flight hold entries). */
static uint32_t cq_room(const struct dk_ring *r)
{
	return r->cq_entries - (r->cq_tail - r->seen_cq_head) - (r->cq_entries - r->n_free);
}

/* Re-read and check the producer's CQ head. Returns the room, or -EPROTO. */
static int sync_head(struct dk_ring *r)
{
	/* Pairs with the producer's store of cq_head after it copied the entries out. */
	uint32_t head = atomic_load_explicit(&r->hdr->cq_head, memory_order_seq_cst);

	if ((int32_t)(head - r->seen_cq_head) < 0 || (int32_t)(r->published - head) < 0) {
		dk_ring_mark_broken(r, DK_REASON_QUEUE_BROKEN);
		return -EPROTO;
	}
	r->seen_cq_head = head;
	return (int)cq_room(r);
}

int dk_ring_consume(struct dk_ring *r, struct dk_ring_job *jobs, uint32_t max)
{
	uint32_t room, inflight, n, i, c;
	uint64_t now;
	int pending, ret;

	if (!r->consumer)
		return -EINVAL;
	if (r->broken)
		return -EPROTO;
	pending = sync_tail(r);
	if (pending <= 0)
		return pending;
	inflight = r->cq_entries - r->n_free;
	n = (uint32_t)pending;
	if (inflight >= r->depth)
		return 0;
	if (n > r->depth - inflight)
		n = r->depth - inflight;
	if (n > max)
		n = max;
	/* The no-drop rule: every taken job has a CQ entry waiting. The CQ head is re-read only
	 * when the one seen last leaves too little room: it lives on the client's line, and
	 * reading it on every pass would put one more cross-core transfer in each round trip. */
	room = cq_room(r);
	if (n > room) {
		ret = sync_head(r);
		if (ret < 0)
			return ret;
		room = (uint32_t)ret;
		if (n > room)
			n = room;
	}
	if (n == 0)
		return 0;

	now = dk_now_fast_ns();
	for (i = 0; i < n; i++) {
		struct dk_ring_job *j = &jobs[i];
		uint32_t slot = r->free_slots[--r->n_free];

		/* Copy out first: the producer may rewrite shared memory at any moment. */
		memcpy(&j->sqe, r->sq + (size_t)(r->sq_head & (r->sq_entries - 1)) * DK_SQE_SIZE,
		       sizeof(j->sqe));
		r->sq_head++;
		j->ticket = ++r->tickets;
		j->slot = slot;
		j->gen = r->slots[slot].gen;
		j->t_taken_ns = now;
		r->slots[slot].busy = 1;
	}
	r->st.submitted += n;
	/*
	 * Ask now for the CQ lines these jobs will most likely complete into (after the jobs
	 * already in flight), for writing. The client read them last, a lap ago: written cold,
	 * each completion would wait for a cross-core transfer, one job at a time (P3-stack: 5.2
	 * against 9.5 Mops/s when the two CPUs are far apart). Only entries the client has given
	 * back (cq_room) are touched.
	 */
	for (i = 0, c = r->cq_tail + (r->cq_entries - r->n_free) - n; i < n; i++, c++)
		dk_shm_prefetch_write(r->cq + (size_t)(c & (r->cq_entries - 1)) * DK_CQE_SIZE);
	/* Dekker with dk_ring_submit_wait(): publish the head, then look for a sleeper. */
	atomic_store_explicit(&r->hdr->sq_head, r->sq_head, memory_order_seq_cst);
	if (dk_shm_load_sc32(&r->hdr->producer_waiting)) {
		dk_shm_add_sc32(&r->hdr->space_seq, 1);
		syscall(SYS_futex, &r->hdr->space_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
	return (int)n;
}

static struct slot *job_slot(struct dk_ring *r, const struct dk_ring_job *job)
{
	struct slot *s;

	if (!r->consumer || job->slot >= r->cq_entries)
		return NULL;
	s = &r->slots[job->slot];
	if (!s->busy || s->gen != job->gen)
		return NULL;
	return s;
}

static void slot_free(struct dk_ring *r, struct slot *s, uint32_t slot)
{
	s->busy = 0;
	s->gen = s->gen + 1 ? s->gen + 1 : 1;
	r->free_slots[r->n_free++] = slot;
}

int dk_ring_complete(struct dk_ring *r, const struct dk_ring_job *job, int32_t status,
		     uint32_t reason, uint64_t result, uint64_t t_started_ns)
{
	struct slot *s = job_slot(r, job);
	struct dk_cqe *c;

	if (!s)
		return -EINVAL; /* stale slot, or completed already */
	c = (struct dk_cqe *)(r->cq + (size_t)(r->cq_tail & (r->cq_entries - 1)) * DK_CQE_SIZE);
	c->user_data = job->sqe.user_data;
	c->status = status;
	c->reason = reason;
	c->result = result;
	c->ticket = job->ticket;
	c->t_taken_ns = job->t_taken_ns;
	c->t_started_ns = t_started_ns;
	c->t_completed_ns = 0; /* stamped by dk_ring_publish(), once per batch */
	c->reserved = 0;
	r->cq_tail++;
	r->completed++;
	r->st.completed++;
	slot_free(r, s, job->slot);
	return 0;
}

int dk_ring_abandon(struct dk_ring *r, const struct dk_ring_job *job)
{
	struct slot *s = job_slot(r, job);

	if (!s)
		return -EINVAL;
	slot_free(r, s, job->slot);
	r->st.abandoned++;
	return 0;
}

int dk_ring_abandon_all(struct dk_ring *r)
{
	int n = 0;

	if (!r->consumer)
		return -EINVAL;
	for (uint32_t i = 0; i < r->cq_entries; i++) {
		if (r->slots[i].busy) {
			slot_free(r, &r->slots[i], i);
			n++;
		}
	}
	r->st.abandoned += (uint64_t)n;
	return n;
}

int dk_ring_readmit(struct dk_ring *r, struct dk_ring_job *job)
{
	uint32_t slot;
	int room;

	if (!r->consumer)
		return -EINVAL;
	room = sync_head(r);
	if (room < 0)
		return room;
	if (room == 0 || r->n_free == 0)
		return -ENOSPC;
	slot = r->free_slots[--r->n_free];
	r->slots[slot].busy = 1;
	job->slot = slot;
	job->gen = r->slots[slot].gen;
	return 0;
}

int dk_ring_publish(struct dk_ring *r)
{
	uint64_t now;

	if (!r->consumer)
		return -EINVAL;
	if (r->published == r->cq_tail)
		return 0;
	/* One clock read per batch: a completion's time is when the client can see it. */
	now = dk_now_fast_ns();
	for (uint32_t i = r->published; i != r->cq_tail; i++)
		((struct dk_cqe *)(r->cq + (size_t)(i & (r->cq_entries - 1)) * DK_CQE_SIZE))
			->t_completed_ns = now;
	/* Pairs with the producer's load-acquire of cq_tail before it reads the entries. */
	dk_shm_store_release32(&r->hdr->cq_tail, r->cq_tail);
	r->published = r->cq_tail;
	if (r->completed != r->signalled) {
		r->signalled = r->completed;
		return dk_fence_signal(r->fence, r->completed);
	}
	return 0;
}

int dk_ring_check_sqe(const struct dk_ring *r, const struct dk_htable *table,
		      const struct dk_sqe *sqe)
{
	struct dk_buffer *b;
	struct dk_fence *f;
	uint32_t i;
	int ret;

	if (sqe->flags & ~(uint32_t)DK_SQE_F_KNOWN)
		return -EINVAL;
	if (sqe->reserved0[0] | sqe->reserved0[1] | sqe->reserved0[2])
		return -EINVAL;
	if (sqe->qos) {
		if (dk_qos_check(sqe->qos) < 0)
			return -EINVAL;
		if (sqe->qos > r->qos)
			return -EPERM; /* raising one's class is the policy's decision */
	}
	if (sqe->n_buffers > DK_SQE_MAX_BUFFERS || sqe->n_waits > DK_SQE_MAX_WAITS)
		return -EINVAL;
	for (i = 0; i < sqe->n_buffers; i++) {
		const struct dk_sqe_buffer *sb = &sqe->buf[i];

		if (!sb->access || (sb->access & ~(uint32_t)(DK_RIGHT_READ | DK_RIGHT_WRITE)))
			return -EINVAL;
		ret = dk_htable_buffer(table, sb->index, sb->access, &b);
		if (ret < 0)
			return ret;
		ret = dk_slice_check(dk_buffer_size(b), sb->offset, sb->length);
		if (ret < 0)
			return ret;
	}
	for (i = 0; i < sqe->n_waits; i++) {
		ret = dk_htable_fence(table, sqe->wait[i].index, DK_RIGHT_WAIT, &f);
		if (ret < 0)
			return ret;
	}
	if (sqe->signal.index != DK_HANDLE_NONE) {
		ret = dk_htable_fence(table, sqe->signal.index, DK_RIGHT_SIGNAL, &f);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* ---- consumer sleeping ------------------------------------------------------------------ */

/* Whether @r has submissions waiting (whether or not the CQ has room for them). */
static bool ring_pending(struct dk_ring *r)
{
	/* A broken ring has nothing to serve; an out-of-range tail is caught by consume.
	 * Sequentially consistent: after setting NEED_WAKEUP this is the consumer's half of the
	 * Dekker pair with dk_ring_submit() (store tail, then load flags). */
	return !r->broken && dk_shm_load_sc32(&r->hdr->sq_tail) != r->sq_head;
}

/* Whether @r has submissions the service can take now: pending, and room in the CQ. */
static bool ring_ready(struct dk_ring *r)
{
	if (!ring_pending(r))
		return false;
	if (r->depth <= r->cq_entries - r->n_free)
		return false; /* at its QoS depth: completions come first */
	return sync_head(r) > 0;
}

struct futex_waitv_arg {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};

static int futex_waitv_abs(struct futex_waitv_arg *w, uint32_t n, uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / DK_NSEC_PER_SEC),
		.tv_nsec = (long)(deadline_ns % DK_NSEC_PER_SEC),
	};

	if (n == 0)
		return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ? -EINTR : 0;
	return syscall(SYS_futex_waitv, w, n, 0, &ts, CLOCK_MONOTONIC) < 0 ? -errno : 0;
}

/* Sleep on the doorbells of the rings selected by @mask_frugal (false: non-Frugal only). */
static bool woken(const uint32_t *wake, uint32_t seen)
{
	return wake && __atomic_load_n(wake, __ATOMIC_ACQUIRE) != seen;
}

static void sleep_doorbells(struct dk_ring *const *rings, uint32_t n, bool all,
			    const uint32_t *wake, uint32_t wake_seen, uint64_t deadline_ns)
{
	struct futex_waitv_arg w[DK_RING_WAIT_MAX + 1];
	uint32_t k = 0, i;

	if (wake) {
		w[k].val = wake_seen;
		w[k].uaddr = (uint64_t)(uintptr_t)wake;
		w[k].flags = FUTEX2_SIZE_U32;
		w[k].reserved = 0;
		k++;
	}

	for (i = 0; i < n; i++) {
		struct dk_ring *r = rings[i];

		if (r->broken || (!all && r->qos == DK_QOS_FRUGAL))
			continue;
		w[k].val = dk_shm_load_sc32(&r->hdr->doorbell);
		w[k].uaddr = (uint64_t)(uintptr_t)&r->hdr->doorbell;
		w[k].flags = FUTEX2_SIZE_U32;
		w[k].reserved = 0;
		k++;
	}
	/* Announce the sleep, then re-check: pairs with dk_ring_submit()'s store of sq_tail
	 * followed by its load of flags. A ring whose submissions wait for CQ room also asks
	 * its producer to ring when it reaps (dk_ring_reap()). */
	for (i = 0; i < n; i++) {
		struct dk_ring *r = rings[i];

		if (r->broken || (!all && r->qos == DK_QOS_FRUGAL))
			continue;
		atomic_fetch_or(&r->hdr->flags, ring_pending(r) ? RING_F_NEED_WAKEUP |
								       RING_F_NEED_CQ_SPACE
								 : RING_F_NEED_WAKEUP);
	}
	for (i = 0; i < n; i++)
		if ((all || rings[i]->qos != DK_QOS_FRUGAL) && ring_ready(rings[i]))
			goto out_clear;
	if (woken(wake, wake_seen))
		goto out_clear;
	futex_waitv_abs(w, k, deadline_ns);
	for (i = 0; i < n; i++)
		rings[i]->st.doorbells++;
out_clear:
	for (i = 0; i < n; i++)
		atomic_fetch_and(&rings[i]->hdr->flags,
				 ~(RING_F_NEED_WAKEUP | RING_F_NEED_CQ_SPACE));
}

/* 2: non-Frugal work ready, 1: only Frugal work ready, 0: none. */
static int pending_kind(struct dk_ring *const *rings, uint32_t n)
{
	int kind = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (!ring_ready(rings[i]))
			continue;
		if (rings[i]->qos != DK_QOS_FRUGAL)
			return 2;
		kind = 1;
	}
	return kind;
}

static int ring_idle(struct dk_ring *const *rings, uint32_t n, const uint32_t *wake,
		     uint32_t wake_seen, uint64_t deadline_ns)
{
	uint64_t spin_ns = 0, coalesce_ns = 0, now, until;
	unsigned int iter = 0;
	int kind, ret;

	ret = dk_deadline_check(deadline_ns);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < n; i++) {
		if (!rings[i]->consumer)
			return -EINVAL;
		if (rings[i]->qp.consumer_spin_ns > spin_ns)
			spin_ns = rings[i]->qp.consumer_spin_ns;
		if (rings[i]->qp.coalesce_ns > coalesce_ns)
			coalesce_ns = rings[i]->qp.coalesce_ns;
	}

	kind = pending_kind(rings, n);
	if (kind == 0 && woken(wake, wake_seen))
		return 2;
	if (kind == 0 && spin_ns) {
		/* Adaptive polling: a busy queue is served without any system call. */
		now = dk_now_ns();
		until = now + spin_ns < deadline_ns ? now + spin_ns : deadline_ns;
		while ((kind = pending_kind(rings, n)) == 0) {
			if (woken(wake, wake_seen))
				return 2;
			dk_spin_step(&iter);
			if ((iter & 63) == 0 && dk_now_ns() >= until)
				break;
		}
		if (kind)
			rings[0]->st.spins_won++;
	}
	/* Sleep until there is work or the deadline: a wake-up can be spurious (a doorbell rung
	 * for a submission that was already served), so look again after each one. */
	while (kind == 0) {
		if (woken(wake, wake_seen))
			return 2;
		if (dk_now_ns() >= deadline_ns)
			return 0;
		sleep_doorbells(rings, n, true, wake, wake_seen, deadline_ns);
		kind = pending_kind(rings, n);
	}
	if (kind == 1 && coalesce_ns) {
		/* Only Frugal work: gather it for the window, but wake for anyone else. */
		until = dk_now_ns() + coalesce_ns;
		if (until > deadline_ns)
			until = deadline_ns;
		while (pending_kind(rings, n) == 1 && dk_now_ns() < until &&
		       !woken(wake, wake_seen))
			sleep_doorbells(rings, n, false, wake, wake_seen, until);
	}
	return pending_kind(rings, n) ? 1 : 0;
}

int dk_ring_idle(struct dk_ring *const *rings, uint32_t n, uint64_t deadline_ns)
{
	if (!rings || n == 0 || n > DK_RING_WAIT_MAX)
		return -EINVAL;
	return ring_idle(rings, n, NULL, 0, deadline_ns);
}

int dk_ring_idle_wake(struct dk_ring *const *rings, uint32_t n, uint32_t *wake,
		      uint32_t wake_seen, uint64_t deadline_ns)
{
	if (!wake || (n && !rings) || n > DK_RING_WAIT_MAX)
		return -EINVAL;
	return ring_idle(rings, n, wake, wake_seen, deadline_ns);
}

void dk_ring_wake(uint32_t *wake)
{
	if (!wake)
		return;
	__atomic_fetch_add(wake, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}
