-- qxt.serve.policy: everything `qxtv serve` decides about a request besides
-- the rules: who may ask how often (limits.lua), what is answered without
-- a query (the idempotency keys, the cache), and identical queries in
-- flight done once (flights.lua). The HTTP server calls it; it knows no HTTP.
--
-- INTERFACE (what the server wires in)
--
--   local policy = require("qxt.serve.policy")
--   local p = policy.new(opts, clock [, shared])
--     opts   the flow's `serve` table, or nil for the defaults:
--              { limits = {...}       -- limits.lua: qps, burst, daily_budget,
--                                     --   names_per_mobile, names_window,
--                                     --   pair_interval, max_subjects, callers
--                cache = { ttl = { consistent =, inconsistent =, no_record = },
--                          max_entries = 100000 },              -- cache.lua
--                idempotency = { window = 86400, max_entries = 100000 },
--                redis_down = "closed" | "local" }  -- shared only: the subject
--                                     --   limits while Redis is unreachable
--            an unknown key or a bad value raises, naming it (at load time).
--     clock  function() -> seconds; default qxt.now (monotonic). The state
--            in memory dies with the process, so every window and time to
--            live is measured on a monotonic clock: setting the wall clock
--            (NTP, by hand) neither extends nor cuts one.
--     shared nil: the state in this process (store.lua). Or
--            { redis = a qxt.redis connection, hash_key = the secret every
--              instance has (--hash-key-file), log = function(msg) } : the
--            cache, the idempotency keys, names per mobile, the pair
--            interval and coalescing on Redis, shared by the instances
--            (shared/store.lua; its times are Redis TIME). The per-caller
--            qps and daily_budget stay in each process.
--
--   p:admit(caller, req) -> true | nil, status, limit, retry_after
--     caller  the name tokens:check gave, or nil when it gave none
--     req     the decoded request (unused today; may be nil: admit is meant to
--             run before the body is read)
--     refuses 401, "unauthorized", nil without a caller; 429, "qps", seconds
--     when the caller is over its rate. Call it once per request.
--
--   p:pair_key(mobile, name) -> 32 hex digits: the keyed hash of the cleaned
--     pair (HMAC-SHA256 under a key drawn at start, or shared.hash_key, as
--     the journal's Journal:pair), the key the cache, the flights and the
--     limits use.
--
--   p:answer(caller, req, key, fetch)
--       -> answer, source, age_s, coalesced
--        | nil, status, limit, retry_after
--     caller  as for admit (admitted)
--     req     { mobile = cleaned, name = cleaned, request_id = string|integer|nil }
--     key     p:pair_key(req.mobile, req.name), or nil to have it computed
--     fetch   function() -> a verify() result: the one provider query. Runs in
--             a task of its own (shared by coalesced requests), so it must
--             not depend on the request's task; an error in it is raised in
--             every request waiting for it.
--     answer  a result table (code, class, reason, status, area, isp,
--             consistent/province/city for code 0, possibly_charged): fetch's
--             own table when source is "provider" (shared, as is, with the
--             coalesced ones: do not modify it), a fresh table otherwise
--     source  "provider" | "cache" | "idempotent"
--     age_s   seconds since the answer came from the provider (0: now)
--     coalesced  true when this request waited for another's identical
--             query (the provider was asked once, for the other: not charged
--             to this one)
--     refusals: 429 with limit "names_per_mobile", "subjects_full",
--             "pair_interval" or "daily_budget" and retry_after in whole
--             seconds (>= 1); shared only: 429 "redis_down" (a subject limit
--             that cannot be checked), 503 "redis_down" (a request_id that
--             cannot be looked up), 503 "coalesced_lost" (the instance that
--             asked for this pair gave no answer; nobody asks again before
--             the pair interval ends), 409 "request_id_lost" (a request_id
--             whose instance stopped mid-query: not asked again under that
--             id); 409, "request_id_reused", nil when the caller
--             reuses a request_id for another pair within the window; 400,
--             "request_id", nil for a request_id that is not a non-empty
--             string or an integer of at most 200 bytes.
--     Order: idempotency (same caller, same request_id within the window:
--     the first answer, no query, no limit), names_per_mobile (every check,
--     cache hits included), the cache, then for a query that would reach
--     the provider (no identical one in flight) pair_interval and
--     daily_budget, then fetch. A refusal never reaches fetch.
--     Kept for idempotency: answers the journal would keep (codes.CLASS
--     .answer: ok, input, no_record) and anything possibly charged, so a
--     retried request never pays twice; a never-sent failure, a halting
--     or transient code is not kept (asking again is free and may help).
--
--   p:modes() -> { cache =, idempotency =, limits =, coalescing = }: each
--     part's mode, "embedded", "shared" or its fallback (shared/store.lua).
--
--   p:counters() -> { refusals = { [limit] = n }, cache_hits, cache_misses,
--     coalesced, idempotent, provider_queries, cache_entries, subjects, modes }:
--     a fresh snapshot for /metrics; labels are limit names, never data.
--
-- No table here holds a mobile or a name: subjects, cache entries and
-- idempotency keys are keyed hashes, answers are compact (cache.lua); the
-- plaintext lives in `req` and `fetch`, i.e. as long as the request.
local codes = require("qxt.codes")
local crypto = require("qxt.crypto")
local cache = require("qxt.serve.cache")
local flights = require("qxt.serve.flights")
local limits = require("qxt.serve.limits")
local store = require("qxt.serve.store")

local _M = {}

local Policy = {}
Policy.__index = Policy

local OPTIONS = { limits = true, cache = true, idempotency = true, redis_down = true }
local MAX_ID = 200         -- bytes of a request_id: an id, not a payload

local function idempotency_settings(o)
  o = o or {}
  if type(o) ~= "table" then error("serve.idempotency is a table", 3) end
  for k, v in pairs(o) do
    if k == "window" then
      if type(v) ~= "number" or v <= 0 then error("serve.idempotency.window: seconds (> 0)", 3) end
    elseif k == "max_entries" then
      if math.type(v) ~= "integer" or v < 1 then
        error("serve.idempotency.max_entries: a positive integer", 3)
      end
    else
      error(("serve.idempotency.%s: no such option (window, max_entries)"):format(tostring(k)), 3)
    end
  end
  return o.window or 86400, o.max_entries or 100000
end

--- new(opts, clock [, shared]) -> policy (see above)
function _M.new(opts, clock, shared)
  opts = opts or {}
  if type(opts) ~= "table" then error("serve is a table", 2) end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      error(("serve.%s: no such option (limits, cache, idempotency, redis_down)"):format(tostring(k)), 2)
    end
  end
  if opts.redis_down ~= nil and opts.redis_down ~= "closed" and opts.redis_down ~= "local" then
    error('serve.redis_down: "closed" (the default: 429 while Redis is unreachable) or "local"', 2)
  end
  if clock ~= nil and type(clock) ~= "function" then error("clock is a function", 2) end
  local window, max_ids = idempotency_settings(opts.idempotency)
  local settings = { limits = limits.new(opts.limits), cache = cache.new(opts.cache),
                     ids = { window = window, max_entries = max_ids }, redis_down = opts.redis_down or "closed" }
  clock = clock or qxt.now
  local s, hash_key
  if shared then
    s = require("qxt.serve.shared.store").new(settings, clock, shared)
    hash_key = shared.hash_key
  else
    s = store.new(settings, clock)
    hash_key = crypto.random(32)
  end
  return setmetatable({
    clock = clock, hash = crypto.pair_hasher(hash_key), limits = settings.limits, store = s,
    id_flights = flights.new(),
    refusals = {}, hits = 0, misses = 0, coalesced = 0, idempotent = 0, queries = 0,
  }, Policy)
end

local function refuse(self, status, limit, retry_after)
  self.refusals[limit] = (self.refusals[limit] or 0) + 1
  return nil, status, limit, retry_after
end

--- p:pair_key(mobile, name) -> hex
function Policy:pair_key(mobile, name)
  return self.hash(mobile .. "\0" .. name)
end

--- p:admit(caller, req) -> true | nil, status, limit, retry_after
function Policy:admit(caller, _req)
  if caller == nil then return refuse(self, 401, "unauthorized") end
  local ok, limit, after = self.limits:qps(caller, self.clock())
  if not ok then return refuse(self, 429, limit, after) end
  return true
end

-- Whether a request_id's answer is kept: see "Kept for idempotency".
local function worth_keeping(answer)
  if answer.possibly_charged then return true end
  local class = codes.CLASS[answer.class]
  return answer.code ~= nil and class ~= nil and class.answer
end

-- The answer without idempotency: limits, cache, flights, fetch.
function Policy:decide(caller, req, key, fetch)
  local now = self.clock()
  local st = self.store
  local ok, hit, age, after = st:lookup(self.hash("\1mobile\0" .. req.mobile), key, now)
  if not ok then return refuse(self, hit, age, after) end
  if hit then
    self.hits = self.hits + 1
    return hit, "cache", age, false
  end
  self.misses = self.misses + 1
  local l = self.limits
  local answer, source, age_s, coalesced = st:query(key, now, function(peek)
    return l:budget(caller, now, peek)
  end, function()
    self.queries = self.queries + 1
    local a = fetch()
    if type(a) ~= "table" then error("fetch returned no result table", 0) end
    return a
  end)
  if not answer then return refuse(self, source, age_s, coalesced) end
  if source == "cache" then
    self.hits = self.hits + 1           -- learnt at the query's start: cached meanwhile
    self.misses = self.misses - 1
  elseif coalesced then
    self.coalesced = self.coalesced + 1
  end
  return answer, source, age_s, coalesced
end

--- p:answer(caller, req, key, fetch) (see above)
function Policy:answer(caller, req, key, fetch)
  key = key or self:pair_key(req.mobile, req.name)
  local id = req.request_id
  if id == nil then return self:decide(caller, req, key, fetch) end
  if (type(id) ~= "string" and math.type(id) ~= "integer") or #tostring(id) > MAX_ID
      or id == "" then
    return refuse(self, 400, "request_id")
  end
  local id_key = self.hash("\2request\0" .. caller .. "\0" .. tostring(id))
  local st = self.store
  local seen, kept, age, after = st:id_claim(id_key, key, self.clock())
  if seen == nil then return refuse(self, kept, age, after) end
  if seen == "conflict" then return refuse(self, 409, "request_id_reused") end
  if seen == "kept" then
    self.idempotent = self.idempotent + 1
    return cache.expand(kept), "idempotent", age, false
  end
  local holder = kept             -- with "new": the store's mark that this request holds the id
  local res, shared = self.id_flights:join(id_key, function()
    local r = table.pack(pcall(self.decide, self, caller, req, key, fetch))
    if not r[1] then
      st:id_done(id_key, key, nil, self.clock(), holder)
      error(r[2], 0)
    end
    r = table.pack(table.unpack(r, 2, r.n))
    st:id_done(id_key, key, r[1] and worth_keeping(r[1]) and cache.compact(r[1]) or nil, self.clock(), holder)
    return r
  end)
  local r = res[1]
  if shared then
    -- The same request, sent twice at once: the second is the replay.
    self.idempotent = self.idempotent + 1
    if not r[1] then return table.unpack(r, 1, r.n) end
    return cache.expand(cache.compact(r[1])), "idempotent", 0, false
  end
  return table.unpack(r, 1, r.n)
end

--- p:modes() -> the mode of each part of the state (store.lua's modes)
function Policy:modes()
  return self.store:modes()
end

--- p:counters() -> snapshot (see above)
function Policy:counters()
  local entries, subjects = self.store:count()
  local refusals = {}
  for k, v in pairs(self.refusals) do refusals[k] = v end
  return { refusals = refusals, cache_hits = self.hits, cache_misses = self.misses,
           coalesced = self.coalesced, idempotent = self.idempotent,
           provider_queries = self.queries, cache_entries = entries, subjects = subjects,
           modes = self.store:modes() }
end

return _M
