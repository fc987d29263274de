-- qxt.source.sqlite: records from a query on an SQLite database, through
-- Debian's LuaSQL binding (lua-sql-sqlite3).
--
--   local src = assert(qxt.source.sqlite("crm.db",
--     "SELECT id, phone AS mobile, full_name AS name FROM applicants WHERE day = '2026-11-28'"))
--
-- The query's column names are mapped like a CSV header (mobile, phone,
-- 手机号... and name, 姓名; or opts.columns = { mobile = "..", name = ".." }).
-- Rows are fetched one at a time: memory stays constant.
local csv = require("qxt.csv")
local sqlite = require("qxt.sqlite")

local _M = {}

local Source = {}
Source.__index = Source

--- open(path, query [, opts]) -> source | nil, err
function _M.open(path, query, opts)
  if type(path) ~= "string" or type(query) ~= "string" then
    error("qxt.source.sqlite(path, query [, opts]) wants two strings", 2)
  end
  opts = opts or {}
  if not io.open(path, "rb") then return nil, path .. ": no such database file" end
  local conn, env = sqlite.connect(path)
  if not conn then return nil, env end
  local cursor, qerr = conn:execute(query)
  if type(cursor) ~= "userdata" then
    conn:close()
    env:close()
    return nil, ("%s: the query gives no rows: %s"):format(path, tostring(qerr or "not a SELECT"))
  end
  local names = cursor:getcolnames()
  local map, merr = csv.map_columns(names, opts.columns)
  if not map then
    cursor:close(); conn:close(); env:close()
    return nil, ("%s: %s"):format(path, merr)
  end
  return setmetatable({ env = env, conn = conn, cursor = cursor, names = names, map = map }, Source)
end

--- source:records() -> iterator of records { seq, fields, mobile, name }
function Source:records()
  local seq = 0
  return function()
    if not self.cursor then return nil end
    local row = self.cursor:fetch({}, "a")
    if row == nil then
      self:close()
      return nil
    end
    seq = seq + 1
    local fields = {}
    for _, n in ipairs(self.names) do
      local v = row[n]
      fields[n] = v ~= nil and tostring(v) or ""
    end
    return { seq = seq, fields = fields, mobile = row[self.map.mobile], name = row[self.map.name] }
  end
end

function Source:columns()
  return { table.unpack(self.names) }
end

--- Unknown without running the query twice.
function Source.total()
  return nil
end

function Source:close()
  if self.cursor then self.cursor:close(); self.cursor = nil end
  if self.conn then self.conn:close(); self.conn = nil end
  if self.env then self.env:close(); self.env = nil end
end

return _M
