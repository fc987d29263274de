-- qxt.sink.sqlite: records with their results into a table of an SQLite
-- database (created if missing), through Debian's LuaSQL binding.
--
--   local sink = assert(qxt.sink.sqlite("results.db", "verified", { columns = src:columns() }))
--
-- Columns: the row of qxt.sink.row (as every sink): the input columns,
-- then code, reason, status, area, isp, attempts, rule, row, all TEXT (a
-- nil value is NULL). Rows are written in transactions of opts.batch (500)
-- rows; close() commits the rest. Failures: write() and close() return
-- nil, "FILE: why" (a full disk), as every sink; misuse raises.
--
-- Like a CSV file, the table is replaced by each run (opts.mode =
-- "replace", the default): a resumed run rewrites every output from its
-- journal, so appending would write rows twice. opts.mode = "append" keeps
-- what is there, for flows without a journal that add to a history table.
-- The database file is made mode 0600 (created so, or narrowed) before
-- SQLite opens it; its rollback journal takes the same mode.
local file = require("qxt.file")
local row = require("qxt.sink.row")
local sqlite = require("qxt.sqlite")

local _M = {}

_M.RESULT_COLUMNS = row.RESULT_COLUMNS

local Sink = {}
Sink.__index = Sink

local function ident(s)
  return '"' .. tostring(s):gsub('"', '""') .. '"'
end

--- open(path, table_name [, opts]) -> sink | nil, err
function _M.open(path, table_name, opts)
  if type(path) ~= "string" or type(table_name) ~= "string" then
    error("qxt.sink.sqlite(path, table [, opts]) wants two strings", 2)
  end
  opts = opts or {}
  if path ~= ":memory:" and path ~= "" then     -- not a file on disk
    local private, perr = file.make_private(path)
    if not private then return nil, perr end
  end
  local conn, env = sqlite.connect(path)
  if not conn then return nil, env end
  local mode = opts.mode or "replace"
  if mode ~= "replace" and mode ~= "append" then
    error("qxt.sink.sqlite: mode must be \"replace\" or \"append\"", 2)
  end
  local self = setmetatable({ env = env, conn = conn, table = table_name, batch = opts.batch or 500,
                              pending = 0, input_columns = opts.columns, mode = mode, path = path }, Sink)
  return self
end

function Sink:_create(record)
  local layout = row.layout(self.input_columns or row.default_columns(record))
  local defs = {}
  for i, name in ipairs(layout.names) do defs[i] = ident(name) .. " TEXT" end
  self.conn:setautocommit(false)
  if self.mode == "replace" then
    local ok, err = self.conn:execute("DROP TABLE IF EXISTS " .. ident(self.table))
    if not ok then error(("qxt.sink.sqlite: %s: %s"):format(self.path, tostring(err)), 0) end
  end
  local ok, err = self.conn:execute(("CREATE TABLE IF NOT EXISTS %s (%s)"):format(ident(self.table),
    table.concat(defs, ", ")))
  if not ok then error(("qxt.sink.sqlite: %s: %s"):format(self.path, tostring(err)), 0) end
  self.layout = layout
  local names = {}
  for i, name in ipairs(layout.names) do names[i] = ident(name) end
  self.insert = ("INSERT INTO %s (%s) VALUES ("):format(ident(self.table), table.concat(names, ", "))
end

-- Writes one row; raises on a database failure (write() returns it).
function Sink:_write(record, result)
  if not self.layout then self:_create(record) end
  local values = row.values(self.layout, record, result)
  for i = 1, self.layout.n do
    local v = values[i]
    values[i] = v == nil and "NULL" or ("'" .. self.conn:escape(tostring(v)) .. "'")
  end
  local ok, err = self.conn:execute(self.insert .. table.concat(values, ", ") .. ")")
  if not ok then error(("qxt.sink.sqlite: %s: %s"):format(self.path, tostring(err)), 0) end
  self.pending = self.pending + 1
  if self.pending >= self.batch then
    ok, err = self.conn:commit()
    if not ok then error(("qxt.sink.sqlite: %s: commit failed: %s"):format(self.path, tostring(err)), 0) end
    self.pending = 0
  end
  return true
end

--- sink:write(record, result) -> true | nil, err
function Sink:write(record, result)
  if not self.conn then error("qxt.sink.sqlite: write after close", 2) end
  local ok, err = pcall(self._write, self, record, result)
  if ok then return true end
  err = tostring(err):gsub("^qxt%.sink%.sqlite: ", "")
  if err:sub(1, #self.path + 2) == self.path .. ": " then return nil, err end
  return row.failed(self.path, err)
end

--- sink:close() -> true | nil, err: commits the rows not committed yet;
-- a commit or close that fails (a full disk) names the database file.
function Sink:close()
  if not self.conn then return true end
  local ok, err = true, nil
  if self.layout then
    ok, err = self.conn:commit()
    if not ok then err = ("%s: commit failed: %s"):format(self.path, tostring(err)) end
  end
  local closed = self.conn:close()
  self.env:close()
  self.conn = nil
  if ok and not closed then ok, err = nil, ("%s: the database did not close cleanly"):format(self.path) end
  if not ok then return nil, err end
  return true
end

return _M
