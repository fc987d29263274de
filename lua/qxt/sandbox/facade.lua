-- qxt.sandbox.facade: the `qxt`, `verify`, `io` and `os` a `run --sandbox`
-- flow gets. An allow-list, built fresh for each flow: every table in it is
-- new, and nothing reachable from it by indexing is a table of the real
-- library, a module, a loader or a function that opens a file or a socket
-- on its own. What it hands out that does touch files (sources, sinks,
-- qxt.mkdir, io.open, the journal, the report) first checks the path
-- against the operator's allow-lists (qxt.sandbox.paths); the objects it
-- returns are proxies holding methods only, so a flow cannot retarget one
-- by changing its fields. verify() and qxt.flow take no option that
-- changes the endpoint, the apikey, TLS or timeouts.
local paths = require("qxt.sandbox.paths")

local _M = {}

local function unavailable(name)
  return function(_, k)
    error(("%s.%s is not available in the sandbox"):format(name, tostring(k)), 2)
  end
end

-- A namespace: reading a name it does not have raises. call: its __call.
local function namespace(name, t, call)
  return setmetatable(t, { __index = unavailable(name), __call = call, __metatable = false })
end

-- A namespace whose members are built on first use (as qxt's modules are
-- loaded on first use: a three-line flow does not load SQLite).
local function lazy_namespace(name, builders, eager)
  return setmetatable(eager or {}, {
    __index = function(t, k)
      local build = builders[k]
      if not build then error(("%s.%s is not available in the sandbox"):format(name, tostring(k)), 2) end
      local v = build()
      rawset(t, k, v)
      return v
    end,
    __metatable = false,
  })
end

-- Data of a pure module, copied (functions are shared: they hold no
-- capability; tables are not: they are the library's own).
local function copy(v, seen)
  if type(v) ~= "table" then return v end
  seen = seen or {}
  if seen[v] then return seen[v] end
  local t = {}
  seen[v] = t
  for k, x in pairs(v) do t[copy(k, seen)] = copy(x, seen) end
  return t
end

--- new{ read = {paths}, write = {dirs}, arg = arg table } -> the fields of
-- the flow's environment: qxt, verify, io, os, print, arg.
-- By default readable: the script (arg[0]) and its arguments that name
-- existing files; writable: the directory after its --out.
function _M.new(opts)
  local core = require("qxt.sandbox.core")
  local real = _G.qxt
  local arg = opts.arg or {}
  local read, write = {}, {}
  for _, p in ipairs(opts.read or {}) do read[#read + 1] = p end
  for _, p in ipairs(opts.write or {}) do write[#write + 1] = p end
  if arg[0] and core.is_file(arg[0]) then read[#read + 1] = arg[0] end
  for i, a in ipairs(arg) do
    if a == "--out" and arg[i + 1] then write[#write + 1] = arg[i + 1] end
    local out = a:match("^%-%-out=(.+)$")
    if out then write[#write + 1] = out end
    if core.is_file(a) then read[#read + 1] = a end
  end
  local policy = paths.new{ read = read, write = write }

  -- proxy -> the real object, for qxt.flow (which runs as trusted code)
  local real_of = setmetatable({}, { __mode = "k" })
  local function wrap(obj, methods)
    local proxy = {}
    for _, m in ipairs(methods) do
      if type(obj[m]) == "function" then
        proxy[m] = function(_, ...) return obj[m](obj, ...) end
      end
    end
    real_of[proxy] = obj
    return proxy
  end
  local SOURCE = { "records", "columns", "mapping", "total", "encoding", "encoding_note", "close" }
  local SINK = { "write", "flush", "close" }

  -- A source or sink opened by path: the path is checked first.
  local function opener(module, check, methods)
    return function(target, ...)
      if type(target) == "string" then check(policy, target) end
      local obj, err = require(module).open(target, ...)
      if not obj then return nil, err end
      return wrap(obj, methods)
    end
  end

  local source = namespace("qxt.source", {
    csv = opener("qxt.source.csv", policy.check_read, SOURCE),
    jsonl = opener("qxt.source.jsonl", policy.check_read, SOURCE),
    table = opener("qxt.source.table", policy.check_read, SOURCE),
    stdin = opener("qxt.source.stdin", policy.check_read, SOURCE),
  })
  local sink = namespace("qxt.sink", {
    csv = opener("qxt.sink.csv", policy.check_write, SINK),
    jsonl = opener("qxt.sink.jsonl", policy.check_write, SINK),
    stdout = opener("qxt.sink.stdout", policy.check_write, SINK),
  })

  local function verify(mobile, name, vopts)
    if vopts ~= nil then
      error("verify: options are not available in the sandbox (the endpoint, the apikey, TLS and "
            .. "timeouts are the operator's)", 2)
    end
    return real.verify(mobile, name)
  end

  local function flow(fopts)
    if type(fopts) ~= "table" then error("qxt.flow wants a table of options", 2) end
    if fopts.verify ~= nil then
      error("qxt.flow: option 'verify' is not available in the sandbox (the endpoint, the apikey, "
            .. "TLS and timeouts are the operator's)", 2)
    end
    if fopts.shared ~= nil then
      error("qxt.flow: option 'shared' is not available in the sandbox (Redis and its password are the "
            .. "operator's)", 2)
    end
    local o = {}
    for k, v in pairs(fopts) do o[k] = real_of[v] or v end
    if type(o.journal) == "string" then policy:check_write(o.journal) end
    if type(o.sinks) == "table" then
      o.sinks = {}
      for k, v in pairs(fopts.sinks) do o.sinks[k] = real_of[v] or v end
    end
    return real.flow(o)
  end

  local journal = namespace("qxt.journal", {
    open = function(path, jopts)
      policy:check_write(path)
      jopts = jopts or {}
      if jopts.input ~= nil then policy:check_read(jopts.input) end
      local j, err = real.journal.open(path, { input = jopts.input, flow = jopts.flow,
                                                resume = jopts.resume, window = jopts.window })
      if not j then return nil, err end
      local proxy = wrap(j, { "close" })
      proxy.reuse_from = function(_, from, max_age)
        policy:check_read(from)
        return j:reuse_from(from, max_age)
      end
      return proxy
    end,
    identity = function(path)
      policy:check_read(path)
      return real.journal.identity(path)
    end,
    fingerprint = function(text) return real.journal.fingerprint(text) end,
    is_answer = function(result) return real.journal.is_answer(result) end,
  })

  local rules = namespace("qxt.rules", {
    new = function(list) return real.rules.new(list) end,
    load = function(path, ropts)
      policy:check_read(path)
      local o = copy(ropts or {})
      if o.sandbox == false then
        error("qxt.rules.load: sandbox = false is not available in the sandbox", 2)
      end
      o.sandbox = true
      return real.rules.load(path, o)
    end,
  }, function(_, list) return real.rules.new(list) end)

  local function clean()
    local c = copy(real.clean)
    c.new = function(...)
      local cl = real.clean.new(...)
      return { mobile = cl.mobile, name = cl.name, record = cl.record, max_name_length = cl.max_name_length,
               mobile_rules = copy(cl.mobile_rules), name_rules = copy(cl.name_rules) }
    end
    return c
  end

  local q = lazy_namespace("qxt", {
    flow = function()
      -- the exit codes (integers, nothing to reach through) and run
      local members = { run = flow }
      for k, v in pairs(real.flow) do
        if type(k) == "string" and k:match("^EXIT_") and math.type(v) == "integer" then members[k] = v end
      end
      return namespace("qxt.flow", members, function(_, fopts) return flow(fopts) end)
    end,
    retry = function() return copy(real.retry) end,
    clean = clean,
    mask = function() return copy(real.mask) end,
    route = function()
      local r = copy(real.route)
      r.rules = rules.new
      return r
    end,
    codes = function() return copy(real.codes) end,
    exit = function()
      local names = copy(real.exit)
      return namespace("qxt.exit", names)
    end,
    report = function()
      return namespace("qxt.report", {
        html = real.report.html,
        write = function(s, path)
          policy:check_write(path)
          return real.report.write(s, path)
        end,
      })
    end,
  }, {
    version = real.version,
    verify = verify,
    now = real.now, sleep = real.sleep, spawn = real.spawn, wait = real.wait, stats = real.stats,
    code_info = real.code_info, isatty = real.isatty, termwidth = real.termwidth,
    exit_status = real.exit_status,
    config = function()
      local c = real.config()
      c.endpoint = nil        -- it may carry credentials (user:password@)
      return c
    end,
    mkdir = function(path)
      policy:check_write(path, "creating")
      return real.mkdir(path)
    end,
    source = source, sink = sink, journal = journal, rules = rules,
    -- private files and the run's lock, where the flow may write
    file = namespace("qxt.file", {
      open_private = function(path)
        policy:check_write(path)
        return real.file.open_private(path)
      end,
      lock = function(path)
        policy:check_write(path)
        return real.file.lock(path)
      end,
    }),
  })

  -- io: the standard streams (write only) and open() of allowed paths.
  local function stream(f)
    local s = {}
    s.write = function(self, ...)
      f:write(...)
      return self
    end
    s.flush = function() return f:flush() end
    return s
  end
  local stdout = stream(io.stdout)
  local fio = namespace("io", {
    stdout = stdout, stderr = stream(io.stderr),
    write = function(...) return stdout:write(...) end,
    type = io.type,
    open = function(path, mode)
      mode = mode or "r"
      if type(mode) ~= "string" then error("bad argument #2 to 'open' (invalid mode)", 2) end
      if mode:find("[wa+]") then policy:check_write(path) else policy:check_read(path) end
      return io.open(path, mode)
    end,
  })
  local exit = os.exit
  local fos = namespace("os", {
    time = os.time, clock = os.clock, date = os.date, difftime = os.difftime,
    exit = function(code) exit(code) end,
  })

  local args = {}
  for k, v in pairs(arg) do args[k] = v end
  return { qxt = q, verify = verify, io = fio, os = fos, print = print, arg = args }
end

return _M
