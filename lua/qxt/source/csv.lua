-- qxt.source.csv: records from a CSV file (see qxt.csv for the format,
-- the encodings and the column mapping).
--
--   local src = assert(require("qxt.source.csv").open("applicants.csv",
--                      { encoding = "auto", columns = { mobile = "联系电话" } }))
--   src:columns()   --> the header, in file order (for sinks)
--   src:total()     --> an estimate of the number of data rows, or nil
--   for rec in src:records() do ... end
--
-- Every source yields records of one shape:
--   { seq = N (1-based input order), line = L (first physical line),
--     fields = { column = text }, mobile = ..., name = ...,
--     error = nil | "row 17 (line 18) has 3 fields, header has 4" }
-- mobile and name are the raw column values; cleaning is qxt.clean's job.

local csv = require("qxt.csv")

local _M = {}

local Source = {}
Source.__index = Source

--- source:records() -> iterator of records. A stream: iterate it once.
function Source:records()
  if self.started then
    error("source:records(): this source has already been read (a stream is read once)", 2)
  end
  self.started = true
  local rows, map, seq = self.reader:rows(), self.map, 0
  return function()
    local row, line, _, err = rows()
    if row == nil then
      return nil
    end
    seq = seq + 1
    return { seq = seq, line = line, fields = row, mobile = row[map.mobile],
             name = row[map.name], error = err }
  end
end

--- source:columns() -> array of the input's column names, in order.
function Source:columns()
  return self.reader:header()
end

--- source:mapping() -> { mobile = column, name = column }
function Source:mapping()
  return self.reader:mapping()
end

--- source:total() -> estimated number of data rows, false | nil
-- Only for a file given by path: its size divided by the average row size
-- of its first 64 KiB (exact for a file that fits in that sample, except
-- for blank lines and newlines inside quotes). The second value is true
-- when the count is exact. Cached after the first call.
function Source:total()
  if self.estimate ~= nil or not self.path then
    return self.estimate or nil, self.exact
  end
  local f = io.open(self.path, "rb")
  if not f then
    return nil
  end
  local sample = f:read(64 * 1024) or ""
  local size = f:seek("end") or #sample
  f:close()
  local lines = select(2, sample:gsub("\n", ""))
  if #sample > 0 and sample:sub(-1) ~= "\n" then
    lines = lines + 1 -- a last line without its line end
  end
  if size <= #sample then
    self.estimate, self.exact = math.max(0, lines - 1), true
  else
    self.estimate, self.exact = math.max(0, math.floor(size * lines / #sample + 0.5) - 1), false
  end
  return self.estimate, self.exact
end

--- source:encoding() -> "utf-8" | "gb18030" | nil (not decided yet)
function Source:encoding()
  return self.reader:encoding()
end

--- source:encoding_note() -> nil | text: "auto" read the input as UTF-8
-- although some of its lines are not (their rows are rejected; see qxt.csv).
function Source:encoding_note()
  return self.reader:encoding_note()
end

--- source:close(): stops reading and closes the file.
function Source:close()
  self.reader:close()
end

--- csv_source.open(input, opts) -> source | nil, err
-- input: a path, an open file, or a read function (see csv.reader).
-- opts: as csv.reader (encoding, columns, chunk_size, max_record_bytes).
function _M.open(input, opts)
  local reader, err
  if type(input) == "string" then
    reader, err = csv.open(input, opts)
  elseif io.type(input) == "file" then
    reader, err = csv.reader(function(n) return input:read(n) end, opts)
  elseif type(input) == "function" then
    reader, err = csv.reader(input, opts)
  else
    error("source.csv: expected a path, a file or a read function, got " .. type(input), 2)
  end
  if not reader then
    return nil, err
  end
  local map = reader:mapping() or {}
  return setmetatable({ reader = reader, map = map,
                        path = type(input) == "string" and input or nil }, Source)
end

_M.new = _M.open

return _M
