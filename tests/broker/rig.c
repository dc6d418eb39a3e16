/* SPDX-License-Identifier: MIT */
/*
 * rig.c - the broker tests' harness (rig.h): the daemons as processes, the supervisor's and a
 * device service's side of the broker, a raw client, and journal queries.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"

#include <dk/error.h>
#include <dk/socket.h>
#include <dk/wire.h>

#include "broker-client.h"
#include "rig.h"

/* @UID@ stands for the test's uid. */
static const char policy_fmt[] =
	"[rule svc-null]\n"
	"service = dk-null\n"
	"class = null\n"
	"rights = read, write, map, wait, signal\n"
	"qos = normal\n"
	"max_bytes = 16M\n"
	"max_buffers = 8\n"
	"max_inflight = 4\n"
	"max_fences = 8\n"
	"\n"
	"[rule svc-gpu]\n"
	"service = dk-null\n"
	"class = gpu\n"
	"rights = read\n"
	"qos = normal\n"
	"max_bytes = 4K\n"
	"max_buffers = 1\n"
	"max_inflight = 1\n"
	"max_fences = 1\n"
	"\n"
	"[rule me-null]\n"
	"uid = @UID@\n"
	"class = null\n"
	"rights = read, map, wait\n"
	"qos = frugal\n"
	"max_bytes = 1M\n"
	"max_buffers = 2\n"
	"max_inflight = 1\n"
	"max_fences = 3\n"
	"\n"
	"[rule me-ghost]\n"
	"uid = @UID@\n"
	"device = ghost0\n"
	"rights = read\n"
	"qos = frugal\n"
	"max_bytes = 4K\n"
	"max_buffers = 1\n"
	"max_inflight = 1\n"
	"max_fences = 1\n"
	"\n"
	"[rule me-not-secret]\n"
	"uid = @UID@\n"
	"device = secret0\n"
	"effect = deny\n"
	"\n"
	"[rule me-strict]\n"
	"uid = @UID@\n"
	"device = strict0\n"
	"rights = read\n"
	"qos = frugal\n"
	"max_bytes = 4K\n"
	"max_buffers = 1\n"
	"max_inflight = 1\n"
	"max_fences = 1\n"
	"max_violations = 2\n"
	"\n"
	"[rule me-never-killed]\n"
	"uid = @UID@\n"
	"device = lenient0\n"
	"rights = read\n"
	"qos = frugal\n"
	"max_bytes = 4K\n"
	"max_buffers = 1\n"
	"max_inflight = 1\n"
	"max_fences = 1\n"
	"max_violations = 0\n";

static uint64_t next_seq = 100;

/* ---- processes ---- */

static void write_policy(const char *path)
{
	FILE *f = fopen(path, "w");
	const char *at = policy_fmt, *hit;

	assert_non_null(f);
	while ((hit = strstr(at, "@UID@"))) {
		assert_int_equal(fwrite(at, 1, (size_t)(hit - at), f), (size_t)(hit - at));
		assert_true(fprintf(f, "%u", (unsigned)getuid()) > 0);
		at = hit + 5;
	}
	assert_true(fputs(at, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* fork+exec @argv with fd 3 a pipe and stderr to @errlog; wait for the READY line. */
pid_t spawn_ready(char **argv, const char *errlog)
{
	struct pollfd pfd;
	char ready[16] = "";
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int efd = errlog ? open(errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)
				 : 2;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (dup2(p[1], 3) < 0 || efd < 0 || dup2(efd, 2) < 0)
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 30000), 1);
	assert_true(read(p[0], ready, sizeof(ready) - 1) > 0);
	assert_memory_equal(ready, "READY\n", 6);
	close(p[0]);
	return pid;
}

void rig_init(struct rig *R)
{
	memset(R, 0, sizeof(*R));
	R->ctl = -1;
	if (!getenv("DK_BROKER") || !getenv("DK_POLICYD") || !getenv("DK_LOGD"))
		skip();
	strcpy(R->dir, "/tmp/dk-broker-test-XXXXXX");
	assert_non_null(mkdtemp(R->dir));
	snprintf(R->logd_sock, sizeof(R->logd_sock), "%s/" DK_RT_LOGD_SOCKET, R->dir);
	snprintf(R->jdir, sizeof(R->jdir), "%s/" DK_RT_JOURNAL_DIR, R->dir);
	snprintf(R->policyd_sock, sizeof(R->policyd_sock), "%s/" DK_RT_POLICYD_SOCKET, R->dir);
	snprintf(R->broker_sock, sizeof(R->broker_sock), "%s/" DK_RT_BROKER_SOCKET, R->dir);
	snprintf(R->policy, sizeof(R->policy), "%s/policy.ini", R->dir);
	snprintf(R->errlog, sizeof(R->errlog), "%s/stderr.log", R->dir);
	write_policy(R->policy);
}

void start_logd(struct rig *R)
{
	char *argv[] = {getenv("DK_LOGD"), "--socket", R->logd_sock, "--dir", R->jdir,
			"--ready-fd", "3", NULL};

	R->logd = spawn_ready(argv, R->errlog);
}

void start_policyd(struct rig *R)
{
	char *argv[] = {getenv("DK_POLICYD"), "--socket", R->policyd_sock, "--policy", R->policy,
			"--logd", R->logd_sock, "--ready-fd", "3", NULL};

	R->policyd = spawn_ready(argv, R->errlog);
}

/*
 * Start dk-broker with the control socket as fd 3: named by --control-fd, or (@via_env) by
 * $DK_SUPERVISOR_FD as the supervisor does it. Returns once READY arrived on it.
 */
void start_broker(struct rig *R, bool via_env, const char *extra1, const char *extra2)
{
	struct dk_msg *m = malloc(sizeof(*m));
	int sv[2];

	assert_non_null(m);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	R->broker = fork();
	assert_true(R->broker >= 0);
	if (R->broker == 0) {
		int efd = open(R->errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		char *argv[12];
		int n = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (efd < 0 || dup2(efd, 2) < 0 || dup2(sv[1], 3) < 0)
			_exit(127);
		argv[n++] = getenv("DK_BROKER");
		argv[n++] = "--runtime-dir";
		argv[n++] = R->dir;
		if (via_env)
			setenv(DK_ENV_SUPERVISOR_FD, "3", 1);
		else {
			unsetenv(DK_ENV_SUPERVISOR_FD);
			argv[n++] = "--control-fd";
			argv[n++] = "3";
		}
		if (extra1)
			argv[n++] = (char *)extra1;
		if (extra2)
			argv[n++] = (char *)extra2;
		argv[n] = NULL;
		execv(argv[0], argv);
		_exit(127);
	}
	close(sv[1]);
	R->ctl = sv[0];
	assert_int_equal(dk_msg_recv(R->ctl, &dk_supctl_proto, DEADLINE(), m, NULL), 0);
	assert_int_equal(m->frame.opcode, DK_SUPCTL_OP_READY);
	assert_int_equal(m->n_fds, 0);
	free(m);
}

/* The whole stack, the broker under our control socket. */
void rig_start(struct rig *R, const char *extra1, const char *extra2)
{
	rig_init(R);
	start_logd(R);
	start_policyd(R);
	start_broker(R, false, extra1, extra2);
}

/* SIGTERM everything: each exits 0 and removes its socket. */
void rig_stop(struct rig *R)
{
	if (R->broker)
		dk_test_stop_daemon(R->broker, R->broker_sock);
	if (R->ctl >= 0)
		close(R->ctl);
	if (R->policyd)
		dk_test_stop_daemon(R->policyd, R->policyd_sock);
	if (R->logd)
		dk_test_stop_daemon(R->logd, R->logd_sock);
	dk_test_remove_tree(R->dir);
}

/* ---- the supervisor's side ---- */

/* ATTACH @device of @cls driven by @service; returns our end of the service's channel. */
int attach(struct rig *R, const char *service, const char *device, const char *cls,
		  uint64_t generation)
{
	uint8_t p[16 + 3 * (2 + DK_RT_NAME_MAX)];
	struct dk_wire_writer w;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, generation);
	dk_wire_put_u32(&w, 4000 + (uint32_t)generation);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, service);
	dk_wire_put_string(&w, device);
	dk_wire_put_string(&w, cls);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_msg_send(R->ctl, &dk_supctl_proto, DK_SUPCTL_OP_ATTACH, 0, 0, p,
				     dk_wire_writer_len(&w), &sv[1], 1, DEADLINE()),
			 0);
	close(sv[1]);
	return sv[0];
}

void detach(struct rig *R, const char *device, uint64_t generation, uint32_t state)
{
	uint8_t p[16 + 2 + DK_RT_NAME_MAX];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, generation);
	dk_wire_put_u32(&w, state);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, device);
	assert_int_equal(dk_msg_send(R->ctl, &dk_supctl_proto, DK_SUPCTL_OP_DETACH, 0, 0, p,
				     dk_wire_writer_len(&w), NULL, 0, DEADLINE()),
			 0);
}

/* Wait until the broker closed our channel @chan (an ATTACH it refused). */
void assert_channel_closed(int chan)
{
	struct dk_msg *m = malloc(sizeof(*m));

	assert_non_null(m);
	assert_int_equal(dk_msg_recv(chan, &dk_devctl_proto, DEADLINE(), m, NULL), -EPIPE);
	free(m);
	close(chan);
}

int hwsim_attach(struct rig *R, uint64_t generation)
{
	uint8_t p[16];
	struct dk_wire_writer w;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, generation);
	dk_wire_put_u32(&w, 5000 + (uint32_t)generation);
	dk_wire_put_u32(&w, 0);
	assert_int_equal(dk_msg_send(R->ctl, &dk_supctl_proto, DK_SUPCTL_OP_HWSIM_ATTACH, 0,
				     generation, p, sizeof(p), &sv[1], 1, DEADLINE()),
			 0);
	close(sv[1]);
	return sv[0];
}

/* ---- dk-hwsim's side ---- */

void hwsim_take(int hw, uint16_t opcode, struct hwsim_req *q)
{
	struct dk_msg *m = malloc(sizeof(*m));
	struct dk_wire_reader r;

	assert_non_null(m);
	memset(q, 0, sizeof(*q));
	q->fd = -1;
	assert_int_equal(dk_msg_recv(hw, &dk_hwsim_proto, DEADLINE(), m, NULL), 0);
	assert_int_equal(m->frame.opcode, opcode);
	assert_int_equal(m->frame.flags & (DK_FRAME_F_REPLY | DK_FRAME_F_ERROR), 0);
	q->opcode = opcode;
	q->seq = m->frame.seq;
	dk_wire_reader_init(&r, m->frame.payload, m->frame.length);
	dk_wire_get_string(&r, q->device, sizeof(q->device));
	switch (opcode) {
	case DK_HWSIM_OP_MAP:
		q->a = dk_wire_get_u32(&r);
		q->b = dk_wire_get_u32(&r);
		q->x = dk_wire_get_u64(&r);
		q->y = dk_wire_get_u64(&r);
		assert_int_equal(m->n_fds, 1);
		q->fd = m->fds[0];
		break;
	case DK_HWSIM_OP_UNMAP:
		q->x = dk_wire_get_u64(&r);
		break;
	case DK_HWSIM_OP_INJECT:
		q->a = dk_wire_get_u32(&r);
		q->b = dk_wire_get_u32(&r);
		break;
	default:
		break;
	}
	if (opcode != DK_HWSIM_OP_MAP)
		assert_int_equal(m->n_fds, 0);
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	free(m);
}

void hwsim_grant(int hw, const struct hwsim_req *q, uint32_t regs_size, const char *model,
		 struct hwsim_res *ret)
{
	uint8_t p[8 + 2 + DK_RT_HWSIM_MODEL_MAX];
	struct dk_wire_writer w;
	int fds[3];

	assert_int_equal(q->opcode, DK_HWSIM_OP_GRANT);
	fds[0] = memfd_create("regs", MFD_CLOEXEC);
	assert_true(fds[0] >= 0);
	assert_int_equal(ftruncate(fds[0], regs_size), 0);
	fds[1] = eventfd(0, EFD_CLOEXEC);
	fds[2] = eventfd(0, EFD_CLOEXEC);
	assert_true(fds[1] >= 0 && fds[2] >= 0);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, regs_size);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_string(&w, model);
	assert_int_equal(dk_wire_writer_error(&w), 0);
	assert_int_equal(dk_msg_send(hw, &dk_hwsim_reply_proto, DK_HWSIM_OP_GRANT,
				     DK_FRAME_F_REPLY, q->seq, p, dk_wire_writer_len(&w), fds, 3,
				     DEADLINE()),
			 0);
	if (ret) {
		ret->regs = fds[0];
		ret->doorbell = fds[1];
		ret->irq = fds[2];
	} else {
		for (int i = 0; i < 3; i++)
			close(fds[i]);
	}
}

void hwsim_answer(int hw, const struct hwsim_req *q, int err, uint32_t reason, const void *p,
		  size_t len)
{
	if (err == 0)
		assert_int_equal(dk_msg_send(hw, &dk_hwsim_reply_proto, q->opcode,
					     DK_FRAME_F_REPLY, q->seq, p, len, NULL, 0,
					     DEADLINE()),
				 0);
	else
		assert_int_equal(dk_msg_reply_error(hw, &dk_hwsim_reply_proto, q->opcode, q->seq,
						    err, reason),
				 0);
}

void hwsim_answer_iova(int hw, const struct hwsim_req *q, uint64_t iova)
{
	uint8_t p[8];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, iova);
	hwsim_answer(hw, q, 0, DK_REASON_NONE, p, sizeof(p));
}

void hwsim_quiet(int hw)
{
	struct pollfd pfd = {.fd = hw, .events = POLLIN};

	assert_int_equal(poll(&pfd, 1, 0), 0);
}

/* ---- the device service's side ---- */

void service_take(int chan, struct session_req *s)
{
	struct dk_msg *m = malloc(sizeof(*m));
	struct dk_wire_reader r;

	assert_non_null(m);
	assert_int_equal(dk_msg_recv(chan, &dk_devctl_proto, DEADLINE(), m, NULL), 0);
	assert_int_equal(m->frame.opcode, DK_DEVCTL_OP_SESSION);
	assert_int_equal(m->frame.flags, DK_FRAME_F_FDS);
	assert_int_equal(m->n_fds, 1);
	assert_int_equal(m->frame.length, DK_DEVCTL_SESSION_PAYLOAD_KILL);
	dk_wire_reader_init(&r, m->frame.payload, m->frame.length);
	s->seq = m->frame.seq;
	s->id = dk_wire_get_u64(&r);
	s->pid = dk_wire_get_u32(&r);
	s->uid = dk_wire_get_u32(&r);
	s->gid = dk_wire_get_u32(&r);
	s->rights = dk_wire_get_u32(&r);
	s->qos = dk_wire_get_u32(&r);
	s->max_buffers = dk_wire_get_u32(&r);
	s->max_bytes = dk_wire_get_u64(&r);
	s->max_inflight = dk_wire_get_u32(&r);
	s->max_fences = dk_wire_get_u32(&r);
	s->max_violations = dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_get_u32(&r), 0); /* reserved */
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	s->fd = m->fds[0];
	free(m);
}

void service_answer(int chan, const struct session_req *s, int err)
{
	if (err == 0)
		assert_int_equal(dk_msg_send(chan, &dk_devctl_reply_proto, DK_DEVCTL_OP_SESSION,
					     DK_FRAME_F_REPLY, s->seq, NULL, 0, NULL, 0,
					     DEADLINE()),
				 0);
	else
		assert_int_equal(dk_msg_reply_error(chan, &dk_devctl_reply_proto,
						    DK_DEVCTL_OP_SESSION, s->seq, err,
						    DK_REASON_NONE),
				 0);
}

void service_end(int chan, uint64_t session_id)
{
	uint8_t p[8];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, session_id);
	assert_int_equal(dk_msg_send(chan, &dk_devctl_proto, DK_DEVCTL_OP_SESSION_END, 0, 0, p,
				     sizeof(p), NULL, 0, DEADLINE()),
			 0);
}

void service_take_grant(int chan, struct grant *g)
{
	struct dk_msg *m = malloc(sizeof(*m));
	struct dk_wire_reader r;

	assert_non_null(m);
	assert_int_equal(dk_msg_recv(chan, &dk_devctl_proto, DEADLINE(), m, NULL), 0);
	assert_int_equal(m->frame.opcode, DK_DEVCTL_OP_GRANT);
	assert_int_equal(m->frame.flags, DK_FRAME_F_FDS);
	assert_int_equal(m->n_fds, 4);
	dk_wire_reader_init(&r, m->frame.payload, m->frame.length);
	g->regs_size = dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_get_u32(&r), 0);
	dk_wire_get_string(&r, g->model, sizeof(g->model));
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	g->regs = m->fds[0];
	g->doorbell = m->fds[1];
	g->irq = m->fds[2];
	g->dma = m->fds[3];
	free(m);
}

int attach_granted(struct rig *R, int hw, const char *device, uint64_t generation,
		   struct grant *g)
{
	struct hwsim_req q;
	int chan = attach(R, "dk-null", device, "null", generation);

	hwsim_take(hw, DK_HWSIM_OP_GRANT, &q);
	assert_string_equal(q.device, device);
	hwsim_grant(hw, &q, 4096, "copy", NULL);
	service_take_grant(chan, g);
	assert_int_equal(g->regs_size, 4096);
	assert_string_equal(g->model, "copy");
	return chan;
}

uint64_t dma_map_send(int dma, uint32_t access, uint64_t offset, uint64_t length, int fd)
{
	uint64_t seq = ++next_seq;
	uint8_t p[24];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, access);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_u64(&w, offset);
	dk_wire_put_u64(&w, length);
	assert_int_equal(dk_msg_send(dma, &dk_dma_proto, DK_DMA_OP_MAP, 0, seq, p, sizeof(p),
				     fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, DEADLINE()),
			 0);
	return seq;
}

uint64_t dma_unmap_send(int dma, uint64_t iova)
{
	uint64_t seq = ++next_seq;
	uint8_t p[8];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, iova);
	assert_int_equal(dk_msg_send(dma, &dk_dma_proto, DK_DMA_OP_UNMAP, 0, seq, p, sizeof(p),
				     NULL, 0, DEADLINE()),
			 0);
	return seq;
}

int dma_recv(int dma, uint16_t opcode, uint64_t seq, uint64_t *ret_iova, uint32_t *reason)
{
	struct dk_msg *m = malloc(sizeof(*m));
	struct dk_wire_reader r;
	int32_t err = 0;

	assert_non_null(m);
	assert_int_equal(dk_msg_recv(dma, &dk_dma_reply_proto, DEADLINE(), m, NULL), 0);
	assert_true(m->frame.flags & DK_FRAME_F_REPLY);
	assert_int_equal(m->frame.opcode, opcode);
	assert_int_equal(m->frame.seq, seq);
	assert_int_equal(m->n_fds, 0);
	dk_wire_reader_init(&r, m->frame.payload, m->frame.length);
	*reason = DK_REASON_NONE;
	if (m->frame.flags & DK_FRAME_F_ERROR) {
		err = (int32_t)dk_wire_get_u32(&r);
		*reason = dk_wire_get_u32(&r);
		assert_true(err < 0);
	} else if (opcode == DK_DMA_OP_MAP) {
		*ret_iova = dk_wire_get_u64(&r);
	}
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	free(m);
	return err;
}

void service_take_kill(int chan, uint64_t *ret_seq, uint64_t *ret_session, uint32_t *ret_reason)
{
	struct dk_msg *m = malloc(sizeof(*m));
	struct dk_wire_reader r;

	assert_non_null(m);
	assert_int_equal(dk_msg_recv(chan, &dk_devctl_proto, DEADLINE(), m, NULL), 0);
	assert_int_equal(m->frame.opcode, DK_DEVCTL_OP_KILL_SESSION);
	assert_int_equal(m->frame.flags, 0);
	dk_wire_reader_init(&r, m->frame.payload, m->frame.length);
	*ret_seq = m->frame.seq;
	*ret_session = dk_wire_get_u64(&r);
	*ret_reason = dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_get_u32(&r), 0);
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	free(m);
}

void service_answer_kill(int chan, uint64_t seq, int err)
{
	if (err == 0)
		assert_int_equal(dk_msg_send(chan, &dk_devctl_reply_proto,
					     DK_DEVCTL_OP_KILL_SESSION, DK_FRAME_F_REPLY, seq, NULL,
					     0, NULL, 0, DEADLINE()),
				 0);
	else
		assert_int_equal(dk_msg_reply_error(chan, &dk_devctl_reply_proto,
						    DK_DEVCTL_OP_KILL_SESSION, seq, err,
						    DK_REASON_NONE),
				 0);
}

void service_take_relay(int chan, uint16_t opcode, uint64_t *ret_seq, uint64_t *ret_after_seq)
{
	struct dk_msg *m = malloc(sizeof(*m));
	struct dk_wire_reader r;

	assert_non_null(m);
	assert_int_equal(dk_msg_recv(chan, &dk_devctl_proto, DEADLINE(), m, NULL), 0);
	assert_int_equal(m->frame.opcode, opcode);
	assert_int_equal(m->frame.flags, 0);
	assert_int_equal(m->n_fds, 0);
	dk_wire_reader_init(&r, m->frame.payload, m->frame.length);
	*ret_seq = m->frame.seq;
	if (opcode == DK_DEVCTL_OP_TRACE)
		*ret_after_seq = dk_wire_get_u64(&r);
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	free(m);
}

void service_answer_relay(int chan, uint16_t opcode, uint64_t seq, int err, uint32_t reason,
			  const void *p, size_t len)
{
	if (err == 0)
		assert_int_equal(dk_msg_send(chan, &dk_devctl_reply_proto, opcode,
					     DK_FRAME_F_REPLY, seq, p, len, NULL, 0, DEADLINE()),
				 0);
	else
		assert_int_equal(dk_msg_reply_error(chan, &dk_devctl_reply_proto, opcode, seq, err,
						    reason),
				 0);
}

/* ---- the client's side ---- */

int bconnect(struct rig *R)
{
	int fd;

	assert_int_equal(dk_socket_connect(R->broker_sock, DEADLINE(), &fd), 0);
	return fd;
}

uint64_t request(int fd, uint16_t opcode, const void *p, size_t len)
{
	uint64_t seq = ++next_seq;

	assert_int_equal(dk_msg_send(fd, &dk_broker_proto, opcode, 0, seq, p, len, NULL, 0,
				     DEADLINE()),
			 0);
	return seq;
}

uint64_t open_send(int fd, const char *device)
{
	uint8_t p[2 + 64];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	return request(fd, DK_BROKER_OP_OPEN, p, dk_wire_writer_len(&w));
}

uint64_t inject_send(int fd, const char *device, uint32_t fault)
{
	uint8_t p[2 + 64 + 8];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	dk_wire_put_u32(&w, fault);
	dk_wire_put_u32(&w, 0);
	return request(fd, DK_BROKER_OP_INJECT, p, dk_wire_writer_len(&w));
}

uint64_t kill_send(int fd, const char *device, uint64_t session_id)
{
	uint8_t p[2 + 64 + 8];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	dk_wire_put_u64(&w, session_id);
	return request(fd, DK_BROKER_OP_KILL_CLIENT, p, dk_wire_writer_len(&w));
}

uint64_t stats_send(int fd, const char *device)
{
	uint8_t p[2 + 64];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	return request(fd, DK_BROKER_OP_DEVICE_STATS, p, dk_wire_writer_len(&w));
}

uint64_t trace_send(int fd, const char *device, uint64_t after_seq)
{
	uint8_t p[2 + 64 + 8];
	struct dk_wire_writer w;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	dk_wire_put_u64(&w, after_seq);
	return request(fd, DK_BROKER_OP_TRACE, p, dk_wire_writer_len(&w));
}

/* The reply to (@opcode, @seq): 0 with @m filled, or the error (and its @reason). */
int reply_recv(int fd, uint16_t opcode, uint64_t seq, struct dk_msg *m, uint32_t *reason)
{
	struct dk_wire_reader r;
	int32_t err;

	assert_int_equal(dk_msg_recv(fd, &dk_broker_reply_proto, DEADLINE(), m, NULL), 0);
	assert_true(m->frame.flags & DK_FRAME_F_REPLY);
	assert_int_equal(m->frame.opcode, opcode);
	assert_int_equal(m->frame.seq, seq);
	*reason = DK_REASON_NONE;
	if (!(m->frame.flags & DK_FRAME_F_ERROR))
		return 0;
	assert_int_equal(m->n_fds, 0);
	dk_wire_reader_init(&r, m->frame.payload, m->frame.length);
	err = (int32_t)dk_wire_get_u32(&r);
	*reason = dk_wire_get_u32(&r);
	assert_true(err < 0);
	return err;
}

/* The answer to OPEN @seq: 0 with the grant and the session socket, or the error. */
int open_recv(int fd, uint64_t seq, struct dk_session_grant *g, int *ret_fd,
		     uint32_t *reason)
{
	struct dk_msg *m = malloc(sizeof(*m));
	struct dk_wire_reader r;
	int err;

	assert_non_null(m);
	err = reply_recv(fd, DK_BROKER_OP_OPEN, seq, m, reason);
	if (err < 0) {
		free(m);
		return err;
	}
	assert_int_equal(m->n_fds, 1);
	dk_wire_reader_init(&r, m->frame.payload, m->frame.length);
	memset(g, 0, sizeof(*g));
	g->generation = dk_wire_get_u64(&r);
	g->session_id = dk_wire_get_u64(&r);
	g->rights = dk_wire_get_u32(&r);
	g->qos = dk_wire_get_u32(&r);
	g->max_bytes = dk_wire_get_u64(&r);
	g->max_buffers = dk_wire_get_u32(&r);
	g->max_inflight = dk_wire_get_u32(&r);
	g->max_fences = dk_wire_get_u32(&r);
	g->max_violations = dk_wire_get_u32(&r);
	dk_wire_get_string(&r, g->device_class, sizeof(g->device_class));
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	*ret_fd = m->fds[0];
	free(m);
	return 0;
}

/* An OPEN the policy refuses or the broker fails before asking the service. */
int open_error(int fd, const char *device, uint32_t *reason)
{
	struct dk_session_grant g;
	int sfd;

	return open_recv(fd, open_send(fd, device), &g, &sfd, reason);
}

/* An OPEN the service accepts; the session's two ends. */
void open_ok(int fd, int chan, const char *device, struct dk_session_grant *g,
		    int *ret_client_end, struct session_req *s)
{
	uint64_t seq = open_send(fd, device);
	uint32_t reason;

	service_take(chan, s);
	service_answer(chan, s, 0);
	assert_int_equal(open_recv(fd, seq, g, ret_client_end, &reason), 0);
}

/* LIST: the number of entries (into @e), or the error. */
int list(int fd, struct list_entry *e, uint32_t max)
{
	struct dk_msg *m = malloc(sizeof(*m));
	struct dk_wire_reader r;
	uint32_t reason, n;
	int err;

	assert_non_null(m);
	err = reply_recv(fd, DK_BROKER_OP_LIST, request(fd, DK_BROKER_OP_LIST, NULL, 0), m,
			 &reason);
	if (err < 0) {
		assert_int_equal(reason, DK_REASON_POLICY);
		free(m);
		return err;
	}
	dk_wire_reader_init(&r, m->frame.payload, m->frame.length);
	n = dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_get_u32(&r), 0);
	assert_true(n <= max);
	for (uint32_t i = 0; i < n; i++) {
		dk_wire_get_string(&r, e[i].device, sizeof(e[i].device));
		dk_wire_get_string(&r, e[i].cls, sizeof(e[i].cls));
		e[i].generation = dk_wire_get_u64(&r);
		e[i].state = dk_wire_get_u32(&r);
		assert_int_equal(dk_wire_get_u32(&r), 0);
	}
	assert_int_equal(dk_wire_reader_error(&r), 0);
	assert_int_equal(dk_wire_reader_left(&r), 0);
	free(m);
	return (int)n;
}

/* STATUS of one device through the dkctl helper. */
void status_of(struct rig *R, const char *device, struct dk_device_status *ret)
{
	struct dk_device_status st[DK_BROKER_DEVICES_MAX];
	uint32_t n;

	assert_int_equal(dk_broker_status(R->broker_sock, DEADLINE(), st, DK_BROKER_DEVICES_MAX,
					  &n),
			 0);
	for (uint32_t i = 0; i < n; i++) {
		if (!strcmp(st[i].device, device)) {
			*ret = st[i];
			return;
		}
	}
	fail_msg("device %s not in STATUS", device);
}

/* ---- the journal ---- */

/* Whether @fields holds the whole pair @kv. */
bool has_field(const char *fields, const char *kv)
{
	size_t len = strlen(kv);

	for (const char *hit = strstr(fields, kv); hit; hit = strstr(hit + 1, kv))
		if ((hit == fields || hit[-1] == ' ') && (hit[len] == ' ' || hit[len] == '\0'))
			return true;
	return false;
}

/*
 * The number of audit records of @scope with message @message whose fields hold every
 * key=value pair of the NULL-terminated list; the last match into @ret (optional).
 */
int audit_count(struct rig *R, const char *scope, const char *message,
		       struct dk_log_record *ret, ...)
{
	struct dk_log_query q = {.min_severity = DK_LOG_AUDIT, .scope_prefix = scope};
	struct dk_log_record *recs = calloc(DK_LOGD_QUERY_PAGE_MAX, sizeof(*recs));
	struct dk_log_client *l;
	int count = 0;

	assert_non_null(recs);
	assert_int_equal(dk_log_connect(R->logd_sock, "test", DEADLINE(), &l), 0);
	for (;;) {
		uint64_t next;
		int n = dk_log_query(l, &q, recs, DK_LOGD_QUERY_PAGE_MAX, DEADLINE(), &next);

		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			const char *kv;
			bool all = !strcmp(recs[i].scope, scope) &&
				   !strcmp(recs[i].message, message);
			va_list ap;

			va_start(ap, ret);
			while (all && (kv = va_arg(ap, const char *)))
				all = has_field(recs[i].fields, kv);
			va_end(ap);
			if (!all)
				continue;
			count++;
			if (ret)
				*ret = recs[i];
		}
		if (!next)
			break;
		q.seq_min = next;
	}
	dk_log_close(l);
	free(recs);
	return count;
}

const char *kv_uid(void)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "uid=%u", (unsigned)getuid());
	return buf;
}

/* Send raw bytes (and optionally one descriptor) as one record. */
void raw_send(int fd, const void *bytes, size_t len, int pass_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)bytes, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * The error of the reply to raw request (@opcode, @seq); its reason must be "protocol". Read
 * raw: the reply table does not know the opcodes we made up.
 */
int raw_error(int fd, uint16_t opcode, uint64_t seq)
{
	uint8_t buf[DK_FRAME_MAX_SIZE];
	struct dk_wire_reader r;
	ssize_t n;
	int32_t err;

	assert_int_equal(dk_socket_wait(fd, POLLIN, DEADLINE()), 0);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	assert_int_equal(n, DK_FRAME_HEADER_SIZE + DK_FRAME_ERROR_PAYLOAD);
	dk_wire_reader_init(&r, buf, (size_t)n);
	assert_int_equal(dk_wire_get_u32(&r), DK_FRAME_MAGIC);
	(void)dk_wire_get_u32(&r); /* version */
	assert_int_equal(dk_wire_get_u16(&r), opcode);
	assert_int_equal(dk_wire_get_u16(&r), DK_FRAME_F_REPLY | DK_FRAME_F_ERROR);
	assert_int_equal(dk_wire_get_u32(&r), DK_FRAME_ERROR_PAYLOAD);
	assert_int_equal(dk_wire_get_u64(&r), seq);
	err = (int32_t)dk_wire_get_u32(&r);
	assert_int_equal(dk_wire_get_u32(&r), DK_REASON_PROTOCOL);
	return err;
}

/* Read the broker's stderr log. */
void read_errlog(struct rig *R, char *buf, size_t size)
{
	int fd = open(R->errlog, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, size - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
}
