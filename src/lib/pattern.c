/* pattern.c -- a backtracking matcher for Lua patterns that counts its
 * steps (see pattern.h). Errors and an exhausted budget leave through
 * longjmp to the entry point, which turns them into a status: the
 * recursion is at most PATTERN_MAXDEPTH deep and owns nothing. */
#include "pattern.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define ESC '%'

static void fail(struct pattern_state *ms, const char *fmt, int arg)
{
    snprintf(ms->error, sizeof ms->error, fmt, arg);
    longjmp(ms->fail, PATTERN_ERROR);
}

/* One unit of work; a spent budget ends the whole match. */
static void step(struct pattern_state *ms)
{
    if (--ms->steps < 0)
        longjmp(ms->fail, PATTERN_EXHAUSTED);
}

/* Whether byte c is in the class %cl (a letter; upper case negates). */
static int in_class(int c, int cl)
{
    int r;

    switch (tolower(cl)) {
    case 'a': r = isalpha(c); break;
    case 'c': r = iscntrl(c); break;
    case 'd': r = isdigit(c); break;
    case 'g': r = isgraph(c); break;
    case 'l': r = islower(c); break;
    case 'p': r = ispunct(c); break;
    case 's': r = isspace(c); break;
    case 'u': r = isupper(c); break;
    case 'w': r = isalnum(c); break;
    case 'x': r = isxdigit(c); break;
    case 'z': r = c == 0; break;  /* not in the 5.4 manual, but the library keeps it */
    default: return cl == c;     /* %. %% %[ ...: the character itself */
    }
    if (isupper(cl))
        r = !r;
    return r != 0;
}

/* The end of the single-character class starting at p ('%x', '[set]' or
 * one character). */
static const char *class_end(struct pattern_state *ms, const char *p)
{
    char c = *p++;

    if (c == ESC) {
        if (p >= ms->p_end)
            fail(ms, "malformed pattern (ends with '%c')", ESC);
        return p + 1;
    }
    if (c == '[') {
        if (*p == '^')
            p++;
        do {                     /* the first character, even ']', is in the set */
            if (p >= ms->p_end)
                fail(ms, "malformed pattern (missing '%c')", ']');
            if (*p++ == ESC && p < ms->p_end)
                p++;
        } while (*p != ']');
        return p + 1;
    }
    return p;
}

/* Whether c is in the set [p .. last], p at '[' and last at its ']'. */
static int in_set(int c, const char *p, const char *last)
{
    int yes = 1;

    if (p[1] == '^') {
        yes = 0;
        p++;
    }
    while (++p < last) {
        if (*p == ESC) {
            p++;
            if (in_class(c, (unsigned char)*p))
                return yes;
        } else if (p[1] == '-' && p + 2 < last) {
            p += 2;
            if ((unsigned char)p[-2] <= c && c <= (unsigned char)*p)
                return yes;
        } else if ((unsigned char)*p == c) {
            return yes;
        }
    }
    return !yes;
}

/* Whether the subject byte at s matches the class [p, ep). */
static int single(struct pattern_state *ms, const char *s, const char *p, const char *ep)
{
    int c;

    step(ms);
    if (s >= ms->src_end)
        return 0;
    c = (unsigned char)*s;
    switch (*p) {
    case '.': return 1;
    case ESC: return in_class(c, (unsigned char)p[1]);
    case '[': return in_set(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

static const char *match(struct pattern_state *ms, const char *s, const char *p);

/* %bxy at s: a balanced run from x to its y. */
static const char *balanced(struct pattern_state *ms, const char *s, const char *p)
{
    int open = 1;

    if (p >= ms->p_end - 1)
        fail(ms, "malformed pattern (missing arguments to '%cb')", ESC);
    if (s >= ms->src_end || *s != *p)
        return NULL;
    while (++s < ms->src_end) {
        step(ms);
        if (*s == p[1]) {
            if (--open == 0)
                return s + 1;
        } else if (*s == *p) {
            open++;
        }
    }
    return NULL;
}

/* x* and x+: the longest run first, then shorter ones. */
static const char *longest(struct pattern_state *ms, const char *s, const char *p, const char *ep)
{
    ptrdiff_t n = 0;

    while (single(ms, s + n, p, ep))
        n++;
    for (; n >= 0; n--) {
        const char *r = match(ms, s + n, ep + 1);
        if (r)
            return r;
    }
    return NULL;
}

/* x-: the shortest run first, then longer ones. */
static const char *shortest(struct pattern_state *ms, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *r = match(ms, s, ep + 1);
        if (r)
            return r;
        if (!single(ms, s, p, ep))
            return NULL;
        s++;
    }
}

static const char *open_capture(struct pattern_state *ms, const char *s, const char *p, ptrdiff_t what)
{
    const char *r;

    if (ms->level >= PATTERN_MAXCAPTURES)
        fail(ms, "too many captures", 0);
    ms->capture[ms->level].init = s;
    ms->capture[ms->level].len = what;
    ms->level++;
    if ((r = match(ms, s, p)) == NULL)
        ms->level--;
    return r;
}

static const char *close_capture(struct pattern_state *ms, const char *s, const char *p)
{
    int l = ms->level - 1;
    const char *r;

    while (l >= 0 && ms->capture[l].len != PATTERN_CAP_UNFINISHED)
        l--;
    if (l < 0)
        fail(ms, "invalid pattern capture", 0);
    ms->capture[l].len = s - ms->capture[l].init;
    if ((r = match(ms, s, p)) == NULL)
        ms->capture[l].len = PATTERN_CAP_UNFINISHED;
    return r;
}

/* %1..%9 at s: the text of a closed capture again. */
static const char *back_reference(struct pattern_state *ms, const char *s, int digit)
{
    int l = digit - '1';
    ptrdiff_t len;

    if (l < 0 || l >= ms->level || ms->capture[l].len == PATTERN_CAP_UNFINISHED)
        fail(ms, "invalid capture index %%%d", l + 1);
    len = ms->capture[l].len;
    if (len < 0)                 /* a position capture never matches text */
        return NULL;
    step(ms);
    if (ms->src_end - s >= len && memcmp(ms->capture[l].init, s, (size_t)len) == 0)
        return s + len;
    return NULL;
}

/* The rest of the pattern from p, at subject position s: where the match
 * ends, or NULL. Tail positions loop instead of recursing. */
static const char *match(struct pattern_state *ms, const char *s, const char *p)
{
    if (ms->depth-- == 0)
        fail(ms, "pattern too complex", 0);
    for (;;) {
        const char *ep;

        step(ms);
        if (p == ms->p_end)
            break;
        if (*p == '(') {
            s = p[1] == ')' ? open_capture(ms, s, p + 2, PATTERN_CAP_POSITION)
                            : open_capture(ms, s, p + 1, PATTERN_CAP_UNFINISHED);
            break;
        }
        if (*p == ')') {
            s = close_capture(ms, s, p + 1);
            break;
        }
        if (*p == '$' && p + 1 == ms->p_end) {
            if (s != ms->src_end)
                s = NULL;
            break;
        }
        if (*p == ESC && p[1] == 'b') {
            s = balanced(ms, s, p + 2);
            if (s == NULL)
                break;
            p += 4;
            continue;
        }
        if (*p == ESC && p[1] == 'f') {
            int before, here;
            p += 2;
            if (*p != '[')
                fail(ms, "missing '[' after '%cf' in pattern", ESC);
            ep = class_end(ms, p);
            before = s == ms->src_init ? 0 : (unsigned char)s[-1];
            here = s < ms->src_end ? (unsigned char)*s : 0;
            if (!in_set(before, p, ep - 1) && in_set(here, p, ep - 1)) {
                p = ep;
                continue;
            }
            s = NULL;
            break;
        }
        if (*p == ESC && isdigit((unsigned char)p[1])) {
            s = back_reference(ms, s, (unsigned char)p[1]);
            if (s == NULL)
                break;
            p += 2;
            continue;
        }
        /* a single-character class, maybe with a repetition */
        ep = class_end(ms, p);
        if (!single(ms, s, p, ep)) {
            if (*ep == '*' || *ep == '?' || *ep == '-') {
                p = ep + 1;      /* zero repetitions */
                continue;
            }
            s = NULL;
            break;
        }
        if (*ep == '?') {
            const char *r = match(ms, s + 1, ep + 1);
            if (r) {
                s = r;
                break;
            }
            p = ep + 1;
            continue;
        }
        if (*ep == '+') {
            s = longest(ms, s + 1, p, ep);
            break;
        }
        if (*ep == '*') {
            s = longest(ms, s, p, ep);
            break;
        }
        if (*ep == '-') {
            s = shortest(ms, s, p, ep);
            break;
        }
        s++;
        p = ep;
    }
    ms->depth++;
    return s;
}

void pattern_init(struct pattern_state *ms, const char *s, size_t ls, const char *p, size_t lp,
                  int64_t steps)
{
    ms->src_init = s;
    ms->src_end = s + ls;
    ms->p_end = p + lp;
    ms->level = 0;
    ms->depth = PATTERN_MAXDEPTH;
    ms->steps = steps;
    ms->error[0] = '\0';
}

enum pattern_status pattern_match(struct pattern_state *ms, const char *s, const char *p,
                                  const char **end)
{
    int status;

    ms->level = 0;
    ms->depth = PATTERN_MAXDEPTH;
    if ((status = setjmp(ms->fail)) != 0)
        return (enum pattern_status)status;
    *end = match(ms, s, p);
    return PATTERN_OK;
}

enum pattern_status pattern_find(struct pattern_state *ms, const char *s, const char *p, int anchored,
                                 const char **start, const char **end)
{
    /* volatile: s changes between setjmp and a longjmp back to it */
    const char *volatile at = s;
    int status;

    *start = *end = NULL;
    if ((status = setjmp(ms->fail)) != 0)
        return (enum pattern_status)status;
    do {
        const char *e;
        ms->level = 0;
        ms->depth = PATTERN_MAXDEPTH;
        if ((e = match(ms, at, p)) != NULL) {
            *start = at;
            *end = e;
            return PATTERN_OK;
        }
    } while (at++ < ms->src_end && !anchored);
    return PATTERN_OK;
}

int pattern_is_plain(const char *p, size_t lp)
{
    static const char special[] = "^$*+?.([%-";

    for (size_t i = 0; i < lp; i++)
        if (memchr(special, p[i], sizeof special - 1))
            return 0;
    return 1;
}
