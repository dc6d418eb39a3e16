/* SPDX-License-Identifier: MIT */
/*
 * admin.c - dk_broker_inject() and dk_broker_kill_client(): one operator request on a fresh
 * connection each (broker-client.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <dk/msg.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "broker-client.h"

/* Connect, send @opcode with @p, expect an empty reply, close. */
static int call_empty(const char *socket_path, uint16_t opcode, const void *p, size_t len,
		      uint64_t deadline_ns)
{
	struct dk_msg *m;
	int fd, err;

	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	err = dk_socket_connect(socket_path, deadline_ns, &fd);
	if (err < 0)
		goto out_free;
	err = dk_msg_call(fd, &dk_broker_proto, &dk_broker_reply_proto, opcode, p, len, NULL, 0,
			  deadline_ns, m, NULL);
	if (err == 0 && m->n_fds) {
		dk_msg_close_fds(m);
		err = -EPROTO;
	}
	close(fd);
out_free:
	free(m);
	return err;
}

int dk_broker_inject(const char *socket_path, const char *device, uint32_t fault,
		     uint64_t deadline_ns)
{
	uint8_t p[2 + DK_RT_NAME_MAX + 8];
	struct dk_wire_writer w;

	if (!socket_path || dk_rt_check_name(device) < 0)
		return -EINVAL;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	dk_wire_put_u32(&w, fault);
	dk_wire_put_u32(&w, 0);
	return call_empty(socket_path, DK_BROKER_OP_INJECT, p, dk_wire_writer_len(&w),
			  deadline_ns);
}

int dk_broker_kill_client(const char *socket_path, const char *device, uint64_t session_id,
			  uint64_t deadline_ns)
{
	uint8_t p[2 + DK_RT_NAME_MAX + 8];
	struct dk_wire_writer w;

	if (!socket_path || dk_rt_check_name(device) < 0)
		return -EINVAL;
	dk_wire_writer_init(&w, p, sizeof(p));
	dk_wire_put_string(&w, device);
	dk_wire_put_u64(&w, session_id);
	return call_empty(socket_path, DK_BROKER_OP_KILL_CLIENT, p, dk_wire_writer_len(&w),
			  deadline_ns);
}
