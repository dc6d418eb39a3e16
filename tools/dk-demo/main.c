/* SPDX-License-Identifier: MIT */
/*
 * dk-demo - the core objects at work across two processes.
 *
 * A client process and a "device" process (forked) share one SOCK_SEQPACKET socket for the
 * control plane and nothing else. The client:
 *   1. creates an input image buffer, fills it, seals it read-only and passes it over;
 *   2. creates an output buffer and passes it writable;
 *   3. receives the device's completion fence (wait-only);
 *   4. submits jobs as small frames: each hands the output buffer to the device (DMA ownership)
 *      bound to a fence point; the device maps both buffers once (zero-copy), inverts the image
 *      into the output and signals the point; the client takes the buffer back and checks every
 *      byte;
 *   5. submits one malformed job (slice outside the buffer): the device refuses it and the
 *      fence reports the error with its reason.
 * Then it prints what happened: jobs, latencies, bytes on the control plane against bytes shared,
 * copies, mappings. Exit status 0 only if every check passed.
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
#define OP_JOB 0x0100
#define JOB_PAYLOAD 32u

static const struct dk_frame_opdesc demo_ops[] = {
	{OP_JOB, 0, JOB_PAYLOAD, JOB_PAYLOAD, "job"},
};

static const struct dk_frame_proto demo_proto = {
	.name = "demo",
	.minor = 0,
	.n_ops = 1,
	.ops = demo_ops,
};

struct job {
	uint64_t point;   /* fence point the device signals when done */
	uint64_t offset;  /* slice of the input to process */
	uint64_t length;
	uint64_t seed;    /* mixed into the output so each job's result differs */
};

static int send_job(int sock, const struct job *j, uint64_t seq)
{
	uint8_t payload[JOB_PAYLOAD], frame[DK_FRAME_HEADER_SIZE + JOB_PAYLOAD];
	struct dk_wire_writer w;
	int len;

	dk_wire_writer_init(&w, payload, sizeof(payload));
	dk_wire_put_u64(&w, j->point);
	dk_wire_put_u64(&w, j->offset);
	dk_wire_put_u64(&w, j->length);
	dk_wire_put_u64(&w, j->seed);
	len = dk_frame_encode(frame, sizeof(frame), &demo_proto, OP_JOB, 0, seq, payload,
			      sizeof(payload));
	if (len < 0)
		return len;
	return send(sock, frame, (size_t)len, MSG_NOSIGNAL) == len ? 0 : -errno;
}

static uint8_t input_pixel(size_t i)
{
	size_t x = i % IMG_W, y = i / IMG_W;

	return (uint8_t)((x ^ y) + (x * y >> 8));
}

/* ---- the device process ------------------------------------------------------------------ */

static int device_main(int sock)
{
	struct dk_buffer_registry *reg;
	struct dk_handle in, out;
	struct dk_fence *fence;
	uint8_t buf[DK_FRAME_MAX_SIZE];
	const uint8_t *src;
	uint8_t *dst;
	int ret;

	if (dk_buffer_registry_create(NULL, &reg) < 0 || dk_fence_create(0, &fence) < 0)
		return 10;
	if (dk_handle_recv(sock, dk_deadline_in(10 * DK_NSEC_PER_SEC), reg, NULL, &in) < 0 ||
	    dk_handle_recv(sock, dk_deadline_in(10 * DK_NSEC_PER_SEC), reg, NULL, &out) < 0)
		return 11;
	if (in.type != DK_HANDLE_BUFFER || out.type != DK_HANDLE_BUFFER ||
	    !dk_buffer_is_sealed(in.buffer))
		return 12;
	/* The completion fence goes to the client wait-only: the client cannot forge a
	 * completion. */
	if (dk_fence_send(sock, fence, DK_RIGHTS_FENCE_WAIT, 0) < 0)
		return 13;
	/* Map once, reuse for every job. */
	if (dk_buffer_map(in.buffer, DK_RIGHT_READ, (void **)&src) < 0 ||
	    dk_buffer_map(out.buffer, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&dst) < 0)
		return 14;

	for (;;) {
		struct dk_wire_reader r;
		struct dk_frame frame;
		struct job j;
		ssize_t n;

		n = recv(sock, buf, sizeof(buf), 0);
		if (n <= 0)
			break; /* the client hung up: done */
		if (dk_frame_decode(buf, (size_t)n, &demo_proto, &frame, NULL) < 0)
			continue; /* malformed: refused, nothing changes */
		dk_wire_reader_init(&r, frame.payload, frame.known_length);
		j.point = dk_wire_get_u64(&r);
		j.offset = dk_wire_get_u64(&r);
		j.length = dk_wire_get_u64(&r);
		j.seed = dk_wire_get_u64(&r);
		if (dk_wire_reader_error(&r))
			continue;
		/* Validate against the buffers' intrinsic sizes, never a claimed size. */
		if (dk_slice_check(dk_buffer_size(in.buffer), j.offset, j.length) < 0 ||
		    dk_slice_check(dk_buffer_size(out.buffer), j.offset, j.length) < 0) {
			ret = dk_fence_signal_error(fence, j.point, -EPROTO, DK_REASON_VALIDATION);
			if (ret < 0)
				return 15;
			continue;
		}
		for (uint64_t i = j.offset; i < j.offset + j.length; i++)
			dst[i] = (uint8_t)(255 - src[i]) ^ (uint8_t)j.seed;
		if (dk_fence_signal(fence, j.point) < 0)
			return 16;
	}
	dk_buffer_unmap(in.buffer, (void *)src);
	dk_buffer_unmap(out.buffer, dst);
	dk_buffer_release(in.buffer);
	dk_buffer_release(out.buffer);
	dk_fence_unref(fence);
	dk_buffer_registry_destroy(reg);
	return 0;
}

/* ---- the client -------------------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "dk-demo: %s: %s\n", what, dk_strerror(err));
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"jobs", required_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct dk_buffer_registry *reg;
	struct dk_buffer *in, *out;
	struct dk_buffer_stats st;
	struct dk_handle hf;
	uint64_t *lat, point = 0;
	unsigned int jobs = 64, ok = 0, bad_bytes = 0;
	uint32_t reason = 0;
	uint8_t *p;
	int sv[2], c, ret, status;
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
			       "completing jobs through a timeline fence.\n");
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

	/* 1. The input image: filled, sealed read-only, passed by handle. */
	ret = dk_buffer_create(reg, NULL, IMG_BYTES, 0, &in);
	if (ret < 0)
		return fail("create input", ret);
	ret = dk_buffer_map(in, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&p);
	if (ret < 0)
		return fail("map input", ret);
	for (size_t i = 0; i < IMG_BYTES; i++)
		p[i] = input_pixel(i);
	dk_buffer_unmap(in, p);
	ret = dk_buffer_seal_readonly(in);
	if (ret < 0)
		return fail("seal input", ret);
	printf("  input  %u x %u image, %u bytes, sealed read-only (F_SEAL_WRITE)\n", IMG_W, IMG_H,
	       IMG_BYTES);

	/* 2. The output buffer, writable by the device. */
	ret = dk_buffer_create(reg, NULL, IMG_BYTES, 0, &out);
	if (ret < 0)
		return fail("create output", ret);
	ret = dk_buffer_send(sv[0], in, DK_RIGHTS_BUFFER_RO, 1);
	if (ret == 0)
		ret = dk_buffer_send(sv[0], out, DK_RIGHTS_BUFFER_RW, 2);
	if (ret < 0)
		return fail("send buffers", ret);

	/* 3. The device's completion fence, wait-only. */
	ret = dk_handle_recv(sv[0], dk_deadline_in(10 * DK_NSEC_PER_SEC), reg, NULL, &hf);
	if (ret < 0 || hf.type != DK_HANDLE_FENCE)
		return fail("receive fence", ret < 0 ? ret : -EPROTO);
	printf("  fence  %016" PRIx64 " from the device, rights wait+transfer: "
	       "signal refused here (%s)\n",
	       dk_fence_id(hf.fence), dk_strerror(dk_fence_signal(hf.fence, 1)));

	/* 4. Jobs. */
	lat = calloc(jobs, sizeof(*lat));
	if (!lat)
		return fail("calloc", -ENOMEM);
	for (unsigned int k = 0; k < jobs; k++) {
		struct job j = {.point = ++point, .offset = 0, .length = IMG_BYTES, .seed = k};
		uint64_t t0 = dk_now_ns();

		ret = dk_buffer_submit(out, hf.fence, j.point);
		if (ret < 0)
			return fail("submit (ownership)", ret);
		if (k == 0) {
			/* While the device owns it, the CPU cannot touch it. */
			ret = dk_buffer_map(out, DK_RIGHT_READ, (void **)&p);
			printf("  job 1  output handed to the device; CPU map while in flight: %s\n",
			       dk_strerror(ret));
			if (ret != -EBUSY)
				return fail("in-flight map was not refused", ret);
		}
		ret = send_job(sv[0], &j, k);
		if (ret < 0)
			return fail("send job", ret);
		ret = dk_buffer_reclaim(out, dk_deadline_in(10 * DK_NSEC_PER_SEC), &reason);
		if (ret < 0)
			return fail("job", ret);
		lat[k] = dk_now_ns() - t0;
		ret = dk_buffer_map(out, DK_RIGHT_READ, (void **)&p);
		if (ret < 0)
			return fail("map output", ret);
		for (size_t i = 0; i < IMG_BYTES; i++)
			if (p[i] != ((uint8_t)(255 - input_pixel(i)) ^ (uint8_t)k))
				bad_bytes++;
		dk_buffer_unmap(out, p);
		ok += bad_bytes == 0;
	}

	/* 5. A malformed job: the slice leaves the buffer. */
	{
		struct job j = {.point = ++point, .offset = IMG_BYTES - 16, .length = 4096};

		ret = dk_buffer_submit(out, hf.fence, j.point);
		if (ret == 0)
			ret = send_job(sv[0], &j, jobs);
		if (ret < 0)
			return fail("submit bad job", ret);
		ret = dk_buffer_reclaim(out, dk_deadline_in(10 * DK_NSEC_PER_SEC), &reason);
		printf("  job %u  slice [%" PRIu64 ", +%" PRIu64 ") outside the %u-byte buffer: "
		       "%s, reason %s; buffer back with the CPU: %s\n",
		       jobs + 1, j.offset, j.length, IMG_BYTES, dk_strerror(ret),
		       dk_reason_name(reason),
		       dk_buffer_owner(out) == DK_BUFFER_OWNER_CPU ? "yes" : "no");
		if (ret != -EPROTO || reason != DK_REASON_VALIDATION)
			return fail("bad job was not refused", ret);
	}

	close(sv[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail("device process", -EIO);

	qsort(lat, jobs, sizeof(*lat), cmp_u64);
	dk_buffer_registry_stats(reg, &st);
	printf("\n  %-34s %12s\n", "what", "value");
	printf("  %-34s %12u\n", "jobs completed and verified", ok);
	printf("  %-34s %12u\n", "bytes wrong", bad_bytes);
	printf("  %-34s %12.1f\n", "job latency p50 (us)", (double)lat[jobs / 2] / 1e3);
	printf("  %-34s %12.1f\n", "job latency p99 (us)", (double)lat[(jobs * 99) / 100] / 1e3);
	printf("  %-34s %12" PRIu64 "\n", "bytes processed by the device",
	       (uint64_t)jobs * IMG_BYTES);
	printf("  %-34s %12" PRIu64 "\n", "bytes copied (honesty counter)", st.copy_bytes);
	printf("  %-34s %12u\n", "job bytes on the control plane",
	       (jobs + 1) * (DK_FRAME_HEADER_SIZE + JOB_PAYLOAD));
	printf("  %-34s %12" PRIu64 "\n", "mappings made (cache misses)", st.map_misses);
	printf("  %-34s %12" PRIu64 "\n", "mappings reused (cache hits)", st.map_hits);
	printf("  %-34s %12s\n", "device process exit", "clean");

	dk_fence_unref(hf.fence);
	dk_buffer_release(in);
	dk_buffer_release(out);
	dk_buffer_registry_destroy(reg);
	free(lat);
	if (ok != jobs || bad_bytes) {
		fprintf(stderr, "dk-demo: FAILED: %u of %u jobs verified\n", ok, jobs);
		return 1;
	}
	printf("\nall %u jobs verified byte for byte; the image never crossed the socket.\n", jobs);
	return 0;
}
