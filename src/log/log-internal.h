/* SPDX-License-Identifier: MIT */
/*
 * log-internal.h - record validation, redaction and wire helpers shared by the client (libdk)
 * and the journal server (dk-log-server). Not installed; every symbol is hidden.
 */
#ifndef DK_LOG_INTERNAL_H
#define DK_LOG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dk/log.h>
#include <dk/wire.h>

/*
 * Checks of one string against its cap and character rules. Each returns 0, -EMSGSIZE when
 * @len is over the cap, or -EPROTO when a byte breaks the rules.
 *  - scope: 1..DK_LOG_SCOPE_MAX bytes of [A-Za-z0-9._:/-]
 *  - name:  0..DK_LOG_NAME_MAX bytes of [A-Za-z0-9._:/@-]
 *  - message: 0..DK_LOG_MESSAGE_MAX bytes of valid UTF-8 without control characters
 */
int dk_logi_check_scope(const char *s, size_t len);
int dk_logi_check_name(const char *s, size_t len);
int dk_logi_check_message(const char *s, size_t len);

/*
 * dk_logi_fields_normalize - check @in (key=value pairs or a flat JSON object, see
 * docs/logd.md) and copy it to @out (DK_LOG_FIELDS_MAX + 1 bytes) with the value of every
 * secret-looking key replaced by "[redacted]". Returns the output length; -EMSGSIZE when @len
 * or the redacted result is over DK_LOG_FIELDS_MAX; -EPROTO when malformed. *@ret_redacted says
 * whether a value was replaced.
 */
int dk_logi_fields_normalize(const char *in, size_t len, char *out, bool *ret_redacted);

/* dk_logi_key_is_secret - whether a key has a secret-looking word part. */
bool dk_logi_key_is_secret(const char *key, size_t len);

/*
 * dk_logi_get_string - a u16 length and bytes, copied to @dst (@cap + 1 bytes, NUL-ended).
 * Returns the length; -EMSGSIZE when over @cap (the bytes are skipped), -EPROTO when short or
 * containing a NUL.
 */
int dk_logi_get_string(struct dk_wire_reader *r, char *dst, size_t cap);

/* dk_logi_put_record - encode @rec (docs/logd.md "Record"). */
void dk_logi_put_record(struct dk_wire_writer *w, const struct dk_log_record *rec);

/* dk_logi_record_wire_size - bytes dk_logi_put_record() writes for @rec. */
size_t dk_logi_record_wire_size(const struct dk_log_record *rec);

#endif /* DK_LOG_INTERNAL_H */
