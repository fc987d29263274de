--- qxt.serve.hooks: the hook points of `qxtv serve`'s request handling, with
-- defaults that admit everything and cache nothing. The handler
-- (qxt.serve.app) calls these methods and nothing else, so a policy plugs
-- in as an object with the same methods. The full policy (per-caller QPS
-- and budget, per-subject limits, answer cache, idempotency, coalescing) is
-- qxt.serve.policy; wiring it in here is the next step of issue 15.
--
--   hooks:authenticate(req)      -> caller | nil, reason        (401 when nil)
--   hooks:admit(caller, req)     -> true | status, reason, retry_after_s
--   hooks:lookup(pair)           -> nil | { result =, age_s =, source = "cache"|"idempotent" }
--   hooks:store(pair, result)    -- after a provider answer
--   hooks:refused(caller, status, reason) -- a refusal, for counting
-- req is the HTTP request { method, path, headers, body, remote }; pair is
-- { mobile =, name = (both cleaned), request_id = (string or nil), caller = }.
-- result is verify()'s result table (class, code, status, area, isp, ...).
local _M = {}

local Hooks = {}
Hooks.__index = Hooks

function Hooks.authenticate() return "anonymous" end
function Hooks.admit() return true end
function Hooks.lookup() return nil end
function Hooks.store() end
function Hooks.refused() end

--- The default: every caller is "anonymous", everything is admitted.
function _M.default()
  return setmetatable({}, Hooks)
end

--- tokens(path) -> hooks | nil, why: callers from a token file (qxt.serve.tokens:
-- `NAME SHA256HEX` lines, a file only its owner may read, every hash compared
-- in constant time); every other hook is the default's.
function _M.tokens(path)
  local t, err = require("qxt.serve.tokens").load(path)
  if not t then return nil, err end
  local h = _M.default()
  function h.authenticate(_, req)
    return t:check(req.headers and req.headers.authorization)
  end
  return h
end

return _M
