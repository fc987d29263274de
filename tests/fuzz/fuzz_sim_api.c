/* fuzz_sim_api.c -- libFuzzer harness for the simulator's request handling
 * past HTTP: api_answer() (src/sim/api.c) with every parameter as a client
 * could send it, and the text helpers it relies on (src/sim/text.c: UTF-8
 * checks, the U+FFFD echo, the masks of the request log).
 *
 * HTTP parsing itself (request line, headers, form bodies) is
 * libmicrohttpd's: its post processor needs a live connection, so it is
 * not fuzzed here; server.c's own part (the 4 KiB field cap) is small.
 *
 * Input: byte 0 = flags (which parameters are absent, the method, the
 * caller's address family, which account set), bytes 1 and 2 = lengths of
 * the apikey and the mobile, then apikey, mobile and name bytes. Checks:
 * a JSON answer parses, carries an integer code from the provider's table
 * and, for code 0, echoes valid UTF-8; masks stay within their buffers and
 * are valid UTF-8 whatever they are given. */
#include "accounts.h"
#include "api.h"
#include "codes.h"
#include "people.h"
#include "reqlog.h"
#include "stats.h"
#include "text.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_sim_api: %s\n", what);
    abort();
}

struct world {
    struct accounts *accounts;
    struct stats *stats;
};

static struct people *people;
static struct reqlog *reqlog;
static struct world worlds[2];
static const struct faults_config faults = {
    .seed = 7, .fail_rate = 0.2, .http_error_rate = 0.05, .drop_rate = 0.05,
    .slow_rate = 0.1, .garbage_rate = 0.05, .latency_ms = 10, .jitter_ms = 5, .slow_ms = 50,
};

static void setup(void)
{
    char err[256];
    people = people_builtin();
    reqlog = reqlog_open("/dev/null", err, sizeof err);
    for (int i = 0; i < 2; i++) {
        worlds[i].accounts = accounts_new();
        if (!people || !reqlog || !worlds[i].accounts)
            fail("set-up");
    }
    /* World 0: the default account. World 1: a small balance, an unlimited
     * key, and an allow-list that lets only 127.0.0.0/8 and ::1 in. */
    if (accounts_add_default(worlds[0].accounts) < 0 ||
        accounts_add(worlds[1].accounts, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:3", err, sizeof err) < 0 ||
        accounts_add(worlds[1].accounts, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", err, sizeof err) < 0 ||
        accounts_allow(worlds[1].accounts, "127.0.0.0/8", err, sizeof err) < 0 ||
        accounts_allow(worlds[1].accounts, "::1", err, sizeof err) < 0)
        fail(err);
    for (int i = 0; i < 2; i++)
        if (!(worlds[i].stats = stats_new(worlds[i].accounts)))
            fail("stats");
}

static void check_masks(const char *s, size_t len)
{
    char out[64];
    char *(*const masks[])(const char *, size_t, char *, size_t) = {
        text_mask_mobile, text_mask_name, text_mask_apikey,
    };
    for (size_t i = 0; i < sizeof masks / sizeof *masks; i++) {
        memset(out, 'Z', sizeof out);
        char *m = masks[i](s, len, out, 48);
        if (!m)
            continue;
        if (memchr(out, '\0', 48) == NULL || out[48] != 'Z')
            fail("a mask wrote past its buffer or left it unterminated");
        if (!text_utf8_valid(m, strlen(m)))
            fail("a mask is not valid UTF-8");
    }
    size_t n;
    char *clean = text_utf8_sanitize(s, len, &n);
    if (!clean || !text_utf8_valid(clean, n))
        fail("sanitize did not give valid UTF-8");
    if (text_utf8_valid(s, len) && (n != len || memcmp(clean, s, len) != 0))
        fail("sanitize changed valid UTF-8");
    free(clean);
}

static void check_answer(const struct api_answer *a)
{
    if (a->action == API_DROP || strncmp(a->content_type, "application/json", 16) != 0 ||
        a->body_len == 0 || a->status != 200)
        return;
    json_error_t jerr;
    json_t *root = json_loadb(a->body, a->body_len, JSON_ALLOW_NUL, &jerr);
    if (!root) {   /* (a NUL a client sent is echoed as \u0000: allowed) */
        /* The garbage fault's JSON cut short is deliberate. */
        if (strstr(a->body, "\"Mobile\":\"1") && a->body_len < 60)
            return;
        fail("the answer is not JSON");
    }
    json_t *code = json_object_get(root, "code");
    if (!json_is_integer(code) || !qxt_code_reason((long)json_integer_value(code)))
        fail("the answer has no known code");
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned runs;

    if (!people)
        setup();
    if (size < 3)
        return 0;
    unsigned flags = data[0];
    size_t klen = data[1], mlen = data[2];
    const char *p = (const char *)data + 3;
    size_t left = size - 3;
    if (klen > left)
        klen = left;
    left -= klen;
    if (mlen > left)
        mlen = left;
    left -= mlen;

    /* Copies, so ASan sees reads past each field. */
    char *key = malloc(klen ? klen : 1), *mobile = malloc(mlen ? mlen : 1),
         *name = malloc(left ? left : 1);
    memcpy(key, p, klen);
    memcpy(mobile, p + klen, mlen);
    memcpy(name, p + klen + mlen, left);

    struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
    in6.sin6_addr.s6_addr[15] = (flags & 0x40) ? 1 : 2;
    const struct sockaddr *client = (flags & 0x30) == 0x00 ? (const struct sockaddr *)&in4
                                  : (flags & 0x30) == 0x10 ? (const struct sockaddr *)&in6
                                  : (flags & 0x30) == 0x20 ? NULL
                                  : (const struct sockaddr *)&in4;
    struct world *w = &worlds[(flags >> 7) & 1];
    struct api api = { people, w->accounts, &faults, w->stats, reqlog };
    struct api_query q = {
        .apikey = (flags & 1) ? NULL : key, .apikey_len = (flags & 1) ? 0 : klen,
        .mobile = (flags & 2) ? NULL : mobile, .mobile_len = (flags & 2) ? 0 : mlen,
        .name = (flags & 4) ? NULL : name, .name_len = (flags & 4) ? 0 : left,
        .client = client,
        .method = (flags & 8) ? "GET" : "POST",
    };
    struct api_answer a;
    if (api_answer(&api, &q, &a) == 0) {
        check_answer(&a);
        free(a.body);
    }
    check_masks(mobile, mlen);
    check_masks(name, left);
    check_masks(key, klen);
    free(key);
    free(mobile);
    free(name);

    /* The pair counts grow with every new pair: start afresh now and then. */
    if (++runs % 4096 == 0) {
        for (int i = 0; i < 2; i++) {
            stats_free(worlds[i].stats);
            worlds[i].stats = stats_new(worlds[i].accounts);
        }
    }
    return 0;
}
