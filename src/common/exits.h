/* exits.h -- the exit statuses of qxtv: the one table that the command
 * line (`qxtv --help`), the Lua flows (qxt.exit.HALTED, ...) and
 * docs/cli.md's "Exit status" all read (tests/e2e/exit_codes_spec.lua
 * checks that they agree). Pure data, no dependencies. */
#ifndef QXT_EXITS_H
#define QXT_EXITS_H

#include <stddef.h>
#include <stdio.h>

/* The statuses, by name; qxt.exit.<NAME> in Lua is the same number. */
enum {
    QXT_EXIT_OK          = 0,
    QXT_EXIT_FAILED      = 1,
    QXT_EXIT_USAGE       = 2,
    QXT_EXIT_HALTED      = 3,
    QXT_EXIT_BUDGET      = 4,
    QXT_EXIT_INTERRUPTED = 5,
    QXT_EXIT_INPUT       = 6,
    QXT_EXIT_THRESHOLD   = 7,
    QXT_EXIT_ABORTED     = 130
};

struct qxt_exit {
    int status;
    const char *name;       /* "HALTED": qxt.exit.HALTED */
    const char *meaning;    /* one line for people; docs/cli.md says the same */
};

/* The i-th row of the table, in increasing status, or NULL past its end.
 * Static data. */
const struct qxt_exit *qxt_exit_at(size_t i);

/* Prints "Exit status:" and one line per row to f (the --help text). */
void qxt_exit_print(FILE *f);

#endif
