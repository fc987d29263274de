/* lsandbox.h -- the engine's memory accounting and the sandbox primitive.
 *
 * The engine's Lua state allocates through lsandbox_alloc, which counts
 * every byte. A hard cap (qxtv --memory-limit) applies to the whole state;
 * a budget is armed only while qxt.sandbox.core.call runs a function, so a
 * rule's memory bomb fails inside the rule and never elsewhere. */
#ifndef QXTV_LSANDBOX_H
#define QXTV_LSANDBOX_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

/* A new Lua state counting its memory; cap_bytes 0 = no cap. Installs a
 * panic handler (as luaL_newstate does). NULL when out of memory. */
lua_State *lsandbox_newstate(size_t cap_bytes);

/* Closes a state made by lsandbox_newstate and frees its accounting. */
void lsandbox_close(lua_State *L);

/* Module qxt.sandbox.core: call(fn, instructions, bytes, ...), and the
 * bounded string functions of lpattern.c. */
int luaopen_qxt_sandbox_core(lua_State *L);

/* Work done inside one C call (a pattern match, table.move) is counted in
 * steps. Within qxt.sandbox.core.call the steps come from a pool of
 * instructions x LSANDBOX_STEPS_PER_INSTRUCTION for the whole call, so a
 * runaway pattern ends as a runaway loop does; elsewhere (run --sandbox)
 * each C call may take LSANDBOX_STEPS_PER_CALL. */
#define LSANDBOX_STEPS_PER_INSTRUCTION 16
#define LSANDBOX_STEPS_PER_CALL ((int64_t)100 * 1000 * 1000)

/* Steps the next C call may take. */
int64_t lsandbox_steps(lua_State *L);

/* Charges steps to the armed call's pool (nothing outside one). */
void lsandbox_spend(lua_State *L, int64_t steps);

/* Raises "instruction limit exceeded (in what)"; inside an armed call,
 * every later instruction of the call fails too (no pcall goes on). */
int lsandbox_exhausted(lua_State *L, const char *what);

/* lpattern.c: sets find, match, gmatch, gsub and rep into the table on top. */
void lpattern_register(lua_State *L);

#endif
