/* linput.h -- the Lua module `qxt.input.core`: an input file's identity and
 * the evidence of its bytes about their encoding (textscan.h). The rules
 * built on them are in lua/qxt/input.lua.
 *
 * Lua API (see linput.c for the details):
 *   core.identity(file)      -> { dev, ino, size, mtime_ns, regular } | nil, err
 *   core.stat(path)          -> the same, of what path names now | nil, err
 *   core.scan(file [, size]) -> encoding counts of its first size bytes | nil, err
 *   core.scan_string(s)      -> encoding counts of s
 *   core.utf8_errors(s, final) -> positions of invalid UTF-8, pending bytes
 *
 * The engine registers luaopen_qxt_input_core in
 * package.preload["qxt.input.core"]. */
#ifndef QXT_LINPUT_H
#define QXT_LINPUT_H

#include "lua.h"

/* Pushes the module table; returns 1. */
int luaopen_qxt_input_core(lua_State *L);

#endif
