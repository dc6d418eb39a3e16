/* SPDX-License-Identifier: MIT */
/*
 * Rings across processes: a million entries between a producer and a consumer process, every
 * ticket taken once and in order, every completion reaped once; a consumer that dies leaves
 * its producer with a timeout at its deadline, never a hang; and when the reaper fails the
 * dead service's fence, a waiter in a third process wakes with -ENODEV.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/buffer.h>
#include <dk/error.h>
#include <dk/fence.h>
#include <dk/qos.h>
#include <dk/rights.h>
#include <dk/ring.h>
#include <dk/time.h>
#include <dk/transfer.h>

#include "mp.h"

#define XFER_ENTRIES 1000000u
#define XFER_DEPTH 256u
#define LONG_NS (30 * DK_NSEC_PER_SEC)

static uint64_t ud(uint64_t ticket)
{
	return ticket * 0x9e3779b97f4a7c15ull ^ 0x5a5a5a5aull;
}

static uint64_t result_of(uint64_t ticket)
{
	return ticket ^ 0xabcdefull;
}

/* Receive one descriptor sent with mp_send_raw(); -1 on any failure. */
static int recv_fd(int sock)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	char byte;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cmsg;
	int fd;

	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
	    cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
	return fd;
}

static struct dk_fence *recv_fence(int sock)
{
	struct dk_buffer_registry *reg;
	struct dk_handle h;

	if (dk_buffer_registry_create(NULL, &reg) < 0)
		return NULL;
	if (dk_handle_recv(sock, dk_deadline_in(LONG_NS), reg, NULL, &h) < 0) {
		dk_buffer_registry_destroy(reg);
		return NULL;
	}
	dk_buffer_registry_destroy(reg);
	if (h.type != DK_HANDLE_FENCE || h.rights != DK_RIGHTS_FENCE_WAIT) {
		dk_fence_unref(h.fence);
		return NULL;
	}
	return h.fence;
}

/* The service's side of the hand-over: the memfd (SCM_RIGHTS) and a wait-only fence. */
static void send_ring(int sock, struct dk_ring *ring)
{
	int fd = dk_ring_fd(ring);

	CHILD_CHECK(mp_send_raw(sock, "R", 1, &fd, 1) == 0);
	CHILD_CHECK(dk_fence_send(sock, dk_ring_fence(ring), DK_RIGHTS_FENCE_WAIT, 2) == 0);
}

/* The client's side: attach to what the service sent. Returns the ring; *ret_fence keeps a
 * reference to the fence for the test's own checks. */
static struct dk_ring *recv_ring(int sock, struct dk_fence **ret_fence)
{
	struct dk_fence *f;
	struct dk_ring *r = NULL;
	int fd;

	fd = recv_fd(sock);
	assert_true(fd >= 0);
	f = recv_fence(sock);
	assert_non_null(f);
	assert_int_equal(dk_ring_attach(fd, f, &r), 0);
	*ret_fence = f;
	return r;
}

/* ---- a million entries ---- */

static void child_consumer(int sock, void *arg)
{
	struct dk_ring_params prm = {XFER_DEPTH, XFER_DEPTH, DK_QOS_NORMAL};
	static struct dk_ring_job jobs[XFER_DEPTH];
	uint64_t taken = 0, batch = 0, give_up, deadline;
	struct dk_ring_stats st;
	struct dk_ring *ring;
	unsigned int seed = 7;

	(void)arg;
	CHILD_CHECK(dk_ring_create(&prm, &ring) == 0);
	send_ring(sock, ring);
	give_up = dk_deadline_in(100 * DK_NSEC_PER_SEC); /* a guard against a livelock only */
	while (taken < XFER_ENTRIES) {
		uint32_t max = 1 + (uint32_t)(rand_r(&seed) % XFER_DEPTH);
		int n, r;

		CHILD_CHECK(dk_now_ns() < give_up);
		deadline = dk_deadline_in(LONG_NS);
		r = dk_ring_idle(&ring, 1, deadline);
		/* 0 only at the deadline, which would mean 30 s without a submission. */
		CHILD_CHECK(r != 0 || dk_now_ns() >= deadline);
		CHILD_CHECK(r == 1);
		n = dk_ring_consume(ring, jobs, max);
		CHILD_CHECK(n >= 0 && (uint32_t)n <= max);
		for (int i = 0; i < n; i++) {
			taken++;
			CHILD_CHECK(jobs[i].ticket == taken); /* in order, each once */
			CHILD_CHECK(jobs[i].sqe.user_data == ud(taken));
			CHILD_CHECK(jobs[i].sqe.param == taken);
		}
		/* Completion order varies: in order, reversed, or odd-then-even. */
		switch (batch++ % 3) {
		case 0:
			for (int i = 0; i < n; i++)
				CHILD_CHECK(dk_ring_complete(ring, &jobs[i], 0, 0,
							     result_of(jobs[i].ticket), 0) == 0);
			break;
		case 1:
			for (int i = n - 1; i >= 0; i--)
				CHILD_CHECK(dk_ring_complete(ring, &jobs[i], 0, 0,
							     result_of(jobs[i].ticket), 0) == 0);
			break;
		default:
			for (int i = 1; i < n; i += 2)
				CHILD_CHECK(dk_ring_complete(ring, &jobs[i], 0, 0,
							     result_of(jobs[i].ticket), 0) == 0);
			for (int i = 0; i < n; i += 2)
				CHILD_CHECK(dk_ring_complete(ring, &jobs[i], 0, 0,
							     result_of(jobs[i].ticket), 0) == 0);
			break;
		}
		CHILD_CHECK(dk_ring_publish(ring) == 0);
	}
	dk_ring_stats(ring, &st);
	CHILD_CHECK(st.submitted == XFER_ENTRIES);
	CHILD_CHECK(st.completed == XFER_ENTRIES);
	CHILD_CHECK(st.inflight == 0);
	CHILD_CHECK(st.broken == 0);
	dk_ring_destroy(ring);
}

static void reap_one(const struct dk_cqe *cqe, uint8_t *seen, uint64_t *reaped)
{
	assert_true(cqe->ticket >= 1 && cqe->ticket <= XFER_ENTRIES);
	assert_int_equal(seen[cqe->ticket], 0); /* exactly once */
	seen[cqe->ticket] = 1;
	assert_int_equal(cqe->user_data, ud(cqe->ticket));
	assert_int_equal(cqe->result, result_of(cqe->ticket));
	assert_int_equal(cqe->status, 0);
	(*reaped)++;
}

static void test_million_entries(void **state)
{
	uint64_t next = 1, reaped = 0, iter = 0;
	struct dk_fence_state fs;
	struct dk_ring_stats st;
	struct dk_fence *f;
	struct dk_ring *p;
	struct dk_cqe cqe;
	static uint8_t seen[XFER_ENTRIES + 1]; /* static: nothing leaks when a check fails */
	unsigned int seed = 11;
	int sv[2], r;
	pid_t pid;

	(void)state;
	memset(seen, 0, sizeof(seen));
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_consumer, sv[1], sv[0], NULL);
	close(sv[1]);
	p = recv_ring(sv[0], &f);
	assert_int_equal(dk_ring_sq_entries(p), XFER_DEPTH);

	while (reaped < XFER_ENTRIES) {
		uint32_t k = 0, got = 0, space;

		iter++;
		if (next <= XFER_ENTRIES) {
			/* Batches of 1..64, sometimes a whole ring's worth. */
			k = (rand_r(&seed) % 16 == 0) ? XFER_DEPTH
						       : 1 + (uint32_t)(rand_r(&seed) % 64);
			if (k > XFER_ENTRIES - next + 1)
				k = (uint32_t)(XFER_ENTRIES - next + 1);
			/* One reading: the consumer may free more between two. */
			space = dk_ring_sq_space(p);
			if (k > space)
				k = space;
			for (uint32_t i = 0; i < k; i++) {
				uint64_t t = 0;
				struct dk_sqe *sqe = dk_ring_get_sqe(p, &t);

				assert_non_null(sqe);
				assert_int_equal(t, next);
				sqe->user_data = ud(t);
				sqe->param = t;
				next++;
			}
			if (k)
				assert_int_equal(dk_ring_submit(p), (int)k);
		}
		while ((r = dk_ring_peek_cqe(p, &cqe)) == 0) {
			reap_one(&cqe, seen, &reaped);
			got++;
		}
		assert_int_equal(r, -EAGAIN);
		if (got || (k && next <= XFER_ENTRIES))
			continue;
		/* Nothing to reap and nothing could be submitted: wait. Waiting for space may
		 * time out when the service waits for us to reap; a completion always comes. */
		if (next <= XFER_ENTRIES && (iter & 1)) {
			r = dk_ring_submit_wait(p, 1, dk_deadline_in(DK_NSEC_PER_MSEC));
			assert_true(r == 0 || r == -ETIMEDOUT);
		} else {
			r = dk_ring_wait_cqe(p, &cqe, dk_deadline_in(LONG_NS));
			if (r != 0) {
				/* Bounded: the child's alarm ends it if it is stuck too. */
				int code = mp_join(pid);

				fail_msg("dk_ring_wait_cqe: %d after %llu reaped; the consumer exited "
					 "with %d (a failed CHILD_CHECK at line %% 255 + 1)",
					 r, (unsigned long long)reaped, code);
			}
			reap_one(&cqe, seen, &reaped);
		}
	}
	assert_int_equal(next, XFER_ENTRIES + 1);
	for (uint64_t t = 1; t <= XFER_ENTRIES; t++)
		assert_int_equal(seen[t], 1);
	assert_int_equal(dk_ring_peek_cqe(p, &cqe), -EAGAIN);
	assert_int_equal(mp_join(pid), 0);
	/* The fence counts every completion, no more. */
	assert_int_equal(dk_fence_query(f, &fs), 0);
	assert_int_equal(fs.value, XFER_ENTRIES);
	assert_int_equal(fs.error, 0);
	dk_ring_stats(p, &st);
	assert_int_equal(st.submitted, XFER_ENTRIES);
	assert_int_equal(st.completed, XFER_ENTRIES);
	dk_ring_destroy(p);
	dk_fence_unref(f);
	close(sv[0]);
}

/* ---- the consumer dies: the producer times out at its deadline ---- */

static void child_consumer_dies(int sock, void *arg)
{
	struct dk_ring_params prm = {8, 8, DK_QOS_NORMAL};
	struct dk_ring_job job;
	struct dk_ring *ring;
	uint8_t taken = 1;

	(void)arg;
	CHILD_CHECK(dk_ring_create(&prm, &ring) == 0);
	send_ring(sock, ring);
	CHILD_CHECK(dk_ring_idle(&ring, 1, dk_deadline_in(LONG_NS)) == 1);
	CHILD_CHECK(dk_ring_consume(ring, &job, 1) == 1);
	/* Taken, never completed. */
	CHILD_CHECK(write(sock, &taken, 1) == 1);
	raise(SIGKILL);
}

static void test_consumer_killed_producer_times_out(void **state)
{
	struct dk_fence_state fs;
	struct dk_fence *f;
	struct dk_ring *p;
	struct dk_cqe cqe;
	uint64_t deadline;
	struct dk_sqe *sqe;
	uint8_t taken;
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_consumer_dies, sv[1], sv[0], NULL);
	close(sv[1]);
	p = recv_ring(sv[0], &f);
	sqe = dk_ring_get_sqe(p, NULL);
	assert_non_null(sqe);
	sqe->user_data = ud(1);
	assert_int_equal(dk_ring_submit(p), 1);
	assert_int_equal(read(sv[0], &taken, 1), 1);
	/* The consumer dies now, around our wait: nothing signals the fence. */
	deadline = dk_deadline_in(50 * DK_NSEC_PER_MSEC);
	assert_int_equal(dk_ring_wait_cqe(p, &cqe, deadline), -ETIMEDOUT);
	assert_true(dk_now_ns() >= deadline);
	assert_int_equal(mp_join(pid), 1000 + SIGKILL);
	/* Dead for sure now: still a timeout, at once for a past deadline. */
	assert_int_equal(dk_ring_wait_cqe(p, &cqe, dk_now_ns()), -ETIMEDOUT);
	deadline = dk_deadline_in(5 * DK_NSEC_PER_MSEC);
	assert_int_equal(dk_ring_wait_cqe(p, &cqe, deadline), -ETIMEDOUT);
	assert_true(dk_now_ns() >= deadline);
	assert_int_equal(dk_fence_query(f, &fs), 0);
	assert_int_equal(fs.value, 0);
	assert_int_equal(fs.error, 0);
	dk_ring_destroy(p);
	dk_fence_unref(f);
	close(sv[0]);
}

/* ---- the reaper fails the dead service's fence: a waiter elsewhere wakes ---- */

struct reaper_arg {
	int ring_fd; /* a duplicate of the ring's memfd, inherited */
	struct dk_ring *ring; /* the consumer side, inherited by the consumer child */
};

static void child_producer_waits(int sock, void *arg)
{
	struct reaper_arg *a = arg;
	struct dk_buffer_registry *reg;
	struct dk_fence_state fs;
	struct dk_handle h;
	struct dk_ring *p;
	struct dk_cqe cqe;
	uint32_t reason = 0;
	uint8_t go = 1;

	CHILD_CHECK(dk_buffer_registry_create(NULL, &reg) == 0);
	CHILD_CHECK(dk_handle_recv(sock, dk_deadline_in(LONG_NS), reg, NULL, &h) == 0);
	dk_buffer_registry_destroy(reg);
	CHILD_CHECK(h.type == DK_HANDLE_FENCE && h.rights == DK_RIGHTS_FENCE_WAIT);
	CHILD_CHECK(dk_fence_signal(h.fence, 1) == -EPERM); /* wait-only */
	CHILD_CHECK(dk_ring_attach(a->ring_fd, h.fence, &p) == 0);
	for (uint64_t t = 1; t <= 4; t++) {
		struct dk_sqe *sqe = dk_ring_get_sqe(p, NULL);

		CHILD_CHECK(sqe != NULL);
		sqe->user_data = ud(t);
	}
	CHILD_CHECK(dk_ring_submit(p) == 4);
	CHILD_CHECK(write(sock, &go, 1) == 1);
	/* Two jobs complete before the service dies. */
	for (uint64_t t = 1; t <= 2; t++) {
		CHILD_CHECK(dk_ring_wait_cqe(p, &cqe, dk_deadline_in(LONG_NS)) == 0);
		CHILD_CHECK(cqe.ticket == t && cqe.user_data == ud(t));
	}
	/* The rest never will: the reaper's error wakes us, long before the deadline. */
	CHILD_CHECK(dk_ring_wait_cqe(p, &cqe, dk_deadline_in(LONG_NS)) == -ENODEV);
	CHILD_CHECK(dk_fence_status(h.fence, 3, &reason) == -ENODEV);
	CHILD_CHECK(reason == DK_REASON_DRIVER_CRASHED);
	CHILD_CHECK(dk_fence_query(h.fence, &fs) == 0);
	CHILD_CHECK(fs.error_point == 3);
	CHILD_CHECK(dk_fence_status(h.fence, 2, NULL) == 0); /* finished work stays clean */
	dk_ring_destroy(p);
	dk_fence_unref(h.fence);
}

static void child_consumer_crashes(int sock, void *arg)
{
	struct reaper_arg *a = arg;
	struct dk_ring_job jobs[4];
	uint64_t deadline = dk_deadline_in(LONG_NS);
	int taken = 0, n;

	(void)sock;
	while (taken < 4) {
		CHILD_CHECK(dk_now_ns() < deadline);
		CHILD_CHECK(dk_ring_idle(&a->ring, 1, deadline) == 1);
		n = dk_ring_consume(a->ring, jobs + taken, 4 - (uint32_t)taken);
		CHILD_CHECK(n >= 0);
		taken += n;
	}
	CHILD_CHECK(dk_ring_complete(a->ring, &jobs[0], 0, 0, 0, 0) == 0);
	CHILD_CHECK(dk_ring_complete(a->ring, &jobs[1], 0, 0, 0, 0) == 0);
	CHILD_CHECK(dk_ring_publish(a->ring) == 0);
	raise(SIGKILL); /* with two jobs in flight */
}

static void test_reaper_fails_dead_service_fence(void **state)
{
	struct dk_ring_params prm = {8, 8, DK_QOS_NORMAL};
	struct reaper_arg a;
	struct dk_fence_state fs;
	struct dk_fence *fence;
	pid_t producer, consumer;
	uint8_t go;
	int sv[2];

	(void)state;
	assert_int_equal(dk_ring_create(&prm, &a.ring), 0);
	fence = dk_ring_fence(a.ring); /* the parent's own signaller handle */
	a.ring_fd = fcntl(dk_ring_fd(a.ring), F_DUPFD_CLOEXEC, 0);
	assert_true(a.ring_fd >= 0);
	assert_int_equal(mp_socketpair(sv), 0);
	producer = mp_fork(child_producer_waits, sv[1], sv[0], &a);
	close(sv[1]);
	assert_int_equal(dk_fence_send(sv[0], fence, DK_RIGHTS_FENCE_WAIT, 1), 0);
	assert_int_equal(read(sv[0], &go, 1), 1); /* submitted */
	consumer = mp_fork(child_consumer_crashes, -1, -1, &a);
	assert_int_equal(mp_join(consumer), 1000 + SIGKILL);

	/* What the reaper does for a crashed service: every point still to come fails. */
	assert_int_equal(dk_fence_query(fence, &fs), 0);
	assert_int_equal(fs.value, 2);
	assert_int_equal(dk_fence_signal_error(fence, UINT64_MAX, -ENODEV, DK_REASON_DRIVER_CRASHED),
			 0);
	assert_int_equal(mp_join(producer), 0);
	assert_int_equal(dk_fence_query(fence, &fs), 0);
	assert_int_equal(fs.error, -ENODEV);
	assert_int_equal(fs.reason, DK_REASON_DRIVER_CRASHED);
	assert_int_equal(fs.error_point, 3);
	close(a.ring_fd);
	close(sv[0]);
	dk_ring_destroy(a.ring);
}

/* ---- passing a queue with dk_ring_send() / dk_handle_recv() ---- */

static void child_ring_service(int sock, void *arg)
{
	struct dk_ring_params prm = {16, 32, DK_QOS_NORMAL};
	struct dk_ring_job jobs[16];
	struct dk_ring *ring;
	uint64_t done = 0;

	(void)arg;
	CHILD_CHECK(dk_ring_create(&prm, &ring) == 0);
	CHILD_CHECK(dk_ring_send(sock, ring, 77) == 0);
	/* The client got a wait-only fence: only this process signals it. */
	CHILD_CHECK(dk_fence_signal(dk_ring_fence(ring), 0) == 0);
	while (done < 100) {
		int n;

		CHILD_CHECK(dk_ring_idle(&ring, 1, dk_deadline_in(LONG_NS)) == 1);
		n = dk_ring_consume(ring, jobs, 16);
		CHILD_CHECK(n >= 0);
		for (int i = 0; i < n; i++)
			CHILD_CHECK(dk_ring_complete(ring, &jobs[i], 0, 0, jobs[i].sqe.param * 2,
						     0) == 0);
		CHILD_CHECK(dk_ring_publish(ring) == 0);
		done += (uint64_t)n;
	}
	dk_ring_destroy(ring);
}

static void test_ring_send_recv(void **state)
{
	struct dk_buffer_registry *reg;
	struct dk_handle h;
	struct dk_cqe cqe;
	int sv[2];
	pid_t pid;

	(void)state;
	assert_int_equal(dk_buffer_registry_create(NULL, &reg), 0);
	assert_int_equal(mp_socketpair(sv), 0);
	pid = mp_fork(child_ring_service, sv[1], sv[0], NULL);
	close(sv[1]);
	assert_int_equal(dk_handle_recv(sv[0], dk_deadline_in(LONG_NS), reg, NULL, &h), 0);
	assert_int_equal(h.type, DK_HANDLE_RING);
	assert_int_equal(h.tag, 77);
	assert_non_null(h.ring);
	assert_null(h.fence);
	assert_int_equal(dk_ring_qos(h.ring), DK_QOS_NORMAL);
	assert_int_equal(dk_ring_sq_entries(h.ring), 16);
	assert_int_equal(dk_ring_cq_entries(h.ring), 32);
	for (uint64_t k = 1; k <= 100; k++) {
		struct dk_sqe *sqe = dk_ring_get_sqe(h.ring, NULL);

		assert_non_null(sqe);
		sqe->param = k;
		sqe->user_data = k;
		assert_int_equal(dk_ring_submit(h.ring), 1);
		assert_int_equal(dk_ring_wait_cqe(h.ring, &cqe, dk_deadline_in(LONG_NS)), 0);
		assert_int_equal(cqe.user_data, k);
		assert_int_equal(cqe.result, 2 * k);
		assert_int_equal(cqe.ticket, k);
	}
	assert_int_equal(mp_join(pid), 0);
	dk_ring_destroy(h.ring);
	close(sv[0]);
	dk_buffer_registry_destroy(reg);
}

static void test_ring_lying_header_refused(void **state)
{
	struct dk_buffer_registry *reg;
	struct dk_buffer *b;
	struct dk_fence *f;
	struct dk_handle h;
	uint8_t frame[128];
	int sv[2], fds[4], n, before;

	(void)state;
	assert_int_equal(dk_buffer_registry_create(NULL, &reg), 0);
	assert_int_equal(dk_buffer_create(reg, NULL, 8192, 0, &b), 0);
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(mp_socketpair(sv), 0);
	before = mp_count_fds();
	/* A plain buffer memfd passed off as a queue, with a real fence. */
	assert_int_equal(dk_buffer_export(b, DK_RIGHTS_BUFFER_RW, &fds[0]), 0);
	assert_int_equal(dk_fence_export(f, DK_RIGHTS_FENCE_WAIT, &fds[1]), 0);
	n = mp_handle_frame(frame, sizeof(frame), &dk_core_proto, DK_HANDLE_RING,
			    DK_RIGHTS_FENCE_WAIT, 8192, 0, 4);
	assert_int_equal(mp_send_raw(sv[0], frame, (size_t)n, fds, 4), 0);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	assert_int_equal(dk_handle_recv(sv[1], dk_deadline_in(LONG_NS), reg, NULL, &h), -EPROTO);
	/* Every received descriptor was closed. */
	assert_int_equal(mp_count_fds(), before);
	/* The right count of descriptors, but a size claim that differs from the object. */
	assert_int_equal(dk_buffer_export(b, DK_RIGHTS_BUFFER_RW, &fds[0]), 0);
	assert_int_equal(dk_fence_export(f, DK_RIGHTS_FENCE_WAIT, &fds[1]), 0);
	n = mp_handle_frame(frame, sizeof(frame), &dk_core_proto, DK_HANDLE_RING,
			    DK_RIGHTS_FENCE_WAIT, 4096, 0, 4);
	assert_int_equal(mp_send_raw(sv[0], frame, (size_t)n, fds, 4), 0);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	assert_int_equal(dk_handle_recv(sv[1], dk_deadline_in(LONG_NS), reg, NULL, &h), -EPROTO);
	assert_int_equal(mp_count_fds(), before);
	close(sv[0]);
	close(sv[1]);
	dk_fence_unref(f);
	assert_int_equal(dk_buffer_release(b), 0);
	dk_buffer_registry_destroy(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_million_entries),
		cmocka_unit_test(test_consumer_killed_producer_times_out),
		cmocka_unit_test(test_reaper_fails_dead_service_fence),
		cmocka_unit_test(test_ring_send_recv),
		cmocka_unit_test(test_ring_lying_header_refused),
	};

	return cmocka_run_group_tests_name("ring-xfer", tests, NULL, NULL);
}
