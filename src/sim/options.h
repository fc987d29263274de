/* options.h -- qxt-sim's command line.
 *
 * Parsing checks each value's form (a duration, a rate, a port) and names
 * the option in any complaint; values that need the other modules (an
 * apikey, a CSV file) are checked when main() builds them. */
#ifndef SIM_OPTIONS_H
#define SIM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "faults.h"

struct sim_options {
    unsigned port;               /* 0: any free port */
    const char *port_file;       /* NULL: none */
    const char *bind;
    const char *people_file;     /* NULL: the built-in registry */
    const char **apikeys;        /* "KEY[:BALANCE]" as given */
    size_t napikeys;
    const char **allow_ips;
    size_t nallow_ips;
    struct faults_config faults;
    bool slow_given;
    const char *log_file;        /* NULL: no request log */
    bool print_people;
};

enum {
    OPTIONS_RUN = 0,             /* go on and serve */
    OPTIONS_EXIT_OK = 1,         /* --help or --version was printed */
    OPTIONS_EXIT_USAGE = 2       /* a complaint was printed; exit status 2 */
};

/* Fills o from argv (pointers into argv; free with options_free). Prints
 * help, version or complaints itself. Returns one of the values above. */
int options_parse(int argc, char **argv, struct sim_options *o);

void options_free(struct sim_options *o);

/* "100ms", "1.5s", "0" -> milliseconds (rounded). Returns 0 or -1. */
int options_parse_duration(const char *s, unsigned *ms);

#endif
