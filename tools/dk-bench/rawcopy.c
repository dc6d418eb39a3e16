/* SPDX-License-Identifier: MIT */
/*
 * Baselines of the copy figures (P1-copy, P2-copy, P3-copy): the dk-hwsim copy engine driven
 * raw by this process alone -- no dk-copy, no broker, no libdk-service, no client library, no
 * checks beyond the descriptor's status word. It is what the emulated hardware costs by itself:
 * the engine is a thread of another process that sleeps until its doorbell (an eventfd) is rung,
 * so every hand-over to an idle engine is a kernel wake-up, whoever drives it. DriverKit's copy
 * figures are judged against these, as PERF.md has device classes judged against their own
 * limits; docs/performance.md says why and keeps the comparison with the null device's
 * baselines.
 *
 * A private dk-hwsim (one copy engine, copy0) is started at the first use, with this process
 * playing the broker on its channel ("hwsim" protocol, dk/hwsim.h), and stopped at exit. Each
 * repetition GRANTs copy0 afresh (the engine reset, its windows removed), maps a command ring
 * of RAW_RING descriptors and two buffers of BENCH_COPY_BUF_BYTES into its DMA windows, checks
 * one copy of a pattern byte for byte, and runs:
 *
 *  raw-engine-roundtrip (P1-copy): one 4 KiB COPY, RING_TAIL, doorbell, then block on the
 *    interrupt eventfd (poll with a deadline, read) -- the engine's wake-up and ours, two kernel
 *    wakes like the futex ping-pong, plus the copy. IRQ_STATUS is acknowledged with the next
 *    doorbell. Sample: the round trip, microseconds.
 *  raw-engine-spin-roundtrip (P2-copy): the same with the interrupt disabled, spinning on
 *    COMPLETED instead: only the engine's wake-up is paid.
 *  raw-engine-batch32 (P3-copy): 64-byte COPYs, 32 descriptors and one doorbell at a time
 *    whenever the ring has room for 32, completions found by reading COMPLETED (spinning when
 *    none is new), the interrupt disabled. Sample: the throughput over a window of 1024
 *    completions, millions per second.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dk/hwsim.h>
#include <dk/msg.h>
#include <dk/ring.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "bench.h"
#include "copy-regs.h"
#include "spin.h"
#include "stack.h"

#define RAW_DEVICE "copy0"
#define RAW_RING 256u           /* descriptors in the command ring (dk-copy's RING_SIZE) */
#define RAW_BATCH 32u
#define RAW_WINDOW 1024u        /* completions per throughput sample, as P3's */
#define RAW_CALL_NS (5ull * DK_NSEC_PER_SEC) /* one "hwsim" request */
#define RAW_CHAN_FD 3           /* where dk-hwsim finds its channel */

/* The private dk-hwsim of this run. */
static struct {
	pid_t pid, owner;
	int chan;
	char dir[64], config[96];
} H = {.chan = -1};

/* A DMA buffer: a size-sealed memfd mapped here, and its window. */
struct raw_buf {
	int fd;
	uint8_t *p;
	size_t size;
	uint64_t iova;
};

/* The granted engine as this process drives it. */
struct raw_dev {
	int regs_fd, doorbell, irq;
	void *regs;
	struct raw_buf ring, src, dst;
	uint32_t tail;     /* descriptors handed over (free-running) */
	uint32_t done;     /* descriptors harvested (free-running) */
	bool irq_enabled;
};

static void raw_stop(void)
{
	int status;

	if (H.pid <= 0 || getpid() != H.owner)
		return;
	close(H.chan); /* dk-hwsim stops when its broker channel closes... */
	kill(H.pid, SIGTERM); /* ...or at SIGTERM, whichever it sees first */
	waitpid(H.pid, &status, 0);
	unlink(H.config);
	rmdir(H.dir);
	H.pid = 0;
}

static int raw_start(struct bench_error *error)
{
	static const char board[] = "[device " RAW_DEVICE "]\nmodel = copy\n";
	char bin[PATH_MAX + 16];
	int sv[2], fd;

	if (H.pid > 0)
		return 0;
	if (dk_stack_find_bin("dk-hwsim", bin, sizeof(bin)) < 0)
		return bench_fail(error, -ENOENT, "dk-hwsim not found (set DK_BIN_PATH)");
	strcpy(H.dir, "/tmp/dk-bench-hwsim-XXXXXX");
	if (!mkdtemp(H.dir))
		return bench_fail(error, -errno, "mkdtemp");
	snprintf(H.config, sizeof(H.config), "%s/board.ini", H.dir);
	fd = open(H.config, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, board, sizeof(board) - 1) != (ssize_t)(sizeof(board) - 1)) {
		if (fd >= 0)
			close(fd);
		return bench_fail(error, -EIO, "writing %s", H.config);
	}
	close(fd);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return bench_fail(error, -errno, "socketpair");
	H.pid = fork();
	if (H.pid < 0)
		return bench_fail(error, -errno, "fork");
	if (H.pid == 0) {
		char *argv[] = {bin, "--config", H.config, "--channel-fd", "3", NULL};

		int tmp = fcntl(sv[1], F_DUPFD, 100); /* not 3 itself: dup2 would keep CLOEXEC */

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (tmp < 0 || dup2(tmp, RAW_CHAN_FD) < 0) /* the copy has FD_CLOEXEC off */
			_exit(127);
		close(tmp);
		unsetenv("DK_SUPERVISOR_FD");
		execv(bin, argv);
		_exit(127);
	}
	close(sv[1]);
	H.chan = sv[0];
	H.owner = getpid();
	atexit(raw_stop);
	return 0;
}

static struct dk_msg reply;

static int call(uint16_t opcode, const void *payload, size_t len, const int *fds, uint32_t n_fds)
{
	return dk_msg_call(H.chan, &dk_hwsim_proto, &dk_hwsim_reply_proto, opcode, payload, len,
			   fds, n_fds, dk_now_ns() + RAW_CALL_NS, &reply, NULL);
}

static int buf_new(struct raw_buf *b, size_t size, uint32_t access)
{
	uint8_t p[128];
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	int err;

	b->size = size;
	b->p = MAP_FAILED;
	b->fd = memfd_create("dk-bench-dma", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (b->fd < 0)
		return -errno;
	if (ftruncate(b->fd, (off_t)size) < 0 ||
	    fcntl(b->fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK) < 0)
		return -errno;
	b->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (b->p == MAP_FAILED)
		return -errno;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, RAW_DEVICE);
	dk_wire_put_u32(&w, access);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_u64(&w, 0);
	dk_wire_put_u64(&w, size);
	err = call(DK_HWSIM_OP_MAP, p, dk_wire_writer_len(&w), &b->fd, 1);
	if (err < 0)
		return err;
	dk_wire_reader_init(&r, reply.frame.payload, reply.frame.length);
	b->iova = dk_wire_get_u64(&r);
	dk_msg_close_fds(&reply);
	return dk_wire_reader_error(&r);
}

static void buf_free(struct raw_buf *b)
{
	if (b->p && b->p != MAP_FAILED)
		munmap(b->p, b->size);
	if (b->fd >= 0)
		close(b->fd);
	b->p = NULL;
	b->fd = -1;
}

static uint32_t reg(const struct raw_dev *d, uint32_t off)
{
	return dk_copy_reg_read(d->regs, off);
}

static void ring(const struct raw_dev *d)
{
	const uint64_t one = 1;

	if (write(d->doorbell, &one, sizeof(one)) != (ssize_t)sizeof(one))
		return; /* a saturated counter: the engine is being rung anyway */
}

/* Queue one descriptor at the tail (not yet handed over). */
static void queue(struct raw_dev *d, uint64_t off, uint32_t len)
{
	struct dk_copy_desc *desc = (struct dk_copy_desc *)d->ring.p + d->tail % RAW_RING;

	desc->op = DK_COPY_OP_COPY;
	desc->flags = 0;
	desc->length = len;
	desc->src = d->src.iova + off;
	desc->dst = d->dst.iova + off;
	desc->tag = d->tail;
	desc->status = UINT32_MAX;
	d->tail++;
}

/* Hand the queued descriptors over: RING_TAIL (release), acknowledge, doorbell. */
static void kick(struct raw_dev *d)
{
	uint32_t irq = d->irq_enabled ? reg(d, DK_COPY_REG_IRQ_STATUS) : 0;

	dk_copy_reg_write(d->regs, DK_COPY_REG_RING_TAIL, d->tail);
	if (irq)
		dk_copy_reg_write(d->regs, DK_COPY_REG_IRQ_ACK, irq);
	ring(d);
}

/* One step of a spin that found nothing new: -ETIMEDOUT once @deadline passed. */
static int spin_step(unsigned int *spins, uint64_t deadline)
{
	dk_cpu_relax();
	return (++*spins & 1023) == 0 && dk_now_ns() >= deadline ? -ETIMEDOUT : 0;
}

/* Harvest what the engine completed: 0 and how many, or -EIO for a failed descriptor. */
static int harvest(struct raw_dev *d, uint32_t *ret_n)
{
	uint32_t completed = reg(d, DK_COPY_REG_COMPLETED), n = 0;

	for (; d->done != completed && d->done != d->tail; d->done++, n++) {
		const struct dk_copy_desc *desc =
			(const struct dk_copy_desc *)d->ring.p + d->done % RAW_RING;

		if (__atomic_load_n(&desc->status, __ATOMIC_ACQUIRE) != DK_COPY_DESC_STATUS_DONE)
			return -EIO;
	}
	*ret_n = n;
	return 0;
}

/* Wait until every handed-over descriptor completed: on the interrupt, or spinning. */
static int wait_all(struct raw_dev *d, struct bench_error *error)
{
	uint64_t deadline = dk_now_ns() + BENCH_WAIT_NS;
	unsigned int spins = 0;
	uint32_t n;

	for (;;) {
		if (harvest(d, &n) < 0)
			return bench_fail(error, -EIO, "a descriptor failed");
		if (d->done == d->tail)
			return 0;
		if (d->irq_enabled) {
			struct pollfd p = {.fd = d->irq, .events = POLLIN};
			uint64_t now = dk_now_ns(), count;

			if (now >= deadline ||
			    poll(&p, 1, (int)((deadline - now) / DK_NSEC_PER_MSEC + 1)) < 0)
				return bench_fail(error, -ETIMEDOUT, "the engine's interrupt");
			if (read(d->irq, &count, sizeof(count)) < 0 && errno != EAGAIN)
				return bench_fail(error, -errno, "reading the interrupt");
		} else if (spin_step(&spins, deadline) < 0) {
			return bench_fail(error, -ETIMEDOUT, "the engine's COMPLETED");
		}
	}
}

static void dev_close(struct raw_dev *d)
{
	buf_free(&d->ring);
	buf_free(&d->src);
	buf_free(&d->dst);
	if (d->regs && d->regs != MAP_FAILED)
		munmap(d->regs, DK_COPY_REGS_SIZE);
	if (d->regs_fd >= 0)
		close(d->regs_fd);
	if (d->doorbell >= 0)
		close(d->doorbell);
	if (d->irq >= 0)
		close(d->irq);
}

/*
 * GRANT the engine, map the ring and the buffers, program and enable it, and check one copy of
 * @check_len bytes of a pattern byte for byte.
 */
static int dev_open(struct raw_dev *d, bool irq, uint32_t check_len, struct bench_error *error)
{
	uint8_t p[64];
	struct dk_wire_writer w;
	int err;

	memset(d, 0, sizeof(*d));
	d->regs_fd = d->doorbell = d->irq = d->ring.fd = d->src.fd = d->dst.fd = -1;
	d->irq_enabled = irq;
	err = raw_start(error);
	if (err < 0)
		return err;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, RAW_DEVICE);
	err = call(DK_HWSIM_OP_GRANT, p, dk_wire_writer_len(&w), NULL, 0);
	if (err < 0)
		return bench_fail(error, err, "GRANT " RAW_DEVICE);
	if (reply.n_fds != 3) {
		dk_msg_close_fds(&reply);
		return bench_fail(error, -EPROTO, "GRANT: %u descriptors", reply.n_fds);
	}
	d->regs_fd = reply.fds[0];
	d->doorbell = reply.fds[1];
	d->irq = reply.fds[2];
	d->regs = mmap(NULL, DK_COPY_REGS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, d->regs_fd, 0);
	if (d->regs == MAP_FAILED)
		return bench_fail(error, -errno, "mapping the register window");
	err = buf_new(&d->ring, RAW_RING * sizeof(struct dk_copy_desc), DK_DMA_READ | DK_DMA_WRITE);
	if (err == 0)
		err = buf_new(&d->src, BENCH_COPY_BUF_BYTES, DK_DMA_READ);
	if (err == 0)
		err = buf_new(&d->dst, BENCH_COPY_BUF_BYTES, DK_DMA_WRITE);
	if (err < 0)
		return bench_fail(error, err, "mapping the DMA buffers");
	dk_copy_reg_write(d->regs, DK_COPY_REG_RING_BASE_LO, (uint32_t)d->ring.iova);
	dk_copy_reg_write(d->regs, DK_COPY_REG_RING_BASE_HI, (uint32_t)(d->ring.iova >> 32));
	dk_copy_reg_write(d->regs, DK_COPY_REG_RING_SIZE, RAW_RING);
	dk_copy_reg_write(d->regs, DK_COPY_REG_RING_TAIL, 0);
	dk_copy_reg_write(d->regs, DK_COPY_REG_CONTROL,
			  DK_COPY_CONTROL_ENABLE | (irq ? DK_COPY_CONTROL_IRQ_ENABLE : 0));
	for (uint32_t i = 0; i < BENCH_COPY_BUF_BYTES; i++)
		d->src.p[i] = (uint8_t)(i * 13 + 7);
	queue(d, 0, check_len);
	kick(d);
	err = wait_all(d, error);
	if (err < 0)
		return err;
	if (memcmp(d->src.p, d->dst.p, check_len) != 0 || d->dst.p[check_len] != 0)
		return bench_fail(error, -EIO, "raw engine check: the destination is not the copy");
	return 0;
}

static unsigned int warm_iters(const struct bench_opts *opts)
{
	unsigned int w = opts->iters / 10;

	return w < 10 ? 10 : w > 1000 ? 1000 : w;
}

/* One descriptor at a time, waiting for each: the two round-trip baselines. */
static int roundtrip_rep(const struct bench_opts *opts, bool irq, struct bench_samples *samples,
			 struct bench_error *error)
{
	const uint32_t len = 4096, slots = BENCH_COPY_BUF_BYTES / len;
	unsigned int warm = warm_iters(opts);
	struct raw_dev d;
	int err;

	err = bench_samples_reserve(samples, opts->iters);
	if (err < 0)
		return bench_fail(error, err, "samples");
	err = dev_open(&d, irq, len, error);
	for (unsigned int i = 0; err == 0 && i < warm + opts->iters; i++) {
		uint64_t t0 = dk_now_ns();

		queue(&d, (uint64_t)(i % slots) * len, len);
		kick(&d);
		err = wait_all(&d, error);
		if (err == 0 && i >= warm)
			bench_samples_push(samples, (double)(dk_now_ns() - t0) / 1000.0);
	}
	dev_close(&d);
	return err;
}

static int raw_roundtrip_rep(const struct bench_opts *opts, struct bench_samples *samples,
			     struct bench_error *error)
{
	return roundtrip_rep(opts, true, samples, error);
}

static int raw_spin_roundtrip_rep(const struct bench_opts *opts, struct bench_samples *samples,
				  struct bench_error *error)
{
	return roundtrip_rep(opts, false, samples, error);
}

/* Keep the ring full in batches of 32, harvest by COMPLETED: the throughput baseline. */
static int raw_batch_rep(const struct bench_opts *opts, struct bench_samples *samples,
			 struct bench_error *error)
{
	const uint32_t len = 64, slots = BENCH_COPY_BUF_BYTES / len;
	unsigned int warm = warm_iters(opts) / 10 + 2;
	struct raw_dev d;
	uint64_t submitted = 0;
	int err;

	err = bench_samples_reserve(samples, opts->iters);
	if (err < 0)
		return bench_fail(error, err, "samples");
	err = dev_open(&d, false, len, error);
	for (unsigned int wnd = 0; err == 0 && wnd < warm + opts->iters; wnd++) {
		uint64_t t0 = dk_now_ns(), deadline = t0 + BENCH_WAIT_NS;
		uint32_t got = 0, n;
		unsigned int spins = 0;

		while (err == 0 && got < RAW_WINDOW) {
			if (RAW_RING - (d.tail - d.done) >= RAW_BATCH) {
				for (uint32_t k = 0; k < RAW_BATCH; k++, submitted++)
					queue(&d, submitted % slots * len, len);
				kick(&d);
			}
			if (harvest(&d, &n) < 0) {
				err = bench_fail(error, -EIO, "a descriptor failed");
				break;
			}
			got += n;
			if (n)
				deadline = dk_now_ns() + BENCH_WAIT_NS;
			else if (spin_step(&spins, deadline) < 0)
				err = bench_fail(error, -ETIMEDOUT, "the engine's COMPLETED");
		}
		if (err == 0 && wnd >= warm)
			bench_samples_push(samples, (double)got * 1000.0 / (double)(dk_now_ns() - t0));
	}
	dev_close(&d);
	return err;
}

const struct bench_baseline bench_baseline_raw_engine_roundtrip = {
	.name = "raw-engine-roundtrip",
	.description = "the dk-hwsim copy engine driven by one process alone: a 4 KiB COPY, "
		       "doorbell, block on the interrupt; round trip, us",
	.run_rep = raw_roundtrip_rep,
};

const struct bench_baseline bench_baseline_raw_engine_spin_roundtrip = {
	.name = "raw-engine-spin-roundtrip",
	.description = "the same with the interrupt off, spinning on COMPLETED; round trip, us",
	.run_rep = raw_spin_roundtrip_rep,
};

const struct bench_baseline bench_baseline_raw_engine_batch32 = {
	.name = "raw-engine-batch32",
	.description = "the dk-hwsim copy engine driven by one process alone: 64 B COPYs, 32 per "
		       "doorbell, the ring kept full, spinning on COMPLETED; Mops/s",
	.run_rep = raw_batch_rep,
};


/*
 * ---- The ceiling of P3-copy: the engine behind a relay that does nothing ----
 *
 * What any driver in a process of its own can reach on this machine: the raw engine's batch
 * loop with a relay process in between, as dk-copy sits between a client and the engine, but
 * with none of DriverKit's work -- no validation, no sessions, no scheduler, no fences, no
 * statistics. The entries have DriverKit's sizes, and are written and read whole: the client
 * zeroes and fills a 128-byte request (struct dk_sqe) and publishes a tail per 32; the relay
 * copies each request out, queues its descriptor, rings once per pass, and for every
 * descriptor done writes a 64-byte completion (struct dk_cqe) and publishes a tail; the client
 * copies the completions out. Up to RELAY_HW descriptors on the engine: all the raw baseline's
 * 256-descriptor ring allows (dk-copy keeps up to 128). Every spinner steps with dk_spin_step(), which yields the CPU every 256 steps,
 * as DriverKit's do: three busy processes share two vCPUs.
 */
#define RELAY_SQ 512u  /* P3-copy's SQ */
#define RELAY_CQ 1024u /* P3-copy's CQ */
#define RELAY_HW (RAW_RING - 1)

struct relay_req {
	uint64_t off;
	uint32_t len, tag;
	uint8_t rest[DK_SQE_SIZE - 16];
};

struct relay_cqe {
	uint32_t tag, status;
	uint8_t rest[DK_CQE_SIZE - 8];
};

struct relay_shm {
	_Alignas(64) uint32_t req_tail; /* client */
	_Alignas(64) uint32_t cq_tail;  /* relay */
	_Alignas(64) uint32_t stop;     /* client: the repetition is over */
	_Alignas(64) struct relay_req req[RELAY_SQ];
	struct relay_cqe cq[RELAY_CQ];
};

static void relay_main(struct raw_dev *d, struct relay_shm *s)
{
	uint32_t head = 0, cq_tail = 0;
	unsigned int step = 0;

	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		uint32_t tail = __atomic_load_n(&s->req_tail, __ATOMIC_ACQUIRE), completed;
		uint32_t taken = head;
		bool progress;

		for (; head != tail && d->tail - d->done < RELAY_HW; head++) {
			struct relay_req r;

			memcpy(&r, &s->req[head % RELAY_SQ], sizeof(r));
			queue(d, r.off, r.len);
		}
		progress = head != taken;
		if (progress)
			kick(d);
		completed = reg(d, DK_COPY_REG_COMPLETED);
		for (; d->done != completed && d->done != d->tail; d->done++, cq_tail++) {
			const struct dk_copy_desc *desc =
				(const struct dk_copy_desc *)d->ring.p + d->done % RAW_RING;
			struct relay_cqe c = {
				.tag = d->done,
				.status = __atomic_load_n(&desc->status, __ATOMIC_ACQUIRE),
			};

			memcpy(&s->cq[cq_tail % RELAY_CQ], &c, sizeof(c));
			progress = true;
		}
		if (progress)
			__atomic_store_n(&s->cq_tail, cq_tail, __ATOMIC_RELEASE);
		else
			dk_spin_step(&step);
	}
}

/* The client's side: P3-copy's loop (SQ kept full 32 at a time, reap all, spin when none). */
static int relay_client(const struct bench_opts *opts, struct relay_shm *s,
			struct bench_samples *samples, struct bench_error *error)
{
	const uint32_t len = 64, slots = BENCH_COPY_BUF_BYTES / len;
	unsigned int warm = warm_iters(opts) / 10 + 2;
	uint32_t tail = 0, head = 0;
	int err = 0;

	for (unsigned int wnd = 0; err == 0 && wnd < warm + opts->iters; wnd++) {
		uint64_t t0 = dk_now_ns(), deadline = t0 + BENCH_WAIT_NS;
		unsigned int spins = 0;
		uint32_t got = 0;

		while (err == 0 && got < RAW_WINDOW) {
			uint32_t cq_tail;

			if (RELAY_SQ - (tail - head) >= RAW_BATCH) {
				for (uint32_t k = 0; k < RAW_BATCH; k++, tail++) {
					struct relay_req *r = &s->req[tail % RELAY_SQ];

					memset(r, 0, sizeof(*r));
					r->off = (uint64_t)(tail % slots) * len;
					r->len = len;
					r->tag = tail;
				}
				__atomic_store_n(&s->req_tail, tail, __ATOMIC_RELEASE);
			}
			cq_tail = __atomic_load_n(&s->cq_tail, __ATOMIC_ACQUIRE);
			if (cq_tail == head) {
				dk_spin_step(&spins);
				if ((spins & 1023) == 0 && dk_now_ns() >= deadline)
					err = bench_fail(error, -ETIMEDOUT, "the relay's completions");
				continue;
			}
			for (; head != cq_tail; head++, got++) {
				struct relay_cqe c;

				memcpy(&c, &s->cq[head % RELAY_CQ], sizeof(c));
				if (c.status != DK_COPY_DESC_STATUS_DONE)
					return bench_fail(error, -EIO, "a descriptor failed");
			}
			deadline = dk_now_ns() + BENCH_WAIT_NS;
		}
		if (err == 0 && wnd >= warm)
			bench_samples_push(samples, (double)got * 1000.0 / (double)(dk_now_ns() - t0));
	}
	return err;
}

int bench_p3_copy_relay(const struct bench_opts *opts, struct bench_samples *samples,
			struct bench_error *error)
{
	struct relay_shm *s;
	struct raw_dev d;
	pid_t pid;
	int err;

	err = bench_samples_reserve(samples, opts->iters);
	if (err < 0)
		return bench_fail(error, err, "samples");
	err = dev_open(&d, false, 64, error);
	if (err < 0)
		goto out;
	s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED) {
		err = bench_fail(error, -errno, "mapping the relay's rings");
		goto out;
	}
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		relay_main(&d, s);
		_exit(0);
	}
	if (pid < 0) {
		err = bench_fail(error, -errno, "fork");
	} else {
		err = relay_client(opts, s, samples, error);
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		waitpid(pid, NULL, 0);
	}
	munmap(s, sizeof(*s));
out:
	dev_close(&d);
	return err;
}
