--- qxt.shared.ratelimit: the provider's rate limit, shared by every qxtv
-- instance on one Redis (docs/scale-out.md). A drop-in of qxt.step.ratelimit
-- (one interface, two implementations): limiter:take() waits until the
-- caller may send one query.
--
-- The same virtual scheduling (GCRA) as the local limiter, as one atomic
-- script in Redis: each query reserves the next free slot on one timeline
-- spaced 1/rate apart, and sleeps until it. The timeline is on Redis's
-- clock (TIME), and the caller sleeps for the difference only, so the
-- hosts' clocks never matter. The key holds one timestamp, and expires
-- once the timeline is in the past.
--
-- Redis unreachable or slow (no reply within the connection's timeout):
-- this instance falls back to a local limiter at rate / instances, says so
-- once in the log, and goes back to the shared timeline by itself at the
-- first call that succeeds again.
--
--   local l = require("qxt.shared.ratelimit").new(redis, { rate = 200, burst = 1,
--                                                          instances = 4, log = fn })
--   l:take();  l:mode() -> "shared" | "local"
local ratelimit = require("qxt.step.ratelimit")

local _M = {}

-- KEYS[1]: the timeline; ARGV: interval and burst window, microseconds.
-- Returns the microseconds the caller must wait for its slot (<= 0: none).
_M.SCRIPT = [[
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now - window then slot = now - window end
local nexttat = slot + interval
local ttl_ms = math.ceil((nexttat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', nexttat), 'PX', ttl_ms)
return math.floor(slot - now)
]]

local Limiter = {}
Limiter.__index = Limiter

function Limiter:take()
  local wait_us, err = self.script:run({ self.key }, { self.interval_us, self.window_us })
  if math.type(wait_us) == "integer" then
    if self.state ~= "shared" then
      if self.state then self.log("rate limit: Redis answers again; back to the shared limit") end
      self.state = "shared"
    end
    self.shared_takes = self.shared_takes + 1
    if wait_us > 0 then qxt.sleep(wait_us / 1e6) end
    return
  end
  if self.state ~= "local" then
    self.state = "local"
    self.fallbacks = self.fallbacks + 1
    self.log(("rate limit: Redis unreachable (%s); this instance keeps to %.6g queries/s (the global %.6g / "
              .. "%d instances) until it answers"):format(tostring(err), self.local_rate, self.rate, self.instances))
  end
  self.local_takes = self.local_takes + 1
  self.fallback:take()
end

--- "shared" or "local" (nil before the first take: shared when Redis is up).
function Limiter:mode()
  return self.state or (self.redis:up() and "shared" or "local")
end

--- The key holding the shared timeline (qxtv admin looks at it).
function _M.key(redis) return redis:key("rate") end

--- redis: a qxt.redis connection; opts: rate (> 0, queries per second over
--- all instances), burst (default 1), instances (default 1: what the local
--- fallback divides the rate by), key (default prefix .. "rate"), log.
function _M.new(redis, opts)
  local rate, burst = opts.rate, opts.burst or 1
  if type(rate) ~= "number" or rate <= 0 then error("rate must be a positive number of queries per second", 2) end
  local instances = opts.instances or 1
  if math.type(instances) ~= "integer" or instances < 1 then error("instances must be a positive integer", 2) end
  local interval_us = 1e6 / rate
  return setmetatable({
    redis = redis, script = redis:script(_M.SCRIPT), key = opts.key or _M.key(redis),
    rate = rate, instances = instances, local_rate = rate / instances,
    interval_us = ("%.3f"):format(interval_us), window_us = ("%.3f"):format((burst - 1) * interval_us),
    fallback = ratelimit.new(rate / instances, burst),
    log = opts.log or function() end,
    state = nil, fallbacks = 0, shared_takes = 0, local_takes = 0,
  }, Limiter)
end

return _M
