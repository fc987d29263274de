-- qxt.sink.csv: writes each record with its input columns plus the
-- verification result, as CSV (RFC 4180, formula-guarded: see qxt.csv).
--
--   local sink = require("qxt.sink.csv").open("out/consistent.csv",
--                                            { columns = src:columns() })
--   sink:write(record, result)
--   sink:close()
--
-- The row (its columns, their order, their values) is qxt.sink.row's: the
-- input columns (opts.columns, else the first record's), then
-- row.RESULT_COLUMNS or opts.result_columns. Failures: nil, "FILE: why".
--
-- The file is created on the first write, or by close() with just the
-- header, so an outcome that never happened still has its (empty) file and
-- nothing is created for a run that fails before its first record.

local csv = require("qxt.csv")
local row = require("qxt.sink.row")

local _M = {}

_M.RESULT_COLUMNS = row.RESULT_COLUMNS

local Sink = {}
Sink.__index = Sink

-- Builds the header and opens the writer.
function Sink:_open(record)
  local layout = row.layout(self.input_columns or row.default_columns(record), self.result_columns)
  local writer, err = csv.writer(self.path, layout.names, self.writer_opts)
  if not writer then
    return nil, err         -- qxt.file.open_private names the file
  end
  -- The writer takes each value straight from the record and the result
  -- by the row's rule (in C), with no row table.
  writer:_bind(layout.fields, layout.results)
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
  return self:_checked(self.writer:_write_record(record, result))
end

-- A writer's failure (a full disk) with the file it is about.
function Sink:_checked(ok, err)
  if ok then
    return ok
  end
  return row.failed(row.where(self.path), err)
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
    result_columns = opts.result_columns,
    writer_opts = { bom = opts.bom, eol = opts.eol, buffer_rows = opts.buffer_rows },
  }, Sink)
end

_M.new = _M.open

return _M
