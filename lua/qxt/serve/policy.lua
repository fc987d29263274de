--- qxt.serve.policy: the hook points of `qxtv serve`'s request policy, with
-- defaults that admit everything and cache nothing. The real policy (token
-- file, per-caller QPS and budget, per-subject limits, answer cache,
-- idempotency, coalescing) plugs in here as an object with the same methods;
-- the handler (qxt.serve.app) calls them and nothing else.
--
--   policy:authenticate(req)      -> caller | nil, reason        (401 when nil)
--   policy:admit(caller, req)     -> true | status, reason, retry_after_s
--   policy:lookup(pair)           -> nil | { result =, age_s =, source = "cache"|"idempotent" }
--   policy:store(pair, result)    -- after a provider answer
--   policy:refused(caller, status, reason) -- a refusal, for counting
-- req is the HTTP request { method, path, headers, body, remote }; pair is
-- { mobile =, name = (both cleaned), request_id = (string or nil), caller = }.
-- result is verify()'s result table (class, code, status, area, isp, ...).
local _M = {}

local Policy = {}
Policy.__index = Policy

function Policy.authenticate() return "anonymous" end
function Policy.admit() return true end
function Policy.lookup() return nil end
function Policy.store() end
function Policy.refused() end

--- The no-op policy: every caller is "anonymous", everything is admitted.
function _M.default()
  return setmetatable({}, Policy)
end

-- Equal strings in time that depends only on their lengths.
local function same(a, b)
  if #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do diff = diff | (a:byte(i) ~ b:byte(i)) end
  return diff == 0
end

--- tokens(path) -> policy | nil, why: callers from a file of `name sha256hex`
-- lines (the SHA-256 of the bearer token, never the token itself; # comments
-- and blank lines skipped). A stand-in for the full token policy: every
-- other hook is the default's.
function _M.tokens(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local list, n = {}, 0
  for line in f:lines() do
    n = n + 1
    if not line:match("^%s*$") and not line:match("^%s*#") then
      local name, hex = line:match("^%s*(%S+)%s+(%x+)%s*$")
      if not name or #hex ~= 64 then
        f:close()
        return nil, ("%s:%d: want `name sha256hex` (64 hex digits)"):format(path, n)
      end
      list[#list + 1] = { name = name, hash = hex:lower() }
    end
  end
  f:close()
  if #list == 0 then return nil, path .. ": no tokens" end
  local crypto = require("qxt.crypto")
  local p = _M.default()
  function p.authenticate(_, req)
    local auth = req.headers and req.headers.authorization or ""
    local token = auth:match("^[Bb]earer%s+(%S+)%s*$")
    if not token then return nil, "a bearer token is needed" end
    local hash = crypto.hex(crypto.sha256(token))
    local who
    for _, t in ipairs(list) do           -- every line compared: no early exit
      if same(hash, t.hash) then who = who or t.name end
    end
    if not who then return nil, "the token is not valid" end
    return who
  end
  return p
end

return _M
