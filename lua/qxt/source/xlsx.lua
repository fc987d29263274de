-- qxt.source.xlsx: records from one sheet of an Excel workbook (.xlsx),
-- read by src/lib/xlsxread.c (libzip and expat) and shaped here exactly as
-- a CSV source's records, so the rest of the pipeline cannot tell them
-- apart: the same header rules and column mapping (qxt.csv.columns), the
-- same record fields, the same cleaning afterwards.
--
--   local src = assert(qxt.source.xlsx("applicants.xlsx", { sheet = "三月" }))
--   src:sheet()     --> the sheet read ("三月"; default: the first sheet not hidden)
--
-- Rows: the header is the first row with a value; empty rows are skipped;
-- record.line is the row number Excel shows, record.seq the data row's
-- number (1 for the first row under the header), as a CSV saved from the
-- sheet would give. Sparse rows (cells skipped, as C7 after A7) fill the
-- missing cells with "".
--
-- What Excel does to data, undone or refused, never guessed:
-- - A mobile stored as a number (13972565391, or 1.3972565391E10 in the
--   file) becomes its 11 digits again, when every digit is written in the
--   file. A number whose digits are not all there (1.39E+10: eight zeros
--   that stand for lost digits), that is not whole, or is negative, is an
--   error of the row naming the column and the cell: the row is rejected,
--   never sent. (Nothing is paid on a guess; the way out is to store the
--   column as text.)
-- - Other numbers read as Excel shows them: 15 significant digits.
-- - A number in a date or time format becomes "2026-03-01" (or
--   "2026-03-01 08:30:00", or "08:30:00"), in the workbook's date system.
-- - Booleans read TRUE / FALSE; an error cell (#N/A) reads as its text, and
--   in the mobile or name column is an error of the row.
-- - A formula reads as its last computed value (Excel stores it); never as
--   the formula.
-- - Text escapes of the file format (_x000D_) are decoded.
-- - Merged cells in the header row are an error naming them (a merged
--   header hides column names). Elsewhere Excel keeps a merged range's value
--   in its first cell only: a row whose mobile or name cell is another cell
--   of a merged range is an error of the row naming the range (never the
--   value of the row above, which would be a guess); other columns read as
--   stored (empty).
-- - Hidden rows (a filter, or hidden by hand) are read like the others;
--   source:note() says how many there are, for the operator.
--
-- Safety: the whole sheet is checked when the source opens (a damaged or
-- oversized file, a zip bomb, bad XML is an error then, before the first
-- record); memory stays bounded for any number of rows (shared strings
-- excepted, capped at 256 MiB). The file is watched as a CSV is (qxt.input):
-- changed while it is read, it stops the reading.
local columns = require("qxt.csv.columns")
local core = require("qxt.xlsx.core")
local input = require("qxt.input")

local _M = {}

local find, format, gsub, match, rep = string.find, string.format, string.gsub, string.match, string.rep

-- "_x000D_" and friends: how the file format stores characters XML cannot.
local function unescape(s)
  if not find(s, "_x", 1, true) then return s end
  return (gsub(s, "_x(%x%x%x%x)_", function(hex) return utf8.char(tonumber(hex, 16)) end))
end

--- xlsx.mobile_digits(text) -> digits | nil, why: a number as written in
-- the file, as the mobile it stands for. Every digit must be written: in
-- "1.3972565391E10" all eleven are; in "1.39E+10" eight are not (a
-- spreadsheet rounded the number), and a guess is refused.
function _M.mobile_digits(v)
  local int, frac, exp = match(v, "^%s*%+?(%d+)%.?(%d*)[eE]?([+-]?%d*)%s*$")
  if not int then
    if find(v, "^%s*%-") then return nil, "is negative" end
    return nil, "is not a number"
  end
  local e = tonumber(exp ~= "" and exp or "0")
  if not e or e > 30 or e < -30 then return nil, "is not a whole number" end
  local digits, point = int .. frac, #int + e       -- the decimal point after digits[point]
  if point < #digits then
    if find(digits:sub(point + 1), "[^0]") then return nil, "is not a whole number" end
    digits = digits:sub(1, point)
  elseif point > #digits then
    if exp ~= "" then return nil, "has digits that are not in the file (a spreadsheet rounded it)" end
    digits = digits .. rep("0", point - #digits)
  end
  digits = gsub(digits, "^0+(%d)", "%1")
  return digits
end

-- The serial day count of a date cell as text, in the workbook's system.
local function date_text(v, date1904)
  local serial = tonumber(v)
  if not serial or serial < 0 or serial > 2958465 then return v end  -- past 9999-12-31: as written
  local days = math.floor(serial)
  local seconds = math.floor((serial - days) * 86400 + 0.5)
  if seconds >= 86400 then days, seconds = days + 1, seconds - 86400 end
  local time = format("%02d:%02d:%02d", seconds // 3600, seconds // 60 % 60, seconds % 60)
  if days == 0 and not date1904 then return time end
  local day
  if date1904 then
    day = os.date("!%Y-%m-%d", (days - 24107) * 86400)
  elseif days == 60 then
    day = "1900-02-29"                                    -- Excel's, kept as Excel shows it
  else
    day = os.date("!%Y-%m-%d", (days - (days < 60 and 25568 or 25569)) * 86400)
  end
  return seconds == 0 and day or day .. " " .. time
end

-- A cell as text, as Excel shows it.
local function cell_text(v, kind, date1904)
  if kind == nil then return unescape(v) end
  if kind == "n" then
    local n = tonumber(v)
    return n and format("%.15g", n) or v
  end
  if kind == "d" then return date_text(v, date1904) end
  return v                                                -- "TRUE", "FALSE", "#N/A"
end

--- xlsx.cell_text(v, kind, date1904) -> a cell's text as Excel shows it
-- (kind as qxt.xlsx.core gives it: nil for text, "n", "d", "b", "e").
_M.cell_text = cell_text

local Source = {}
Source.__index = Source

-- The merged ranges (book:merges()) over the mobile or name column below
-- the header, as intervals of rows whose cell is not the range's first,
-- sorted by row.
local function merged_cells(merges, header, col_of)
  local list = {}
  for _, m in ipairs(merges) do
    for _, field in ipairs({ "mobile", "name" }) do
      local col = col_of[field]
      if m[2] <= col and col <= m[4] then
        local from = col == m[2] and m[1] + 1 or m[1]
        if from <= header then from = header + 1 end
        if from <= m[3] then list[#list + 1] = { from = from, to = m[3], field = field, col = col, ref = m.ref } end
      end
    end
  end
  table.sort(list, function(a, b) return a.from < b.from end)
  return list
end

-- Why this row's mobile or name is not its own (a merged range), or nil.
-- Rows come in increasing order: the ranges are swept once.
function Source:_merged(line, rowno)
  local list, active = self.merges, self.active
  while list[self.next_merge] and list[self.next_merge].from <= line do
    active[#active + 1] = list[self.next_merge]
    self.next_merge = self.next_merge + 1
  end
  for i = #active, 1, -1 do
    local m = active[i]
    if m.to < line then
      table.remove(active, i)
    else
      return format("row %d (sheet row %d): the %s cell %s is part of the merged cells %s, whose value "
                    .. "only the first cell holds; unmerge them and fill in every row", rowno, line, m.field,
                    core.cell_name(line, m.col), m.ref)
    end
  end
end

-- The error of a row for its mobile or name cell, or nil; the mobile's
-- digits when it was a number.
function Source:_check(cells, kinds, field, rowno, line)
  local col = self.col_of[field]
  local kind = kinds and kinds[col]
  if not kind then return nil end
  local where = format("row %d (sheet row %d): the %s in column '%s' (cell %s)", rowno, line, field,
                       self.map[field], core.cell_name(line, col))
  if kind == "e" then
    return format("%s holds the spreadsheet error %s", where, cells[col])
  end
  if field == "mobile" and (kind == "n" or kind == "d") then
    local digits, why = _M.mobile_digits(cells[col])
    if not digits then
      return format("%s is the number %s, which %s; store the column as text and type the "
                    .. "mobiles again", where, cells[col], why)
    end
    return nil, digits
  end
end

--- source:records() -> iterator of records. A stream: iterate it once.
function Source:records()
  if self.started then
    error("source:records(): this source has already been read (a stream is read once)", 2)
  end
  self.started = true
  local book, names, ncols, seq = self.book, self.names, #self.names, 0
  local map, date1904 = self.map, self.date1904
  return function()
    if not self.book then return nil end
    local line, cells, kinds, last = book:next()
    if line == false then
      -- A file changed under the run reads as damaged to libzip: say what happened.
      if self.watch then self.watch:check() end
      error(format("%s: %s", self.path, cells), 0)
    end
    if line == nil then
      if self.watch then self.watch:check() end
      self:close()
      return nil
    end
    seq = seq + 1
    local fields, err = {}, nil
    for i = 1, ncols do
      local v = cells[i]
      fields[names[i]] = v and cell_text(v, kinds and kinds[i], date1904) or ""
    end
    if last > ncols then
      err = format("row %d (sheet row %d) has a value in cell %s, right of the header's %d columns",
                   seq, line, core.cell_name(line, last), ncols)
    end
    if self.merges[1] and not err then err = self:_merged(line, seq) end
    if kinds then
      local merr, digits = self:_check(cells, kinds, "mobile", seq, line)
      local nerr = self:_check(cells, kinds, "name", seq, line)
      if digits then fields[map.mobile] = digits end
      if merr then fields[map.mobile] = cells[self.col_of.mobile] end   -- as the file has it
      err = err or merr or nerr
    end
    return { seq = seq, line = line, fields = fields, mobile = fields[map.mobile],
             name = fields[map.name], error = err }
  end
end

--- source:columns() -> the header's column names, in order.
function Source:columns()
  return table.move(self.names, 1, #self.names, 1, {})
end

--- source:mapping() -> { mobile = column, name = column }
function Source:mapping()
  return { mobile = self.map.mobile, name = self.map.name }
end

--- source:total() -> the number of data rows, true (exact: counted when
-- the sheet was checked).
function Source:total()
  return self.count, true
end

--- source:sheet() -> the name of the sheet read.
function Source:sheet()
  return self.sheet_name
end

--- source:note() -> nil | text for the operator: the sheet has hidden
-- rows, which are read and verified like the others.
function Source:note()
  return self.hidden_note
end

--- source:encoding() -> "utf-8": an .xlsx holds UTF-8 XML.
function Source.encoding() return "utf-8" end
function Source.encoding_note() return nil end

function Source:close()
  if self.book then self.book:close(); self.book = nil end
  if self.file then self.file:close(); self.file = nil end
end

-- The merged ranges (book:merges()) that cover the header row, as "A1:B1".
local function header_merges(merges, header)
  local refs = {}
  for _, m in ipairs(merges) do
    if m[1] <= header and header <= m[3] and (m[1] ~= m[3] or m[2] ~= m[4]) then
      refs[#refs + 1] = m.ref
    end
  end
  return refs
end

--- xlsx_source.open(path, opts) -> source | nil, "PATH: why"
-- opts.sheet: the sheet's name (default: the first sheet not hidden);
-- opts.columns: { mobile = ..., name = ... } as for a CSV; opts.limits:
-- caps for tests (see src/lib/lxlsx_read.c).
function _M.open(path, opts)
  if type(path) ~= "string" then
    error("source.xlsx: expected a path, got " .. type(path), 2)
  end
  opts = opts or {}
  if opts.sheet ~= nil and type(opts.sheet) ~= "string" then
    error("source.xlsx: sheet must be a sheet's name", 2)
  end
  local file, watch = input.open(path)
  if not file then return nil, watch end
  local book, err = core.open(path, opts.sheet, opts.limits)
  if not book then
    file:close()
    return nil, format("%s: %s", path, err)
  end
  local self = setmetatable({ book = book, file = file, watch = watch, path = path,
                              sheet_name = book:sheet(), date1904 = book:date1904() }, Source)
  local where = format("sheet '%s'", self.sheet_name)
  local header = book:header_row()
  if header == 0 then
    self:close()
    return nil, format("%s: %s: no header row (the sheet is empty)", path, where)
  end
  local merges = book:merges()          -- up to 100,000 ranges: built once
  local merged = header_merges(merges, header)
  if #merged > 0 then
    self:close()
    return nil, format("%s: %s: the header (row %d) has merged cells %s: a merged header hides "
      .. "column names; unmerge them (Excel: Home > Merge & Center) so that each column has its "
      .. "own name", path, where, header, table.concat(merged, ", "))
  end
  if watch then
    local ok, werr = pcall(watch.check, watch)     -- changed while it was checked
    if not ok then
      self:close()
      return nil, tostring(werr)
    end
  end
  local line, cells, kinds, last = book:next()
  if not line then
    self:close()
    return nil, format("%s: %s", path, cells or "the sheet changed while it was read")
  end
  local raw = {}
  for i = 1, last do
    raw[i] = cells[i] and cell_text(cells[i], kinds and kinds[i], self.date1904) or ""
  end
  self.names = columns.names(raw)
  local map, why = columns.map(self.names, opts.columns, raw)
  if not map then
    self:close()
    return nil, format("%s: %s: %s", path, where, why)
  end
  self.map, self.col_of = map, {}
  for i, name in ipairs(self.names) do
    if name == map.mobile then self.col_of.mobile = i end
    if name == map.name then self.col_of.name = i end
  end
  self.count = book:count() - 1
  self.merges, self.active, self.next_merge = merged_cells(merges, header, self.col_of), {}, 1
  local hidden, first = book:hidden()
  if hidden > 0 then
    self.hidden_note = format("%s: %s has %d hidden row%s (the first: row %d), from a filter or hidden by "
      .. "hand: they are read and verified like the others; delete the rows you do not want verified",
      path, where, hidden, hidden == 1 and "" or "s", first)
  end
  return self
end

_M.new = _M.open

return _M
