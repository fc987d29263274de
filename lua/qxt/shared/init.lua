--- qxt.shared: what several qxtv instances (serve and run processes on one
-- apikey) share through Redis so that N of them keep one set of provider
-- limits, not N (docs/scale-out.md). The guard stands before every provider
-- query; a flow never sees Redis.
--
--   local guard, err = require("qxt.shared").open{
--     redis = URL, password_file = PATH, prefix = "qxtv:", timeout = 0.05,
--     instances = 1,                 -- how many share: the fallback rate is rate / instances
--     rate = QPS, burst = 1,         -- the provider's rate limit over all instances
--     budget = N, budget_id = ID,    -- a budget shared by the instances given the same ID
--                                    --   (without budget_id: this instance's own budget)
--     daily_budget = N,              -- queries per UTC day over all instances
--     hash_key_file = PATH,          -- the secret the instances key their hashes with
--     log = function(msg) end }
--   guard:before_send() -> nil | why, halted     -- once per query, before sending it:
--       halted (a fatal code here or at another instance) or a budget refusal
--       (why: "budget ... exhausted" or "... Redis unreachable"), else waits
--       for the shared rate limit and returns nil
--   guard:fatal(why)           a fatal provider code was seen here: every instance stops
--   guard:halted() -> why | nil
--   guard:modes() -> { redis = "up"|"connecting"|"down", rate = "shared"|"local"|"off",
--                      budget = "shared"|"closed"|"off", halt = "shared"|"local" }
--   guard:hash(s) -> 64 hex digits: HMAC-SHA256 under the shared hash key (nil without one)
--   guard:close()              gives back unused budget leases, closes the connection
--   require("qxt.shared").embedded{ rate =, burst =, budget = } -> the same guard for
--       one instance without Redis: the local rate limiter (qxt.step.ratelimit), a
--       budget counted here, a halt of its own (modes say "embedded")
--
-- Redis holds no personal data: fixed key names under the prefix (the
-- rate timeline, the budget counts, the halt reason), each with a time to live.
--
-- qxt.shared.cli (also as qxt.shared.cli): the command-line options. hiredis
-- is loaded by open() only, so parsing options costs nothing.
local _M = {}

_M.cli = require("qxt.shared.cli")

local Guard = {}
Guard.__index = Guard

-- A budget this instance counts alone (no Redis, or --budget without
-- --budget-id): the interface of qxt.shared.budget.
local Counted = {}
Counted.__index = Counted

local function counted(limit)
  return setmetatable({ limit = limit, spent = 0 }, Counted)
end

function Counted:take()
  if self.spent >= self.limit then return nil, "exhausted" end
  self.spent = self.spent + 1
  return true
end

function Counted:untake() self.spent = self.spent - 1 end
function Counted:exhausted() return ("budget exhausted: %d queries sent"):format(self.limit) end
function Counted.status() return { mode = "embedded" } end
function Counted.release() end

-- A halt this instance keeps alone: the interface of qxt.shared.halt.
local Own = {}
Own.__index = Own
function Own:check() return self.why end
function Own:raise(why) self.why = self.why or why end
function Own.mode() return "embedded" end

local function read_hash_key(path)
  local text, err = require("qxt.file").read_private(path, 4096)
  if not text then return nil, "--hash-key-file: " .. tostring(err) end
  text = text:gsub("%s+$", "")
  if #text < 32 then
    return nil, "--hash-key-file " .. path .. ": shorter than 32 bytes (make one: head -c 32 /dev/urandom | base64)"
  end
  return text
end

function _M.open(opts)
  local log = opts.log or function(msg) io.stderr:write("qxtv: ", msg, "\n") end
  local r, err = require("qxt.redis").connect{ url = opts.redis, password_file = opts.password_file,
                                timeout = opts.timeout or 0.05, prefix = opts.prefix or "qxtv:" }
  if not r then return nil, err end
  local self = setmetatable({ r = r, log = log, budgets = {}, instances = opts.instances or 1 }, Guard)
  if opts.hash_key_file then
    self.hash_key, err = read_hash_key(opts.hash_key_file)
    if not self.hash_key then r:close() return nil, err end
  end
  if opts.budget_id ~= nil and not tostring(opts.budget_id):match("^[%w_.-]+$") then
    r:close()
    return nil, "--budget-id: letters, digits, '_', '.', '-' only"
  end
  local common = { instances = self.instances, log = log }
  if opts.rate then
    self.limiter = require("qxt.shared.ratelimit").new(r, { rate = opts.rate, burst = opts.burst,
      instances = self.instances, log = log })
  end
  local budget = require("qxt.shared.budget")
  if opts.budget and opts.budget_id then
    self.budgets[#self.budgets + 1] = budget.new(r, { name = "run:" .. opts.budget_id, limit = opts.budget,
      instances = common.instances, log = log })
  elseif opts.budget then
    self.budgets[#self.budgets + 1] = counted(opts.budget)
  end
  if opts.daily_budget then
    self.budgets[#self.budgets + 1] = budget.new(r, { name = budget.DAILY, window = "day", limit = opts.daily_budget,
      instances = common.instances, log = log })
  end
  self.halt = require("qxt.shared.halt").new(r, { log = log })
  -- The first connect, in the loop, for at most a second: a start against a
  -- dead Redis says so once, rather than at the first query.
  local state, why = r:settle(1)
  if state ~= "up" then
    log(("Redis at %s unreachable at start (%s): local fallbacks until it answers"):format(r.where, tostring(why)))
  else
    log(("shared state on Redis at %s (prefix %s)"):format(r.where, r.prefix))
  end
  return self
end

function Guard:halted()
  return self.halt:check()
end

function Guard:before_send()
  local why = self.halt:check()
  if why then return why, true end
  for i, b in ipairs(self.budgets) do
    local ok, err = b:take()
    if not ok then
      -- Not sent: what the budgets before this one gave is given back.
      for j = 1, i - 1 do self.budgets[j]:untake() end
      if err == "exhausted" then return b:exhausted() end
      return ("budget: Redis unreachable and this instance's lease is spent (%s); nothing sent"):format(err)
    end
  end
  if self.limiter then self.limiter:take() end
  why = self.halt:check()
  if why then return why, true end
  return nil
end

function Guard:fatal(why)
  self.halt:raise(why)
end

function Guard:modes()
  local budget = "off"
  for _, b in ipairs(self.budgets) do
    local m = b:status().mode
    if budget ~= "closed" then budget = m end
  end
  return { redis = self.r and (self.r:state()) or "off",
           rate = self.limiter and (self.limiter.mode and self.limiter:mode() or "embedded") or "off",
           budget = budget, halt = self.halt:mode() }
end

function Guard:hash(s)
  if not self.hash_key then return nil end
  local crypto = require("qxt.crypto")
  return crypto.hex(crypto.hmac(self.hash_key, s))
end

--- The guard of one instance alone (no --redis): see the header.
--- `qxtv serve --rate/--budget` without Redis and every run without
--- `shared` use it.
function _M.embedded(opts)
  return setmetatable({ limiter = opts.rate and require("qxt.step.ratelimit").new(opts.rate, opts.burst),
                        budgets = { opts.budget and counted(opts.budget) or nil }, halt = setmetatable({}, Own) },
                      Guard)
end

function Guard:close()
  if self.closed or not self.r then return end
  self.closed = true
  for _, b in ipairs(self.budgets) do
    if self.r:up() then b:release() end
  end
  self.r:close()
end

return _M
