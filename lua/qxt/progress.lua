-- qxt.progress: what a long run is doing, on stderr.
-- On a terminal one line is redrawn at most 4 times a second; otherwise
-- (cron, CI, a log file) a plain line is printed every `interval` seconds.
local text = require("qxt.text")

local _M = {}

local P = {}
P.__index = P

local function clock(s)
  if not s or s ~= s or s == math.huge then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%dh%02dm"):format(s // 3600, s % 3600 // 60) end
  if s >= 60 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return s .. "s"
end

--- opts: total (records, or nil when unknown), quiet, interval (s, non-tty)
function _M.new(opts)
  opts = opts or {}
  local tty = qxt.isatty(2)
  return setmetatable({
    total = opts.total, quiet = opts.quiet, tty = tty,
    every = tty and 0.25 or (opts.interval or 10),
    last = qxt.now(), t0 = qxt.now(), drawn = false,
  }, P)
end

function P:line(s, inflight)
  local done = s.records
  local elapsed = qxt.now() - self.t0
  local rate = elapsed > 0 and done / elapsed or 0
  local head
  if self.total and self.total > 0 then
    local eta = rate > 0 and (self.total - done) / rate or nil
    head = ("%d/%d %3d%% | %.0f/s | ETA %s"):format(done, self.total,
      math.min(100, math.floor(100 * done / self.total)), rate, clock(eta))
  else
    head = ("%d | %.0f/s | %s"):format(done, rate, clock(elapsed))
  end
  local o = s.outcomes
  -- possibly charged: requests sent whole that got no answer about the
  -- person asked; money the run may have spent for nothing.
  return ("%s | in flight %d | 一致 %d 不一致 %d invalid %d unverified %d | retries %d | possibly charged %d")
    :format(head, inflight or 0, o.consistent or 0, o.inconsistent or 0, o.invalid or 0,
            o.unverified or 0, s.retries, s.possibly_charged or 0)
end

--- Called as records finish; draws when it is time.
function P:update(summary, inflight)
  if self.quiet then return end
  local now = qxt.now()
  if now - self.last < self.every then return end
  self.last = now
  if self.tty then
    -- Never wider than the terminal: a wrapped line cannot be redrawn.
    local cols = qxt.termwidth(2) or 80
    io.stderr:write("\r", text.truncate(self:line(summary, inflight), cols - 1), "\27[K")
    self.drawn = true
  else
    io.stderr:write(self:line(summary, inflight), "\n")
  end
end

--- Ends the progress display (clears the redrawn line).
function P:finish()
  if self.drawn then io.stderr:write("\r\27[K") end
end

return _M
