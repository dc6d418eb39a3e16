/* SPDX-License-Identifier: MIT */
/*
 * demo.c - dkctl demo: the whole stack on the null device, with several clients, one driver
 * crash in the middle, and a summary.
 *
 *   1. a private stack starts (dk-supervisor, dk-logd, dk-policyd, dk-broker, dk-null) in a
 *      fresh runtime directory, from a default manifest and policy;
 *   2. N client processes each open null0 through the broker (policy-checked, audited),
 *      register an output fence, create a queue (Frugal, Normal, Burst in turn) and run their
 *      jobs in batches, measuring each job's latency from submit to reap;
 *   3. each client then parks one job behind an input fence it never signals; dkctl kills the
 *      null service with SIGKILL. Every parked waiter must wake with -ENODEV / driver-crashed
 *      (the supervisor's reaper), the supervisor restarts the service, and each client reopens
 *      the device under the new generation, registers again and runs more jobs;
 *   4. meanwhile M client processes open copy0, the copy engine of the emulated board
 *      (dk-hwsim, driven by dk-copy): each registers a source and a destination buffer (the
 *      driver maps them into the engine's DMA windows through the broker), runs copy and fill
 *      jobs of random sizes and offsets, and checks every byte of the destination against a
 *      model kept on the CPU after every job;
 *   5. the summary tables: jobs, latency percentiles, generations, wake-up reasons, restarts,
 *      bytes moved and checked, audit records; then the stack stops and must leave nothing
 *      behind.
 * Exit status 0 only if every check passed.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dk/dk.h>
#include <dk/log.h>

#include "dkctl.h"
#include "stack.h"
#include "supervisor-client.h"

#define DEMO_CLIENTS_MAX 16u
#define DEMO_JOBS_MAX 100000u
#define DEMO_BATCH 16u
#define AFTER_JOBS 200u
#define WAIT_NS (20 * DK_NSEC_PER_SEC)

struct demo_result {
	uint32_t index, qos;
	int32_t error; /* 0, or the first failure */
	char failed_step[48];
	uint64_t jobs_ok, jobs_after;
	uint64_t p50_ns, p99_ns, max_ns;
	uint64_t gen_before, gen_after;
	int32_t crash_error;
	uint32_t crash_reason;
	uint64_t woke_ns;   /* CLOCK_MONOTONIC when the parked wait returned */
	uint64_t reopen_ns; /* the reopen call's duration */
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int fail_at(struct demo_result *r, const char *step, int err)
{
	if (!r->error) {
		r->error = err;
		snprintf(r->failed_step, sizeof(r->failed_step), "%s", step);
	}
	return err;
}

/* Run @n NOP jobs in batches; the last job of each batch also signals @out to its count. */
static int run_jobs(struct dk_ring *ring, uint32_t out_index, uint64_t *out_point, uint32_t n,
		    uint64_t *lat)
{
	struct dk_cqe cqe;
	uint32_t done = 0;
	int err;

	while (done < n) {
		uint32_t batch = n - done < DEMO_BATCH ? n - done : DEMO_BATCH;
		uint64_t t0 = dk_now_ns();

		for (uint32_t i = 0; i < batch; i++) {
			struct dk_sqe *sqe = dk_ring_get_sqe(ring, NULL);

			if (!sqe)
				return -EAGAIN;
			sqe->opcode = DK_OP_NOP;
			sqe->user_data = done + i + 1;
			if (i == batch - 1) {
				sqe->signal.index = out_index;
				sqe->signal.point = ++*out_point;
			}
		}
		err = dk_ring_submit(ring);
		if (err < 0)
			return err;
		for (uint32_t i = 0; i < batch; i++) {
			err = dk_ring_wait_cqe(ring, &cqe, dk_now_ns() + WAIT_NS);
			if (err < 0)
				return err;
			if (cqe.status != 0 || cqe.result != cqe.user_data)
				return cqe.status ? cqe.status : -EPROTO;
			if (lat)
				lat[done + i] = dk_now_ns() - t0;
		}
		done += batch;
	}
	return 0;
}

/* Register an output fence and create a queue on @dev. */
static int setup(struct dk_device *dev, uint32_t qos, struct dk_fence **out, uint32_t *out_index,
		 struct dk_ring **ring)
{
	struct dk_ring_params p = {.sq_entries = 64, .cq_entries = 64, .qos = qos};
	uint64_t dl = dk_now_ns() + WAIT_NS;
	int err = dk_fence_create(0, out);

	if (err < 0)
		return err;
	err = dk_device_register_fence(dev, *out, DK_RIGHT_SIGNAL | DK_RIGHT_WAIT |
				       DK_RIGHT_TRANSFER, dl, out_index);
	if (err < 0)
		return err;
	return dk_device_create_queue(dev, &p, dl, ring);
}

static int client_main(const char *rt, uint32_t index, uint32_t qos, uint32_t jobs, int wfd)
{
	struct demo_result r = {.index = index, .qos = qos};
	struct dk_client *client = NULL;
	struct dk_device *dev = NULL;
	struct dk_fence *out = NULL, *gate = NULL;
	struct dk_ring *ring = NULL;
	uint32_t out_index, gate_index;
	uint64_t point = 0, ticket, *lat = calloc(jobs, sizeof(*lat)), t0;
	struct dk_sqe *sqe;
	struct dk_cqe cqe;
	int err;

	if (!lat)
		return fail_at(&r, "alloc", -ENOMEM), 1;
	err = dk_client_connect(rt, dk_now_ns() + WAIT_NS, &client);
	if (err < 0 && fail_at(&r, "connect", err))
		goto out;
	err = dk_device_open(client, "null0", dk_now_ns() + WAIT_NS, &dev);
	if (err < 0 && fail_at(&r, "open", err))
		goto out;
	r.gen_before = dk_device_generation(dev);
	err = setup(dev, qos, &out, &out_index, &ring);
	if (err < 0 && fail_at(&r, "setup", err))
		goto out;
	err = run_jobs(ring, out_index, &point, jobs, lat);
	if (err == 0)
		err = dk_fence_wait(out, point, dk_now_ns() + WAIT_NS);
	if (err < 0 && fail_at(&r, "jobs", err))
		goto out;
	r.jobs_ok = jobs;
	qsort(lat, jobs, sizeof(*lat), cmp_u64);
	r.p50_ns = lat[jobs / 2];
	r.p99_ns = lat[(jobs * 99) / 100 < jobs ? (jobs * 99) / 100 : jobs - 1];
	r.max_ns = lat[jobs - 1];

	/* Park one job behind a gate nobody will open, then tell dkctl. */
	err = dk_fence_create(0, &gate);
	if (err == 0)
		err = dk_device_register_fence(dev, gate, DK_RIGHT_WAIT | DK_RIGHT_TRANSFER,
					       dk_now_ns() + WAIT_NS, &gate_index);
	if (err < 0 && fail_at(&r, "gate", err))
		goto out;
	sqe = dk_ring_get_sqe(ring, &ticket);
	sqe->opcode = DK_OP_NOP;
	sqe->n_waits = 1;
	sqe->wait[0].index = gate_index;
	sqe->wait[0].point = 1;
	dk_ring_submit(ring);
	if (write(wfd, "P", 1) != 1 && fail_at(&r, "notify", -EPIPE))
		goto out;

	/* The service is killed now: the wait must end with the reaper's error. */
	err = dk_ring_wait_cqe(ring, &cqe, dk_now_ns() + WAIT_NS);
	r.woke_ns = dk_now_ns();
	r.crash_error = err;
	dk_fence_status(dk_ring_fence(ring), ticket, &r.crash_reason);
	if (err != -ENODEV && fail_at(&r, "crash-wake", err ? err : -EPROTO))
		goto out;

	/* Reopen under the new generation and start over: register, create, run. */
	dk_device_destroy_queue(dev, ring, dk_now_ns() + WAIT_NS);
	ring = NULL;
	dk_fence_unref(out);
	out = NULL;
	t0 = dk_now_ns();
	err = dk_device_reopen(dev, dk_now_ns() + WAIT_NS);
	r.reopen_ns = dk_now_ns() - t0;
	if (err < 0 && fail_at(&r, "reopen", err))
		goto out;
	r.gen_after = dk_device_generation(dev);
	point = 0;
	err = setup(dev, qos, &out, &out_index, &ring);
	if (err == 0)
		err = run_jobs(ring, out_index, &point, AFTER_JOBS, NULL);
	if (err < 0 && fail_at(&r, "after", err))
		goto out;
	r.jobs_after = AFTER_JOBS;
out:
	if (write(wfd, &r, sizeof(r)) != sizeof(r))
		err = -EPIPE;
	dk_fence_unref(out);
	dk_fence_unref(gate);
	dk_device_close(dev);
	dk_client_close(client);
	free(lat);
	return r.error ? 1 : 0;
}

#define COPY_BUF (4u << 20)      /* each copy client's source and destination */
#define COPY_LEN_MAX (256u << 10) /* the largest job */

struct copy_result {
	int32_t error;
	char failed_step[48];
	uint64_t jobs, copies, fills, bytes, checked, mismatches;
	uint64_t p50_ns, p99_ns;
};

static uint64_t rnd(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* One copy-engine client: random copies and fills, every destination byte checked. */
static int copy_client_main(const char *rt, uint32_t index, uint32_t jobs, int wfd)
{
	struct dk_buffer_registry_limits rl = {.max_buffer_bytes = COPY_BUF, .max_live_buffers = 2};
	struct dk_ring_params params = {.sq_entries = 16, .cq_entries = 16, .qos = DK_QOS_NORMAL};
	struct copy_result r = {0};
	struct dk_buffer_registry *reg = NULL;
	struct dk_buffer *src = NULL, *dst = NULL;
	struct dk_client *client = NULL;
	struct dk_device *dev = NULL;
	struct dk_ring *ring = NULL;
	uint8_t *ps = NULL, *pd = NULL, *model = calloc(1, COPY_BUF);
	uint64_t seed = 0x9e3779b97f4a7c15ull * (index + 1), *lat = calloc(jobs, sizeof(*lat));
	uint32_t is, id;
	int err;

#define COPY_FAIL(step, e)                                                                         \
	do {                                                                                       \
		r.error = (e);                                                                     \
		snprintf(r.failed_step, sizeof(r.failed_step), "%s", step);                        \
		goto out;                                                                          \
	} while (0)
	if (!model || !lat)
		COPY_FAIL("alloc", -ENOMEM);
	err = dk_buffer_registry_create(&rl, &reg);
	if (err == 0)
		err = dk_buffer_create(reg, NULL, COPY_BUF, 0, &src);
	if (err == 0)
		err = dk_buffer_create(reg, NULL, COPY_BUF, 0, &dst);
	if (err == 0)
		err = dk_buffer_map(src, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&ps);
	if (err == 0)
		err = dk_buffer_map(dst, DK_RIGHT_READ | DK_RIGHT_WRITE, (void **)&pd);
	if (err < 0)
		COPY_FAIL("buffers", err);
	for (uint32_t i = 0; i < COPY_BUF; i++)
		ps[i] = (uint8_t)rnd(&seed);
	err = dk_client_connect(rt, dk_now_ns() + WAIT_NS, &client);
	if (err == 0)
		err = dk_device_open(client, "copy0", dk_now_ns() + WAIT_NS, &dev);
	if (err < 0)
		COPY_FAIL("open copy0", err);
	err = dk_device_register_buffer(dev, src, DK_RIGHTS_BUFFER_RW, dk_now_ns() + WAIT_NS, &is);
	if (err == 0)
		err = dk_device_register_buffer(dev, dst, DK_RIGHTS_BUFFER_RW,
						dk_now_ns() + WAIT_NS, &id);
	if (err == 0)
		err = dk_device_create_queue(dev, &params, dk_now_ns() + WAIT_NS, &ring);
	if (err < 0)
		COPY_FAIL("register", err);
	for (uint32_t k = 0; k < jobs; k++) {
		uint64_t len = 1 + rnd(&seed) % COPY_LEN_MAX, t0;
		uint64_t so = rnd(&seed) % (COPY_BUF - len + 1), dof = rnd(&seed) % (COPY_BUF - len + 1);
		bool fill = rnd(&seed) % 4 == 0;
		uint8_t byte = (uint8_t)rnd(&seed);
		struct dk_sqe *sqe = dk_ring_get_sqe(ring, NULL);
		struct dk_cqe cqe;

		if (!sqe)
			COPY_FAIL("queue full", -EAGAIN);
		sqe->opcode = fill ? 2 : 1; /* the copy class: COPY 1, FILL 2 (docs/devices/copy.md) */
		sqe->user_data = k;
		if (fill) {
			sqe->n_buffers = 1;
			sqe->param = byte;
			sqe->buf[0] = (struct dk_sqe_buffer){id, DK_RIGHT_WRITE, dof, len};
		} else {
			sqe->n_buffers = 2;
			sqe->buf[0] = (struct dk_sqe_buffer){is, DK_RIGHT_READ, so, len};
			sqe->buf[1] = (struct dk_sqe_buffer){id, DK_RIGHT_WRITE, dof, len};
		}
		t0 = dk_now_ns();
		dk_ring_submit(ring);
		err = dk_ring_wait_cqe(ring, &cqe, dk_now_ns() + WAIT_NS);
		lat[k] = dk_now_ns() - t0;
		if (err < 0)
			COPY_FAIL("wait", err);
		if (cqe.status != 0 || cqe.result != len)
			COPY_FAIL("job", cqe.status ? cqe.status : -EPROTO);
		if (fill)
			memset(model + dof, byte, len);
		else
			memcpy(model + dof, ps + so, len);
		/* Every byte the job may have touched, and a page either side. */
		{
			uint64_t lo = dof > 4096 ? dof - 4096 : 0;
			uint64_t hi = dof + len + 4096 < COPY_BUF ? dof + len + 4096 : COPY_BUF;

			for (uint64_t i = lo; i < hi; i++)
				r.mismatches += pd[i] != model[i];
			r.checked += hi - lo;
		}
		r.jobs++;
		r.bytes += len;
		if (fill)
			r.fills++;
		else
			r.copies++;
	}
	for (uint32_t i = 0; i < COPY_BUF; i++) /* and the whole destination at the end */
		r.mismatches += pd[i] != model[i];
	r.checked += COPY_BUF;
	if (r.mismatches)
		COPY_FAIL("bytes differ", -EIO);
	qsort(lat, jobs, sizeof(*lat), cmp_u64);
	r.p50_ns = lat[jobs / 2];
	r.p99_ns = lat[(jobs * 99) / 100 < jobs ? (jobs * 99) / 100 : jobs - 1];
#undef COPY_FAIL
out:
	if (write(wfd, &r, sizeof(r)) != sizeof(r))
		r.error = -EPIPE;
	dk_device_close(dev);
	dk_client_close(client);
	if (src && ps)
		dk_buffer_unmap(src, ps);
	if (dst && pd)
		dk_buffer_unmap(dst, pd);
	if (src)
		dk_buffer_release(src);
	if (dst)
		dk_buffer_release(dst);
	dk_buffer_registry_destroy(reg);
	free(model);
	free(lat);
	return r.error ? 1 : 0;
}

/* Read exactly @len bytes from @fd before @deadline_ns. */
static int read_full(int fd, void *buf, size_t len, uint64_t deadline_ns)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n;
		int err = dk_socket_wait(fd, POLLIN, deadline_ns);

		if (err < 0)
			return err;
		n = read(fd, (char *)buf + got, len - got);
		if (n == 0)
			return -EPIPE;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	return 0;
}

static const struct dk_service_status *find_service(const struct dk_service_status *s,
						    uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return &s[i];
	return NULL;
}

/* Audit records and crash reports in the journal. */
static int count_journal(const char *rt, uint64_t *ret_audit, uint64_t *ret_crash)
{
	struct dk_log_record *recs = calloc(DK_LOGD_QUERY_PAGE_MAX, sizeof(*recs));
	struct dk_log_query q = {.seq_min = 1};
	struct dk_log_client *c = NULL;
	char path[DK_RT_PATH_MAX];
	uint64_t next = 1;
	int err, n;

	*ret_audit = *ret_crash = 0;
	if (!recs)
		return -ENOMEM;
	err = dk_runtime_path(rt, DK_RT_LOGD_SOCKET, path, sizeof(path));
	if (err == 0)
		err = dk_log_connect(path, "dkctl", dk_now_ns() + WAIT_NS, &c);
	while (err == 0 && next) {
		q.seq_min = next;
		n = dk_log_query(c, &q, recs, DK_LOGD_QUERY_PAGE_MAX, dk_now_ns() + WAIT_NS, &next);
		if (n < 0) {
			err = n;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (recs[i].severity == DK_LOG_AUDIT)
				(*ret_audit)++;
			if (strcmp(recs[i].scope, "supervisor.crash") == 0)
				(*ret_crash)++;
		}
	}
	dk_log_close(c);
	free(recs);
	return err;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: dkctl demo [--clients N] [--jobs N] [--copy-clients N] [--copy-jobs N]\n"
		"                  [--json]\n"
		"\n"
		"Start a private stack on the emulated null device, run N clients (default 3) of\n"
		"--jobs jobs each (default 2000), kill the null service once under load, check that\n"
		"every waiter woke with driver-crashed and every client reopened under the new\n"
		"generation; meanwhile run --copy-clients clients (default 2) of --copy-jobs random\n"
		"copies and fills (default 300) on the copy engine of the emulated board, checking\n"
		"every byte; print a summary and stop the stack. Exit 0 only if every check passed.\n");
}

static const char *qos_of(uint32_t i)
{
	return dk_qos_name(DK_QOS_FRUGAL + i % 3);
}

int dkctl_demo_run(int argc, char **argv);

int dkctl_demo_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{"clients", required_argument, NULL, 'c'},
		{"jobs", required_argument, NULL, 'j'},
		{"copy-clients", required_argument, NULL, 'C'},
		{"copy-jobs", required_argument, NULL, 'K'},
		{"json", no_argument, NULL, 'J'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct dk_stack st = {0};
	struct demo_result res[DEMO_CLIENTS_MAX] = {0};
	struct dk_service_status svc[DK_SUPD_SERVICES_MAX];
	const struct dk_service_status *null_svc;
	int rfd[DEMO_CLIENTS_MAX], opt, err, status, failures = 0;
	pid_t pids[DEMO_CLIENTS_MAX];
	struct copy_result cres[DEMO_CLIENTS_MAX] = {0};
	int crfd[DEMO_CLIENTS_MAX];
	pid_t cpids[DEMO_CLIENTS_MAX];
	uint64_t copy_clients = 2, copy_jobs = 300;
	uint64_t clients = 3, jobs = 2000, v, t_kill = 0, woke_max = 0, uptime, gen_before = 0;
	uint64_t audit = 0, crash_reports = 0, ready_ns = 0, restarts = 0;
	char sock[DK_RT_PATH_MAX];
	uint32_t n_svc = 0;
	bool json = false;
	struct stat sb;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (dkctl_parse_u64(optarg, 1, DEMO_CLIENTS_MAX, &v) < 0)
				return dkctl_usage_error("demo", "--clients: 1..%u",
							 DEMO_CLIENTS_MAX);
			clients = v;
			break;
		case 'j':
			if (dkctl_parse_u64(optarg, DEMO_BATCH, DEMO_JOBS_MAX, &v) < 0)
				return dkctl_usage_error("demo", "--jobs: %u..%u", DEMO_BATCH,
							 DEMO_JOBS_MAX);
			jobs = v;
			break;
		case 'C':
			if (dkctl_parse_u64(optarg, 0, DEMO_CLIENTS_MAX, &v) < 0)
				return dkctl_usage_error("demo", "--copy-clients: 0..%u",
							 DEMO_CLIENTS_MAX);
			copy_clients = v;
			break;
		case 'K':
			if (dkctl_parse_u64(optarg, 1, DEMO_JOBS_MAX, &v) < 0)
				return dkctl_usage_error("demo", "--copy-jobs: 1..%u", DEMO_JOBS_MAX);
			copy_jobs = v;
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return DKCTL_EXIT_OK;
		default:
			return dkctl_usage_error("demo", "unknown option");
		}
	}
	if (optind != argc)
		return dkctl_usage_error("demo", "unexpected argument '%s'", argv[optind]);

	err = dk_stack_start_private(&st, "/tmp/dkctl-demo-XXXXXX", DK_STACK_COPY,
				     dk_now_ns() + WAIT_NS);
	if (err < 0)
		return dkctl_fail("starting the stack", err);
	if (!json)
		printf("stack up in %s; %" PRIu64 " clients x %" PRIu64 " jobs on null0, %" PRIu64
		       " clients x %" PRIu64 " jobs on copy0\n",
		       st.runtime_dir, clients, jobs, copy_clients, copy_jobs);
	fflush(stdout);

	for (uint32_t i = 0; i < clients; i++) {
		int p[2];

		if (pipe(p) < 0) {
			err = -errno;
			break;
		}
		pids[i] = fork();
		if (pids[i] == 0) {
			close(p[0]);
			_exit(client_main(st.runtime_dir, i, DK_QOS_FRUGAL + i % 3, (uint32_t)jobs,
					  p[1]));
		}
		close(p[1]);
		rfd[i] = p[0];
	}
	for (uint32_t i = 0; i < copy_clients; i++) {
		int p[2];

		if (pipe(p) < 0) {
			err = -errno;
			break;
		}
		cpids[i] = fork();
		if (cpids[i] == 0) {
			close(p[0]);
			_exit(copy_client_main(st.runtime_dir, i, (uint32_t)copy_jobs, p[1]));
		}
		close(p[1]);
		crfd[i] = p[0];
	}
	/* Every client parked its gate job: kill the driver under them. */
	for (uint32_t i = 0; i < clients; i++) {
		char c;

		if (read_full(rfd[i], &c, 1, dk_now_ns() + 10 * WAIT_NS) < 0)
			failures++;
	}
	dk_runtime_path(st.runtime_dir, DK_RT_SUPERVISOR_SOCKET, sock, sizeof(sock));
	err = dk_supd_status(sock, dk_now_ns() + WAIT_NS, svc, DK_SUPD_SERVICES_MAX, &n_svc,
			     &uptime);
	null_svc = err == 0 ? find_service(svc, n_svc, "null") : NULL;
	if (null_svc && null_svc->pid) {
		gen_before = null_svc->generation;
		t_kill = dk_now_ns();
		kill((pid_t)null_svc->pid, SIGKILL);
	} else {
		failures++;
	}
	for (uint32_t i = 0; i < clients; i++) {
		if (read_full(rfd[i], &res[i], sizeof(res[i]), dk_now_ns() + 10 * WAIT_NS) < 0) {
			res[i].error = -EPIPE;
			snprintf(res[i].failed_step, sizeof(res[i].failed_step), "no result");
		}
		close(rfd[i]);
		waitpid(pids[i], &status, 0);
		if (res[i].error || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failures++;
		if (res[i].woke_ns > woke_max)
			woke_max = res[i].woke_ns;
		if (res[i].crash_reason != DK_REASON_DRIVER_CRASHED ||
		    res[i].gen_after <= res[i].gen_before)
			failures += res[i].error ? 0 : 1;
	}
	for (uint32_t i = 0; i < copy_clients; i++) {
		if (read_full(crfd[i], &cres[i], sizeof(cres[i]), dk_now_ns() + 10 * WAIT_NS) < 0) {
			cres[i].error = -EPIPE;
			snprintf(cres[i].failed_step, sizeof(cres[i].failed_step), "no result");
		}
		close(crfd[i]);
		waitpid(cpids[i], &status, 0);
		if (cres[i].error || cres[i].mismatches || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			failures++;
	}
	err = dk_supd_status(sock, dk_now_ns() + WAIT_NS, svc, DK_SUPD_SERVICES_MAX, &n_svc,
			     &uptime);
	null_svc = err == 0 ? find_service(svc, n_svc, "null") : NULL;
	if (null_svc) {
		restarts = null_svc->restarts;
		ready_ns = null_svc->last_ready_ns;
		if (null_svc->generation <= gen_before || restarts < 1)
			failures++;
	} else {
		failures++;
	}
	if (count_journal(st.runtime_dir, &audit, &crash_reports) < 0 || crash_reports < 1)
		failures++;

	if (dk_stack_stop(&st, dk_now_ns() + WAIT_NS, &status) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		failures++;
	if (stat(st.runtime_dir, &sb) == 0)
		failures++; /* the stack must leave nothing behind */

	if (json) {
		for (uint32_t i = 0; i < clients; i++)
			printf("{\"client\":%u,\"qos\":\"%s\",\"jobs\":%" PRIu64
			       ",\"jobs_after_restart\":%" PRIu64 ",\"p50_ns\":%" PRIu64
			       ",\"p99_ns\":%" PRIu64 ",\"max_ns\":%" PRIu64
			       ",\"generation_before\":%" PRIu64 ",\"generation_after\":%" PRIu64
			       ",\"crash_wake\":\"%s\",\"crash_reason\":\"%s\",\"reopen_ns\":%" PRIu64
			       ",\"error\":\"%s\",\"failed_step\":\"%s\"}\n",
			       i, qos_of(i), res[i].jobs_ok, res[i].jobs_after, res[i].p50_ns,
			       res[i].p99_ns, res[i].max_ns, res[i].gen_before, res[i].gen_after,
			       dk_strerror(res[i].crash_error), dk_reason_name(res[i].crash_reason),
			       res[i].reopen_ns, res[i].error ? dk_strerror(res[i].error) : "",
			       res[i].failed_step);
		for (uint32_t i = 0; i < copy_clients; i++)
			printf("{\"copy_client\":%u,\"jobs\":%" PRIu64 ",\"copies\":%" PRIu64
			       ",\"fills\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"bytes_checked\":%" PRIu64
			       ",\"mismatches\":%" PRIu64 ",\"p50_ns\":%" PRIu64 ",\"p99_ns\":%" PRIu64
			       ",\"error\":\"%s\",\"failed_step\":\"%s\"}\n",
			       i, cres[i].jobs, cres[i].copies, cres[i].fills, cres[i].bytes,
			       cres[i].checked, cres[i].mismatches, cres[i].p50_ns, cres[i].p99_ns,
			       cres[i].error ? dk_strerror(cres[i].error) : "", cres[i].failed_step);
		printf("{\"summary\":true,\"clients\":%" PRIu64 ",\"restarts\":%" PRIu64
		       ",\"restart_to_ready_ns\":%" PRIu64 ",\"death_to_all_woken_ns\":%" PRIu64
		       ",\"audit_records\":%" PRIu64 ",\"crash_reports\":%" PRIu64
		       ",\"failures\":%d,\"pass\":%s}\n",
		       clients, restarts, ready_ns, woke_max > t_kill ? woke_max - t_kill : 0, audit,
		       crash_reports, failures, failures ? "false" : "true");
		return failures ? DKCTL_EXIT_FAIL : DKCTL_EXIT_OK;
	}
	printf("\n%-6s %-7s %7s %10s %10s %10s %5s %5s %-22s %7s\n", "client", "qos", "jobs",
	       "p50 us", "p99 us", "max us", "gen", "gen'", "crash wake-up", "after");
	for (uint32_t i = 0; i < clients; i++) {
		char wake[48];

		snprintf(wake, sizeof(wake), "%s/%s",
			 res[i].crash_error == -ENODEV ? "ENODEV" : dk_strerror(res[i].crash_error),
			 dk_reason_name(res[i].crash_reason));
		printf("%-6u %-7s %7" PRIu64 " %10.1f %10.1f %10.1f %5" PRIu64 " %5" PRIu64
		       " %-22s %7" PRIu64 "\n",
		       i, qos_of(i), res[i].jobs_ok, res[i].p50_ns / 1e3, res[i].p99_ns / 1e3,
		       res[i].max_ns / 1e3, res[i].gen_before, res[i].gen_after, wake,
		       res[i].jobs_after);
		if (res[i].error)
			printf("       client %u failed at %s: %s\n", i, res[i].failed_step,
			       dk_strerror(res[i].error));
	}
	if (copy_clients) {
		printf("\n%-6s %7s %7s %7s %12s %14s %10s %10s %10s\n", "copy", "jobs", "copies",
		       "fills", "bytes", "bytes checked", "mismatch", "p50 us", "p99 us");
		for (uint32_t i = 0; i < copy_clients; i++) {
			printf("%-6u %7" PRIu64 " %7" PRIu64 " %7" PRIu64 " %12" PRIu64 " %14" PRIu64
			       " %10" PRIu64 " %10.1f %10.1f\n",
			       i, cres[i].jobs, cres[i].copies, cres[i].fills, cres[i].bytes,
			       cres[i].checked, cres[i].mismatches, cres[i].p50_ns / 1e3,
			       cres[i].p99_ns / 1e3);
			if (cres[i].error)
				printf("       copy client %u failed at %s: %s\n", i,
				       cres[i].failed_step, dk_strerror(cres[i].error));
		}
	}
	printf("\nnull service: SIGKILL under load, restarted %" PRIu64 " time(s); restart to ready"
	       " %.2f ms; death to every waiter woken %.2f ms\n",
	       restarts, ready_ns / 1e6, woke_max > t_kill ? (woke_max - t_kill) / 1e6 : 0.0);
	printf("journal: %" PRIu64 " audit records, %" PRIu64 " crash report(s)\n", audit,
	       crash_reports);
	printf("stack stopped; runtime directory removed: %s\n",
	       stat(st.runtime_dir, &sb) == 0 ? "NO" : "yes");
	printf("%s\n", failures ? "demo: FAILED" : "demo: every check passed");
	return failures ? DKCTL_EXIT_FAIL : DKCTL_EXIT_OK;
}

const struct dkctl_command dkctl_demo_command = {
	.name = "demo",
	.summary = "run a private stack, clients and a driver crash; print a summary",
	.run = dkctl_demo_run,
	.usage = usage,
};
