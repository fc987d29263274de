--- qxt.shared.halt: a fatal provider code (-1, -5, -9: the account cannot
-- be used) seen by one qxtv instance stops every instance sharing the
-- Redis, until an operator clears it (`qxtv admin resume`, docs/scale-out.md).
--
-- One key under the prefix holds the reason ("-5 <the provider's reason>"
-- and the time): no personal data. Each instance reads it at most every
-- `interval` seconds (0.25 by default), on demand, from the task about to
-- send: no task of its own, so a run ends when its work does; a halt is
-- seen everywhere within interval + one round trip. The key expires after
-- 7 days (every key has a time to live); clear it sooner by resuming.
--
-- Redis unreachable: what this instance saw itself still halts it (and is
-- told to the others once Redis answers); a halt raised elsewhere
-- meanwhile is seen once Redis answers again. An instance's own halt ends
-- too when the operator clears the key.
--
--   local h = require("qxt.shared.halt").new(redis, { interval = 0.25 })
--   h:check() -> why | nil     h:raise(why)     h:mode() -> "shared" | "local"
local _M = {}

_M.TTL = 7 * 86400

local Halt = {}
Halt.__index = Halt

-- Tells the others (once it could): SET NX keeps the first reason.
local function push(self)
  local v = ("%s (at %s)"):format(self.own, os.date("!%Y-%m-%dT%H:%M:%SZ"))
  local ok, err = self.redis:call("SET", self.key, v, "EX", _M.TTL, "NX")
  if ok == nil then
    self.log(("halt: Redis unreachable (%s): the other instances are told once it answers"):format(tostring(err)))
    return
  end
  self.pushed = true
end

--- The reason sending is halted, or nil (reads Redis at most every interval s).
function Halt:check()
  local now = qxt.now()
  if now >= self.next_poll and not self.polling then
    self.polling = true
    self.next_poll = now + self.interval
    local v, err = self.redis:call("GET", self.key)
    if v == nil then
      self.state = "local"
      self.last_error = err
    else
      self.state = "shared"
      if self.own and not self.pushed then
        push(self)
        v = v or self.own
      elseif self.own and not v then
        self.log("halt: cleared by an operator (qxtv admin resume); sending again")
        self.own, self.pushed = nil, nil
      end
      self.remote = v or nil
    end
    self.polling = false
  end
  return self.own or self.remote
end

--- This instance saw a fatal code: it stops, and tells the others.
function Halt:raise(why)
  if self.own then return end
  self.own = why
  push(self)
end

function Halt:mode()
  return self.state or (self.redis:up() and "shared" or "local")
end

--- The key holding the halt (qxtv admin reads and clears it).
function _M.key(redis) return redis:key("halt") end

function _M.new(redis, opts)
  opts = opts or {}
  return setmetatable({ redis = redis, key = opts.key or _M.key(redis), interval = opts.interval or 0.25,
                        log = opts.log or function() end, next_poll = 0 }, Halt)
end

return _M
