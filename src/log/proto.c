/* SPDX-License-Identifier: MIT */
/*
 * proto.c - the "logd" request table and the record decoder (dk/log.h, docs/logd.md).
 */
#include <errno.h>
#include <string.h>

#include <dk/log.h>
#include <dk/wire.h>

#include "log-internal.h"

/*
 * Requests the daemon accepts. APPEND bounds are loose on purpose: a string over its cap must
 * be answered with -EMSGSIZE naming the rule, not with a frame-level size refusal.
 */
static const struct dk_frame_opdesc logd_ops[] = {
	{DK_LOGD_OP_HELLO, 0, 2, 2 + DK_LOG_NAME_MAX, "hello"},
	{DK_LOGD_OP_APPEND, 0, 8, DK_FRAME_MAX_PAYLOAD, "append"},
	{DK_LOGD_OP_APPEND_ASYNC, 0, 8, DK_FRAME_MAX_PAYLOAD, "append-async"},
	{DK_LOGD_OP_QUERY, 0, DK_LOGD_QUERY_FIXED + 2, DK_LOGD_QUERY_FIXED + 2 + DK_LOG_SCOPE_MAX,
	 "query"},
	{DK_LOGD_OP_FOLLOW, 0, 8, 8, "follow"},
	{DK_LOGD_OP_STATS, 0, 0, 0, "stats"},
};

const struct dk_frame_proto dk_logd_proto = {
	.name = "logd",
	.minor = DK_LOGD_PROTO_MINOR,
	.n_ops = sizeof(logd_ops) / sizeof(logd_ops[0]),
	.ops = logd_ops,
};

const char *dk_log_severity_name(uint32_t severity)
{
	static const char *const names[] = {"debug", "info", "notice", "warning", "error", "audit"};

	return severity <= DK_LOG_SEVERITY_MAX ? names[severity] : "unknown";
}

int dk_log_record_decode(const void *buf, size_t len, struct dk_log_record *ret_record)
{
	struct dk_wire_reader r;
	struct dk_log_record rec;
	int err = 0, e;

	if (!buf || !ret_record)
		return -EINVAL;
	memset(&rec, 0, sizeof(rec));
	dk_wire_reader_init(&r, buf, len);
	rec.seq = dk_wire_get_u64(&r);
	rec.realtime_ns = dk_wire_get_u64(&r);
	rec.monotonic_ns = dk_wire_get_u64(&r);
	rec.pid = dk_wire_get_u32(&r);
	rec.uid = dk_wire_get_u32(&r);
	rec.gid = dk_wire_get_u32(&r);
	rec.severity = dk_wire_get_u8(&r);
	rec.flags = dk_wire_get_u8(&r);
	if (dk_wire_reader_error(&r) < 0 || rec.severity > DK_LOG_SEVERITY_MAX)
		return -EPROTO;
	e = dk_logi_get_string(&r, rec.name_claim, DK_LOG_NAME_MAX);
	err = e < 0 ? e : err;
	if (e != -EPROTO) {
		e = dk_logi_get_string(&r, rec.scope, DK_LOG_SCOPE_MAX);
		err = e < 0 && !err ? e : err;
	}
	if (e != -EPROTO) {
		e = dk_logi_get_string(&r, rec.message, DK_LOG_MESSAGE_MAX);
		err = e < 0 && !err ? e : err;
	}
	if (e != -EPROTO) {
		e = dk_logi_get_string(&r, rec.fields, DK_LOG_FIELDS_MAX);
		err = e < 0 && !err ? e : err;
	}
	if (e == -EPROTO)
		return -EPROTO;
	if (err < 0)
		return err;
	*ret_record = rec;
	return (int)(len - dk_wire_reader_left(&r));
}
