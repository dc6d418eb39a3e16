/* SPDX-License-Identifier: MIT */
/*
 * Waitsets: one epoll instance sleeps for every member.
 *
 *  - fence members: the fence's eventfd (a private duplicate per member) is registered with
 *    EPOLLET; for the duration of a wait the waitset is a registered poller of each fence, so
 *    every signal kicks the eventfd. The fence itself is always re-read after a wake-up.
 *  - fd members: a private duplicate of the caller's descriptor, level-triggered; readiness is
 *    read with poll(2) at each check.
 *  - timer members: just a deadline; the sleep is cut short at the earliest pending one.
 * The waitset is a poller only inside dk_waitset_wait(): nothing stays registered on any fence
 * after it returns.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <dk/fence.h>
#include <dk/rights.h>
#include <dk/time.h>
#include <dk/waitset.h>

#include "memfd.h"

enum member_kind {
	MEMBER_NONE = 0,
	MEMBER_FENCE,
	MEMBER_FD,
	MEMBER_TIMER,
};

struct member {
	enum member_kind kind;
	uint64_t cookie;
	int fd; /* our duplicate: the fence's eventfd or the caller's fd */
	struct dk_fence *fence;
	uint64_t target;
	uint32_t events;
	bool armed; /* fd members: registered for events (else parked while ready) */
	uint64_t deadline_ns;
};

struct dk_waitset {
	uint32_t capacity;
	uint32_t count;
	int epfd;
	struct member *m;
	struct pollfd *pfds; /* scratch for fd members */
	uint32_t *pfd_index;
};

int dk_waitset_create(uint32_t capacity, struct dk_waitset **ret_waitset)
{
	struct dk_waitset *ws;

	if (capacity == 0 || capacity > DK_WAITSET_MAX_MEMBERS)
		return -EINVAL;
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return -ENOMEM;
	ws->capacity = capacity;
	ws->m = calloc(capacity, sizeof(*ws->m));
	ws->pfds = calloc(capacity, sizeof(*ws->pfds));
	ws->pfd_index = calloc(capacity, sizeof(*ws->pfd_index));
	ws->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!ws->m || !ws->pfds || !ws->pfd_index || ws->epfd < 0) {
		int ret = ws->epfd < 0 ? -errno : -ENOMEM;

		dk_waitset_destroy(ws);
		return ret;
	}
	*ret_waitset = ws;
	return 0;
}

static void member_clear(struct dk_waitset *ws, struct member *m)
{
	if (m->fd >= 0) {
		/* Explicitly: epoll keeps an item while any descriptor of the file is open, and
		 * the caller (or the fence) keeps one. */
		if (m->kind == MEMBER_FENCE || m->armed)
			epoll_ctl(ws->epfd, EPOLL_CTL_DEL, m->fd, NULL);
		close(m->fd);
	}
	dk_fence_unref(m->fence);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
}

void dk_waitset_destroy(struct dk_waitset *ws)
{
	uint32_t i;

	if (!ws)
		return;
	for (i = 0; ws->m && i < ws->capacity; i++)
		if (ws->m[i].kind != MEMBER_NONE)
			member_clear(ws, &ws->m[i]);
	if (ws->epfd >= 0)
		close(ws->epfd);
	free(ws->m);
	free(ws->pfds);
	free(ws->pfd_index);
	free(ws);
}

/* A free slot, or -ENOSPC. */
static int free_slot(struct dk_waitset *ws)
{
	uint32_t i;

	if (ws->count >= ws->capacity)
		return -ENOSPC;
	for (i = 0; i < ws->capacity; i++)
		if (ws->m[i].kind == MEMBER_NONE)
			return (int)i;
	return -ENOSPC;
}

/* Register @fd (already our own duplicate) for member @idx; closes it on failure. */
static int watch_fd(struct dk_waitset *ws, int idx, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.u32 = (uint32_t)idx};

	if (epoll_ctl(ws->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int ret = -errno;

		close(fd);
		return ret == -EPERM ? -EINVAL : ret; /* EPERM: a file epoll cannot watch */
	}
	return 0;
}

int dk_waitset_add_fence(struct dk_waitset *ws, struct dk_fence *fence, uint64_t target,
			 uint64_t cookie)
{
	int idx, fd, ret;

	if (!fence)
		return -EINVAL;
	if (!dk_rights_has(dk_fence_rights(fence), DK_RIGHT_WAIT))
		return -EPERM;
	idx = free_slot(ws);
	if (idx < 0)
		return idx;
	ret = dk_fd_dup(dk_fence_poll_fd(fence), &fd);
	if (ret < 0)
		return ret;
	ret = watch_fd(ws, idx, fd, EPOLLIN | EPOLLET);
	if (ret < 0)
		return ret;
	ws->m[idx] = (struct member){
		.kind = MEMBER_FENCE,
		.cookie = cookie,
		.fd = fd,
		.fence = dk_fence_ref(fence),
		.target = target,
	};
	ws->count++;
	return idx;
}

int dk_waitset_add_fd(struct dk_waitset *ws, int fd, uint32_t events, uint64_t cookie)
{
	int idx, dfd, ret;

	if (fd < 0 || events == 0 || (events & ~(uint32_t)(POLLIN | POLLOUT | POLLPRI)))
		return -EINVAL;
	idx = free_slot(ws);
	if (idx < 0)
		return idx;
	ret = dk_fd_dup(fd, &dfd);
	if (ret < 0)
		return ret == -EBADF ? -EINVAL : ret;
	ret = watch_fd(ws, idx, dfd, events);
	if (ret < 0)
		return ret;
	ws->m[idx] = (struct member){
		.kind = MEMBER_FD,
		.cookie = cookie,
		.fd = dfd,
		.events = events,
		.armed = true,
	};
	ws->count++;
	return idx;
}

int dk_waitset_add_timer(struct dk_waitset *ws, uint64_t deadline_ns, uint64_t cookie)
{
	int idx, ret;

	ret = dk_deadline_check(deadline_ns);
	if (ret < 0)
		return ret;
	idx = free_slot(ws);
	if (idx < 0)
		return idx;
	ws->m[idx] = (struct member){
		.kind = MEMBER_TIMER,
		.cookie = cookie,
		.fd = -1,
		.deadline_ns = deadline_ns,
	};
	ws->count++;
	return idx;
}

int dk_waitset_remove(struct dk_waitset *ws, uint32_t index)
{
	if (index >= ws->capacity || ws->m[index].kind == MEMBER_NONE)
		return -EINVAL;
	member_clear(ws, &ws->m[index]);
	ws->count--;
	return 0;
}

uint32_t dk_waitset_count(const struct dk_waitset *ws)
{
	return ws->count;
}

/* Read the readiness of every fd member at once into ws->pfds (revents). */
static void poll_fd_members(struct dk_waitset *ws, uint32_t *ret_n)
{
	uint32_t i, n = 0;

	for (i = 0; i < ws->capacity; i++) {
		if (ws->m[i].kind != MEMBER_FD)
			continue;
		ws->pfds[n] = (struct pollfd){.fd = ws->m[i].fd, .events = (short)ws->m[i].events};
		ws->pfd_index[n++] = i;
	}
	if (n && poll(ws->pfds, n, 0) < 0) {
		for (i = 0; i < n; i++)
			ws->pfds[i].revents = 0;
	}
	*ret_n = n;
}

/* The state of member @i; fd members read from the last poll_fd_members(). */
static void member_state(struct dk_waitset *ws, uint32_t i, uint64_t now, uint32_t n_pfds,
			 struct dk_waitset_result *r)
{
	struct member *m = &ws->m[i];
	uint32_t k;
	int s;

	*r = (struct dk_waitset_result){.index = (int32_t)i, .cookie = m->cookie};
	switch (m->kind) {
	case MEMBER_FENCE:
		s = dk_fence_status(m->fence, m->target, &r->reason);
		if (s == 0) {
			r->state = DK_MEMBER_SIGNALLED;
		} else if (s != -EAGAIN) {
			r->state = DK_MEMBER_ERROR;
			r->error = s;
		}
		break;
	case MEMBER_TIMER:
		if (now >= m->deadline_ns)
			r->state = DK_MEMBER_SIGNALLED;
		break;
	case MEMBER_FD:
		for (k = 0; k < n_pfds; k++) {
			if (ws->pfd_index[k] != i)
				continue;
			r->revents = (uint32_t)ws->pfds[k].revents;
			if (r->revents & (POLLERR | POLLNVAL)) {
				r->state = DK_MEMBER_ERROR;
				r->error = -EIO;
			} else if (r->revents & m->events) {
				r->state = DK_MEMBER_SIGNALLED;
			} else if (r->revents & POLLHUP) {
				r->state = DK_MEMBER_ERROR;
				r->error = -EPIPE;
			}
			break;
		}
		break;
	case MEMBER_NONE:
		break;
	}
}

int dk_waitset_member(struct dk_waitset *ws, uint32_t index, struct dk_waitset_result *ret)
{
	uint32_t n = 0;

	if (index >= ws->capacity || ws->m[index].kind == MEMBER_NONE)
		return -EINVAL;
	if (ws->m[index].kind == MEMBER_FD)
		poll_fd_members(ws, &n);
	member_state(ws, index, dk_now_ns(), n, ret);
	return 0;
}

/*
 * Level-triggered fd members that are already ready would wake every sleep of a DK_WAIT_ALL
 * wait at once: park them (no events) while ready, re-arm them once pending again.
 */
static void arm_fd_member(struct dk_waitset *ws, uint32_t i, bool arm)
{
	struct epoll_event ev = {.events = ws->m[i].events, .data.u32 = i};

	if (ws->m[i].armed == arm)
		return;
	/* Removed rather than modified: epoll reports hang-ups even with no events asked. */
	if (epoll_ctl(ws->epfd, arm ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, ws->m[i].fd, &ev) == 0)
		ws->m[i].armed = arm;
}

/* Evaluate the members; returns true when the wait is over and fills @ret. */
static bool evaluate(struct dk_waitset *ws, enum dk_wait_mode mode, uint64_t now,
		     uint64_t *ret_next_timer, struct dk_waitset_result *ret)
{
	struct dk_waitset_result r, last = {.index = -1}, first_error = {.index = -1};
	uint64_t next_timer = UINT64_MAX;
	uint32_t i, n_pfds;
	bool all = true;

	poll_fd_members(ws, &n_pfds);
	for (i = 0; i < ws->capacity; i++) {
		if (ws->m[i].kind == MEMBER_NONE)
			continue;
		member_state(ws, i, now, n_pfds, &r);
		if (ws->m[i].kind == MEMBER_FD)
			arm_fd_member(ws, i, r.state == DK_MEMBER_PENDING);
		if (r.state == DK_MEMBER_PENDING) {
			all = false;
			if (ws->m[i].kind == MEMBER_TIMER && ws->m[i].deadline_ns < next_timer)
				next_timer = ws->m[i].deadline_ns;
			continue;
		}
		if (mode == DK_WAIT_ANY) {
			*ret = r;
			return true;
		}
		if (r.state == DK_MEMBER_ERROR && first_error.index < 0)
			first_error = r;
		last = r;
	}
	*ret_next_timer = next_timer;
	if (mode == DK_WAIT_ALL && all) {
		*ret = first_error.index >= 0 ? first_error : last;
		return true;
	}
	return false;
}

static void set_pollers(struct dk_waitset *ws, bool on)
{
	uint32_t i;

	for (i = 0; i < ws->capacity; i++) {
		if (ws->m[i].kind != MEMBER_FENCE)
			continue;
		if (on)
			dk_fence_poll_begin(ws->m[i].fence);
		else
			dk_fence_poll_end(ws->m[i].fence);
	}
}

int dk_waitset_wait(struct dk_waitset *ws, enum dk_wait_mode mode, uint64_t deadline_ns,
		    struct dk_waitset_result *ret_result)
{
	struct epoll_event events[16];
	uint64_t now, next_timer, until;
	struct timespec ts;
	int ret;

	if (mode != DK_WAIT_ANY && mode != DK_WAIT_ALL)
		return -EINVAL;
	ret = dk_deadline_check(deadline_ns);
	if (ret < 0)
		return ret;
	if (ws->count == 0)
		return -EINVAL;

	/* Pollers first, then the check: a signal after the check kicks the eventfd
	 * (the fence's Dekker handshake on its pollers count). */
	set_pollers(ws, true);
	for (;;) {
		now = dk_now_ns();
		if (evaluate(ws, mode, now, &next_timer, ret_result)) {
			ret = 0;
			break;
		}
		if (now >= deadline_ns) {
			*ret_result = (struct dk_waitset_result){.index = -1};
			ret = -ETIMEDOUT;
			break;
		}
		until = next_timer < deadline_ns ? next_timer : deadline_ns;
		ts.tv_sec = (time_t)((until - now) / DK_NSEC_PER_SEC);
		ts.tv_nsec = (long)((until - now) % DK_NSEC_PER_SEC);
		if (epoll_pwait2(ws->epfd, events, 16, &ts, NULL) < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
	}
	set_pollers(ws, false);
	return ret;
}
