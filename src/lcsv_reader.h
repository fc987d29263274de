/* lcsv_reader.h -- the Lua module `qxt.csv.core`: the per-row fast path
 * of the CSV reader (lua/qxt/csv.lua keeps the rest: chunks, encodings,
 * quoted and malformed records, size limits).
 *
 * Lua API (see lcsv_reader.c for the details):
 *   core.next_row(buf, pos, eof, names) -> pos, lines [, row, nfields]
 *
 * The engine registers luaopen_qxt_csv_core in
 * package.preload["qxt.csv.core"]. */
#ifndef QXT_LCSV_READER_H
#define QXT_LCSV_READER_H

#include "lua.h"

/* Pushes the module table; returns 1. */
int luaopen_qxt_csv_core(lua_State *L);

#endif
