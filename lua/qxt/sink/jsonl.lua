-- qxt.sink.jsonl: one JSON object per record, a line each: the input
-- fields, then code, reason, status, area, isp, attempts, rule, row.
--   local sink = qxt.sink.jsonl("out/results.jsonl")   -- or an open file
-- The file is created on the first write (or by close(), empty), as a new
-- file of mode 0600 (qxt.file.open_private).
local cjson = require("cjson")
local private = require("qxt.file").open_private

local _M = {}

_M.RESULT_COLUMNS = { "code", "reason", "status", "area", "isp", "attempts", "rule", "row" }

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
  local ok, err = self:_open()
  if not ok then return nil, err end
  local obj = {}
  for k, v in pairs(record.fields or {}) do obj[k] = v end
  for _, col in ipairs(_M.RESULT_COLUMNS) do
    local v = result[col]
    if v == nil and col == "reason" then v = record.error end
    obj[col] = v
  end
  return self:_checked(self.file:write(cjson.encode(obj), "\n"))
end

-- A file's failure (a full disk) with the file it is about.
function Sink:_checked(ok, err)
  if ok then return true end
  return nil, ("%s: %s"):format(self.path or (self.file == io.stdout and "standard output")
                                or "the output file", tostring(err))
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

--- open(path | file) -> sink
function _M.open(target)
  if io.type(target) == "file" then return setmetatable({ file = target }, Sink) end
  if type(target) ~= "string" then error("qxt.sink.jsonl wants a path or an open file", 2) end
  return setmetatable({ path = target }, Sink)
end

return _M
