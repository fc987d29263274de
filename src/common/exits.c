/* exits.c -- the exit statuses of qxtv; see exits.h. */
#include "exits.h"

static const struct qxt_exit exit_table[] = {
    { QXT_EXIT_OK, "OK",
      "done: every record is in an output, whatever its outcome" },
    { QXT_EXIT_FAILED, "FAILED",
      "a script or task error, or an output not fully written; for check, no verdict" },
    { QXT_EXIT_USAGE, "USAGE",
      "bad usage, an unreadable input, or the output or journal in use; nothing was sent" },
    { QXT_EXIT_HALTED, "HALTED",
      "a flow halted: a fatal provider code (-1, -5, -9, undocumented) or a dead endpoint" },
    { QXT_EXIT_BUDGET, "BUDGET",
      "a flow's query budget ran out before every record was sent" },
    { QXT_EXIT_INTERRUPTED, "INTERRUPTED",
      "a journaled flow stopped on SIGINT/SIGTERM after its answers in flight; resumable" },
    { QXT_EXIT_INPUT, "INPUT",
      "the input failed or changed while read; what was read is written and journaled" },
    { QXT_EXIT_THRESHOLD, "THRESHOLD",
      "a flow's threshold was crossed (--abort-if, thresholds): sending stopped; resumable" },
    { QXT_EXIT_ABORTED, "ABORTED",
      "a second SIGINT/SIGTERM, or the grace period ran out: stopped at once; resumable" },
};

const struct qxt_exit *qxt_exit_at(size_t i)
{
    return i < sizeof exit_table / sizeof exit_table[0] ? &exit_table[i] : NULL;
}

void qxt_exit_print(FILE *f)
{
    const struct qxt_exit *x;

    fputs("Exit status:\n", f);
    for (size_t i = 0; (x = qxt_exit_at(i)) != NULL; i++)
        fprintf(f, "  %3d %-12s %s\n", x->status, x->name, x->meaning);
}
