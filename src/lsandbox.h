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

/* A new Lua state counting its memory; cap_bytes 0 = no cap. Installs a
 * panic handler (as luaL_newstate does). NULL when out of memory. */
lua_State *lsandbox_newstate(size_t cap_bytes);

/* Closes a state made by lsandbox_newstate and frees its accounting. */
void lsandbox_close(lua_State *L);

/* Module qxt.sandbox.core: call(fn, instructions, bytes, ...). */
int luaopen_qxt_sandbox_core(lua_State *L);

#endif
