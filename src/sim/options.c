/* options.c -- command-line parsing; see options.h. */
#include "options.h"
#include "accounts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef QXTV_VERSION
#define QXTV_VERSION "unknown"
#endif

#define MAX_DURATION_MS 3600000u   /* an hour: anything longer is a typo */

static const char usage[] =
    "Usage: qxt-sim [OPTIONS]   (also: qxtv sim [OPTIONS])\n"
    "A local stand-in for the QXT Phone_TwoElements API, with seeded faults.\n"
    "\n"
    "Listening:\n"
    "  --port N               port to listen on; 0 = any free port (default 0)\n"
    "  --port-file F          write the port to F once listening (atomically)\n"
    "  --bind ADDR            address to listen on (default 127.0.0.1)\n"
    "Data:\n"
    "  --people FILE          registry CSV: mobile,name,area,carrier (default: built in)\n"
    "  --print-people         print the registry as CSV and exit\n"
    "  --apikey KEY[:BALANCE] an account (repeatable); BALANCE omitted = unlimited.\n"
    "                         Without any, the key " ACCOUNTS_DEFAULT_KEY " exists.\n"
    "  --allow-ip ADDR        serve only these callers (repeatable; ADDR or ADDR/PREFIX);\n"
    "                         none given = every caller; others get -9\n"
    "Latency and faults (rates are probabilities 0..1; durations like 100ms, 1.5s, 0):\n"
    "  --latency DUR          answer delay (default 0)\n"
    "  --jitter DUR           delay varies uniformly within latency +- jitter\n"
    "  --seed N               seed for faults and jitter (default 0)\n"
    "  --fail-rate P          answer -8 (system error)\n"
    "  --http-error-rate P    answer HTTP 502/503 with an HTML body\n"
    "  --drop-rate P          close the connection without an answer\n"
    "  --slow-rate P          answer after --slow DUR instead of the latency\n"
    "  --slow DUR\n"
    "  --garbage-rate P       answer HTTP 200 with a body that is not JSON\n"
    "  --wrong-mobile-rate P  a code-0 answer names another mobile (charged all the same)\n"
    "Observability:\n"
    "  --log FILE             append one JSON line per query (mobiles and names masked)\n"
    "  GET /stats, POST /stats/reset on the same port\n"
    "\n"
    "  --help, --version\n";

enum {
    OPT_PORT = 256, OPT_PORT_FILE, OPT_BIND, OPT_PEOPLE, OPT_PRINT_PEOPLE, OPT_APIKEY,
    OPT_ALLOW_IP, OPT_LATENCY, OPT_JITTER, OPT_SEED, OPT_FAIL_RATE, OPT_HTTP_ERROR_RATE,
    OPT_DROP_RATE, OPT_SLOW_RATE, OPT_SLOW, OPT_GARBAGE_RATE, OPT_WRONG_MOBILE_RATE, OPT_LOG, OPT_HELP, OPT_VERSION
};

static const struct option longopts[] = {
    { "port",            required_argument, NULL, OPT_PORT },
    { "port-file",       required_argument, NULL, OPT_PORT_FILE },
    { "bind",            required_argument, NULL, OPT_BIND },
    { "people",          required_argument, NULL, OPT_PEOPLE },
    { "print-people",    no_argument,       NULL, OPT_PRINT_PEOPLE },
    { "apikey",          required_argument, NULL, OPT_APIKEY },
    { "allow-ip",        required_argument, NULL, OPT_ALLOW_IP },
    { "latency",         required_argument, NULL, OPT_LATENCY },
    { "jitter",          required_argument, NULL, OPT_JITTER },
    { "seed",            required_argument, NULL, OPT_SEED },
    { "fail-rate",       required_argument, NULL, OPT_FAIL_RATE },
    { "http-error-rate", required_argument, NULL, OPT_HTTP_ERROR_RATE },
    { "drop-rate",       required_argument, NULL, OPT_DROP_RATE },
    { "slow-rate",       required_argument, NULL, OPT_SLOW_RATE },
    { "slow",            required_argument, NULL, OPT_SLOW },
    { "garbage-rate",    required_argument, NULL, OPT_GARBAGE_RATE },
    { "wrong-mobile-rate", required_argument, NULL, OPT_WRONG_MOBILE_RATE },
    { "log",             required_argument, NULL, OPT_LOG },
    { "help",            no_argument,       NULL, OPT_HELP },
    { "version",         no_argument,       NULL, OPT_VERSION },
    { NULL, 0, NULL, 0 }
};

int options_parse_duration(const char *s, unsigned *ms)
{
    char *end;
    double v, scale;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (!(*s >= '0' && *s <= '9') && *s != '.')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s)
        return -1;
    if (strcmp(end, "ms") == 0)
        scale = 1;
    else if (strcmp(end, "s") == 0)
        scale = 1000;
    else
        return -1;        /* a bare number is ambiguous: 100 ms or 100 s? */
    v *= scale;
    if (!isfinite(v) || v < 0 || v > MAX_DURATION_MS)
        return -1;
    *ms = (unsigned)lround(v);
    return 0;
}

static int parse_rate(const char *s, double *p)
{
    char *end;
    if (!((*s >= '0' && *s <= '9') || *s == '.'))
        return -1;
    errno = 0;
    *p = strtod(s, &end);
    return errno || end == s || *end || !(*p >= 0.0 && *p <= 1.0) ? -1 : 0;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!(*s >= '0' && *s <= '9'))
        return -1;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno || *end || *out > max ? -1 : 0;
}

static int append(const char ***v, size_t *n, const char *s)
{
    const char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    nv[(*n)++] = s;
    *v = nv;
    return 0;
}

static int complain(const char *opt, const char *value, const char *expected)
{
    fprintf(stderr, "qxt-sim: --%s: invalid value \"%s\": expected %s\n", opt, value, expected);
    return OPTIONS_EXIT_USAGE;
}

int options_parse(int argc, char **argv, struct sim_options *o)
{
    int c, idx;
    unsigned long long u;

    memset(o, 0, sizeof *o);
    o->bind = "127.0.0.1";
    opterr = 0;                   /* our own messages, naming the option */
    optind = 1;
    while ((c = getopt_long(argc, argv, ":", longopts, &idx)) != -1) {
        const char *name = c >= OPT_PORT ? longopts[idx].name : NULL;
        switch (c) {
        case OPT_PORT:
            if (parse_uint(optarg, 65535, &u) < 0)
                return complain(name, optarg, "a port number 0..65535");
            o->port = (unsigned)u;
            break;
        case OPT_PORT_FILE:  o->port_file = optarg; break;
        case OPT_BIND:       o->bind = optarg; break;
        case OPT_PEOPLE:     o->people_file = optarg; break;
        case OPT_PRINT_PEOPLE: o->print_people = true; break;
        case OPT_LOG:        o->log_file = optarg; break;
        case OPT_APIKEY:
        case OPT_ALLOW_IP:
            if ((c == OPT_APIKEY ? append(&o->apikeys, &o->napikeys, optarg)
                                 : append(&o->allow_ips, &o->nallow_ips, optarg)) < 0) {
                fprintf(stderr, "qxt-sim: out of memory\n");
                return OPTIONS_EXIT_USAGE;
            }
            break;
        case OPT_LATENCY:
        case OPT_JITTER:
        case OPT_SLOW: {
            unsigned *dst = c == OPT_LATENCY ? &o->faults.latency_ms
                          : c == OPT_JITTER  ? &o->faults.jitter_ms : &o->faults.slow_ms;
            if (options_parse_duration(optarg, dst) < 0)
                return complain(name, optarg, "a duration such as 100ms, 1.5s or 0 (at most 1 hour)");
            if (c == OPT_SLOW)
                o->slow_given = true;
            break;
        }
        case OPT_SEED:
            if (parse_uint(optarg, ~0ULL, &u) < 0)
                return complain(name, optarg, "a non-negative integer");
            o->faults.seed = u;
            break;
        case OPT_FAIL_RATE:
        case OPT_HTTP_ERROR_RATE:
        case OPT_DROP_RATE:
        case OPT_SLOW_RATE:
        case OPT_GARBAGE_RATE:
        case OPT_WRONG_MOBILE_RATE: {
            double *dst = c == OPT_FAIL_RATE         ? &o->faults.fail_rate
                        : c == OPT_HTTP_ERROR_RATE   ? &o->faults.http_error_rate
                        : c == OPT_DROP_RATE         ? &o->faults.drop_rate
                        : c == OPT_SLOW_RATE         ? &o->faults.slow_rate
                        : c == OPT_WRONG_MOBILE_RATE ? &o->faults.wrong_mobile_rate
                                                     : &o->faults.garbage_rate;
            if (parse_rate(optarg, dst) < 0)
                return complain(name, optarg, "a probability between 0 and 1, such as 0.05");
            break;
        }
        case OPT_HELP:
            fputs(usage, stdout);
            return OPTIONS_EXIT_OK;
        case OPT_VERSION:
            printf("qxt-sim %s\n", QXTV_VERSION);
            return OPTIONS_EXIT_OK;
        case ':':
            fprintf(stderr, "qxt-sim: %s needs a value\n", argv[optind - 1]);
            fprintf(stderr, "Try 'qxt-sim --help'.\n");
            return OPTIONS_EXIT_USAGE;
        default:
            fprintf(stderr, "qxt-sim: unknown option %s\n", argv[optind - 1]);
            fprintf(stderr, "Try 'qxt-sim --help'.\n");
            return OPTIONS_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "qxt-sim: unexpected argument \"%s\"\nTry 'qxt-sim --help'.\n",
                argv[optind]);
        return OPTIONS_EXIT_USAGE;
    }
    if (o->faults.drop_rate + o->faults.http_error_rate + o->faults.garbage_rate > 1.0 + 1e-9) {
        fprintf(stderr, "qxt-sim: --drop-rate, --http-error-rate and --garbage-rate add up to "
                        "more than 1 (they are shares of the same queries)\n");
        return OPTIONS_EXIT_USAGE;
    }
    if (o->faults.slow_rate > 0 && !o->slow_given) {
        fprintf(stderr, "qxt-sim: --slow-rate needs --slow DUR (how slow)\n");
        return OPTIONS_EXIT_USAGE;
    }
    return OPTIONS_RUN;
}

void options_free(struct sim_options *o)
{
    free(o->apikeys);
    free(o->allow_ips);
    o->apikeys = o->allow_ips = NULL;
}
