-- qxt.serve.limits: the limits of `qxtv serve`, per caller and per subject.
-- Every check either lets one request through (and counts it) or refuses
-- it with the limit's name and how many seconds to wait (Retry-After).
--
--   local l = limits.new(flow.serve and flow.serve.limits)
--   local ok, limit, retry_after = l:qps(caller, now)      -- every request
--   ok, limit, retry_after = l:names(mobile_key, pair_key, now) -- every check
--   ok, limit, retry_after = l:pair(pair_key, now, peek)   -- provider queries only
--   ok, limit, retry_after = l:budget(caller, now, peek)   -- provider queries only
--   (peek: check without counting, so that a query refused by one of the
--   two does not use up the other)
--
-- The limits (defaults on; any may be set to false, knowingly):
--   qps = 10, burst = 20      per caller, a token bucket (GCRA): `burst` at
--                             once after a quiet spell, then `qps` a second
--   daily_budget = 10000      per caller, provider queries per 24 h window
--                             (the window starts at the caller's first query);
--                             counted when a query is let through, whatever
--                             comes back: it fails closed
--   names_per_mobile = 3      distinct names checked against one mobile in
--   names_window = 86400      the last names_window seconds (cache hits too:
--                             an answer from the cache is a check all the same)
--   pair_interval = 60        one provider query of the same pair per interval
--   max_subjects = 100000     mobiles and pairs tracked at once; at the cap a
--                             new subject is refused ("subjects_full"): the
--                             subject limits fail closed, never open
--   callers = { NAME = { qps =, burst =, daily_budget = } }  per-caller overrides
--
-- Subjects are known by keyed hashes (policy.lua makes them): no mobile or
-- name is kept here. Memory is bounded: subject entries expire in a FIFO
-- per kind (each expires a fixed time after its last use, so the oldest
-- comes first) reclaimed a little on every call, and never exceed
-- max_subjects; caller
-- entries are bounded by the tokens file.
--
-- Times are seconds on the caller's clock (policy.lua's, monotonic by
-- default). retry_after is whole seconds, at least 1.
local _M = {}

_M.DEFAULTS = { qps = 10, burst = 20, daily_budget = 10000, names_per_mobile = 3,
                names_window = 86400, pair_interval = 60, max_subjects = 100000 }
local PER_CALLER = { qps = true, burst = true, daily_budget = true }
local DAY = 86400

local Limits = {}
Limits.__index = Limits

local function retry(seconds)
  return math.max(1, math.ceil(seconds))
end

local function check_value(where, k, v)
  if v == false then return end
  if k == "burst" or k == "names_per_mobile" or k == "max_subjects" or k == "daily_budget" then
    if math.type(v) ~= "integer" or v < 1 then
      error(("%s.%s: a positive integer, or false"):format(where, k), 4)
    end
  elseif type(v) ~= "number" or v <= 0 then
    error(("%s.%s: a positive number, or false"):format(where, k), 4)
  end
end

local function settings(opts)
  local s = {}
  for k, v in pairs(_M.DEFAULTS) do s[k] = v end
  s.callers = {}
  if opts == nil then return s end
  if type(opts) ~= "table" then error("serve.limits is a table", 3) end
  for k, v in pairs(opts) do
    if k == "callers" then
      if type(v) ~= "table" then error("serve.limits.callers is a table by caller name", 3) end
      for name, o in pairs(v) do
        local where = "serve.limits.callers." .. tostring(name)
        if type(o) ~= "table" then error(where .. " is a table", 3) end
        for ck, cv in pairs(o) do
          if not PER_CALLER[ck] then
            error(("%s.%s: no such per-caller limit (qps, burst, daily_budget)"):format(where, tostring(ck)), 3)
          end
          check_value(where, ck, cv)
        end
        s.callers[name] = o
      end
    elseif _M.DEFAULTS[k] == nil then
      error(("serve.limits.%s: no such limit"):format(tostring(k)), 3)
    else
      check_value("serve.limits", k, v)
      s[k] = v
    end
  end
  if not s.max_subjects then error("serve.limits.max_subjects cannot be off: memory is bounded", 3) end
  return s
end

-- Subject entries expire a fixed time after their last use (one lifetime
-- per kind: names_window for mobiles, pair_interval for pairs), so each
-- kind has its own FIFO, oldest first, with one slot per entry. A slot
-- whose entry was used since goes to the back with its new time; the FIFO
-- stays as long as the number of entries, and reclaiming costs O(1) a
-- call, amortised.
local function new_kind()
  return { entries = {}, slots = {}, first = 1, last = 0 }
end

local function enqueue(kind, key, expires)
  kind.last = kind.last + 1
  kind.slots[kind.last] = { key = key, expires = expires }
end

local function track(self, kind, key, entry, expires)
  entry.expires = expires
  kind.entries[key] = entry
  self.subjects = self.subjects + 1
  enqueue(kind, key, expires)
end

local function reclaim(self, kind, now, budget)
  local slots = kind.slots
  while budget > 0 and kind.first <= kind.last do
    local slot = slots[kind.first]
    if slot.expires > now then return end
    slots[kind.first] = nil
    kind.first = kind.first + 1
    local entry = kind.entries[slot.key]
    if entry.expires > now then
      enqueue(kind, slot.key, entry.expires)     -- used since: later
    else
      kind.entries[slot.key] = nil
      self.subjects = self.subjects - 1
    end
    budget = budget - 1
  end
end

-- true, or nil, "subjects_full", retry_after when a new subject cannot be
-- tracked (after reclaiming what has expired).
local function room(self, now)
  if self.subjects < self.s.max_subjects then return true end
  reclaim(self, self.mobiles, now, math.huge)
  reclaim(self, self.pairs, now, math.huge)
  if self.subjects < self.s.max_subjects then return true end
  local soonest = math.huge
  for _, kind in ipairs({ self.mobiles, self.pairs }) do
    local slot = kind.slots[kind.first]
    if slot then soonest = math.min(soonest, slot.expires) end
  end
  return nil, "subjects_full", retry(soonest - now)
end

--- new(opts) -> limits; opts: the flow's serve.limits (may be nil).
function _M.new(opts)
  local s = settings(opts)
  return setmetatable({ s = s, callers = {}, mobiles = new_kind(), pairs = new_kind(),
                        subjects = 0 }, Limits)
end

local function caller_setting(self, caller, k)
  local o = self.s.callers[caller]
  if o and o[k] ~= nil then return o[k] end
  return self.s[k]
end

local function caller_state(self, caller)
  local c = self.callers[caller]
  if not c then
    c = { tat = -math.huge, day_start = nil, used = 0 }
    self.callers[caller] = c
  end
  return c
end

--- l:qps(caller, now) -> true | nil, "qps", retry_after
function Limits:qps(caller, now)
  local rate = caller_setting(self, caller, "qps")
  if not rate then return true end
  local burst = caller_setting(self, caller, "burst") or 1
  local c = caller_state(self, caller)
  local interval = 1 / rate
  local tat = math.max(c.tat, now)
  local ahead = tat - now - (burst - 1) * interval
  if ahead > 1e-9 then return nil, "qps", retry(ahead) end
  c.tat = tat + interval
  return true
end

--- l:budget(caller, now [, peek]) -> true | nil, "daily_budget", retry_after:
--- takes one query from the caller's budget for the current 24 h window
--- (peek: only says whether it could).
function Limits:budget(caller, now, peek)
  local budget = caller_setting(self, caller, "daily_budget")
  if not budget then return true end
  local c = caller_state(self, caller)
  if not c.day_start or now >= c.day_start + DAY then c.day_start, c.used = now, 0 end
  if c.used >= budget then return nil, "daily_budget", retry(c.day_start + DAY - now) end
  if not peek then c.used = c.used + 1 end
  return true
end

--- l:names(mobile_key, pair_key, now) -> true | nil, limit, retry_after:
--- the pair's name is one of at most names_per_mobile distinct names
--- checked against this mobile within names_window.
function Limits:names(mobile_key, pair_key, now)
  local limit, window = self.s.names_per_mobile, self.s.names_window
  if not limit then return true end
  reclaim(self, self.mobiles, now, 4)
  local m = self.mobiles.entries[mobile_key]
  if m and m.expires <= now then m.names, m.n = {}, 0 end  -- expired, not yet reclaimed
  if not m then
    local ok, why, after = room(self, now)
    if not ok then return nil, why, after end
    m = { names = {}, n = 0 }
    track(self, self.mobiles, mobile_key, m, now + window)
  end
  -- names seen longer ago than the window no longer count
  local soonest = math.huge
  for k, seen in pairs(m.names) do
    if seen + window <= now then
      m.names[k] = nil
      m.n = m.n - 1
    elseif k ~= pair_key then
      soonest = math.min(soonest, seen + window)
    end
  end
  if not m.names[pair_key] then
    if m.n >= limit then return nil, "names_per_mobile", retry(soonest - now) end
    m.n = m.n + 1
  end
  m.names[pair_key] = now
  m.expires = now + window
  return true
end

--- l:start(pair_key, now, gate) -> true | nil, limit, retry_after: a
--- provider query of the pair may start under the pair interval and gate
--- (gate(peek) -> the caller's own limits, peek: count nothing). Both are
--- checked before either counts: a query refused by one leaves the other
--- unused.
function Limits:start(pair_key, now, gate)
  local ok, limit, after = self:pair(pair_key, now, true)
  if ok then ok, limit, after = gate(true) end
  if not ok then return nil, limit, after end
  assert(self:pair(pair_key, now) and gate(false))
  return true
end

--- l:pair(pair_key, now [, peek]) -> true | nil, limit, retry_after: at
--- most one provider query of this pair per pair_interval (peek: only says
--- whether this one may go, and counts nothing).
function Limits:pair(pair_key, now, peek)
  local interval = self.s.pair_interval
  if not interval then return true end
  reclaim(self, self.pairs, now, 4)
  local p = self.pairs.entries[pair_key]
  if p and p.expires > now then return nil, "pair_interval", retry(p.expires - now) end
  if peek then
    if p then return true end
    return room(self, now)
  end
  if p then
    p.expires = now + interval           -- expired but not yet reclaimed: reused
    return true
  end
  local ok, why, after = room(self, now)
  if not ok then return nil, why, after end
  track(self, self.pairs, pair_key, {}, now + interval)
  return true
end

--- l:tracked() -> how many subjects (mobiles and pairs) are held
function Limits:tracked() return self.subjects end

return _M
