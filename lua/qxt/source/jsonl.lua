-- qxt.source.jsonl: records from JSON lines, one object per line.
--
--   local src = assert(require("qxt.source.jsonl").open("people.jsonl"))
--   for rec in src:records() do ... end
--
-- Records have the shape of every source (see qxt.source.csv). The mobile
-- and name keys are found as CSV columns are (csv.MOBILE_COLUMNS,
-- csv.NAME_COLUMNS, or opts.columns) on the first object, which also gives
-- src:columns() in the order its keys are written. A line that is not a JSON
-- object becomes a record with `error` ("line 7: invalid JSON: ..."), so it
-- reaches the invalid output instead of vanishing. In `fields`, JSON null
-- becomes nil and nested arrays and objects their JSON text, so every field
-- fits a CSV cell. Blank lines are skipped. A file opened by path is
-- watched: changed while it is read, it stops the reading (qxt.input).

local cjson = require("cjson")
local csv = require("qxt.csv")
local input_watch = require("qxt.input").watch

local _M = {}

local byte, find, format, sub = string.byte, string.find, string.format, string.sub

local CHUNK_SIZE = 64 * 1024
local PEEK_LINES = 1000 -- lines looked at for the first object

_M.MAX_LINE_BYTES = 1024 * 1024

-- Splits a chunked stream into lines. Returns line, err: err when a line
-- was longer than max (its text is dropped, reading goes on after it).
local function line_reader(read, max)
  local buf, pos, done = "", 1, false
  local function more()
    local chunk, err = read(CHUNK_SIZE)
    if chunk == nil then
      if err then
        error("jsonl: read error: " .. tostring(err), 0)
      end
      done = true
      return
    end
    buf, pos = sub(buf, pos) .. chunk, 1
  end
  return function()
    while true do
      local nl = find(buf, "\n", pos, true)
      if nl then
        local line = sub(buf, pos, nl - 1)
        pos = nl + 1
        return line
      end
      if done then
        if pos <= #buf then
          local line = sub(buf, pos)
          pos = #buf + 1
          return line
        end
        return nil
      end
      if #buf - pos >= max then
        repeat
          buf, pos = "", 1
          more()
          nl = find(buf, "\n", 1, true)
        until nl or done
        pos = nl and nl + 1 or #buf + 1
        return "", format("longer than %d bytes", max)
      end
      more()
    end
  end
end

-- The top-level keys of a JSON object text, in the order written.
local function key_order(text)
  local keys, seen, depth, i = {}, {}, 0, 1
  while true do
    local p = find(text, '[{}%[%]"]', i)
    if not p then
      return keys
    end
    local c = byte(text, p)
    if c == 34 then
      local q = p + 1
      while true do
        q = find(text, '["\\]', q)
        if not q then
          return keys
        end
        if byte(text, q) == 92 then
          q = q + 2
        else
          break
        end
      end
      if depth == 1 and find(text, "^%s*:", q + 1) then
        local ok, key = pcall(cjson.decode, sub(text, p, q))
        if ok and type(key) == "string" and not seen[key] then
          seen[key] = true
          keys[#keys + 1] = key
        end
      end
      i = q + 1
    else
      depth = depth + ((c == 123 or c == 91) and 1 or -1)
      i = p + 1
    end
  end
end

-- Decodes one line: fields, or nil and why.
local function decode(text)
  if not find(text, "^%s*{") then
    return nil, "not a JSON object"
  end
  local ok, obj = pcall(cjson.decode, text)
  if not ok then
    return nil, "invalid JSON: " .. tostring(obj):gsub("^.-:%d+: ", "")
  end
  if type(obj) ~= "table" then
    return nil, "not a JSON object"
  end
  for k, v in pairs(obj) do
    if v == cjson.null then
      obj[k] = nil
    elseif type(v) == "table" then
      obj[k] = cjson.encode(v)
    end
  end
  return obj
end

local Source = {}
Source.__index = Source

-- The next non-blank line: text, line number, err.
function Source:_line()
  while true do
    local text, err = self.next_line()
    if text == nil then
      return nil
    end
    self.line = self.line + 1
    if self.line == 1 and sub(text, 1, 3) == "\239\187\191" then
      text = sub(text, 4)
    end
    if byte(text, -1) == 13 then
      text = sub(text, 1, -2)
    end
    if err or find(text, "%S") then
      return text, self.line, err
    end
  end
end

function Source:_record(text, line, err)
  self.seq = self.seq + 1
  local fields
  if not err then
    fields, err = decode(text)
  end
  local map = self.map or {}
  if err then
    return { seq = self.seq, line = line, fields = {}, error = format("line %d: %s", line, err) }
  end
  return { seq = self.seq, line = line, fields = fields, mobile = fields[map.mobile],
           name = fields[map.name] }
end

--- source:records() -> iterator of records. A stream: iterate it once.
function Source:records()
  if self.started then
    error("source:records(): this source has already been read (a stream is read once)", 2)
  end
  self.started = true
  local peeked, i = self.peeked, 0
  return function()
    i = i + 1
    local p = peeked[i]
    if p then
      peeked[i] = nil
      return self:_record(p[1], p[2], p[3])
    end
    local text, line, err = self:_line()
    if text == nil then
      self:close()
      return nil
    end
    return self:_record(text, line, err)
  end
end

--- source:columns() -> keys of the first object, as written.
function Source:columns()
  return table.move(self.keys, 1, #self.keys, 1, {})
end

--- source:total() -> nil: unknown without reading the whole input.
function Source.total()
  return nil
end

function Source:close()
  if self.file then
    self.file:close()
    self.file = nil
  end
end

--- jsonl_source.open(input, opts) -> source | nil, err
-- input: a path, an open file, or a read function read(n) -> chunk | nil.
-- opts.columns: { mobile = key, name = key } when the keys are not among
-- the known names. Fails (nil, err) when the file cannot be opened or the
-- first object has no mobile or no name key.
function _M.open(input, opts)
  opts = opts or {}
  local read, file
  if type(input) == "string" then
    local err
    file, err = io.open(input, "rb")
    if not file then
      return nil, err
    end
    read = function(n) return file:read(n) end
    -- A file changing under the run stops it (qxt.input), as for a CSV.
    local watch = input_watch(input, file)
    if watch then read = watch:reader(read) end
  elseif io.type(input) == "file" then
    read = function(n) return input:read(n) end
  elseif type(input) == "function" then
    read = input
  else
    error("source.jsonl: expected a path, a file or a read function, got " .. type(input), 2)
  end
  local self = setmetatable({ next_line = line_reader(read, opts.max_line_bytes or _M.MAX_LINE_BYTES),
                              file = file, line = 0, seq = 0, peeked = {}, keys = {} }, Source)
  -- Look ahead for the first object: it names the columns.
  for _ = 1, PEEK_LINES do
    local text, line, err = self:_line()
    if text == nil then
      break
    end
    self.peeked[#self.peeked + 1] = { text, line, err }
    if not err and decode(text) then
      self.keys = key_order(text)
      local map, why = csv.map_columns(self.keys, opts.columns)
      if not map then
        self:close()
        return nil, format("%s: line %d: %s", type(input) == "string" and input or "jsonl", line, why)
      end
      self.map = map
      break
    end
  end
  return self
end

_M.new = _M.open

return _M
