-- qxt.sink.csv: writes each record with its input columns plus the
-- verification result, as CSV (RFC 4180, formula-guarded: see qxt.csv).
--
--   local sink = require("qxt.sink.csv").open("out/consistent.csv",
--                                            { columns = src:columns() })
--   sink:write(record, result)
--   sink:close()
--
-- Columns: the input columns (opts.columns, usually source:columns(); by
-- default the keys of the first record's fields, mobile and name first),
-- then sink.RESULT_COLUMNS (code, reason, status, area, isp, attempts,
-- rule, row: the input's data-row number) or opts.result_columns. Input values come from record.fields, as
-- read (not cleaned). A result column takes result[col], else record[col];
-- `reason` falls back to record.error, so a row rejected before sending
-- still says why. A result column whose name an input column already uses
-- is written as "qxt_<name>" so both survive.
--
-- The file is created on the first write, or by close() with just the
-- header, so an outcome that never happened still has its (empty) file and
-- nothing is created for a run that fails before its first record.

local csv = require("qxt.csv")

local _M = {}

_M.RESULT_COLUMNS = { "code", "reason", "status", "area", "isp", "attempts", "rule", "row" }

local Sink = {}
Sink.__index = Sink

local function default_columns(fields)
  local keys, first = {}, {}
  for _, k in ipairs({ "mobile", "name" }) do
    if fields[k] ~= nil then
      first[#first + 1] = k
    end
  end
  for k in pairs(fields) do
    if type(k) == "string" and k ~= "mobile" and k ~= "name" then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  return table.move(keys, 1, #keys, #first + 1, first)
end

-- Builds the header and opens the writer.
function Sink:_open(record)
  local inputs = self.input_columns
  if not inputs then
    inputs = record and default_columns(record.fields or record) or { "mobile", "name" }
  end
  local header, taken = {}, {}
  for i, col in ipairs(inputs) do
    header[i] = col
    taken[col] = true
  end
  local outputs = {}
  for _, col in ipairs(self.result_columns) do
    local out = taken[col] and "qxt_" .. col or col
    header[#header + 1] = out
    taken[out] = true
    outputs[#outputs + 1] = { from = col, to = out }
  end
  local writer, err = csv.writer(self.path, header, self.writer_opts)
  if not writer then
    return nil, err
  end
  -- Where each column's value comes from, decided once: the writer takes
  -- it straight from the record and the result, with no row table. When two
  -- columns share a name, the later source wins, as it would in a row table.
  local field_of, result_of = {}, {}
  for _, col in ipairs(inputs) do
    field_of[col], result_of[col] = col, false
  end
  for _, out in ipairs(outputs) do
    field_of[out.to], result_of[out.to] = false, out.from
  end
  local fields, results = {}, {}
  for i, col in ipairs(header) do
    fields[i], results[i] = field_of[col], result_of[col]
  end
  writer:_bind(fields, results)
  self.writer = writer
  return true
end

--- sink:write(record, result) -> true | nil, err
function Sink:write(record, result)
  if self.closed then
    error("csv sink: write after close", 2)
  end
  if not self.writer then
    local ok, err = self:_open(record)
    if not ok then
      return nil, err
    end
  end
  -- An input column takes record.fields[col]; a result column takes
  -- result[col], else record[col], and `reason` falls back to record.error
  -- (in C: qxt.csv_writer.core).
  return self:_checked(self.writer:_write_record(record, result))
end

-- A writer's failure (a full disk) with the file it is about.
function Sink:_checked(ok, err)
  if ok then
    return ok
  end
  local what = type(self.path) == "string" and self.path
    or (self.path == io.stdout and "standard output" or "the output file")
  return nil, ("%s: %s"):format(what, tostring(err))
end

--- sink:flush() -> true | nil, err
function Sink:flush()
  if not self.writer then
    return true
  end
  return self:_checked(self.writer:flush())
end

--- sink:close() -> true | nil, err: flushes and closes; a sink never
-- written to still creates its file with the header row.
function Sink:close()
  if self.closed then
    return true
  end
  self.closed = true
  if not self.writer then
    local ok, err = self:_open(nil)
    if not ok then
      return nil, err
    end
  end
  return self:_checked(self.writer:close())
end

--- csv_sink.open(path, opts) -> sink
-- path: a file path or an open file. opts: { columns = {...},
-- result_columns = {...}, bom = false, eol = "\r\n" } (see qxt.csv.writer),
-- or simply the array of input columns.
function _M.open(path, opts)
  if type(path) ~= "string" and io.type(path) ~= "file" then
    error("sink.csv: expected a path or an open file, got " .. type(path), 2)
  end
  opts = opts or {}
  if type(opts) ~= "table" then
    error("sink.csv: expected options or an array of columns, got " .. type(opts), 2)
  end
  if opts[1] ~= nil then
    opts = { columns = opts }
  end
  return setmetatable({
    path = path,
    input_columns = opts.columns and table.move(opts.columns, 1, #opts.columns, 1, {}),
    result_columns = opts.result_columns or _M.RESULT_COLUMNS,
    writer_opts = { bom = opts.bom, eol = opts.eol, buffer_rows = opts.buffer_rows },
  }, Sink)
end

_M.new = _M.open

return _M
