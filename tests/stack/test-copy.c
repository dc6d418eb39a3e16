/* SPDX-License-Identifier: MIT */
/*
 * test-copy.c - the copy engine through the whole stack: dk-supervisor with dk-hwsim (the
 * emulated board, device copy0), dk-copy (the copy class on libdk-service) and dk-null, from
 * the default configuration with the board (dk_stack_write_config_ex(DK_STACK_COPY)).
 *
 * What must hold: copies and fills are byte-exact; a DMA access outside the device's windows is
 * a device fault that changes no byte anywhere; an injected hang is detected, the guilty job
 * fails with hang and the device works again; a lost interrupt is recovered by the watchdog; a
 * killed client's waiters wake with client-killed while another client goes on; a job waiting
 * on a fence of another device runs only after that fence is signalled; a device service that
 * breaks the driver sandbox dies alone, its waiters wake with driver-crashed, the journal says
 * "sandbox-violation" and the service is back under a new generation; a client killed with jobs
 * on the engine leaves nothing behind: its budget is released once the engine gave its jobs
 * back, nothing writes its buffers after that, and no byte of it ever reaches the next client.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <dk/dk.h>
#include <dk/log.h>

#include "broker-client.h"
#include "stack.h"

#define WAIT_NS (30 * DK_NSEC_PER_SEC)
#define DL() dk_deadline_in(WAIT_NS)
#define BUF (1u << 20)
#define OP_COPY 1 /* docs/devices/copy.md: the copy class's opcodes */
#define OP_FILL 2

struct client {
	struct dk_client *c;
	struct dk_device *dev;
	struct dk_ring *ring;
	struct dk_buffer_registry *reg;
	struct dk_buffer *src, *dst;
	uint8_t *ps, *pd;
	uint32_t is, id;
};

static struct dk_stack st;
static char broker_sock[DK_RT_PATH_MAX];

static int setup(void **state)
{
	(void)state;
	assert_int_equal(dk_stack_start_private(&st, "/tmp/dk-test-copy-XXXXXX", DK_STACK_COPY,
						DL()),
			 0);
	assert_int_equal(dk_runtime_path(st.runtime_dir, DK_RT_BROKER_SOCKET, broker_sock,
					 sizeof(broker_sock)),
			 0);
	return 0;
}

static int teardown(void **state)
{
	int status = -1;

	(void)state;
	assert_int_equal(dk_stack_stop(&st, DL(), &status), 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}

static void client_open(struct client *k, uint32_t qos)
{
	struct dk_buffer_registry_limits rl = {.max_buffer_bytes = BUF, .max_live_buffers = 4};
	struct dk_ring_params p = {.sq_entries = 16, .cq_entries = 16, .qos = qos};

	memset(k, 0, sizeof(*k));
	assert_int_equal(dk_buffer_registry_create(&rl, &k->reg), 0);
	assert_int_equal(dk_buffer_create(k->reg, NULL, BUF, 0, &k->src), 0);
	assert_int_equal(dk_buffer_create(k->reg, NULL, BUF, 0, &k->dst), 0);
	assert_int_equal(dk_buffer_map(k->src, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&k->ps), 0);
	assert_int_equal(dk_buffer_map(k->dst, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&k->pd), 0);
	for (uint32_t i = 0; i < BUF; i++)
		k->ps[i] = (uint8_t)(i * 13 + 7);
	assert_int_equal(dk_client_connect(st.runtime_dir, DL(), &k->c), 0);
	assert_int_equal(dk_device_open(k->c, "copy0", DL(), &k->dev), 0);
	assert_int_equal(dk_device_register_buffer(k->dev, k->src, DK_RIGHTS_BUFFER_RW, DL(), &k->is),
			 0);
	assert_int_equal(dk_device_register_buffer(k->dev, k->dst, DK_RIGHTS_BUFFER_RW, DL(), &k->id),
			 0);
	assert_int_equal(dk_device_create_queue(k->dev, &p, DL(), &k->ring), 0);
}

static void client_close(struct client *k)
{
	dk_device_close(k->dev);
	dk_client_close(k->c);
	assert_int_equal(dk_buffer_unmap(k->src, k->ps), 0);
	assert_int_equal(dk_buffer_unmap(k->dst, k->pd), 0);
	assert_int_equal(dk_buffer_release(k->src), 0);
	assert_int_equal(dk_buffer_release(k->dst), 0);
	dk_buffer_registry_destroy(k->reg);
}

static struct dk_sqe *prep_copy(struct client *k, uint64_t so, uint64_t dof, uint64_t len)
{
	struct dk_sqe *sqe = dk_ring_get_sqe(k->ring, NULL);

	assert_non_null(sqe);
	sqe->opcode = OP_COPY;
	sqe->n_buffers = 2;
	sqe->buf[0] = (struct dk_sqe_buffer){k->is, DK_RIGHT_READ, so, len};
	sqe->buf[1] = (struct dk_sqe_buffer){k->id, DK_RIGHT_WRITE, dof, len};
	return sqe;
}

static struct dk_cqe run(struct client *k)
{
	struct dk_cqe cqe;

	assert_true(dk_ring_submit(k->ring) > 0);
	assert_int_equal(dk_ring_wait_cqe(k->ring, &cqe, DL()), 0);
	return cqe;
}

static void inject(const char *fault)
{
	uint32_t f;

	assert_int_equal(dk_hwsim_fault_parse(fault, &f), 0);
	assert_int_equal(dk_broker_inject(broker_sock, "copy0", f, DL()), 0);
}

static void test_copy_and_fill_exact(void **state)
{
	struct client k;
	struct dk_sqe *sqe;
	struct dk_cqe cqe;

	(void)state;
	client_open(&k, DK_QOS_NORMAL);
	prep_copy(&k, 0, 0, BUF);
	cqe = run(&k);
	assert_int_equal(cqe.status, 0);
	assert_int_equal(cqe.result, BUF);
	assert_memory_equal(k.ps, k.pd, BUF);

	/* A fill of a middle range leaves its neighbours alone. */
	sqe = dk_ring_get_sqe(k.ring, NULL);
	sqe->opcode = OP_FILL;
	sqe->n_buffers = 1;
	sqe->param = 0x5a;
	sqe->buf[0] = (struct dk_sqe_buffer){k.id, DK_RIGHT_WRITE, 4097, 12345};
	cqe = run(&k);
	assert_int_equal(cqe.status, 0);
	for (uint32_t i = 0; i < BUF; i++)
		assert_int_equal(k.pd[i], i >= 4097 && i < 4097 + 12345 ? 0x5a : k.ps[i]);

	/* An unaligned copy between offsets. */
	prep_copy(&k, 3, 70001, 65537);
	cqe = run(&k);
	assert_int_equal(cqe.status, 0);
	assert_memory_equal(k.pd + 70001, k.ps + 3, 65537);

	/* The class refuses what the engine must never see: an overlapping copy in one buffer,
	 * a length over 16 MiB is impossible here, a fill byte over 255. */
	sqe = prep_copy(&k, 0, 0, 4096);
	sqe->buf[1].index = k.is;
	sqe->buf[1].offset = 100;
	cqe = run(&k);
	assert_int_equal(cqe.status, -EINVAL);
	assert_int_equal(cqe.reason, DK_REASON_VALIDATION);
	client_close(&k);
}

static void test_dma_out_of_window(void **state)
{
	struct client k;
	uint8_t *before_src = malloc(BUF), *before_dst = malloc(BUF);
	struct dk_cqe cqe;

	(void)state;
	client_open(&k, DK_QOS_NORMAL);
	memset(k.pd, 0xee, BUF);
	memcpy(before_src, k.ps, BUF);
	memcpy(before_dst, k.pd, BUF);
	inject("dma-oob");
	prep_copy(&k, 0, 0, BUF);
	cqe = run(&k);
	assert_int_equal(cqe.status, -EIO);
	assert_int_equal(cqe.reason, DK_REASON_DEVICE_FAULT);
	/* Nothing was touched: not the destination, not the source. */
	assert_memory_equal(k.pd, before_dst, BUF);
	assert_memory_equal(k.ps, before_src, BUF);
	/* The engine was reset by the driver and works again. */
	prep_copy(&k, 0, 0, BUF);
	cqe = run(&k);
	assert_int_equal(cqe.status, 0);
	assert_memory_equal(k.ps, k.pd, BUF);
	free(before_src);
	free(before_dst);
	client_close(&k);
}

static void test_hang_detected_and_reset(void **state)
{
	struct client k;
	struct dk_cqe cqe;

	(void)state;
	client_open(&k, DK_QOS_BURST); /* the shortest time limit on the engine */
	inject("hang");
	prep_copy(&k, 0, 0, 4096);
	cqe = run(&k);
	assert_int_equal(cqe.status, -EIO);
	assert_int_equal(cqe.reason, DK_REASON_HANG);
	/* The watchdog reset the device: it works again. */
	prep_copy(&k, 0, 0, BUF);
	cqe = run(&k);
	assert_int_equal(cqe.status, 0);
	assert_memory_equal(k.ps, k.pd, BUF);
	client_close(&k);
}

static void device_stats(struct dk_devstats *ret, struct dk_devstats_session *sessions,
			 uint32_t max);

/* Frugal: never polled (docs/service.md), so only the watchdog can find the job. */
static void test_lost_irq_recovered(void **state)
{
	struct client k;
	struct dk_cqe cqe;
	struct dk_devstats ds;
	struct dk_devstats_session ses[1];

	(void)state;
	client_open(&k, DK_QOS_FRUGAL);
	inject("lost-irq");
	prep_copy(&k, 0, 0, BUF);
	cqe = run(&k); /* found by the watchdog's harvest, not by an interrupt */
	assert_int_equal(cqe.status, 0);
	assert_memory_equal(k.ps, k.pd, BUF);
	device_stats(&ds, ses, 1);
	assert_int_equal(ds.lost_irqs, 1);
	assert_int_equal(ds.resets, 0);
	client_close(&k);
}

static void test_kill_client(void **state)
{
	struct client a, b;
	struct dk_fence *gate;
	uint32_t gi;
	struct dk_sqe *sqe;
	struct dk_cqe cqe;
	uint32_t reason = 0;
	uint64_t ticket;

	(void)state;
	client_open(&a, DK_QOS_NORMAL);
	client_open(&b, DK_QOS_NORMAL);
	/* a's job waits on a gate nobody opens. */
	assert_int_equal(dk_fence_create(0, &gate), 0);
	assert_int_equal(dk_device_register_fence(a.dev, gate, DK_RIGHT_WAIT | DK_RIGHT_TRANSFER,
						  DL(), &gi),
			 0);
	sqe = dk_ring_get_sqe(a.ring, &ticket);
	sqe->opcode = OP_COPY;
	sqe->n_buffers = 2;
	sqe->buf[0] = (struct dk_sqe_buffer){a.is, DK_RIGHT_READ, 0, 4096};
	sqe->buf[1] = (struct dk_sqe_buffer){a.id, DK_RIGHT_WRITE, 0, 4096};
	sqe->n_waits = 1;
	sqe->wait[0] = (struct dk_sqe_fence){gi, 0, 1};
	assert_int_equal(dk_ring_submit(a.ring), 1);
	assert_int_equal(dk_broker_kill_client(broker_sock, "copy0",
					       dk_device_grant(a.dev)->session_id, DL()),
			 0);
	/* a's waiter wakes: its job completed as killed, or its queue failed as killed. */
	if (dk_ring_wait_cqe(a.ring, &cqe, DL()) == 0) {
		assert_int_equal(cqe.reason, DK_REASON_CLIENT_KILLED);
	} else {
		assert_int_not_equal(dk_fence_status(dk_ring_fence(a.ring), ticket, &reason), 0);
		assert_int_equal(reason, DK_REASON_CLIENT_KILLED);
	}
	assert_int_equal(dk_device_check(a.dev) == -ENODEV ||
				 dk_device_stats(a.dev, DL(), &(struct dk_session_stats){0}) < 0,
			 1);
	/* b goes on. */
	prep_copy(&b, 0, 0, BUF);
	cqe = run(&b);
	assert_int_equal(cqe.status, 0);
	assert_memory_equal(b.ps, b.pd, BUF);
	dk_fence_unref(gate);
	client_close(&a);
	client_close(&b);
}

/* ---- what a killed client leaves behind ---- */

#define KBUF_MAX 4
#define SECRET_JOBS 4 /* the killed client's copies, all on the engine at the kill */
#define SECRET_CHUNK (BUF / 8) /* each copies one chunk of its source to its destination */

/* Every 8-byte word of the killed client's buffers starts with these bytes; nothing the next
 * client's jobs produce contains them (runs of one byte, and patterns whose neighbouring bytes
 * differ by 13 or 29). */
static const uint8_t secret_magic[4] = {0xa5, 0xe7, 0xc2, 0x5e};

enum kfill { KFILL_ZERO, KFILL_SECRET, KFILL_PATTERN };

struct kbuf {
	struct dk_buffer *b;
	uint8_t *p;	/* the client's mapping */
	uint8_t *model; /* what it must hold */
	uint32_t index;
};

/* A client with up to KBUF_MAX buffers of BUF bytes, registered one by one. */
struct kclient {
	struct dk_client *c;
	struct dk_device *dev;
	struct dk_ring *ring;
	struct dk_buffer_registry *reg;
	uint64_t session_id;
	uint32_t n;
	struct kbuf buf[KBUF_MAX];
};

static void kclient_open(struct kclient *k, uint32_t qos)
{
	struct dk_buffer_registry_limits rl = {.max_buffer_bytes = BUF,
					       .max_live_buffers = KBUF_MAX};
	struct dk_ring_params p = {.sq_entries = 16, .cq_entries = 16, .qos = qos};

	memset(k, 0, sizeof(*k));
	assert_int_equal(dk_buffer_registry_create(&rl, &k->reg), 0);
	assert_int_equal(dk_client_connect(st.runtime_dir, DL(), &k->c), 0);
	assert_int_equal(dk_device_open(k->c, "copy0", DL(), &k->dev), 0);
	assert_int_equal(dk_device_create_queue(k->dev, &p, DL(), &k->ring), 0);
	k->session_id = dk_device_grant(k->dev)->session_id;
}

/*
 * A new buffer of BUF bytes, filled by the client as @fill says (KFILL_ZERO: left as the kernel
 * made it, which must be all zero; KFILL_SECRET: words of secret_magic and @a; KFILL_PATTERN:
 * byte i = i * @a + @b), then registered read/write. Its model is what it holds.
 */
static struct kbuf *kclient_add(struct kclient *k, enum kfill fill, uint32_t a, uint32_t b)
{
	struct kbuf *kb = &k->buf[k->n++];

	assert_true(k->n <= KBUF_MAX);
	assert_int_equal(dk_buffer_create(k->reg, NULL, BUF, 0, &kb->b), 0);
	assert_int_equal(dk_buffer_map(kb->b, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&kb->p), 0);
	kb->model = malloc(BUF);
	assert_non_null(kb->model);
	for (uint32_t i = 0; i < BUF && fill == KFILL_ZERO; i++)
		assert_int_equal(kb->p[i], 0);
	for (uint32_t w = 0; w < BUF / 8 && fill == KFILL_SECRET; w++) {
		uint32_t tag = w ^ (a << 24);

		memcpy(kb->p + 8 * w, secret_magic, 4);
		memcpy(kb->p + 8 * w + 4, &tag, 4);
	}
	for (uint32_t i = 0; i < BUF && fill == KFILL_PATTERN; i++)
		kb->p[i] = (uint8_t)(i * a + b);
	memcpy(kb->model, kb->p, BUF);
	assert_int_equal(dk_device_register_buffer(k->dev, kb->b, DK_RIGHTS_BUFFER_RW, DL(),
						   &kb->index),
			 0);
	return kb;
}

static void kclient_close(struct kclient *k)
{
	dk_device_close(k->dev);
	dk_client_close(k->c);
	for (uint32_t i = 0; i < k->n; i++) {
		assert_int_equal(dk_buffer_unmap(k->buf[i].b, k->buf[i].p), 0);
		assert_int_equal(dk_buffer_release(k->buf[i].b), 0);
		free(k->buf[i].model);
	}
	dk_buffer_registry_destroy(k->reg);
}

static void submit_copy(struct kclient *k, const struct kbuf *src, uint64_t so,
			const struct kbuf *dst, uint64_t dof, uint64_t len, uint8_t qos,
			struct dk_sqe_fence signal)
{
	struct dk_sqe *sqe = dk_ring_get_sqe(k->ring, NULL);

	assert_non_null(sqe);
	sqe->opcode = OP_COPY;
	sqe->qos = qos;
	sqe->n_buffers = 2;
	sqe->buf[0] = (struct dk_sqe_buffer){src->index, DK_RIGHT_READ, so, len};
	sqe->buf[1] = (struct dk_sqe_buffer){dst->index, DK_RIGHT_WRITE, dof, len};
	sqe->signal = signal;
	assert_int_equal(dk_ring_submit(k->ring), 1);
}

static const struct dk_sqe_fence no_signal = {DK_HANDLE_NONE, 0, 0};

/* The result of a copy or fill of @len bytes the client waits for; then into the model. */
static void expect_done(struct kclient *k, uint64_t len)
{
	struct dk_cqe cqe;

	assert_int_equal(dk_ring_wait_cqe(k->ring, &cqe, DL()), 0);
	assert_int_equal(cqe.status, 0);
	assert_int_equal(cqe.result, len);
}

static void run_copy(struct kclient *k, struct kbuf *src, uint64_t so, struct kbuf *dst,
		     uint64_t dof, uint64_t len)
{
	submit_copy(k, src, so, dst, dof, len, 0, no_signal);
	expect_done(k, len);
	memmove(dst->model + dof, src->model + so, len);
}

static void run_fill(struct kclient *k, struct kbuf *dst, uint64_t off, uint64_t len, uint8_t byte)
{
	struct dk_sqe *sqe = dk_ring_get_sqe(k->ring, NULL);

	assert_non_null(sqe);
	sqe->opcode = OP_FILL;
	sqe->n_buffers = 1;
	sqe->param = byte;
	sqe->buf[0] = (struct dk_sqe_buffer){dst->index, DK_RIGHT_WRITE, off, len};
	assert_int_equal(dk_ring_submit(k->ring), 1);
	expect_done(k, len);
	memset(dst->model + off, byte, len);
}

/* Whether secret_magic occurs anywhere in @p (at any byte offset). */
static bool holds_secret(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + sizeof(secret_magic) <= len; i++)
		if (p[i] == secret_magic[0] &&
		    memcmp(p + i, secret_magic, sizeof(secret_magic)) == 0)
			return true;
	return false;
}

/* Every buffer of @k holds exactly its model, and (@clean) no byte of the secret. */
static void check_buffers(const struct kclient *k, bool clean)
{
	for (uint32_t i = 0; i < k->n; i++) {
		assert_memory_equal(k->buf[i].p, k->buf[i].model, BUF);
		if (clean)
			assert_false(holds_secret(k->buf[i].p, BUF));
	}
}

/* copy0's service statistics, through the broker (devctl STATS). */
static void device_stats(struct dk_devstats *ret, struct dk_devstats_session *sessions,
			 uint32_t max)
{
	uint8_t *buf = malloc(DK_FRAME_MAX_PAYLOAD);
	size_t len = 0;

	assert_non_null(buf);
	assert_int_equal(dk_broker_device_stats(broker_sock, "copy0", DL(), buf,
						DK_FRAME_MAX_PAYLOAD, &len),
			 0);
	assert_int_equal(dk_devstats_decode(buf, len, ret, sessions, max), 0);
	free(buf);
}

/*
 * Client a fills two buffers with its secret and has SECRET_JOBS copies between them on the
 * engine, which hangs ("hang" injected first: the engine takes the descriptors and runs none),
 * when it is killed. Client b opens and registers fresh zero-filled buffers and buffers it
 * fills itself while a's descriptors are still queued on the engine.
 *
 * @stale_run false: a's jobs stay hung until the watchdog's reset takes them off (nothing of a
 * ever runs after the kill). true: "slow" replaces "hang" after the kill and b's first copy
 * rings the doorbell, so a's stale descriptors do run, after the kill, ahead of b's copy on
 * the same ring, while b maps its next buffers: they may write a's memory only.
 *
 * Then: a's budget is gone from the service's statistics; b's copies and fills over every byte
 * of its buffers give exactly what b's own jobs produce and never a byte of a's; nothing writes
 * a's buffers once the engine gave its jobs back.
 */
static void kill_leaves_nothing(bool stale_run)
{
	struct dk_devstats ds;
	struct dk_devstats_session ses[4];
	struct dk_session_stats ss;
	struct kclient a, b;
	struct kbuf *as, *ad, *f1, *z1, *z2, *f2;
	struct dk_fence *out;
	uint32_t oi, reason = 0;
	struct dk_cqe cqe;

	/* a: its secret in both buffers; a Burst queue (all of its jobs in flight at once, where
	 * a Frugal one keeps one), jobs of a class whose time limit is longer than the test needs
	 * to kill a and (stale_run) let its descriptors run 4 x 50 ms: Normal 1 s, Frugal 2 s. */
	kclient_open(&a, DK_QOS_BURST);
	as = kclient_add(&a, KFILL_SECRET, 1, 0);
	ad = kclient_add(&a, KFILL_SECRET, 2, 0);
	assert_true(holds_secret(as->p, BUF) && holds_secret(ad->p, BUF));
	/* Each copy signals a point of an output fence: its failure says when the engine gave
	 * the job back ("nothing touches the job's buffers any more"). */
	assert_int_equal(dk_fence_create(0, &out), 0);
	assert_int_equal(dk_device_register_fence(a.dev, out, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT |
						  DK_RIGHT_TRANSFER, DL(), &oi),
			 0);
	inject("hang");
	for (uint32_t k = 0; k < SECRET_JOBS; k++)
		submit_copy(&a, as, k * SECRET_CHUNK, ad, k * SECRET_CHUNK, SECRET_CHUNK,
			    stale_run ? DK_QOS_FRUGAL : DK_QOS_NORMAL,
			    (struct dk_sqe_fence){oi, 0, k + 1});
	/* Once the session answered a request its jobs are taken and on the engine. */
	assert_int_equal(dk_device_stats(a.dev, DL(), &ss), 0);
	assert_int_equal(ss.inflight, SECRET_JOBS);
	device_stats(&ds, ses, 4);
	assert_int_equal(ds.hw_inflight, SECRET_JOBS);
	assert_int_equal(ds.sessions, 1);
	assert_int_equal(ds.buffers, 2);
	assert_int_equal(ds.bytes, 2ull * BUF);
	assert_int_equal(ds.n, 1);
	assert_int_equal(ses[0].session_id, a.session_id);
	assert_int_equal(ses[0].buffers, 2);
	assert_int_equal(ses[0].bytes, 2ull * BUF);
	check_buffers(&a, false); /* the engine hangs: nothing ran */

	assert_int_equal(dk_broker_kill_client(broker_sock, "copy0", a.session_id, DL()), 0);
	/* Every job of a was on the engine when it was killed: all complete client-killed. */
	for (uint32_t k = 0; k < SECRET_JOBS; k++) {
		assert_int_equal(dk_ring_wait_cqe(a.ring, &cqe, DL()), 0);
		assert_int_equal(cqe.status, -ECANCELED);
		assert_int_equal(cqe.reason, DK_REASON_CLIENT_KILLED);
	}
	assert_int_equal(dk_device_check(a.dev) == -ENODEV ||
				 dk_device_stats(a.dev, DL(), &ss) < 0,
			 1);

	/* b opens and maps its buffers while a's descriptors are still queued on the engine
	 * (hung: unless the watchdog's reset came first; both orders must hold). */
	kclient_open(&b, DK_QOS_FRUGAL);
	z1 = kclient_add(&b, KFILL_ZERO, 0, 0);
	f1 = kclient_add(&b, KFILL_PATTERN, 13, 7);
	if (!stale_run) {
		z2 = kclient_add(&b, KFILL_ZERO, 0, 0);
		f2 = kclient_add(&b, KFILL_PATTERN, 29, 101);
		/* Draining: a's budget is held while the engine holds its jobs. The fence is
		 * looked at after the answer: not failed then, the reset had not come yet. */
		device_stats(&ds, ses, 4);
		if (dk_fence_status(out, SECRET_JOBS, NULL) == -EAGAIN) {
			assert_int_equal(ds.sessions, 2);
			assert_int_equal(ds.buffers, 6);
			assert_int_equal(ds.bytes, 6ull * BUF);
			assert_int_equal(ds.hw_inflight, SECRET_JOBS);
		}
		assert_int_equal(ds.n, 1); /* a draining session has no entry */
		assert_int_equal(ses[0].session_id, b.session_id);
	} else {
		/* a's stale descriptors run at b's doorbell, one per 50 ms, ahead of b's copy;
		 * meanwhile b maps two more buffers. */
		inject("slow");
		submit_copy(&b, f1, 0, z1, 0, BUF, 0, no_signal);
		z2 = kclient_add(&b, KFILL_ZERO, 0, 0);
		f2 = kclient_add(&b, KFILL_PATTERN, 29, 101);
		expect_done(&b, BUF);
		memcpy(z1->model, f1->model, BUF);
	}
	check_buffers(&b, true);

	/* The engine gave a's jobs back: the reset (hang) or the harvest (stale_run). */
	assert_int_equal(dk_fence_wait(out, SECRET_JOBS, DL()), -ECANCELED);
	assert_int_equal(dk_fence_status(out, SECRET_JOBS, &reason), -ECANCELED);
	assert_int_equal(reason, DK_REASON_CLIENT_KILLED);
	if (stale_run)
		inject("none");
	/* a's budget is released: only b's is left. */
	device_stats(&ds, ses, 4);
	assert_int_equal(ds.sessions, 1);
	assert_int_equal(ds.buffers, 4);
	assert_int_equal(ds.bytes, 4ull * BUF);
	assert_int_equal(ds.hw_inflight, 0);
	assert_int_equal(ds.kills, 1);
	assert_int_equal(ds.hangs, 0); /* a's jobs were dropped as killed, not blamed */
	assert_int_equal(ds.resets, stale_run ? 0 : 1);
	assert_int_equal(ds.n, 1);
	assert_int_equal(ds.n_total, 1);
	assert_int_equal(ses[0].session_id, b.session_id);
	assert_int_equal(ses[0].buffers, 4);
	assert_int_equal(ses[0].bytes, 4ull * BUF);
	/* a's memory: untouched (hang), or its own copies, run after the kill (stale_run). */
	if (stale_run)
		memcpy(ad->model, as->model, SECRET_JOBS * SECRET_CHUNK);
	check_buffers(&a, false);

	/* b's copies and fills, over every byte of its buffers. */
	if (!stale_run)
		run_copy(&b, f1, 0, z1, 0, BUF);              /* z1 */
	run_fill(&b, z2, 0, BUF / 2 + 3, 0x6b);               /* z2 */
	run_copy(&b, f2, 100, z2, BUF / 2 + 3, BUF / 2 - 3);
	run_copy(&b, z1, 7, f2, BUF / 2, BUF / 2);            /* f2 */
	run_fill(&b, f2, 0, BUF / 2, 0xc3);
	run_copy(&b, z2, 0, f1, 0, BUF);                      /* f1 */
	run_fill(&b, z1, BUF - 1, 1, 0x01);                   /* the last byte of a window */
	check_buffers(&b, true);
	/* Nothing wrote a's buffers since the engine gave its jobs back. */
	check_buffers(&a, false);

	dk_fence_unref(out);
	kclient_close(&a);
	kclient_close(&b);
}

static void test_kill_leaves_nothing_hung(void **state)
{
	(void)state;
	kill_leaves_nothing(false);
}

static void test_kill_leaves_nothing_stale_run(void **state)
{
	(void)state;
	kill_leaves_nothing(true);
}

static void test_input_fence_of_another_device(void **state)
{
	struct dk_ring_params p = {.sq_entries = 16, .cq_entries = 16, .qos = DK_QOS_NORMAL};
	struct dk_session_stats ss;
	struct client k;
	struct dk_device *null0;
	struct dk_ring *nring;
	struct dk_fence *f;
	uint32_t f_copy, f_null;
	struct dk_sqe *sqe;
	struct dk_cqe cqe;

	(void)state;
	client_open(&k, DK_QOS_NORMAL);
	assert_int_equal(dk_device_open(k.c, "null0", DL(), &null0), 0);
	assert_int_equal(dk_device_create_queue(null0, &p, DL(), &nring), 0);
	/* One fence: null0 signals it, copy0 waits for it. */
	assert_int_equal(dk_fence_create(0, &f), 0);
	assert_int_equal(dk_device_register_fence(null0, f, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT |
						  DK_RIGHT_TRANSFER, DL(), &f_null),
			 0);
	assert_int_equal(dk_device_register_fence(k.dev, f, DK_RIGHT_WAIT | DK_RIGHT_TRANSFER, DL(),
						  &f_copy),
			 0);
	sqe = prep_copy(&k, 0, 0, BUF);
	sqe->n_waits = 1;
	sqe->wait[0] = (struct dk_sqe_fence){f_copy, 0, 1};
	assert_int_equal(dk_ring_submit(k.ring), 1);
	/* After a request the service answered, the job has been taken: it waits, not done. */
	assert_int_equal(dk_device_stats(k.dev, DL(), &ss), 0);
	assert_int_equal(dk_ring_peek_cqe(k.ring, &cqe), -EAGAIN);
	assert_int_equal(ss.inflight, 1);
	for (uint32_t i = 0; i < BUF; i++)
		assert_int_equal(k.pd[i], 0);
	/* null0 runs a job that signals the fence: now the copy runs. */
	sqe = dk_ring_get_sqe(nring, NULL);
	sqe->opcode = DK_OP_NOP;
	sqe->signal = (struct dk_sqe_fence){f_null, 0, 1};
	assert_int_equal(dk_ring_submit(nring), 1);
	assert_int_equal(dk_ring_wait_cqe(nring, &cqe, DL()), 0);
	assert_int_equal(cqe.status, 0);
	assert_int_equal(dk_ring_wait_cqe(k.ring, &cqe, DL()), 0);
	assert_int_equal(cqe.status, 0);
	assert_memory_equal(k.ps, k.pd, BUF);
	dk_fence_unref(f);
	dk_device_close(null0);
	client_close(&k);
}

static void append(const char *path, const char *text)
{
	FILE *f = fopen(path, "a");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int setup_violate(void **state)
{
	char rule[512];

	(void)state;
	memset(&st, 0, sizeof(st));
	strcpy(st.runtime_dir, "/tmp/dk-test-copy-XXXXXX");
	assert_non_null(mkdtemp(st.runtime_dir));
	st.made_dir = true;
	assert_int_equal(dk_stack_write_config_ex(&st, st.runtime_dir, 0), 0);
	append(st.manifest, "\n[service bad]\nkind = device\nexec = dk-test-violate\n"
			    "device = bad0\nclass = violate\n");
	snprintf(rule, sizeof(rule),
		 "\n[rule bad-service]\nservice = bad\ndevice = bad0\n"
		 "rights = read, write, map, wait, signal, transfer\nqos = normal\n"
		 "max_bytes = 1M\nmax_buffers = 4\nmax_inflight = 16\nmax_fences = 4\n"
		 "\n[rule me-bad]\nuid = %u\ndevice = bad0\n"
		 "rights = read, write, map, wait, signal, transfer\nqos = normal\n"
		 "max_bytes = 1M\nmax_buffers = 4\nmax_inflight = 16\nmax_fences = 4\n",
		 (unsigned)getuid());
	append(st.policy, rule);
	assert_int_equal(dk_stack_start(&st, DL()), 0);
	return 0;
}

static bool journal_has(const char *scope, const char *needle1, const char *needle2)
{
	struct dk_log_record *recs = calloc(DK_LOGD_QUERY_PAGE_MAX, sizeof(*recs));
	struct dk_log_query q = {.scope_prefix = scope};
	struct dk_log_client *lc;
	char path[DK_RT_PATH_MAX];
	uint64_t next = 1;
	bool found = false;

	assert_non_null(recs);
	assert_int_equal(dk_runtime_path(st.runtime_dir, DK_RT_LOGD_SOCKET, path, sizeof(path)), 0);
	assert_int_equal(dk_log_connect(path, "test", DL(), &lc), 0);
	while (next && !found) {
		int n;

		q.seq_min = next;
		n = dk_log_query(lc, &q, recs, DK_LOGD_QUERY_PAGE_MAX, DL(), &next);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++)
			found |= strstr(recs[i].fields, needle1) && strstr(recs[i].fields, needle2);
	}
	dk_log_close(lc);
	free(recs);
	return found;
}

static void test_sandbox_violation_contained(void **state)
{
	struct dk_ring_params p = {.sq_entries = 16, .cq_entries = 16, .qos = DK_QOS_NORMAL};
	struct dk_client *c;
	struct dk_device *bad, *null0;
	struct dk_ring *ring, *nring;
	struct dk_sqe *sqe;
	struct dk_cqe cqe;
	uint64_t gen, ticket;
	uint32_t reason = 0;

	(void)state;
	assert_int_equal(dk_client_connect(st.runtime_dir, DL(), &c), 0);
	assert_int_equal(dk_device_open(c, "bad0", DL(), &bad), 0);
	assert_int_equal(dk_device_open(c, "null0", DL(), &null0), 0);
	gen = dk_device_generation(bad);
	assert_int_equal(dk_device_create_queue(bad, &p, DL(), &ring), 0);
	assert_int_equal(dk_device_create_queue(null0, &p, DL(), &nring), 0);
	sqe = dk_ring_get_sqe(ring, &ticket);
	sqe->opcode = 9; /* dk-test-violate: try to run a program */
	assert_int_equal(dk_ring_submit(ring), 1);
	/* The service died; the reaper woke the waiter. */
	assert_int_equal(dk_ring_wait_cqe(ring, &cqe, DL()), -ENODEV);
	assert_int_equal(dk_fence_status(dk_ring_fence(ring), ticket, &reason), -ENODEV);
	assert_int_equal(reason, DK_REASON_DRIVER_CRASHED);
	/* Contained: the other device never noticed. */
	sqe = dk_ring_get_sqe(nring, NULL);
	sqe->opcode = DK_OP_NOP;
	assert_int_equal(dk_ring_submit(nring), 1);
	assert_int_equal(dk_ring_wait_cqe(nring, &cqe, DL()), 0);
	assert_int_equal(cqe.status, 0);
	/* Audited, with its cause; and back under a new generation. */
	assert_int_equal(dk_device_destroy_queue(bad, ring, DL()), 0);
	assert_int_equal(dk_device_reopen(bad, DL()), 0);
	assert_true(dk_device_generation(bad) > gen);
	assert_true(journal_has("supervisor.crash", "service=bad", "cause=sandbox-violation"));
	assert_true(journal_has("supervisor.crash", "service=bad", "signal=31"));
	assert_int_equal(dk_device_create_queue(bad, &p, DL(), &ring), 0);
	sqe = dk_ring_get_sqe(ring, NULL);
	sqe->opcode = DK_OP_NOP;
	assert_int_equal(dk_ring_submit(ring), 1);
	assert_int_equal(dk_ring_wait_cqe(ring, &cqe, DL()), 0);
	dk_device_close(bad);
	dk_device_close(null0);
	dk_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_and_fill_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_out_of_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hang_detected_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_irq_recovered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_leaves_nothing_hung, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_leaves_nothing_stale_run, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_input_fence_of_another_device, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_violation_contained, setup_violate,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
