--- qxt.shared.budget: a query budget several qxtv instances draw from
-- through Redis (docs/scale-out.md), leased in small chunks so an instance
-- goes to Redis once per chunk, not once per query.
--
-- The key counts the queries leased so far; one atomic script grants at
-- most what is left, so the leases of all instances together never exceed
-- the limit, and an instance sends only what it holds a lease for. A lease
-- not used up is given back when the instance closes (best effort: one
-- that dies keeps it, which errs on the side of sending less). With Redis
-- unreachable the instance spends what it holds, then fails closed (nothing
-- is sent without a lease) until Redis answers again.
--
--   local b = require("qxt.shared.budget").new(redis, { name = "day", limit = 10000,
--                                                       window = "day", chunk = 20 })
--   b:take() -> true | nil, why      why: "exhausted" or "down"
--   b:untake()   the last take's query was not sent after all: it is held again
--   b:exhausted() -> the refusal's text
--   b:release();  b:status() -> { mode = "shared" | "closed", held, limit }
--
-- window "day": one count per UTC day of Redis's clock (TIME), in a key of
-- its own that expires two days later; nil: one count, kept 7 days past
-- its last lease.
local _M = {}

-- KEYS[1]: the count (":" .. the day number appended for a daily window).
-- ARGV: limit, wanted, ttl seconds, window ("day" or ""). Returns
-- { granted, the key counted }.
_M.SCRIPT = [[
local key = KEYS[1]
if ARGV[4] == 'day' then
  local t = redis.call('TIME')
  key = key .. ':' .. math.floor(tonumber(t[1]) / 86400)
end
local used = tonumber(redis.call('GET', key) or '0')
local n = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - used)
if n <= 0 then return { 0, key } end
redis.call('INCRBY', key, n)
redis.call('EXPIRE', key, tonumber(ARGV[3]))
return { n, key }
]]

-- Gives back an unused lease: only to a count that still exists (a new
-- key would have no time to live).
_M.RELEASE = [[
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECRBY', KEYS[1], ARGV[1]) end
return 0
]]

local DAY_TTL, RUN_TTL = 2 * 86400, 7 * 86400

--- The daily budget's name, and the key of its count for the UTC day of a
--- time in seconds (Redis's TIME; the script picks the day the same way).
_M.DAILY = "day"
function _M.day_key(redis, seconds)
  return redis:key("budget", _M.DAILY) .. ":" .. seconds // 86400
end

local Budget = {}
Budget.__index = Budget

-- One lease request (in its own task: every taker waits for the same one).
local function fetch(self)
  local reply, err = self.script:run({ self.key }, { self.limit, self.chunk, self.ttl, self.window or "" })
  if type(reply) ~= "table" then
    if self.mode ~= "closed" then
      self.mode = "closed"
      self.log(("budget %s: Redis unreachable (%s); this instance sends only what its lease still holds, "
                .. "then nothing until Redis answers"):format(self.name, tostring(err)))
    end
    return "down"
  end
  if self.mode ~= "shared" then
    if self.mode then self.log(("budget %s: Redis answers again; leases resume"):format(self.name)) end
    self.mode = "shared"
  end
  local n = reply[1]
  if n <= 0 then
    self.empty_until = qxt.now() + 1     -- asked again in a second: a day turns, leases come back
    return "exhausted"
  end
  self.held = self.held + n
  self.leased[#self.leased + 1] = { key = reply[2], n = n }
  self.leases = self.leases + 1
  return nil
end

function Budget:take()
  while true do
    if self.held > 0 then
      self.held = self.held - 1
      self.spent = self.spent + 1
      local lease = self.leased[1]
      lease.n = lease.n - 1
      if lease.n == 0 then table.remove(self.leased, 1) end
      self.last = lease
      return true
    end
    if self.empty_until and qxt.now() < self.empty_until then return nil, "exhausted" end
    if not self.fetching then
      self.fetching = qxt.spawn(function()
        local why = fetch(self)
        self.fetching = nil
        return why
      end)
    end
    local why = qxt.wait(self.fetching)
    if why and self.held == 0 then return nil, why end
  end
end

--- Puts back the query the last take() gave (it was not sent: another
--- budget refused it): it stays this instance's lease.
function Budget:untake()
  local lease = self.last
  self.held, self.spent = self.held + 1, self.spent - 1
  lease.n = lease.n + 1
  if self.leased[1] ~= lease then table.insert(self.leased, 1, lease) end
end

--- The refusal once the limit is spent.
function Budget:exhausted()
  return ("budget exhausted: the %s budget of %d queries shared by the instances is spent"):format(
    self.window == "day" and "daily" or "shared", self.limit)
end

--- Gives back what is leased and not spent (at close).
function Budget:release()
  for _, lease in ipairs(self.leased) do self.give_back:run({ lease.key }, { lease.n }) end
  self.leased, self.held = {}, 0
end

function Budget:status()
  return { mode = self.mode or (self.redis:up() and "shared" or "closed"), held = self.held,
           limit = self.limit, spent = self.spent, leases = self.leases }
end

--- redis: a qxt.redis connection; opts: name (the key is prefix ..
--- "budget:" .. name), limit (queries), window ("day" or nil), chunk
--- (queries per lease; default limit / (instances x 10), 1 to 50),
--- instances, log.
function _M.new(redis, opts)
  local limit = opts.limit
  if math.type(limit) ~= "integer" or limit < 0 then error("budget must be a whole number of queries", 2) end
  local chunk = opts.chunk or math.max(1, math.min(50, limit // ((opts.instances or 1) * 10)))
  return setmetatable({
    redis = redis, script = redis:script(_M.SCRIPT), give_back = redis:script(_M.RELEASE), name = opts.name,
    key = redis:key("budget", opts.name), limit = limit, window = opts.window, chunk = chunk,
    ttl = opts.window == "day" and DAY_TTL or RUN_TTL, log = opts.log or function() end,
    held = 0, spent = 0, leases = 0, leased = {}, mode = nil,
  }, Budget)
end

return _M
