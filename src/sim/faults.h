/* faults.h -- seeded fault and latency decisions.
 *
 * Every decision is a pure function of (seed, fault kind, mobile, name, n),
 * where n counts earlier queries of the same (mobile, name) pair. No shared
 * random stream is consumed, so the same queries get the same faults in
 * whatever order concurrent requests happen to arrive. */
#ifndef SIM_FAULTS_H
#define SIM_FAULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct faults_config {
    uint64_t seed;
    double fail_rate;        /* answer -8 (after the account checks) */
    double http_error_rate;  /* HTTP 502/503 with an HTML body */
    double drop_rate;        /* close the connection, no answer */
    double slow_rate;        /* answer after slow_ms instead of the latency */
    double garbage_rate;     /* HTTP 200 whose body is not JSON */
    double wrong_mobile_rate; /* a code-0 answer naming another mobile */
    unsigned latency_ms;     /* answer delay, uniform in latency +- jitter */
    unsigned jitter_ms;      /*   (clamped at 0) */
    unsigned slow_ms;
};

/* Transport faults replace the answer altogether; at most one applies, each
 * at its own rate (drop_rate + http_error_rate + garbage_rate <= 1). The -8,
 * slow and wrong-mobile faults are drawn independently: slow delays any
 * outcome, -8 applies to the queries that pass the account checks, and a
 * wrong mobile only shows in a code-0 answer (which is charged all the same:
 * a provider mixing up its answers still bills the query). */
enum fault_transport {
    FAULT_NONE,
    FAULT_DROP,
    FAULT_HTTP_ERROR,
    FAULT_GARBAGE
};

struct fault_plan {
    enum fault_transport transport;
    bool fail;               /* the -8 fault, if the query gets that far */
    bool slow;
    bool wrong_mobile;       /* a code 0 echoes another number as result.Mobile */
    unsigned delay_ms;       /* when to answer (or drop), from arrival */
    unsigned variant;        /* picks among 502/503 and among garbage bodies */
};

/* Decides everything for the n-th (counting from 0) query of this pair. */
struct fault_plan faults_plan(const struct faults_config *cfg,
                              const char *mobile, size_t mobile_len,
                              const char *name, size_t name_len, uint64_t n);

#endif
