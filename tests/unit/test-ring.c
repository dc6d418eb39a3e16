/* SPDX-License-Identifier: MIT */
/*
 * Submission/completion rings in one process: a consumer (dk_ring_create()) and a producer
 * attached to a duplicate of its memfd. Geometry and attach checks, tickets across many laps,
 * out-of-order completion, stale and double completions, abandon/readmit, the no-drop rule,
 * a hostile producer rewriting the shared indices, entry validation, backpressure and idling.
 *
 * Where a test writes the shared header it uses the layout of docs/abi.md, "Rings".
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/buffer.h>
#include <dk/error.h>
#include <dk/fence.h>
#include <dk/htable.h>
#include <dk/qos.h>
#include <dk/rights.h>
#include <dk/ring.h>
#include <dk/time.h>

/* The shared header (docs/abi.md, "Rings"). */
#define HDR_MAGIC 0
#define HDR_MAJOR 4 /* u16 */
#define HDR_MINOR 6 /* u16 */
#define HDR_SQ_ENTRIES 8
#define HDR_CQ_ENTRIES 12
#define HDR_SQE_SIZE 16
#define HDR_CQE_SIZE 20
#define HDR_QOS 24
#define HDR_SQ_OFFSET 32 /* u64 */
#define HDR_CQ_OFFSET 40 /* u64 */
#define HDR_TOTAL_SIZE 48 /* u64 */
#define HDR_SQ_TAIL 64
#define HDR_CQ_HEAD 128
#define HDR_SQ_HEAD 192
#define HDR_CQ_TAIL 256
#define HDR_FLAGS 320
#define HDR_PAGE 4096u
#define RING_MAGIC 0x4752444bu

#define LONG_NS (30 * DK_NSEC_PER_SEC)

/* ---- helpers ---- */

struct pair {
	struct dk_ring *c; /* consumer (service) side */
	struct dk_ring *p; /* producer (client) side */
	uint8_t *hdr;      /* the shared header, mapped by the test when it plays a hostile peer */
};

static uint64_t ud(uint64_t ticket)
{
	return ticket * 0x9e3779b97f4a7c15ull ^ 0x5a5a5a5aull;
}

static int dup_fd(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	assert_true(d >= 0);
	return d;
}

static struct dk_ring *attach_producer(struct dk_ring *c)
{
	struct dk_fence *w;
	struct dk_ring *p = NULL;

	assert_int_equal(dk_fence_dup(dk_ring_fence(c), DK_RIGHT_WAIT, &w), 0);
	assert_int_equal(dk_ring_attach(dup_fd(dk_ring_fd(c)), w, &p), 0);
	assert_non_null(p);
	dk_fence_unref(w); /* the ring took its own reference */
	return p;
}

static void pair_open(struct pair *pr, uint32_t sq, uint32_t cq, uint32_t qos)
{
	struct dk_ring_params prm = {.sq_entries = sq, .cq_entries = cq, .qos = qos};

	memset(pr, 0, sizeof(*pr));
	assert_int_equal(dk_ring_create(&prm, &pr->c), 0);
	assert_non_null(pr->c);
	pr->p = attach_producer(pr->c);
}

static uint8_t *pair_header(struct pair *pr)
{
	void *m = mmap(NULL, HDR_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, dk_ring_fd(pr->c), 0);

	assert_true(m != MAP_FAILED);
	pr->hdr = m;
	return m;
}

static void pair_close(struct pair *pr)
{
	if (pr->hdr)
		munmap(pr->hdr, HDR_PAGE);
	dk_ring_destroy(pr->p);
	dk_ring_destroy(pr->c);
}

static void hdr_store32(uint8_t *hdr, size_t off, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)(hdr + off), v, __ATOMIC_SEQ_CST);
}

static uint32_t hdr_load32(const uint8_t *hdr, size_t off)
{
	return __atomic_load_n((const uint32_t *)(const void *)(hdr + off), __ATOMIC_SEQ_CST);
}

/* Obtain and publish @n entries; their tickets must be *next, *next + 1, ... */
static void push(struct dk_ring *p, uint32_t n, uint64_t *next)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = 0;
		struct dk_sqe *sqe = dk_ring_get_sqe(p, &t);

		assert_non_null(sqe);
		assert_int_equal(t, *next);
		sqe->user_data = ud(t);
		sqe->param = t;
		(*next)++;
	}
	assert_int_equal(dk_ring_submit(p), (int)n);
}

static uint64_t fence_value(struct dk_ring *c)
{
	struct dk_fence_state st;

	assert_int_equal(dk_fence_query(dk_ring_fence(c), &st), 0);
	return st.value;
}

static void complete_ok(struct dk_ring *c, const struct dk_ring_job *j)
{
	assert_int_equal(dk_ring_complete(c, j, 0, DK_REASON_NONE, j->ticket + 1000, 0), 0);
}

static void expect_cqe(struct dk_ring *p, uint64_t ticket)
{
	struct dk_cqe cqe;

	assert_int_equal(dk_ring_peek_cqe(p, &cqe), 0);
	assert_int_equal(cqe.ticket, ticket);
	assert_int_equal(cqe.user_data, ud(ticket));
	assert_int_equal(cqe.status, 0);
	assert_int_equal(cqe.result, ticket + 1000);
}

static void expect_no_cqe(struct dk_ring *p)
{
	struct dk_cqe cqe;

	assert_int_equal(dk_ring_peek_cqe(p, &cqe), -EAGAIN);
}

static void expect_broken(struct pair *pr)
{
	struct dk_ring_stats st;
	struct dk_ring_job jobs[4];
	struct dk_cqe cqe;
	uint32_t reason = 0;

	dk_ring_stats(pr->c, &st);
	assert_int_equal(st.broken, DK_REASON_QUEUE_BROKEN);
	/* Sticky: the service stops serving the queue. */
	assert_int_equal(dk_ring_consume(pr->c, jobs, 4), -EPROTO);
	/* The fence fails, so a waiter gets an error instead of hanging. */
	assert_int_equal(dk_fence_status(dk_ring_fence(pr->c), fence_value(pr->c), &reason),
			 -EPROTO);
	assert_int_equal(reason, DK_REASON_QUEUE_BROKEN);
	assert_int_equal(dk_ring_wait_cqe(pr->p, &cqe, dk_deadline_in(LONG_NS)), -EPROTO);
	/* The client sees it too. */
	assert_null(dk_ring_get_sqe(pr->p, NULL));
	assert_int_equal(dk_ring_submit(pr->p), -EPIPE);
	assert_int_equal(dk_ring_submit_wait(pr->p, 1, dk_deadline_in(LONG_NS)), -EPIPE);
}

/* ---- creation ---- */

static void test_create_refusals(void **state)
{
	static const struct dk_ring_params bad[] = {
		{0, 0, DK_QOS_NORMAL},
		{0, 4, DK_QOS_NORMAL},
		{1, 1, DK_QOS_NORMAL},
		{1, 4, DK_QOS_NORMAL},
		{3, 4, DK_QOS_NORMAL},
		{4, 6, DK_QOS_NORMAL},
		{6, 8, DK_QOS_NORMAL},
		{100, 128, DK_QOS_NORMAL},
		{DK_RING_MAX_ENTRIES * 2, DK_RING_MAX_ENTRIES * 2, DK_QOS_NORMAL},
		{4, DK_RING_MAX_ENTRIES * 2, DK_QOS_NORMAL},
		{0x80000000u, 0x80000000u, DK_QOS_NORMAL},
		{8, 4, DK_QOS_NORMAL}, /* cq < sq */
		{8, 0, DK_QOS_NORMAL},
		{4, 4, 0},
		{4, 4, 4},
		{4, 4, 255},
		{4, 4, UINT32_MAX},
	};
	struct dk_ring *r = (struct dk_ring *)0x1;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dk_ring_create(&bad[i], &r), -EINVAL);
	assert_ptr_equal(r, (struct dk_ring *)0x1); /* not written on failure */
	dk_ring_destroy(NULL);
}

static void test_create_geometry(void **state)
{
	static const struct dk_ring_params ok[] = {
		{DK_RING_MIN_ENTRIES, DK_RING_MIN_ENTRIES, DK_QOS_FRUGAL},
		{4, 16, DK_QOS_NORMAL},
		{DK_RING_MAX_ENTRIES, DK_RING_MAX_ENTRIES, DK_QOS_BURST},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct dk_ring_stats st;
		struct pair pr;
		int seals;

		pair_open(&pr, ok[i].sq_entries, ok[i].cq_entries, ok[i].qos);
		assert_int_equal(dk_ring_sq_entries(pr.c), ok[i].sq_entries);
		assert_int_equal(dk_ring_cq_entries(pr.c), ok[i].cq_entries);
		assert_int_equal(dk_ring_qos(pr.c), ok[i].qos);
		assert_int_equal(dk_ring_sq_entries(pr.p), ok[i].sq_entries);
		assert_int_equal(dk_ring_cq_entries(pr.p), ok[i].cq_entries);
		assert_int_equal(dk_ring_qos(pr.p), ok[i].qos);
		assert_int_equal(dk_ring_sq_space(pr.p), ok[i].sq_entries);
		assert_false(dk_ring_pressure(pr.p));
		/* A memfd whose size nobody can change. */
		seals = fcntl(dk_ring_fd(pr.c), F_GET_SEALS);
		assert_true(seals >= 0);
		assert_true(seals & F_SEAL_GROW);
		assert_true(seals & F_SEAL_SHRINK);
		assert_true(fcntl(dk_ring_fd(pr.c), F_GETFD) & FD_CLOEXEC);
		assert_int_equal(fence_value(pr.c), 0);
		dk_ring_stats(pr.c, &st);
		assert_int_equal(st.submitted, 0);
		assert_int_equal(st.completed, 0);
		assert_int_equal(st.inflight, 0);
		assert_int_equal(st.broken, 0);
		expect_no_cqe(pr.p);
		pair_close(&pr);
	}
}

/* ---- attach ---- */

static int fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void expect_attach_refused(int fd, struct dk_fence *w, int expect)
{
	struct dk_ring *r = (struct dk_ring *)0x1;

	assert_int_equal(dk_ring_attach(fd, w, &r), expect);
	assert_ptr_equal(r, (struct dk_ring *)0x1);
}

static void test_attach_refuses_non_rings(void **state)
{
	struct dk_buffer_registry *reg;
	struct dk_buffer *b;
	struct dk_fence *w;
	struct dk_ring *r = (struct dk_ring *)0x1;
	struct pair pr;
	int p[2], sv[2], fd, ret;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_NORMAL);
	assert_int_equal(dk_fence_dup(dk_ring_fence(pr.c), DK_RIGHT_WAIT, &w), 0);

	/* A pipe, a socket, a character device, a closed or negative descriptor. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	expect_attach_refused(p[0], w, -EBADF);
	expect_attach_refused(p[1], w, -EBADF);
	assert_true(fd_is_open(p[0]) && fd_is_open(p[1])); /* left to the caller */
	close(p[0]);
	close(p[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	expect_attach_refused(sv[0], w, -EBADF);
	close(sv[0]);
	close(sv[1]);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	expect_attach_refused(fd, w, -EBADF);
	close(fd);
	expect_attach_refused(fd, w, -EBADF); /* closed now */
	expect_attach_refused(-1, w, -EBADF);

	/* A buffer's memfd: size-sealed, but not a ring. */
	assert_int_equal(dk_buffer_registry_create(NULL, &reg), 0);
	assert_int_equal(dk_buffer_create(reg, NULL, 4 * HDR_PAGE, 0, &b), 0);
	fd = dup_fd(dk_buffer_fd(b));
	ret = dk_ring_attach(fd, w, &r);
	assert_true(ret == -EBADF || ret == -EPROTO);
	assert_ptr_equal(r, (struct dk_ring *)0x1);
	assert_true(fd_is_open(fd));
	close(fd);
	assert_int_equal(dk_buffer_release(b), 0);
	dk_buffer_registry_destroy(reg);

	dk_fence_unref(w);
	pair_close(&pr);
}

/* A copy of the ring's memfd, @size bytes, with @seals added, after @edit changed its header. */
static int copy_ring(struct pair *pr, uint64_t size, unsigned int seals,
		     void (*edit)(uint8_t *hdr, const void *arg), const void *arg)
{
	struct stat st;
	uint8_t *buf;
	int fd;

	assert_int_equal(fstat(dk_ring_fd(pr->c), &st), 0);
	buf = calloc(1, (size_t)st.st_size);
	assert_non_null(buf);
	assert_int_equal(pread(dk_ring_fd(pr->c), buf, (size_t)st.st_size, 0), st.st_size);
	if (edit)
		edit(buf, arg);
	fd = memfd_create("ring-copy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	assert_int_equal(pwrite(fd, buf, size < (uint64_t)st.st_size ? (size_t)size
								    : (size_t)st.st_size, 0),
			 size < (uint64_t)st.st_size ? (ssize_t)size : (ssize_t)st.st_size);
	if (seals)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, seals), 0);
	free(buf);
	return fd;
}

struct field {
	size_t off;
	unsigned int width; /* 2, 4 or 8 */
	uint64_t value;
};

static void set_field(uint8_t *hdr, const void *arg)
{
	const struct field *f = arg;
	uint16_t v16 = (uint16_t)f->value;
	uint32_t v32 = (uint32_t)f->value;
	uint64_t v64 = f->value;

	if (f->width == 2)
		memcpy(hdr + f->off, &v16, 2);
	else if (f->width == 4)
		memcpy(hdr + f->off, &v32, 4);
	else
		memcpy(hdr + f->off, &v64, 8);
}

static void flip_magic(uint8_t *hdr, const void *arg)
{
	(void)arg;
	hdr[HDR_MAGIC] ^= 1;
}

static void test_attach_refuses_bad_headers(void **state)
{
	const unsigned int size_seals = F_SEAL_GROW | F_SEAL_SHRINK;
	struct dk_ring *r = NULL;
	struct dk_fence *w;
	struct stat st;
	struct pair pr;
	uint64_t size, sq_off, cq_off;
	uint32_t magic;
	int fd;

	(void)state;
	pair_open(&pr, 4, 8, DK_QOS_NORMAL);
	assert_int_equal(dk_fence_dup(dk_ring_fence(pr.c), DK_RIGHT_WAIT, &w), 0);
	assert_int_equal(fstat(dk_ring_fd(pr.c), &st), 0);
	size = (uint64_t)st.st_size;
	assert_int_equal(pread(dk_ring_fd(pr.c), &magic, 4, HDR_MAGIC), 4);
	assert_int_equal(magic, RING_MAGIC);
	assert_int_equal(pread(dk_ring_fd(pr.c), &sq_off, 8, HDR_SQ_OFFSET), 8);
	assert_int_equal(pread(dk_ring_fd(pr.c), &cq_off, 8, HDR_CQ_OFFSET), 8);

	/* The control: an intact, size-sealed copy attaches. */
	fd = copy_ring(&pr, size, size_seals, NULL, NULL);
	assert_int_equal(dk_ring_attach(fd, w, &r), 0);
	assert_int_equal(dk_ring_sq_entries(r), 4);
	assert_int_equal(dk_ring_cq_entries(r), 8);
	dk_ring_destroy(r);

	/* Every header field that describes the layout is checked: -EPROTO. */
	{
		const struct field bad[] = {
			{HDR_MAJOR, 2, 0},
			{HDR_MAJOR, 2, 2},
			{HDR_MAJOR, 2, 0xffff},
			{HDR_SQE_SIZE, 4, 64},
			{HDR_SQE_SIZE, 4, 256},
			{HDR_SQE_SIZE, 4, 0},
			{HDR_CQE_SIZE, 4, 32},
			{HDR_CQE_SIZE, 4, 128},
			{HDR_SQ_ENTRIES, 4, 0},
			{HDR_SQ_ENTRIES, 4, 1},
			{HDR_SQ_ENTRIES, 4, 3},
			{HDR_SQ_ENTRIES, 4, 16}, /* above the CQ depth */
			{HDR_SQ_ENTRIES, 4, DK_RING_MAX_ENTRIES * 2},
			{HDR_SQ_ENTRIES, 4, UINT32_MAX},
			{HDR_CQ_ENTRIES, 4, 2}, /* below the SQ depth */
			{HDR_CQ_ENTRIES, 4, 0},
			{HDR_CQ_ENTRIES, 4, 12},
			{HDR_CQ_ENTRIES, 4, DK_RING_MAX_ENTRIES * 2},
			{HDR_CQ_ENTRIES, 4, 0x80000000u},
			{HDR_QOS, 4, 0},
			{HDR_QOS, 4, 4},
			{HDR_SQ_OFFSET, 8, 0},
			{HDR_SQ_OFFSET, 8, 64},
			{HDR_CQ_OFFSET, 8, 0},
			{HDR_CQ_OFFSET, 8, 0},
			{HDR_TOTAL_SIZE, 8, 0},
			{HDR_TOTAL_SIZE, 8, UINT64_MAX},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			fd = copy_ring(&pr, size, size_seals, set_field, &bad[i]);
			expect_attach_refused(fd, w, -EPROTO);
			assert_true(fd_is_open(fd));
			close(fd);
		}
		/* Offsets that point elsewhere. */
		{
			const struct field moved[] = {
				{HDR_SQ_OFFSET, 8, sq_off + HDR_PAGE},
				{HDR_CQ_OFFSET, 8, cq_off + HDR_PAGE},
				{HDR_CQ_OFFSET, 8, cq_off - HDR_PAGE},
				{HDR_TOTAL_SIZE, 8, size + HDR_PAGE},
				{HDR_TOTAL_SIZE, 8, size - HDR_PAGE},
			};

			for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
				fd = copy_ring(&pr, size, size_seals, set_field, &moved[i]);
				expect_attach_refused(fd, w, -EPROTO);
				close(fd);
			}
		}
	}
	fd = copy_ring(&pr, size, size_seals, flip_magic, NULL);
	expect_attach_refused(fd, w, -EPROTO);
	close(fd);

	/* The file's own size must match what the header declares. */
	fd = copy_ring(&pr, size + HDR_PAGE, size_seals, NULL, NULL);
	expect_attach_refused(fd, w, -EPROTO);
	close(fd);
	fd = copy_ring(&pr, size - HDR_PAGE, size_seals, NULL, NULL);
	expect_attach_refused(fd, w, -EPROTO);
	close(fd);

	/* Not size-sealed: not a ring descriptor at all. */
	fd = copy_ring(&pr, size, 0, NULL, NULL);
	expect_attach_refused(fd, w, -EBADF);
	close(fd);
	fd = copy_ring(&pr, size, F_SEAL_GROW, NULL, NULL);
	expect_attach_refused(fd, w, -EBADF);
	close(fd);

	dk_fence_unref(w);
	pair_close(&pr);
}

static void test_geometry_copied_once(void **state)
{
	struct dk_ring_job jobs[8];
	struct pair pr;
	uint64_t next = 1;
	uint8_t *hdr;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	hdr = pair_header(&pr);
	/* The client rewrites the geometry after attaching: neither side reads it again. */
	hdr_store32(hdr, HDR_SQ_ENTRIES, DK_RING_MAX_ENTRIES);
	hdr_store32(hdr, HDR_CQ_ENTRIES, DK_RING_MAX_ENTRIES);
	hdr_store32(hdr, HDR_MAGIC, 0);
	assert_int_equal(dk_ring_sq_entries(pr.p), 4);
	assert_int_equal(dk_ring_sq_entries(pr.c), 4);
	assert_int_equal(dk_ring_cq_entries(pr.c), 4);
	push(pr.p, 4, &next);
	assert_null(dk_ring_get_sqe(pr.p, NULL));
	assert_int_equal(dk_ring_consume(pr.c, jobs, 8), 4);
	pair_close(&pr);
}

/* ---- full and empty ---- */

static void test_full_and_empty(void **state)
{
	struct dk_ring_job jobs[16];
	struct dk_ring_stats st;
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 8, 8, DK_QOS_BURST);
	/* Empty: nothing to take, nothing to reap. */
	assert_int_equal(dk_ring_consume(pr.c, jobs, 16), 0);
	expect_no_cqe(pr.p);
	assert_int_equal(dk_ring_submit(pr.p), 0);

	for (uint32_t i = 0; i < 8; i++) {
		assert_int_equal(dk_ring_sq_space(pr.p), 8 - i);
		push(pr.p, 1, &next);
	}
	/* Full: no entry, and submitting nothing new publishes nothing. */
	assert_int_equal(dk_ring_sq_space(pr.p), 0);
	assert_null(dk_ring_get_sqe(pr.p, NULL));
	assert_null(dk_ring_get_sqe(pr.p, NULL));
	assert_int_equal(dk_ring_submit(pr.p), 0);

	assert_int_equal(dk_ring_consume(pr.c, jobs, 16), 8);
	for (uint32_t i = 0; i < 8; i++) {
		assert_int_equal(jobs[i].ticket, i + 1);
		assert_int_equal(jobs[i].sqe.user_data, ud(i + 1));
	}
	assert_int_equal(dk_ring_consume(pr.c, jobs + 8, 8), 0);
	assert_int_equal(dk_ring_sq_space(pr.p), 8); /* taken entries are free again */
	dk_ring_stats(pr.c, &st);
	assert_int_equal(st.submitted, 8);
	assert_int_equal(st.inflight, 8);

	expect_no_cqe(pr.p); /* nothing completed yet */
	for (uint32_t i = 0; i < 8; i++)
		complete_ok(pr.c, &jobs[i]);
	expect_no_cqe(pr.p); /* posted, not yet published */
	assert_int_equal(dk_ring_publish(pr.c), 0);
	assert_int_equal(fence_value(pr.c), 8);
	for (uint64_t t = 1; t <= 8; t++)
		expect_cqe(pr.p, t);
	expect_no_cqe(pr.p);
	pair_close(&pr);
}

/* ---- tickets over many laps ---- */

static void test_wraparound_many_laps(void **state)
{
	const uint64_t total = 10000;
	struct dk_ring_job jobs[4];
	struct dk_ring_stats st;
	struct pair pr;
	uint64_t next = 1, taken = 0, reaped = 0;
	unsigned int seed = 1;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	while (reaped < total) {
		uint32_t k = 1 + (uint32_t)(rand_r(&seed) % 4);
		int n;

		if (k > total - (next - 1))
			k = (uint32_t)(total - (next - 1));
		push(pr.p, k, &next);
		n = dk_ring_consume(pr.c, jobs, 4);
		assert_int_equal(n, (int)k);
		for (int i = 0; i < n; i++) {
			taken++;
			assert_int_equal(jobs[i].ticket, taken);
			assert_int_equal(jobs[i].sqe.user_data, ud(taken));
			assert_int_equal(jobs[i].sqe.param, taken);
		}
		/* Every other lap in reverse: the CQ keeps completion order. */
		if (taken & 1) {
			for (int i = n - 1; i >= 0; i--)
				complete_ok(pr.c, &jobs[i]);
		} else {
			for (int i = 0; i < n; i++)
				complete_ok(pr.c, &jobs[i]);
		}
		assert_int_equal(dk_ring_publish(pr.c), 0);
		assert_int_equal(fence_value(pr.c), taken);
		if (taken & 1) {
			for (int i = n - 1; i >= 0; i--)
				expect_cqe(pr.p, jobs[i].ticket);
		} else {
			for (int i = 0; i < n; i++)
				expect_cqe(pr.p, jobs[i].ticket);
		}
		reaped += (uint64_t)n;
		expect_no_cqe(pr.p);
	}
	dk_ring_stats(pr.c, &st);
	assert_int_equal(st.submitted, total);
	assert_int_equal(st.completed, total);
	assert_int_equal(st.inflight, 0);
	dk_ring_stats(pr.p, &st);
	assert_int_equal(st.submitted, total);
	assert_int_equal(st.completed, total);
	assert_int_equal(fence_value(pr.c), total);
	pair_close(&pr);
}

/* ---- completion order, double and stale completion ---- */

static void test_out_of_order_completion(void **state)
{
	static const int order[8] = {7, 6, 5, 4, 3, 2, 1, 0};
	static const int shuffled[8] = {3, 0, 7, 1, 6, 2, 5, 4};
	struct dk_ring_job jobs[8];
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 8, 8, DK_QOS_BURST);
	for (int round = 0; round < 2; round++) {
		const int *ord = round ? shuffled : order;

		push(pr.p, 8, &next);
		assert_int_equal(dk_ring_consume(pr.c, jobs, 8), 8);
		for (int i = 0; i < 8; i++) {
			complete_ok(pr.c, &jobs[ord[i]]);
			assert_int_equal(dk_ring_publish(pr.c), 0);
			/* The fence counts completions, whichever tickets they were. */
			assert_int_equal(fence_value(pr.c), (uint64_t)round * 8 + (uint64_t)i + 1);
		}
		for (int i = 0; i < 8; i++)
			expect_cqe(pr.p, jobs[ord[i]].ticket);
		expect_no_cqe(pr.p);
	}
	pair_close(&pr);
}

static void test_double_completion_refused(void **state)
{
	struct dk_ring_job jobs[4];
	struct dk_ring_stats st;
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	push(pr.p, 2, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 4), 2);
	complete_ok(pr.c, &jobs[0]);
	assert_int_equal(dk_ring_complete(pr.c, &jobs[0], 0, 0, 0, 0), -EINVAL);
	assert_int_equal(dk_ring_complete(pr.c, &jobs[0], -EIO, DK_REASON_HANG, 9, 0), -EINVAL);
	assert_int_equal(dk_ring_abandon(pr.c, &jobs[0]), -EINVAL);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	/* Exactly one completion was posted and counted. */
	assert_int_equal(fence_value(pr.c), 1);
	expect_cqe(pr.p, 1);
	expect_no_cqe(pr.p);
	dk_ring_stats(pr.c, &st);
	assert_int_equal(st.completed, 1);
	assert_int_equal(st.inflight, 1);
	/* The other job is unaffected. */
	complete_ok(pr.c, &jobs[1]);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	expect_cqe(pr.p, 2);
	assert_int_equal(fence_value(pr.c), 2);
	pair_close(&pr);
}

static void test_stale_slot_after_reuse(void **state)
{
	struct dk_ring_job a, b, c, forged;
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 2, 2, DK_QOS_BURST);
	push(pr.p, 2, &next);
	assert_int_equal(dk_ring_consume(pr.c, &a, 1), 1);
	assert_int_equal(dk_ring_consume(pr.c, &b, 1), 1);
	complete_ok(pr.c, &a);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	expect_cqe(pr.p, 1);
	/* Every slot is taken again: c necessarily reuses a's. */
	push(pr.p, 1, &next);
	assert_int_equal(dk_ring_consume(pr.c, &c, 1), 1);
	assert_int_equal(c.ticket, 3);
	assert_int_equal(dk_ring_complete(pr.c, &a, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(dk_ring_abandon(pr.c, &a), -EINVAL);
	/* Forged jobs: a slot out of range, a wrong generation, all zero. */
	forged = c;
	forged.slot = 1u << 30;
	assert_int_equal(dk_ring_complete(pr.c, &forged, 0, 0, 0, 0), -EINVAL);
	forged.slot = UINT32_MAX;
	assert_int_equal(dk_ring_abandon(pr.c, &forged), -EINVAL);
	forged = c;
	forged.gen++;
	assert_int_equal(dk_ring_complete(pr.c, &forged, 0, 0, 0, 0), -EINVAL);
	forged.gen = c.gen - 1;
	assert_int_equal(dk_ring_complete(pr.c, &forged, 0, 0, 0, 0), -EINVAL);
	memset(&forged, 0, sizeof(forged));
	assert_int_equal(dk_ring_complete(pr.c, &forged, 0, 0, 0, 0), -EINVAL);
	/* Nothing was posted by the refusals. */
	assert_int_equal(dk_ring_publish(pr.c), 0);
	expect_no_cqe(pr.p);
	assert_int_equal(fence_value(pr.c), 1);
	/* The jobs in flight complete normally. */
	complete_ok(pr.c, &c);
	complete_ok(pr.c, &b);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	expect_cqe(pr.p, 3);
	expect_cqe(pr.p, 2);
	assert_int_equal(fence_value(pr.c), 3);
	pair_close(&pr);
}

/* ---- abandon and readmit ---- */

static void test_abandon_does_not_count(void **state)
{
	struct dk_ring_job jobs[4];
	struct dk_ring_stats st;
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	push(pr.p, 3, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 4), 3);
	assert_int_equal(dk_ring_abandon(pr.c, &jobs[0]), 0);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	assert_int_equal(fence_value(pr.c), 0); /* the fence claims nothing */
	expect_no_cqe(pr.p);
	dk_ring_stats(pr.c, &st);
	assert_int_equal(st.abandoned, 1);
	assert_int_equal(st.completed, 0);
	assert_int_equal(st.inflight, 2);
	/* Abandoned once: no completion, no second abandon. */
	assert_int_equal(dk_ring_complete(pr.c, &jobs[0], 0, 0, 0, 0), -EINVAL);
	assert_int_equal(dk_ring_abandon(pr.c, &jobs[0]), -EINVAL);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	expect_no_cqe(pr.p);
	assert_int_equal(fence_value(pr.c), 0);

	complete_ok(pr.c, &jobs[1]);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	assert_int_equal(fence_value(pr.c), 1);
	expect_cqe(pr.p, 2);

	/* A device reset: every job in flight goes, none counted. */
	assert_int_equal(dk_ring_abandon_all(pr.c), 1);
	assert_int_equal(dk_ring_abandon_all(pr.c), 0);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	assert_int_equal(fence_value(pr.c), 1);
	expect_no_cqe(pr.p);
	assert_int_equal(dk_ring_complete(pr.c, &jobs[2], 0, 0, 0, 0), -EINVAL);
	dk_ring_stats(pr.c, &st);
	assert_int_equal(st.abandoned, 2);
	assert_int_equal(st.completed, 1);
	assert_int_equal(st.inflight, 0);

	/* Re-admitted after the reset, the jobs get working slots again. */
	assert_int_equal(dk_ring_readmit(pr.c, &jobs[0]), 0);
	assert_int_equal(dk_ring_readmit(pr.c, &jobs[2]), 0);
	dk_ring_stats(pr.c, &st);
	assert_int_equal(st.inflight, 2);
	assert_int_equal(dk_ring_complete(pr.c, &jobs[2], 0, DK_REASON_NONE, 1003, 0), 0);
	complete_ok(pr.c, &jobs[0]);
	assert_int_equal(dk_ring_complete(pr.c, &jobs[0], 0, 0, 0, 0), -EINVAL);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	assert_int_equal(fence_value(pr.c), 3);
	expect_cqe(pr.p, 3);
	expect_cqe(pr.p, 1);
	expect_no_cqe(pr.p);
	pair_close(&pr);
}

static void test_abandon_all_many(void **state)
{
	struct dk_ring_job jobs[8];
	struct dk_ring_stats st;
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 8, 8, DK_QOS_BURST);
	push(pr.p, 8, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 8), 8);
	complete_ok(pr.c, &jobs[4]);
	assert_int_equal(dk_ring_abandon_all(pr.c), 7);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	assert_int_equal(fence_value(pr.c), 1);
	expect_cqe(pr.p, 5);
	expect_no_cqe(pr.p);
	for (int i = 0; i < 8; i++)
		assert_int_equal(dk_ring_complete(pr.c, &jobs[i], 0, 0, 0, 0), -EINVAL);
	dk_ring_stats(pr.c, &st);
	assert_int_equal(st.inflight, 0);
	assert_int_equal(st.abandoned, 7);
	/* The ring keeps working after the reset. */
	push(pr.p, 8, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 8), 8);
	assert_int_equal(jobs[0].ticket, 9);
	for (int i = 0; i < 8; i++)
		complete_ok(pr.c, &jobs[i]);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	for (uint64_t t = 9; t <= 16; t++)
		expect_cqe(pr.p, t);
	assert_int_equal(fence_value(pr.c), 9);
	pair_close(&pr);
}

static void test_readmit_respects_no_drop(void **state)
{
	struct dk_ring_job jobs[4], extra, kept;
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	push(pr.p, 4, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 4), 4);
	assert_int_equal(dk_ring_abandon(pr.c, &jobs[0]), 0);
	/* The freed slot goes to a new submission ... */
	push(pr.p, 1, &next);
	assert_int_equal(dk_ring_consume(pr.c, &extra, 1), 1);
	/* ... so re-admitting would hold a fifth job against four CQ entries. */
	kept = jobs[0];
	assert_int_equal(dk_ring_readmit(pr.c, &jobs[0]), -ENOSPC);
	assert_memory_equal(&kept, &jobs[0], sizeof(kept));
	complete_ok(pr.c, &extra);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	/* Still four held (one completion unreaped) until the client reaps. */
	assert_int_equal(dk_ring_readmit(pr.c, &jobs[0]), -ENOSPC);
	expect_cqe(pr.p, 5);
	assert_int_equal(dk_ring_readmit(pr.c, &jobs[0]), 0);
	for (int i = 0; i < 4; i++)
		complete_ok(pr.c, &jobs[i]);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	for (uint64_t t = 1; t <= 4; t++)
		expect_cqe(pr.p, t);
	assert_int_equal(fence_value(pr.c), 5);
	pair_close(&pr);
}

/* ---- the no-drop rule ---- */

static void test_no_drop_cq_equal_sq(void **state)
{
	struct dk_ring_job jobs[16];
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	push(pr.p, 4, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 16), 4);
	push(pr.p, 4, &next);
	/* Four in flight hold the four CQ entries. */
	assert_int_equal(dk_ring_consume(pr.c, jobs + 4, 16), 0);
	for (int i = 0; i < 4; i++)
		complete_ok(pr.c, &jobs[i]);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	/* Completed but not reaped: still no room. */
	assert_int_equal(dk_ring_consume(pr.c, jobs + 4, 16), 0);
	assert_int_equal(dk_ring_consume(pr.c, jobs + 4, 16), 0);
	assert_int_equal(dk_ring_sq_space(pr.p), 0);
	/* Each reaped completion lets exactly one more job in. */
	expect_cqe(pr.p, 1);
	assert_int_equal(dk_ring_consume(pr.c, jobs + 4, 16), 1);
	assert_int_equal(jobs[4].ticket, 5);
	assert_int_equal(dk_ring_consume(pr.c, jobs + 5, 16), 0);
	expect_cqe(pr.p, 2);
	expect_cqe(pr.p, 3);
	expect_cqe(pr.p, 4);
	assert_int_equal(dk_ring_consume(pr.c, jobs + 5, 16), 3);
	assert_int_equal(jobs[7].ticket, 8);
	for (int i = 4; i < 8; i++)
		complete_ok(pr.c, &jobs[i]);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	for (uint64_t t = 5; t <= 8; t++)
		expect_cqe(pr.p, t);
	expect_no_cqe(pr.p);
	assert_int_equal(fence_value(pr.c), 8);
	pair_close(&pr);
}

static void test_no_drop_cq_larger(void **state)
{
	struct dk_ring_job jobs[16];
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 4, 8, DK_QOS_BURST);
	push(pr.p, 4, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 16), 4);
	push(pr.p, 4, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs + 4, 16), 4);
	push(pr.p, 4, &next);
	/* Eight taken and unreaped: the CQ depth. */
	assert_int_equal(dk_ring_consume(pr.c, jobs + 8, 16), 0);
	for (int i = 0; i < 8; i++)
		complete_ok(pr.c, &jobs[i]);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	assert_int_equal(dk_ring_consume(pr.c, jobs + 8, 16), 0);
	for (uint64_t t = 1; t <= 8; t++)
		expect_cqe(pr.p, t);
	assert_int_equal(dk_ring_consume(pr.c, jobs + 8, 16), 4);
	for (int i = 8; i < 12; i++)
		complete_ok(pr.c, &jobs[i]);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	for (uint64_t t = 9; t <= 12; t++)
		expect_cqe(pr.p, t);
	assert_int_equal(fence_value(pr.c), 12);
	pair_close(&pr);
}

static void test_consume_respects_qos_depth(void **state)
{
	struct dk_ring_job jobs[8], more;
	struct pair pr;

	(void)state;
	for (uint32_t q = DK_QOS_FRUGAL; q <= DK_QOS_BURST; q++) {
		uint32_t depth = dk_qos_depth(q, 8);
		uint64_t next = 1;
		int n;

		pair_open(&pr, 8, 8, q);
		push(pr.p, 8, &next);
		n = dk_ring_consume(pr.c, jobs, 8);
		assert_int_equal(n, (int)depth);
		if (depth < 8) {
			assert_int_equal(dk_ring_consume(pr.c, &more, 1), 0);
			complete_ok(pr.c, &jobs[0]);
			assert_int_equal(dk_ring_consume(pr.c, &more, 1), 1);
			assert_int_equal(more.ticket, depth + 1);
			complete_ok(pr.c, &more);
			for (int i = 1; i < n; i++)
				complete_ok(pr.c, &jobs[i]);
		} else {
			for (int i = 0; i < n; i++)
				complete_ok(pr.c, &jobs[i]);
		}
		assert_int_equal(dk_ring_publish(pr.c), 0);
		pair_close(&pr);
	}
	assert_int_equal(dk_qos_depth(DK_QOS_FRUGAL, 8), 1);
	assert_int_equal(dk_qos_depth(DK_QOS_BURST, 8), 8);
}

/* ---- hostile shared memory ---- */

static void test_entries_copied_out(void **state)
{
	struct dk_ring_job job;
	struct dk_sqe *sqe;
	struct pair pr;
	uint64_t t;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	sqe = dk_ring_get_sqe(pr.p, &t);
	assert_non_null(sqe);
	sqe->user_data = ud(t);
	sqe->param = 7;
	assert_int_equal(dk_ring_submit(pr.p), 1);
	assert_int_equal(dk_ring_consume(pr.c, &job, 1), 1);
	/* The client rewrites the entry after it was taken: the service's copy is unchanged. */
	sqe->user_data = 666;
	sqe->param = 666;
	sqe->n_buffers = 200;
	assert_int_equal(job.sqe.user_data, ud(t));
	assert_int_equal(job.sqe.param, 7);
	assert_int_equal(job.sqe.n_buffers, 0);
	assert_int_equal(dk_ring_complete(pr.c, &job, 0, 0, 1001, 0), 0);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	expect_cqe(pr.p, 1);
	pair_close(&pr);
}

static void test_get_sqe_zeroed_on_reuse(void **state)
{
	struct dk_ring_job jobs[2];
	struct dk_sqe *sqe;
	struct dk_cqe cqe;
	struct pair pr;

	(void)state;
	pair_open(&pr, 2, 2, DK_QOS_BURST);
	for (int i = 0; i < 2; i++) {
		sqe = dk_ring_get_sqe(pr.p, NULL);
		assert_non_null(sqe);
		memset(sqe, 0xff, sizeof(*sqe));
	}
	assert_int_equal(dk_ring_submit(pr.p), 2);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 2), 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(dk_ring_complete(pr.c, &jobs[i], 0, 0, 0, 0), 0);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	assert_int_equal(dk_ring_peek_cqe(pr.p, &cqe), 0);
	assert_int_equal(cqe.user_data, UINT64_MAX);
	assert_int_equal(dk_ring_peek_cqe(pr.p, &cqe), 0);
	/* The same entries again: handed out clean. */
	for (int i = 0; i < 2; i++) {
		struct dk_sqe z;

		sqe = dk_ring_get_sqe(pr.p, NULL);
		assert_non_null(sqe);
		memset(&z, 0, sizeof(z));
		/* "Zeroed"; an unused signal reference may read as DK_HANDLE_NONE. */
		assert_true(sqe->signal.index == 0 || sqe->signal.index == DK_HANDLE_NONE);
		z.signal.index = sqe->signal.index;
		assert_memory_equal(sqe, &z, sizeof(z));
	}
	pair_close(&pr);
}

static void test_corrupt_sq_tail_beyond_window(void **state)
{
	static const uint32_t beyond[] = {4 + 1, 4 + 2, 0x7fffffffu, 0x80000000u, UINT32_MAX};

	(void)state;
	for (size_t i = 0; i < sizeof(beyond) / sizeof(beyond[0]); i++) {
		struct dk_ring_job jobs[8];
		struct pair pr;
		uint64_t next = 1;
		uint8_t *hdr;

		pair_open(&pr, 4, 4, DK_QOS_BURST);
		hdr = pair_header(&pr);
		push(pr.p, 1, &next);
		assert_int_equal(hdr_load32(hdr, HDR_SQ_TAIL), 1);
		hdr_store32(hdr, HDR_SQ_TAIL, beyond[i]); /* head 0: beyond head + sq_entries */
		assert_int_equal(dk_ring_consume(pr.c, jobs, 8), -EPROTO);
		expect_broken(&pr);
		pair_close(&pr);
	}
}

static void test_sq_tail_full_window_is_valid(void **state)
{
	struct dk_ring_job jobs[8];
	struct pair pr;
	uint8_t *hdr;

	(void)state;
	/* A tail exactly one ring ahead of the head is a full SQ, not a corruption. */
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	hdr = pair_header(&pr);
	hdr_store32(hdr, HDR_SQ_TAIL, 4);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 8), 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(jobs[i].ticket, (uint64_t)i + 1);
	pair_close(&pr);
}

static void test_corrupt_sq_tail_backwards(void **state)
{
	struct dk_ring_job jobs[8];
	struct pair pr;
	uint64_t next = 1;
	uint8_t *hdr;

	(void)state;
	/* Below the service's head. */
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	hdr = pair_header(&pr);
	push(pr.p, 2, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 8), 2);
	hdr_store32(hdr, HDR_SQ_TAIL, 1);
	assert_int_equal(dk_ring_consume(pr.c, jobs + 2, 6), -EPROTO);
	expect_broken(&pr);
	pair_close(&pr);

	/* Backwards but still at or above the head: a tail the service had seen was withdrawn. */
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	hdr = pair_header(&pr);
	next = 1;
	push(pr.p, 3, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 1), 1);
	hdr_store32(hdr, HDR_SQ_TAIL, 2);
	assert_int_equal(dk_ring_consume(pr.c, jobs + 1, 7), -EPROTO);
	expect_broken(&pr);
	pair_close(&pr);
}

/*
 * Fill the CQ of a 4/4 pair: four jobs taken, completed and published; the client reaps
 * @reap of them. The service has not read the CQ head since the first take (its cached one
 * said there was room), so its next take that needs room must read it.
 */
static void fill_cq(struct pair *pr, uint64_t *next, uint32_t reap)
{
	struct dk_ring_job jobs[4];

	push(pr->p, 4, next);
	assert_int_equal(dk_ring_consume(pr->c, jobs, 4), 4);
	for (int k = 0; k < 4; k++)
		complete_ok(pr->c, &jobs[k]);
	assert_int_equal(dk_ring_publish(pr->c), 0);
	for (uint32_t k = 1; k <= reap; k++)
		expect_cqe(pr->p, k);
}

/* The CQ head is read when the one seen last leaves too little room: out of range, broken. */
static void test_corrupt_cq_head_out_of_range(void **state)
{
	static const uint32_t beyond[] = {5, 6, 100, 0x80000000u, UINT32_MAX};

	(void)state;
	for (size_t i = 0; i < sizeof(beyond) / sizeof(beyond[0]); i++) {
		struct dk_ring_job jobs[8];
		struct pair pr;
		uint64_t next = 1;
		uint8_t *hdr;

		pair_open(&pr, 4, 4, DK_QOS_BURST);
		hdr = pair_header(&pr);
		fill_cq(&pr, &next, 1);
		/* Four completions published, one reaped: the client claims to have reaped more. */
		hdr_store32(hdr, HDR_CQ_HEAD, beyond[i]);
		push(pr.p, 1, &next);
		assert_int_equal(dk_ring_consume(pr.c, jobs, 8), -EPROTO);
		/* What was published before stays readable; then the queue is broken. */
		for (uint64_t t = 2; t <= 4; t++)
			expect_cqe(pr.p, t);
		expect_broken(&pr);
		pair_close(&pr);
	}
}

static void test_corrupt_cq_head_backwards(void **state)
{
	struct dk_ring_job jobs[8];
	struct pair pr;
	uint64_t next = 1;
	uint8_t *hdr;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	hdr = pair_header(&pr);
	fill_cq(&pr, &next, 2);
	/* The CQ is full by the head seen last: the service reads the head (2) to take more. */
	push(pr.p, 2, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 8), 2);
	/* Full again (2 unreaped + 2 in flight): the next take reads the head, gone back to 1. */
	hdr_store32(hdr, HDR_CQ_HEAD, 1);
	push(pr.p, 1, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs + 2, 6), -EPROTO);
	expect_cqe(pr.p, 3);
	expect_cqe(pr.p, 4);
	expect_broken(&pr);
	pair_close(&pr);
}

static void test_corrupt_cq_tail_seen_by_client(void **state)
{
	struct dk_cqe cqe;
	struct pair pr;
	uint8_t *hdr;

	(void)state;
	/* The other direction: a service writing a CQ tail beyond one ring. */
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	hdr = pair_header(&pr);
	hdr_store32(hdr, HDR_CQ_TAIL, 5);
	assert_int_equal(dk_ring_peek_cqe(pr.p, &cqe), -EPROTO);
	hdr_store32(hdr, HDR_CQ_TAIL, UINT32_MAX);
	assert_int_equal(dk_ring_peek_cqe(pr.p, &cqe), -EPROTO);
	pair_close(&pr);
}

static void test_mark_broken(void **state)
{
	struct dk_ring_job jobs[4];
	struct dk_ring_stats st;
	struct dk_cqe cqe;
	struct pair pr;
	uint64_t next = 1;
	uint32_t reason = 0;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	push(pr.p, 2, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 4), 2);
	complete_ok(pr.c, &jobs[0]);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	dk_ring_mark_broken(pr.c, DK_REASON_PROTOCOL);
	dk_ring_stats(pr.c, &st);
	assert_int_equal(st.broken, DK_REASON_PROTOCOL);
	dk_ring_mark_broken(pr.c, DK_REASON_HANG); /* idempotent */
	dk_ring_stats(pr.c, &st);
	assert_int_equal(st.broken, DK_REASON_PROTOCOL);
	assert_int_equal(dk_fence_status(dk_ring_fence(pr.c), 2, &reason), -EPROTO);
	assert_int_equal(reason, DK_REASON_QUEUE_BROKEN);
	/* The completion posted before the breakage is still delivered, then the error. */
	assert_int_equal(dk_ring_wait_cqe(pr.p, &cqe, dk_deadline_in(LONG_NS)), 0);
	assert_int_equal(cqe.ticket, 1);
	assert_int_equal(dk_ring_wait_cqe(pr.p, &cqe, dk_deadline_in(LONG_NS)), -EPROTO);
	assert_null(dk_ring_get_sqe(pr.p, NULL));
	assert_int_equal(dk_ring_submit(pr.p), -EPIPE);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 4), -EPROTO);
	pair_close(&pr);
}

/* ---- entry validation ---- */

struct table_ctx {
	struct dk_buffer_registry *reg;
	struct dk_htable *t;
	struct dk_fence *f;
	uint32_t rw, ro, stale_buf, fence_all, fence_wait, fence_signal, stale_fence;
	struct pair pr; /* a Normal queue */
};

static void table_open(struct table_ctx *x)
{
	struct dk_buffer *b;
	struct dk_fence *g;

	memset(x, 0, sizeof(*x));
	assert_int_equal(dk_buffer_registry_create(NULL, &x->reg), 0);
	assert_int_equal(dk_htable_create(16, &x->t), 0);
	assert_int_equal(dk_buffer_create(x->reg, NULL, 4096, 0, &b), 0);
	assert_int_equal(dk_htable_add_buffer(x->t, b, &x->rw), 0);
	assert_int_equal(dk_buffer_create(x->reg, NULL, 4096, 0, &b), 0);
	assert_int_equal(dk_buffer_seal_readonly(b), 0);
	assert_int_equal(dk_htable_add_buffer(x->t, b, &x->ro), 0);
	assert_int_equal(dk_buffer_create(x->reg, NULL, 4096, 0, &b), 0);
	assert_int_equal(dk_htable_add_buffer(x->t, b, &x->stale_buf), 0);
	assert_int_equal(dk_htable_remove(x->t, x->stale_buf), 0);
	assert_int_equal(dk_fence_create(0, &x->f), 0);
	assert_int_equal(dk_htable_add_fence(x->t, dk_fence_ref(x->f), &x->fence_all), 0);
	assert_int_equal(dk_fence_dup(x->f, DK_RIGHT_WAIT, &g), 0);
	assert_int_equal(dk_htable_add_fence(x->t, g, &x->fence_wait), 0);
	assert_int_equal(dk_fence_dup(x->f, DK_RIGHT_SIGNAL, &g), 0);
	assert_int_equal(dk_htable_add_fence(x->t, g, &x->fence_signal), 0);
	assert_int_equal(dk_fence_dup(x->f, DK_RIGHT_WAIT, &g), 0);
	assert_int_equal(dk_htable_add_fence(x->t, g, &x->stale_fence), 0);
	assert_int_equal(dk_htable_remove(x->t, x->stale_fence), 0);
	/* Reuse the freed slots, so the stale indices name live slots of a new generation. */
	assert_int_equal(dk_fence_dup(x->f, DK_RIGHT_WAIT, &g), 0);
	{
		uint32_t idx;

		assert_int_equal(dk_htable_add_fence(x->t, g, &idx), 0);
		assert_int_equal(dk_fence_dup(x->f, DK_RIGHT_WAIT, &g), 0);
		assert_int_equal(dk_htable_add_fence(x->t, g, &idx), 0);
	}
	pair_open(&x->pr, 4, 4, DK_QOS_NORMAL);
}

static void table_close(struct table_ctx *x)
{
	struct dk_buffer_stats st;

	pair_close(&x->pr);
	dk_htable_destroy(x->t);
	dk_fence_unref(x->f);
	dk_buffer_registry_stats(x->reg, &st);
	assert_int_equal(st.live_buffers, 0);
	dk_buffer_registry_destroy(x->reg);
}

static struct dk_sqe blank(void)
{
	struct dk_sqe s;

	memset(&s, 0, sizeof(s));
	s.signal.index = DK_HANDLE_NONE;
	for (unsigned int i = 0; i < DK_SQE_MAX_WAITS; i++)
		s.wait[i].index = DK_HANDLE_NONE;
	for (unsigned int i = 0; i < DK_SQE_MAX_BUFFERS; i++)
		s.buf[i].index = DK_HANDLE_NONE;
	return s;
}

static struct dk_sqe full_valid(const struct table_ctx *x)
{
	struct dk_sqe s = blank();

	s.opcode = DK_OP_NOP;
	s.qos = DK_QOS_NORMAL;
	s.user_data = 42;
	s.n_buffers = 2;
	s.buf[0] = (struct dk_sqe_buffer){x->rw, DK_RIGHT_READ | DK_RIGHT_WRITE, 0, 4096};
	s.buf[1] = (struct dk_sqe_buffer){x->ro, DK_RIGHT_READ, 100, 200};
	s.n_waits = 2;
	s.wait[0] = (struct dk_sqe_fence){x->fence_wait, 0, 5};
	s.wait[1] = (struct dk_sqe_fence){x->fence_all, 0, 6};
	s.signal = (struct dk_sqe_fence){x->fence_signal, 0, 7};
	return s;
}

static int check(const struct table_ctx *x, const struct dk_sqe *s)
{
	return dk_ring_check_sqe(x->pr.c, x->t, s);
}

static void test_check_sqe_valid(void **state)
{
	struct table_ctx x;
	struct dk_sqe s;

	(void)state;
	table_open(&x);
	s = blank();
	assert_int_equal(check(&x, &s), 0);
	s = full_valid(&x);
	assert_int_equal(check(&x, &s), 0);
	/* Lower or equal QoS is free; 0 means the queue's class. */
	s.qos = 0;
	assert_int_equal(check(&x, &s), 0);
	s.qos = DK_QOS_FRUGAL;
	assert_int_equal(check(&x, &s), 0);
	/* The signal fence may also carry WAIT. */
	s.signal.index = x.fence_all;
	assert_int_equal(check(&x, &s), 0);
	/* A slice at the very end, and a one-byte slice. */
	s.buf[0].offset = 4095;
	s.buf[0].length = 1;
	assert_int_equal(check(&x, &s), 0);
	/* Only the used references are looked at. */
	s = blank();
	s.n_buffers = 1;
	s.buf[0] = (struct dk_sqe_buffer){x.rw, DK_RIGHT_WRITE, 0, 1};
	s.buf[1] = (struct dk_sqe_buffer){0xdeadbeef, 0xff, UINT64_MAX, UINT64_MAX};
	s.n_waits = 1;
	s.wait[0] = (struct dk_sqe_fence){x.fence_all, 0, 1};
	s.wait[1] = (struct dk_sqe_fence){0xdeadbeef, 0, 0};
	assert_int_equal(check(&x, &s), 0);
	table_close(&x);
}

static void test_check_sqe_malformed(void **state)
{
	struct table_ctx x;
	struct dk_sqe s;

	(void)state;
	table_open(&x);
	for (unsigned int bit = 0; bit < 8; bit++) {
		s = full_valid(&x);
		s.flags = (uint8_t)(1u << bit);
		assert_int_equal(check(&x, &s), -EINVAL);
	}
	s = full_valid(&x);
	s.reserved0[1] = 1; /* docs/abi.md: must be 0 */
	assert_int_equal(check(&x, &s), -EINVAL);
	/* QoS: invalid classes are malformed; a class above the queue's is refused. */
	s = full_valid(&x);
	s.qos = 4;
	assert_int_equal(check(&x, &s), -EINVAL);
	s.qos = 255;
	assert_int_equal(check(&x, &s), -EINVAL);
	s.qos = DK_QOS_BURST;
	assert_int_equal(check(&x, &s), -EPERM);
	/* Counts. */
	s = full_valid(&x);
	s.n_buffers = DK_SQE_MAX_BUFFERS + 1;
	assert_int_equal(check(&x, &s), -EINVAL);
	s.n_buffers = 255;
	assert_int_equal(check(&x, &s), -EINVAL);
	s = full_valid(&x);
	s.n_waits = DK_SQE_MAX_WAITS + 1;
	assert_int_equal(check(&x, &s), -EINVAL);
	s.n_waits = 255;
	assert_int_equal(check(&x, &s), -EINVAL);
	/* Access bits other than READ and WRITE. */
	s = full_valid(&x);
	s.buf[0].access = DK_RIGHT_READ | DK_RIGHT_MAP;
	assert_true(check(&x, &s) == -EINVAL || check(&x, &s) == -EPERM);
	s.buf[0].access = 0x80000000u;
	assert_true(check(&x, &s) == -EINVAL || check(&x, &s) == -EPERM);
	table_close(&x);
}

static void test_check_sqe_bad_indices(void **state)
{
	struct table_ctx x;
	struct dk_sqe s;
	uint32_t out_of_range[4];

	(void)state;
	table_open(&x);
	out_of_range[0] = DK_HANDLE_NONE;
	out_of_range[1] = (x.rw & 0xffff0000u) | 16; /* capacity 16 */
	out_of_range[2] = (x.rw & 0xffff0000u) | 0xffff;
	out_of_range[3] = 0x00ff0fffu;
	for (int slot = 0; slot < 2; slot++) {
		/* Buffers: stale, a fence's index, out of range. */
		s = full_valid(&x);
		s.buf[slot].index = x.stale_buf;
		assert_int_equal(check(&x, &s), -EBADF);
		s.buf[slot].index = x.fence_all;
		assert_int_equal(check(&x, &s), -EBADF);
		for (int i = 0; i < 4; i++) {
			s.buf[slot].index = out_of_range[i];
			assert_int_equal(check(&x, &s), -EBADF);
		}
		/* Input fences: stale, a buffer's index, out of range. */
		s = full_valid(&x);
		s.wait[slot].index = x.stale_fence;
		assert_int_equal(check(&x, &s), -EBADF);
		s.wait[slot].index = x.rw;
		assert_int_equal(check(&x, &s), -EBADF);
		for (int i = 0; i < 4; i++) {
			s.wait[slot].index = out_of_range[i];
			assert_int_equal(check(&x, &s), -EBADF);
		}
	}
	/* The output fence. */
	s = full_valid(&x);
	s.signal.index = x.stale_fence;
	assert_int_equal(check(&x, &s), -EBADF);
	s.signal.index = x.ro;
	assert_int_equal(check(&x, &s), -EBADF);
	for (int i = 1; i < 4; i++) {
		s.signal.index = out_of_range[i];
		assert_int_equal(check(&x, &s), -EBADF);
	}
	table_close(&x);
}

static void test_check_sqe_rights(void **state)
{
	struct table_ctx x;
	struct dk_sqe s;

	(void)state;
	table_open(&x);
	/* A job that writes a read-only buffer. */
	s = full_valid(&x);
	s.buf[1].access = DK_RIGHT_WRITE;
	assert_int_equal(check(&x, &s), -EPERM);
	s.buf[1].access = DK_RIGHT_READ | DK_RIGHT_WRITE;
	assert_int_equal(check(&x, &s), -EPERM);
	s = full_valid(&x);
	s.buf[0].index = x.ro;
	assert_int_equal(check(&x, &s), -EPERM);
	/* Waiting needs WAIT; signalling needs SIGNAL. */
	s = full_valid(&x);
	s.wait[0].index = x.fence_signal;
	assert_int_equal(check(&x, &s), -EPERM);
	s = full_valid(&x);
	s.signal.index = x.fence_wait;
	assert_int_equal(check(&x, &s), -EPERM);
	table_close(&x);
}

static void test_check_sqe_slices(void **state)
{
	static const struct {
		uint64_t offset, length;
		int expect;
	} cases[] = {
		{0, 4097, -EINVAL},
		{4000, 97, -EINVAL},
		{4096, 1, -EINVAL},
		{UINT64_MAX / 2, 1, -EINVAL},
		{UINT64_MAX, 2, -EOVERFLOW},
		{2, UINT64_MAX, -EOVERFLOW},
		{UINT64_MAX - 10, 20, -EOVERFLOW},
		{0, 0, -EINVAL},
	};
	struct table_ctx x;
	struct dk_sqe s;

	(void)state;
	table_open(&x);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int slot = 0; slot < 2; slot++) {
			s = full_valid(&x);
			s.buf[slot].offset = cases[i].offset;
			s.buf[slot].length = cases[i].length;
			assert_int_equal(check(&x, &s), cases[i].expect);
		}
	}
	table_close(&x);
}

static void test_check_taken_entry(void **state)
{
	struct dk_ring_job job;
	struct table_ctx x;
	struct dk_sqe *sqe;

	(void)state;
	table_open(&x);
	/* The path a service takes: consume, then check the copy. */
	sqe = dk_ring_get_sqe(x.pr.p, NULL);
	assert_non_null(sqe);
	*sqe = full_valid(&x);
	sqe = dk_ring_get_sqe(x.pr.p, NULL);
	assert_non_null(sqe);
	*sqe = full_valid(&x);
	sqe->buf[1].access = DK_RIGHT_WRITE;
	assert_int_equal(dk_ring_submit(x.pr.p), 2);
	assert_int_equal(dk_ring_consume(x.pr.c, &job, 1), 1);
	assert_int_equal(dk_ring_check_sqe(x.pr.c, x.t, &job.sqe), 0);
	assert_int_equal(dk_ring_complete(x.pr.c, &job, 0, 0, 0, 0), 0);
	assert_int_equal(dk_ring_consume(x.pr.c, &job, 1), 1);
	assert_int_equal(dk_ring_check_sqe(x.pr.c, x.t, &job.sqe), -EPERM);
	assert_int_equal(dk_ring_complete(x.pr.c, &job, -EPERM, DK_REASON_VALIDATION, 0, 0), 0);
	assert_int_equal(dk_ring_publish(x.pr.c), 0);
	table_close(&x);
}

/* ---- completions ---- */

/* The fast clock's bound (2000 counter ticks), with room for a 0.4 GHz counter. */
#define STAMP_SLACK_NS 5000u

static void test_cqe_fields(void **state)
{
	struct dk_ring_job job;
	struct dk_cqe cqe;
	struct pair pr;
	uint64_t next = 1, before;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_NORMAL);
	before = dk_now_ns();
	push(pr.p, 1, &next);
	assert_int_equal(dk_ring_consume(pr.c, &job, 1), 1);
	/* Stamped by dk_now_fast_ns(): CLOCK_MONOTONIC within its bound (dk/time.h). */
	assert_true(job.t_taken_ns + STAMP_SLACK_NS >= before);
	assert_int_equal(dk_ring_complete(pr.c, &job, -EIO, DK_REASON_HANG, 0x1234, 777), 0);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	assert_int_equal(dk_ring_wait_cqe(pr.p, &cqe, dk_deadline_in(LONG_NS)), 0);
	assert_int_equal(cqe.user_data, ud(1));
	assert_int_equal(cqe.status, -EIO);
	assert_int_equal(cqe.reason, DK_REASON_HANG);
	assert_int_equal(cqe.result, 0x1234);
	assert_int_equal(cqe.ticket, 1);
	assert_int_equal(cqe.t_taken_ns, job.t_taken_ns);
	assert_int_equal(cqe.t_started_ns, 777);
	assert_true(cqe.t_completed_ns >= cqe.t_taken_ns);
	assert_true(cqe.t_completed_ns <= dk_now_ns() + STAMP_SLACK_NS);
	/* An error status is a completion like any other: counted. */
	assert_int_equal(fence_value(pr.c), 1);
	assert_int_equal(dk_fence_wait(dk_ring_fence(pr.c), 1, dk_deadline_in(0)), 0);
	pair_close(&pr);
}

static void test_wait_cqe_deadline(void **state)
{
	struct dk_cqe cqe;
	struct pair pr;
	uint64_t next = 1, deadline;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	deadline = dk_deadline_in(3 * DK_NSEC_PER_MSEC);
	assert_int_equal(dk_ring_wait_cqe(pr.p, &cqe, deadline), -ETIMEDOUT);
	assert_true(dk_now_ns() >= deadline);
	/* Submitted but not completed: still a timeout. */
	push(pr.p, 1, &next);
	assert_int_equal(dk_ring_wait_cqe(pr.p, &cqe, dk_now_ns()), -ETIMEDOUT);
	assert_int_equal(dk_ring_wait_cqe(pr.p, &cqe, 0), -EINVAL);
	pair_close(&pr);
}

/* ---- backpressure ---- */

static void test_submit_wait_deadline(void **state)
{
	struct dk_ring_job jobs[4];
	struct pair pr;
	uint64_t next = 1, deadline;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	/* Room: returns at once, even at a past deadline. */
	assert_int_equal(dk_ring_submit_wait(pr.p, 4, dk_deadline_in(LONG_NS)), 0);
	assert_int_equal(dk_ring_submit_wait(pr.p, 1, dk_now_ns()), 0);
	push(pr.p, 4, &next);
	/* Full and nobody consumes: the deadline, not earlier. */
	deadline = dk_deadline_in(5 * DK_NSEC_PER_MSEC);
	assert_int_equal(dk_ring_submit_wait(pr.p, 1, deadline), -ETIMEDOUT);
	assert_true(dk_now_ns() >= deadline);
	assert_int_equal(dk_ring_submit_wait(pr.p, 1, dk_now_ns()), -ETIMEDOUT);
	/* Partly free. */
	assert_int_equal(dk_ring_consume(pr.c, jobs, 2), 2);
	assert_int_equal(dk_ring_submit_wait(pr.p, 2, dk_now_ns()), 0);
	deadline = dk_deadline_in(2 * DK_NSEC_PER_MSEC);
	assert_int_equal(dk_ring_submit_wait(pr.p, 3, deadline), -ETIMEDOUT);
	assert_true(dk_now_ns() >= deadline);
	pair_close(&pr);
}

static void test_submit_wait_refusals(void **state)
{
	struct pair pr;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	assert_int_equal(dk_ring_submit_wait(pr.p, 5, dk_deadline_in(LONG_NS)), -EINVAL);
	assert_int_equal(dk_ring_submit_wait(pr.p, UINT32_MAX, dk_deadline_in(LONG_NS)), -EINVAL);
	assert_int_equal(dk_ring_submit_wait(pr.p, 1, 0), -EINVAL);
	assert_int_equal(dk_ring_submit_wait(pr.p, 1,
					     dk_now_ns() + DK_WAIT_MAX_NS + DK_NSEC_PER_SEC),
			 -EINVAL);
	assert_int_equal(dk_ring_submit_wait(pr.p, 1, UINT64_MAX), -EINVAL);
	pair_close(&pr);
}

struct consumer_thread {
	struct dk_ring *c;
	struct dk_ring_job jobs[8];
	int taken;
	int result;
};

static void *consume_all(void *arg)
{
	struct consumer_thread *ct = arg;
	uint64_t deadline = dk_deadline_in(LONG_NS);

	ct->result = 0;
	while (ct->taken < 4) {
		int n = dk_ring_idle(&ct->c, 1, deadline);

		if (n != 1 || dk_now_ns() >= deadline) {
			ct->result = n < 0 ? n : -ETIMEDOUT;
			return NULL;
		}
		n = dk_ring_consume(ct->c, ct->jobs + ct->taken, 8 - (uint32_t)ct->taken);
		if (n < 0) {
			ct->result = n;
			return NULL;
		}
		ct->taken += n;
	}
	return NULL;
}

static void test_submit_wait_woken_by_consumer(void **state)
{
	struct consumer_thread ct = {0};
	struct pair pr;
	pthread_t t;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_BURST);
	push(pr.p, 4, &next);
	ct.c = pr.c;
	assert_int_equal(pthread_create(&t, NULL, consume_all, &ct), 0);
	/* Sleeps (or not) until the consumer has taken every entry. */
	assert_int_equal(dk_ring_submit_wait(pr.p, 4, dk_deadline_in(LONG_NS)), 0);
	assert_int_equal(dk_ring_sq_space(pr.p), 4);
	pthread_join(t, NULL);
	assert_int_equal(ct.result, 0);
	assert_int_equal(ct.taken, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ct.jobs[i].ticket, (uint64_t)i + 1);
	pair_close(&pr);
}

static void test_pressure_watermark(void **state)
{
	struct dk_ring_job jobs[16];
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 16, 16, DK_QOS_BURST);
	for (uint32_t used = 0; used < 12; used++) {
		assert_false(dk_ring_pressure(pr.p));
		push(pr.p, 1, &next);
	}
	assert_true(dk_ring_pressure(pr.p)); /* 12 of 16: at the watermark */
	push(pr.p, 4, &next);
	assert_true(dk_ring_pressure(pr.p));
	assert_int_equal(dk_ring_consume(pr.c, jobs, 5), 5);
	assert_false(dk_ring_pressure(pr.p)); /* 11 of 16 */
	pair_close(&pr);

	pair_open(&pr, 4, 4, DK_QOS_BURST);
	next = 1;
	push(pr.p, 2, &next);
	assert_false(dk_ring_pressure(pr.p));
	push(pr.p, 1, &next);
	assert_true(dk_ring_pressure(pr.p));
	pair_close(&pr);
}

/* ---- idling ---- */

static void test_idle_refusals(void **state)
{
	struct dk_ring *many[DK_RING_WAIT_MAX + 1];
	struct pair pr;

	(void)state;
	pair_open(&pr, 4, 4, DK_QOS_NORMAL);
	for (uint32_t i = 0; i <= DK_RING_WAIT_MAX; i++)
		many[i] = pr.c;
	assert_int_equal(dk_ring_idle(many, 0, dk_deadline_in(LONG_NS)), -EINVAL);
	assert_int_equal(dk_ring_idle(many, DK_RING_WAIT_MAX + 1, dk_deadline_in(LONG_NS)),
			 -EINVAL);
	assert_int_equal(dk_ring_idle(many, 1, 0), -EINVAL);
	pair_close(&pr);
}

static void test_idle_pending_and_deadline(void **state)
{
	struct dk_ring_job jobs[4];
	struct pair a, b;
	struct dk_ring *rings[2];
	uint64_t next = 1, deadline;

	(void)state;
	pair_open(&a, 4, 4, DK_QOS_BURST);
	pair_open(&b, 4, 4, DK_QOS_NORMAL);
	rings[0] = a.c;
	rings[1] = b.c;
	/* Nothing pending at a past deadline: 0 at once. */
	assert_int_equal(dk_ring_idle(rings, 2, dk_now_ns()), 0);
	assert_int_equal(dk_ring_idle(rings, 2, 1), 0);
	/* A short deadline is waited out. */
	deadline = dk_deadline_in(3 * DK_NSEC_PER_MSEC);
	assert_int_equal(dk_ring_idle(rings, 2, deadline), 0);
	assert_true(dk_now_ns() >= deadline);
	/* Work on one of them: 1, also at a past deadline. */
	push(b.p, 1, &next);
	assert_int_equal(dk_ring_idle(rings, 2, dk_deadline_in(LONG_NS)), 1);
	assert_int_equal(dk_ring_idle(rings, 2, dk_now_ns()), 1);
	assert_int_equal(dk_ring_idle(&rings[1], 1, dk_deadline_in(LONG_NS)), 1);
	assert_int_equal(dk_ring_consume(b.c, jobs, 4), 1);
	assert_int_equal(dk_ring_idle(rings, 2, dk_now_ns()), 0);
	/* The same ring listed many times is fine. */
	{
		struct dk_ring *many[DK_RING_WAIT_MAX];

		for (uint32_t i = 0; i < DK_RING_WAIT_MAX; i++)
			many[i] = b.c;
		assert_int_equal(dk_ring_idle(many, DK_RING_WAIT_MAX, dk_now_ns()), 0);
	}
	pair_close(&b);
	pair_close(&a);
}

static void test_idle_frugal_pending(void **state)
{
	struct dk_ring_job job;
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	/* Frugal work is gathered for a window, but still reported before the deadline. */
	pair_open(&pr, 4, 4, DK_QOS_FRUGAL);
	push(pr.p, 1, &next);
	assert_int_equal(dk_ring_idle(&pr.c, 1, dk_deadline_in(LONG_NS)), 1);
	assert_int_equal(dk_ring_consume(pr.c, &job, 1), 1);
	complete_ok(pr.c, &job);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	expect_cqe(pr.p, 1);
	pair_close(&pr);
}

struct producer_thread {
	struct dk_ring *p;
	int result;
};

static void *submit_one(void *arg)
{
	struct producer_thread *pt = arg;
	struct dk_sqe *sqe = dk_ring_get_sqe(pt->p, NULL);

	if (!sqe) {
		pt->result = -ENOSPC;
		return NULL;
	}
	sqe->user_data = ud(1);
	pt->result = dk_ring_submit(pt->p);
	return NULL;
}

static void test_idle_woken_by_submit(void **state)
{
	struct producer_thread pt = {0};
	struct dk_ring_job job;
	struct pair pr;
	pthread_t t;

	(void)state;
	for (uint32_t q = DK_QOS_FRUGAL; q <= DK_QOS_BURST; q++) {
		pair_open(&pr, 4, 4, q);
		pt.p = pr.p;
		assert_int_equal(pthread_create(&t, NULL, submit_one, &pt), 0);
		/* Whether the submission lands before or during the sleep, it is seen. */
		assert_int_equal(dk_ring_idle(&pr.c, 1, dk_deadline_in(LONG_NS)), 1);
		pthread_join(t, NULL);
		assert_int_equal(pt.result, 1);
		assert_int_equal(dk_ring_consume(pr.c, &job, 1), 1);
		assert_int_equal(job.sqe.user_data, ud(1));
		pair_close(&pr);
	}
}

/* ---- accounting ---- */

static void test_stats_both_sides(void **state)
{
	struct dk_ring_job jobs[8];
	struct dk_ring_stats cs, ps;
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 8, 8, DK_QOS_BURST);
	push(pr.p, 6, &next);
	assert_int_equal(dk_ring_consume(pr.c, jobs, 8), 6);
	for (int i = 0; i < 4; i++)
		complete_ok(pr.c, &jobs[i]);
	assert_int_equal(dk_ring_abandon(pr.c, &jobs[4]), 0);
	assert_int_equal(dk_ring_publish(pr.c), 0);
	expect_cqe(pr.p, 1);
	expect_cqe(pr.p, 2);
	dk_ring_stats(pr.c, &cs);
	dk_ring_stats(pr.p, &ps);
	assert_int_equal(cs.submitted, 6);
	assert_int_equal(cs.completed, 4);
	assert_int_equal(cs.abandoned, 1);
	assert_int_equal(cs.inflight, 1);
	assert_int_equal(cs.broken, 0);
	assert_int_equal(ps.submitted, 6);
	assert_int_equal(ps.completed, 2); /* reaped */
	assert_int_equal(ps.broken, 0);
	pair_close(&pr);
}

/* ---- wake-ups only when someone sleeps ---- */

static void test_no_doorbell_while_consumer_awake(void **state)
{
	struct dk_ring_job jobs[16];
	struct dk_ring_stats st;
	struct pair pr;
	uint64_t next = 1;

	(void)state;
	pair_open(&pr, 16, 16, DK_QOS_NORMAL);
	/* The service has not gone to sleep: submissions cost no system call. */
	for (int round = 0; round < 100; round++) {
		push(pr.p, 4, &next);
		assert_int_equal(dk_ring_consume(pr.c, jobs, 16), 4);
		for (int i = 0; i < 4; i++)
			complete_ok(pr.c, &jobs[i]);
		assert_int_equal(dk_ring_publish(pr.c), 0);
		for (int i = 0; i < 4; i++)
			expect_cqe(pr.p, next - 4 + (uint64_t)i);
	}
	dk_ring_stats(pr.p, &st);
	assert_int_equal(st.doorbells, 0);
	pair_close(&pr);
}

struct idler {
	struct dk_ring *c;
	int result;
};

static void *idle_thread(void *arg)
{
	struct idler *id = arg;

	id->result = dk_ring_idle(&id->c, 1, dk_deadline_in(LONG_NS));
	return NULL;
}

static void test_doorbell_wakes_sleeping_consumer(void **state)
{
	struct idler id = {.result = 77};
	struct dk_ring_stats st;
	struct pair pr;
	uint64_t next = 1, deadline;
	pthread_t t;

	(void)state;
	pair_open(&pr, 16, 16, DK_QOS_FRUGAL); /* no consumer spin: it goes straight to sleep */
	pair_header(&pr);
	id.c = pr.c;
	assert_int_equal(pthread_create(&t, NULL, idle_thread, &id), 0);
	/* Wait (bounded) until the consumer has announced that it sleeps. */
	deadline = dk_deadline_in(LONG_NS);
	while (!(hdr_load32(pr.hdr, HDR_FLAGS) & 1u) && dk_now_ns() < deadline)
		sched_yield();
	assert_true(hdr_load32(pr.hdr, HDR_FLAGS) & 1u);
	push(pr.p, 1, &next);
	/* Exactly one wake-up system call, and the consumer saw the work. */
	dk_ring_stats(pr.p, &st);
	assert_int_equal(st.doorbells, 1);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(id.result, 1);
	/* Awake again: the flag is down, the next submission rings nothing. */
	assert_false(hdr_load32(pr.hdr, HDR_FLAGS) & 1u);
	push(pr.p, 1, &next);
	dk_ring_stats(pr.p, &st);
	assert_int_equal(st.doorbells, 1);
	pair_close(&pr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_refusals),
		cmocka_unit_test(test_create_geometry),
		cmocka_unit_test(test_attach_refuses_non_rings),
		cmocka_unit_test(test_attach_refuses_bad_headers),
		cmocka_unit_test(test_geometry_copied_once),
		cmocka_unit_test(test_full_and_empty),
		cmocka_unit_test(test_wraparound_many_laps),
		cmocka_unit_test(test_out_of_order_completion),
		cmocka_unit_test(test_double_completion_refused),
		cmocka_unit_test(test_stale_slot_after_reuse),
		cmocka_unit_test(test_abandon_does_not_count),
		cmocka_unit_test(test_abandon_all_many),
		cmocka_unit_test(test_readmit_respects_no_drop),
		cmocka_unit_test(test_no_drop_cq_equal_sq),
		cmocka_unit_test(test_no_drop_cq_larger),
		cmocka_unit_test(test_consume_respects_qos_depth),
		cmocka_unit_test(test_entries_copied_out),
		cmocka_unit_test(test_get_sqe_zeroed_on_reuse),
		cmocka_unit_test(test_no_doorbell_while_consumer_awake),
		cmocka_unit_test(test_doorbell_wakes_sleeping_consumer),
		cmocka_unit_test(test_corrupt_sq_tail_beyond_window),
		cmocka_unit_test(test_sq_tail_full_window_is_valid),
		cmocka_unit_test(test_corrupt_sq_tail_backwards),
		cmocka_unit_test(test_corrupt_cq_head_out_of_range),
		cmocka_unit_test(test_corrupt_cq_head_backwards),
		cmocka_unit_test(test_corrupt_cq_tail_seen_by_client),
		cmocka_unit_test(test_mark_broken),
		cmocka_unit_test(test_check_sqe_valid),
		cmocka_unit_test(test_check_sqe_malformed),
		cmocka_unit_test(test_check_sqe_bad_indices),
		cmocka_unit_test(test_check_sqe_rights),
		cmocka_unit_test(test_check_sqe_slices),
		cmocka_unit_test(test_check_taken_entry),
		cmocka_unit_test(test_cqe_fields),
		cmocka_unit_test(test_wait_cqe_deadline),
		cmocka_unit_test(test_submit_wait_deadline),
		cmocka_unit_test(test_submit_wait_refusals),
		cmocka_unit_test(test_submit_wait_woken_by_consumer),
		cmocka_unit_test(test_pressure_watermark),
		cmocka_unit_test(test_idle_refusals),
		cmocka_unit_test(test_idle_pending_and_deadline),
		cmocka_unit_test(test_idle_frugal_pending),
		cmocka_unit_test(test_idle_woken_by_submit),
		cmocka_unit_test(test_stats_both_sides),
	};

	return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
