-- Escape attempts from a sandboxed rule file (qxt.rules.load): each one is
-- stopped with a clear message naming the file and the rule, the record
-- goes to review, and the host goes on with its library intact. The
-- `run --sandbox` routes (the qxt facade, files, the endpoint) are in
-- tests/e2e/sandbox_cli_spec.lua.
local sandbox = require("qxt.sandbox")

local RECORD = { mobile = "13972565391", name = "张三", fields = { mobile = "13972565391", name = "张三" } }
local ANSWER = { consistent = true, class = "ok", code = 0, isp = "中国电信", province = "湖北",
                 extra = { nested = "x" } }

-- A rule file whose single rule is `body` (the function's text); loads it
-- and routes one record. Returns sink, rule column, the record.
local function attempt(body, opts)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("return { { name = 'escape', route = 'approve', when = ", body, " }, otherwise = 'reject' }\n")
  f:close()
  local router = qxt.rules.load(path, opts)
  os.remove(path)
  local record = { mobile = RECORD.mobile, name = RECORD.name,
                   fields = { mobile = RECORD.fields.mobile, name = RECORD.fields.name } }
  local sink, rule = router(record, ANSWER)
  return sink, rule, record
end

local function refused(body, why, opts)
  local sink, rule = attempt(body, opts)
  assert.are.equal("unverified", sink, "routed to " .. tostring(sink) .. " (" .. tostring(rule) .. ")")
  assert.matches("^rule error: [^ ]+ rule 'escape': ", rule)
  assert.matches(why, rule)
  -- the host goes on: its own library is what it was
  assert.are.equal("ABC", ("abc"):upper())
  assert.are.equal(2, select(2, ("a.b.c"):gsub("%.", "")))
  assert.is_function(string.dump)
  return rule
end

describe("a sandboxed rule file cannot", function()
  it("change a nested table of the record (record.fields)", function()
    refused("function(rec) rec.fields.name = 'someone else' return true end", "read%-only")
  end)

  it("change a nested table of the result", function()
    refused("function(_, r) r.extra.nested = 'y' return true end", "read%-only")
  end)

  it("reach the string metatable (getmetatable)", function()
    refused("function() return getmetatable('').__index end", "getmetatable is not available in the sandbox")
  end)

  it("use rawget or rawset to go around the read-only record", function()
    refused("function(rec) rawset(rec, 'mobile', '1') return true end", "rawset is not available")
  end)

  it("start a coroutine to escape the instruction count", function()
    refused("function() local co = coroutine.wrap(function() while true do end end) co() end",
            "coroutine is not available")
  end)

  it("load a chunk with an environment of its choosing", function()
    refused("function() return load('return require', 'x', 't', _G)()('os') end",
            "require is not available")
  end)

  it("load a binary chunk through a reader function", function()
    refused([[function()
      local sent = false
      local f, err = load(function() if sent then return nil end sent = true return "\27Lua" end)
      if not f then error(err) end
      return f()
    end]], "binary")
  end)

  it("use debug", function()
    refused("function() return debug.getinfo(1) end", "debug is not available")
  end)

  it("run the collector (collectgarbage)", function()
    refused("function() collectgarbage('stop') return true end", "collectgarbage is not available")
  end)

  it("dump a function through the string metatable", function()
    refused("function() return ('').dump(print or tostring) end", "string.dump is not available")
  end)

  it("require a C module (cjson, qxt.core, qxt.sqlite.core, qxt.crypto, qxt.file, qxt.signal)", function()
    for _, m in ipairs{ "cjson", "qxt.core", "qxt.sqlite.core", "qxt.crypto", "qxt.file", "qxt.signal" } do
      refused(("function() return require(%q) end"):format(m), "require is not available")
    end
  end)

  it("find the library through _ENV or _G", function()
    refused("function() local e = _ENV return e.package.loaded end", "package is not available")
    refused("function() return _G.io.open('/etc/passwd') end", "io is not available")
  end)

  it("raise an error object whose message would run outside the limits", function()
    refused("function() error(setmetatable({}, { __tostring = function() while true do end end })) end",
            "setmetatable is not available")
    refused("function() error({}) end", "error object is a table value")
  end)

  it("swallow the instruction limit with pcall", function()
    refused("function() for _ = 1, 1e9 do pcall(function() while true do end end) end return true end",
            "instruction limit exceeded")
  end)

  it("bomb the memory with string.rep", function()
    refused("function() return ('x'):rep(1 << 30) end", "memory limit exceeded")
  end)

  it("loop for ever inside string.rep of an empty string (it returns at once)", function()
    local sink = attempt("function() return ('').rep('', math.maxinteger) == '' and string.rep('', 1 << 62) == '' end")
    assert.are.equal("approve", sink)
  end)

  it("loop for ever inside table.move", function()
    refused("function() table.move({}, 1, 1 << 52, 1, {}) return true end", "limit exceeded")
  end)

  it("recurse without end", function()
    refused("function() local function f(n) return 1 + f(n + 1) end return f(1) end", "memory limit exceeded")
  end)

  it("run a backtracking pattern for minutes (string.find)", function()
    refused("function() return string.find(('a'):rep(5000), ('a*'):rep(10) .. 'b') end",
            "instruction limit exceeded")
  end)

  it("run a backtracking pattern through the string metatable (s:match, s:gmatch, s:gsub)", function()
    refused("function() return ('a'):rep(5000):match(('a*'):rep(10) .. 'b') end", "instruction limit exceeded")
    refused("function() for _ in ('a'):rep(5000):gmatch(('a*'):rep(10) .. 'b') do end end",
            "instruction limit exceeded")
    refused("function() return (('a'):rep(5000):gsub(('a*'):rep(10) .. 'b', '')) end",
            "instruction limit exceeded")
  end)

  it("catch the pattern limit with pcall and go on", function()
    refused([[function()
      for _ = 1, 1000 do pcall(string.find, ('a'):rep(3000), ('a*'):rep(8) .. 'b') end
      return true
    end]], "instruction limit exceeded")
  end)

  it("change its rules after they were checked", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write([[local list
list = { { name = "a", route = "approve", when = function()
           list[1].route = {} list[1].name = {} list[2] = { when = 42, route = "x" } return false end },
         otherwise = "reject" }
return list]])
    f:close()
    local router = qxt.rules.load(path)
    os.remove(path)
    assert.are.same({ "reject", "otherwise" }, { router(RECORD, ANSWER) })
    assert.are.same({ "reject", "otherwise" }, { router(RECORD, ANSWER) })
  end)
end)

describe("the sandbox environment", function()
  -- Everything a rule file can reach from its environment by indexing
  -- (what a sandboxed chunk can do without getmetatable or debug).
  local function reachable(root)
    local seen, out = {}, {}
    local function walk(v)
      if (type(v) ~= "table" and type(v) ~= "function") or seen[v] then return end
      seen[v] = true
      out[#out + 1] = v
      if type(v) == "table" then
        for k, x in next, v do walk(k); walk(x) end
      end
    end
    walk(root)
    return out
  end

  -- What sandboxed code must never get hold of: the library's tables and
  -- modules, and every function that opens a file, a process or a module,
  -- or reaches the endpoint with options.
  local function dangerous()
    local danger = {}
    local fine = { [io.type] = true, [os.time] = true, [os.clock] = true, [os.date] = true,
                   [os.difftime] = true }
    for _, lib in ipairs{ io, os, debug, package, coroutine } do
      for _, fn in pairs(lib) do if not fine[fn] then danger[fn] = true end end
    end
    for _, fn in ipairs{ require, load, loadfile, dofile, collectgarbage, getmetatable, setmetatable,
                         rawget, rawset, string.dump, string.find, string.match, string.gmatch,
                         string.gsub, string.rep, table.move, qxt.mkdir, qxt.verify, verify,
                         qxt.rules.load, qxt.report.write, qxt.journal.open, qxt.journal.identity,
                         qxt.csv.open, qxt.csv.reader, qxt.csv.writer, qxt.flow.run,
                         require("qxt.source.csv").open, require("qxt.source.jsonl").open,
                         require("qxt.sink.csv").open, require("qxt.sink.jsonl").open } do
      danger[fn] = true
    end
    for _, fn in pairs(require("qxt.sqlite.core")) do danger[fn] = true end
    for _, fn in pairs(require("qxt.crypto")) do danger[fn] = true end
    for _, fn in pairs(require("qxt.file")) do danger[fn] = true end
    for _, t in pairs(package.loaded) do danger[t] = true end
    danger[_G] = true
    danger[debug.getregistry()] = true
    return danger
  end

  local function check(env)
    local danger, bad = dangerous(), {}
    for _, v in ipairs(reachable(env)) do
      if danger[v] then bad[#bad + 1] = tostring(v) end
    end
    assert.are.same({}, bad)
  end

  it("of a rule file holds no table of the real library and no function that reaches files, processes or modules",
     function()
    check(sandbox.env())
  end)

  it("of run --sandbox (the qxt facade) holds none either, once every member is built", function()
    local fields = require("qxt.sandbox.facade").new{ read = {}, write = {}, arg = { [0] = "x.lua" } }
    for _, k in ipairs{ "flow", "retry", "clean", "mask", "route", "codes", "report" } do
      assert.is_table(fields.qxt[k])
    end
    check(fields)
    -- and what its sources hand out
    local src = fields.qxt.source.table{ { mobile = "13972565391", name = "张三" } }
    check(src)
    check({ src:records()() })
  end)

  it("of run --sandbox: an Excel workbook and its sheets are proxies too", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local fields = require("qxt.sandbox.facade").new{ read = {}, write = { dir }, arg = { [0] = "x.lua" } }
    local book = fields.qxt.sink.xlsx(dir .. "/results.xlsx", { columns = { "mobile", "name" } })
    check(book)
    check(book:sinks{ "consistent" })
    check(book:sheet("invalid"))
    assert.has_error(function() fields.qxt.sink.xlsx("/tmp/elsewhere.xlsx") end)
    assert.is_true(book:close())
    os.execute("rm -rf " .. dir)
  end)

  it("charges a pattern in sandbox.call to its instruction limit; trusted code is not limited", function()
    -- outside the sandbox the library's own functions answer, with no budget: this
    -- takes some 110 million steps, more than a sandboxed call may
    assert.is_nil(("a"):rep(15000):find(".-b"))
    local ok, err = sandbox.call(function() return ("a"):rep(5000):find(("a*"):rep(10) .. "b") end,
                                 { instructions = 1000 })
    assert.is_false(ok)
    assert.matches("instruction limit exceeded", err)
  end)
end)
