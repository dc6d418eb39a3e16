/* SPDX-License-Identifier: MIT */
/*
 * dk-test-child - a service for the supervisor tests, with its behaviour chosen by arguments.
 *
 *   --log N              append N journal records ("child line I", scope test.child) first
 *   --register N         create N fences, signal each to 1, register them (tags 1..N)
 *   --serve PATH         listen on PATH; send every fence (all rights) to whoever connects;
 *                        a byte 'L' from that peer: make one more fence, send it, send its
 *                        registration without waiting for the answer and die by SIGKILL at
 *                        once (a registration still queued when the service dies)
 *   --fill               before READY: fill the registry (DK_SUPCTL_FENCES_MAX fences, not
 *                        kept here), check one more is refused with -ENOSPC while a tag can
 *                        still be replaced, release one and register again; exit 100 if not
 *   --fill-fds           before READY: register fences (not kept here) until one is refused,
 *                        which must be -ENOSPC; exit 100 if not
 *   --no-ready           never send READY
 *   --exit N             exit with status N before READY
 *   --crash-after-ready  exit 3 right after READY
 *   --ignore-term        ignore SIGTERM (the supervisor must SIGKILL it)
 *   --violate            after READY, send a frame of an unknown opcode on the control socket
 *   --broker-log PATH    act as the broker: append one line per ATTACH / DETACH / HWSIM_ATTACH
 *                        received on the control socket (and "HELLO ..." / "HWSIM_HELLO ..." as
 *                        read on the channel that came with it)
 *   --hwsim-log PATH     act as dk-hwsim: append "HWSIM start ..." first, then one line per
 *                        HWSIM_CHANNEL received on the control socket, and write "board
 *                        GENERATION" on each channel (the broker's end reads it)
 *   --config FILE        logged by --hwsim-log (what the supervisor passes a dk-hwsim)
 *   --runtime-dir DIR    accepted and ignored (what the supervisor passes a broker or dk-hwsim)
 *
 * A device (DK_BROKER_FD set) first writes "hello DEVICE GENERATION" on its broker channel.
 * Otherwise it serves until SIGTERM (exit 0) or until its control socket closes (supervisor
 * gone: exit 0). Every wait is bounded; the whole life is capped at LIFETIME_NS.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <dk/fence.h>
#include <dk/log.h>
#include <dk/msg.h>
#include <dk/rights.h>
#include <dk/runtime.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/transfer.h>
#include <dk/wire.h>

#define LIFETIME_NS (300ull * DK_NSEC_PER_SEC)
#define STEP_NS (5ull * DK_NSEC_PER_SEC)
#define FENCES_MAX 64
#define CONNS_MAX 8

static struct dk_fence *fences[FENCES_MAX + 1];
static int n_fences;
static int broker_log = -1;
static int hwsim_log = -1;
static int hwsim_chan = -1; /* dk-hwsim mode: the latest channel to the broker */

static uint64_t deadline(void)
{
	return dk_deadline_in(5 * DK_NSEC_PER_SEC);
}

static void die(const char *what, int err)
{
	fprintf(stderr, "dk-test-child: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(100);
}

static void append_log(int n)
{
	char path[DK_RT_PATH_MAX], msg[64];
	const char *rt = getenv(DK_ENV_RUNTIME_DIR);
	struct dk_log_client *c;
	int err;

	if (!rt || dk_runtime_path(rt, DK_RT_LOGD_SOCKET, path, sizeof(path)) < 0)
		die("--log without a runtime directory", EINVAL);
	err = dk_log_connect(path, "test-child", deadline(), &c);
	if (err < 0)
		die("dk_log_connect", err);
	for (int i = 0; i < n; i++) {
		snprintf(msg, sizeof(msg), "child line %d", i);
		err = dk_log_append(c, DK_LOG_WARNING, "test.child", msg, "n=1", deadline(), NULL);
		if (err < 0)
			die("dk_log_append", err);
	}
	dk_log_close(c);
}

static void make_fences(int n)
{
	for (int i = 0; i < n; i++) {
		int err = dk_fence_create(0, &fences[i]);

		if (err == 0)
			err = dk_fence_signal(fences[i], 1);
		if (err == 0)
			err = dk_child_fence_register(fences[i], (uint64_t)i + 1, deadline());
		if (err < 0)
			die("register", err);
	}
	n_fences = n;
}

static __attribute__((format(printf, 2, 0))) void vlog_to(int fd, const char *fmt, va_list ap)
{
	char line[512];
	int n = vsnprintf(line, sizeof(line), fmt, ap);

	if (n > 0 && write(fd, line, (size_t)n) != n)
		die("log", errno);
}

static void blog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void blog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_to(broker_log, fmt, ap);
	va_end(ap);
}

static void hlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void hlog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_to(hwsim_log, fmt, ap);
	va_end(ap);
}

/* Log what arrives on @fd within the step deadline, prefixed with @what. */
static void log_hello(int fd, const char *what)
{
	char hello[128] = "";
	ssize_t n;

	if (dk_socket_wait(fd, POLLIN, deadline()) == 0 &&
	    (n = recv(fd, hello, sizeof(hello) - 1, MSG_DONTWAIT)) > 0) {
		hello[n] = '\0';
		blog("%s %s\n", what, hello);
	}
}

/* Register one new fence under @tag and drop our handle (only the registry keeps it). */
static int register_new(uint64_t tag)
{
	struct dk_fence *f;
	int err = dk_fence_create(0, &f);

	if (err < 0)
		die("dk_fence_create", err);
	err = dk_child_fence_register(f, tag, deadline());
	dk_fence_unref(f);
	return err;
}

static void fill_registry(void)
{
	for (uint64_t tag = 1; tag <= DK_SUPCTL_FENCES_MAX; tag++)
		if (register_new(tag) < 0)
			die("fill", EIO);
	if (register_new(DK_SUPCTL_FENCES_MAX + 1) != -ENOSPC)
		die("over the cap", EINVAL);
	if (register_new(7) < 0) /* a live tag: replaced, not added */
		die("replace", EIO);
	if (dk_child_fence_release(1, deadline()) < 0 ||
	    register_new(DK_SUPCTL_FENCES_MAX + 1) < 0)
		die("after release", EIO);
}

/* Broker mode: one control frame from the supervisor. */
static void broker_frame(int ctl)
{
	char service[DK_RT_NAME_MAX + 1], device[DK_RT_NAME_MAX + 1], cls[DK_RT_NAME_MAX + 1];
	struct dk_msg *msg = malloc(sizeof(*msg));
	struct dk_wire_reader r;
	uint64_t gen;
	uint32_t a, b;
	int err;

	if (!msg)
		die("malloc", ENOMEM);
	err = dk_msg_recv(ctl, &dk_supctl_proto, 0, msg, NULL);
	if (err == -EAGAIN) {
		free(msg);
		return;
	}
	if (err < 0)
		exit(err == -EPIPE ? 0 : 101); /* supervisor gone, or it broke the protocol */
	dk_wire_reader_init(&r, msg->frame.payload, msg->frame.known_length);
	gen = dk_wire_get_u64(&r);
	a = dk_wire_get_u32(&r);
	b = dk_wire_get_u32(&r);
	if (msg->frame.opcode == DK_SUPCTL_OP_ATTACH) {
		dk_wire_get_string(&r, service, sizeof(service));
		dk_wire_get_string(&r, device, sizeof(device));
		dk_wire_get_string(&r, cls, sizeof(cls));
		if (dk_wire_reader_error(&r) || msg->n_fds != 1 || b != 0)
			exit(102);
		blog("ATTACH gen=%" PRIu64 " pid=%u service=%s device=%s class=%s\n", gen, a,
		     service, device, cls);
		log_hello(msg->fds[0], "HELLO");
	} else if (msg->frame.opcode == DK_SUPCTL_OP_HWSIM_ATTACH) {
		if (dk_wire_reader_error(&r) || dk_wire_reader_left(&r) || msg->n_fds != 1 ||
		    b != 0)
			exit(105);
		blog("HWSIM_ATTACH gen=%" PRIu64 " pid=%u\n", gen, a);
		log_hello(msg->fds[0], "HWSIM_HELLO");
	} else if (msg->frame.opcode == DK_SUPCTL_OP_DETACH) {
		dk_wire_get_string(&r, device, sizeof(device));
		if (dk_wire_reader_error(&r) || msg->n_fds != 0 || b != 0)
			exit(103);
		blog("DETACH gen=%" PRIu64 " state=%u device=%s\n", gen, a, device);
	} else {
		exit(104);
	}
	dk_msg_close_fds(msg);
	free(msg);
}

/* dk-hwsim mode: one control frame from the supervisor (HWSIM_CHANNEL is the only one). */
static void hwsim_frame(int ctl)
{
	struct dk_msg *msg = malloc(sizeof(*msg));
	struct dk_wire_reader r;
	char board[64];
	uint64_t gen;
	int err, n;

	if (!msg)
		die("malloc", ENOMEM);
	err = dk_msg_recv(ctl, &dk_supctl_proto, 0, msg, NULL);
	if (err == -EAGAIN) {
		free(msg);
		return;
	}
	if (err < 0)
		exit(err == -EPIPE ? 0 : 101);
	dk_wire_reader_init(&r, msg->frame.payload, msg->frame.known_length);
	gen = dk_wire_get_u64(&r);
	if (msg->frame.opcode != DK_SUPCTL_OP_HWSIM_CHANNEL || msg->n_fds != 1 ||
	    dk_wire_reader_error(&r) || dk_wire_reader_left(&r))
		exit(106);
	hlog("CHANNEL broker_gen=%" PRIu64 "\n", gen);
	/* A new channel replaces the old one. */
	if (hwsim_chan >= 0)
		close(hwsim_chan);
	hwsim_chan = msg->fds[0];
	msg->fds[0] = -1;
	n = snprintf(board, sizeof(board), "board %s", getenv(DK_ENV_GENERATION));
	if (send(hwsim_chan, board, (size_t)n, MSG_NOSIGNAL) != n)
		die("board hello", errno);
	dk_msg_close_fds(msg);
	free(msg);
}

/* A peer of --serve: send every fence with all rights (no seal: the registry keeps signal). */
static void serve_fences(int fd)
{
	for (int i = 0; i < n_fences; i++) {
		int err = dk_fence_send(fd, fences[i],
					DK_RIGHT_SIGNAL | DK_RIGHT_WAIT | DK_RIGHT_TRANSFER,
					(uint64_t)i + 1);

		if (err < 0)
			die("dk_fence_send", err);
	}
}

static void late_register(int fd)
{
	uint32_t rights = DK_RIGHT_SIGNAL | DK_RIGHT_WAIT | DK_RIGHT_TRANSFER;
	int err, fds[DK_FENCE_NR_FDS];
	struct dk_fence *f;
	uint8_t p[8] = {0xe8, 0x03}; /* tag 1000, little-endian */

	err = dk_fence_create(0, &f);
	if (err == 0)
		err = dk_fence_send(fd, f, rights, 1000);
	if (err == 0)
		err = dk_fence_export(f, rights, fds);
	/* The registration frame, without waiting for the answer (dk_child_fence_register()
	 * would): it is in the control socket, and we die before the supervisor can read it. */
	if (err == 0)
		err = dk_msg_send(dk_child_control_fd(), &dk_supctl_proto,
				  DK_SUPCTL_OP_FENCE_REGISTER, 0, 1000, p, sizeof(p), fds,
				  DK_FENCE_NR_FDS, deadline());
	if (err < 0)
		die("late register", err);
	raise(SIGKILL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"log", required_argument, NULL, 'l'},
		{"register", required_argument, NULL, 'g'},
		{"serve", required_argument, NULL, 's'},
		{"no-ready", no_argument, NULL, 'n'},
		{"fill", no_argument, NULL, 'f'},
		{"fill-fds", no_argument, NULL, 'F'},
		{"exit", required_argument, NULL, 'e'},
		{"crash-after-ready", no_argument, NULL, 'c'},
		{"ignore-term", no_argument, NULL, 'i'},
		{"violate", no_argument, NULL, 'v'},
		{"broker-log", required_argument, NULL, 'b'},
		{"hwsim-log", required_argument, NULL, 'H'},
		{"config", required_argument, NULL, 'C'},
		{"runtime-dir", required_argument, NULL, 'r'},
		{0},
	};
	const char *serve = NULL, *config = NULL;
	int opt, n_log = 0, n_reg = 0, exit_code = -1, lfd = -1, sfd, ctl, bfd;
	bool ready = true, crash = false, ignore_term = false, violate = false, fill = false;
	bool fill_fds = false;
	int conns[CONNS_MAX];
	uint64_t end = dk_deadline_in(LIFETIME_NS);
	sigset_t mask;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			n_log = atoi(optarg);
			break;
		case 'g':
			n_reg = atoi(optarg);
			if (n_reg < 0 || n_reg > FENCES_MAX)
				die("--register", EINVAL);
			break;
		case 's':
			serve = optarg;
			break;
		case 'n':
			ready = false;
			break;
		case 'f':
			fill = true;
			break;
		case 'F':
			fill_fds = true;
			break;
		case 'e':
			exit_code = atoi(optarg);
			break;
		case 'c':
			crash = true;
			break;
		case 'i':
			ignore_term = true;
			break;
		case 'v':
			violate = true;
			break;
		case 'b':
			broker_log = open(optarg, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
			if (broker_log < 0)
				die(optarg, errno);
			break;
		case 'H':
			hwsim_log = open(optarg, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
			if (hwsim_log < 0)
				die(optarg, errno);
			break;
		case 'C':
			config = optarg;
			break;
		case 'r':
			break;
		default:
			return 2;
		}
	}
	ctl = dk_child_control_fd();
	if (ctl < 0)
		die("no control socket", ctl);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	if (ignore_term)
		signal(SIGTERM, SIG_IGN);
	else if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die("sigprocmask", errno);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd", errno);

	if (getenv(DK_ENV_BROKER_FD)) {
		char hello[128];
		int n = snprintf(hello, sizeof(hello), "hello %s %s", getenv(DK_ENV_DEVICE),
				 getenv(DK_ENV_GENERATION));

		bfd = atoi(getenv(DK_ENV_BROKER_FD));
		if (send(bfd, hello, (size_t)n, MSG_NOSIGNAL) != n)
			die("hello", errno);
	}
	if (hwsim_log >= 0)
		hlog("HWSIM start gen=%s config=%s readable=%d\n", getenv(DK_ENV_GENERATION),
		     config ? config : "-", config && access(config, R_OK) == 0);
	if (n_log)
		append_log(n_log);
	make_fences(n_reg);
	if (fill)
		fill_registry();
	if (fill_fds) {
		uint64_t tag = 1;
		int err;

		while ((err = register_new(tag)) == 0 && tag <= DK_SUPCTL_FENCES_MAX)
			tag++;
		if (err != -ENOSPC)
			die("fill-fds", err < 0 ? err : EINVAL);
	}
	if (serve) {
		int err;

		unlink(serve);
		err = dk_socket_listen(serve, 8, &lfd);
		if (err < 0)
			die("listen", err);
	}
	if (exit_code >= 0)
		return exit_code;
	if (ready) {
		int err = dk_child_ready(deadline());

		if (err < 0)
			die("ready", err);
	}
	if (crash)
		return 3;
	if (violate) {
		static const struct dk_frame_opdesc op = {0x77, 0, 0, 0, "bogus"};
		static const struct dk_frame_proto bogus = {"bogus", 0, 1, &op};
		int err = dk_msg_send(ctl, &bogus, 0x77, 0, 1, NULL, 0, NULL, 0, deadline());

		if (err < 0)
			die("violate", err);
	}

	for (int i = 0; i < CONNS_MAX; i++)
		conns[i] = -1;
	while (dk_now_ns() < end) {
		struct pollfd pfd[3 + CONNS_MAX];
		int n = 0;

		pfd[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = ctl, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (int i = 0; i < CONNS_MAX; i++)
			pfd[n++] = (struct pollfd){.fd = conns[i], .events = POLLIN};
		if (poll(pfd, (nfds_t)n, (int)(STEP_NS / DK_NSEC_PER_MSEC)) < 0 && errno != EINTR)
			die("poll", errno);
		if (pfd[0].revents)
			break; /* SIGTERM */
		if (pfd[1].revents) {
			if (broker_log >= 0) {
				broker_frame(ctl);
			} else if (hwsim_log >= 0) {
				hwsim_frame(ctl);
			} else {
				char b;

				/* Only answers are sent to a service, read by the calls
				 * that wait for them: readable here means EOF. */
				if (recv(ctl, &b, 1, MSG_DONTWAIT) == 0)
					break;
			}
		}
		if (lfd >= 0 && pfd[2].revents) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			for (int i = 0; fd >= 0 && i < CONNS_MAX; i++) {
				if (conns[i] < 0) {
					conns[i] = fd;
					serve_fences(fd);
					fd = -1;
				}
			}
			if (fd >= 0)
				close(fd);
		}
		for (int i = 0; i < CONNS_MAX; i++) {
			char cmd;

			if (conns[i] < 0 || !pfd[3 + i].revents)
				continue;
			if (recv(conns[i], &cmd, 1, MSG_DONTWAIT) != 1) {
				close(conns[i]);
				conns[i] = -1;
				continue;
			}
			if (cmd == 'L')
				late_register(conns[i]);
		}
	}
	if (serve)
		unlink(serve);
	for (int i = 0; i < n_fences; i++)
		dk_fence_unref(fences[i]);
	return 0;
}
