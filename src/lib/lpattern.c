/* lpattern.c -- string.find, match, gmatch and gsub for sandboxed code,
 * on the step-counted matcher of pattern.c, so that one call with a
 * runaway pattern is stopped by the sandbox's budget (lsandbox.h) instead
 * of running for minutes inside C where no hook fires. Same arguments,
 * results and errors as the string library's functions; string.rep too,
 * which loops for ever on an empty string and a huge count.
 *
 * Registered into qxt.sandbox.core by lsandbox.c (lpattern_register). */
#include "lsandbox.h"
#include "pattern.h"

#include <lauxlib.h>
#include <string.h>

/* Runs before a matching: the budget this call may use. */
static void begin(lua_State *L, struct pattern_state *ms, const char *s, size_t ls, const char *p,
                  size_t lp)
{
    pattern_init(ms, s, ls, p, lp, lsandbox_steps(L));
}

/* Charges what the matching used; raises for a malformed pattern or a
 * spent budget. */
static void finish(lua_State *L, struct pattern_state *ms, int64_t given, enum pattern_status status)
{
    lsandbox_spend(L, given - (ms->steps < 0 ? 0 : ms->steps));
    if (status == PATTERN_ERROR)
        luaL_error(L, "%s", ms->error);
    if (status == PATTERN_EXHAUSTED)
        lsandbox_exhausted(L, "a string pattern");
}

/* A 1-based (maybe negative) initial position, as a 0-based offset. */
static size_t start_offset(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos - 1;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 0;
    return len + (size_t)pos;
}

/* Pushes capture i (the whole match for i == 0 without captures). */
static void push_capture(lua_State *L, struct pattern_state *ms, int i, const char *s, const char *e)
{
    if (i >= ms->level) {
        if (i != 0)
            luaL_error(L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(L, s, (size_t)(e - s));
        return;
    }
    if (ms->capture[i].len == PATTERN_CAP_UNFINISHED)
        luaL_error(L, "unfinished capture");
    if (ms->capture[i].len == PATTERN_CAP_POSITION)
        lua_pushinteger(L, (ms->capture[i].init - ms->src_init) + 1);
    else
        lua_pushlstring(L, ms->capture[i].init, (size_t)ms->capture[i].len);
}

/* Pushes every capture, or the whole match (s non-NULL) when there is none. */
static int push_captures(lua_State *L, struct pattern_state *ms, const char *s, const char *e)
{
    int n = (ms->level == 0 && s) ? 1 : ms->level;

    luaL_checkstack(L, n, "too many captures");
    for (int i = 0; i < n; i++)
        push_capture(L, ms, i, s, e);
    return n;
}

static int find_or_match(lua_State *L, int find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
    struct pattern_state ms;
    const char *start, *e;
    enum pattern_status status;
    int64_t given;
    int anchored;

    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || pattern_is_plain(p, lp))) {
        const char *at = NULL;
        if (lp == 0) {
            at = s + init;
        } else if (lp <= ls - init) {
            /* memmem is linear; no budget needed */
            at = memmem(s + init, ls - init, p, lp);
        }
        if (!at) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, (at - s) + 1);
        lua_pushinteger(L, (at - s) + (lua_Integer)lp);
        return 2;
    }
    anchored = (*p == '^');
    if (anchored) {
        p++;
        lp--;
    }
    begin(L, &ms, s, ls, p, lp);
    given = ms.steps;
    status = pattern_find(&ms, s + init, p, anchored, &start, &e);
    finish(L, &ms, given, status);
    if (!start) {
        luaL_pushfail(L);
        return 1;
    }
    if (find) {
        lua_pushinteger(L, (start - s) + 1);
        lua_pushinteger(L, e - s);
        return push_captures(L, &ms, NULL, NULL) + 2;
    }
    return push_captures(L, &ms, start, e);
}

/* string.find(s, pattern [, init [, plain]]) */
static int lpattern_find(lua_State *L)
{
    return find_or_match(L, 1);
}

/* string.match(s, pattern [, init]) */
static int lpattern_match(lua_State *L)
{
    return find_or_match(L, 0);
}

/* The state of a gmatch iterator, in a userdata (upvalue 3); the subject
 * and the pattern are upvalues 1 and 2, so they outlive it. */
struct gmatch {
    size_t pos;                  /* where the next search starts */
    size_t last;                 /* end of the last match; SIZE_MAX: none */
};

static int gmatch_next(lua_State *L)
{
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    struct gmatch *g = lua_touserdata(L, lua_upvalueindex(3));
    struct pattern_state ms;

    begin(L, &ms, s, ls, p, lp);
    for (size_t at = g->pos; at <= ls; at++) {
        const char *e;
        int64_t given = ms.steps;
        enum pattern_status status = pattern_match(&ms, s + at, p, &e);
        finish(L, &ms, given, status);
        if (e && (size_t)(e - s) != g->last) {
            g->pos = g->last = (size_t)(e - s);
            return push_captures(L, &ms, s + at, e);
        }
    }
    g->pos = ls + 1;
    return 0;
}

/* string.gmatch(s, pattern [, init]) */
static int lpattern_gmatch(lua_State *L)
{
    size_t ls;
    struct gmatch *g;

    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
    lua_settop(L, 2);
    g = lua_newuserdatauv(L, sizeof *g, 0);
    g->pos = init > ls ? ls + 1 : init;
    g->last = (size_t)-1;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* Appends the replacement string (argument 3) for the match [s, e). */
static void add_string(lua_State *L, luaL_Buffer *b, struct pattern_state *ms, const char *s, const char *e)
{
    size_t l;
    const char *r = lua_tolstring(L, 3, &l);
    const char *pc;

    while ((pc = memchr(r, '%', l)) != NULL) {
        luaL_addlstring(b, r, (size_t)(pc - r));
        pc++;
        if (*pc == '%') {
            luaL_addchar(b, '%');
        } else if (*pc == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (*pc >= '1' && *pc <= '9') {
            push_capture(L, ms, *pc - '1', s, e);
            luaL_tolstring(L, -1, NULL);   /* a position capture is a number */
            lua_remove(L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", '%');
        }
        l -= (size_t)(pc + 1 - r);
        r = pc + 1;
    }
    luaL_addlstring(b, r, l);
}

/* Appends the replacement of the match [s, e); whether it changed anything. */
static int add_value(lua_State *L, luaL_Buffer *b, struct pattern_state *ms, const char *s, const char *e,
                     int type)
{
    if (type == LUA_TFUNCTION) {
        int n;
        lua_pushvalue(L, 3);
        n = push_captures(L, ms, s, e);
        lua_call(L, n, 1);
    } else if (type == LUA_TTABLE) {
        push_capture(L, ms, 0, s, e);
        lua_gettable(L, 3);
    } else {
        add_string(L, b, ms, s, e);
        return 1;
    }
    if (!lua_toboolean(L, -1)) {     /* nil or false: keep the match */
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

/* string.gsub(s, pattern, repl [, n]) */
static int lpattern_gsub(lua_State *L)
{
    size_t ls, lp;
    const char *src = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *s = src, *last = NULL;
    int type = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    lua_Integer n = 0;
    int anchored = (*p == '^'), changed = 0;
    struct pattern_state ms;
    luaL_Buffer b;

    luaL_argexpected(L, type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION ||
                     type == LUA_TTABLE, 3, "string/function/table");
    luaL_buffinit(L, &b);
    if (anchored) {
        p++;
        lp--;
    }
    begin(L, &ms, src, ls, p, lp);     /* one budget for the whole call */
    while (n < max) {
        const char *start, *e;
        int64_t given, now = lsandbox_steps(L);
        enum pattern_status status;

        if (ms.steps > now)
            ms.steps = now;               /* a replacement function used some */
        given = ms.steps;
        /* The next match from s: the text before it is kept as it is. */
        status = pattern_find(&ms, s, p, anchored, &start, &e);
        finish(L, &ms, given, status);
        if (start == NULL)
            break;
        if (start == s && e == last) {
            /* an empty match where the last one ended: keep one byte, go on */
            if (s >= ms.src_end || anchored)
                break;
            luaL_addchar(&b, *s++);
            continue;
        }
        luaL_addlstring(&b, s, (size_t)(start - s));
        n++;
        changed |= add_value(L, &b, &ms, start, e, type);
        s = last = e;
        if (anchored)
            break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, s, (size_t)(ms.src_end - s));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

/* string.rep(s, n [, sep]), upvalue 1 the library's: an empty result is
 * made at once instead of by n empty copies. */
static int lpattern_rep(lua_State *L)
{
    size_t l, lsep;

    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n > 0 && l == 0 && lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static const luaL_Reg pattern_funcs[] = {
    { "find", lpattern_find },
    { "match", lpattern_match },
    { "gmatch", lpattern_gmatch },
    { "gsub", lpattern_gsub },
    { NULL, NULL }
};

void lpattern_register(lua_State *L)
{
    luaL_setfuncs(L, pattern_funcs, 0);
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "rep");
    lua_remove(L, -2);
    lua_pushcclosure(L, lpattern_rep, 1);
    lua_setfield(L, -2, "rep");
}
