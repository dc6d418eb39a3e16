/* SPDX-License-Identifier: MIT */
/*
 * dk/policy.h - the policy authority (dk-policyd): rules, decisions, the "policyd" frame
 * protocol and the client API the broker uses to ask.
 *
 * Deny by default. A policy file (INI, docs/policy.md) holds rules; a rule maps one subject
 * (service=NAME, uid=N or gid=N) and one device (device=NAME or class=NAME) to either a grant
 * (rights, a QoS ceiling, budgets, optionally a kill threshold) or an explicit denial. When
 * several rules match, the most specific one decides: subject service > uid > gid first, then
 * device > class. Two rules with the same subject and the same device are refused when the file
 * is loaded, so a decision never depends on the order of the file.
 *
 * Two libraries carry this header:
 *  - libdk: the client API (dk_policy_connect() ... dk_policy_close()) and the protocol table;
 *  - libdk-policy (static, src/policy): the engine, dk_policy_load() ... dk_policy_check_file(),
 *    for dk-policyd and tools (dkctl policy check). It needs libinih.
 *
 * Thread rules: a struct dk_policy is immutable once loaded and may be shared by threads; a
 * struct dk_policy_client is used by one thread at a time.
 */
#ifndef DK_POLICY_H
#define DK_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <dk/common.h>
#include <dk/frame.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Name caps in bytes, without a terminating NUL. Names are [A-Za-z0-9._-], not empty. */
#define DK_POLICY_NAME_MAX 63u /* rule, service, device and class names */
#define DK_POLICY_RULES_MAX 1024u
#define DK_POLICY_FILE_MAX (1024u * 1024u) /* bytes of a policy file */
#define DK_POLICY_LINE_MAX 160u            /* bytes of one line, without its newline */
#define DK_POLICY_ERROR_MAX 256u           /* a load error message, with its NUL */

/* Hard caps of the budgets a rule may grant (docs/policy.md, "Caps"). Each budget is >= 1. */
#define DK_POLICY_MAX_BYTES_CAP (64ull << 30) /* 64 GiB */
#define DK_POLICY_MAX_BUFFERS_CAP 65536u
#define DK_POLICY_MAX_INFLIGHT_CAP 4096u
#define DK_POLICY_MAX_FENCES_CAP 65536u
/* The kill threshold a rule may set: 0 (never kill automatically) .. this. */
#define DK_POLICY_MAX_VIOLATIONS_CAP 65536u
/* max_violations of a grant whose rule does not set it: the device service's own threshold. */
#define DK_POLICY_MAX_VIOLATIONS_UNSET UINT32_MAX

/* Which identities a subject carries (bits of struct dk_policy_subject.kinds). */
enum dk_policy_subject_kind {
	DK_POLICY_SUBJECT_SERVICE = 1u << 0, /* an identity assigned by the supervisor */
	DK_POLICY_SUBJECT_UID = 1u << 1,
	DK_POLICY_SUBJECT_GID = 1u << 2,
};
#define DK_POLICY_SUBJECT_KNOWN 0x7u

/*
 * Who wants a device. The asker (the broker) fills in what it knows from the kernel: a client's
 * uid and gid from SO_PEERCRED, a service's identity from the supervisor. Rules of each kind
 * present may match; the most specific wins.
 */
struct dk_policy_subject {
	uint32_t kinds;      /* DK_POLICY_SUBJECT_* bits, at least one */
	uint32_t uid;        /* with DK_POLICY_SUBJECT_UID */
	uint32_t gid;        /* with DK_POLICY_SUBJECT_GID */
	const char *service; /* with DK_POLICY_SUBJECT_SERVICE: a name as above */
};

enum dk_policy_verdict {
	DK_POLICY_DENY = 0,
	DK_POLICY_ALLOW = 1,
};

/* Why a decision went the way it did. Stable values. */
enum dk_policy_reason {
	DK_POLICY_REASON_NO_RULE = 0,   /* no rule matches: denied by default */
	DK_POLICY_REASON_GRANT = 1,     /* a grant rule matched */
	DK_POLICY_REASON_DENY_RULE = 2, /* an explicit deny rule matched */
};

/* What an allow decision grants. All zero in a denial. */
struct dk_policy_grant {
	uint32_t rights;       /* DK_RIGHT_* (dk/rights.h) */
	uint32_t qos;          /* QoS ceiling: enum dk_qos (dk/qos.h) */
	uint64_t max_bytes;    /* budget: bytes of live buffers */
	uint32_t max_buffers;  /* budget: live buffers */
	uint32_t max_inflight; /* budget: jobs in flight */
	uint32_t max_fences;   /* budget: live fences */
	/* Validation failures and hangs after which the device service kills the session on its
	 * own: 0 never; DK_POLICY_MAX_VIOLATIONS_UNSET when the rule does not say (the service's
	 * own threshold applies). */
	uint32_t max_violations;
};

struct dk_policy_decision {
	uint32_t verdict;                   /* enum dk_policy_verdict */
	uint32_t reason;                    /* enum dk_policy_reason */
	char rule[DK_POLICY_NAME_MAX + 1];  /* the deciding rule, "" when none matched */
	struct dk_policy_grant grant;
	uint64_t generation; /* the policy generation that decided (daemon replies; 0 locally) */
};

/* A load error: where and what. */
struct dk_policy_error {
	uint32_t line;                      /* 1-based; 0 when not about one line */
	char message[DK_POLICY_ERROR_MAX];  /* e.g. "rule 'gpu': unknown key 'colour'" */
};

/* dk_policy_reason_name - "no-rule", "grant", "deny-rule"; "unknown" otherwise. Static. */
DK_EXPORT const char *dk_policy_reason_name(uint32_t reason);

/* ---- the engine (libdk-policy) ---- */

struct dk_policy;

/*
 * dk_policy_parse - check and load a policy from @text (@len bytes, no NUL needed).
 * @ret_policy: the policy, owned by the caller until dk_policy_destroy(); written on success.
 * @ret_error: optional; on -EINVAL, the line and a message naming the problem.
 * Returns 0; -EINVAL (the text is not a valid policy); -EFBIG (over DK_POLICY_FILE_MAX);
 * -ENOMEM.
 */
int dk_policy_parse(const char *text, size_t len, struct dk_policy **ret_policy,
		    struct dk_policy_error *ret_error);

/*
 * dk_policy_load - dk_policy_parse() of the file at @path.
 * Returns as dk_policy_parse(), or the -errno of opening/reading the file (the message then
 * says so, line 0).
 */
int dk_policy_load(const char *path, struct dk_policy **ret_policy,
		   struct dk_policy_error *ret_error);

/* dk_policy_destroy - free @policy. Accepts NULL. */
void dk_policy_destroy(struct dk_policy *policy);

/* dk_policy_n_rules - the number of rules. */
uint32_t dk_policy_n_rules(const struct dk_policy *policy);

/*
 * dk_policy_decide - what @policy says about @subject opening @device of class @device_class.
 * Pure and deterministic: the same policy and question always give the same answer.
 * @device: the device name (required); @device_class: its class (NULL or "" when it has none).
 * @ret_decision: the decision (written on success; generation 0).
 * Returns 0 (for a denial too); -EINVAL for a malformed question (no subject kind, unknown
 * kind bits, a name that is empty, too long or outside [A-Za-z0-9._-]).
 */
int dk_policy_decide(const struct dk_policy *policy, const struct dk_policy_subject *subject,
		     const char *device, const char *device_class,
		     struct dk_policy_decision *ret_decision);

/*
 * dk_policy_check_file - validate the policy file at @path offline (dkctl policy check).
 * @msg, @msg_size: optional; receives "PATH:LINE: MESSAGE" (or "PATH: MESSAGE"), truncated to
 *   fit, NUL-terminated; "" on success.
 * Returns 0 when the file is a valid policy, else the error of dk_policy_load().
 */
int dk_policy_check_file(const char *path, char *msg, size_t msg_size);

/* ---- the "policyd" protocol (docs/policy.md, "Protocol") ---- */

#define DK_POLICYD_PROTO_MINOR 2
enum dk_policyd_opcode {
	/* A question; reply: the decision (since minor 2 with u32 max_violations after the rule
	 * string, docs/policy.md "Protocol"). */
	DK_POLICYD_OP_CHECK = 0x0001,
	DK_POLICYD_OP_STATS = 0x0002, /* counters */
	/* Since minor 1: re-read the policy file, as SIGHUP does. Payload empty. Reply (also when
	 * the file is refused): i32 error (0 or -errno of the load), u32 line (0: not about one
	 * line), u64 generation and u32 rules in force afterwards, u32 0, string message ("" on
	 * success). Askers only, like every request. */
	DK_POLICYD_OP_RELOAD = 0x0003,
};

#define DK_POLICYD_CHECK_FIXED 12u /* u8 kinds, u8 0, u16 0, u32 uid, u32 gid; then 3 strings */
#define DK_POLICYD_DECISION_FIXED 40u /* without the rule string and what follows it */
#define DK_POLICYD_DECISION_TAIL 4u /* since minor 2: u32 max_violations after the rule */
#define DK_POLICYD_STATS_SIZE 96u
#define DK_POLICYD_RELOAD_FIXED 24u /* without the message string */

/* The "policyd" request table (for dk_frame_decode()). Static. */
DK_EXPORT extern const struct dk_frame_proto dk_policyd_proto;

struct dk_policy_stats {
	uint64_t checks;          /* CHECK requests answered with a decision */
	uint64_t allowed;
	uint64_t denied;
	uint64_t refused;         /* malformed or unsupported frames */
	uint64_t askers_refused;  /* requests from a uid outside --askers (-EACCES) */
	uint64_t audited;         /* audit records stored by dk-logd */
	uint64_t unaudited;       /* decisions and refusals whose record could not be stored */
	uint64_t reloads;         /* successful reloads */
	uint64_t reload_failures; /* refused reloads (the old policy stayed) */
	uint64_t generation;      /* 1 at start, +1 per successful reload */
	uint32_t rules;           /* rules in force */
	uint32_t clients;         /* connections now */
	uint64_t clients_refused; /* connections refused over the client cap */
};

struct dk_policy_client;

/*
 * dk_policy_connect - connect to dk-policyd at @socket_path.
 * @deadline_ns: absolute CLOCK_MONOTONIC deadline.
 * @ret_client: owned by the caller until dk_policy_close().
 * Returns 0; -EINVAL; -ENOENT / -ECONNREFUSED (no daemon); -ETIMEDOUT; -ENOMEM.
 */
DK_EXPORT int dk_policy_connect(const char *socket_path, uint64_t deadline_ns,
				struct dk_policy_client **ret_client);

/* dk_policy_close - close and free @client. Accepts NULL. */
DK_EXPORT void dk_policy_close(struct dk_policy_client *client);

/*
 * dk_policy_check - ask the daemon about @subject opening @device (@device_class may be NULL).
 * Returns 0 and the decision (a denial is a success); -EINVAL (malformed question, checked
 * here), -EACCES (this process's uid may not ask), -EPROTO, -ETIMEDOUT, -EPIPE (daemon gone).
 */
DK_EXPORT int dk_policy_check(struct dk_policy_client *client,
			      const struct dk_policy_subject *subject, const char *device,
			      const char *device_class, uint64_t deadline_ns,
			      struct dk_policy_decision *ret_decision);

/* dk_policy_stats - the daemon's counters. Returns 0 or -errno as dk_policy_check(). */
DK_EXPORT int dk_policy_stats(struct dk_policy_client *client, uint64_t deadline_ns,
			      struct dk_policy_stats *ret_stats);

/*
 * dk_policy_reload - ask the daemon to re-read its policy file (as SIGHUP does) and wait for the
 * result. A valid file replaces the policy between two requests and the generation goes up by
 * one; an invalid one is refused and the policy in force stays. Either way the daemon journals
 * the outcome. Only askers may reload.
 * @ret_error: optional; when the file is refused, the line (0 when the error is not about one
 *   line) and the message, as dk_policy_load() reports them. Untouched otherwise.
 * Returns 0 (reloaded); the load's error when the file is refused (-EINVAL: not a valid policy,
 * -EFBIG, or the -errno of reading it, e.g. -ENOENT), with @ret_error filled; -EACCES (this
 * process's uid may not ask; @ret_error untouched); -EOPNOTSUPP (a daemon older than minor 1);
 * -EINVAL (bad argument or deadline), -EPROTO, -ETIMEDOUT, -EPIPE.
 */
DK_EXPORT int dk_policy_reload(struct dk_policy_client *client, uint64_t deadline_ns,
			       struct dk_policy_error *ret_error);

#ifdef __cplusplus
}
#endif

#endif /* DK_POLICY_H */
