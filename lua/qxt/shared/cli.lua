--- qxt.shared.cli: the command-line options of shared state, the same for
-- `qxtv serve` and scripts/verify_csv.lua (docs/cli.md):
--   --redis URL  --redis-password-file FILE  --redis-prefix P (default qxtv:)
--   --redis-timeout MS (default 50; "50ms" or "0.05s" too)  --instances N
--   --hash-key-file FILE  --budget-id ID  --daily-budget N
--
--   local cli = require("qxt.shared.cli")
--   if cli.OPTIONS[name] then local ok, err = cli.set(o, name, value) end   -- name without "--"
--   local shared, err = cli.finish(o)  -- the table qxt.shared.open wants (rate, budget added
--                                      -- by the caller), or nil without --redis
local _M = {}

_M.OPTIONS = { ["redis"] = "redis", ["redis-password-file"] = "password_file", ["redis-prefix"] = "prefix",
               ["redis-timeout"] = "timeout", ["instances"] = "instances", ["hash-key-file"] = "hash_key_file",
               ["budget-id"] = "budget_id", ["daily-budget"] = "daily_budget" }

local function positive_integer(v)
  local n = math.tointeger(tonumber(v))
  return n and n > 0 and n or nil
end

--- Takes option name (without "--") and its value into o.shared.
function _M.set(o, name, value)
  local key = _M.OPTIONS[name]
  if not key then return nil, "unknown option --" .. name end
  if value == nil then return nil, "--" .. name .. " wants a value" end
  o.shared = o.shared or {}
  if key == "timeout" then
    local n, unit = tostring(value):match("^(%d+%.?%d*)(%a*)$")
    n = tonumber(n)
    if unit == "s" then n = n and n * 1000 elseif unit ~= "" and unit ~= "ms" then n = nil end
    if not n or n <= 0 or n > 60000 then
      return nil, "--redis-timeout wants milliseconds (50, 50ms or 0.05s), not '" .. tostring(value) .. "'"
    end
    value = n / 1000
  elseif key == "instances" or key == "daily_budget" then
    value = positive_integer(value)
    if not value then return nil, "--" .. name .. " wants a positive whole number" end
  end
  o.shared[key] = value
  return true
end

--- The shared options, checked; nil, nil without any; nil, err when they
--- make no sense without --redis or the URL is malformed.
function _M.finish(o)
  local s = o.shared
  if not s then return nil end
  if not s.redis then
    local given = next(s)
    for cli_name, key in pairs(_M.OPTIONS) do
      if key == given then return nil, "--" .. cli_name .. " needs --redis URL" end
    end
  end
  local _, err = require("qxt.redis").parse_url(s.redis)
  if err then return nil, "--redis: " .. err end
  return s
end

return _M
