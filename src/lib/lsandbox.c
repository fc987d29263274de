/* lsandbox.c -- running untrusted Lua under limits (module qxt.sandbox.core).
 *
 * call(fn, instructions, bytes, ...) runs fn on the calling thread with a
 * count hook (instructions, 0 = none) and a memory budget (bytes above what
 * the state holds now, 0 = none). Returns true, results... or false, message.
 * The hook and the budget are restored on return, whatever happened, so a
 * task resumed later never sees them. The call also arms a pool of steps
 * for the C loops the hook cannot see (lpattern.c; see lsandbox.h).
 * Besides: dispatch() for the shared string metatable, realpath() and
 * is_link()/is_file() for the path checks of lua/qxt/sandbox/paths.lua.
 * Only environments and limits keep hostile code out; see
 * lua/qxt/sandbox.lua and lua/qxt/sandbox/facade.lua for the environments. */
#include "lsandbox.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct mem {
    size_t used;                 /* bytes the state holds now */
    size_t cap;                  /* whole state; 0 = none */
    size_t limit;                /* armed budget's ceiling; 0 = not armed */
    int tripped;                 /* the armed budget refused an allocation */
    int depth;                   /* sandboxed calls running; +1 for ever after seal() */
    int64_t pool;                /* steps left for C loops in the armed call; -1: none */
};

/* The lua_Alloc of the engine's state: realloc/free with accounting. */
static void *mem_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct mem *m = ud;
    size_t old = ptr ? osize : 0;
    void *p;

    if (nsize == 0) {
        free(ptr);
        m->used -= old;
        return NULL;
    }
    if (nsize > old) {
        size_t grow = nsize - old;
        if (m->cap && m->used + grow > m->cap)
            return NULL;
        if (m->limit && m->used + grow > m->limit) {
            m->tripped = 1;
            return NULL;
        }
    }
    p = realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    m->used = m->used - old + nsize;
    return p;
}

static int on_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "qxtv: PANIC: unprotected error in call to Lua API (%s)\n",
            msg ? msg : "error object is not a string");
    return 0;
}

lua_State *lsandbox_newstate(size_t cap_bytes)
{
    struct mem *m = calloc(1, sizeof *m);
    lua_State *L;

    if (!m)
        return NULL;
    m->cap = cap_bytes;
    m->pool = -1;
    L = lua_newstate(mem_alloc, m);
    if (!L) {
        free(m);
        return NULL;
    }
    lua_atpanic(L, on_panic);
    return L;
}

void lsandbox_close(lua_State *L)
{
    void *ud;

    if (!L)
        return;
    lua_getallocf(L, &ud);
    lua_close(L);
    free(ud);
}

/* The state's accounting, or NULL when it was not made by lsandbox_newstate
 * (then only the instruction limit applies). */
static struct mem *mem_of(lua_State *L)
{
    void *ud;
    return lua_getallocf(L, &ud) == mem_alloc ? ud : NULL;
}

/* Called by Lua every `instructions` instructions of the sandboxed code.
 * From then on it fires at every instruction, so a pcall inside the
 * sandbox cannot swallow the error and go on. */
static void on_count(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, on_count, LUA_MASKCOUNT, 1);
    luaL_error(L, "instruction limit exceeded");
}

static int sandbox_call(lua_State *L)
{
    lua_Integer instructions = luaL_checkinteger(L, 2);
    lua_Integer bytes = luaL_checkinteger(L, 3);
    lua_Hook old_hook = lua_gethook(L);
    int old_mask = lua_gethookmask(L), old_count = lua_gethookcount(L);
    struct mem *m = mem_of(L);
    size_t old_limit = 0;
    int64_t old_pool = -1, pool = -1;
    int old_tripped = 0, status, nargs;

    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_argcheck(L, instructions >= 0 && instructions <= 0x7fffffff, 2, "out of range");
    luaL_argcheck(L, bytes >= 0, 3, "out of range");
    nargs = lua_gettop(L) - 3;
    lua_rotate(L, 2, -2);        /* fn args... instructions bytes */
    lua_pop(L, 2);               /* fn args... */

    if (m) {
        old_limit = m->limit;
        old_tripped = m->tripped;
        m->tripped = 0;
        if (bytes > 0) {
            size_t ceiling = m->used + (size_t)bytes;
            if (old_limit == 0 || ceiling < old_limit)
                m->limit = ceiling;
        }
        old_pool = m->pool;
        if (instructions > 0) {
            pool = (int64_t)instructions * LSANDBOX_STEPS_PER_INSTRUCTION;
            if (old_pool >= 0 && old_pool < pool)
                pool = old_pool;
            m->pool = pool;
        }
    }
    if (instructions > 0)
        lua_sethook(L, on_count, LUA_MASKCOUNT, (int)instructions);
    if (m)
        m->depth++;
    status = lua_pcall(L, nargs, LUA_MULTRET, 0);
    lua_sethook(L, old_hook, old_mask, old_count);
    if (m) {
        int tripped = m->tripped;
        m->depth--;
        m->limit = old_limit;
        if (pool >= 0 && old_pool >= 0) {
            int64_t spent = pool - m->pool;     /* the outer call pays for the inner one */
            old_pool = old_pool > spent ? old_pool - spent : 0;
        }
        m->pool = old_pool;
        m->tripped = old_tripped;
        if (status != LUA_OK && (status == LUA_ERRMEM || tripped)) {
            lua_pop(L, 1);
            lua_pushfstring(L, "memory limit exceeded (%I bytes)", (lua_Integer)bytes);
        }
    }
    if (status != LUA_OK) {
        if (lua_type(L, -1) != LUA_TSTRING) {
            /* never call its __tostring: that would run outside the limits */
            lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, -1));
            lua_remove(L, -2);
        }
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    return lua_gettop(L);
}

int64_t lsandbox_steps(lua_State *L)
{
    struct mem *m = mem_of(L);
    return m && m->pool >= 0 ? m->pool : LSANDBOX_STEPS_PER_CALL;
}

void lsandbox_spend(lua_State *L, int64_t steps)
{
    struct mem *m = mem_of(L);
    if (m && m->pool >= 0)
        m->pool = m->pool > steps ? m->pool - steps : 0;
}

int lsandbox_exhausted(lua_State *L, const char *what)
{
    struct mem *m = mem_of(L);

    if (m && m->pool >= 0) {
        /* as on_count: every instruction from now on fails, so that a
         * pcall in the sandbox cannot catch this and go on */
        lua_sethook(L, on_count, LUA_MASKCOUNT, 1);
        return luaL_error(L, "instruction limit exceeded (in %s)", what);
    }
    return luaL_error(L, "instruction limit exceeded (%s took more than %d million steps)",
                      what, (int)(LSANDBOX_STEPS_PER_CALL / 1000000));
}

/* charge(n): n steps of work a library function is about to do in one C
 * call (table.move); raises as a spent budget does when they are not left. */
static int sandbox_charge(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);

    if (n < 0 || n > lsandbox_steps(L))
        return lsandbox_exhausted(L, luaL_optstring(L, 2, "a library function"));
    lsandbox_spend(L, n);
    return 0;
}

/* Called for a method of the string metatable (upvalues: the library's
 * function, the bounded one): sandboxed code gets the bounded one. */
static int sandbox_dispatch(lua_State *L)
{
    struct mem *m = mem_of(L);

    lua_pushvalue(L, lua_upvalueindex(m && m->depth > 0 ? 2 : 1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* dispatch(library_fn, bounded_fn) -> the function for the string metatable. */
static int sandbox_make_dispatch(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    lua_pushcclosure(L, sandbox_dispatch, 2);
    return 1;
}

/* realpath(path) -> the absolute path with every symbolic link resolved |
 * nil, message, whether it does not exist (ENOENT). */
static int sandbox_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[PATH_MAX];

    if (realpath(path, buf) == NULL) {
        int missing = errno == ENOENT;
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        lua_pushboolean(L, missing);
        return 3;
    }
    lua_pushstring(L, buf);
    return 1;
}

/* is_link(path) -> whether path itself is a symbolic link (even a dangling one). */
static int sandbox_is_link(lua_State *L)
{
    struct stat st;
    lua_pushboolean(L, lstat(luaL_checkstring(L, 1), &st) == 0 && S_ISLNK(st.st_mode));
    return 1;
}

/* is_file(path) -> whether path is a regular file (links followed). */
static int sandbox_is_file(lua_State *L)
{
    struct stat st;
    lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISREG(st.st_mode));
    return 1;
}

/* used() -> bytes the state holds now. */
static int sandbox_used(lua_State *L)
{
    struct mem *m = mem_of(L);
    if (!m)
        luaL_pushfail(L);
    else
        lua_pushinteger(L, (lua_Integer)m->used);
    return 1;
}

/* active() -> whether sandboxed code runs now (library functions that the
 * sandbox can reach through the shared string metatable check it). */
static int sandbox_active(lua_State *L)
{
    struct mem *m = mem_of(L);
    lua_pushboolean(L, m && m->depth > 0);
    return 1;
}

/* seal(): from now on the whole state counts as sandboxed (qxtv --sandbox). */
static int sandbox_seal(lua_State *L)
{
    struct mem *m = mem_of(L);
    if (m)
        m->depth++;
    return 0;
}

static const luaL_Reg sandbox_funcs[] = {
    { "call", sandbox_call },
    { "used", sandbox_used },
    { "active", sandbox_active },
    { "seal", sandbox_seal },
    { "charge", sandbox_charge },
    { "dispatch", sandbox_make_dispatch },
    { "realpath", sandbox_realpath },
    { "is_link", sandbox_is_link },
    { "is_file", sandbox_is_file },
    { NULL, NULL }
};

int luaopen_qxt_sandbox_core(lua_State *L)
{
    luaL_newlib(L, sandbox_funcs);
    lpattern_register(L);        /* find, match, gmatch, gsub, rep */
    return 1;
}
