/* text.c -- UTF-8 measuring and masking; see text.h. */
#include "text.h"

#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s[0..len), or 0 when the
 * byte there does not start one. Follows RFC 3629 table 3-7. */
static size_t seq_len(const unsigned char *s, size_t len)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;         /* overlong */
        if (c == 0xED) hi = 0x9F;         /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;         /* overlong */
        if (c == 0xF4) hi = 0x8F;         /* beyond U+10FFFF */
    } else {
        return 0;
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

bool text_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = seq_len(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

size_t text_utf8_count(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, count = 0;
    while (i < len) {
        size_t n = seq_len(p + i, len - i);
        i += n ? n : 1;
        count++;
    }
    return count;
}

char *text_utf8_sanitize(const char *s, size_t len, size_t *outlen)
{
    const unsigned char *p = (const unsigned char *)s;
    /* Worst case: every byte becomes the 3-byte U+FFFD. */
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t n = seq_len(p + i, len - i);
        if (n) {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

/* Appends s[0..n) to out if it fits whole, so a truncated mask never ends
 * in half a character. */
static void put(char *out, size_t outsz, size_t *o, const char *s, size_t n)
{
    if (*o + n < outsz) {
        memcpy(out + *o, s, n);
        *o += n;
        out[*o] = '\0';
    }
}

/* Copies s keeping its first keep_head and last keep_tail characters and
 * writing one '*' for each other one; text shorter than min_kept_len is
 * masked whole. Invalid bytes are always masked. */
static char *mask(const char *s, size_t len, char *out, size_t outsz,
                  size_t keep_head, size_t keep_tail, size_t min_kept_len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t count = text_utf8_count(s, len);
    size_t o = 0, i = 0, k = 0;
    if (outsz == 0)
        return out;
    out[0] = '\0';
    if (count < min_kept_len)
        keep_head = keep_tail = 0;
    while (i < len) {
        size_t n = seq_len(p + i, len - i);
        bool keep = n && (k < keep_head || k + keep_tail >= count);
        if (keep)
            put(out, outsz, &o, s + i, n);
        else
            put(out, outsz, &o, "*", 1);
        i += n ? n : 1;
        k++;
    }
    return out;
}

char *text_mask_mobile(const char *s, size_t len, char *out, size_t outsz)
{
    return mask(s, len, out, outsz, 3, 4, 8);
}

char *text_mask_name(const char *s, size_t len, char *out, size_t outsz)
{
    return mask(s, len, out, outsz, 1, 0, 1);
}

char *text_mask_apikey(const char *s, size_t len, char *out, size_t outsz)
{
    size_t o = 0;
    if (outsz == 0)
        return out;
    out[0] = '\0';
    if (len < 12 || !text_utf8_valid(s, len)) {
        put(out, outsz, &o, "****", 4);
        return out;
    }
    /* Keys are ASCII in practice; a non-ASCII key is masked whole rather
     * than cut inside a character. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) {
            put(out, outsz, &o, "****", 4);
            return out;
        }
    put(out, outsz, &o, s, 4);
    put(out, outsz, &o, "****", 4);
    put(out, outsz, &o, s + len - 4, 4);
    return out;
}
