/* SPDX-License-Identifier: MIT */
/*
 * Timeline fences.
 *
 * Two shared pages make a fence (docs/abi.md, "Fences"):
 *  - the timeline page: value, error record, and the futex word. Signallers map it writable;
 *    everyone else maps it read-only, and once sealed (F_SEAL_FUTURE_WRITE) nobody can obtain a
 *    new writable mapping, whatever descriptor they hold.
 *  - the waiter page: counts of sleeping waiters and of pollers, written by waiters. It only
 *    decides whether a signal needs a system call; it can never forge a signal.
 *
 * Signal / sleep handshake (Dekker, both sides sequentially consistent):
 *   signaller: publish value;  read sleepers;  if any: seq += 1, FUTEX_WAKE
 *   waiter:    snapshot seq; sleepers += 1; re-read value; FUTEX_WAIT(seq, snapshot)
 * One of the two always sees the other's write, so no wake-up is lost; the kernel re-checks seq
 * against the snapshot, so a wake between the re-read and the sleep is not lost either. A signal
 * with no sleeper makes no system call and touches neither seq nor the waiter's cache lines.
 *
 * Error record: an error covers every point that was not signalled when it was recorded.
 * Signallers serialise on a lock in the page (sig_lock()) and store error_point, then status,
 * then the value, so a waiter that sees a value also sees every error recorded before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <dk/error.h>
#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/time.h>

#include "fence-private.h"
#include "memfd.h"
#include "shm.h"

#define FENCE_PAGE_SIZE 4096u
#define FENCE_MAGIC 0x4e46444bu      /* "DKFN" */
#define FENCE_WAIT_MAGIC 0x5746444bu /* "DKFW" */
#define FENCE_LAYOUT_MAJOR 1u
#define FENCE_LAYOUT_MINOR 0u

/* The timeline page. Written only by signallers. */
struct fence_page {
	uint32_t magic;
	uint16_t major;
	uint16_t minor;
	uint64_t id;
	_Atomic uint64_t value;
	_Atomic uint32_t seq;      /* futex word, bumped when a change finds sleepers */
	_Atomic uint32_t sig_lock; /* the signallers' lock: the holder's thread id, 0 if free */
	_Atomic uint64_t error_point; /* 0: no error; else the first point the error covers */
	_Atomic uint64_t status;      /* (uint32_t)error | (uint64_t)reason << 32, 0 if none */
};

/* The waiter page. Written by waiters and pollers of every process. */
struct fence_waitpage {
	uint32_t magic;
	uint32_t reserved0;
	_Atomic uint32_t sleepers;
	_Atomic uint32_t pollers;
};

_Static_assert(sizeof(struct fence_page) <= FENCE_PAGE_SIZE, "timeline page fits");
_Static_assert(sizeof(struct fence_waitpage) <= FENCE_PAGE_SIZE, "waiter page fits");

/* What all handles to one timeline share within this process. */
struct fence_core {
	_Atomic int refs;
	struct fence_page *page;
	struct fence_waitpage *wpage;
	int page_fd; /* O_RDWR for signallers, else O_RDONLY */
	int wait_fd;
	int event_fd;
	bool writable;
	uint64_t id;
	_Atomic uint32_t local_waiters;
};

struct dk_fence {
	_Atomic int refs;
	uint32_t rights;
	struct fence_core *core;
};

static void core_unref(struct fence_core *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	if (c->page)
		munmap(c->page, FENCE_PAGE_SIZE);
	if (c->wpage)
		munmap(c->wpage, FENCE_PAGE_SIZE);
	if (c->page_fd >= 0)
		close(c->page_fd);
	if (c->wait_fd >= 0)
		close(c->wait_fd);
	if (c->event_fd >= 0)
		close(c->event_fd);
	free(c);
}

static struct fence_core *core_alloc(void)
{
	struct fence_core *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->page_fd = -1;
	c->wait_fd = -1;
	c->event_fd = -1;
	return c;
}

static int fence_wrap(struct fence_core *c, uint32_t rights, struct dk_fence **ret_fence)
{
	struct dk_fence *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	atomic_init(&f->refs, 1);
	f->rights = rights;
	f->core = c;
	*ret_fence = f;
	return 0;
}

static int map_page(int fd, bool writable, void **ret_addr)
{
	void *p = mmap(NULL, FENCE_PAGE_SIZE, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED,
		       fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	*ret_addr = p;
	return 0;
}

int dk_fence_create(uint64_t initial_value, struct dk_fence **ret_fence)
{
	struct fence_core *c;
	void *addr = NULL;
	int ret;

	c = core_alloc();
	if (!c)
		return -ENOMEM;
	ret = dk_memfd_create("dk-fence", FENCE_PAGE_SIZE, 0, &c->page_fd);
	if (ret < 0)
		goto out_core;
	/* The waiter page is sealed against further seals: nobody can write-seal it and so lock
	 * other processes' waiters out. */
	ret = dk_memfd_create("dk-fence-wait", FENCE_PAGE_SIZE, F_SEAL_SEAL, &c->wait_fd);
	if (ret < 0)
		goto out_core;
	c->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->event_fd < 0) {
		ret = -errno;
		goto out_core;
	}
	ret = map_page(c->page_fd, true, &addr);
	if (ret < 0)
		goto out_core;
	c->page = addr;
	ret = map_page(c->wait_fd, true, &addr);
	if (ret < 0)
		goto out_core;
	c->wpage = addr;
	c->writable = true;
	if (getrandom(&c->id, sizeof(c->id), 0) != sizeof(c->id)) {
		ret = -EIO;
		goto out_core;
	}
	c->page->magic = FENCE_MAGIC;
	c->page->major = FENCE_LAYOUT_MAJOR;
	c->page->minor = FENCE_LAYOUT_MINOR;
	c->page->id = c->id;
	atomic_store_explicit(&c->page->value, initial_value, memory_order_relaxed);
	c->wpage->magic = FENCE_WAIT_MAGIC;
	/* Pairs with the acquire load of the magic by importers of either page: the header is
	 * complete before any descriptor leaves this process. */
	atomic_thread_fence(memory_order_release);

	ret = fence_wrap(c, DK_RIGHTS_ALL & ~(DK_RIGHT_READ | DK_RIGHT_WRITE | DK_RIGHT_MAP),
			 ret_fence);
	if (ret < 0)
		goto out_core;
	return 0;

out_core:
	core_unref(c);
	return ret;
}

struct dk_fence *dk_fence_ref(struct dk_fence *f)
{
	atomic_fetch_add(&f->refs, 1);
	return f;
}

void dk_fence_unref(struct dk_fence *f)
{
	if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
		return;
	core_unref(f->core);
	free(f);
}

uint32_t dk_fence_rights(const struct dk_fence *f)
{
	return f->rights;
}

uint64_t dk_fence_id(const struct dk_fence *f)
{
	return f->core->id;
}

static bool fence_is_sealed(const struct fence_core *c)
{
	int seals = fcntl(c->page_fd, F_GET_SEALS);

	return seals >= 0 && (seals & (F_SEAL_FUTURE_WRITE | F_SEAL_WRITE));
}

int dk_fence_seal(struct dk_fence *f)
{
	struct fence_core *c = f->core;

	if (!c->writable)
		return 0; /* a read-only import was verified sealed */
	if (fcntl(c->page_fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) < 0) {
		/* EPERM: already F_SEAL_SEAL'ed, which we only do after FUTURE_WRITE. */
		if (errno == EPERM && fence_is_sealed(c))
			return 0;
		return -errno;
	}
	return 0;
}

static void futex_wake_all(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void eventfd_kick(int efd)
{
	uint64_t one = 1, drain;

	if (write(efd, &one, sizeof(one)) == sizeof(one))
		return;
	/* The counter is saturated (2^64 - 2 kicks nobody drained): drain and kick again. Pollers
	 * use EPOLLET, so the new write is a new edge for all of them. */
	if (errno == EAGAIN && read(efd, &drain, sizeof(drain)) == sizeof(drain))
		(void)!write(efd, &one, sizeof(one));
}

/*
 * Tell sleepers and pollers that the page changed. Dekker with the waiter: the value (or error)
 * was published by a seq_cst CAS/store before this load of sleepers, and a waiter re-reads the
 * value after its seq_cst increment of sleepers; so either the waiter sees the new value, or we
 * see the waiter and wake it. seq moves only when someone sleeps, so a signal nobody waits for
 * writes nothing but the value.
 */
static void fence_notify(struct fence_core *c)
{
	if (dk_shm_load_sc32(&c->wpage->sleepers) > 0) {
		dk_shm_add_sc32(&c->page->seq, 1);
		futex_wake_all(&c->page->seq);
	}
	if (dk_shm_load_sc32(&c->wpage->pollers) > 0)
		eventfd_kick(c->event_fd);
}

/*
 * Signallers (this process's threads, other processes holding a writable mapping, the reaper)
 * serialise on a lock in the timeline page, so that an error record and the value that reports
 * it are published in one piece: a waiter can never see a value without the error recorded
 * before it. Waiters take no lock. The lock word holds the holder's thread id: a holder that
 * died in the middle of a signal (a crashed service) is detected and the lock taken over, so
 * the reaper is never blocked by the crash it cleans up after.
 */
/* This thread's id, cached: gettid() is a system call, and signalling must not make one. A
 * forked child starts with its parent's cache, so fork clears it (pthread_atfork). */
static _Thread_local uint32_t cached_tid;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;

static void tid_forget(void)
{
	cached_tid = 0;
}

static void tid_register(void)
{
	pthread_atfork(NULL, NULL, tid_forget);
}

static uint32_t my_tid(void)
{
	if (!cached_tid) {
		pthread_once(&tid_once, tid_register);
		cached_tid = (uint32_t)gettid();
	}
	return cached_tid;
}

static void sig_lock(struct fence_core *c)
{
	uint32_t me = my_tid(), cur;
	unsigned int step = 0;

	for (;;) {
		cur = 0;
		if (atomic_compare_exchange_weak_explicit(&c->page->sig_lock, &cur, me,
							  memory_order_acquire,
							  memory_order_relaxed))
			return;
		dk_spin_step(&step);
		if ((step & 1023) == 0 && cur && kill((pid_t)cur, 0) < 0 && errno == ESRCH &&
		    atomic_compare_exchange_strong_explicit(&c->page->sig_lock, &cur, me,
							    memory_order_acquire,
							    memory_order_relaxed))
			return; /* the holder is gone: take its lock over */
	}
}

static void sig_unlock(struct fence_core *c)
{
	atomic_store_explicit(&c->page->sig_lock, 0, memory_order_release);
}

/* Advance to @value under the lock. Returns 1 if the page changed, 0 if not, -EINVAL. */
static int fence_advance_locked(struct fence_core *c, uint64_t value, bool changed)
{
	uint64_t cur = atomic_load_explicit(&c->page->value, memory_order_relaxed);

	if (value < cur)
		return -EINVAL;
	if (value > cur) {
		/* Sequentially consistent: the Dekker half of fence_notify(); it also publishes
		 * an error record stored before it. */
		atomic_store_explicit(&c->page->value, value, memory_order_seq_cst);
		changed = true;
	}
	return changed;
}

int dk_fence_signal(struct dk_fence *f, uint64_t value)
{
	struct fence_core *c = f->core;
	int r;

	if (!dk_rights_has(f->rights, DK_RIGHT_SIGNAL) || !c->writable)
		return -EPERM;
	sig_lock(c);
	r = fence_advance_locked(c, value, false);
	sig_unlock(c);
	if (r > 0)
		fence_notify(c);
	return r < 0 ? r : 0;
}

bool dk_fence_error_valid(int error)
{
	switch (error) {
	case -EIO:
	case -ECANCELED:
	case -ENODEV:
	case -EPROTO:
	case -EACCES:
		return true;
	default:
		return false;
	}
}

int dk_fence_signal_error(struct dk_fence *f, uint64_t value, int error, uint32_t reason)
{
	struct fence_core *c = f->core;
	bool set = false;
	uint64_t cur;
	int r;

	if (!dk_rights_has(f->rights, DK_RIGHT_SIGNAL) || !c->writable)
		return -EPERM;
	if (!dk_fence_error_valid(error) || reason == DK_REASON_NONE || reason >= DK_REASON_COUNT)
		return -EINVAL;
	sig_lock(c);
	cur = atomic_load_explicit(&c->page->value, memory_order_relaxed);
	if (value < cur || cur == UINT64_MAX) {
		sig_unlock(c);
		return -EINVAL;
	}
	/* The first error sticks. It covers every point not signalled yet: (cur, value]. A
	 * record half-written by a holder that died (error_point without status) is rewritten. */
	if (atomic_load_explicit(&c->page->status, memory_order_relaxed) == 0) {
		atomic_store_explicit(&c->page->error_point, cur + 1, memory_order_relaxed);
		/* Pairs with the acquire load of status in fence_read(). */
		dk_shm_store_release64(&c->page->status,
				       (uint64_t)(uint32_t)error | ((uint64_t)reason << 32));
		set = true;
	}
	r = fence_advance_locked(c, value, set);
	sig_unlock(c);
	if (r > 0)
		fence_notify(c);
	return 0;
}

/* Read the state from the page. */
static void fence_read(struct fence_core *c, struct dk_fence_state *st)
{
	uint64_t status;

	/* Pairs with the seq_cst store of value in fence_advance_locked(): an error stored before the
	 * value that reports it is visible once that value is. Sequentially consistent because
	 * waiters and pollers re-read it after announcing themselves (see fence_notify()). */
	st->value = atomic_load_explicit(&c->page->value, memory_order_seq_cst);
	/* Pairs with the release store of status in dk_fence_signal_error(), which follows the
	 * CAS of error_point. */
	status = dk_shm_load_acquire64(&c->page->status);
	if (status) {
		st->error = (int32_t)(uint32_t)status;
		st->reason = (uint32_t)(status >> 32);
		st->error_point = dk_shm_load_acquire64(&c->page->error_point);
	} else {
		st->error = 0;
		st->reason = DK_REASON_NONE;
		st->error_point = 0;
	}
}

/* The wait result for @target in state @st: 1 not reached, 0 reached, < 0 reached with error. */
static int state_result(const struct dk_fence_state *st, uint64_t target, uint32_t *ret_reason)
{
	if (st->value < target)
		return 1;
	if (st->error && st->error_point <= target) {
		if (ret_reason)
			*ret_reason = st->reason;
		/* Defend against a forged or corrupted record: only documented fence errors. */
		return dk_fence_error_valid(st->error) ? st->error : -EIO;
	}
	if (ret_reason)
		*ret_reason = DK_REASON_NONE;
	return 0;
}

int dk_fence_query(struct dk_fence *f, struct dk_fence_state *ret_state)
{
	if (!dk_rights_has(f->rights, DK_RIGHT_WAIT))
		return -EPERM;
	fence_read(f->core, ret_state);
	return 0;
}

int dk_fence_status(struct dk_fence *f, uint64_t target, uint32_t *ret_reason)
{
	struct dk_fence_state st;
	int r;

	if (!dk_rights_has(f->rights, DK_RIGHT_WAIT))
		return -EPERM;
	fence_read(f->core, &st);
	r = state_result(&st, target, ret_reason);
	return r == 1 ? -EAGAIN : r;
}

static int futex_wait_abs(_Atomic uint32_t *word, uint32_t expected, uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / DK_NSEC_PER_SEC),
		.tv_nsec = (long)(deadline_ns % DK_NSEC_PER_SEC),
	};
	long r;

	/* Shared futex (no FUTEX_PRIVATE_FLAG): the key is the page of the memfd, the same in
	 * every process. FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
	r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, &ts, NULL, FUTEX_BITSET_MATCH_ANY);
	return r < 0 ? -errno : 0;
}

int dk_fence_wait_spin(struct dk_fence *f, uint64_t target, uint64_t deadline_ns,
		       uint64_t spin_ns)
{
	struct fence_core *c = f->core;
	struct dk_fence_state st;
	int r, w = 0;

	if (!dk_rights_has(f->rights, DK_RIGHT_WAIT))
		return -EPERM;
	r = dk_deadline_check(deadline_ns);
	if (r < 0)
		return r;

	fence_read(c, &st);
	r = state_result(&st, target, NULL);
	if (r <= 0)
		return r;

	if (spin_ns) {
		uint64_t until = dk_now_ns() + (spin_ns > DK_FENCE_MAX_SPIN_NS ? DK_FENCE_MAX_SPIN_NS
									      : spin_ns);
		unsigned int i = 0;

		if (until > deadline_ns)
			until = deadline_ns;
		for (;;) {
			/* Pairs with the seq_cst store of value in fence_advance_locked(). */
			if (dk_shm_load_acquire64(&c->page->value) >= target)
				break;
			dk_spin_step(&i);
			if ((i & 63) == 0 && dk_now_ns() >= until)
				break;
		}
	}

	if (atomic_fetch_add(&c->local_waiters, 1) >= DK_FENCE_MAX_WAITERS) {
		atomic_fetch_sub(&c->local_waiters, 1);
		return -ENOSPC;
	}
	for (;;) {
		uint32_t seq = dk_shm_load_sc32(&c->page->seq);

		fence_read(c, &st);
		r = state_result(&st, target, NULL);
		if (r <= 0)
			break;
		if (dk_now_ns() >= deadline_ns) {
			r = -ETIMEDOUT;
			break;
		}
		/* Dekker half: announce the sleeper, then re-read the value (fence_notify()). */
		dk_shm_add_sc32(&c->wpage->sleepers, 1);
		fence_read(c, &st);
		r = state_result(&st, target, NULL);
		if (r > 0)
			w = futex_wait_abs(&c->page->seq, seq, deadline_ns);
		dk_shm_sub_sc32(&c->wpage->sleepers, 1);
		if (r <= 0)
			break; /* reached: 0 or the fence error */
		if (w < 0 && w != -EAGAIN && w != -EINTR && w != -ETIMEDOUT) {
			r = w; /* e.g. -EFAULT: the page is gone; never spin on it */
			break;
		}
	}
	atomic_fetch_sub(&c->local_waiters, 1);
	return r;
}

int dk_fence_wait(struct dk_fence *f, uint64_t target, uint64_t deadline_ns)
{
	return dk_fence_wait_spin(f, target, deadline_ns, 0);
}

int dk_fence_poll_fd(struct dk_fence *f)
{
	return f->core->event_fd;
}

int dk_fence_poll_begin(struct dk_fence *f)
{
	if (!dk_rights_has(f->rights, DK_RIGHT_WAIT))
		return -EPERM;
	/* Pairs with fence_notify()'s read of pollers after its seq bump. */
	dk_shm_add_sc32(&f->core->wpage->pollers, 1);
	return 0;
}

void dk_fence_poll_end(struct dk_fence *f)
{
	dk_shm_sub_sc32(&f->core->wpage->pollers, 1);
}

int dk_fence_dup(struct dk_fence *f, uint32_t rights, struct dk_fence **ret_fence)
{
	uint32_t narrowed;
	int ret;

	ret = dk_rights_narrow(f->rights, rights, &narrowed);
	if (ret < 0)
		return ret;
	atomic_fetch_add(&f->core->refs, 1);
	ret = fence_wrap(f->core, narrowed, ret_fence);
	if (ret < 0)
		core_unref(f->core);
	return ret;
}

int dk_fence_export(struct dk_fence *f, uint32_t rights, int ret_fds[DK_FENCE_NR_FDS])
{
	struct fence_core *c = f->core;
	int fds[DK_FENCE_NR_FDS] = {-1, -1, -1};
	uint32_t narrowed;
	int ret, i;

	ret = dk_rights_narrow(f->rights, rights, &narrowed);
	if (ret < 0)
		return ret;
	if (!dk_rights_has(f->rights, DK_RIGHT_TRANSFER))
		return -EPERM;
	if (narrowed & DK_RIGHT_SIGNAL) {
		/* A new signaller needs a writable mapping: only possible before the seal. */
		if (!c->writable || fence_is_sealed(c))
			return -EPERM;
		ret = dk_fd_dup(c->page_fd, &fds[0]);
	} else {
		ret = c->writable ? dk_fence_seal(f) : 0;
		if (ret == 0)
			ret = dk_fd_reopen_readonly(c->page_fd, &fds[0]);
	}
	if (ret == 0)
		ret = dk_fd_dup(c->wait_fd, &fds[1]);
	if (ret == 0)
		ret = dk_fd_dup(c->event_fd, &fds[2]);
	if (ret < 0) {
		for (i = 0; i < DK_FENCE_NR_FDS; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		return ret;
	}
	memcpy(ret_fds, fds, sizeof(fds));
	return 0;
}

int dk_fence_import(const int fds[DK_FENCE_NR_FDS], uint32_t rights, struct dk_fence **ret_fence)
{
	struct fence_core *c;
	unsigned int seals;
	uint64_t size;
	bool writable;
	void *addr = NULL;
	int ret;

	if (rights & ~DK_RIGHTS_ALL)
		return -EINVAL;
	/* The timeline page: a size-sealed memfd of one page. */
	if (dk_memfd_inspect(fds[0], &size, &seals, &writable) < 0 || size != FENCE_PAGE_SIZE)
		return -EBADF;
	if (rights & DK_RIGHT_SIGNAL) {
		if (!writable || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
			return -EBADF;
	} else if (!(seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))) {
		/* An unsealed page would let a same-uid holder reopen it writable. */
		return -EBADF;
	}
	/* The waiter page: writable, and sealed against new seals. */
	if (dk_memfd_inspect(fds[1], &size, &seals, &writable) < 0 || size != FENCE_PAGE_SIZE ||
	    !writable || !(seals & F_SEAL_SEAL) || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
		return -EBADF;
	if (!dk_fd_is_eventfd(fds[2]))
		return -EBADF;

	c = core_alloc();
	if (!c)
		return -ENOMEM;
	c->writable = (rights & DK_RIGHT_SIGNAL) != 0;
	ret = map_page(fds[0], c->writable, &addr);
	if (ret < 0)
		goto out_core;
	c->page = addr;
	ret = map_page(fds[1], true, &addr);
	if (ret < 0)
		goto out_core;
	c->wpage = addr;
	/* Pairs with the release fence in dk_fence_create(). */
	atomic_thread_fence(memory_order_acquire);
	if (c->page->magic != FENCE_MAGIC || c->page->major != FENCE_LAYOUT_MAJOR ||
	    c->wpage->magic != FENCE_WAIT_MAGIC) {
		ret = -EPROTO;
		goto out_core;
	}
	c->id = c->page->id;
	ret = fence_wrap(c, rights, ret_fence);
	if (ret < 0)
		goto out_core;
	/* Take the descriptors over only now that nothing can fail. */
	c->page_fd = fds[0];
	c->wait_fd = fds[1];
	c->event_fd = fds[2];
	return 0;

out_core:
	core_unref(c);
	return ret;
}
