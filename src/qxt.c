/* qxt.c -- request encoding and redaction; see qxt.h. */
#include "qxt.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

char *qxt_form_body(const char *apikey, const char *mobile, size_t mobile_len,
                    const char *name, size_t name_len, size_t *len)
{
    /* curl_easy_escape encodes everything but unreserved characters, which
     * is what the form encoding needs (%20 for a blank is accepted). */
    char *k = curl_easy_escape(NULL, apikey, (int)strlen(apikey));
    char *m = curl_easy_escape(NULL, mobile, (int)mobile_len);
    char *n = curl_easy_escape(NULL, name, (int)name_len);
    char *body = NULL;

    if (k && m && n) {
        size_t cap = strlen(k) + strlen(m) + strlen(n) + sizeof "apikey=&mobile=&name=";
        body = malloc(cap);
        if (body) {
            char *p = stpcpy(body, "apikey=");
            p = stpcpy(p, k);
            p = stpcpy(p, "&mobile=");
            p = stpcpy(p, m);
            p = stpcpy(p, "&name=");
            p = stpcpy(p, n);
            *len = (size_t)(p - body);
        }
    }
    curl_free(k);
    curl_free(m);
    curl_free(n);
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
