/* qxt.h -- the provider's wire format, request side: the form body of a
 * Phone_TwoElements query, and the redaction that keeps the apikey out of
 * anything we show. (Responses are decoded in lresult.c, with lua-cjson.) */
#ifndef QXT_QXT_H
#define QXT_QXT_H

#include <stddef.h>

/* Returns a malloc'd, NUL-terminated application/x-www-form-urlencoded body
 * "apikey=...&mobile=...&name=..." with every value percent-encoded as
 * UTF-8 bytes, its length in *len; NULL when out of memory. The caller
 * frees it. */
char *qxt_form_body(const char *apikey, const char *mobile, size_t mobile_len,
                    const char *name, size_t name_len, size_t *len);

/* Overwrites every occurrence of secret in buf[0..len) with '*'s, so text
 * that came from elsewhere (a response body, an error) cannot leak the key.
 * Returns how many occurrences were masked. secret NULL or "" does nothing. */
/* The same body written into buf[0..cap) without allocating: returns its
 * length (without the NUL). When that length + 1 exceeds cap, nothing is
 * written and the caller retries with a larger buffer (or qxt_form_body). */
size_t qxt_form_body_into(char *buf, size_t cap, const char *apikey, const char *mobile,
                          size_t mobile_len, const char *name, size_t name_len);

int qxt_redact(char *buf, size_t len, const char *secret);

#endif
