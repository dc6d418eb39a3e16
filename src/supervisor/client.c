/* SPDX-License-Identifier: MIT */
/*
 * client.c - STATUS and STOP over $RT/supervisor.sock (supervisor-client.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dk/msg.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "supervisor-client.h"

/* One request on a fresh connection; @reply is the caller's. */
static int call(const char *socket_path, uint16_t opcode, uint64_t deadline_ns,
		struct dk_msg *reply)
{
	int fd, err;

	if (!socket_path)
		return -EINVAL;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	err = dk_socket_connect(socket_path, deadline_ns, &fd);
	if (err < 0)
		return err;
	err = dk_msg_call(fd, &dk_supd_proto, &dk_supd_reply_proto, opcode, NULL, 0, NULL, 0,
			  deadline_ns, reply, NULL);
	if (err == 0 && reply->n_fds) {
		dk_msg_close_fds(reply);
		err = -EPROTO;
	}
	close(fd);
	return err;
}

static void get_entry(struct dk_wire_reader *r, struct dk_service_status *e)
{
	dk_wire_get_string(r, e->name, sizeof(e->name));
	dk_wire_get_string(r, e->kind, sizeof(e->kind));
	e->state = dk_wire_get_u32(r);
	e->pid = dk_wire_get_u32(r);
	e->generation = dk_wire_get_u64(r);
	e->restarts = dk_wire_get_u32(r);
	(void)dk_wire_get_u32(r);
	e->last_exit = (int32_t)dk_wire_get_u32(r);
	e->last_signal = dk_wire_get_u32(r);
	e->fences_registered = dk_wire_get_u64(r);
	e->fences_reaped = dk_wire_get_u64(r);
	e->last_ready_ns = dk_wire_get_u64(r);
}

int dk_supd_status(const char *socket_path, uint64_t deadline_ns, struct dk_service_status *out,
		   uint32_t max, uint32_t *ret_n, uint64_t *ret_uptime_ns)
{
	struct dk_msg *reply = malloc(sizeof(*reply));
	struct dk_service_status e;
	struct dk_wire_reader r;
	uint32_t n;
	uint64_t uptime;
	int err;

	if (!reply)
		return -ENOMEM;
	if (max && !out) {
		free(reply);
		return -EINVAL;
	}
	err = call(socket_path, DK_SUPD_OP_STATUS, deadline_ns, reply);
	if (err < 0)
		goto out_free;
	dk_wire_reader_init(&r, reply->frame.payload, reply->frame.known_length);
	n = dk_wire_get_u32(&r);
	(void)dk_wire_get_u32(&r);
	uptime = dk_wire_get_u64(&r);
	if (n > DK_SUPD_SERVICES_MAX) {
		err = -EPROTO;
		goto out_free;
	}
	for (uint32_t i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		get_entry(&r, &e);
		if (i < max)
			out[i] = e;
	}
	if (dk_wire_reader_error(&r) < 0 ||
	    (dk_wire_reader_left(&r) && reply->frame.minor <= DK_SUPD_PROTO_MINOR)) {
		err = -EPROTO;
		goto out_free;
	}
	if (ret_n)
		*ret_n = n;
	if (ret_uptime_ns)
		*ret_uptime_ns = uptime;
out_free:
	free(reply);
	return err;
}

int dk_supd_stop(const char *socket_path, uint64_t deadline_ns)
{
	struct dk_msg *reply = malloc(sizeof(*reply));
	int err;

	if (!reply)
		return -ENOMEM;
	err = call(socket_path, DK_SUPD_OP_STOP, deadline_ns, reply);
	free(reply);
	return err;
}
