/* SPDX-License-Identifier: MIT */
/*
 * policy-internal.h - helpers shared by the policy engine, the daemon and the client: name
 * checks and the CHECK / decision payload codecs (docs/policy.md, "Protocol"). Header-only so
 * that libdk and the static libdk-policy each carry their own copy.
 */
#ifndef DK_POLICY_INTERNAL_H
#define DK_POLICY_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <dk/policy.h>
#include <dk/wire.h>

/* Whether @s (@len bytes) is a valid name: 1..DK_POLICY_NAME_MAX of [A-Za-z0-9._-]. */
static inline bool dk_policyi_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > DK_POLICY_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* Whether a question is well formed (what dk_policy_decide() refuses with -EINVAL). */
static inline bool dk_policyi_question_ok(const struct dk_policy_subject *s, const char *device,
					  const char *device_class)
{
	if (!s || !device || s->kinds == 0 || (s->kinds & ~DK_POLICY_SUBJECT_KNOWN))
		return false;
	if ((s->kinds & DK_POLICY_SUBJECT_SERVICE) &&
	    (!s->service || !dk_policyi_name_ok(s->service, strlen(s->service))))
		return false;
	if (!dk_policyi_name_ok(device, strlen(device)))
		return false;
	if (device_class && *device_class &&
	    !dk_policyi_name_ok(device_class, strlen(device_class)))
		return false;
	return true;
}

/* A CHECK request payload. */
static inline void dk_policyi_put_check(struct dk_wire_writer *w,
					const struct dk_policy_subject *s, const char *device,
					const char *device_class)
{
	dk_wire_put_u8(w, (uint8_t)s->kinds);
	dk_wire_put_u8(w, 0);
	dk_wire_put_u16(w, 0);
	dk_wire_put_u32(w, (s->kinds & DK_POLICY_SUBJECT_UID) ? s->uid : 0);
	dk_wire_put_u32(w, (s->kinds & DK_POLICY_SUBJECT_GID) ? s->gid : 0);
	dk_wire_put_string(w, (s->kinds & DK_POLICY_SUBJECT_SERVICE) ? s->service : "");
	dk_wire_put_string(w, device);
	dk_wire_put_string(w, device_class ? device_class : "");
}

/* A decision reply payload (the layout of our minor: max_violations after the rule). */
static inline void dk_policyi_put_decision(struct dk_wire_writer *w,
					   const struct dk_policy_decision *d)
{
	dk_wire_put_u8(w, (uint8_t)d->verdict);
	dk_wire_put_u8(w, (uint8_t)d->reason);
	dk_wire_put_u16(w, 0);
	dk_wire_put_u32(w, d->grant.rights);
	dk_wire_put_u32(w, d->grant.qos);
	dk_wire_put_u32(w, d->grant.max_buffers);
	dk_wire_put_u64(w, d->grant.max_bytes);
	dk_wire_put_u32(w, d->grant.max_inflight);
	dk_wire_put_u32(w, d->grant.max_fences);
	dk_wire_put_u64(w, d->generation);
	dk_wire_put_string(w, d->rule);
	dk_wire_put_u32(w, d->grant.max_violations);
}

#endif /* DK_POLICY_INTERNAL_H */
