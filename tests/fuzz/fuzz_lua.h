/* fuzz_lua.h -- what the Lua-driven harnesses share: a Lua state kept
 * across runs with the flow library on package.path, a driver function
 * (tests/fuzz/NAME_driver.lua) called with each input, and coverage of the
 * Lua code fed back to libFuzzer.
 *
 * The Lua interpreter is Debian's (not instrumented), so libFuzzer alone
 * would see no difference between two inputs that take different paths
 * through qxt.csv. A line hook counts (previous line, this line) pairs of
 * Lua code into libFuzzer's extra-counters section: new edges in the Lua
 * library count as new coverage. Header-only: each harness is one file. */
#ifndef QXT_FUZZ_LUA_H
#define QXT_FUZZ_LUA_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int luaopen_qxt_iconv(lua_State *L);
int luaopen_qxt_csv_core(lua_State *L);
int luaopen_qxt_csv_writer_core(lua_State *L);
int luaopen_qxt_file(lua_State *L);
int luaopen_qxt_input_core(lua_State *L);

#define FUZZ_LUA_EDGES (1u << 16)

/* libFuzzer reads every byte of this section after each run. */
__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t fuzz_lua_edges[FUZZ_LUA_EDGES];
static uintptr_t fuzz_lua_prev;

/* Called by Lua before each new line of Lua code. Only the line number is
 * used (Lua sets it for line events; asking which function it is in costs
 * more than the rest of a run): lines of different files share counters,
 * and pairs of lines make edges, which is enough to tell paths apart. */
static void fuzz_lua_on_line(lua_State *L, lua_Debug *ar)
{
    uintptr_t here = (uintptr_t)ar->currentline * 2654435761u;
    uint8_t *c = &fuzz_lua_edges[(here ^ fuzz_lua_prev) & (FUZZ_LUA_EDGES - 1)];
    if (*c < 255)
        (*c)++;
    fuzz_lua_prev = here >> 1;
}

/* A Lua state with the standard libraries, qxt.iconv, qxt.csv.core,
 * qxt.csv.writer.core, qxt.file and qxt.input.core preloaded, the project's lua/
 * first on package.path, and the function returned by the driver file in
 * the registry (returned as a reference). Exits on any failure: a harness
 * that cannot start must not look like a clean run. */
static lua_State *fuzz_lua_open(const char *driver, int *ref)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "fuzz: cannot create a Lua state\n");
        exit(1);
    }
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_qxt_iconv);
    lua_setfield(L, -2, "qxt.iconv");
    lua_pushcfunction(L, luaopen_qxt_csv_core);
    lua_setfield(L, -2, "qxt.csv.core");
    lua_pushcfunction(L, luaopen_qxt_csv_writer_core);
    lua_setfield(L, -2, "qxt.csv.writer.core");
    lua_pushcfunction(L, luaopen_qxt_file);       /* csv.writer opens files private */
    lua_setfield(L, -2, "qxt.file");
    lua_pushcfunction(L, luaopen_qxt_input_core);
    lua_setfield(L, -2, "qxt.input.core");
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua", QXTV_SOURCE_LUA_DIR,
                    QXTV_SOURCE_LUA_DIR, QXTV_FUZZ_DIR);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    if (luaL_dofile(L, driver) != LUA_OK || !lua_isfunction(L, -1)) {
        fprintf(stderr, "fuzz: %s: %s\n", driver, lua_tostring(L, -1));
        exit(1);
    }
    *ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_sethook(L, fuzz_lua_on_line, LUA_MASKLINE, 0);
    return L;
}

/* Calls the driver with the input as a string. A Lua error means the code
 * under test raised where it must not, or broke an invariant the driver
 * checks: that is a finding, so abort() for libFuzzer to record it. */
static void fuzz_lua_run(lua_State *L, int ref, const uint8_t *data, size_t size)
{
    static unsigned runs;

    fuzz_lua_prev = 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        fprintf(stderr, "fuzz: the driver failed: %s\n", lua_tostring(L, -1));
        abort();
    }
    if (++runs % 256 == 0)
        lua_gc(L, LUA_GCCOLLECT);
}

#endif
