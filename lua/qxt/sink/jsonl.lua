-- qxt.sink.jsonl: one JSON object per record, a line each, holding the row
-- of qxt.sink.row in its order: the input columns (opts.columns, else each
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

local encode, concat = cjson.encode, table.concat

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

-- The layout and its names as JSON keys ('"name":'), made once.
local function keyed(layout)
  local keys = {}
  for i = 1, layout.n do keys[i] = encode(layout.names[i]) .. ":" end
  layout.keys = keys
  return layout
end

-- Without columns, each line holds its own record's fields: the layout of
-- the record before is kept while the record has the same input keys.
function Sink:_layout(record)
  local layout = self.layout
  if self.columns then
    if not layout then
      layout = keyed(row.layout(self.columns))
      self.layout = layout
    end
    return layout
  end
  local fields = record.fields or record
  if layout then
    local same, n = true, 0
    for k in pairs(fields) do
      if type(k) == "string" then
        n = n + 1
        if not self.inputs[k] then same = false; break end
      end
    end
    if same and n == self.ninputs then return layout end
  end
  local inputs = row.default_columns(record)
  layout = keyed(row.layout(inputs))
  self.layout, self.inputs, self.ninputs = layout, {}, #inputs
  for _, k in ipairs(inputs) do self.inputs[k] = true end
  return layout
end

--- sink:write(record, result) -> true | nil, err
function Sink:write(record, result)
  if self.closed then error("qxt.sink.jsonl: write after close", 2) end
  local ok, err = self:_open()
  if not ok then return nil, err end
  local layout = self:_layout(record)
  local values = row.values(layout, record, result, self.values)
  self.values = values
  local parts, keys, n = self.parts, layout.keys, 0
  for i = 1, layout.n do
    local v = values[i]
    if v ~= nil then
      n = n + 1
      parts[n] = keys[i] .. encode(v)
    end
  end
  local line = "{" .. concat(parts, ",", 1, n) .. "}\n"
  return self:_checked(self.file:write(line))
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
    return setmetatable({ file = target, columns = columns, parts = {} }, Sink)
  end
  if type(target) ~= "string" then error("qxt.sink.jsonl wants a path or an open file", 2) end
  return setmetatable({ path = target, columns = columns, parts = {} }, Sink)
end

return _M
