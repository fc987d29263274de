-- qxt.serve.cache: `qxtv serve`'s answer cache, by the keyed hash of the
-- normalised pair (never the pair itself), with a time-to-live by outcome,
-- and the coalescing of identical queries in flight (flights.lua).
--
--   local c = cache.new({ ttl = { consistent = 30 * 86400 }, max_entries = 100000 })
--   c:put(key, answer, now)              -- true when kept, false when never cached
--   local answer, age_s = c:get(key, now)
--   local res, shared = c:join(key, fetch) -- identical fetches in flight done once
--
-- What is kept of an answer (compact): code, class, reason (the code's own
-- reason, from qxt.codes), status, area, isp, and the time it was put. No
-- mobile, no name, no raw body. get rebuilds consistent/province/city from
-- status and area with the decoder's own rule (qxt.codes.verdict).
--
-- Time to live by outcome (seconds; 0 or false: not cached): the table of
-- qxt.freshness, shared with a run's --reuse-from --max-age (consistent 30
-- days, inconsistent 7, no_record 1). Never cached, whatever the
-- configuration: any other code (among them -1, -5, -8, -9), a transport
-- failure, an answer about someone else (mismatch), anything possibly
-- charged: asking again is either useless (the account is halted) or the
-- only way to learn the answer (freshness.outcome decides, for both).
local codes = require("qxt.codes")
local freshness = require("qxt.freshness")
local lru = require("qxt.serve.lru")
local flights = require("qxt.serve.flights")

local _M = {}

_M.DEFAULT_TTL = freshness.DEFAULT
_M.DEFAULT_MAX = 100000

local Cache = {}
Cache.__index = Cache

--- outcome(answer) -> "consistent" | "inconsistent" | "no_record" | nil
--- (nil: never cached): qxt.freshness.outcome.
_M.outcome = freshness.outcome

--- compact(answer) -> what a store may keep of an answer: no personal data.
function _M.compact(answer)
  local reason = answer.reason
  if answer.code ~= nil then reason = codes.reason(answer.code) end
  return { code = answer.code, class = answer.class, reason = reason, status = answer.status,
           area = answer.area, isp = answer.isp, possibly_charged = answer.possibly_charged }
end

--- expand(compact) -> a fresh result table, as verify() would give it
--- (without mobile, name, raw body or latency).
function _M.expand(c)
  local r = { code = c.code, class = c.class, reason = c.reason, status = c.status,
              area = c.area, isp = c.isp, possibly_charged = c.possibly_charged }
  if r.code == 0 then r.consistent, r.province, r.city = codes.verdict(r.status, r.area) end
  return r
end

local function check_ttl(ttl)
  if ttl ~= nil and type(ttl) ~= "table" then error("serve.cache.ttl is a table of seconds by outcome", 3) end
  local ages, err = freshness.ages(ttl, "serve.cache.ttl")
  if not ages then error(err, 3) end
  return ages
end

--- new(opts) -> a cache; opts (the flow's serve.cache, may be nil):
--- ttl = { consistent = s, inconsistent = s, no_record = s }, max_entries = n.
function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("serve.cache is a table", 2) end
  for k in pairs(opts) do
    if k ~= "ttl" and k ~= "max_entries" then
      error(("serve.cache.%s: no such option (ttl, max_entries)"):format(tostring(k)), 2)
    end
  end
  local max = opts.max_entries or _M.DEFAULT_MAX
  if math.type(max) ~= "integer" or max < 1 then
    error("serve.cache.max_entries is a positive integer", 2)
  end
  return setmetatable({ ttl = check_ttl(opts.ttl), store = lru.new(max), flights = flights.new() },
                      Cache)
end

--- c:get(key, now) -> answer (a fresh table), age_s | nil
function Cache:get(key, now)
  local c, at = self.store:get(key, now)
  if not c then return nil end
  return _M.expand(c), now - at
end

--- c:put(key, answer, now) -> true when kept (its outcome has a time to
--- live), false when it is never cached.
--- cache.ttl_of(ttl, answer) -> seconds the answer is kept under a ttl
--- table by outcome; 0: never cached (its class or outcome is not kept).
function _M.ttl_of(ttl, answer)
  local outcome = _M.outcome(answer)
  local s = outcome and ttl[outcome]
  return s and s > 0 and s or 0
end

function Cache:put(key, answer, now)
  local ttl = _M.ttl_of(self.ttl, answer)
  if ttl == 0 then return false end
  self.store:put(key, _M.compact(answer), now, now + ttl)
  return true
end

--- c:busy(key), c:join(key, fetch): see flights.lua.
function Cache:busy(key) return self.flights:busy(key) end
function Cache:join(key, fetch) return self.flights:join(key, fetch) end

--- c:count() -> entries held
function Cache:count() return self.store:count() end

return _M
