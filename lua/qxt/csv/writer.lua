-- qxt.csv.writer: the CSV writer behind csv.writer and csv.cell. See
-- lua/qxt/csv/init.lua for the format: RFC 4180 quoting only where needed,
-- and the formula-injection guard for spreadsheets. The per-row work
-- (quoting, the guard, number formatting, buffering) is in C:
-- qxt.csv.writer.core (src/lib/lcsv_write.c).

local core = require("qxt.csv.writer.core")
local private = require("qxt.file").open_private

local _M = {}

local format = string.format

--- csv.cell(v) -> the CSV text of one value (quoted, formula-guarded).
_M.cell = core.cell

--- writer.text(v) -> the text of one value in a cell, unquoted, or nil
-- for an empty one: numbers as %d when integral (math.tointeger), else
-- %.14g; booleans true / false; anything else (cjson.null, a table) nil.
_M.text = core.text

--- csv.writer(path_or_file, columns, opts) -> writer | nil, err
-- Writes the header row at once; a path is made a new file of mode 0600
-- (qxt.file.open_private: CSV files hold personal data). opts.eol (default "\r\n", RFC 4180),
-- opts.bom (default false; true helps Excel on Windows recognise UTF-8),
-- opts.header (default true), opts.buffer_rows (default 512).
-- writer:write(row) -> true | nil, err: row maps column names to values;
-- missing values are empty cells. writer:flush() and writer:close() ->
-- true | nil, err; close() closes the file if the writer opened it, and
-- closing twice is harmless.
function _M.new(target, columns, opts)
  opts = opts or {}
  if type(columns) ~= "table" or #columns == 0 then
    error("csv.writer: expected a non-empty array of column names", 2)
  end
  for i, name in ipairs(columns) do
    if type(name) ~= "string" then
      error(format("csv.writer: column %d is a %s, expected a string", i, type(name)), 2)
    end
  end
  local file, owned
  if type(target) == "string" then
    local err
    file, err = private(target)
    if not file then
      return nil, err
    end
    owned = true
  elseif io.type(target) == "file" then
    file = target
  else
    error("csv.writer: expected a path or an open file, got " .. type(target), 2)
  end
  return core.new(file, owned or false, columns, opts.eol or "\r\n", opts.buffer_rows or 512,
                  opts.bom or false, opts.header ~= false)
end

return _M
