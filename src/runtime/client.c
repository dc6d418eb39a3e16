/* SPDX-License-Identifier: MIT */
/*
 * client.c - the application side of the runtime (dk/client.h): the broker connection, device
 * sessions, registrations, queues and reopening after a service restart.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dk/buffer.h>
#include <dk/client.h>
#include <dk/error.h>
#include <dk/fence.h>
#include <dk/msg.h>
#include <dk/rights.h>
#include <dk/ring.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

/* Queues kept per device: this session's, plus those of earlier generations not yet freed. */
#define QUEUES_KEPT (4u * DK_SESSION_QUEUES_MAX)

struct dk_client {
	int fd;
	uint64_t connects; /* connections made to the broker so far: a new one, a new broker? */
	char runtime_dir[DK_RT_PATH_MAX];
	char socket_path[DK_RT_PATH_MAX];
};

struct queue {
	struct dk_ring *ring;
	uint32_t id;
	uint64_t generation;
};

struct dk_device {
	struct dk_client *client;
	int fd; /* the session socket; -1 once the service is known gone */
	uint64_t broker_connect; /* client->connects when the session was opened */
	char name[DK_RT_NAME_MAX + 1];
	struct dk_session_grant grant;
	struct queue queues[QUEUES_KEPT];
	struct dk_msg msg; /* reply buffer */
};

static int connect_broker(struct dk_client *c, uint64_t deadline_ns)
{
	int fd, err = dk_socket_connect(c->socket_path, deadline_ns, &fd);

	if (err < 0)
		return err;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = fd;
	c->connects++;
	return 0;
}

int dk_client_connect(const char *runtime_dir, uint64_t deadline_ns,
		      struct dk_client **ret_client)
{
	struct dk_client *c;
	int err;

	if (!ret_client)
		return -EINVAL;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	if (!runtime_dir)
		runtime_dir = getenv(DK_ENV_RUNTIME_DIR);
	if (runtime_dir) {
		if (strlen(runtime_dir) >= sizeof(c->runtime_dir))
			err = -ENAMETOOLONG;
		else
			strcpy(c->runtime_dir, runtime_dir);
	} else {
		err = dk_runtime_dir_default(c->runtime_dir, sizeof(c->runtime_dir));
	}
	if (err == 0)
		err = dk_runtime_path(c->runtime_dir, DK_RT_BROKER_SOCKET, c->socket_path,
				      sizeof(c->socket_path));
	if (err == 0)
		err = connect_broker(c, deadline_ns);
	if (err < 0) {
		free(c);
		return err;
	}
	*ret_client = c;
	return 0;
}

void dk_client_close(struct dk_client *client)
{
	if (!client)
		return;
	if (client->fd >= 0)
		close(client->fd);
	free(client);
}

/* One broker call; reconnects once when the broker went away between calls. */
static int broker_call(struct dk_client *c, uint16_t op, const void *p, size_t len,
		       uint64_t deadline_ns, struct dk_msg *reply, uint32_t *ret_reason)
{
	int err;

	if (c->fd < 0) {
		err = connect_broker(c, deadline_ns);
		if (err < 0)
			return err == -ENOENT || err == -ECONNREFUSED ? -EPIPE : err;
	}
	err = dk_msg_call(c->fd, &dk_broker_proto, &dk_broker_reply_proto, op, p, len, NULL, 0,
			  deadline_ns, reply, ret_reason);
	if (err == -EPIPE) {
		/* The broker restarted: a fresh connection, then the same question once. */
		close(c->fd);
		c->fd = -1;
		err = connect_broker(c, deadline_ns);
		if (err < 0)
			return err == -ENOENT || err == -ECONNREFUSED ? -EPIPE : err;
		err = dk_msg_call(c->fd, &dk_broker_proto, &dk_broker_reply_proto, op, p, len,
				  NULL, 0, deadline_ns, reply, ret_reason);
	}
	if (err == -EPROTO && c->fd >= 0) {
		/* Out of step with the broker: start over on a new connection next time. */
		close(c->fd);
		c->fd = -1;
	}
	return err;
}

int dk_client_list(struct dk_client *client, struct dk_device_entry *entries, uint32_t max,
		   uint64_t deadline_ns)
{
	struct dk_msg *m;
	struct dk_wire_reader r;
	uint32_t n, i;
	int err;

	if (!client || (max && !entries))
		return -EINVAL;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	err = broker_call(client, DK_BROKER_OP_LIST, NULL, 0, deadline_ns, m, NULL);
	if (err < 0)
		goto out;
	dk_msg_close_fds(m);
	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	n = dk_wire_get_u32(&r);
	dk_wire_get_u32(&r);
	for (i = 0; i < n && i < max; i++) {
		struct dk_device_entry *e = &entries[i];

		dk_wire_get_string(&r, e->device, sizeof(e->device));
		dk_wire_get_string(&r, e->device_class, sizeof(e->device_class));
		e->generation = dk_wire_get_u64(&r);
		e->state = dk_wire_get_u32(&r);
		dk_wire_get_u32(&r);
	}
	err = dk_wire_reader_error(&r) < 0 ? -EPROTO : (int)i;
out:
	free(m);
	return err;
}

static void drop_session(struct dk_device *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* Ask the broker for a session on d->name; on success d->fd and d->grant are the new ones. */
static int open_session(struct dk_device *d, uint64_t deadline_ns, uint32_t *ret_reason)
{
	uint8_t p[2 + DK_RT_NAME_MAX];
	struct dk_wire_writer w;
	struct dk_wire_reader r;
	struct dk_session_grant g = {0};
	struct dk_msg *m = &d->msg;
	int err;

	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, d->name);
	err = broker_call(d->client, DK_BROKER_OP_OPEN, p, dk_wire_writer_len(&w), deadline_ns, m,
			  ret_reason);
	if (err < 0)
		return err;
	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	g.generation = dk_wire_get_u64(&r);
	g.session_id = dk_wire_get_u64(&r);
	g.rights = dk_wire_get_u32(&r);
	g.qos = dk_wire_get_u32(&r);
	g.max_bytes = dk_wire_get_u64(&r);
	g.max_buffers = dk_wire_get_u32(&r);
	g.max_inflight = dk_wire_get_u32(&r);
	g.max_fences = dk_wire_get_u32(&r);
	g.max_violations = dk_wire_get_u32(&r);
	if (m->frame.minor < 1) /* a reserved 0 then: the broker knew no kill threshold */
		g.max_violations = DK_SESSION_MAX_VIOLATIONS_UNSET;
	dk_wire_get_string(&r, g.device_class, sizeof(g.device_class));
	if (dk_wire_reader_error(&r) < 0 || m->n_fds != 1) {
		dk_msg_close_fds(m);
		return -EPROTO;
	}
	drop_session(d);
	d->fd = m->fds[0];
	m->fds[0] = -1;
	m->n_fds = 0;
	d->grant = g;
	d->broker_connect = d->client->connects;
	return 0;
}

int dk_device_open(struct dk_client *client, const char *device, uint64_t deadline_ns,
		   struct dk_device **ret_device)
{
	struct dk_device *d;
	int err;

	if (!client || !ret_device || dk_rt_check_name(device) < 0)
		return -EINVAL;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->client = client;
	d->fd = -1;
	strcpy(d->name, device);
	err = open_session(d, deadline_ns, NULL);
	if (err < 0) {
		free(d);
		return err;
	}
	*ret_device = d;
	return 0;
}

int dk_device_adopt(int fd, const struct dk_session_grant *grant, const char *name,
		    struct dk_device **ret_device)
{
	struct dk_device *d;

	if (fd < 0 || !grant || !ret_device || dk_rt_check_name(name) < 0)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = fd;
	d->grant = *grant;
	strcpy(d->name, name);
	*ret_device = d;
	return 0;
}

static void free_queues(struct dk_device *d)
{
	for (uint32_t i = 0; i < QUEUES_KEPT; i++) {
		if (d->queues[i].ring)
			dk_ring_destroy(d->queues[i].ring);
		d->queues[i].ring = NULL;
	}
}

void dk_device_close(struct dk_device *device)
{
	if (!device)
		return;
	drop_session(device);
	free_queues(device);
	free(device);
}

const struct dk_session_grant *dk_device_grant(const struct dk_device *device)
{
	return &device->grant;
}

uint64_t dk_device_generation(const struct dk_device *device)
{
	return device->grant.generation;
}

int dk_device_check(struct dk_device *device)
{
	struct pollfd pfd;

	if (!device)
		return -EINVAL;
	if (device->fd < 0)
		return -ENODEV;
	pfd.fd = device->fd;
	pfd.events = 0;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR))) {
		drop_session(device);
		return -ENODEV;
	}
	return 0;
}

int dk_device_reopen(struct dk_device *device, uint64_t deadline_ns)
{
	uint64_t pause = DK_CLIENT_REOPEN_PAUSE_MIN_NS, now;
	uint32_t reason;
	int err = -ETIMEDOUT;

	if (!device)
		return -EINVAL;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	if (!device->client)
		return -ENODEV;
	drop_session(device);
	for (uint32_t attempt = 0; attempt < DK_CLIENT_REOPEN_ATTEMPTS; attempt++) {
		struct timespec ts;

		err = open_session(device, deadline_ns, &reason);
		/*
		 * A broker that restarted since the session was opened learns of the device only
		 * once the supervisor attached its restarted service: until then it answers as
		 * for a device that does not exist (-ENODEV, or -EACCES when only a class rule
		 * would allow it). Retry those too, within the same bounds.
		 */
		if (err != -EAGAIN && err != -EPIPE &&
		    !((err == -ENODEV || err == -EACCES) &&
		      device->client->connects != device->broker_connect))
			return err;
		/* Restarting (or the broker itself is): wait a little, never past the deadline. */
		now = dk_now_ns();
		if (now >= deadline_ns)
			return -ETIMEDOUT;
		if (pause > deadline_ns - now)
			pause = deadline_ns - now;
		ts.tv_sec = (time_t)(pause / DK_NSEC_PER_SEC);
		ts.tv_nsec = (long)(pause % DK_NSEC_PER_SEC);
		nanosleep(&ts, NULL);
		pause *= 2;
		if (pause > DK_CLIENT_REOPEN_PAUSE_MAX_NS)
			pause = DK_CLIENT_REOPEN_PAUSE_MAX_NS;
	}
	return err == -EPIPE || err == -ENODEV || err == -EACCES ? err : -ETIMEDOUT;
}

/* One session call. A hung-up session means the service is gone: -ENODEV from then on. */
static int session_call(struct dk_device *d, uint16_t op, const void *p, size_t len,
			const int *fds, uint32_t n_fds, uint64_t deadline_ns)
{
	int err;

	if (d->fd < 0)
		return -ENODEV;
	err = dk_msg_call(d->fd, &dk_session_proto, &dk_session_reply_proto, op, p, len, fds,
			  n_fds, deadline_ns, &d->msg, NULL);
	if (err == -EPIPE || err == -ECONNRESET) {
		drop_session(d);
		return -ENODEV;
	}
	return err;
}

static int reply_index(struct dk_device *d, uint32_t *ret_index)
{
	struct dk_wire_reader r;

	dk_msg_close_fds(&d->msg);
	dk_wire_reader_init(&r, d->msg.frame.payload, d->msg.frame.known_length);
	*ret_index = dk_wire_get_u32(&r);
	return dk_wire_reader_error(&r);
}

int dk_device_register_buffer(struct dk_device *device, struct dk_buffer *buffer,
			      uint32_t rights, uint64_t deadline_ns, uint32_t *ret_index)
{
	uint8_t p[16];
	struct dk_wire_writer w;
	int fd, err;

	if (!device || !buffer || !ret_index)
		return -EINVAL;
	if (device->fd < 0)
		return -ENODEV;
	err = dk_buffer_export(buffer, rights, &fd);
	if (err < 0)
		return err;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, rights);
	dk_wire_put_u32(&w, 0);
	dk_wire_put_u64(&w, dk_buffer_size(buffer));
	err = session_call(device, DK_SESSION_OP_REG_BUFFER, p, sizeof(p), &fd, 1, deadline_ns);
	close(fd);
	return err < 0 ? err : reply_index(device, ret_index);
}

int dk_device_register_fence(struct dk_device *device, struct dk_fence *fence, uint32_t rights,
			     uint64_t deadline_ns, uint32_t *ret_index)
{
	int fds[DK_FENCE_NR_FDS], err;
	uint8_t p[8];
	struct dk_wire_writer w;

	if (!device || !fence || !ret_index)
		return -EINVAL;
	if (device->fd < 0)
		return -ENODEV;
	err = dk_fence_export(fence, rights, fds);
	if (err < 0)
		return err;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, rights);
	dk_wire_put_u32(&w, 0);
	err = session_call(device, DK_SESSION_OP_REG_FENCE, p, sizeof(p), fds, DK_FENCE_NR_FDS,
			   deadline_ns);
	for (int i = 0; i < DK_FENCE_NR_FDS; i++)
		close(fds[i]);
	return err < 0 ? err : reply_index(device, ret_index);
}

int dk_device_unregister(struct dk_device *device, uint32_t index, uint64_t deadline_ns)
{
	uint8_t p[8];
	struct dk_wire_writer w;

	if (!device)
		return -EINVAL;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, index);
	dk_wire_put_u32(&w, 0);
	return session_call(device, DK_SESSION_OP_UNREGISTER, p, sizeof(p), NULL, 0, deadline_ns);
}

int dk_device_create_queue(struct dk_device *device, const struct dk_ring_params *params,
			   uint64_t deadline_ns, struct dk_ring **ret_ring)
{
	struct dk_fence *fence = NULL;
	struct dk_ring *ring = NULL;
	struct queue *slot = NULL;
	uint8_t p[16];
	struct dk_wire_writer w;
	uint32_t id;
	int err;

	if (!device || !params || !ret_ring)
		return -EINVAL;
	for (uint32_t i = 0; i < QUEUES_KEPT && !slot; i++)
		if (!device->queues[i].ring)
			slot = &device->queues[i];
	if (!slot)
		return -ENOSPC;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_u32(&w, params->sq_entries);
	dk_wire_put_u32(&w, params->cq_entries);
	dk_wire_put_u32(&w, params->qos);
	dk_wire_put_u32(&w, 0);
	err = session_call(device, DK_SESSION_OP_CREATE_QUEUE, p, sizeof(p), NULL, 0, deadline_ns);
	if (err < 0)
		return err;
	if (device->msg.n_fds != 1 + DK_FENCE_NR_FDS) {
		dk_msg_close_fds(&device->msg);
		return -EPROTO;
	}
	{
		struct dk_wire_reader r;

		dk_wire_reader_init(&r, device->msg.frame.payload, device->msg.frame.known_length);
		id = dk_wire_get_u32(&r);
	}
	/* Check everything the service sent: a fence, and a ring whose header checks out. */
	err = dk_fence_import(&device->msg.fds[1], DK_RIGHTS_FENCE_WAIT, &fence);
	if (err < 0) {
		dk_msg_close_fds(&device->msg);
		return err;
	}
	device->msg.fds[1] = device->msg.fds[2] = device->msg.fds[3] = -1;
	err = dk_ring_attach(device->msg.fds[0], fence, &ring);
	dk_fence_unref(fence);
	if (err < 0) {
		dk_msg_close_fds(&device->msg);
		return err;
	}
	device->msg.fds[0] = -1;
	device->msg.n_fds = 0;
	if (dk_ring_qos(ring) != params->qos || dk_ring_sq_entries(ring) != params->sq_entries) {
		dk_ring_destroy(ring);
		return -EPROTO;
	}
	slot->ring = ring;
	slot->id = id;
	slot->generation = device->grant.generation;
	*ret_ring = ring;
	return 0;
}

int dk_device_destroy_queue(struct dk_device *device, struct dk_ring *ring, uint64_t deadline_ns)
{
	struct queue *q = NULL;
	uint8_t p[8];
	struct dk_wire_writer w;
	int err = 0;

	if (!device || !ring)
		return -EINVAL;
	for (uint32_t i = 0; i < QUEUES_KEPT && !q; i++)
		if (device->queues[i].ring == ring)
			q = &device->queues[i];
	if (!q)
		return -EINVAL;
	if (q->generation == device->grant.generation && device->fd >= 0) {
		dk_wire_writer_init(&w, p, sizeof(p));
		dk_wire_put_u32(&w, q->id);
		dk_wire_put_u32(&w, 0);
		err = session_call(device, DK_SESSION_OP_DESTROY_QUEUE, p, sizeof(p), NULL, 0,
				   deadline_ns);
	}
	dk_ring_destroy(ring);
	q->ring = NULL;
	return err == -ENODEV ? 0 : err;
}

int dk_device_stats(struct dk_device *device, uint64_t deadline_ns,
		    struct dk_session_stats *ret_stats)
{
	struct dk_wire_reader r;
	struct dk_session_stats *s = ret_stats;
	int err;

	if (!device || !ret_stats)
		return -EINVAL;
	err = session_call(device, DK_SESSION_OP_STATS, NULL, 0, NULL, 0, deadline_ns);
	if (err < 0)
		return err;
	dk_msg_close_fds(&device->msg);
	dk_wire_reader_init(&r, device->msg.frame.payload, device->msg.frame.known_length);
	s->generation = dk_wire_get_u64(&r);
	s->session_id = dk_wire_get_u64(&r);
	s->buffers = dk_wire_get_u32(&r);
	s->fences = dk_wire_get_u32(&r);
	s->bytes = dk_wire_get_u64(&r);
	s->queues = dk_wire_get_u32(&r);
	s->inflight = dk_wire_get_u32(&r);
	s->completed = dk_wire_get_u64(&r);
	s->refused = dk_wire_get_u64(&r);
	return dk_wire_reader_error(&r);
}
