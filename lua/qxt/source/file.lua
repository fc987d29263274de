-- qxt.source.file: records from a file named by path, read as what it holds
-- (not as its name says): an Excel workbook (.xlsx: a zip archive) through
-- qxt.source.xlsx, anything else as CSV through qxt.source.csv. An old
-- binary Excel file (.xls) is refused with the way out. Anything but a
-- regular file (a pipe, /dev/stdin) is read as CSV, without a peek.
--
--   local src = assert(qxt.source.file(arg[1], { encoding = "auto", sheet = opts.sheet }))
--
-- opts: those of both sources (encoding, columns for CSV; sheet, columns
-- for .xlsx); opts.sheet given for a CSV file is an error, not ignored.
local core = require("qxt.input.core")

local _M = {}

local ZIP, OLE2 = "PK\3\4", "\208\207\17\224\161\177\26\225"

--- file_source.open(path, opts) -> source | nil, err
function _M.open(path, opts)
  if type(path) ~= "string" then error("source.file: expected a path, got " .. type(path), 2) end
  opts = opts or {}
  -- Only a regular file is sniffed: reading a pipe (/dev/stdin) would take
  -- a buffer's worth from it, lost to the CSV reader that opens it again.
  -- A workbook cannot come from a pipe anyway (libzip seeks).
  local f = io.open(path, "rb")
  local id = f and core.identity(f)
  local head = id and id.regular and f:read(8) or ""
  if f then f:close() end
  if head:sub(1, 4) == ZIP then return require("qxt.source.xlsx").open(path, opts) end
  if head == OLE2 then
    return nil, path .. ": an old Excel file (.xls), which qxtv does not read: open it in Excel "
      .. "and save it as .xlsx (Excel Workbook) or as CSV UTF-8"
  end
  if opts.sheet ~= nil then
    return nil, ("%s: --sheet %s: this is not an Excel workbook (.xlsx) but a CSV file, which "
      .. "has no sheets"):format(path, tostring(opts.sheet))
  end
  return require("qxt.source.csv").open(path, opts)
end

_M.new = _M.open

return _M
