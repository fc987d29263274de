-- qxt.serve.shared.store: the per-request state of `qxtv serve` on Redis,
-- shared by every instance given the same Redis, prefix and hash key
-- (docs/serve-policy.md, "Several instances"). Same interface as
-- qxt.serve.store (read its header); policy.lua makes one with
--
--   store.new(settings, clock, { redis = qxt.redis connection, hash_key = bytes,
--                                lock_ttl = s, log = function(msg) end })
--
-- What lives in Redis, each key under the prefix with a time to live, each
-- named by a keyed hash (policy's pair_key, under the shared hash key):
--   serve:cache:P     the cached answer of pair P        TTL by outcome (cache.lua)
--   serve:id:R        request id R: its pair, then the answer kept   the idempotency window
--   serve:names:M     names checked against mobile M     names_window
--   serve:pair:P      P's pair interval                  pair_interval
--   serve:lock:P      the instance asking for P now      lock_ttl
--   serve:done:P:T    that instance's answer, for those waiting   30 s
-- Values: scripts.lua's fields (code, class, status, area, carrier, times).
--
-- Coalescing over instances: the one instance that takes serve:lock:P asks
-- the provider; the others (one waiter per instance, its own requests
-- coalesced in memory as before) poll serve:done:P:T with a back-off of 5
-- to 100 ms. An owner that dies mid-query leaves no answer: its lock
-- expires after lock_ttl, and its waiters answer 503 "coalesced_lost"
-- with Retry-After. The query it sent may have been charged, so nobody
-- sends it again on their own: the pair interval the owner started keeps
-- refusing the pair (429 pair_interval) until it ends, and a query after it
-- is a new one a caller asked for.
--
-- A request_id whose instance stopped mid-query stays held for its window:
-- once its pair's lock is gone (and lock_ttl has passed since it was
-- taken) the id is answered 409 "request_id_lost", never asked again: a
-- new request_id is the caller's decision to pay again.
--
-- When Redis is unreachable or slower than its timeout, for that request:
--   cache        a miss
--   idempotency  closed: 503 "redis_down" (a miss could charge a retried
--                request_id twice)
--   limits       closed: 429 "redis_down" (names per mobile, pair interval),
--                or this instance's own limits with serve.redis_down = "local"
--   coalescing   closed with the limits (no query can be checked); with
--                "local", identical queries at this instance done once
-- Each part is back in shared mode with its next successful round trip;
-- modes() says "shared" once Redis is up and a second has passed without a
-- failure.
local cache = require("qxt.serve.cache")
local codes = require("qxt.codes")
local crypto = require("qxt.crypto")
local flights = require("qxt.serve.flights")
local scripts = require("qxt.serve.shared.scripts")

local _M = {}

local Store = {}
Store.__index = Store

local DONE_TTL = 30000          -- ms: waiters poll every 100 ms at most
local SETTLE = 1                -- s without a failure before a part says "shared" again
local FALLBACK = { cache = "miss", idempotency = "closed", coalescing = "local" }
-- The reason of an answer without a code, for those who waited on it (the
-- owner's own text stays with the owner: it is not kept in Redis).
local UNSENT = { unsent = "not sent: halted, or the budget is spent (at the instance that asked)" }

function _M.new(settings, clock, shared)
  local r = shared.redis
  local cfg = qxt.config()
  local lock_ttl = shared.lock_ttl or (cfg.timeout + cfg.connect_timeout + 5)
  local self = setmetatable({
    r = r, clock = clock, log = shared.log or function() end,
    limits = settings.limits, ttl = settings.cache.ttl, window = settings.ids.window,
    redis_down = settings.redis_down, lock_ms = math.ceil(lock_ttl * 1000),
    flights = flights.new(), failed = {}, said = {},
    s = {},
  }, Store)
  for name, src in pairs(scripts) do self.s[name] = r:script(src) end
  return self
end

-- Mode bookkeeping: a failed round trip puts a part in its fallback.
function Store:fail(part, err)
  self.failed[part] = qxt.now()
  if not self.said[part] then
    self.said[part] = true
    local mode = part == "limits" and self.redis_down or FALLBACK[part]
    self.log(("shared %s: Redis %s; %s until it answers"):format(part, tostring(err), mode))
  end
end

function Store:ok(part)
  if self.said[part] then
    self.said[part] = nil
    self.log(("shared %s: Redis answers again; shared"):format(part))
  end
end

function Store:modes()
  local up, now, m = self.r:up(), qxt.now(), {}
  for _, part in ipairs({ "cache", "idempotency", "limits", "coalescing" }) do
    local at = self.failed[part]
    if up and (not at or now - at >= SETTLE) then
      m[part] = "shared"
    else
      m[part] = part == "limits" and self.redis_down or FALLBACK[part]
    end
  end
  return m
end

function Store:key(kind, h, token)
  if token then return self.r:key("serve", kind, h, token) end
  return self.r:key("serve", kind, h)
end

-- An answer as hash fields (no mobile, no name: cache.compact's fields
-- less the reason, which the code gives back).
local function fields(answer)
  local c = cache.compact(answer)
  local f = { "k", tostring(c.class) }
  local function add(name, v) if v ~= nil then f[#f + 1] = name; f[#f + 1] = tostring(v) end end
  add("c", c.code)
  add("s", c.status)
  add("a", c.area)
  add("i", c.isp)
  if c.possibly_charged then add("pc", "1") end
  return f
end

-- Hash fields (flat, as HGETALL gives them) -> a compact answer, its time.
local function decode(flat)
  local f = {}
  for i = 1, #flat, 2 do f[flat[i]] = flat[i + 1] end
  local code = math.tointeger(tonumber(f.c))
  local reason = code and codes.reason(code) or UNSENT[f.k]
  return { code = code, class = f.k, reason = reason, status = f.s,
           area = f.a, isp = f.i, possibly_charged = f.pc == "1" or nil }, tonumber(f.t), f.p
end

local function age(t, now) return math.max(0, (now - (t or now)) / 1000) end

local function seconds(ms) return math.max(1, math.ceil((tonumber(ms) or 0) / 1000)) end

-- names per mobile, then the cache (store.lua), in one round trip. Redis
-- away: the name is counted here or refused (serve.redis_down), the cache
-- is a miss.
function Store:lookup(mobile_key, pair_key, now)
  local s = self.limits.s
  local res, err = self.s.LOOKUP:run({ self:key("names", mobile_key), self:key("cache", pair_key) },
    { pair_key, s.names_per_mobile or 0, math.ceil(s.names_window * 1000) })
  if not res then
    self:fail("cache", err)
    if not s.names_per_mobile then return true, nil end
    self:fail("limits", err)
    if self.redis_down ~= "local" then return nil, 429, "redis_down", 1 end
    local ok, limit, after = self.limits:names(mobile_key, pair_key, now)
    if not ok then return nil, 429, limit, after end
    return true, nil
  end
  if res[1] == 0 then
    self:ok("limits")
    return nil, 429, "names_per_mobile", seconds(res[2])
  end
  self:ok("limits")
  self:ok("cache")
  if #res[2] == 0 then return true, nil end
  local c, t = decode(res[2])
  return true, cache.expand(c), age(t, res[3])
end

-- The interval of a pair, ms (0: off).
function Store:interval_ms()
  local i = self.limits.s.pair_interval
  return i and math.ceil(i * 1000) or 0
end

-- Redis unreachable at the start of a query: the pair interval and the
-- coalescing of this instance alone, or a refusal (serve.redis_down).
function Store:query_local(key, gate, fetch)
  if self.redis_down ~= "local" then return { nil, 429, "redis_down", 1 } end
  local ok, limit, after = self.limits:start(key, self.clock(), gate)
  if not ok then return { nil, 429, limit, after } end
  return { fetch(), "provider", 0, false }
end

-- Waits for the owner (another instance) of a query: its answer, or 503.
function Store:await(key, holder)
  local deadline = qxt.now() + self.lock_ms / 1000 + 1
  local pause = 0.005
  local keys = { self:key("done", key, holder), self:key("lock", key), self:key("pair", key) }
  while true do
    local res, err = self.s.POLL:run(keys, { holder })
    if not res then
      self:fail("coalescing", err)
    elseif res[1] == "done" then
      local c, t = decode(res[2])
      return { cache.expand(c), "provider", age(t, res[3]), true }
    elseif res[1] == "lost" then
      self.log("a coalesced query's owner gave no answer (it died, or Redis lost it): 503, not asked again")
      return { nil, 503, "coalesced_lost", seconds(res[2]) }
    end
    if qxt.now() >= deadline then return { nil, 503, "coalesced_lost", 1 } end
    qxt.sleep(pause)
    pause = math.min(pause * 2, 0.1)
  end
end

-- One instance's flight for a pair: claims it over Redis, then asks the
-- provider (owner) or waits for the instance that does.
function Store:flight(key, gate, fetch)
  local token = crypto.hex(crypto.random(8))
  local lock, interval = self:key("lock", key), self:key("pair", key)
  local res, err = self.s.CLAIM:run({ self:key("cache", key), lock, interval },
    { token, self.lock_ms, self:interval_ms() })
  if not res then
    self:fail("coalescing", err)
    self:fail("limits", err)            -- the pair interval is checked here
    return self:query_local(key, gate, fetch)
  end
  self:ok("coalescing")
  if res[1] == "cache" then
    local c, t = decode(res[2])
    return { c, "cache", age(t, res[3]), false, compact = true }
  elseif res[1] == "pair" then
    return { nil, 429, "pair_interval", seconds(res[2]) }
  elseif res[1] == "wait" then
    return self:await(key, res[2])
  end
  -- The owner: counts against the caller's own limits, then asks.
  local ok, limit, after = gate(false)
  if not ok then
    self.s.RELEASE:run({ lock, interval }, { token, "1" })
    return { nil, 429, limit, after }
  end
  local done, answer = pcall(fetch)
  if not done then
    -- No answer to give: the waiters learn it now rather than at the lock's end.
    self.s.RELEASE:run({ lock, interval }, { token, "0" })
    error(answer, 0)
  end
  local ttl = cache.ttl_of(self.ttl, answer)
  -- Never sent (the guard: halted, or the budget spent): the pair's
  -- interval did not start after all.
  local args = { token, math.ceil(ttl * 1000), DONE_TTL, answer.class == "unsent" and "1" or "0" }
  for _, v in ipairs(fields(answer)) do args[#args + 1] = v end
  local fin, ferr = self.s.FINISH:run({ self:key("cache", key), lock, self:key("done", key, token), interval }, args)
  if not fin then self:fail("coalescing", ferr) end
  return { answer, "provider", 0, false }
end

function Store:query(key, _now, gate, fetch)
  if not self.flights:busy(key) then
    local ok, limit, after = gate(true)
    if not ok then return nil, 429, limit, after end
  end
  local res, shared = self.flights:join(key, function() return self:flight(key, gate, fetch) end)
  local r = res[1]
  if not r[1] then return nil, r[2], r[3], r[4] end
  local answer = r[1]
  if r.compact then answer = cache.expand(answer) end
  return answer, r[2], r[3], shared or r[4]
end

function Store:id_claim(id_key, pair_key)
  local token = crypto.hex(crypto.random(8))
  local res, err = self.s.ID_CLAIM:run({ self:key("id", id_key), self:key("lock", pair_key) },
    { pair_key, math.ceil(self.window * 1000), self.lock_ms, token })
  if not res then
    self:fail("idempotency", err)
    return nil, 503, "redis_down", 1
  end
  self:ok("idempotency")
  if res[1] == "kept" then
    local c, t = decode(res[2])
    return "kept", c, age(t, res[3])
  elseif res[1] == "lost" then
    return nil, 409, "request_id_lost"
  end
  if res[1] == "new" then return "new", res[2] == 1 and token or nil end
  return res[1]
end

function Store:id_done(id_key, pair_key, compact, _now, holder)
  local args = { pair_key, 0, holder or "" }
  if compact then
    args[2] = math.ceil(self.window * 1000)
    for _, v in ipairs(fields(compact)) do args[#args + 1] = v end
  end
  local res, err = self.s.ID_DONE:run({ self:key("id", id_key) }, args)
  if not res then self:fail("idempotency", err) end
end

function Store:count()
  return 0, self.limits:tracked()
end

return _M
