--- qxt.serve.flow: a flow file loaded as `qxtv serve`'s decision, at start
-- and again on SIGHUP. A flow is trusted code, loaded as `qxtv run` loads
-- it, with qxt.serving = true: it returns its decision instead of running
-- its batch (docs/serve.md, "One flow file for run and serve").
--
--   local flow = require("qxt.serve.flow")
--   local rev, why = flow.load(path)
--     rev   { path, revision (hex SHA-256 of the text that was loaded),
--             decision (the table the flow returned), rules (function|nil),
--             cleaner (decision.clean or the built-in cleaning) }
--     why   "PATH: what is wrong" when the file does not load, returns no
--           decision, or fails its own self_test; nothing is half-loaded.
--   flow.decide(rev, record, result) -> route, rule   (the default outcomes
--     when the rules give none); may raise: the rules are the flow's code.
--
-- self_test: a decision may hold `self_test = function(check) ... end`,
-- run once the file has loaded, before the revision serves (at start: a
-- failure stops the start; on SIGHUP: the running revision stays). It gets
-- check(record, result) -> route, rule | nil, reason, field: the record
-- cleaned by this revision's cleaning (nil and the reason when it rejects
-- it), then decided by its rules, as a request would be, without a query.
-- It passes only by returning true; false or nil (with an optional reason
-- as second value) or an error fails it. It must not call verify(): a
-- self-test is free, and a reload must not spend money.
local route = require("qxt.step.route")

local _M = {}

-- While a flow loads or tests itself nothing may reach the provider: a flow
-- missing its `if qxt.serving` return, or a self_test calling verify(),
-- would otherwise pay at every start and every SIGHUP.
local function no_query()
  error("verify() while the flow loads or runs its self_test: under `qxtv serve` a flow returns its decision "
    .. "and queries only for requests (docs/serve.md)", 2)
end

local function without_queries(f, ...)
  local global, core = rawget(_G, "verify"), rawget(qxt, "verify")
  rawset(_G, "verify", no_query)
  rawset(qxt, "verify", no_query)
  local r = table.pack(pcall(f, ...))
  rawset(_G, "verify", global)
  rawset(qxt, "verify", core)
  return table.unpack(r, 1, r.n)
end

local HOW = "under `qxtv serve` a flow ends with "
  .. "`if qxt.serving then return { rules = ..., clean = ... } end` before its batch (docs/serve.md)"

--- flow.decide(rev, record, result) -> route, rule
function _M.decide(rev, record, result)
  return route.decide(rev.rules, record, result)
end

-- The check a self_test gets: what this revision would answer.
local function checker(rev)
  return function(record, result)
    if type(record) ~= "table" or type(result) ~= "table" then
      error("check(record, result): two tables", 2)
    end
    local r = {}
    for k, v in pairs(record) do r[k] = v end
    local ok, reason, field = rev.cleaner.record(r)
    if not ok then return nil, reason, field end
    return _M.decide(rev, r, result)
  end
end

local function self_test(rev, path)
  local t = rev.decision.self_test
  if t == nil then return true end
  if type(t) ~= "function" then return nil, path .. ": self_test must be a function (check) -> true" end
  local ok, passed, why = without_queries(t, checker(rev))
  if not ok then return nil, path .. ": self_test raised: " .. tostring(passed) end
  if passed ~= true then
    return nil, path .. ": self_test failed" .. (why ~= nil and (": " .. tostring(why)) or " (it returned "
      .. tostring(passed) .. ", not true)")
  end
  return true
end

--- flow.load(path) -> rev | nil, why
function _M.load(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  if not text then return nil, path .. ": cannot read it" end
  -- The revision is the hash of the very text loaded: a file replaced
  -- while it is read cannot serve under another file's revision.
  local crypto = require("qxt.crypto")
  local revision = crypto.hex(crypto.sha256(text))
  local chunk
  chunk, err = load(text, "@" .. path, "t")
  if not chunk then return nil, err end
  rawset(qxt, "serving", true)
  local saved = rawget(_G, "arg")
  rawset(_G, "arg", { [0] = path })
  local ok, d = without_queries(chunk)
  rawset(_G, "arg", saved)
  if not ok then return nil, path .. ": " .. tostring(d) end
  if type(d) ~= "table" then return nil, path .. " returned no decision: " .. HOW end
  if d.rules ~= nil and type(d.rules) ~= "function" then
    return nil, path .. ": rules must be qxt.rules{...} or a function (record, result) -> route, rule"
  end
  if d.clean ~= nil and (type(d.clean) ~= "table" or type(d.clean.record) ~= "function") then
    return nil, path .. ": clean must be a cleaner (qxt.clean.new())"
  end
  local rev = { path = path, revision = revision, decision = d, rules = d.rules,
                cleaner = d.clean or require("qxt.step.clean") }
  local passed, why = self_test(rev, path)
  if not passed then return nil, why end
  return rev
end

return _M
