/* lredis.h -- the entry point of the module qxtv-redis.so (module.h):
 * `qxt.redis.core`, a Redis connection driven by the engine's own loop
 * (lredis.c). Lua code uses it through lua/qxt/redis.lua. */
#ifndef QXT_LREDIS_H
#define QXT_LREDIS_H

#include <lua.h>

__attribute__((visibility("default"))) int luaopen_qxt_redis_core(lua_State *L);

#endif
