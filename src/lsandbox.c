/* lsandbox.c -- running untrusted Lua under limits (module qxt.sandbox.core).
 *
 * call(fn, instructions, bytes, ...) runs fn on the calling thread with a
 * count hook (instructions, 0 = none) and a memory budget (bytes above what
 * the state holds now, 0 = none). Returns true, results... or false, message.
 * The hook and the budget are restored on return, whatever happened, so a
 * task resumed later never sees them. Only environments and limits keep
 * hostile code out; see lua/qxt/sandbox.lua for the environment. */
#include "lsandbox.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>

struct mem {
    size_t used;                 /* bytes the state holds now */
    size_t cap;                  /* whole state; 0 = none */
    size_t limit;                /* armed budget's ceiling; 0 = not armed */
    int tripped;                 /* the armed budget refused an allocation */
    int depth;                   /* sandboxed calls running; +1 for ever after seal() */
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
    { NULL, NULL }
};

int luaopen_qxt_sandbox_core(lua_State *L)
{
    luaL_newlib(L, sandbox_funcs);
    return 1;
}
