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

/* The same body written into buf[0..cap) without allocating: returns its
 * length (without the NUL). When that length + 1 exceeds cap, nothing is
 * written and the caller retries with a larger buffer (or qxt_form_body). */
size_t qxt_form_body_into(char *buf, size_t cap, const char *apikey, const char *mobile,
                          size_t mobile_len, const char *name, size_t name_len);

/* Overwrites with '*'s every spelling of secret in buf[0..len) that we know
 * a server may send back, so text that came from elsewhere (a response, an
 * error) cannot leak the key: the key itself in any letter case; the key
 * with any of its characters written as percent escapes (%37, %6d, %6D),
 * JSON escapes (\u0037, \/), \x escapes or HTML character references
 * (&#55; &#x37; &amp;), and the same again up to three layers deep (%2537);
 * its hex (any case); and its base64 or base64url at each of the three
 * byte alignments (the characters that depend on the key alone, plus the
 * partial one on each side), line breaks allowed inside. The whole
 * spelling is masked, so the length of buf does not change. Returns how
 * many spellings were masked; when memory runs out the whole of buf is
 * masked (and 1 returned). secret NULL or "" does nothing. */
int qxt_redact(char *buf, size_t len, const char *secret);

#endif
