/* SPDX-License-Identifier: MIT */
/*
 * status.c - dk_broker_status(): one STATUS request on a fresh connection (broker-client.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dk/msg.h>
#include <dk/socket.h>
#include <dk/time.h>
#include <dk/wire.h>

#include "broker-client.h"

int dk_broker_status(const char *socket_path, uint64_t deadline_ns, struct dk_device_status *out,
		     uint32_t max, uint32_t *ret_n)
{
	struct dk_device_status e;
	struct dk_wire_reader r;
	struct dk_msg *m;
	uint32_t n, reserved;
	int fd, err;

	if (!socket_path || !ret_n || (max && !out))
		return -EINVAL;
	err = dk_deadline_check(deadline_ns);
	if (err < 0)
		return err;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	err = dk_socket_connect(socket_path, deadline_ns, &fd);
	if (err < 0)
		goto out_free;
	err = dk_msg_call(fd, &dk_broker_proto, &dk_broker_reply_proto, DK_BROKER_OP_STATUS, NULL,
			  0, NULL, 0, deadline_ns, m, NULL);
	if (err < 0)
		goto out_close;
	if (m->n_fds) {
		dk_msg_close_fds(m);
		err = -EPROTO;
		goto out_close;
	}
	dk_wire_reader_init(&r, m->frame.payload, m->frame.known_length);
	n = dk_wire_get_u32(&r);
	reserved = dk_wire_get_u32(&r);
	(void)dk_wire_get_u64(&r); /* opens, all devices */
	(void)dk_wire_get_u64(&r); /* denials */
	if (n > DK_BROKER_DEVICES_MAX || reserved) {
		err = -EPROTO;
		goto out_close;
	}
	/* Check the whole reply before writing anything. */
	for (uint32_t pass = 0; pass < 2; pass++) {
		struct dk_wire_reader it = r;

		for (uint32_t i = 0; i < n; i++) {
			memset(&e, 0, sizeof(e));
			dk_wire_get_string(&it, e.device, sizeof(e.device));
			dk_wire_get_string(&it, e.device_class, sizeof(e.device_class));
			dk_wire_get_string(&it, e.service, sizeof(e.service));
			e.generation = dk_wire_get_u64(&it);
			e.pid = dk_wire_get_u32(&it);
			e.state = dk_wire_get_u32(&it);
			e.sessions = dk_wire_get_u32(&it);
			(void)dk_wire_get_u32(&it);
			e.opens = dk_wire_get_u64(&it);
			e.denials = dk_wire_get_u64(&it);
			if (pass == 1 && i < max)
				out[i] = e;
		}
		if (dk_wire_reader_error(&it) < 0) {
			err = -EPROTO;
			goto out_close;
		}
	}
	*ret_n = n;
	err = 0;
out_close:
	close(fd);
out_free:
	free(m);
	return err;
}
