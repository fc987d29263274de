-- qxt.retry: when to ask the provider again, and after how long.
--
-- A policy is a function (result, attempt) -> delay_seconds | nil, called
-- after each answer; `attempt` is the number of the attempt that produced
-- `result` (1 for the first). nil means the answer is final.
--
--   local retry = require("qxt.step.retry")
--   local policy = retry.policy{ on = {-8, "transport"}, attempts = 5,   -- or retry{...}
--                                backoff = 0.2, factor = 2, max_delay = 10, jitter = 0.1 }
--   policy({code = -8, class = "transient"}, 1)   --> about 0.2
--   policy({code = -8, class = "transient"}, 5)   --> nil: 5 attempts in all
--
-- `on` mixes provider codes (-8) and result classes ("transient",
-- "transport", "no_record"). Answers of class ok, input and account (codes
-- 0, 1, -2, -3, -1, -5, -9, and any code the provider does not document) are
-- never retried: they are final, and asking again would spend money or hammer
-- a closed account; so is mismatch (an answer about someone else). Listing
-- one of them is a programming mistake and raises. The same guard wraps a
-- plain function given to retry.from(), so no script can retry them by
-- accident.
--
-- Money: a result with `possibly_charged = true` went out whole and got no
-- answer: the provider may have billed it. A policy re-sends such a request
-- at most `resend_possibly_charged` times (default 1) whatever `attempts`
-- says; failures before the request went out (connection refused, DNS) are
-- free and follow `attempts` alone. The policy's third argument is how many
-- of this record's attempts so far were possibly charged (qxt.flow passes
-- it); without it every attempt so far is taken as possibly charged.

local code_table = require("qxt.codes")

local _M = {}

-- Classes whose answers are final whatever a policy says, and the class of
-- each code: the engine's one table (qxt.codes), never a copy here.
local FINAL_CLASSES, KNOWN_CLASSES = {}, {}
for class, final in pairs(code_table.CLASSES) do
  KNOWN_CLASSES[class] = true
  FINAL_CLASSES[class] = final or nil
end

-- The class of a final code (a documented one, or any code the provider
-- does not document: class account), else nil.
local function final_code(code)
  if not code then return nil end
  local class = code_table.class(code)
  return FINAL_CLASSES[class] and class or nil
end

--- The defaults (docs/codes.md, docs/lua-api.md): -8 and transport failures, 5 attempts in all,
-- 0.2 s doubling (capped at 10 s), +-10% jitter; a possibly charged request
-- re-sent once.
_M.defaults = { on = { -8, "transport" }, attempts = 5, backoff = 0.2, factor = 2,
                max_delay = 10, jitter = 0.1, resend_possibly_charged = 1 }

local OPTIONS = { on = true, attempts = true, backoff = true, factor = true,
                  max_delay = true, jitter = true, random = true, resend_possibly_charged = true }

-- Policies made here: retry.from() gives them back as they are, so that a
-- flow wrapping one again keeps its explicit re-send count.
local made = setmetatable({}, { __mode = "k" })

local function is_final(result)
  if type(result) ~= "table" then
    return true
  end
  return FINAL_CLASSES[result.class] or final_code(math.tointeger(result.code)) ~= nil
end

-- True when result was possibly charged and re-sending it once more would
-- exceed `resend` re-sends of possibly charged attempts. charged: this
-- record's possibly charged attempts so far (this one included); unknown,
-- every attempt so far counts.
local function charged_enough(result, attempt, charged, resend)
  if not result.possibly_charged then return false end
  local n = math.tointeger(charged) or attempt
  return n > resend
end

local function check_resend(v, level)
  if math.type(v) ~= "integer" or v < 0 then
    error("retry: resend_possibly_charged must be a whole number >= 0 (how many times a request "
      .. "that was possibly charged may be sent again), got " .. tostring(v), level + 1)
  end
end

local function check_number(opts, key, min, max)
  local v = opts[key]
  if type(v) ~= "number" or v ~= v or v < min or (max and v > max) then
    error(string.format("retry.policy: %s must be a number %s %s%s, got %s", key,
      ">=", tostring(min), max and (" and <= " .. tostring(max)) or "", tostring(v)), 3)
  end
end

-- The `on` list as two sets; raises on entries that can never be retried.
local function compile_on(on)
  if type(on) ~= "table" then
    error("retry.policy: `on` must be a list of codes and class names, got " .. type(on), 3)
  end
  local codes, classes = {}, {}
  for i, entry in ipairs(on) do
    local code = math.tointeger(entry)
    if code then
      if final_code(code) then
        error(string.format("retry.policy: code %d (class %s) is final and never retried",
          code, final_code(code)), 3)
      end
      codes[code] = true
    elseif type(entry) == "string" and KNOWN_CLASSES[entry] then
      if FINAL_CLASSES[entry] then
        error(string.format("retry.policy: class %q is final and never retried", entry), 3)
      end
      classes[entry] = true
    else
      error(string.format("retry.policy: on[%d] = %s is neither a code nor a class name " ..
        "(transient, transport, no_record)", i, tostring(entry)), 3)
    end
  end
  return codes, classes
end

--- retry.policy(opts) -> function(result, attempt) -> delay | nil
-- opts: on, attempts, backoff, factor, max_delay, jitter (see defaults), and
-- random: a function returning a number in [0, 1) (default math.random),
-- for tests. Unknown keys raise, so a typo cannot silently mean "default".
function _M.policy(opts)
  opts = opts or {}
  if type(opts) ~= "table" then
    error("retry.policy: expected a table of options, got " .. type(opts), 2)
  end
  for key in pairs(opts) do
    if not OPTIONS[key] then
      error(string.format("retry.policy: unknown option %q", tostring(key)), 2)
    end
  end
  local o = {}
  for key, v in pairs(_M.defaults) do
    o[key] = v
  end
  for key, v in pairs(opts) do
    o[key] = v
  end
  local codes, classes = compile_on(o.on)
  if math.type(o.attempts) ~= "integer" or o.attempts < 1 then
    error("retry.policy: attempts must be an integer >= 1 (it counts the first attempt), got "
      .. tostring(o.attempts), 2)
  end
  check_number(o, "backoff", 0)
  check_number(o, "factor", 1)
  check_number(o, "max_delay", 0)
  check_number(o, "jitter", 0, 1)
  local random = o.random or math.random
  if type(random) ~= "function" then
    error("retry.policy: random must be a function, got " .. type(random), 2)
  end
  check_resend(o.resend_possibly_charged, 2)
  local attempts, backoff, factor, max_delay, jitter = o.attempts, o.backoff, o.factor,
    o.max_delay, o.jitter
  local resend = o.resend_possibly_charged

  local policy = function(result, attempt, charged)
    if math.type(attempt) ~= "integer" or attempt < 1 then
      error("retry policy: attempt must be the number (>= 1) of the attempt just made, got "
        .. tostring(attempt), 2)
    end
    if attempt >= attempts or is_final(result) or charged_enough(result, attempt, charged, resend) then
      return nil
    end
    if not (codes[math.tointeger(result.code)] or classes[result.class]) then
      return nil
    end
    local delay = math.min(max_delay, backoff * factor ^ (attempt - 1))
    if jitter > 0 then
      delay = delay * (1 + jitter * (2 * random() - 1))
    end
    return math.max(0, math.min(max_delay, delay))
  end
  made[policy] = resend
  return policy
end

--- retry.from(x [, opts]) -> policy function
-- x: a table of options (as retry.policy), a function (result, attempt,
-- charged) -> delay | nil, or nil for the defaults. A function is wrapped
-- so that final answers are never retried, a possibly charged request is
-- re-sent at most opts.resend_possibly_charged times (default 1), and a bad
-- return value raises with a clear message instead of stalling the run. A
-- policy this module made is returned as it is.
function _M.from(x, opts)
  if made[x] and opts == nil then
    return x
  elseif x == nil or type(x) == "table" then
    return _M.policy(x)
  elseif type(x) == "function" then
    opts = opts or {}
    for key in pairs(opts) do
      if key ~= "resend_possibly_charged" then
        error(string.format("retry.from: unknown option %q (a function decides the rest itself)",
          tostring(key)), 2)
      end
    end
    local resend = opts.resend_possibly_charged
    if resend == nil then resend = _M.defaults.resend_possibly_charged end
    check_resend(resend, 2)
    local policy = function(result, attempt, charged)
      if is_final(result) or (type(attempt) == "number" and charged_enough(result, attempt, charged, resend)) then
        return nil
      end
      local delay = x(result, attempt, charged)
      if delay ~= nil and (type(delay) ~= "number" or delay ~= delay or delay < 0) then
        error(string.format("retry policy returned %s; expected a delay in seconds (>= 0) or nil",
          tostring(delay)), 2)
      end
      return delay
    end
    made[policy] = resend
    return policy
  end
  error("retry.from: expected a table of options or a function, got " .. type(x), 2)
end

--- retry.resend_cap(policy) -> how many times the policy lets a possibly
-- charged request be sent again (the default for a policy made elsewhere).
-- qxt.flow asks it before re-sending what earlier runs possibly paid for.
function _M.resend_cap(policy)
  return made[policy] or _M.defaults.resend_possibly_charged
end

--- retry.is_final(result) -> boolean: true when no policy may retry result.
_M.is_final = function(result)
  return is_final(result) and true or false
end

-- qxt.retry{...} is qxt.retry.policy{...}, as the flow examples write it.
return setmetatable(_M, { __call = function(_, opts) return _M.policy(opts) end })
