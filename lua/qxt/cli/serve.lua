--- `qxtv serve FLOW.lua [--listen ADDR:PORT] [--tokens FILE] [--port-file FILE]
-- [--decision-log FILE] [--shadow CANDIDATE.lua] [--clock-file FILE]`:
-- the flow's decision as an HTTP service (docs/serve.md). The flow file is
-- trusted code, loaded as `qxtv run` loads it, with qxt.serving = true: it
-- returns { rules = qxt.rules{...} or a function, clean = a cleaner } instead
-- of running its batch (qxt.serve.flow). SIGHUP loads it (and the shadow)
-- again and reopens the decision log.
local args = require("qxt.cli.args")
local exit = require("qxt.exit")
local flow = require("qxt.serve.flow")

local USAGE = "usage: qxtv serve FLOW.lua [--listen ADDR:PORT] [--tokens FILE] [--port-file FILE]\n"
  .. "                  [--decision-log FILE|-] [--shadow CANDIDATE.lua] [--clock-file FILE]\n"
  .. "                  [--rate QPS] [--budget N] [--redis URL [--redis-password-file FILE] [--redis-prefix P]\n"
  .. "                  [--redis-timeout MS] [--instances N] [--hash-key-file FILE] [--budget-id ID]\n"
  .. "                  [--daily-budget N]]"
local VALUED = { listen = true, tokens = true, ["port-file"] = true, ["decision-log"] = true,
                 shadow = true, ["clock-file"] = true }
local shared_cli = require("qxt.shared.cli")

local say = args.sayer("serve")

local function parse(list)
  local o, err = args.parse(list, {
    valued = VALUED,
    other = function(o, name, value)
      if name == "rate" or name == "budget" then
        -- The provider's limits over every instance (with --redis) or this one.
        local n = tonumber(value)
        if name == "budget" then n = math.tointeger(n) end
        if not n or n <= 0 then return nil, "--" .. name .. " wants a positive number" end
        o[name] = n
        return true
      end
      if shared_cli.OPTIONS[name] then return shared_cli.set(o, name, value) end
      return false
    end,
  })
  if not o then return nil, err end
  if #o.words > 1 then return nil, "one FLOW.lua only (got also " .. o.words[2] .. ")" end
  o.flow = o.words[1]
  o.listen = o.listen or "127.0.0.1:8088"
  if not o.flow then return nil, "serve wants a FLOW.lua" end
  o.shared, err = shared_cli.finish(o)
  if err then return nil, err end
  local host, port = o.listen:match("^%[?([^%]]*)%]?:(%d+)$")
  port = tonumber(port)
  if not host or host == "" or not port or port > 65535 then
    return nil, "--listen wants ADDR:PORT, e.g. 127.0.0.1:8088, not " .. o.listen
  end
  o.host, o.port = host, port
  return o
end

-- Whether two serve tables say the same (plain data: numbers, booleans,
-- strings, tables).
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- The flow and its shadow, loaded together: both or neither.
local function load_all(o)
  local rev, err = flow.load(o.flow)
  if not rev then return nil, err end
  if o.shadow then
    local shadow
    shadow, err = flow.load(o.shadow)
    if not shadow then return nil, "shadow: " .. err end
    rev.shadow = shadow
  end
  return rev
end

-- SIGHUP: the log reopened, the flow and its shadow loaded again and, when
-- both load and pass their self_test, swapped in; else the running
-- revision stays and the log says why.
local function reloader(o, app, decisions, serve_table)
  local masked = require("qxt.serve.server").masked
  return function()
    if decisions then
      local ok, err = decisions:reopen()
      if not ok then say("decision log not reopened (still writing the old file): ", tostring(err)) end
    end
    local old = app.rev
    local rev, err = load_all(o)
    -- A changed serve table is checked (a bad one refuses the reload) but
    -- applies only at the next start; an unchanged one is the running one.
    local changed = rev and not same(rev.decision.serve, serve_table)
    if changed then
      local okp, perr = pcall(require("qxt.serve.policy").new, rev.decision.serve)
      if not okp then rev, err = nil, o.flow .. ": serve: " .. tostring(perr) end
    end
    if not rev then
      app.metrics:reload(false)
      say(("reload refused, still serving revision %s: %s"):format(old.revision:sub(1, 12), masked(err)))
      return
    end
    if changed then
      say("the flow's serve table changed: limits, cache and idempotency are set at start; "
          .. "restart to apply them (the rules reload now)")
    end
    app:reload(rev)
    app.metrics:reload(true)
    say(("reloaded %s: revision %s (was %s)%s"):format(o.flow, rev.revision:sub(1, 12), old.revision:sub(1, 12),
      rev.shadow and (", shadow revision " .. rev.shadow.revision:sub(1, 12)) or ""))
  end
end

return function(...)
  local o, why = parse({ ... })
  if not o then return args.fail("serve", why, USAGE) end
  local rev, err = load_all(o)
  if not rev then
    say(err)
    return exit.FAILED
  end
  local decision = rev.decision
  local tokens
  if o.tokens then
    tokens, err = require("qxt.serve.tokens").load(o.tokens)
    if not tokens then
      say("cannot use the tokens: ", tostring(err))
      return exit.USAGE
    end
  end
  local clock
  if o["clock-file"] then
    clock, err = require("qxt.serve.testclock").open(o["clock-file"])
    if not clock then
      say("cannot use the test clock: ", tostring(err))
      return exit.USAGE
    end
    say(("TEST CLOCK: --clock-file %s moves the policy's clock forward (offset %s s); "
         .. "for tests, not for production (docs/serve.md)"):format(o["clock-file"], clock.offset))
  end
  -- The guard before every provider query: the rate limit, the budgets and
  -- the halt, shared through Redis with --redis (docs/scale-out.md).
  local guard
  if o.shared then
    local s = o.shared
    s.rate, s.budget, s.log = o.rate, o.budget, function(msg) say(msg) end
    guard, err = require("qxt.shared").open(s)
    if not guard then
      say(tostring(err))
      return exit.USAGE
    end
  elseif o.rate or o.budget then
    guard = require("qxt.shared").embedded{ rate = o.rate, budget = o.budget }
  end
  -- The flow's `serve` table sets the limits, the cache and idempotency
  -- (docs/serve-policy.md); a bad one stops the start, naming it. With
  -- --redis and --hash-key-file they live there, shared by the instances
  -- (the guard's connection, hashes keyed with the file's secret).
  -- Without --hash-key-file the instances could not agree on a key without
  -- a mobile or a name in it: the guard is shared, this state is not.
  local shared
  if o.shared and guard.hash_key then
    shared = { redis = guard.r, hash_key = guard.hash_key, log = function(msg) say(msg) end }
  elseif o.shared then
    say("--redis without --hash-key-file: the cache, request ids, names per mobile, the pair interval "
      .. "and coalescing stay in this instance (give every instance the same --hash-key-file to share them)")
  end
  local okp, pol = pcall(require("qxt.serve.policy").new, decision.serve,
                         clock and function() return clock:now() end or nil, shared)
  if not okp then
    if guard then guard:close() end
    say(o.flow, ": serve: ", tostring(pol))
    return exit.USAGE
  end
  local decisions
  decisions, err = require("qxt.serve.decision_log").open(o["decision-log"])
  if not decisions then
    if guard then guard:close() end
    say("cannot open the decision log: ", tostring(err))
    return exit.USAGE
  end
  local httpd = require("qxt.httpd.core")
  local ok, srv = pcall(httpd.listen, o.host, o.port)
  if not ok then
    say(tostring(srv))
    decisions:close()
    if guard then guard:close() end
    return exit.FAILED
  end
  local app = require("qxt.serve.app").new{
    flow = rev, policy = pol, tokens = tokens, apikey = qxt.config().has_apikey,
    log = function(msg) say(msg) end, decisions = decisions, guard = guard,
    info = clock and function() return { clock_offset_s = clock.offset } end or nil,
  }
  if o["port-file"] then
    local f = assert(io.open(o["port-file"] .. ".tmp", "w"))
    f:write(srv:port(), "\n")
    f:close()
    assert(os.rename(o["port-file"] .. ".tmp", o["port-file"]))
  end
  -- A server keeps a large, long-lived heap (the cache, the limits' subjects)
  -- and makes short-lived garbage per request: the generational collector
  -- leaves the old part alone, so its pauses do not grow with the cache
  -- (tests/bench/serve.sh: the added p99 at 1,000 req/s fell ~3x).
  collectgarbage("generational")
  say(("serving %s (revision %s%s) on %s:%d"):format(o.flow, rev.revision:sub(1, 12),
    rev.shadow and (", shadow " .. o.shadow .. " revision " .. rev.shadow.revision:sub(1, 12)) or "",
    o.host, srv:port()))
  require("qxt.serve.server").run(srv, function(req) return app:handle(req) end, {
    log = say,
    hangup = reloader(o, app, decisions, decision.serve),
    tick = function()
      decisions:flush()
      if clock then
        local msg = clock:poll()
        if msg then say(msg) end
      end
    end,
  })
  decisions:close()
  if guard then guard:close() end
  return exit.OK
end
