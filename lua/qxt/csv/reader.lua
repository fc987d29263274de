-- qxt.csv.reader: the streaming CSV reader behind csv.reader and csv.open
-- (the format, the options and the promises are documented in
-- lua/qxt/csv/init.lua and docs/lua-api.md). The chunks come from
-- qxt.csv.decode (safe read, UTF-8 check, GB18030, auto, old Mac line
-- ends); the header's columns from qxt.csv.columns; plain lines are split
-- in C (qxt.csv.core, src/lib/lcsv.c), quoted and malformed records here.

local core = require("qxt.csv.core")
local next_row, split = core.next_row, core.split
local input = require("qxt.input")
local decode = require("qxt.csv.decode")
local columns = require("qxt.csv.columns")

local _M = {}

local byte, find, format, gsub, lower, sub =
  string.byte, string.find, string.format, string.gsub, string.lower, string.sub

_M.CHUNK_SIZE = 64 * 1024
_M.MAX_RECORD_BYTES = 1024 * 1024
local BOM = "\239\187\191"

local ENCODINGS = { ["utf-8"] = "utf-8", utf8 = "utf-8", auto = "auto",
                    gb18030 = "gb18030", gbk = "gb18030", gb2312 = "gb18030" }

-- Chunk sources (reading, decoding, checking bytes): qxt.csv.decode.
local raw_source, utf8_checked, gb18030_source, auto_source, cr_source =
  decode.raw_source, decode.utf8_checked, decode.gb18030_source, decode.auto_source, decode.cr_source

----------------------------------------------------------------------------
-- Record parsing

-- Where the unquoted text from buf[i] ends: the position of the comma or
-- newline after it (len + 1 at the end of the data) and of its last
-- character (a CR before the newline left out); nil when buf ends first and
-- more data may come.
local function field_end(buf, i, len, eof)
  local d = find(buf, "[,\n]", i)
  if not d then
    if not eof then
      return nil
    end
    d = len + 1
  end
  local stop = d - 1
  if byte(buf, d) == 10 and byte(buf, stop) == 13 and stop >= i then
    stop = stop - 1
  end
  return d, stop
end

-- Parses one record that contains a quote, from buf[i]. Returns fields,
-- next_pos, err; nil when buf ends before the record does and more data
-- may come (the caller reads more and parses again from the start); false
-- when the record never ends (unterminated quote at the end of the data).
local function parse_quoted_record(buf, i, eof)
  local fields, n, err = {}, 0, nil
  local len = #buf
  while true do
    local value, c
    if byte(buf, i) == 34 then
      local j = i + 1
      while true do
        local q = find(buf, '"', j, true)
        if not q then
          if eof then
            return false
          end
          return nil
        end
        if q == len and not eof then
          return nil -- a doubled quote or the closing one? the next chunk says
        end
        if byte(buf, q + 1) == 34 then
          j = q + 2
        else
          value = sub(buf, i + 1, q - 1)
          i = q + 1
          break
        end
      end
      if find(value, '""', 1, true) then
        value = gsub(value, '""', '"')
      end
      c = byte(buf, i)
      if c == 13 then
        if i == len and not eof then
          return nil
        end
        if byte(buf, i + 1) == 10 then
          i, c = i + 1, 10
        end
      end
      if c ~= 44 and c ~= 10 and c ~= nil then
        local d, stop = field_end(buf, i, len, eof)
        if not d then
          return nil
        end
        value = value .. sub(buf, i, stop)
        err = err or "has text after a closing quote"
        i, c = d, byte(buf, d)
      end
    else
      local d, stop = field_end(buf, i, len, eof)
      if not d then
        return nil
      end
      c = byte(buf, d)
      value = sub(buf, i, stop)
      i = d
    end
    n = n + 1
    fields[n] = value
    if c == 44 then
      i = i + 1
    else
      return fields, i + 1, err
    end
  end
end

local function count_newlines(s, i, j)
  local n = 0
  while true do
    local p = find(s, "\n", i, true)
    if not p or p > j then
      return n
    end
    n, i = n + 1, p + 1
  end
end

local Reader = {}
Reader.__index = Reader

-- Appends the next chunk to the buffer, keeping positions valid.
function Reader:_more()
  local chunk = self._next()
  if chunk == nil then
    self.eof = true
    return false
  end
  self.buf = self.buf .. chunk
  return true
end

-- Skips the rest of a line too long to buffer; returns it as a malformed
-- record.
function Reader:_skip_long_line()
  local line = self.line + 1
  self.base = self.base + #self.buf
  self.buf, self.pos = "", 1
  while self:_more() do
    local nl = find(self.buf, "\n", 1, true)
    if nl then
      self.pos = nl + 1
      break
    end
    self.base = self.base + #self.buf
    self.buf = ""
  end
  self.line = line
  return nil, {}, line, format("is longer than %d bytes", self.max_record)
end

-- A record whose quote never closes: reported with its first physical line
-- split at commas; reading resumes on the next line.
function Reader:_unterminated(start, line)
  local nl = find(self.buf, "\n", start, true)
  if not nl and not self.eof then
    self.pos = start
    return self:_skip_long_line()
  end
  local stop = (nl or #self.buf + 1) - 1
  if byte(self.buf, stop) == 13 then
    stop = stop - 1
  end
  local fields = split(sub(self.buf, start, stop))
  self.pos = (nl or #self.buf) + 1
  self.line = line
  return nil, fields, line, "has an unterminated quote"
end

function Reader:_quoted()
  local start, line = self.pos, self.line + 1
  while true do
    local fields, next_pos, err = parse_quoted_record(self.buf, start, self.eof)
    if fields then
      local consumed = count_newlines(self.buf, start, next_pos - 1)
      if byte(self.buf, next_pos - 1) ~= 10 then
        consumed = consumed + 1 -- the last line, without a line end
      end
      if err and consumed > 1 then
        -- A malformed record over several lines is most likely a stray quote
        -- that swallowed the lines after it: give those lines back.
        return self:_unterminated(start, line)
      end
      self.line = self.line + consumed
      self.pos = next_pos
      return nil, fields, line, err
    elseif fields == false or #self.buf - start >= self.max_record then
      return self:_unterminated(start, line)
    else
      self:_more() -- at the end, the next parse knows it and settles the record
    end
  end
end

-- The next record, skipping blank lines. Returns text, nil, line for a
-- line without quotes (the fast path: the caller splits it at commas);
-- nil, fields, line, err for a record with quotes or a malformed one;
-- nothing at the end of the data.
function Reader:_next_record()
  while true do
    local buf, pos = self.buf, self.pos
    local nl = find(buf, "\n", pos, true)
    if not nl and self.eof then
      if pos > #buf then
        return nil
      end
      nl = #buf + 1
    end
    if nl then
      local stop = nl - 1
      if byte(buf, stop) == 13 then
        stop = stop - 1
      end
      local text = sub(buf, pos, stop)
      if find(text, '"', 1, true) then
        return self:_quoted()
      end
      self.pos = nl + 1
      self.line = self.line + 1
      if text ~= "" and not find(text, "^[ \t]*$") then
        return text, nil, self.line
      end
    elseif #buf - pos >= self.max_record then
      return self:_skip_long_line()
    else
      if pos > 1 then
        self.base = self.base + pos - 1
        self.buf, self.pos = sub(buf, pos), 1
      end
      self:_more()
    end
  end
end

-- Which field of the record that starts at buf[from] holds buf[at].
local function field_at(buf, from, at)
  local field, quoted, i = 1, false, from
  while true do
    local j = find(buf, '[",\n]', i)
    if not j or j >= at then
      return field
    end
    local c = byte(buf, j)
    if c == 34 then
      quoted = not quoted
    elseif not quoted then
      field = c == 44 and field + 1 or 1 -- a line end: blank lines before the record
    end
    i = j + 1
  end
end

-- For the record just read, from offset `start` to the current position:
-- the reason it is rejected when it holds a byte that is not UTF-8 (the
-- first one's column and offset), else nil; nil too for a malformed
-- record, rejected anyway. Offsets before it (the header, a line too long
-- to keep) are dropped.
function Reader:_not_utf8(start, malformed)
  local bad, head = self.bad, self.bad_head
  local stop = self.base + self.pos - 1
  while bad[head] and bad[head] < start do
    bad[head], head = nil, head + 1
  end
  local first = bad[head]
  if not first or first >= stop then
    self.bad_head = head
    return nil
  end
  while bad[head] and bad[head] < stop do
    bad[head], head = nil, head + 1
  end
  self.bad_head = head
  if malformed then
    return nil -- rejected already, and maybe no longer in the buffer
  end
  local at = first - self.base + 1
  local field = field_at(self.buf, math.max(1, start - self.base + 1), at)
  return format("has a byte that is not UTF-8 in column '%s' (0x%02X at byte offset %d of the file)",
    self.names[field] or ("column_" .. field), byte(self.buf, at), first)
end

--- reader:header() -> array of column names (trimmed, made unique)
function Reader:header()
  return table.move(self.names, 1, #self.names, 1, {})
end

--- reader:mapping() -> { mobile = column, name = column } | nil when
-- opened with columns = false
function Reader:mapping()
  return self.map and { mobile = self.map.mobile, name = self.map.name }
end

--- reader:encoding() -> "utf-8" | "gb18030" | nil (auto, nothing but ASCII
-- seen so far)
function Reader:encoding()
  return self.detected
end

--- reader:encoding_note() -> nil | text for the operator: "auto" found a
-- UTF-8 input with lines that are not UTF-8 (their rows will be rejected).
function Reader:encoding_note()
  return self.note
end

--- reader:rows() -> iterator of row, line, row_number, err
function Reader:rows()
  local names, ncols = self.names, #self.names
  return function()
    -- The common case, a plain line already in the buffer, is read and
    -- split in C (qxt.csv.core); the rest (quotes, more data to read, the
    -- end) is _next_record's, whose plain lines C splits too.
    local start = self.base + self.pos - 1
    local pos, lines, row, n = next_row(self.buf, self.pos, self.eof, names)
    self.pos, self.line = pos, self.line + lines
    local line, err
    if row then
      line = self.line
    else
      local text, fields
      text, fields, line, err = self:_next_record()
      if text then
        row, n = split(text, names)
      elseif fields then
        row, n = {}, #fields
        for i = 1, n do
          row[names[i] or i] = fields[i]
        end
      else
        self:close()
        return nil
      end
    end
    self.rowno = self.rowno + 1
    local rowno = self.rowno
    if err then
      err = format("row %d (line %d) %s", rowno, line, err)
    elseif n ~= ncols then
      err = format("row %d (line %d) has %d field%s, header has %d", rowno, line, n,
        n == 1 and "" or "s", ncols)
    end
    if self.bad[self.bad_head] then -- rare: only after a byte that is not UTF-8
      local why = self:_not_utf8(start, err)
      if why then
        err = format("row %d (line %d) %s", rowno, line, why)
      end
    end
    return row, line, rowno, err
  end
end

--- reader:close(): closes the file opened by csv.open (also at the end of
-- rows(), and by __close / __gc).
function Reader:close()
  if self.file then
    local f = self.file
    self.file = nil
    if io.type(f) == "file" then
      f:close()
    end
  end
end

Reader.__close = Reader.close
Reader.__gc = function(self) pcall(Reader.close, self) end

--- csv.reader(read, opts) -> reader | nil, err
-- read(n) returns the next chunk of at most about n bytes, or nil at the
-- end (file:read has that shape). opts: encoding, columns, chunk_size,
-- max_record_bytes (see the header comment).
function _M.reader(read, opts, file)
  if type(read) ~= "function" then
    error("csv.reader: expected a read function, got " .. type(read), 2)
  end
  opts = opts or {}
  local encoding = ENCODINGS[lower(opts.encoding or "auto")]
  if not encoding then
    error(format("csv.reader: unknown encoding %q (use utf-8, gb18030 or auto)",
      tostring(opts.encoding)), 2)
  end
  local chunk_size = opts.chunk_size or _M.CHUNK_SIZE
  if math.type(chunk_size) ~= "integer" or chunk_size < 1 then
    error("csv.reader: chunk_size must be a positive integer", 2)
  end
  if opts.columns ~= nil and opts.columns ~= false and type(opts.columns) ~= "table" then
    error("csv.reader: columns must be a table { mobile = ..., name = ... } or false", 2)
  end
  -- base: the input's offset of buf[1] (UTF-8 only: GB18030 is converted);
  -- bad: offsets of bytes that are not UTF-8, from bad_head to bad_tail.
  local self = setmetatable({
    buf = "", pos = 1, base = 0, eof = false, line = 0, rowno = 0, file = file,
    max_record = opts.max_record_bytes or _M.MAX_RECORD_BYTES,
    bad = {}, bad_head = 1, bad_tail = 0, check_utf8 = encoding ~= "gb18030", note = opts.encoding_note,
  }, Reader)
  local next_raw = raw_source(read, chunk_size)
  if encoding == "utf-8" then
    self._next, self.detected = utf8_checked(next_raw, self), "utf-8"
  elseif encoding == "gb18030" then
    self._next, self.detected = gb18030_source(next_raw), "gb18030"
  else
    self._next = auto_source(utf8_checked(next_raw, self), function(e, note)
      self.detected, self.note = e, note
      if e == "gb18030" then
        self.check_utf8, self.bad, self.bad_head, self.bad_tail = false, {}, 1, 0
      end
    end, function(why)
      -- Before the header is read, csv.reader returns it; later, it stops reading.
      error(self.names and why or { encoding = why }, 0)
    end, opts.name or "the input")
  end
  self._next = cr_source(self._next)

  local ok, text, fields, line, err = pcall(function()
    while #self.buf < 3 and self:_more() do end
    if sub(self.buf, 1, 3) == BOM then
      self.pos = 4
    end
    return self:_next_record()
  end)
  if not ok then
    if type(text) == "table" and text.encoding then
      self:close()
      return nil, text.encoding
    end
    error(text, 0)
  end
  if not (text or fields) then
    self:close()
    return nil, "no header row (the input is empty)"
  end
  if err then
    self:close()
    return nil, format("the header (line %d) %s", line, err)
  end
  fields = fields or split(text)
  self.names = columns.names(fields)
  if opts.columns ~= false then
    local map, why = columns.map(self.names, opts.columns, fields)
    if not map then
      self:close()
      return nil, why
    end
    self.map = map
  end
  return self
end

--- csv.open(path, opts) -> reader | nil, err
-- A regular file is watched while it is read (qxt.input), and with
-- encoding "auto" its encoding is decided from all of its bytes first.
function _M.open(path, opts)
  if type(path) ~= "string" then
    error("csv.open: expected a path, got " .. type(path), 2)
  end
  opts = opts or {}
  -- A directory is refused here, as a missing file, rather than raise
  -- from the reader (hostile_spec).
  local f, watch = input.open(path)
  if not f then
    return nil, watch
  end
  local read = function(n) return f:read(n) end
  if watch then
    read = watch:reader(read)
    if ENCODINGS[lower(opts.encoding or "auto")] == "auto" then
      local counts, serr = input.scan(f, watch.size)
      local encoding, note = nil, serr and (path .. ": " .. serr)
      if counts then
        encoding, note = input.encoding(counts, path)
      end
      if not encoding then
        f:close()
        return nil, note
      end
      local decided = { encoding = encoding, encoding_note = note }
      opts = setmetatable(decided, { __index = opts })
    end
  end
  local reader, why = _M.reader(read, opts, f)
  if not reader then
    if io.type(f) == "file" then
      f:close()
    end
    return nil, path .. ": " .. why
  end
  return reader
end

return _M
