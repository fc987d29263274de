-- qxt.serve.store: where `qxtv serve` keeps its per-request state, in this
-- process's memory (the default; one instance). policy.lua decides, a store
-- only keeps: the same interface has a second implementation on Redis,
-- shared by every instance (shared/store.lua); policy.lua never asks which.
--
-- INTERFACE (both implementations; every `now` is policy's clock)
--
--   local s = store.new(settings, clock)
--     settings  { limits = a qxt.serve.limits, cache = a qxt.serve.cache,
--                 ids = { window = s, max_entries = n } }
--   s:lookup(mobile_key, pair_key, now) -> true, answer | nil, age_s
--                                        | nil, status, limit, retry_after
--     every check: counts the name against the mobile's distinct names
--     (limits.lua's names; a refusal), then looks the pair up in the cache
--     (answer: a fresh table; nil: a miss). One step, so that a store on
--     Redis makes it one round trip.
--   s:query(key, now, gate, fetch) -> answer, source, age_s, coalesced
--                                   | nil, status, limit, retry_after
--     the provider query for key, done once however many ask at once: a
--     request that would start it checks the pair interval and gate(true)
--     (the caller's own limits, peeked), then counts both (gate(false));
--     a request joining one in flight checks and counts nothing. fetch()
--     runs once in a task of its own and returns the result table; the
--     store caches it by outcome (cache.lua). source is "provider", or
--     "cache" when a store learnt meanwhile that the answer was cached.
--   s:id_claim(id_key, pair_key, now) -> "new", holder | "kept", compact, age_s
--                                      | "conflict" | nil, status, limit, retry_after
--     a request_id (its keyed hash): never seen (or in flight for the same
--     pair): "new"; answered before: "kept" with that answer (cache.compact);
--     seen for another pair: "conflict"; or a refusal (shared/store.lua:
--     503 while Redis is away, 409 "request_id_lost").
--   s:id_done(id_key, pair_key, compact | nil, now, holder)   the answer to keep
--     for the id (nil: keep none; the id may be used again); holder: what
--     id_claim gave with "new" (whether this request holds the id)
--   s:modes() -> { cache =, idempotency =, limits =, coalescing = }: the mode
--     each part is in ("embedded" here; shared/store.lua: "shared" or its
--     fallback), for /readyz and /metrics.
--   s:count() -> cache entries, subjects tracked (this process's; 0 when
--     they live elsewhere)
--
-- Refusals carry an HTTP status (429 for a limit; shared/store.lua adds 503
-- when the state it needs is unreachable) so that policy.lua passes them on.
local lru = require("qxt.serve.lru")

local _M = {}

local Store = {}
Store.__index = Store

function _M.new(settings, clock)
  return setmetatable({
    limits = settings.limits, cache = settings.cache, clock = clock,
    ids = lru.new(settings.ids.max_entries), id_window = settings.ids.window, id_pairs = {},
  }, Store)
end

local function refusal(ok, limit, after)
  if ok then return true end
  return nil, 429, limit, after
end

function Store:lookup(mobile_key, pair_key, now)
  local ok, status, limit, after = refusal(self.limits:names(mobile_key, pair_key, now))
  if not ok then return nil, status, limit, after end
  return true, self.cache:get(pair_key, now)
end

function Store:query(key, now, gate, fetch)
  if not self.cache:busy(key) then
    -- This request would start a provider query: the limits on queries.
    local ok, limit, after = self.limits:start(key, now, gate)
    if not ok then return nil, 429, limit, after end
  end
  local res, shared = self.cache:join(key, function()
    local answer = fetch()
    self.cache:put(key, answer, self.clock())
    return answer
  end)
  return res[1], "provider", 0, shared
end

function Store:id_claim(id_key, pair_key, now)
  local kept, at = self.ids:get(id_key, now)
  local pair = kept and kept.pair or self.id_pairs[id_key]
  if pair and pair ~= pair_key then return "conflict" end
  if kept then return "kept", kept.answer, now - at end
  self.id_pairs[id_key] = pair_key
  return "new"
end

function Store:id_done(id_key, pair_key, compact, now)
  self.id_pairs[id_key] = nil
  if compact then
    self.ids:put(id_key, { pair = pair_key, answer = compact }, now, now + self.id_window)
  end
end

local EMBEDDED = { cache = "embedded", idempotency = "embedded", limits = "embedded", coalescing = "embedded" }

function Store.modes()
  local m = {}
  for k, v in pairs(EMBEDDED) do m[k] = v end
  return m
end

function Store:count()
  return self.cache:count(), self.limits:tracked()
end

return _M
