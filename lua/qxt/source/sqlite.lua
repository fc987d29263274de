-- qxt.source.sqlite: records from a query on an SQLite database, through
-- qxtv's SQLite binding (qxt.sqlite). The query is the script's own SQL,
-- run as one prepared statement on a read-only connection: it reads, it
-- never writes, and a second statement after it is refused.
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
  local db, err = sqlite.open(path, "qxt.source.sqlite", { readonly = true })
  if not db then return nil, err end
  local ok, stmt = pcall(db.prepare, db, query)
  if ok and not stmt:readonly() then ok, stmt = false, "the query would change the database" end
  local names = ok and stmt:columns()
  if ok and #names == 0 then ok, stmt = false, "not a SELECT" end
  if not ok then
    db:close()
    return nil, ("%s: the query gives no rows: %s"):format(path, tostring(stmt))
  end
  local map, merr = csv.map_columns(names, opts.columns)
  if not map then
    db:close()
    return nil, ("%s: %s"):format(path, merr)
  end
  return setmetatable({ db = db, stmt = stmt, names = names, map = map }, Source)
end

--- source:records() -> iterator of records { seq, fields, mobile, name }
function Source:records()
  local seq = 0
  return function()
    if not self.db then return nil end
    if not self.next then self.next = self.stmt:rows() end
    local row = self.next(self.stmt)
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
  if self.db then self.db:close(); self.db = nil; self.stmt = nil end
end

return _M
