/* stats.h -- counters for tests and people watching a run, served as JSON
 * by GET /stats.
 *
 * All functions are thread-safe (one mutex: a counter update is a few
 * instructions, far cheaper than the HTTP work around it). */
#ifndef SIM_STATS_H
#define SIM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "faults.h"

struct accounts;
struct stats;
struct stats_pair;   /* one (mobile, name) pair; valid until stats_free */

/* Per-account counters are kept for every account of a (which must outlive
 * the stats and not gain accounts afterwards). */
struct stats *stats_new(const struct accounts *a);
void stats_free(struct stats *s);

/* Counts one query of the pair (mobile, name) and returns how many queries
 * of it came before this one (since start or the last reset): the n of
 * faults_plan(). *pair receives a handle for stats_record(). */
uint64_t stats_pair_next(struct stats *s, const char *mobile, size_t mobile_len,
                         const char *name, size_t name_len, struct stats_pair **pair);

/* What became of one query of /Phone_TwoElements. */
struct stats_event {
    struct stats_pair *pair;       /* NULL when mobile or name was missing */
    int account;                   /* account index, -1 when unknown */
    bool answered;                 /* a JSON answer with a code was sent */
    int code;                      /* when answered */
    enum fault_transport transport;
    bool fail, slow, wrong_mobile; /* those faults took effect */
    bool charged;
};

void stats_record(struct stats *s, const struct stats_event *ev);

/* The /stats document (see docs/simulator.md), NUL-terminated, malloc'd;
 * NULL when out of memory. Balances are read from the accounts. */
char *stats_json(struct stats *s);

/* Zeroes every counter, including the pair counts (so fault decisions
 * start over as after a restart); balances are left alone. */
void stats_reset(struct stats *s);

#endif
