/* stats.c -- counters and the /stats document; see stats.h. */
#include "stats.h"
#include "accounts.h"
#include "text.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The provider's codes, in the order /stats lists them. */
static const int known_codes[] = { 0, 1, -1, -2, -3, -4, -5, -8, -9 };
#define NCODES (sizeof known_codes / sizeof known_codes[0])

/* Queries per wall-clock second, for the last PER_SECOND seconds: a test of
 * a rate limit reads the provider's side of it. */
#define PER_SECOND 300

struct stats_pair {
    struct stats_pair *next;     /* hash chain */
    uint64_t hash;
    uint64_t queries, charged;
    size_t mobile_len, name_len;
    char key[];                  /* mobile bytes then name bytes */
};

struct account_counts {
    uint64_t requests, charged;
};

struct stats {
    pthread_mutex_t lock;
    const struct accounts *accounts;
    uint64_t requests, charged, other_codes;
    uint64_t by_code[NCODES];
    uint64_t fail, http_error, drop, slow, garbage, wrong_mobile;
    struct account_counts *by_account;
    /* Pairs are never freed before stats_free (a reset zeroes them), so a
     * handle given out stays valid while its request is being answered. */
    struct stats_pair **buckets;
    size_t nbuckets, npairs;
    time_t second[PER_SECOND];   /* the second each slot counts; 0: none */
    uint64_t per_second[PER_SECOND];
};

struct stats *stats_new(const struct accounts *a)
{
    struct stats *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->accounts = a;
    s->nbuckets = 1024;
    s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
    s->by_account = calloc(accounts_count(a) + 1, sizeof *s->by_account);
    if (!s->buckets || !s->by_account) {
        free(s->buckets);
        free(s->by_account);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void stats_free(struct stats *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct stats_pair *p = s->buckets[i], *next;
        for (; p; p = next) {
            next = p->next;
            free(p);
        }
    }
    free(s->buckets);
    free(s->by_account);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* FNV-1a over both strings with a separator byte value no UTF-8 has. */
static uint64_t pair_hash(const char *m, size_t ml, const char *n, size_t nl)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < ml; i++)
        h = (h ^ (unsigned char)m[i]) * 0x100000001b3ULL;
    h = (h ^ 0xff) * 0x100000001b3ULL;
    for (size_t i = 0; i < nl; i++)
        h = (h ^ (unsigned char)n[i]) * 0x100000001b3ULL;
    return h;
}

static void grow(struct stats *s)
{
    size_t n = s->nbuckets * 2;
    struct stats_pair **b = calloc(n, sizeof *b);
    if (!b)
        return;                  /* longer chains, still correct */
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct stats_pair *p = s->buckets[i], *next;
        for (; p; p = next) {
            next = p->next;
            p->next = b[p->hash & (n - 1)];
            b[p->hash & (n - 1)] = p;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

uint64_t stats_pair_next(struct stats *s, const char *mobile, size_t mobile_len,
                         const char *name, size_t name_len, struct stats_pair **pair)
{
    uint64_t h = pair_hash(mobile, mobile_len, name, name_len);
    uint64_t n = 0;
    struct stats_pair *p;

    pthread_mutex_lock(&s->lock);
    for (p = s->buckets[h & (s->nbuckets - 1)]; p; p = p->next)
        if (p->hash == h && p->mobile_len == mobile_len && p->name_len == name_len &&
            memcmp(p->key, mobile, mobile_len) == 0 &&
            memcmp(p->key + mobile_len, name, name_len) == 0)
            break;
    if (!p) {
        p = calloc(1, sizeof *p + mobile_len + name_len);
        if (p) {
            p->hash = h;
            p->mobile_len = mobile_len;
            p->name_len = name_len;
            memcpy(p->key, mobile, mobile_len);
            memcpy(p->key + mobile_len, name, name_len);
            p->next = s->buckets[h & (s->nbuckets - 1)];
            s->buckets[h & (s->nbuckets - 1)] = p;
            if (++s->npairs > s->nbuckets)
                grow(s);
        }
    }
    if (p)
        n = p->queries++;
    pthread_mutex_unlock(&s->lock);
    *pair = p;
    return n;
}

void stats_record(struct stats *s, const struct stats_event *ev)
{
    time_t now = time(NULL);
    size_t slot = (size_t)now % PER_SECOND;

    pthread_mutex_lock(&s->lock);
    s->requests++;
    if (s->second[slot] != now) {
        s->second[slot] = now;
        s->per_second[slot] = 0;
    }
    s->per_second[slot]++;
    if (ev->answered) {
        size_t i = 0;
        while (i < NCODES && known_codes[i] != ev->code)
            i++;
        if (i < NCODES)
            s->by_code[i]++;
        else
            s->other_codes++;
    }
    switch (ev->transport) {
    case FAULT_NONE:                      break;
    case FAULT_DROP:       s->drop++;       break;
    case FAULT_HTTP_ERROR: s->http_error++; break;
    case FAULT_GARBAGE:    s->garbage++;    break;
    }
    if (ev->fail)
        s->fail++;
    if (ev->slow)
        s->slow++;
    if (ev->wrong_mobile)
        s->wrong_mobile++;
    if (ev->charged)
        s->charged++;
    if (ev->account >= 0) {
        s->by_account[ev->account].requests++;
        if (ev->charged)
            s->by_account[ev->account].charged++;
    }
    if (ev->pair && ev->charged)
        ev->pair->charged++;
    pthread_mutex_unlock(&s->lock);
}

void stats_reset(struct stats *s)
{
    pthread_mutex_lock(&s->lock);
    s->requests = s->charged = s->other_codes = 0;
    memset(s->by_code, 0, sizeof s->by_code);
    s->fail = s->http_error = s->drop = s->slow = s->garbage = s->wrong_mobile = 0;
    memset(s->by_account, 0, accounts_count(s->accounts) * sizeof *s->by_account);
    for (size_t i = 0; i < s->nbuckets; i++)
        for (struct stats_pair *p = s->buckets[i]; p; p = p->next)
            p->queries = p->charged = 0;
    memset(s->second, 0, sizeof s->second);
    memset(s->per_second, 0, sizeof s->per_second);
    pthread_mutex_unlock(&s->lock);
}

/* Adds "mobile,name": queries to the pairs object. The key is made valid
 * UTF-8 first (a client may send anything); two keys that become equal add
 * up rather than overwrite. */
static int add_pair(json_t *pairs, const struct stats_pair *p)
{
    size_t rawlen = p->mobile_len + 1 + p->name_len, keylen;
    char *raw = malloc(rawlen);
    if (!raw)
        return -1;
    memcpy(raw, p->key, p->mobile_len);
    raw[p->mobile_len] = ',';
    memcpy(raw + p->mobile_len + 1, p->key + p->mobile_len, p->name_len);
    char *key = text_utf8_sanitize(raw, rawlen, &keylen);
    free(raw);
    if (!key)
        return -1;
    json_int_t n = (json_int_t)p->queries;
    json_t *old = json_object_getn(pairs, key, keylen);
    if (old)
        n += json_integer_value(old);
    int rc = json_object_setn_new(pairs, key, keylen, json_integer(n));
    free(key);
    return rc;
}

char *stats_json(struct stats *s)
{
    json_t *root = json_object(), *codes = json_object(), *faults = json_object();
    json_t *by_apikey = json_object(), *pairs = json_object(), *per_second = json_object();
    char *out = NULL;
    uint64_t repeated = 0, repeated_charged = 0, max_per_second = 0;
    int bad = !root || !codes || !faults || !by_apikey || !pairs || !per_second;
    char num[24];

    pthread_mutex_lock(&s->lock);
    bad |= json_object_set_new(root, "requests", json_integer((json_int_t)s->requests));
    bad |= json_object_set_new(root, "charged", json_integer((json_int_t)s->charged));
    for (size_t i = 0; i < NCODES; i++) {
        snprintf(num, sizeof num, "%d", known_codes[i]);
        bad |= json_object_set_new(codes, num, json_integer((json_int_t)s->by_code[i]));
    }
    if (s->other_codes)
        bad |= json_object_set_new(codes, "other", json_integer((json_int_t)s->other_codes));
    bad |= json_object_set_new(faults, "fail", json_integer((json_int_t)s->fail));
    bad |= json_object_set_new(faults, "http_error", json_integer((json_int_t)s->http_error));
    bad |= json_object_set_new(faults, "drop", json_integer((json_int_t)s->drop));
    bad |= json_object_set_new(faults, "slow", json_integer((json_int_t)s->slow));
    bad |= json_object_set_new(faults, "garbage", json_integer((json_int_t)s->garbage));
    bad |= json_object_set_new(faults, "wrong_mobile", json_integer((json_int_t)s->wrong_mobile));
    for (size_t i = 0; i < accounts_count(s->accounts); i++) {
        long long bal = accounts_balance(s->accounts, (int)i);
        json_t *acc = json_pack("{sIsIso}",
                                "requests", (json_int_t)s->by_account[i].requests,
                                "charged", (json_int_t)s->by_account[i].charged,
                                "balance", bal == ACCOUNTS_UNLIMITED ? json_null()
                                                                    : json_integer(bal));
        bad |= json_object_set_new(by_apikey, accounts_label(s->accounts, (int)i), acc);
    }
    for (size_t i = 0; i < s->nbuckets && !bad; i++)
        for (const struct stats_pair *p = s->buckets[i]; p && !bad; p = p->next) {
            if (p->queries == 0)
                continue;
            bad |= add_pair(pairs, p);
            repeated += p->queries > 1;
            repeated_charged += p->charged > 1;
        }
    for (size_t i = 0; i < PER_SECOND && !bad; i++) {
        if (!s->second[i])
            continue;
        snprintf(num, sizeof num, "%lld", (long long)s->second[i]);
        bad |= json_object_set_new(per_second, num, json_integer((json_int_t)s->per_second[i]));
        if (s->per_second[i] > max_per_second)
            max_per_second = s->per_second[i];
    }
    pthread_mutex_unlock(&s->lock);

    bad |= json_object_set_new(root, "by_code", codes);
    bad |= json_object_set_new(root, "faults", faults);
    bad |= json_object_set_new(root, "by_apikey", by_apikey);
    bad |= json_object_set_new(root, "pairs", pairs);
    bad |= json_object_set_new(root, "repeated_pairs", json_integer((json_int_t)repeated));
    bad |= json_object_set_new(root, "repeated_charged_pairs",
                               json_integer((json_int_t)repeated_charged));
    bad |= json_object_set_new(root, "per_second", per_second);
    bad |= json_object_set_new(root, "max_per_second", json_integer((json_int_t)max_per_second));
    if (!bad)
        out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}
