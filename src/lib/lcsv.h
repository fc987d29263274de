/* lcsv.h -- the C halves of the CSV library (lua/qxt/csv/): two Lua
 * modules, one family. Two files rather than one because together they
 * pass the ~600 lines a C file should stay under; each is one concept.
 *
 * `qxt.csv.core` (lcsv.c): the reader's per-row fast path and the one line
 * splitter (lua/qxt/csv/reader.lua keeps the rest: chunks, encodings,
 * quoted and malformed records, size limits).
 *   core.next_row(buf, pos, eof, names) -> pos, lines [, row, nfields]
 *   core.split(text [, names])          -> row, nfields
 *
 * `qxt.csv.writer.core` (lcsv_write.c): the C core of qxt.csv.writer and
 * qxt.csv.cell (lua/qxt/csv/writer.lua keeps the argument checks and opens
 * the file; this turns rows into CSV lines and buffers them).
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
 * The engine registers both in package.preload under those names. */
#ifndef QXT_LCSV_H
#define QXT_LCSV_H

#include "lua.h"

/* Each pushes its module table; returns 1. */
int luaopen_qxt_csv_core(lua_State *L);
int luaopen_qxt_csv_writer_core(lua_State *L);

#endif
