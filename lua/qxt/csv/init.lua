-- qxt.csv: a streaming RFC 4180 reader and a spreadsheet-safe writer.
-- This file is the front door (the API of docs/lua-api.md); the work is in
-- the files beside it:
--   reader.lua   csv.reader, csv.open: records, line numbers, malformed rows
--   decode.lua   the chunks the reader reads: safe read, UTF-8 check,
--                GB18030, the "auto" decision, old Mac line ends
--   columns.lua  column names, and which hold the mobile and the name
--   writer.lua   csv.writer, csv.cell
-- with their C halves in src/lib/lcsv.c (qxt.csv.core: the one line splitter)
-- and src/lib/lcsv_write.c (qxt.csv.writer.core); GB18030 needs src/lib/liconv.c.
--
-- Line ends: LF, CRLF, and CR alone (old Mac exports) are all understood.
--
-- Reading:
--   local reader = assert(csv.open("applicants.csv", { encoding = "auto" }))
--   reader:header()     --> { "手机号", "姓名", "备注" }
--   reader:mapping()    --> { mobile = "手机号", name = "姓名" }
--   for row, line, n, err in reader:rows() do ... end
--
-- `row` maps column names to text; `line` is the physical line where the
-- row starts, `n` the data row number (1 for the first row after the
-- header); `err` is nil, or says why the row is malformed (wrong number of
-- fields, unterminated quote, text after a closing quote, an over-long
-- line). A malformed row is still yielded, with what could be read, so the
-- caller can route it instead of losing it. The error is a fourth value, not
-- a field of `row`, because a CSV may well have a column called "error".
--
-- The file is read in chunks (opts.chunk_size, 64 KiB): memory stays
-- constant whatever the number of rows. One record may span chunks; a
-- record larger than opts.max_record_bytes (1 MiB) is reported as malformed
-- and reading resumes at the next line, so one stray quote cannot swallow
-- the rest of a file.
--
-- Encoding (opts.encoding): "utf-8", "gb18030" (also "gbk", "gb2312", of
-- which it is a superset) or "auto" (default), decided by evidence (the
-- rule and its error bounds are in qxt.input): for a file opened by path,
-- from all of its bytes before the first row is read; for a stream, from
-- the first qxt.input.STREAM_WINDOW bytes holding a non-ASCII byte (a UTF-8
-- BOM means UTF-8 at once). A file that is neither stops here with the line
-- and offset and the two ways out. Read as UTF-8 (decided or said), a row
-- holding a byte that is not UTF-8 comes with an error naming the column and
-- the byte's offset in the file (0-based), so it is rejected, never sent.
-- GB18030 conversion needs the `qxt.iconv` module; bytes GB18030 cannot
-- decode become U+FFFD, which qxt.clean rejects in a name or a mobile.
--
-- Integrity: a file opened by path is watched (qxt.input): reading raises
-- an error when it is truncated, grows, is rewritten or replaced while it
-- is read, and the rows after the change are not yielded.
--
-- Columns: the first non-blank row is the header. Column names are trimmed;
-- an empty name becomes "column_N", a repeated one gets "_2", "_3"... The
-- mobile and name columns are found by the names in csv.MOBILE_COLUMNS and
-- csv.NAME_COLUMNS (case-insensitive) or given as opts.columns = { mobile =
-- "联系电话", name = "客户姓名" }; opts.columns = false reads any CSV
-- without looking for them.
--
-- Writing:
--   local w = assert(csv.writer("out.csv", { "mobile", "name", "code" }))
--   w:write{ mobile = "13972565391", name = "张三", code = 0 }
--   w:close()
-- Cells are quoted only when needed (comma, quote, CR, LF, a leading or
-- trailing space). Against formula injection in spreadsheets, a cell that
-- starts with =, +, -, @, tab or CR gets a leading apostrophe ("'=1+1"),
-- except a plain number such as -8 or +86: provider codes are negative and
-- must stay numbers. Reading such a file back yields the apostrophe.

local reader = require("qxt.csv.reader")
local columns = require("qxt.csv.columns")
local writer = require("qxt.csv.writer")

local _M = {}

_M.MOBILE_COLUMNS = columns.MOBILE_COLUMNS
_M.NAME_COLUMNS = columns.NAME_COLUMNS
_M.CHUNK_SIZE = reader.CHUNK_SIZE
_M.MAX_RECORD_BYTES = reader.MAX_RECORD_BYTES

_M.map_columns = columns.map
_M.reader = reader.reader
_M.open = reader.open
_M.cell = writer.cell
_M.writer = writer.new

return _M
