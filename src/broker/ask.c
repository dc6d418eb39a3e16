/* SPDX-License-Identifier: MIT */
/*
 * ask.c - the broker's two outside services: dk-policyd answers every question (deny when it
 * cannot), dk-logd stores every audit record (counted as unaudited when it cannot). Both
 * connections are made on first use and remade after they break.
 */
#include <errno.h>
#include <stdlib.h>

#include <dk/time.h>

#include "broker-internal.h"

int broker_policy_ask(struct dk_broker *b, const struct dk_policy_subject *s, const char *device,
		      const char *device_class, struct dk_policy_decision *ret_dec)
{
	uint64_t deadline = dk_deadline_in(DK_BROKER_POLICY_TIMEOUT_NS);
	int err = -EPIPE;

	/* A broken connection (dk-policyd restarted) is remade once, within the same deadline. */
	for (int attempt = 0; attempt < 2 && err == -EPIPE; attempt++) {
		if (!b->policy) {
			err = dk_policy_connect(b->policyd_path, deadline, &b->policy);
			if (err < 0) {
				b->policy = NULL;
				break;
			}
		}
		err = dk_policy_check(b->policy, s, device, device_class, deadline, ret_dec);
		if (err == 0)
			return 0;
		/* Whatever went wrong, the next question starts on a fresh connection. */
		dk_policy_close(b->policy);
		b->policy = NULL;
	}
	b->st.policy_unreachable++;
	return err;
}

void broker_audit(struct dk_broker *b, enum dk_log_severity sev, const char *scope,
		  const char *message, const char *fields)
{
	for (int attempt = 0; attempt < 2 && b->logd_path; attempt++) {
		uint64_t now = dk_now_ns();
		int err;

		if (!b->log) {
			if (now < b->log_retry_ns)
				break;
			err = dk_log_connect(b->logd_path, "dk-broker",
					     now + DK_BROKER_AUDIT_TIMEOUT_NS, &b->log);
			if (err < 0) {
				b->log = NULL;
				/* Only a journal that hangs costs time: pause after a timeout. */
				if (err == -ETIMEDOUT)
					b->log_retry_ns = now + DK_BROKER_AUDIT_RETRY_NS;
				break;
			}
		}
		err = dk_log_append(b->log, sev, scope, message, fields,
				    dk_deadline_in(DK_BROKER_AUDIT_TIMEOUT_NS), NULL);
		if (err == 0) {
			b->st.audited++;
			return;
		}
		if (err == -EAGAIN)
			break; /* the journal's rate limit: the connection is fine */
		dk_log_close(b->log);
		b->log = NULL;
		if (err == -ETIMEDOUT)
			b->log_retry_ns = dk_now_ns() + DK_BROKER_AUDIT_RETRY_NS;
		if (err != -EPIPE)
			break; /* reconnect at once only when dk-logd went away */
	}
	b->st.unaudited++;
}

const char *broker_errno_name(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "0";
	case EACCES:
		return "EACCES";
	case EAGAIN:
		return "EAGAIN";
	case EBUSY:
		return "EBUSY";
	case EINVAL:
		return "EINVAL";
	case EIO:
		return "EIO";
	case EMFILE:
		return "EMFILE";
	case ENFILE:
		return "ENFILE";
	case ENODEV:
		return "ENODEV";
	case ENOMEM:
		return "ENOMEM";
	case ENOENT:
		return "ENOENT";
	case ENOSPC:
		return "ENOSPC";
	case EPERM:
		return "EPERM";
	case EPIPE:
		return "EPIPE";
	case EPROTO:
		return "EPROTO";
	case ESRCH:
		return "ESRCH";
	case ETIMEDOUT:
		return "ETIMEDOUT";
	case EOPNOTSUPP:
		return "EOPNOTSUPP";
	default:
		return "EOTHER";
	}
}
