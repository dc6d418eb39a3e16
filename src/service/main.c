/* SPDX-License-Identifier: MIT */
/*
 * main.c - dk_svc_main(): set-up, the serving loop, the watcher thread, the broker channel
 * (SESSION, GRANT, KILL_SESSION) and the granted hardware.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <dk/hwsim.h>

#include "sandbox.h"
#include "spin.h"
#include "service-internal.h"

static void futex_wake_all(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * The watcher: sleeps in epoll_wait on the control sockets, the interrupt, the watchdog timer
 * and the watched input fences, wakes the serving thread and waits until it has looked. Fence
 * poll descriptors are edge-triggered: the event this thread took is passed on in
 * fence_event (the serving thread's own epoll_wait will not see it again).
 */
static void *watcher(void *arg)
{
	struct dk_svc *v = arg;
	struct epoll_event ev;

	while (!atomic_load(&v->quit)) {
		int n = epoll_wait(v->epfd, &ev, 1, -1);

		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (ev.data.u64 == EV_FENCE)
			atomic_store(&v->fence_event, 1);
		atomic_store(&v->ctl_pending, 1);
		dk_ring_wake(&v->wake);
		while (atomic_load(&v->ctl_pending) == 1)
			syscall(SYS_futex, (uint32_t *)&v->ctl_pending, FUTEX_WAIT, 1, NULL, NULL,
				0);
	}
	return NULL;
}

void dk_svc_device_init(struct dk_svc_device *dev, const struct dk_device_ops *ops,
			struct dk_svc *svc)
{
	memset(dev, 0, sizeof(*dev));
	dev->ops = ops;
	dev->svc = svc;
	dev->irq_fd = -1;
	dev->caps.hw_slots = 1;
	dev->caps.reset_policy = DK_RESET_FAIL;
}

/* ---- the device ---- */

static int caps_check(const struct dk_device_caps *c)
{
	if (c->hw_slots == 0 || c->hw_slots > DK_SVC_HW_SLOTS_MAX)
		return -EINVAL;
	if (c->reset_policy != DK_RESET_RESUBMIT_ONCE && c->reset_policy != DK_RESET_FAIL)
		return -EINVAL;
	if (c->take_batch > DK_SVC_TAKE_BATCH_MAX)
		return -EINVAL;
	for (uint32_t q = 0; q < QOS_N; q++)
		if (c->time_limit_ns[q] > DK_WAIT_MAX_NS)
			return -EINVAL;
	return 0;
}

/* Probe the class with @hw (NULL: no hardware); on failure the service stops (status 1). */
static int probe(struct dk_svc *v, const struct dk_device_hw *hw)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_IRQ};
	struct dk_svc_device *dev = NULL;
	int err;

	v->in_op++;
	err = v->ops->probe(v, hw, &dev);
	v->in_op--;
	if (err == 0 && !dev)
		err = -EINVAL;
	if (err == 0)
		err = caps_check(&dev->caps);
	if (err == 0 && dev->irq_fd >= 0 && epoll_ctl(v->epfd, EPOLL_CTL_ADD, dev->irq_fd, &ev) < 0)
		err = -errno;
	if (err < 0) {
		if (dev && v->ops->destroy)
			v->ops->destroy(dev);
		fprintf(stderr, "%s: probe of %s failed: %s\n", v->ops->class_name, v->device,
			dk_strerror(err));
		svc_log(v, DK_LOG_ERROR, "service.probe", "device=%s result=%s", v->device,
			dk_strerror(err));
		v->stop = true;
		v->exit_status = 1;
		return err;
	}
	v->dev = dev;
	v->take_batch = dev->caps.take_batch ? dev->caps.take_batch : DK_SVC_TAKE_BATCH_DEFAULT;
	for (uint32_t q = 0; q < QOS_N; q++)
		v->limit_ns[q] = dev->caps.time_limit_ns[q] ? dev->caps.time_limit_ns[q]
							  : DK_SVC_TIME_LIMIT_DEFAULT_NS;
	svc_log(v, DK_LOG_INFO, "service.probe",
		"device=%s model=%s hw_slots=%u take_batch=%u reset_policy=%s", v->device,
		hw ? hw->model : "none", dev->caps.hw_slots, v->take_batch,
		dev->caps.reset_policy == DK_RESET_RESUBMIT_ONCE ? "resubmit-once" : "fail");
	return 0;
}

static void hw_release(struct dk_svc *v)
{
	if (!v->have_hw)
		return;
	munmap(v->hw.regs, v->hw.regs_size);
	close(v->hw.doorbell_fd);
	close(v->hw.irq_fd);
	close(v->hw.dma_fd);
	v->have_hw = false;
}

/* devctl GRANT: map the register window, keep the descriptors, probe. No reply. */
static int op_grant(struct dk_svc *v, struct dk_msg *m)
{
	struct dk_wire_reader r;
	struct stat st;
	uint32_t regs_size;
	void *regs;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	regs_size = dk_wire_get_u32(&r);
	if (dk_wire_get_u32(&r) != 0 || m->n_fds != 4)
		return -EPROTO;
	dk_wire_get_string(&r, v->hw.model, sizeof(v->hw.model));
	if (dk_wire_reader_error(&r) < 0 || regs_size == 0)
		return -EPROTO;
	if (!(v->ops->flags & DK_DEVICE_F_HARDWARE) || v->dev) {
		svc_log(v, DK_LOG_WARNING, "service.grant", "device=%s result=ignored model=%s",
			v->device, v->hw.model);
		return 0; /* descriptors closed by the caller */
	}
	if (fstat(m->fds[0], &st) < 0 || (uint64_t)st.st_size != regs_size)
		return -EBADF;
	regs = mmap(NULL, regs_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[0], 0);
	if (regs == MAP_FAILED)
		return -errno;
	v->hw.regs = regs;
	v->hw.regs_size = regs_size;
	v->hw.doorbell_fd = m->fds[1];
	v->hw.irq_fd = m->fds[2];
	v->hw.dma_fd = m->fds[3];
	m->fds[1] = m->fds[2] = m->fds[3] = -1;
	v->have_hw = true;
	probe(v, &v->hw); /* a failed probe stops the service */
	return 0;
}

int dk_svc_dma_map(struct dk_svc *v, struct dk_buffer *buffer, uint32_t access, uint64_t offset,
		   uint64_t length, uint64_t deadline_ns, uint64_t *ret_iova)
{
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	uint8_t p[24];
	uint64_t iova;
	int fd, err;

	if (!v->have_hw)
		return -ENODEV;
	fd = dk_buffer_fd(buffer);
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, access);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_u64(&w, offset);
	dk_wire_put_u64(&w, length);
	err = dk_msg_call(v->hw.dma_fd, &dk_dma_proto, &dk_dma_reply_proto, DK_DMA_OP_MAP, p,
			  sizeof(p), &fd, 1, deadline_ns, &v->dma_msg, NULL);
	if (err < 0)
		return err;
	dk_msg_close_fds(&v->dma_msg);
	dk_wire_reader_init(&r, v->dma_msg.frame.payload, v->dma_msg.frame.known_length);
	iova = dk_wire_get_u64(&r);
	if (dk_wire_reader_error(&r) < 0)
		return -EPROTO;
	*ret_iova = iova;
	return 0;
}

int dk_svc_dma_unmap(struct dk_svc *v, uint64_t iova, uint64_t deadline_ns)
{
	struct dk_wire_writer w;
	uint8_t p[8];
	int err;

	if (!v->have_hw)
		return -ENODEV;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u64(&w, iova);
	err = dk_msg_call(v->hw.dma_fd, &dk_dma_proto, &dk_dma_reply_proto, DK_DMA_OP_UNMAP, p,
			  sizeof(p), NULL, 0, deadline_ns, &v->dma_msg, NULL);
	dk_msg_close_fds(&v->dma_msg);
	/* The window (and the memory behind it) stays mapped in the device until its next
	 * GRANT: no descriptor can name the IOVA again (never reused), but say so. */
	if (err < 0)
		svc_log(v, DK_LOG_WARNING, "service.dma-unmap", "iova=0x%" PRIx64 " result=%s", iova,
			dk_strerror(err));
	return err;
}

/* ---- the broker channel ---- */

/* devctl KILL_SESSION: answered (empty, or -ESRCH), then the session is cut off. */
static int op_kill_session(struct dk_svc *v, struct dk_msg *m)
{
	struct dk_wire_reader r;
	struct session *s = NULL;
	uint64_t id;
	uint32_t reason;

	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	id = dk_wire_get_u64(&r);
	reason = dk_wire_get_u32(&r);
	if (dk_wire_get_u32(&r) != 0 || dk_wire_reader_error(&r) < 0 ||
	    reason == DK_REASON_NONE || reason >= DK_REASON_COUNT)
		return -EPROTO;
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX && !s; i++)
		if (v->sessions[i].state == SESSION_LIVE && v->sessions[i].id == id)
			s = &v->sessions[i];
	if (!s)
		return -ESRCH;
	dk_msg_send(v->broker_fd, &dk_devctl_reply_proto, m->frame.opcode, DK_FRAME_F_REPLY,
		    m->frame.seq, NULL, 0, NULL, 0, dk_now_ns() + CTL_DEADLINE_NS);
	session_kill(v, s, reason);
	return 0;
}

static void broker_readable(struct dk_svc *v)
{
	for (int budget = 0; budget < 16 && !v->stop; budget++) {
		struct dk_msg *m = &v->msg;
		uint32_t reason = DK_REASON_PROTOCOL;
		int err = dk_msg_recv(v->broker_fd, &dk_devctl_proto, 0, m, NULL);

		if (err == -EAGAIN)
			return;
		if (err == -EPIPE || err == -ECONNRESET) {
			/* The broker went away: no new sessions can come. The supervisor restarts
			 * the device services after a broker restart; finish cleanly. */
			v->stop = true;
			return;
		}
		if (err == 0 && (m->frame.flags & DK_FRAME_F_REPLY)) {
			err = -EPROTO;
		} else if (err == 0 && m->frame.opcode == DK_DEVCTL_OP_SESSION) {
			err = session_new(v, m);
			if (err == 0)
				dk_msg_send(v->broker_fd, &dk_devctl_reply_proto, m->frame.opcode,
					    DK_FRAME_F_REPLY, m->frame.seq, NULL, 0, NULL, 0,
					    dk_now_ns() + CTL_DEADLINE_NS);
			reason = err == -EBUSY ? DK_REASON_BUDGET
				 : err == -ENODEV ? DK_REASON_NONE : DK_REASON_PROTOCOL;
		} else if (err == 0 && m->frame.opcode == DK_DEVCTL_OP_KILL_SESSION) {
			err = op_kill_session(v, m);
			if (err == -ESRCH)
				reason = DK_REASON_NONE;
		} else if (err == 0 && m->frame.opcode == DK_DEVCTL_OP_STATS) {
			err = svc_stats_reply(v, &m->frame);
			reason = DK_REASON_NONE;
		} else if (err == 0 && m->frame.opcode == DK_DEVCTL_OP_TRACE) {
			err = svc_trace_reply(v, &m->frame);
			reason = DK_REASON_NONE;
		} else if (err == 0 && m->frame.opcode == DK_DEVCTL_OP_GRANT) {
			err = op_grant(v, m);
			if (err < 0) {
				/* No reply to GRANT: say it in the journal. */
				svc_log(v, DK_LOG_ERROR, "service.grant", "device=%s result=%s",
					v->device, dk_strerror(err));
				err = 0;
			}
		} else if (err == 0) {
			err = -EPROTO;
		}
		dk_msg_close_fds(m);
		if (err < 0 && m->have_header)
			dk_msg_reply_error(v->broker_fd, &dk_devctl_reply_proto, m->raw_opcode,
					   m->raw_seq, err, reason);
	}
}

/* ---- the serving loop ---- */

static void control(struct dk_svc *v)
{
	struct epoll_event evs[32];
	int n = epoll_wait(v->epfd, evs, 32, 0);

	for (int i = 0; i < n; i++) {
		uint64_t id = evs[i].data.u64;

		if (id == EV_SIGNAL) {
			struct signalfd_siginfo si;

			if (read(v->sigfd, &si, sizeof(si)) == sizeof(si))
				v->stop = true;
		} else if (id == EV_BROKER) {
			broker_readable(v);
		} else if (id == EV_IRQ) {
			uint64_t count;

			if (v->dev && read(v->dev->irq_fd, &count, sizeof(count)) > 0 &&
			    v->ops->harvest) {
				svc_op_enter(v);
				v->ops->harvest(v->dev);
				svc_op_exit(v);
			}
		} else if (id == EV_TIMER) {
			wd_fire(v);
		} else if (id == EV_FENCE) {
			atomic_store(&v->fence_event, 1);
		} else if (id < DK_SERVICE_SESSIONS_MAX &&
			   v->sessions[id].state == SESSION_LIVE) {
			session_readable(v, &v->sessions[id]);
		}
	}
}

/* Sessions whose violations reached the threshold are killed here, between passes. */
static void kill_pending(struct dk_svc *v)
{
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX && v->n_kill_pending; i++)
		if (v->sessions[i].state == SESSION_LIVE && v->sessions[i].kill_pending)
			session_kill(v, &v->sessions[i], DK_REASON_CLIENT_KILLED);
}

/*
 * Jobs on a device that can be polled (DK_DEVICE_F_POLL) and the poll window of the latest job
 * handed over still open: harvest once. The first poll after a hand-over always happens, however
 * late, so a job the device finished at once is found without its interrupt. Returns true while
 * polling goes on or the harvest took a job off the hardware: the serving loop goes round
 * between polls, so new submissions and control events are seen as fast as while polling for
 * work.
 */
static bool poll_hw(struct dk_svc *v)
{
	uint32_t before = v->n_hw;

	if (!v->poll_until)
		return false;
	if (before && v->dev) {
		svc_op_enter(v);
		v->ops->harvest(v->dev);
		svc_op_exit(v);
		/* Refill the freed slots and post the completions now, before the loop takes
		 * new submissions: the device's next batch starts sooner (P3-copy: 1.03 against
		 * 0.77 Mops/s when left to the loop). */
		sched_dispatch(v);
		svc_publish(v);
	}
	if (!v->n_hw || dk_now_fast_ns() >= v->poll_until) {
		v->poll_until = 0;
		if (v->n_hw)
			svc_irq_mask(v, false); /* the interrupt reports the rest */
		return v->n_hw != before;
	}
	dk_spin_step(&v->poll_steps);
	return true;
}

static void serve(struct dk_svc *v)
{
	static struct dk_ring *idle[SVC_QUEUES_MAX];

	while (!v->stop) {
		uint64_t now;
		uint32_t seen, n_idle = 0;
		bool busy = false;
		int moved = 0, ret;

		if (atomic_load(&v->ctl_pending)) {
			control(v);
			atomic_store(&v->ctl_pending, 0);
			futex_wake_all(&v->ctl_pending);
			busy = true;
		}
		if (atomic_exchange(&v->fence_event, 0)) {
			v->st.fence_wakeups++;
			svc_parked_recheck(v, dk_now_fast_ns(), NULL);
		}
		if (v->n_kill_pending)
			kill_pending(v);
		if (v->stop)
			break;
		for (uint32_t i = 0; i < v->n_rings; i++)
			moved += svc_take(v, v->ring_q[i]);
		sched_dispatch(v);
		if (v->n_kill_pending)
			kill_pending(v);
		svc_publish(v);
		if (busy || moved || poll_hw(v))
			continue;

		/* Sleep on the queues that can be served (their session under max_inflight). */
		for (uint32_t i = 0; i < v->n_rings; i++) {
			struct squeue *q = v->ring_q[i];

			if (!q->broken && q->s->inflight < q->s->max_inflight)
				idle[n_idle++] = q->ring;
		}
		seen = __atomic_load_n(&v->wake, __ATOMIC_ACQUIRE);
		if (atomic_load(&v->ctl_pending))
			continue;
		now = dk_now_ns();
		ret = dk_ring_idle_wake(idle, n_idle, &v->wake, seen,
					now + (v->n_parked_polled ? PARKED_POLL_NS : IDLE_NS));
		if (ret == 0 && v->st.parked)
			svc_parked_recheck(v, dk_now_fast_ns(), NULL); /* the safety net */
	}
}

/* ---- set-up ---- */

static int env_u64(const char *name, uint64_t *ret)
{
	const char *s = getenv(name);
	char *end;

	if (!s || !*s)
		return -ENOENT;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || *end || *s == '-' ? -EINVAL : 0;
}

static int parse_u32(const char *s, uint32_t *ret)
{
	unsigned long long x;
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end || x > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)x;
	return 0;
}

static void usage(FILE *f, const char *name)
{
	fprintf(f,
		"usage: %s [--kill-threshold N]\n"
		"  (started by dk-supervisor; see dk-%s(8) and docs/service.md)\n"
		"  --kill-threshold N  kill a session after N validation failures or hangs\n"
		"                      (0: never; default $%s, else %u)\n",
		name, name, DK_ENV_KILL_THRESHOLD, DK_SVC_KILL_THRESHOLD_DEFAULT);
}

/* Options: 0 to run, 1 for --help (printed), -EINVAL (usage printed). */
static int parse_options(struct dk_svc *v, int argc, char **argv)
{
	const char *name = v->ops->class_name;
	uint64_t env;
	int err = env_u64(DK_ENV_KILL_THRESHOLD, &env);

	v->kill_threshold = DK_SVC_KILL_THRESHOLD_DEFAULT;
	if (err == 0 && env <= UINT32_MAX)
		v->kill_threshold = (uint32_t)env;
	else if (err != -ENOENT)
		fprintf(stderr, "%s: ignoring %s: not a number\n", name, DK_ENV_KILL_THRESHOLD);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout, name);
			return 1;
		}
		if (!strcmp(a, "--kill-threshold") && i + 1 < argc) {
			a = argv[++i];
		} else if (!strncmp(a, "--kill-threshold=", 17)) {
			a += 17;
		} else {
			usage(stderr, name);
			return -EINVAL;
		}
		if (parse_u32(a, &v->kill_threshold) < 0) {
			fprintf(stderr, "%s: --kill-threshold: not a number: %s\n", name, a);
			return -EINVAL;
		}
	}
	return 0;
}

static bool ops_ok(const struct dk_device_ops *ops)
{
	return ops && (ops->version == 1 || ops->version == DK_DEVICE_OPS_VERSION) &&
	       ops->class_name && ops->probe &&
	       ops->submit && !(ops->flags & ~(uint32_t)(DK_DEVICE_F_HARDWARE | DK_DEVICE_F_POLL)) &&
	       (!(ops->flags & DK_DEVICE_F_POLL) || ops->harvest);
}

/* The orderly end: every session ended, the hardware emptied, every job retired. */
static void shutdown_all(struct dk_svc *v)
{
	v->stop = true;
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX; i++)
		session_end(v, &v->sessions[i], DK_REASON_SHUTDOWN, false);
	if (v->n_hw)
		svc_reset(v, DK_REASON_SHUTDOWN);
	svc_retire_all(v);
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX; i++)
		if (v->sessions[i].state == SESSION_DRAINING)
			session_finalize(v, &v->sessions[i]);
	if (v->dev && v->ops->destroy)
		v->ops->destroy(v->dev);
	v->dev = NULL;
	hw_release(v);
}

int dk_svc_main(const struct dk_device_ops *ops, int argc, char **argv)
{
	static struct dk_svc v; /* large; one per process */
	struct dk_buffer_registry_limits rl = {
		/* The largest single buffer the registry can hold; a grant's max_bytes (up to
		 * DK_POLICY_MAX_BYTES_CAP, which is larger) bounds a session's total. */
		.max_buffer_bytes = DK_BUFFER_MAX_BYTES_HARD,
		.max_live_buffers = DK_SERVICE_SESSIONS_MAX * DK_SESSION_HANDLES_MAX,
	};
	struct epoll_event ev = {.events = EPOLLIN};
	const char *dev = getenv(DK_ENV_DEVICE), *rt = getenv(DK_ENV_RUNTIME_DIR);
	const char *name = getenv(DK_ENV_SERVICE);
	char path[DK_RT_PATH_MAX];
	uint64_t fd;
	pthread_t th;
	sigset_t mask;
	int err;

	if (!ops_ok(ops)) {
		fprintf(stderr, "dk_svc_main: bad device ops (version 1 or %u expected)\n",
			DK_DEVICE_OPS_VERSION);
		return 2;
	}
	v.ops = ops;
	/* A version-1 table ends before irq_mask: never read past it. */
	v.irq_mask = ops->version >= 2 ? ops->irq_mask : NULL;
	err = parse_options(&v, argc, argv);
	if (err)
		return err > 0 ? 0 : 2;
	if (env_u64(DK_ENV_BROKER_FD, &fd) < 0 || fd > INT_MAX || !dev ||
	    dk_rt_check_name(dev) < 0) {
		fprintf(stderr, "%s: not started by dk-supervisor (%s and %s are needed)\n",
			ops->class_name, DK_ENV_BROKER_FD, DK_ENV_DEVICE);
		return 2;
	}
	v.broker_fd = (int)fd;
	strcpy(v.device, dev);
	env_u64(DK_ENV_GENERATION, &v.generation);
	for (uint32_t i = 0; i < DK_SERVICE_SESSIONS_MAX; i++)
		v.sessions[i].fd = -1;
	for (uint32_t q = 0; q < QOS_N; q++)
		v.limit_ns[q] = DK_SVC_TIME_LIMIT_DEFAULT_NS;
	v.take_batch = DK_SVC_TAKE_BATCH_DEFAULT;
	svc_jobs_init(&v);
	err = dk_buffer_registry_create(&rl, &v.registry);
	if (err < 0) {
		fprintf(stderr, "%s: buffer registry: %s\n", ops->class_name, dk_strerror(err));
		return 1;
	}
	if (rt && dk_runtime_path(rt, DK_RT_LOGD_SOCKET, path, sizeof(path)) == 0)
		dk_log_connect(path, name && dk_rt_check_name(name) == 0 ? name : ops->class_name,
			       dk_now_ns() + CTL_DEADLINE_NS, &v.log);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	v.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	v.epfd = epoll_create1(EPOLL_CLOEXEC);
	v.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (v.sigfd < 0 || v.epfd < 0 || v.timerfd < 0) {
		fprintf(stderr, "%s: set-up: %s\n", ops->class_name, strerror(errno));
		return 1;
	}
	ev.data.u64 = EV_SIGNAL;
	epoll_ctl(v.epfd, EPOLL_CTL_ADD, v.sigfd, &ev);
	ev.data.u64 = EV_TIMER;
	epoll_ctl(v.epfd, EPOLL_CTL_ADD, v.timerfd, &ev);
	ev.data.u64 = EV_BROKER;
	if (epoll_ctl(v.epfd, EPOLL_CTL_ADD, v.broker_fd, &ev) < 0) {
		fprintf(stderr, "%s: broker channel: %s\n", ops->class_name, strerror(errno));
		return 2;
	}
	/* A class without hardware is probed now; one with hardware when GRANT comes. */
	if (!(ops->flags & DK_DEVICE_F_HARDWARE) && probe(&v, NULL) < 0)
		return 1;
	err = pthread_create(&th, NULL, watcher, &v);
	if (err) {
		fprintf(stderr, "%s: thread: %s\n", ops->class_name, strerror(err));
		return 1;
	}
	svc_log(&v, DK_LOG_INFO, "service.start",
		"device=%s class=%s generation=%" PRIu64 " kill_threshold=%u", v.device,
		ops->class_name, v.generation, v.kill_threshold);
	/*
	 * From here on the service runs confined (docs/sandbox.md): no new programs, no
	 * executable memory, no file opened for writing, no new sockets, no other process
	 * touched. Read-only opens stay allowed because libdk reopens memfds through
	 * /proc/self/fd for read-only exports; Landlock, where the kernel has it, still refuses
	 * every path. A violation ends the process with SIGSYS: the supervisor journals the
	 * crash (signal=31) and restarts the service.
	 */
	err = dk_sandbox_enter(DK_SANDBOX_ALLOW_OPEN_RDONLY);
	if (err < 0) {
		fprintf(stderr, "%s: sandbox: %s\n", ops->class_name, dk_strerror(err));
		return 1;
	}
	dk_child_ready(dk_now_ns() + CTL_DEADLINE_NS);
	serve(&v);

	shutdown_all(&v);
	/* The watcher may sleep in epoll_wait for good: it ends with the process. */
	atomic_store(&v.quit, true);
	atomic_store(&v.ctl_pending, 0);
	futex_wake_all(&v.ctl_pending);
	pthread_detach(th);
	dk_log_close(v.log);
	dk_buffer_registry_destroy(v.registry);
	svc_jobs_finish(&v);
	return v.exit_status;
}
