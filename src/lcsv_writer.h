/* lcsv_writer.h -- the Lua module `qxt.csv_writer.core`: the C core of
 * qxt.csv.writer and qxt.csv.cell (lua/qxt/csv_writer.lua keeps the
 * argument checks and opens the file; this turns rows into CSV lines and
 * buffers them).
 *
 * Lua API (see lcsv_writer.c for the details):
 *   core.cell(v)                    -> the CSV text of one value
 *   core.new(file, owned, columns, eol, buffer_rows, bom, header)
 *                                   -> writer | nil, err (header not written)
 *   writer:write(row)               -> true | nil, err
 *   writer:flush()                  -> true | nil, err
 *   writer:close()                  -> true | nil, err (also __close, __gc)
 *   writer:_bind(fields, results)   for qxt.sink.csv: where each column's
 *   writer:_write_record(record, result)   value comes from, then rows
 *                                   written straight from a record
 *
 * The engine registers luaopen_qxt_csv_writer_core in
 * package.preload["qxt.csv_writer.core"]. */
#ifndef QXT_LCSV_WRITER_H
#define QXT_LCSV_WRITER_H

#include "lua.h"

/* Pushes the module table; returns 1. */
int luaopen_qxt_csv_writer_core(lua_State *L);

#endif
