-- qxt.csv_writer: the CSV writer behind qxt.csv.writer and qxt.csv.cell
-- (split from the reader: one concept per file). See qxt.csv for the
-- format: RFC 4180 quoting only where needed, and the formula-injection
-- guard for spreadsheets.

local _M = {}

local byte, concat, find, format, gsub =
  string.byte, table.concat, string.find, string.format, string.gsub

local BOM = "\239\187\191"

local function number_text(v)
  local i = math.tointeger(v)
  if i then
    return format("%d", i)
  end
  return format("%.14g", v)
end

--- csv.cell(v) -> the CSV text of one value (quoted, formula-guarded).
local function cell(v)
  local s
  local t = type(v)
  if t == "string" then
    s = v
  elseif t == "number" then
    s = number_text(v)
  elseif t == "boolean" then
    s = tostring(v)
  else
    return "" -- nil, and null markers such as cjson.null
  end
  if s == "" then
    return s
  end
  local first = byte(s)
  if (first == 61 or first == 43 or first == 45 or first == 64 or first == 9 or first == 13)
      and not find(s, "^[-+]?%d+%.?%d*$") then
    s = "'" .. s
  end
  if find(s, '[,"\r\n]') or byte(s) == 32 or byte(s, -1) == 32 then
    s = '"' .. gsub(s, '"', '""') .. '"'
  end
  return s
end
_M.cell = cell

local Writer = {}
Writer.__index = Writer

function Writer:_append(line)
  local n = self.n + 1
  self.pending[n] = line
  self.n = n
  if n >= self.buffer_rows then
    return self:_drain()
  end
  return true
end

function Writer:_drain()
  if self.n == 0 then
    return true
  end
  local ok, err = self.file:write(concat(self.pending, "", 1, self.n))
  self.pending, self.n = {}, 0
  if not ok then
    return nil, err
  end
  return true
end

--- writer:write(row) -> true | nil, err
-- row maps column names to values; missing values are empty cells.
function Writer:write(row)
  if not self.file then
    error("csv writer: write after close", 2)
  end
  local cells, columns = self.cells, self.columns
  for i = 1, #columns do
    cells[i] = cell(row[columns[i]])
  end
  return self:_append(concat(cells, ",", 1, #columns) .. self.eol)
end

--- writer:flush() -> true | nil, err
function Writer:flush()
  if not self.file then
    return true
  end
  local ok, err = self:_drain()
  if not ok then
    return nil, err
  end
  local flushed, why = self.file:flush()
  if not flushed then
    return nil, why
  end
  return true
end

--- writer:close() -> true | nil, err
-- Flushes; closes the file if the writer opened it. Closing twice is
-- harmless.
function Writer:close()
  if not self.file then
    return true
  end
  local ok, err = self:flush()
  local f = self.file
  self.file = nil
  if self.owned then
    local closed, why = f:close()
    ok, err = ok and closed, err or why
  end
  if not ok then
    return nil, err
  end
  return true
end

Writer.__close = Writer.close
Writer.__gc = function(self) pcall(Writer.close, self) end

--- csv.writer(path_or_file, columns, opts) -> writer | nil, err
-- Writes the header row at once. opts.eol (default "\r\n", RFC 4180),
-- opts.bom (default false; true helps Excel on Windows recognise UTF-8),
-- opts.header (default true), opts.buffer_rows (default 512).
function _M.new(target, columns, opts)
  opts = opts or {}
  if type(columns) ~= "table" or #columns == 0 then
    error("csv.writer: expected a non-empty array of column names", 2)
  end
  for i, name in ipairs(columns) do
    if type(name) ~= "string" then
      error(format("csv.writer: column %d is a %s, expected a string", i, type(name)), 2)
    end
  end
  local file, owned
  if type(target) == "string" then
    local err
    file, err = io.open(target, "wb")
    if not file then
      return nil, err
    end
    owned = true
  elseif io.type(target) == "file" then
    file = target
  else
    error("csv.writer: expected a path or an open file, got " .. type(target), 2)
  end
  local self = setmetatable({
    file = file, owned = owned, columns = table.move(columns, 1, #columns, 1, {}),
    cells = {}, pending = {}, n = 0, eol = opts.eol or "\r\n",
    buffer_rows = opts.buffer_rows or 512,
  }, Writer)
  if opts.bom then
    self:_append(BOM)
  end
  if opts.header ~= false then
    local cells = {}
    for i, name in ipairs(columns) do
      cells[i] = cell(name)
    end
    local ok, err = self:_append(concat(cells, ",") .. self.eol)
    if not ok then
      return nil, err
    end
  end
  return self
end

return _M
