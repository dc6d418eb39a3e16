/* SPDX-License-Identifier: MIT */
/*
 * dk-demo - the core objects and the submit path at work across two processes.
 *
 * A client process and a "device" process (forked) share one SOCK_SEQPACKET socket for the
 * control plane; everything else is shared memory:
 *   1. the client passes an input image buffer, sealed read-only, and a writable output
 *      buffer; the device registers both in its handle table and answers with their indices;
 *   2. the device creates a submission queue (Normal QoS) and passes it to the client with a
 *      wait-only handle of its completion fence;
 *   3. each job is one 128-byte submission referencing the two buffers by registered index and
 *      slice; the client hands the output buffer to the device (DMA ownership bound to the
 *      job's point on the queue's fence); the device validates the submission against its
 *      handle table, maps the buffers once (zero-copy), inverts the image into the output and
 *      completes; the client reaps the completion, takes the buffer back and checks every byte;
 *   4. three malformed jobs (a slice outside the buffer, a forged index, a write to the sealed
 *      input) come back as completions with a stable error and reason, and change nothing.
 * Then it prints what happened. Exit status 0 only if every check passed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dk/dk.h>

#define IMG_W 1024u
#define IMG_H 1024u
#define IMG_BYTES (IMG_W * IMG_H)
#define WAIT_NS (10 * DK_NSEC_PER_SEC)

/* The demo device's commands (a device class defines its own opcodes above DK_OP_NOP). */
enum demo_op {
	OP_INVERT = 1, /* buf[0] (read) -> buf[1] (write), each byte 255 - x, xor param */
	OP_STOP = 2,   /* complete, then stop serving */
};

/* The device's answer to the two buffers: their registered indices (a tiny demo protocol). */
#define OP_INDICES 0x0100
static const struct dk_frame_opdesc demo_ops[] = {
	{OP_INDICES, 0, 8, 8, "indices"},
};
static const struct dk_frame_proto demo_proto = {
	.name = "demo",
	.minor = 0,
	.n_ops = 1,
	.ops = demo_ops,
};

static uint8_t input_pixel(size_t i)
{
	size_t x = i % IMG_W, y = i / IMG_W;

	return (uint8_t)((x ^ y) + (x * y >> 8));
}

/* ---- the device process ------------------------------------------------------------------ */

static int device_run(struct dk_ring *ring, struct dk_htable *table)
{
	struct dk_ring_job jobs[16];
	bool stop = false;

	while (!stop) {
		int n, ret = dk_ring_idle(&ring, 1, dk_deadline_in(WAIT_NS));

		if (ret != 1)
			return 20; /* no job for WAIT_NS: the client is gone */
		n = dk_ring_consume(ring, jobs, 16);
		if (n < 0)
			return 21;
		for (int i = 0; i < n; i++) {
			const struct dk_sqe *sqe = &jobs[i].sqe;
			uint64_t started = dk_now_ns();
			int status = dk_ring_check_sqe(ring, table, sqe);
			struct dk_buffer *src = NULL, *dst = NULL;
			const uint8_t *s;
			uint8_t *d;

			if (status == 0 && sqe->opcode == OP_STOP) {
				stop = true;
			} else if (status == 0 && (sqe->opcode != OP_INVERT || sqe->n_buffers != 2 ||
						   sqe->buf[0].access != DK_RIGHT_READ ||
						   sqe->buf[1].access != DK_RIGHT_WRITE ||
						   sqe->buf[0].length != sqe->buf[1].length)) {
				status = -EINVAL;
			} else if (status == 0) {
				/* Checked above: both indices are registered with these rights. */
				dk_htable_buffer(table, sqe->buf[0].index, DK_RIGHT_READ, &src);
				dk_htable_buffer(table, sqe->buf[1].index, DK_RIGHT_WRITE, &dst);
				if (dk_buffer_map(src, DK_RIGHT_READ, (void **)&s) < 0)
					return 22;
				if (dk_buffer_map(dst, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&d) < 0)
					return 23;
				s += sqe->buf[0].offset;
				d += sqe->buf[1].offset;
				for (uint64_t k = 0; k < sqe->buf[0].length; k++)
					d[k] = (uint8_t)(255 - s[k]) ^ (uint8_t)sqe->param;
				dk_buffer_unmap(src, (void *)(s - sqe->buf[0].offset));
				dk_buffer_unmap(dst, d - sqe->buf[1].offset);
			}
			if (dk_ring_complete(ring, &jobs[i], status,
					     status ? DK_REASON_VALIDATION : DK_REASON_NONE,
					     status ? 0 : sqe->buf[0].length, started) < 0)
				return 24;
		}
		if (dk_ring_publish(ring) < 0)
			return 25;
	}
	return 0;
}

static int device_main(int sock)
{
	const struct dk_ring_params params = {.sq_entries = 64, .cq_entries = 64,
					      .qos = DK_QOS_NORMAL};
	uint8_t payload[8], frame[DK_FRAME_HEADER_SIZE + 8];
	struct dk_buffer_registry *reg;
	struct dk_handle in, out;
	struct dk_htable *table;
	struct dk_wire_writer w;
	uint32_t in_idx, out_idx;
	struct dk_ring *ring;
	int len, ret;

	if (dk_buffer_registry_create(NULL, &reg) < 0 || dk_htable_create(16, &table) < 0 ||
	    dk_ring_create(&params, &ring) < 0)
		return 10;
	if (dk_handle_recv(sock, dk_deadline_in(WAIT_NS), reg, NULL, &in) < 0 ||
	    dk_handle_recv(sock, dk_deadline_in(WAIT_NS), reg, NULL, &out) < 0)
		return 11;
	if (in.type != DK_HANDLE_BUFFER || out.type != DK_HANDLE_BUFFER ||
	    !dk_buffer_is_sealed(in.buffer))
		return 12;
	if (dk_htable_add_buffer(table, in.buffer, &in_idx) < 0 ||
	    dk_htable_add_buffer(table, out.buffer, &out_idx) < 0)
		return 13;
	dk_wire_writer_init(&w, payload, sizeof(payload));
	dk_wire_put_u32(&w, in_idx);
	dk_wire_put_u32(&w, out_idx);
	len = dk_frame_encode(frame, sizeof(frame), &demo_proto, OP_INDICES, 0, 1, payload,
			      sizeof(payload));
	if (len < 0 || send(sock, frame, (size_t)len, MSG_NOSIGNAL) != len)
		return 14;
	/* The queue, with its completion fence wait-only: the client cannot forge completions. */
	if (dk_ring_send(sock, ring, 2) < 0)
		return 15;
	ret = device_run(ring, table);
	dk_ring_destroy(ring);
	dk_htable_destroy(table); /* releases the registered buffers */
	dk_buffer_registry_destroy(reg);
	return ret;
}

/* ---- the client -------------------------------------------------------------------------- */

struct client {
	struct dk_ring *ring;
	struct dk_buffer *out;
	uint32_t in_idx, out_idx;
};

static int fail(const char *what, int err)
{
	fprintf(stderr, "dk-demo: %s: %s\n", what, dk_strerror(err));
	return 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Prepare an OP_INVERT submission (or a variant the test cases corrupt). */
static struct dk_sqe *prep_invert(struct client *c, uint64_t seed, uint64_t *ret_ticket)
{
	struct dk_sqe *sqe = dk_ring_get_sqe(c->ring, ret_ticket);

	if (!sqe)
		return NULL;
	sqe->opcode = OP_INVERT;
	sqe->user_data = seed;
	sqe->param = seed;
	sqe->n_buffers = 2;
	sqe->buf[0] = (struct dk_sqe_buffer){c->in_idx, DK_RIGHT_READ, 0, IMG_BYTES};
	sqe->buf[1] = (struct dk_sqe_buffer){c->out_idx, DK_RIGHT_WRITE, 0, IMG_BYTES};
	return sqe;
}

/* Submit one prepared entry and wait for its completion. */
static int run_one(struct client *c, struct dk_cqe *cqe)
{
	int ret = dk_ring_submit(c->ring);

	if (ret < 0)
		return ret;
	return dk_ring_wait_cqe(c->ring, cqe, dk_deadline_in(WAIT_NS));
}

/* A malformed job: it must come back refused with @expect, and change nothing. */
static int bad_job(struct client *c, const char *what, int expect, struct dk_sqe *sqe)
{
	struct dk_cqe cqe;
	int ret;

	if (!sqe)
		return fail("get_sqe", -EAGAIN);
	ret = run_one(c, &cqe);
	if (ret < 0)
		return fail(what, ret);
	printf("  %-44s -> %s, reason %s\n", what, dk_strerror(cqe.status),
	       dk_reason_name(cqe.reason));
	if (cqe.status != expect || cqe.reason != DK_REASON_VALIDATION)
		return fail("a malformed job was not refused as documented", cqe.status);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"jobs", required_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct dk_buffer_registry *reg;
	struct dk_buffer_stats bst;
	struct dk_ring_stats rst;
	struct dk_buffer *in;
	struct client cl = {0};
	struct dk_handle hr;
	struct dk_frame frame;
	struct dk_wire_reader r;
	struct dk_cqe cqe;
	struct dk_sqe *sqe;
	uint8_t buf[DK_FRAME_MAX_SIZE], *p;
	uint64_t *lat, ticket, bad_bytes = 0;
	unsigned int jobs = 64, ok = 0;
	uint32_t reason = 0;
	int sv[2], c, ret, status;
	ssize_t n;
	pid_t pid;

	while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			jobs = (unsigned int)strtoul(optarg, NULL, 10);
			if (jobs == 0 || jobs > 100000)
				return fail("--jobs must be 1..100000", -EINVAL);
			break;
		default:
			printf("usage: dk-demo [--jobs N]\n"
			       "Runs a client and a device process sharing buffers zero-copy and "
			       "submitting jobs through a shared-memory queue.\n");
			return c == 'h' ? 0 : 2;
		}
	}

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return fail("socketpair", -errno);
	pid = fork();
	if (pid < 0)
		return fail("fork", -errno);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sv[0]);
		_exit(device_main(sv[1]));
	}
	close(sv[1]);

	printf("DriverKit core demo: client pid %d, device pid %d\n", (int)getpid(), (int)pid);
	ret = dk_buffer_registry_create(NULL, &reg);
	if (ret < 0)
		return fail("registry", ret);

	/* 1. Buffers: the input filled and sealed, the output writable; passed by handle. */
	ret = dk_buffer_create(reg, NULL, IMG_BYTES, 0, &in);
	if (ret == 0)
		ret = dk_buffer_map(in, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p);
	if (ret < 0)
		return fail("input buffer", ret);
	for (size_t i = 0; i < IMG_BYTES; i++)
		p[i] = input_pixel(i);
	dk_buffer_unmap(in, p);
	ret = dk_buffer_seal_readonly(in);
	if (ret == 0)
		ret = dk_buffer_create(reg, NULL, IMG_BYTES, 0, &cl.out);
	if (ret == 0)
		ret = dk_buffer_send(sv[0], in, DK_RIGHTS_BUFFER_RO, 1);
	if (ret == 0)
		ret = dk_buffer_send(sv[0], cl.out, DK_RIGHTS_BUFFER_RW, 2);
	if (ret < 0)
		return fail("buffers", ret);
	printf("  input   %u x %u image, %u bytes, sealed read-only (F_SEAL_WRITE)\n", IMG_W,
	       IMG_H, IMG_BYTES);
	printf("  output  %u bytes, passed writable\n", IMG_BYTES);

	/* 2. The registered indices, then the queue. */
	n = recv(sv[0], buf, sizeof(buf), 0);
	if (n <= 0 || dk_frame_decode(buf, (size_t)n, &demo_proto, &frame, NULL) < 0)
		return fail("indices", -EPROTO);
	dk_wire_reader_init(&r, frame.payload, frame.known_length);
	cl.in_idx = dk_wire_get_u32(&r);
	cl.out_idx = dk_wire_get_u32(&r);
	ret = dk_handle_recv(sv[0], dk_deadline_in(WAIT_NS), reg, NULL, &hr);
	if (ret < 0 || hr.type != DK_HANDLE_RING)
		return fail("queue", ret < 0 ? ret : -EPROTO);
	cl.ring = hr.ring;
	printf("  queue   %u submissions / %u completions, QoS %s; registered indices "
	       "%#x (input) %#x (output)\n",
	       dk_ring_sq_entries(cl.ring), dk_ring_cq_entries(cl.ring),
	       dk_qos_name(dk_ring_qos(cl.ring)), cl.in_idx, cl.out_idx);

	/* 3. Jobs. */
	lat = calloc(jobs, sizeof(*lat));
	if (!lat)
		return fail("calloc", -ENOMEM);
	for (unsigned int k = 0; k < jobs; k++) {
		uint64_t t0 = dk_now_ns();

		sqe = prep_invert(&cl, k, &ticket);
		if (!sqe)
			return fail("get_sqe", -EAGAIN);
		/* The output belongs to the device until the queue's fence counts this job. */
		ret = dk_buffer_submit(cl.out, dk_ring_fence(cl.ring), ticket);
		if (ret < 0)
			return fail("ownership", ret);
		if (k == 0) {
			ret = dk_buffer_map(cl.out, DK_RIGHT_READ, (void **)&p);
			printf("  job 1   output handed to the device; CPU map while in flight: %s\n",
			       dk_strerror(ret));
			if (ret != -EBUSY)
				return fail("an in-flight map was not refused", ret);
		}
		ret = run_one(&cl, &cqe);
		if (ret < 0)
			return fail("job", ret);
		if (cqe.status != 0)
			return fail("job completion", cqe.status);
		ret = dk_buffer_reclaim(cl.out, dk_deadline_in(WAIT_NS), &reason);
		if (ret < 0)
			return fail("reclaim", ret);
		lat[k] = dk_now_ns() - t0;
		ret = dk_buffer_map(cl.out, DK_RIGHT_READ, (void **)&p);
		if (ret < 0)
			return fail("map output", ret);
		for (size_t i = 0; i < IMG_BYTES; i++)
			if (p[i] != ((uint8_t)(255 - input_pixel(i)) ^ (uint8_t)k))
				bad_bytes++;
		dk_buffer_unmap(cl.out, p);
		ok += bad_bytes == 0;
	}

	/* 4. Malformed jobs: refused with a stable error and reason; nothing changes. */
	sqe = prep_invert(&cl, 1, NULL);
	if (sqe)
		sqe->buf[1].offset = IMG_BYTES - 16;
	if (bad_job(&cl, "slice past the end of the output", -EINVAL, sqe))
		return 1;
	sqe = prep_invert(&cl, 1, NULL);
	if (sqe)
		sqe->buf[0].index = cl.in_idx ^ 0x10000; /* right slot, wrong generation */
	if (bad_job(&cl, "forged (stale) buffer index", -EBADF, sqe))
		return 1;
	sqe = prep_invert(&cl, 1, NULL);
	if (sqe)
		sqe->buf[1].index = cl.in_idx; /* write into the sealed input */
	if (bad_job(&cl, "write to the sealed, read-only input", -EPERM, sqe))
		return 1;

	sqe = dk_ring_get_sqe(cl.ring, NULL);
	if (!sqe)
		return fail("get_sqe", -EAGAIN);
	sqe->opcode = OP_STOP;
	ret = run_one(&cl, &cqe);
	if (ret < 0 || cqe.status != 0)
		return fail("stop", ret < 0 ? ret : cqe.status);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail("device process", -EIO);
	close(sv[0]);

	qsort(lat, jobs, sizeof(*lat), cmp_u64);
	dk_buffer_registry_stats(reg, &bst);
	dk_ring_stats(cl.ring, &rst);
	printf("\n  %-40s %14s\n", "what", "value");
	printf("  %-40s %14u\n", "jobs completed and verified", ok);
	printf("  %-40s %14" PRIu64 "\n", "bytes wrong", bad_bytes);
	printf("  %-40s %14.1f\n", "job latency p50 (us)", (double)lat[jobs / 2] / 1e3);
	printf("  %-40s %14.1f\n", "job latency p99 (us)", (double)lat[(jobs * 99) / 100] / 1e3);
	printf("  %-40s %14" PRIu64 "\n", "bytes processed by the device",
	       (uint64_t)jobs * IMG_BYTES);
	printf("  %-40s %14" PRIu64 "\n", "bytes copied (honesty counter)", bst.copy_bytes);
	printf("  %-40s %14" PRIu64 "\n", "submissions through the queue", rst.submitted);
	printf("  %-40s %14" PRIu64 "\n", "bytes per submission (shared memory)",
	       (uint64_t)DK_SQE_SIZE);
	printf("  %-40s %14" PRIu64 "\n", "doorbell system calls by the client", rst.doorbells);
	printf("  %-40s %14" PRIu64 "\n", "client mappings made (cache misses)", bst.map_misses);
	printf("  %-40s %14" PRIu64 "\n", "client mappings reused (cache hits)", bst.map_hits);
	printf("  %-40s %14s\n", "device process exit", "clean");

	dk_ring_destroy(cl.ring);
	dk_buffer_release(in);
	dk_buffer_release(cl.out);
	dk_buffer_registry_destroy(reg);
	free(lat);
	if (ok != jobs || bad_bytes) {
		fprintf(stderr, "dk-demo: FAILED: %u of %u jobs verified\n", ok, jobs);
		return 1;
	}
	printf("\nall %u jobs verified byte for byte; the image never crossed the socket.\n", jobs);
	return 0;
}
