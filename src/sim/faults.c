/* faults.c -- seeded fault decisions; see faults.h. */
#include "faults.h"

enum kind { K_FAIL = 1, K_TRANSPORT, K_SLOW, K_JITTER, K_VARIANT, K_WRONG_MOBILE };

/* splitmix64's finaliser: a cheap bijection whose output bits all depend on
 * every input bit, so nearby inputs give unrelated values. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Folds bytes into the running hash 8 at a time; the length is folded in
 * too so ("ab","c") and ("a","bc") differ. */
static uint64_t absorb(uint64_t h, const char *s, size_t len)
{
    uint64_t word = 0;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        word |= (uint64_t)(unsigned char)s[i] << (8 * k);
        if (++k == 8) {
            h = mix(h ^ word);
            word = 0;
            k = 0;
        }
    }
    return mix(h ^ word ^ ((uint64_t)len << 56));
}

/* A uniform double in [0, 1) from 53 high bits. */
static double unit(uint64_t h)
{
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* One independent draw per kind from the query's hash, so raising one rate
 * never changes which queries another fault hits. */
static uint64_t draw(uint64_t base, enum kind k)
{
    return mix(base ^ mix((uint64_t)k));
}

struct fault_plan faults_plan(const struct faults_config *cfg,
                              const char *mobile, size_t mobile_len,
                              const char *name, size_t name_len, uint64_t n)
{
    struct fault_plan plan = { .transport = FAULT_NONE };
    uint64_t base = mix(cfg->seed);
    base = absorb(base, mobile, mobile_len);
    base = absorb(base, name, name_len);
    base = mix(base ^ n);

    /* The transport faults share one draw, split into consecutive ranges,
     * so each happens at exactly its own rate (their sum is at most 1). */
    double u = unit(draw(base, K_TRANSPORT));
    if (u < cfg->drop_rate)
        plan.transport = FAULT_DROP;
    else if (u < cfg->drop_rate + cfg->http_error_rate)
        plan.transport = FAULT_HTTP_ERROR;
    else if (u < cfg->drop_rate + cfg->http_error_rate + cfg->garbage_rate)
        plan.transport = FAULT_GARBAGE;
    plan.fail = unit(draw(base, K_FAIL)) < cfg->fail_rate;
    plan.slow = unit(draw(base, K_SLOW)) < cfg->slow_rate;
    plan.wrong_mobile = unit(draw(base, K_WRONG_MOBILE)) < cfg->wrong_mobile_rate;
    plan.variant = (unsigned)(draw(base, K_VARIANT) >> 32);

    if (plan.slow) {
        plan.delay_ms = cfg->slow_ms;
    } else {
        long lo = (long)cfg->latency_ms - (long)cfg->jitter_ms;
        long hi = (long)cfg->latency_ms + (long)cfg->jitter_ms;
        if (lo < 0)
            lo = 0;
        plan.delay_ms = (unsigned)(lo + (long)(unit(draw(base, K_JITTER)) * (double)(hi - lo + 1)));
        if (plan.delay_ms > (unsigned)hi)
            plan.delay_ms = (unsigned)hi;
    }
    return plan;
}
