-- qxt.sink.xlsx: one Excel workbook for a whole run: a sheet per
-- destination (each a sink) and a summary sheet, written with libxlsxwriter
-- (qxt.xlsx.writer, src/lib/lxlsx_write.c).
--
--   local book = qxt.sink.xlsx("out/results.xlsx", { columns = src:columns() })
--   local summary = qxt.flow{ source = src, sinks = book:sinks(qxt.route.OUTCOMES) }
--   assert(book:close(summary))          -- writes the file
--
-- book:sheet(name) -> sink: the sheet of one destination; book:sinks(names)
-- -> { name = sink }. Each sheet's row is qxt.sink.row's, as every sink's:
-- the input columns, then code, reason, status, area, isp, attempts, rule,
-- row; its first row is the header, bold and frozen (it stays in view when
-- scrolling). Rows are written in the order the sheet gets them.
--
-- Cells: every input field is a text cell, never a number (a mobile stays
-- 11 digits, a leading 0 stays), and never a formula: a text starting with
-- = + - @ is written as that text, as it was read (an Excel text cell is not
-- evaluated; unlike CSV, nothing is prefixed). A number or a boolean from
-- a Lua table source is the text the CSV writer writes (qxt.csv.writer.text:
-- 1e16 is 10000000000000000 in both). The result columns code,
-- attempts and row are numbers (to sort by); the others text. Bytes that
-- are not UTF-8 become U+FFFD; a text over 32767 characters (Excel's
-- limit) is cut, and the summary sheet says how many were.
--
-- Sheet names: a destination's name with what Excel refuses ([ ] : * ? / \)
-- made "_", at most 31 characters, made unique; the summary sheet is first
-- ("summary") and holds the run's figures (summary.json's, without the
-- per-second series) and each sheet's row count.
--
-- The file: nothing is written until book:close(summary), which writes it
-- as a new file of mode 0600; sheet rows wait meanwhile in unlinked
-- temporary files of mode 0600 in the output's directory (memory stays
-- bounded). A sheet's close() (qxt.flow calls it) only ends the sheet.
-- Failures: nil, "FILE: why", as every sink.
local row = require("qxt.sink.row")
local writer = require("qxt.xlsx.writer")

local _M = {}

_M.RESULT_COLUMNS = row.RESULT_COLUMNS
_M.NUMBER_COLUMNS = { code = true, attempts = true, row = true }

local gsub, lower = string.gsub, string.lower

-- An input field as text (numbers from a Lua table source included), as
-- the CSV writer writes it: every sink writes the same row.
local text = require("qxt.csv.writer").text

-- A name Excel takes for a sheet, unique (case-insensitive) in `taken`.
local function sheet_name(name, taken)
  local s = gsub(tostring(name), "[%[%]:%*%?/\\]", "_")
  s = gsub(gsub(s, "^'+", ""), "'+$", "")
  if s == "" or lower(s) == "history" then s = "sheet_" .. s end
  local function cut(str, n)
    if utf8.len(str) and utf8.len(str) > n then return str:sub(1, utf8.offset(str, n + 1) - 1) end
    return str
  end
  s = cut(s, 31)
  local candidate, k = s, 2
  while taken[lower(candidate)] do
    local suffix = "_" .. k
    candidate = cut(s, 31 - #suffix) .. suffix
    k = k + 1
  end
  taken[lower(candidate)] = true
  return candidate
end

----------------------------------------------------------------------------
-- A sheet: the sink of one destination.

local Sheet = {}
Sheet.__index = Sheet

function Sheet:_start(record)
  local layout = row.layout(self.book.input_columns or row.default_columns(record), self.book.result_columns)
  local ok, err = self.book.w:header(self.index, layout.names)
  if not ok then return nil, err end
  local number = {}
  for i = 1, layout.n do
    number[i] = not layout.fields[i] and _M.NUMBER_COLUMNS[layout.results[i]] or false
  end
  self.layout, self.number, self.values = layout, number, {}
  return true
end

--- sheet:write(record, result) -> true | nil, err
function Sheet:write(record, result)
  if self.closed then error("xlsx sink: write after close", 2) end
  if not self.layout then
    local ok, err = self:_start(record)
    if not ok then return nil, err end
  end
  local layout, values, number = self.layout, self.values, self.number
  row.values(layout, record, result, values)
  for i = 1, layout.n do
    local v = values[i]
    if v ~= nil and not (number[i] and math.type(v)) then values[i] = text(v) end
  end
  local ok, err = self.book.w:row(self.index, values, layout.n)
  if not ok then return nil, err end
  self.rows = self.rows + 1
  return true
end

--- sheet:flush() -> true: rows are in the sheet's temporary file already.
function Sheet.flush() return true end

--- sheet:close() -> true | nil, err: the sheet ends (its header written if
-- it got no row); the file is written by book:close().
function Sheet:close()
  if self.closed then return true end
  if not self.layout then
    local ok, err = self:_start(nil)
    if not ok then return nil, err end
  end
  self.closed = true
  return true
end

----------------------------------------------------------------------------
-- The workbook.

local Book = {}
Book.__index = Book

--- book:sheet(name) -> sink
function Book:sheet(name)
  if self.done then error("xlsx sink: sheet() after close", 2) end
  if self.sheets[name] then return self.sheets[name] end
  local title = sheet_name(name, self.taken)
  local index = assert(self.w:sheet(title))
  local s = setmetatable({ book = self, index = index, name = name, title = title, rows = 0 }, Sheet)
  self.sheets[name], self.order[#self.order + 1] = s, s
  return s
end

--- book:sinks(names) -> { [name] = sink } for qxt.flow's `sinks`.
function Book:sinks(names)
  local t = {}
  for _, name in ipairs(names) do t[name] = self:sheet(name) end
  return t
end

-- The summary's figures as (what, value) pairs: scalars by their dotted
-- path, sorted; the per-second series and the histogram left out.
local SKIP = { per_second = true, latency_histogram = true, text = true, json = true }
local function figures(t, prefix, out)
  local keys = {}
  for k in pairs(t) do
    if not SKIP[k] then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local v, key = t[k], prefix .. tostring(k)
    if type(v) == "table" then
      figures(v, key .. ".", out)
    elseif type(v) ~= "function" then
      out[#out + 1] = { key, type(v) == "number" and v or tostring(v) }
    end
  end
  return out
end

--- book:close([summary]) -> true | nil, "FILE: why": ends every sheet,
-- fills the summary sheet, writes the file. Closing twice is harmless.
function Book:close(summary)
  if self.done then return self.result, self.err end
  self.done = true
  local w, ok, err = self.w, true, nil
  for _, s in ipairs(self.order) do
    if ok then ok, err = s:close() end
  end
  local rows = {}
  for _, s in ipairs(self.order) do rows[#rows + 1] = { ("rows in sheet '%s'"):format(s.title), s.rows } end
  if summary then figures(summary, "", rows) end
  if w:cut() > 0 then
    rows[#rows + 1] = { "texts cut to 32767 characters (Excel's limit)", w:cut() }
  end
  if ok then ok, err = w:header(self.summary, { "what", "value" }) end
  for _, r in ipairs(rows) do
    if ok then ok, err = w:row(self.summary, r, 2) end
  end
  if ok then
    ok, err = w:close()
  end
  self.result, self.err = ok, err
  return ok, err
end

--- xlsx_sink.open(path, opts) -> book. opts.columns: the input columns
-- (default: the first record's); opts.result_columns as for every sink.
function _M.open(path, opts)
  if type(path) ~= "string" then error("qxt.sink.xlsx wants a path", 2) end
  opts = opts or {}
  if opts[1] ~= nil then opts = { columns = opts } end
  local dir = path:match("^(.*)/[^/]*$") or "."
  local self = setmetatable({
    w = writer.new(path, dir), path = path, sheets = {}, order = {}, taken = {},
    input_columns = opts.columns and table.move(opts.columns, 1, #opts.columns, 1, {}),
    result_columns = opts.result_columns,
  }, Book)
  self.summary = assert(self.w:sheet(sheet_name("summary", self.taken)))
  return self
end

_M.new = _M.open

return _M
