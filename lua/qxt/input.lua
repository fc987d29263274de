-- qxt.input: what qxt makes sure of about an input file before and while it
-- reads it, so that it never pays for rows it misread.
--
-- Integrity. A file named by path is watched: its identity (device, inode,
-- size, modification time) is taken when it is opened, every byte read is
-- counted, and reading stops with an error when the file turns out to have
-- changed under the run: read past the size it had (it grew), its end came
-- early (truncated), or at the end its size, time or inode differ (it was
-- rewritten, truncated or replaced). The rows read before are kept (they
-- have been verified and written); nothing after is read.
--
--   local file, w = input.open(path)       -- w: nil for a pipe or a device
--   local w = input.watch(path, file)      -- for a file opened otherwise
--   local read = w:reader(function(n) return file:read(n) end)
--
-- Encoding evidence (csv encoding "auto"). input.encoding(counts, what)
-- applies the rule below to the counts of qxt.input.core.scan (one pass of
-- textscan.c over the whole file, before the first row is read). Among the
-- lines with a byte >= 0x80: `bad` are not UTF-8, `valid` are UTF-8 (of
-- which `strong` hold a 3- or 4-byte sequence, as Chinese in UTF-8 does).
--   1. bad = 0: UTF-8 (pure ASCII included).
--   2. valid >= 9 x bad (at most 10% of those lines damaged): UTF-8; each
--      row with a byte that is not UTF-8 is rejected by the reader, with
--      the column and the byte's offset in the file, and never sent.
--   3. the file is valid GB18030 throughout, valid <= bad / 3 (at most 25%
--      of those lines read as UTF-8) and strong <= 5% of them: GB18030.
--   4. anything else: no decision; the run stops before the first query,
--      naming the first line and offset that is not UTF-8 (and not
--      GB18030) and the two ways out: fix the file, or say the encoding.
-- Why these bounds: GBK names form valid UTF-8 by chance, but rarely a
-- whole line (measured on random GB2312 names: 0.5% of lines with a
-- 3-character name, 2-3% with a 2-character one, 14% for a lone
-- 1-character cell; a 3-byte sequence in 0.14% of lines at most). Rule 2
-- needs at least 10 such lines and 90% of them valid: for a GBK file the
-- chance is below 2e-7 even at 14% a line. A UTF-8 file of Chinese names is
-- almost never valid GB18030 (a name of an odd number of characters ends in
-- a lone byte), and rule 3 also needs three quarters of its lines damaged.
--
-- For a stream (stdin, a pipe, a read function) the same rule is applied to
-- what is buffered: the first STREAM_WINDOW bytes holding a byte >= 0x80,
-- cut at their last line end (see qxt.csv).
local core = require("qxt.input.core")

local _M = {}

local format = string.format

_M.STREAM_WINDOW = 1024 * 1024

----------------------------------------------------------------------------
-- Integrity

local Watch = {}
Watch.__index = Watch

-- What differs between the identity at open (self.at_open) and now, in
-- words; nil when nothing does. `read` is the number of bytes read.
function Watch:_changed(read)
  local was = self.at_open
  if read < was.size then
    return format("its end came after %d of its %d bytes: it was truncated while it was read", read, was.size)
  end
  local now = core.identity(self.file)
  if now and now.size ~= was.size then
    return format("its size went from %d to %d bytes while it was read", was.size, now.size)
  end
  if now and now.mtime_ns ~= was.mtime_ns then
    return "it was modified while it was read (same size, another modification time)"
  end
  local named = core.stat(self.path)
  if not named then
    return "it was removed or renamed while it was read"
  end
  if named.dev ~= was.dev or named.ino ~= was.ino then
    return "another file took its name while it was read (it was replaced)"
  end
  return nil
end

-- Raises the error that stops reading.
function Watch:_fail(what)
  error(format("%s changed while it was read: %s. The rows read before were verified and written; "
               .. "nothing after was read. Make sure nothing writes the file, then run again.",
               self.path, what), 0)
end

--- watch:reader(read) -> read function: as `read` (read(n) -> chunk | nil),
-- counting the bytes; raises as soon as they pass the size at open, and at
-- the end when the file changed.
function Watch:reader(read)
  local size, got, done = self.at_open.size, 0, false
  return function(n)
    if done then return nil end
    local chunk, err = read(n)
    if chunk == nil then
      done = true
      if err == nil then
        local what = self:_changed(got)
        if what then self:_fail(what) end
      end
      return nil, err
    end
    got = got + #chunk
    if got > size then
      done = true
      self:_fail(format("it grew past the %d bytes it had when opened", size))
    end
    return chunk
  end
end

--- watch:check(): raises, as a watched read does, when the file changed
-- since it was opened; for readers that do not read it through
-- watch:reader (the .xlsx reader: libzip reads the file itself).
function Watch:check()
  local what = self:_changed(self.at_open.size)
  if what then self:_fail(what) end
end

--- input.watch(path, file) -> watch | nil
-- For a regular file opened from path; nil for anything else (a pipe, a
-- device, /dev/stdin), whose size means nothing. watch.size is the size at
-- open.
function _M.watch(path, file)
  local id = core.identity(file)
  if not id or not id.regular then return nil end
  return setmetatable({ path = path, file = file, at_open = id, size = id.size }, Watch)
end

--- input.open(path) -> file, watch | nil, "PATH: why"
-- path opened for reading (binary) and watched (input.watch: nil for a
-- pipe or a device). A directory opens but cannot be read: it is refused
-- here, as a missing file is, rather than fail at the first read.
function _M.open(path)
  local file, err = io.open(path, "rb")
  if not file then return nil, err end
  local probe, perr = file:read(0)
  if probe == nil and perr then
    file:close()
    return nil, path .. ": " .. perr
  end
  return file, _M.watch(path, file)
end

----------------------------------------------------------------------------
-- Encoding evidence

local WAYS_OUT = "Fix the file (save it as UTF-8), or say which encoding it is: --encoding utf-8 "
  .. "(rows with bytes that are not UTF-8 are rejected) or --encoding gb18030 (bytes that are not "
  .. "GB18030 become U+FFFD); in a flow, encoding = \"utf-8\" or \"gb18030\"."

local function where(line, offset)
  return format("line %d (byte offset %d)", line, offset)
end

--- input.scan(file, size) -> counts | nil, err: textscan's counts of the
-- file's first size bytes (see qxt.input.core).
_M.scan = core.scan

--- input.scan_string(s) -> counts
_M.scan_string = core.scan_string

--- input.encoding(counts, what) -> "utf-8" | "gb18030", note | nil, message
-- The rule in the header comment. `what` names the input in messages. The
-- note, when not nil, says that a UTF-8 file has damaged lines (for the
-- operator: their rows will be rejected).
function _M.encoding(c, what)
  local bad, valid = c.utf8_bad, c.utf8_strong + c.utf8_weak
  local lines = bad + valid
  if bad == 0 then
    return "utf-8"
  end
  local first_bad = where(c.utf8_first_line, c.utf8_first)
  if valid >= 9 * bad then
    return "utf-8", format("%s is read as UTF-8 (%d of its %d lines with non-ASCII bytes are UTF-8); "
      .. "%d line%s not: the rows there are rejected, the first at %s", what, valid, lines, bad,
      bad == 1 and " is" or "s are", first_bad)
  end
  if c.gb_bad == 0 and valid * 3 <= bad and c.utf8_strong * 20 <= lines then
    return "gb18030"
  end
  if c.gb_bad > 0 then
    return nil, format("%s is neither UTF-8 nor GB18030: %s is not UTF-8 (nor are %d of its %d lines "
      .. "with non-ASCII bytes), and %s is not GB18030. %s", what, first_bad, bad, lines,
      where(c.gb_first_line, c.gb_first), WAYS_OUT)
  end
  return nil, format("cannot tell whether %s is UTF-8 or GB18030: of its %d lines with non-ASCII bytes, "
    .. "%d read as UTF-8 and %d do not (the first: %s). %s", what, lines, valid, bad, first_bad, WAYS_OUT)
end

return _M
