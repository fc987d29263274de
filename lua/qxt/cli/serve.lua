--- `qxtv serve FLOW.lua [--listen ADDR:PORT] [--tokens FILE] [--port-file FILE]`:
-- the flow's decision as an HTTP service (docs/serve.md). The flow file is
-- trusted code, loaded as `qxtv run` loads it, with qxt.serving = true: it
-- returns { rules = qxt.rules{...} or a function, clean = a cleaner } instead
-- of running its batch.
local exit = require("qxt.exit")

local USAGE = "usage: qxtv serve FLOW.lua [--listen ADDR:PORT] [--tokens FILE] [--port-file FILE] "
  .. "[--rate QPS] [--budget N] [--redis URL [--redis-password-file FILE] [--redis-prefix P] "
  .. "[--redis-timeout MS] [--instances N] [--hash-key-file FILE] [--budget-id ID] [--daily-budget N]]"
local shared_cli = require("qxt.shared.cli")

local function say(...)
  io.stderr:write("qxtv serve: ", ...)
  io.stderr:write("\n")
end

local function parse(args)
  local o = { listen = "127.0.0.1:8088" }
  local i = 1
  while i <= #args do
    local a = args[i]
    local key = a:match("^%-%-([%w-]+)$")
    if key == "listen" or key == "tokens" or key == "port-file" then
      if not args[i + 1] then return nil, "--" .. key .. " wants a value" end
      o[key] = args[i + 1]
      i = i + 2
    elseif key == "rate" or key == "budget" then
      -- The provider's limits over every instance (with --redis) or this one.
      local n = tonumber(args[i + 1])
      if key == "budget" then n = math.tointeger(n) end
      if not n or n <= 0 then return nil, "--" .. key .. " wants a positive number" end
      o[key] = n
      i = i + 2
    elseif key and shared_cli.OPTIONS[key] then
      local ok, err = shared_cli.set(o, key, args[i + 1])
      if not ok then return nil, err end
      i = i + 2
    elseif key then
      return nil, "unknown option " .. a
    elseif not o.flow then
      o.flow = a
      i = i + 1
    else
      return nil, "one FLOW.lua only (got also " .. a .. ")"
    end
  end
  if not o.flow then return nil, "serve wants a FLOW.lua" end
  local err
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

--- Loads the flow's decision: a table { rules =, clean = }, or why not.
local function load_flow(path)
  local chunk, err = loadfile(path)
  if not chunk then return nil, err end
  rawset(qxt, "serving", true)
  local saved = rawget(_G, "arg")
  rawset(_G, "arg", { [0] = path })
  local ok, d = pcall(chunk)
  rawset(_G, "arg", saved)
  if not ok then return nil, path .. ": " .. tostring(d) end
  if type(d) ~= "table" then
    return nil, path .. " returned no decision: under `qxtv serve` a flow ends with "
      .. "`if qxt.serving then return { rules = ..., clean = ... } end` before its batch (docs/serve.md)"
  end
  if d.rules ~= nil and type(d.rules) ~= "function" then
    return nil, path .. ": rules must be qxt.rules{...} or a function (record, result) -> route, rule"
  end
  if d.clean ~= nil and (type(d.clean) ~= "table" or type(d.clean.record) ~= "function") then
    return nil, path .. ": clean must be a cleaner (qxt.clean.new())"
  end
  return d
end

return function(...)
  local o, why = parse({ ... })
  if not o then
    say(why)
    io.stderr:write(USAGE, "\n")
    return exit.USAGE
  end
  local decision, err = load_flow(o.flow)
  if not decision then
    say(err)
    return exit.FAILED
  end
  local tokens
  if o.tokens then
    tokens, err = require("qxt.serve.tokens").load(o.tokens)
    if not tokens then
      say("cannot use the tokens: ", tostring(err))
      return exit.USAGE
    end
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
  local okp, pol = pcall(require("qxt.serve.policy").new, decision.serve, nil, shared)
  if not okp then
    if guard then guard:close() end
    say(o.flow, ": serve: ", tostring(pol))
    return exit.USAGE
  end
  local _, revision = require("qxt.crypto").sha256_file(o.flow)
  local httpd = require("qxt.httpd.core")
  local ok, srv = pcall(httpd.listen, o.host, o.port)
  if not ok then
    say(tostring(srv))
    return exit.FAILED
  end
  local app = require("qxt.serve.app").new{
    decision = decision, policy = pol, tokens = tokens, revision = revision, apikey = qxt.config().has_apikey,
    log = function(msg) say(msg) end, guard = guard,
  }
  if o["port-file"] then
    local f = assert(io.open(o["port-file"] .. ".tmp", "w"))
    f:write(srv:port(), "\n")
    f:close()
    assert(os.rename(o["port-file"] .. ".tmp", o["port-file"]))
  end
  say(("serving %s (revision %s) on %s:%d"):format(o.flow, revision:sub(1, 12), o.host, srv:port()))
  require("qxt.serve.server").run(srv, function(req) return app:handle(req) end, { log = say })
  if guard then guard:close() end
  return exit.OK
end
