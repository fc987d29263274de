/* liconv.h -- the Lua module `qxt.iconv`: a thin binding to iconv(3).
 *
 * Lua API (see liconv.c for the details):
 *   iconv.new(to, from)    -> converter | nil, message (pair not supported)
 *   converter:convert(s)   -> converted, pending | nil, message, position
 *   converter:reset()      -> converter (drops any shift state)
 *   converter:close()      (also __gc and __close)
 *
 * The engine registers luaopen_qxt_iconv in package.preload["qxt.iconv"];
 * built as a shared object it also loads into a stock lua5.4. */
#ifndef QXT_LICONV_H
#define QXT_LICONV_H

#include "lua.h"

/* Pushes the module table; returns 1. */
int luaopen_qxt_iconv(lua_State *L);

#endif
