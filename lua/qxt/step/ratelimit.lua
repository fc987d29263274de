-- qxt.ratelimit: a cap on queries per second shared by every task of a run.
--
-- Virtual scheduling (GCRA): each query reserves the next free slot on a
-- timeline spaced 1/rate apart and sleeps until it. Tasks are cooperative,
-- so reserving is race-free; `burst` slots may be used at once after a
-- quiet spell.
local _M = {}

local Limiter = {}
Limiter.__index = Limiter

--- Waits (qxt.sleep) until the caller may send one query.
function Limiter:take()
  local now = qxt.now()
  local slot = self.next
  if slot < now - self.burst_window then slot = now - self.burst_window end
  self.next = slot + self.interval
  if slot > now then qxt.sleep(slot - now) end
end

--- rate: queries per second (> 0); burst: how many may go at once (default 1).
function _M.new(rate, burst)
  if type(rate) ~= "number" or rate <= 0 then
    error("rate must be a positive number of queries per second", 2)
  end
  burst = burst or 1
  local interval = 1 / rate
  return setmetatable({ interval = interval, burst_window = (burst - 1) * interval,
                        next = -math.huge }, Limiter)
end

return _M
