/* pattern.h -- Lua 5.4 string patterns (reference manual §6.4.1), matched
 * with a step budget, so that a backtracking pattern on a long subject can
 * be stopped inside one call (the instruction-count hook never fires
 * there). Written from the manual; results and error messages are those of
 * the string library, which tests/lua/pattern_spec.lua checks.
 *
 * No Lua here: lpattern.c turns these into string.find/match/gmatch/gsub. */
#ifndef QXTV_PATTERN_H
#define QXTV_PATTERN_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#define PATTERN_MAXCAPTURES 32      /* LUA_MAXCAPTURES */
#define PATTERN_MAXDEPTH 200        /* nesting before "pattern too complex" */

/* A capture's length, or one of these. */
#define PATTERN_CAP_UNFINISHED (-1)
#define PATTERN_CAP_POSITION (-2)

enum pattern_status { PATTERN_OK, PATTERN_ERROR, PATTERN_EXHAUSTED };

struct pattern_capture {
    const char *init;
    ptrdiff_t len;
};

/* One matching: the subject, the pattern, the captures and the budget.
 * Subject and pattern must be followed by a '\0' byte (as Lua strings
 * are): the pattern's syntax reads one byte past its end, as Lua's does. */
struct pattern_state {
    const char *src_init, *src_end;
    const char *p_end;
    int level;                   /* captures open or closed so far */
    int depth;                   /* nesting left */
    int64_t steps;               /* budget left; below 0: exhausted */
    struct pattern_capture capture[PATTERN_MAXCAPTURES];
    jmp_buf fail;
    char error[80];              /* the message of PATTERN_ERROR */
};

/* Sets up ms for subject s (ls bytes) and pattern p (lp bytes) with a
 * budget of steps (one per elementary comparison or backtrack). */
void pattern_init(struct pattern_state *ms, const char *s, size_t ls, const char *p, size_t lp,
                  int64_t steps);

/* Tries the pattern p (a suffix of the one given to pattern_init; without
 * its '^') at s only. *end: where the match ends, or NULL for none; the
 * captures are in ms. Returns PATTERN_OK, or PATTERN_ERROR (ms->error says
 * why: a malformed pattern) or PATTERN_EXHAUSTED (the budget is spent). */
enum pattern_status pattern_match(struct pattern_state *ms, const char *s, const char *p,
                                  const char **end);

/* Searches from s onwards (only at s when anchored). *start and *end: the
 * first match, or NULL. Same statuses as pattern_match. */
enum pattern_status pattern_find(struct pattern_state *ms, const char *s, const char *p, int anchored,
                                 const char **start, const char **end);

/* Whether p (lp bytes) has none of the pattern's special characters, so a
 * plain search finds the same thing. */
int pattern_is_plain(const char *p, size_t lp);

#endif
