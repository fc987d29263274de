-- qxt.sink.jsonl: one JSON object per record, a line each, holding the row
-- of qxt.sink.row (its keys in cjson's order: JSON objects have none): the input columns (opts.columns, else each
-- record's own fields, mobile and name first), then code, reason, status,
-- area, isp, attempts, rule, row. An empty value is an absent key.
--   local sink = qxt.sink.jsonl("out/results.jsonl")   -- or an open file
-- The file is created on the first write (or by close(), empty), as a new
-- file of mode 0600 (qxt.file.open_private). Failures: nil, "FILE: why".
local cjson = require("cjson")
local private = require("qxt.file").open_private
local row = require("qxt.sink.row")

local _M = {}

_M.RESULT_COLUMNS = row.RESULT_COLUMNS

local encode = cjson.encode

local Sink = {}
Sink.__index = Sink

function Sink:_open()
  if self.file then return true end
  local f, err = private(self.path)
  if not f then return nil, err end
  f:setvbuf("full", 64 * 1024)
  self.file, self.owned = f, true
  return true
end

--- sink:write(record, result) -> true | nil, err
function Sink:write(record, result)
  if self.closed then error("qxt.sink.jsonl: write after close", 2) end
  local ok, err = self:_open()
  if not ok then return nil, err end
  -- without columns, each line holds its own record's fields
  local layout = self.layout
  if not layout and self.columns then
    layout = row.layout(self.columns)
    self.layout = layout
  end
  -- One encode of the whole object: a JSON object has no order, and one
  -- cjson call per value would cost a third more per row.
  return self:_checked(self.file:write(encode(row.named(layout, record, result)), "\n"))
end

-- A file's failure (a full disk) with the file it is about.
function Sink:_checked(ok, err)
  if ok then return true end
  return row.failed(row.where(self.path, self.file), err)
end

--- sink:close() -> true | nil, err (a stream it was given stays open;
-- closing twice is harmless: one sink may serve several outcomes)
function Sink:close()
  if self.closed then return true end
  self.closed = true
  local ok, err = self:_open()
  if not ok then return nil, err end
  if self.owned then return self:_checked(self.file:close()) end
  return self:_checked(self.file:flush())
end

--- open(path | file [, opts]) -> sink. opts.columns: the input columns
--- (default: each record's own fields).
function _M.open(target, opts)
  opts = opts or {}
  local columns = opts.columns and table.move(opts.columns, 1, #opts.columns, 1, {})
  if io.type(target) == "file" then
    return setmetatable({ file = target, columns = columns }, Sink)
  end
  if type(target) ~= "string" then error("qxt.sink.jsonl wants a path or an open file", 2) end
  return setmetatable({ path = target, columns = columns }, Sink)
end

return _M
