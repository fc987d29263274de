-- qxt.sink.sqlite: records with their results into a table of an SQLite
-- database (created if missing), through qxtv's SQLite binding
-- (qxt.sqlite): one prepared INSERT, every value bound. The table and
-- column names are the only words put into SQL, checked and quoted by
-- qxt.sqlite.ident: a bad one is refused, naming it.
--
--   local sink = assert(qxt.sink.sqlite("results.db", "verified", { columns = src:columns() }))
--
-- Columns: the row of qxt.sink.row (as every sink): the input columns,
-- then code, reason, status, area, isp, attempts, rule, row, all TEXT (a
-- nil value is NULL). Rows are written in transactions of opts.batch (500)
-- rows; close() commits the rest. Failures: write() and close() return
-- nil, "FILE: why" (a full disk, a bad column name in the first record),
-- as every sink; misuse raises.
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

local ident = sqlite.ident

-- Runs fixed SQL of ours; a failure raises naming the sink and its file.
local function exec(self, sql)
  local ok, err = pcall(self.db.exec, self.db, sql)
  if not ok then error(("qxt.sink.sqlite: %s: %s"):format(self.path, tostring(err)), 0) end
end

--- open(path, table_name [, opts]) -> sink | nil, err
function _M.open(path, table_name, opts)
  if type(path) ~= "string" or type(table_name) ~= "string" then
    error("qxt.sink.sqlite(path, table [, opts]) wants two strings", 2)
  end
  opts = opts or {}
  local mode = opts.mode or "replace"
  if mode ~= "replace" and mode ~= "append" then
    error("qxt.sink.sqlite: mode must be \"replace\" or \"append\"", 2)
  end
  local okn, nerr = pcall(function()
    ident(table_name, "table")
    for _, c in ipairs(opts.columns or {}) do ident(c, "column") end
  end)
  if not okn then error("qxt.sink.sqlite: " .. nerr, 2) end
  if path ~= ":memory:" and path ~= "" then     -- not a file on disk
    local private, perr = file.make_private(path)
    if not private then return nil, perr end
  end
  local db, err = sqlite.open(path, "qxt.sink.sqlite")
  if not db then return nil, err end
  local self = setmetatable({ db = db, table = table_name, batch = opts.batch or 500,
                              pending = 0, input_columns = opts.columns, mode = mode, path = path }, Sink)
  return self
end

function Sink:_create(record)
  local layout = row.layout(self.input_columns or row.default_columns(record))
  local names, defs, marks = {}, {}, {}
  for i, name in ipairs(layout.names) do
    local ok, quoted = pcall(ident, name, "column")
    if not ok then error(("qxt.sink.sqlite: %s: %s"):format(self.path, quoted), 0) end
    names[i], defs[i], marks[i] = quoted, quoted .. " TEXT", "?"
  end
  local tname = ident(self.table, "table")       -- checked by open()
  exec(self, "BEGIN")
  if self.mode == "replace" then exec(self, "DROP TABLE IF EXISTS " .. tname) end
  exec(self, ("CREATE TABLE IF NOT EXISTS %s (%s)"):format(tname, table.concat(defs, ", ")))
  local ok, st = pcall(self.db.prepare, self.db, ("INSERT INTO %s (%s) VALUES (%s)")
    :format(tname, table.concat(names, ", "), table.concat(marks, ", ")))
  if not ok then error(("qxt.sink.sqlite: %s: %s"):format(self.path, tostring(st)), 0) end
  self.layout = layout
  self.insert = st
end

-- Writes one row; raises on a database failure (write() returns it).
function Sink:_write(record, result)
  if not self.layout then self:_create(record) end
  local values = row.values(self.layout, record, result)
  for i = 1, self.layout.n do
    local v = values[i]
    if v ~= nil then values[i] = tostring(v) end
  end
  local ok, err = pcall(self.insert.run, self.insert, table.unpack(values, 1, self.layout.n))
  if not ok then error(("qxt.sink.sqlite: %s: %s"):format(self.path, tostring(err)), 0) end
  self.pending = self.pending + 1
  if self.pending >= self.batch then
    ok, err = pcall(self.db.exec, self.db, "COMMIT; BEGIN")
    if not ok then error(("qxt.sink.sqlite: %s: commit failed: %s"):format(self.path, tostring(err)), 0) end
    self.pending = 0
  end
  return true
end

--- sink:write(record, result) -> true | nil, err
function Sink:write(record, result)
  if not self.db then error("qxt.sink.sqlite: write after close", 2) end
  local ok, err = pcall(self._write, self, record, result)
  if ok then return true end
  err = tostring(err):gsub("^qxt%.sink%.sqlite: ", "")
  if err:sub(1, #self.path + 2) == self.path .. ": " then return nil, err end
  return row.failed(self.path, err)
end

--- sink:close() -> true | nil, err: commits the rows not committed yet;
-- a commit or close that fails (a full disk) names the database file.
function Sink:close()
  if not self.db then return true end
  local ok, err = true, nil
  if self.layout then
    ok, err = pcall(self.db.exec, self.db, "COMMIT")
    if not ok then err = ("%s: commit failed: %s"):format(self.path, tostring(err)) end
  end
  local closed = self.db:close()
  self.db, self.insert = nil, nil
  if ok and not closed then ok, err = nil, ("%s: the database did not close cleanly"):format(self.path) end
  if not ok then return nil, err end
  return true
end

return _M
