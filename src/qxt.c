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

int qxt_redact(char *buf, size_t len, const char *secret)
{
    size_t slen = secret ? strlen(secret) : 0;
    int count = 0;
    char *p = buf, *end = buf + len;

    if (slen == 0)
        return 0;
    while ((size_t)(end - p) >= slen && (p = memmem(p, (size_t)(end - p), secret, slen))) {
        memset(p, '*', slen);
        p += slen;
        count++;
    }
    return count;
}
