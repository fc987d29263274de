-- qxt.csv.decode: the chunk sources under qxt.csv's reader, each a function
-- returning the next non-empty piece of text, or nil at the end: the
-- user's read function made safe, the UTF-8 check that notes where the bad
-- bytes are, GB18030 -> UTF-8, the "auto" decision on a stream, and old Mac
-- line ends. The rule that decides an encoding lives in qxt.input.
local input = require("qxt.input")
local utf8_errors = require("qxt.input.core").utf8_errors

local _M = {}

local BOM = "\239\187\191"
local concat, find, gsub, match, sub = table.concat, string.find, string.gsub, string.match, string.sub

-- Wraps a user read function: skips empty strings, turns read errors into
-- raised errors (the stream cannot go on), and never calls it after the end.
function _M.raw_source(read, size)
  local done = false
  return function()
    while not done do
      local chunk, err = read(size)
      if chunk == nil then
        done = true
        if err then
          error("csv: read error: " .. tostring(err), 0)
        end
      elseif type(chunk) ~= "string" then
        error("csv: the read function returned a " .. type(chunk) .. ", expected a string", 0)
      elseif chunk ~= "" then
        return chunk
      end
    end
    return nil
  end
end

-- Notes where the bytes that are not UTF-8 are, as the chunks go by: their
-- offsets in the input (0-based) go to self.bad[bad_head..bad_tail], in
-- order, for rows() to reject the rows holding them; the chunks pass
-- unchanged. Stops noting once self.check_utf8 is false (GB18030 input).
function _M.utf8_checked(next_raw, self)
  local offset, carry = 0, "" -- bytes passed on so far; an unfinished character
  local function note(at)
    local n = self.bad_tail + 1
    self.bad[n], self.bad_tail = at, n
  end
  return function()
    local chunk = next_raw()
    if not self.check_utf8 then
      return chunk
    end
    if chunk == nil then
      if carry ~= "" then
        note(offset - #carry)
        carry = ""
      end
      return nil
    end
    if carry == "" and utf8.len(chunk) then -- the common case, counted in C
      offset = offset + #chunk
      return chunk
    end
    local data = carry .. chunk
    local positions, pending = utf8_errors(data, false)
    local base = offset - #carry - 1
    for i = 1, #positions do
      note(base + positions[i])
    end
    carry = pending > 0 and sub(data, -pending) or ""
    offset = offset + #chunk
    return chunk
  end
end

local function load_iconv()
  local ok, iconv = pcall(require, "qxt.iconv")
  if not ok then
    error("csv: GB18030 input needs the qxt.iconv module (built into qxtv): " .. tostring(iconv), 0)
  end
  return iconv
end

-- GB18030 -> UTF-8, chunk by chunk. A character cut by the chunk boundary
-- waits for the next chunk; an undecodable byte becomes U+FFFD.
function _M.gb18030_source(next_raw)
  local conv = assert(load_iconv().new("UTF-8", "GB18030"))
  local pending = ""
  return function()
    while true do
      local raw = next_raw()
      if raw == nil then
        if pending ~= "" then
          pending = ""
          return "\u{FFFD}"
        end
        return nil
      end
      local data = pending .. raw
      local out = {}
      while true do
        local text, left, bad = conv:convert(data)
        if text then
          out[#out + 1] = text
          pending = left > 0 and sub(data, -left) or ""
          break
        end
        out[#out + 1] = (conv:convert(sub(data, 1, bad - 1)))
        out[#out + 1] = "\u{FFFD}"
        data = sub(data, bad + 1)
      end
      local text = concat(out)
      if text ~= "" then
        return text
      end
    end
  end
end

-- Decides between UTF-8 and GB18030 on the first window of STREAM_WINDOW
-- bytes holding a non-ASCII byte (qxt.input's rule, on what is buffered);
-- pure ASCII passes through undecided. on_decide(encoding, note) hears the
-- decision, on_fail(message) that there is none (and raises).
function _M.auto_source(next_raw, on_decide, on_fail, name)
  local decided
  return function()
    if decided then
      return decided()
    end
    local parts, n = {}, 0
    while n < input.STREAM_WINDOW do
      local raw = next_raw()
      if not raw then
        break
      end
      parts[#parts + 1] = raw
      n = n + #raw
    end
    local window = concat(parts)
    if window == "" then
      return nil
    end
    -- Pure ASCII: utf8.len counts in C; a pattern class here cost 20 ns a
    -- byte, 25 s for a 1 GB file without a non-ASCII byte (hostile_spec).
    if utf8.len(window) == #window then
      return window
    end
    local encoding, note = "utf-8", nil
    if sub(window, 1, 3) ~= BOM then
      -- Whole lines only: the window may end inside a character.
      local last = n >= input.STREAM_WINDOW and match(window, ".*()\n") or #window
      encoding, note = input.encoding(input.scan_string(sub(window, 1, last)), name)
      if not encoding then
        on_fail(note)
      end
    end
    on_decide(encoding, note)
    if encoding == "utf-8" then
      decided = next_raw
      return window
    end
    local first = window
    decided = _M.gb18030_source(function()
      local w = first
      if w then
        first = nil
        return w
      end
      return next_raw()
    end)
    return decided()
  end
end

-- Old Mac line ends: a file whose lines end in CR alone ("CSV (Macintosh)"
-- from Excel for Mac) gets them turned into LF. Decided on the first chunk
-- with a CR that is not the last byte, so a CRLF cut between chunks does
-- not count; a file with any LF before that is left alone.
function _M.cr_source(next_chunk)
  local convert
  return function()
    local chunk = next_chunk()
    if chunk and convert == nil then
      if find(chunk, "\n", 1, true) then
        convert = false
      elseif find(chunk, "\r", 1, true) and find(chunk, "\r[^\n]") then -- plain find first: fast
        convert = true
      end
    end
    if chunk and convert then
      chunk = gsub(chunk, "\r", "\n")
    end
    return chunk
  end
end

return _M
