/* accounts.c -- apikeys, balances, allow-list; see accounts.h. */
#include "accounts.h"
#include "text.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct account {
    char key[ACCOUNTS_KEY_LEN + 1];
    char label[16];
    bool unlimited;
    _Atomic long long balance;
};

/* IPv4 addresses are kept as IPv4-mapped IPv6 (::ffff:a.b.c.d) so one
 * comparison serves both families. */
struct allow {
    unsigned char addr[16];
    unsigned prefix;      /* bits that must match, 0..128 */
};

struct accounts {
    struct account **acc;   /* pointers: an atomic must not move */
    size_t n;
    struct allow *allow;
    size_t nallow;
};

struct accounts *accounts_new(void)
{
    return calloc(1, sizeof(struct accounts));
}

void accounts_free(struct accounts *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->acc[i]);
    free(a->acc);
    free(a->allow);
    free(a);
}

static int push(struct accounts *a, const char *key, bool unlimited, long long balance)
{
    struct account *x = calloc(1, sizeof *x);
    struct account **v = realloc(a->acc, (a->n + 1) * sizeof *v);
    if (!x || !v) {
        free(x);
        if (v)
            a->acc = v;
        return -1;
    }
    a->acc = v;
    memcpy(x->key, key, ACCOUNTS_KEY_LEN);
    text_mask_apikey(x->key, ACCOUNTS_KEY_LEN, x->label, sizeof x->label);
    x->unlimited = unlimited;
    atomic_init(&x->balance, balance);
    a->acc[a->n++] = x;
    return 0;
}

int accounts_add(struct accounts *a, const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    size_t klen = colon ? (size_t)(colon - spec) : strlen(spec);
    bool unlimited = true;
    long long balance = 0;

    if (klen != ACCOUNTS_KEY_LEN) {
        snprintf(err, errlen, "the key must be %d characters, got %zu",
                 ACCOUNTS_KEY_LEN, klen);
        return -1;
    }
    for (size_t i = 0; i < klen; i++)
        if (spec[i] <= ' ' || spec[i] > '~') {
            snprintf(err, errlen, "the key must be printable ASCII without spaces");
            return -1;
        }
    if (colon) {
        char *end;
        errno = 0;
        balance = strtoll(colon + 1, &end, 10);
        if (colon[1] < '0' || colon[1] > '9' || *end || errno) {
            snprintf(err, errlen, "balance \"%s\" is not a non-negative integer", colon + 1);
            return -1;
        }
        unlimited = false;
    }
    if (accounts_find(a, spec, klen) >= 0) {
        snprintf(err, errlen, "the key is given twice");
        return -1;
    }
    if (push(a, spec, unlimited, balance) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int accounts_add_default(struct accounts *a)
{
    return a->n ? 0 : push(a, ACCOUNTS_DEFAULT_KEY, true, 0);
}

int accounts_allow(struct accounts *a, const char *spec, char *err, size_t errlen)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(spec, '/');
    size_t hlen = slash ? (size_t)(slash - spec) : strlen(spec);
    struct allow e = { .prefix = 128 };
    struct in_addr v4;
    unsigned maxbits;

    if (hlen == 0 || hlen >= sizeof host)
        goto bad;
    memcpy(host, spec, hlen);
    host[hlen] = '\0';
    if (inet_pton(AF_INET, host, &v4) == 1) {
        e.addr[10] = e.addr[11] = 0xff;
        memcpy(e.addr + 12, &v4, 4);
        maxbits = 32;
    } else if (inet_pton(AF_INET6, host, e.addr) == 1) {
        maxbits = 128;
    } else {
        goto bad;
    }
    if (slash) {
        char *end;
        errno = 0;
        long bits = strtol(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end || errno || bits > (long)maxbits)
            goto bad;
        e.prefix = (unsigned)bits + (128 - maxbits);
    }
    struct allow *v = realloc(a->allow, (a->nallow + 1) * sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->allow = v;
    a->allow[a->nallow++] = e;
    return 0;
bad:
    snprintf(err, errlen, "\"%s\" is not an IP address (or ADDR/PREFIX)", spec);
    return -1;
}

int accounts_find(const struct accounts *a, const char *key, size_t len)
{
    if (len != ACCOUNTS_KEY_LEN)
        return -1;
    for (size_t i = 0; i < a->n; i++)
        if (memcmp(a->acc[i]->key, key, len) == 0)
            return (int)i;
    return -1;
}

static bool prefix_match(const unsigned char *x, const unsigned char *y, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(x, y, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (x[whole] & mask) == (y[whole] & mask);
}

bool accounts_ip_allowed(const struct accounts *a, const struct sockaddr *addr)
{
    unsigned char ip[16] = { 0 };
    if (a->nallow == 0)
        return true;
    if (!addr)
        return false;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &in->sin_addr, 4);
    } else if (addr->sa_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
    } else {
        return false;
    }
    for (size_t i = 0; i < a->nallow; i++)
        if (prefix_match(ip, a->allow[i].addr, a->allow[i].prefix))
            return true;
    return false;
}

bool accounts_spend(struct accounts *a, int idx, bool charge)
{
    struct account *x = a->acc[idx];
    if (x->unlimited)
        return true;
    long long b = atomic_load(&x->balance);
    for (;;) {
        if (b < 1)
            return false;
        if (!charge)
            return true;
        if (atomic_compare_exchange_weak(&x->balance, &b, b - 1))
            return true;
    }
}

long long accounts_balance(const struct accounts *a, int idx)
{
    const struct account *x = a->acc[idx];
    return x->unlimited ? ACCOUNTS_UNLIMITED : atomic_load(&((struct account *)x)->balance);
}

const char *accounts_label(const struct accounts *a, int idx)
{
    return a->acc[idx]->label;
}

size_t accounts_count(const struct accounts *a)
{
    return a->n;
}
