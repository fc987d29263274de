/* text.h -- UTF-8 measuring and the masking rules for personal data.
 *
 * Requests arrive as bytes that claim to be UTF-8; a GBK name or a stray
 * byte must neither crash us nor reach a JSON encoder that rejects it. These
 * helpers never fail on bad input: an invalid byte counts as one character
 * and is replaced by U+FFFD when text is echoed. */
#ifndef SIM_TEXT_H
#define SIM_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool text_utf8_valid(const char *s, size_t len);

/* Number of characters in s[0..len): code points, each invalid byte
 * counting as one. This is "length as sent" for the mobile number. */
size_t text_utf8_count(const char *s, size_t len);

/* A NUL-terminated, well-formed UTF-8 copy of s[0..len) in which every
 * invalid byte became U+FFFD; its length goes to *outlen when not NULL (a
 * NUL byte sent by the client stays, so strlen may be shorter). Caller
 * frees. NULL only when out of memory. */
char *text_utf8_sanitize(const char *s, size_t len, size_t *outlen);

/* Masks for logs (docs/lua-api.md, lua/qxt/mask.lua: "139****5391", "张*"). Each writes a
 * NUL-terminated, well-formed UTF-8 string into out (truncated to outsz)
 * and returns out.
 *  - mobile: 8 characters or more keep the first 3 and last 4 characters
 *    with one '*' per hidden character ("139****5391"); shorter ones become
 *    all '*', since a short "number" may be mostly digits worth hiding.
 *  - name: the first character, then one '*' per remaining character.
 *  - apikey: the first 4 and last 4 characters around "****" (keys shorter
 *    than 12 become "****"); used for stats labels only, never a full key. */
char *text_mask_mobile(const char *s, size_t len, char *out, size_t outsz);
char *text_mask_name(const char *s, size_t len, char *out, size_t outsz);
char *text_mask_apikey(const char *s, size_t len, char *out, size_t outsz);

#endif
