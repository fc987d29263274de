/* qxt.c -- request encoding and redaction; see qxt.h. */
#include "qxt.h"

#include <stdlib.h>
#include <string.h>

/* Percent-encodes src into p (when p is not NULL) and returns the encoded
 * length: every byte but the unreserved characters of RFC 3986 becomes %XX,
 * as curl_easy_escape does (%20 for a blank is accepted by the provider). */
static size_t escape(char *p, const char *src, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            if (p) p[n] = (char)c;
            n++;
        } else {
            if (p) { p[n] = '%'; p[n + 1] = hex[c >> 4]; p[n + 2] = hex[c & 15]; }
            n += 3;
        }
    }
    return n;
}

size_t qxt_form_body_into(char *buf, size_t cap, const char *apikey, const char *mobile,
                          size_t mobile_len, const char *name, size_t name_len)
{
    size_t klen = strlen(apikey);
    size_t need = sizeof "apikey=&mobile=&name=" - 1 + escape(NULL, apikey, klen) +
                  escape(NULL, mobile, mobile_len) + escape(NULL, name, name_len);
    char *p = buf;

    if (need + 1 > cap)
        return need;
    p = stpcpy(p, "apikey=");
    p += escape(p, apikey, klen);
    p = stpcpy(p, "&mobile=");
    p += escape(p, mobile, mobile_len);
    p = stpcpy(p, "&name=");
    p += escape(p, name, name_len);
    *p = '\0';
    return need;
}

char *qxt_form_body(const char *apikey, const char *mobile, size_t mobile_len,
                    const char *name, size_t name_len, size_t *len)
{
    size_t need = qxt_form_body_into(NULL, 0, apikey, mobile, mobile_len, name, name_len);
    char *body = malloc(need + 1);

    if (body)
        *len = qxt_form_body_into(body, need + 1, apikey, mobile, mobile_len, name, name_len);
    return body;
}

/* ---- redaction ----
 * Each layer of text is searched for the key's spellings; a layer is the
 * one above with its escapes decoded, and map[] says where each of its
 * bytes began in buf, so a match found in any layer masks the bytes that
 * spelled it. */

#define MAX_LAYERS 4          /* buf and three layers of decoded escapes */
#define MAX_ENCODED_KEY 256   /* longer keys: searched for only as text */

struct layer {
    const unsigned char *s;
    size_t len;
    size_t *map;              /* len + 1 offsets into buf; NULL: identity */
};

/* What to look for in a layer; kind says how to compare. */
enum { CASELESS, BASE64 };
struct pattern {
    const char *s;
    size_t len;
    int kind;
};

static size_t src(const struct layer *l, size_t i)
{
    return l->map ? l->map[i] : i;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* n hex digits at p (within end) as a number, or -1. */
static long hexn(const unsigned char *p, const unsigned char *end, int n)
{
    long v = 0;

    if (end - p < n)
        return -1;
    for (int i = 0; i < n; i++) {
        int d = hexval(p[i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Where pattern p matches l at i: the end of the match, or 0. */
static size_t match(const struct layer *l, size_t i, const struct pattern *p)
{
    size_t k = 0;

    while (k < p->len) {
        if (i >= l->len)
            return 0;
        int c = l->s[i];
        if (p->kind == BASE64) {
            if ((c == '\r' || c == '\n') && k > 0) {
                i++;
                continue;
            }
            if (b64val(c) != b64val((unsigned char)p->s[k]))
                return 0;
        } else if (lower(c) != lower((unsigned char)p->s[k])) {
            return 0;
        }
        i++;
        k++;
    }
    return i;
}

/* Masks in buf every match of the patterns in l. starts[c] has bit j set
 * when pattern j may start with byte c: most bytes start none. */
static int search(char *buf, const struct layer *l, const struct pattern *pats, int npats,
                  const unsigned char *starts)
{
    int count = 0;

    for (size_t i = 0; i < l->len; i++) {
        if (!starts[l->s[i]])
            continue;
        for (int j = 0; j < npats; j++) {
            if (!(starts[l->s[i]] & (1u << j)))
                continue;
            size_t from = i, to = match(l, i, &pats[j]);
            if (!to)
                continue;
            if (pats[j].kind == BASE64) {
                /* The characters either side carry a few bits of the key. */
                if (from > 0 && b64val(l->s[from - 1]) >= 0)
                    from--;
                if (to < l->len && b64val(l->s[to]) >= 0)
                    to++;
            }
            memset(buf + src(l, from), '*', src(l, to) - src(l, from));
            count++;
            i = to - 1;
            break;
        }
    }
    return count;
}

/* Appends code point cp to out as UTF-8; returns the bytes written. */
static size_t put_utf8(unsigned char *out, long cp)
{
    if (cp < 0x80) { out[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { out[0] = (unsigned char)(0xC0 | cp >> 6); out[1] = (unsigned char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 63));
        out[2] = (unsigned char)(0x80 | (cp & 63));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 63));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 63));
    out[3] = (unsigned char)(0x80 | (cp & 63));
    return 4;
}

/* One escape at p: its decoded bytes into out (at most 4) and their count
 * into *outn; returns the escape's length, or 0 when p starts none. */
static size_t unescape(const unsigned char *p, const unsigned char *end, unsigned char *out, size_t *outn)
{
    static const struct { const char *name; char c; } named[] = {
        { "&amp;", '&' }, { "&quot;", '"' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&apos;", '\'' },
    };
    long v;

    if (p[0] == '%' && (v = hexn(p + 1, end, 2)) >= 0) {
        out[0] = (unsigned char)v;    /* a byte, not a character */
        *outn = 1;
        return 3;
    }
    if (p[0] == '\\' && end - p >= 2) {
        const char *simple = strchr("\"\\/bfnrt", p[1]);
        if (p[1] == 'u' && (v = hexn(p + 2, end, 4)) >= 0) {
            *outn = put_utf8(out, v);
            return 6;
        }
        if (p[1] == 'x' && (v = hexn(p + 2, end, 2)) >= 0) {
            out[0] = (unsigned char)v;
            *outn = 1;
            return 4;
        }
        if (p[1] && simple) {
            out[0] = (unsigned char)"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            *outn = 1;
            return 2;
        }
    }
    if (p[0] == '&' && end - p >= 4 && p[1] == '#') {
        const unsigned char *q = p + 2;
        int hex = *q == 'x' || *q == 'X';
        v = 0;
        for (q += hex; q < end && q - p < 12 && (hex ? hexval(*q) >= 0 : (*q >= '0' && *q <= '9')); q++)
            v = v * (hex ? 16 : 10) + hexval(*q);
        if (q < end && *q == ';' && q > p + 2 + hex && v < 0x110000) {
            *outn = put_utf8(out, v);
            return (size_t)(q + 1 - p);
        }
    }
    if (p[0] == '&')
        for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
            size_t n = strlen(named[i].name);
            if ((size_t)(end - p) >= n && memcmp(p, named[i].name, n) == 0) {
                out[0] = (unsigned char)named[i].c;
                *outn = 1;
                return n;
            }
        }
    return 0;
}

/* The layer below in: its escapes decoded. Returns the number decoded
 * (0: nothing to decode, out left empty), or -1 when out of memory. */
static long decode(const struct layer *in, struct layer *out)
{
    const unsigned char *p = in->s, *end = in->s + in->len;
    unsigned char *s = NULL;
    size_t *map = NULL, n = 0;
    long escapes = 0;

    out->s = NULL;
    out->map = NULL;
    out->len = 0;
    while (p < end) {
        unsigned char bytes[4];
        size_t nb, adv = (*p == '%' || *p == '\\' || *p == '&') ? unescape(p, end, bytes, &nb) : 0;
        if (adv && !s) {
            /* Decoded text is never longer than its source. */
            s = malloc(in->len);
            map = malloc((in->len + 1) * sizeof *map);
            if (!s || !map) {
                free(s);
                free(map);
                return -1;
            }
            for (size_t i = 0; i < (size_t)(p - in->s); i++) {
                s[i] = in->s[i];
                map[i] = src(in, i);
            }
            n = (size_t)(p - in->s);
        }
        if (adv) {
            for (size_t i = 0; i < nb; i++) {
                s[n] = bytes[i];
                map[n++] = src(in, (size_t)(p - in->s));
            }
            p += adv;
            escapes++;
        } else {
            if (s) {
                s[n] = *p;
                map[n++] = src(in, (size_t)(p - in->s));
            }
            p++;
        }
    }
    if (!s)
        return 0;
    map[n] = src(in, in->len);
    out->s = s;
    out->len = n;
    out->map = map;
    return escapes;
}

/* The base64 characters that depend on the key alone when it starts at
 * byte `align` of a group of three: into out, their count returned. */
static size_t base64_core(const char *key, size_t klen, size_t align, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t first = (8 * align + 5) / 6, last = 8 * (align + klen) / 6;   /* chars [first, last) */
    size_t n = 0, j = 0;
    unsigned long bits = 0;
    int have = 0;

    for (size_t i = 0; i < align + klen; i++) {
        bits = (bits << 8 | (i < align ? 0 : (unsigned char)key[i - align])) & 0xffff;
        for (have += 8; have >= 6; have -= 6, j++)
            if (j >= first && j < last)
                out[n++] = abc[(bits >> (have - 6)) & 63];
    }
    return n;
}

int qxt_redact(char *buf, size_t len, const char *secret)
{
    size_t klen = secret ? strlen(secret) : 0;
    char hex[2 * MAX_ENCODED_KEY], b64[3][MAX_ENCODED_KEY * 4 / 3 + 4];
    struct pattern pats[5];
    struct layer layers[MAX_LAYERS];
    unsigned char starts[256] = { 0 };
    int npats = 0, count = 0, nlayers = 1;

    if (klen == 0 || len < klen)
        return 0;
    pats[npats++] = (struct pattern){ secret, klen, CASELESS };
    if (klen >= 6 && klen <= MAX_ENCODED_KEY) {
        for (size_t i = 0; i < klen; i++) {
            hex[2 * i] = "0123456789abcdef"[(unsigned char)secret[i] >> 4];
            hex[2 * i + 1] = "0123456789abcdef"[secret[i] & 15];
        }
        pats[npats++] = (struct pattern){ hex, 2 * klen, CASELESS };
        for (size_t a = 0; a < 3; a++)
            pats[npats++] = (struct pattern){ b64[a], base64_core(secret, klen, a, b64[a]), BASE64 };
    }

    for (int j = 0; j < npats; j++) {
        unsigned char c = (unsigned char)pats[j].s[0], bit = (unsigned char)(1u << j);
        starts[c] |= bit;
        if (pats[j].kind == CASELESS) {
            starts[lower(c)] |= bit;
            if (c >= 'a' && c <= 'z')
                starts[c - 32] |= bit;
        } else if (c == '+' || c == '/') {
            starts[c == '+' ? '-' : '_'] |= bit;    /* base64url's spelling */
        }
    }
    layers[0] = (struct layer){ (const unsigned char *)buf, len, NULL };
    for (; nlayers < MAX_LAYERS; nlayers++) {
        long n = decode(&layers[nlayers - 1], &layers[nlayers]);
        if (n == 0)
            break;
        if (n < 0) {
            memset(buf, '*', len);      /* better nothing than the key */
            count = 1;
            goto out;
        }
    }
    /* Every layer is decoded before any is masked: masking changes the
     * bytes the layers below were decoded from. */
    for (int i = 0; i < nlayers; i++)
        count += search(buf, &layers[i], pats, npats, starts);
out:
    for (int i = 1; i < nlayers; i++) {
        free((void *)layers[i].s);
        free(layers[i].map);
    }
    return count;
}
