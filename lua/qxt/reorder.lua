--- qxt.reorder: the rows of a run handed to their sinks in input order, in
-- bounded memory, whatever order the answers come back in.
--
--   local stage = reorder.new{ write = function(record, view, name) ... end,
--                              window = 10000, dir = "out", pause = qxt.sleep }
--   stage:put(n, record, view, name)   -- n: the record's position, 1, 2, 3, ...
--   local ok, err = stage:close()      -- the rest, in order; the spill file closed
--
-- Contract. put() is called exactly once for each n from 1 up (any order);
-- write() is called with the rows in increasing n, each once, as soon as
-- every row before it has been written. Rows that cannot be written yet wait
-- here: the first `window` in memory, the rest in a spill file. close()
-- writes what is left in order; a row that never came (a run stopped by an
-- error) leaves a gap that is skipped, so nothing waiting is lost. A write()
-- that raises stops the stage: put() raises it, later put()s drop their rows
-- (the run has failed and said so once) and close() writes nothing more.
-- put() may be called while write() is running (a callback that yields),
-- or while the stage pauses: the row is held and written by the loop
-- already running, in its turn. With `pause`, a long catch-up (the rows
-- behind a late one, thousands at once) calls pause(0) every PAUSE_EVERY
-- rows, so that the event loop goes on serving answers meanwhile.
--
-- Why a window that spills, and not "write in arrival order to a temporary
-- file and sort it at the end" (measured in docs/performance.md, "Input
-- order"): answers come back nearly in order. Workers take records in
-- order, so a row is rarely more than `concurrency` places late; in the
-- common case every row passes through memory for a few milliseconds and
-- nothing touches the disk, and the outputs grow while the run goes on (a
-- pipe reading stdout, a person watching consistent.csv). Only a row held
-- back for long (retries with back-off, a long timeout) makes the rows after
-- it pile up: once `window` rows wait, they are sorted and appended to the
-- spill file as one sorted run; when the late row comes, the runs are
-- merged back by position, each read through a buffer of CHUNK bytes. The
-- memory is then `window` rows plus CHUNK per run still being read, however
-- many rows wait; sorting everything at the end would write and read every
-- row once more, and show no output before the last answer.
--
-- The spill file holds the rows as the outputs will (the input's columns,
-- mobiles and names included), and nothing more: the provider's raw body
-- (`raw`) is left out. It is created mode 0600 (qxt.file.open_private) in
-- `dir` (the output directory in verify_csv.lua, else $TMPDIR or /tmp) and
-- unlinked at once, so it has no name while it is used and vanishes with the
-- process, however the process ends (SIGKILL included). Space is reused
-- once every run in it has been read back.
local _M = {}

_M.WINDOW = 10000          -- rows waiting in memory before they spill
local CHUNK = 16 * 1024    -- bytes read at a time from a run being merged
local PAUSE_EVERY = 256    -- rows written in one go before the loop gets a turn

local pack, unpack, concat, sort = string.pack, string.unpack, table.concat, table.sort
local mtype = math.type

------------------------------------------------------------------------
-- A row on disk: its values, tagged by type (strings, integers, floats,
-- booleans and tables of them), so that a row read back is the same to a
-- sink as the row put (3 stays 3, not 3.0, as JSON would make it).

local T_STR, T_INT, T_NUM, T_TRUE, T_FALSE, T_TABLE = 1, 2, 3, 4, 5, 6
local MAX_DEPTH = 16

-- Appends v's bytes to out (out.n pieces so far). An entry with a string
-- key, the common case, is one pack (two for a table value).
local PAIR = { string = "<Bs4Bs4", integer = "<Bs4Bj", float = "<Bs4Bn" }
local TAG = { string = T_STR, integer = T_INT, float = T_NUM }

local encode

local function encode_table(out, v, depth)
  local n, count = out.n + 1, 0
  out[n] = ""
  out.n = n
  for k, x in next, v do
    if type(k) == "string" then
      local m = out.n + 1
      local tx = type(x)
      if tx == "number" then tx = mtype(x) end
      local fmt = PAIR[tx]
      if fmt then
        out[m] = pack(fmt, T_STR, k, TAG[tx], x)
        out.n = m
      elseif tx == "boolean" then
        out[m] = pack("<Bs4B", T_STR, k, x and T_TRUE or T_FALSE)
        out.n = m
      else
        out[m] = pack("<Bs4", T_STR, k)
        out.n = m
        encode(out, x, depth + 1)
      end
    else
      encode(out, k, depth + 1)
      encode(out, x, depth + 1)
    end
    count = count + 1
  end
  out[n] = pack("<BI4", T_TABLE, count)
end

function encode(out, v, depth)
  local t = type(v)
  if t == "table" and depth < MAX_DEPTH then return encode_table(out, v, depth) end
  local n = out.n + 1
  if t == "string" then
    out[n] = pack("<Bs4", T_STR, v)
  elseif t == "number" then
    if mtype(v) == "integer" then out[n] = pack("<Bj", T_INT, v)
    else out[n] = pack("<Bn", T_NUM, v) end
  elseif t == "boolean" then
    out[n] = pack("B", v and T_TRUE or T_FALSE)
  else
    error(("qxt.reorder: a row holding a %s cannot wait on disk (order = \"arrival\" writes it "
           .. "as it comes)"):format(t == "table" and "table nested too deep" or t), 0)
  end
  out.n = n
end

local byte = string.byte

-- The value at s[pos] (its tag first); returns it and the position after.
local function decode(s, pos)
  local tag = byte(s, pos)
  pos = pos + 1
  if tag == T_STR then return unpack("<s4", s, pos) end
  if tag == T_INT then return unpack("<j", s, pos) end
  if tag == T_NUM then return unpack("<n", s, pos) end
  if tag == T_TRUE then return true, pos end
  if tag == T_FALSE then return false, pos end
  local n
  n, pos = unpack("<I4", s, pos)
  local t = {}
  for _ = 1, n do
    local k, v
    if byte(s, pos) == T_STR then
      local vtag
      k, vtag, pos = unpack("<s4B", s, pos + 1)
      if vtag == T_STR then v, pos = unpack("<s4", s, pos)
      elseif vtag == T_INT then v, pos = unpack("<j", s, pos)
      else v, pos = decode(s, pos - 1) end
    else
      k, pos = decode(s, pos)
      v, pos = decode(s, pos)
    end
    t[k] = v
  end
  return t, pos
end

-- What a sink sees of a view (the answer behind an __index, the row's own
-- fields in front), as one plain table; the raw body stays in memory only.
local function flat(view)
  local chain, t = {}, {}
  local v = view
  while type(v) == "table" and #chain < MAX_DEPTH do
    chain[#chain + 1] = v
    local mt = getmetatable(v)
    v = mt and mt.__index
  end
  for i = #chain, 1, -1 do
    for k, x in next, chain[i] do t[k] = x end
  end
  t.raw = nil
  return t
end

-- One framed row: length, then position, sink name, record, view.
local function frame(n, record, view, name)
  local out = { pack("<j", n), n = 1 }
  encode(out, name, 0)
  encode(out, record, 0)
  encode(out, flat(view), 0)
  local payload = concat(out)
  return pack("<s4", payload)
end

------------------------------------------------------------------------

local Stage = {}
Stage.__index = Stage

--- new{ write = fn(record, view, name), window = rows (default WINDOW),
--- dir = where the spill file goes (default $TMPDIR or /tmp), pause = an
--- optional fn(seconds) that yields to the loop (qxt.sleep) } -> stage
function _M.new(opts)
  if type(opts) ~= "table" or type(opts.write) ~= "function" then
    error("qxt.reorder.new wants { write = function(record, view, name) }", 2)
  end
  local window = opts.window or _M.WINDOW
  if mtype(window) ~= "integer" or window < 1 then
    error("qxt.reorder: window must be a whole number of rows, at least 1", 2)
  end
  return setmetatable({
    write = opts.write, window = window, dir = opts.dir, pause = opts.pause,
    next = 1,            -- the position of the next row to write
    held = {}, count = 0, -- rows waiting in memory, by position
    heads = {},          -- run being merged, by the position of its next row
    active = 0,          -- runs with rows still to read back
    wpos = 0,            -- where the next run is appended in the spill file
    busy = false,        -- write() is running (it may yield)
    -- what close() and the summary report
    held_peak = 0, spilled = 0, spills = 0, skipped = 0,
  }, Stage)
end

-- Creates the spill file: private, then nameless.
function Stage:_open_spill()
  local file, crypto = require("qxt.file"), require("qxt.crypto")
  local dir = self.dir or os.getenv("TMPDIR") or "/tmp"
  local path = ("%s/.qxtv-order-%s"):format(dir, crypto.hex(crypto.random(8)))
  local w, err = file.open_private(path)
  if not w then error("the order spill file " .. tostring(err), 0) end
  local r, rerr = io.open(path, "rb")
  os.remove(path)
  if not r then
    w:close()
    error("the order spill file " .. tostring(rerr), 0)
  end
  w:setvbuf("full", 64 * 1024)
  -- Unbuffered: a run is written again where an old one was, through w;
  -- a buffer of r would return the old bytes (glibc seeks inside its
  -- buffer without reading). Runs are read CHUNK bytes at a time anyway.
  r:setvbuf("no")
  self.w, self.r, self.path = w, r, path
end

-- The rows waiting in memory, sorted, appended to the spill file as one run.
function Stage:_spill()
  if not self.w then self:_open_spill() end
  local held, keys = self.held, {}
  for n in next, held do keys[#keys + 1] = n end
  sort(keys)
  local w, start = self.w, self.wpos
  local pos = start
  for i = 1, #keys do
    local n = keys[i]
    local h = held[n]
    local f = frame(n, h[1], h[2], h[3])
    local ok, err = w:write(f)
    if not ok then error(("the order spill file %s: %s"):format(self.path, tostring(err)), 0) end
    pos = pos + #f
  end
  local ok, err = w:flush()
  if not ok then error(("the order spill file %s: %s"):format(self.path, tostring(err)), 0) end
  self.wpos = pos
  self.held, self.count = {}, 0
  local run = { pos = start, stop = pos, buf = "", at = 1, left = #keys }
  self.heads[keys[1]] = run
  self.active = self.active + 1
  self.spilled = self.spilled + #keys
  self.spills = self.spills + 1
end

-- Makes at least `need` unread bytes of run's buffer available.
function Stage:_ensure(run, need)
  local have = #run.buf - run.at + 1
  if have >= need then return end
  local want = math.min(math.max(CHUNK, need - have), run.stop - run.pos)
  local r = self.r
  r:seek("set", run.pos)
  local chunk = r:read(want)
  if not chunk or #chunk < want then
    error(("the order spill file %s: read back short"):format(self.path), 0)
  end
  run.buf = run.buf:sub(run.at) .. chunk
  run.at = 1
  run.pos = run.pos + want
end

-- The run's next row, decoded; its following row becomes its head.
function Stage:_take(run)
  self:_ensure(run, 4)
  local len = unpack("<I4", run.buf, run.at)
  self:_ensure(run, 4 + len)
  local at = run.at + 4
  local buf = run.buf
  local _, name, record, view
  _, at = unpack("<j", buf, at)
  name, at = decode(buf, at)
  record, at = decode(buf, at)
  view = decode(buf, at)
  run.at = run.at + 4 + len
  run.left = run.left - 1
  if run.left > 0 then
    self:_ensure(run, 12)
    self.heads[unpack("<j", run.buf, run.at + 4)] = run
  else
    run.buf = nil
    self.active = self.active - 1
    if self.active == 0 then
      -- nothing in the file is needed any more: the next run starts at 0
      self.wpos = 0
      self.w:seek("set", 0)
    end
  end
  return record, view, name
end

-- Writes every row that is next, from memory or from a run, until a row
-- that has not come yet.
function Stage:_drain()
  local heads, pause, written = self.heads, self.pause, 0
  while true do
    if pause then
      written = written + 1
      if written % PAUSE_EVERY == 0 then pause(0) end
    end
    local n = self.next
    local held = self.held        -- (a spill while write() yielded makes a new one)
    local h = held[n]
    if h then
      held[n] = nil
      self.count = self.count - 1
      self.next = n + 1
      self.write(h[1], h[2], h[3])
    else
      local run = heads[n]
      if not run then return end
      heads[n] = nil
      local record, view, name = self:_take(run)
      self.next = n + 1
      self.write(record, view, name)
    end
  end
end

-- Runs f(self, ...) as the one writer; a failure stops the stage.
local function writing(self, f, ...)
  self.busy = true
  local ok, err = pcall(f, self, ...)
  self.busy = false
  if not ok then
    self.failed = err
    error(err, 0)
  end
end

local function write_then_drain(self, record, view, name)
  self.next = self.next + 1
  self.write(record, view, name)
  self:_drain()
end

--- put(n, record, view, name): row n is ready for sink `name`. Writes it
--- now if every row before it is written (and then whatever it was
--- holding back); holds it otherwise.
function Stage:put(n, record, view, name)
  if self.failed then return end
  if self.closed then error("qxt.reorder: put after close", 2) end
  if n == self.next and not self.busy then
    return writing(self, write_then_drain, record, view, name)
  end
  if n < self.next or self.held[n] then
    error(("qxt.reorder: row %d was put twice"):format(n), 2)
  end
  self.held[n] = { record, view, name }
  local count = self.count + 1
  self.count = count
  if count > self.held_peak then self.held_peak = count end
  if count >= self.window then
    local ok, err = pcall(self._spill, self)
    if not ok then
      self.failed = err
      error(err, 0)
    end
  end
end

-- The lowest position still waiting (memory or spill), or nil.
function Stage:_lowest()
  local low
  for n in next, self.held do if not low or n < low then low = n end end
  for n in next, self.heads do if not low or n < low then low = n end end
  return low
end

local function flush_all(self)
  self:_drain()
  while true do
    local low = self:_lowest()
    if not low then return end
    -- rows that never came (the run stopped on an error): skipped
    self.skipped = self.skipped + (low - self.next)
    self.next = low
    self:_drain()
  end
end

--- close() -> true | nil, err: writes the rows still waiting, in order
--- (skipping rows that never came), and closes the spill file.
function Stage:close()
  if self.closed then return true end
  local ok, err = true, nil
  if not self.failed then ok, err = pcall(writing, self, flush_all) end
  self.closed = true
  self.held, self.heads = {}, {}
  if self.w then
    self.w:close()
    self.r:close()
    self.w, self.r = nil, nil
  end
  if not ok then return nil, tostring(err) end
  return true
end

--- What the summary says: rows held at most, rows that went to disk, rows skipped.
function Stage:report()
  return { mode = "input", held_peak = self.held_peak, spilled = self.spilled, spills = self.spills,
           skipped = self.skipped }
end

return _M
