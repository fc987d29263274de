-- `qxtv run --sandbox`: the script's main chunk gets qxt, verify, print and
-- the safe set only; io, os, require and bytecode are refused with a clear
-- message, and a normal flow still runs (against the simulator).
local sim = require("tests.helpers.sim")

local qxtv = sim.qxtv()

local function script(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function run(text, flags)
  local path = script(text)
  local out, err, status = sim.run(qxtv .. " run --sandbox " .. (flags or "") .. " " .. path .. " x")
  os.remove(path)
  return out, err, status
end

describe("qxtv run --sandbox", function()
  local refused = {
    { "local f = io.open('/etc/passwd')", "reading /etc/passwd is not allowed in the sandbox" },
    { "os.execute('touch /tmp/qxtv-cli-pwned')", "os%.execute is not available in the sandbox" },
    { "local m = require('io')", "require is not available in the sandbox" },
    { "debug.sethook()", "debug is not available in the sandbox" },
    { "print(string.dump(print))", "string.dump is not available in the sandbox" },
    { "print((''):dump())", "string.dump is not available in the sandbox" },
    { "print(load('\\27Lua'))", "binary chunks are not allowed in the sandbox" },
    { "getmetatable('').__index = nil", "getmetatable is not available in the sandbox" },
  }
  for _, case in ipairs(refused) do
    it("refuses: " .. case[1], function()
      local out, err, status = run(case[1])
      assert.matches(case[2], out .. err)
      if not case[2]:find("binary") then assert.are.equal(1, status) end
    end)
  end

  it("does not run the refused command", function()
    os.remove("/tmp/qxtv-cli-pwned")
    run("os.execute('touch /tmp/qxtv-cli-pwned')")
    assert.is_nil(io.open("/tmp/qxtv-cli-pwned"))
  end)

  it("refuses a precompiled script", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(string.dump(function() print("ran") end))
    f:close()
    local out, err, status = sim.run(qxtv .. " run --sandbox " .. path)
    os.remove(path)
    assert.are.equal(1, status)
    assert.is_nil(out:find("ran"))
    assert.matches("binary", err)
  end)

  it("runs a normal flow: verify, qxt.flow with CSV source and sinks, arg and print", function()
    local dir = os.tmpname()
    os.remove(dir)
    local input = dir .. ".csv"
    local f = assert(io.open(input, "w"))
    f:write("mobile,name\n13972565391,张三\n13972565391,李四\n")
    f:close()
    local path = script(([[
      local r = verify("13972565391", "张三")
      print("one", r.code, r.consistent)
      local source = assert(qxt.source.csv(arg[1]))
      assert(qxt.mkdir(%q))
      local sinks = {}
      for _, n in ipairs{ "consistent", "inconsistent", "invalid", "unverified" } do
        sinks[n] = qxt.sink.csv(%q .. "/" .. n .. ".csv", { columns = source:columns() })
      end
      local s = qxt.flow{ source = source, sinks = sinks, quiet = true }
      print("sent", s.queries_sent)
    ]]):format(dir, dir))
    local out, err, status = sim.run(qxtv .. " run --sandbox --memory-limit 256 " .. path .. " " .. input
                                     .. " --out " .. dir)
    os.remove(path)
    os.remove(input)
    assert.are.equal(0, status, err)
    assert.matches("one\t0\ttrue", out)
    assert.matches("sent\t2", out)
    assert.matches("13972565391", sim.read_file(dir .. "/consistent.csv"))
    assert.matches("李四", sim.read_file(dir .. "/inconsistent.csv"))
    os.execute("rm -rf " .. sim.quote(dir))
  end)

  it("caps the memory of the state with --memory-limit, and the host reports it", function()
    local _, err, status = run("local t = {} while true do t[#t+1] = ('x'):rep(1e6) end", "--memory-limit 32")
    assert.are.equal(1, status)
    assert.matches("not enough memory %(%-%-memory%-limit 32 MB%)", err)
  end)

  it("rejects a bad --memory-limit", function()
    local _, err, status = sim.run(qxtv .. " run --memory-limit 0 x.lua")
    assert.are.equal(2, status)
    assert.matches("memory%-limit", err)
  end)
end)

-- Escape attempts from a `run --sandbox` flow. Each runs in a directory of
-- its own: the script gets INPUT (readable, named on its command line) and
-- --out OUT (writable); everything else must be refused with a clear
-- message, and nothing outside OUT may change.
describe("qxtv run --sandbox: escape attempts", function()
  local root, input, out, outside

  local function sh(cmd) assert(os.execute(cmd), cmd) end

  before_each(function()
    root = os.tmpname()
    os.remove(root)
    sh("mkdir -p " .. sim.quote(root .. "/out") .. " " .. sim.quote(root .. "/outside"))
    input, out, outside = root .. "/in.csv", root .. "/out", root .. "/outside"
    local f = assert(io.open(input, "w"))
    f:write("mobile,name\n13972565391,张三\n")
    f:close()
  end)
  after_each(function() sh("rm -rf " .. sim.quote(root)) end)

  -- Runs text as a --sandbox script in root with `in.csv --out out` (and
  -- extra qxtv flags); the script sees ROOT, OUTSIDE and OUT as globals.
  local function attempt(text, flags, args)
    local path = root .. "/script.lua"
    local f = assert(io.open(path, "w"))
    f:write(("local ROOT, OUT, OUTSIDE = %q, %q, %q\n"):format(root, out, outside), text)
    f:close()
    return sim.run(("cd %s && timeout 60 %s run --sandbox %s script.lua %s"):format(
      sim.quote(root), qxtv, flags or "", args or "in.csv --out out"))
  end

  local function refused(text, why, flags)
    local o, e, status = attempt(text, flags)
    assert.are.equal(1, status, "status " .. tostring(status) .. "\n" .. o .. e)
    assert.matches(why, e)
    assert.is_nil(o:find("ESCAPED", 1, true), o)
    assert.is_nil(io.open(outside .. "/pwned"), "a file appeared outside the allowed directories")
    return e
  end

  it("cannot reach qxt.file.write_private (the journal's key writer)", function()
    refused("qxt.file.write_private(OUTSIDE .. '/pwned', 'x') print('ESCAPED')",
            "qxt%.file%.write_private is not available in the sandbox")
  end)

  it("cannot create a directory outside --out with qxt.mkdir", function()
    refused("assert(qxt.mkdir(OUTSIDE .. '/pwned')) print('ESCAPED')",
            "creating .*/outside/pwned is not allowed in the sandbox: pass %-%-allow%-write")
  end)

  it("cannot reach package.path", function()
    refused("package.path = OUT .. '/?.lua' print('ESCAPED')", "package is not available in the sandbox")
  end)

  it("cannot write a Lua file and get it required through a lazily loaded module", function()
    -- qxt.source.NAME used to require("qxt.source.NAME"), and ./?.lua is on package.path
    attempt([[
      assert(qxt.mkdir(OUT .. "/qxt/source"))
      local path = OUT .. "/qxt/source/evil.lua"
      local text = "os.execute('touch " .. OUTSIDE .. "/pwned') return { open = function() end }"
      -- io.open in --out where it is allowed, else the journal's key writer
      if not pcall(function() local f = io.open(path, "w") f:write(text) f:close() end) then
        qxt.file.write_private(path, text)
      end
      local src = qxt.source.evil
      print("ESCAPED", src)
    ]], nil, "in.csv --out out")
    -- run from inside out/ so that ./qxt/source/evil.lua is what require would find
    local o, e, status = sim.run(("cd %s && timeout 60 %s run --sandbox ../script.lua ../in.csv --out ."):format(
      sim.quote(out), qxtv))
    assert.are.equal(1, status, o .. e)
    assert.matches("qxt%.source%.evil is not available in the sandbox", e)
    assert.is_nil(io.open(outside .. "/pwned"))
  end)

  it("cannot get a written Lua file run as trusted rules", function()
    refused([[
      local f = assert(io.open(OUT .. "/rules.lua", "w"))
      f:write("os.execute('touch " .. OUTSIDE .. "/pwned') return {}")
      f:close()
      qxt.rules.load(OUT .. "/rules.lua", { sandbox = false })
      print("ESCAPED")
    ]], "sandbox = false is not available in the sandbox")
  end)

  it("cannot read /etc/passwd with qxt.source.csv", function()
    refused("local s = assert(qxt.source.csv('/etc/passwd')) print('ESCAPED', s)",
            "reading /etc/passwd is not allowed in the sandbox: pass %-%-allow%-read")
  end)

  it("cannot read another file with io.open or qxt.source.jsonl", function()
    refused("local f = assert(io.open('/etc/passwd')) print('ESCAPED', f:read('a'))",
            "reading /etc/passwd is not allowed in the sandbox")
    refused("local s = assert(qxt.source.jsonl('/etc/hostname')) print('ESCAPED', s)",
            "reading /etc/hostname is not allowed in the sandbox")
  end)

  it("cannot write a sink outside --out, by absolute path or by ..", function()
    refused("local s = qxt.sink.csv(OUTSIDE .. '/pwned') s:close() print('ESCAPED')",
            "writing .*/outside/pwned is not allowed in the sandbox: pass %-%-allow%-write")
    refused("local s = qxt.sink.jsonl(OUT .. '/../outside/pwned') s:close() print('ESCAPED')",
            "writing .*/outside/pwned is not allowed in the sandbox")
  end)

  it("cannot write through a symbolic link in --out that points outside", function()
    sh("ln -s " .. sim.quote(outside) .. " " .. sim.quote(out .. "/link"))
    sh("ln -s " .. sim.quote(outside .. "/pwned") .. " " .. sim.quote(out .. "/dangling.csv"))
    refused("local s = qxt.sink.csv(OUT .. '/link/pwned') s:close() print('ESCAPED')",
            "writing .*/link/pwned is not allowed in the sandbox %(it is .*/outside/pwned%)")
    refused("local f = assert(io.open(OUT .. '/dangling.csv', 'w')) f:write('x') f:close() print('ESCAPED')",
            "is a symbolic link")
  end)

  it("cannot retarget a sink or a source by changing its fields", function()
    refused([[
      local src = assert(qxt.source.csv(arg[1]))
      assert(src.reader == nil and src.path == nil, "the source shows its insides")
      local s = qxt.sink.csv(OUT .. "/ok.csv")
      s.path = OUTSIDE .. "/pwned"
      s:write({ fields = { mobile = "1", name = "x" } }, {})
      s:close()
      error("done")
    ]], "done")
  end)

  it("cannot send the apikey elsewhere with verify options", function()
    local other = require("tests.helpers.sim").start()
    local _, e = attempt(("local r = verify('13972565391', '张三', { endpoint = %q }) print('ESCAPED', r.code)")
      :format(other.endpoint))
    local requests = other:stats().requests
    other:stop()
    assert.matches("verify: options are not available in the sandbox", e)
    assert.are.equal(0, requests)
  end)

  it("cannot send the apikey elsewhere with qxt.flow's verify option", function()
    refused([[
      local s = qxt.flow{ source = { { mobile = "13972565391", name = "张三" } }, quiet = true,
                          sinks = { consistent = { write = function() end } },
                          verify = { endpoint = "http://127.0.0.1:9/x", timeout = 3600 } }
      print("ESCAPED", s.queries_sent)
    ]], "qxt%.flow: option 'verify' is not available in the sandbox")
  end)

  it("cannot write a report or a journal outside --out", function()
    refused("assert(qxt.report.write({}, OUTSIDE .. '/pwned')) print('ESCAPED')",
            "writing .*/outside/pwned is not allowed in the sandbox")
    refused("assert(qxt.journal.open(OUTSIDE .. '/pwned')) print('ESCAPED')",
            "writing .*/outside/pwned is not allowed in the sandbox")
  end)

  it("cannot put the order spill file outside --out", function()
    refused([[
      qxt.flow{ source = { { mobile = "13972565391", name = "张三" } }, quiet = true,
                sinks = { consistent = { write = function() end } }, order_dir = OUTSIDE }
      print('ESCAPED')
    ]], "writing .*/outside/%.qxtv%-order is not allowed in the sandbox")
  end)

  it("cannot use the modules that open files by themselves (qxt.csv, sqlite)", function()
    refused("qxt.csv.open('/etc/passwd') print('ESCAPED')", "qxt%.csv is not available in the sandbox")
    refused("qxt.source.sqlite('/etc/passwd', 'SELECT 1') print('ESCAPED')",
            "qxt%.source%.sqlite is not available in the sandbox")
    refused("qxt.sink.sqlite(OUT .. '/x.db', 't') print('ESCAPED')",
            "qxt%.sink%.sqlite is not available in the sandbox")
  end)

  it("cannot run a command (os.execute) or read the environment (os.getenv)", function()
    refused("os.execute('touch ' .. OUTSIDE .. '/pwned') print('ESCAPED')",
            "os%.execute is not available in the sandbox")
    refused("print('ESCAPED', os.getenv('QXT_APIKEY'))", "os%.getenv is not available in the sandbox")
  end)

  it("does not see the endpoint in qxt.config()", function()
    refused("assert(qxt.config().endpoint == nil, 'endpoint shown') error('done')", "done")
  end)

  it("cannot misuse qxt.exit_status or qxt.spawn", function()
    refused("qxt.exit_status(200) print('ESCAPED')", "exit status must be between 0 and 125")
    refused("qxt.spawn(require, 'os') print('ESCAPED')", "require is not available in the sandbox")
  end)

  it("cannot run a backtracking pattern for minutes, in the main chunk or in a task", function()
    refused("print('ESCAPED', ('a'):rep(5000):find(('a*'):rep(10) .. 'b'))", "instruction limit exceeded")
    local o, e = attempt([[
      local t = qxt.spawn(string.gsub, ('a'):rep(5000), ('a*'):rep(10) .. 'b', '')
      local done = qxt.wait({ t })
      print("ESCAPED", done[1])
    ]])
    assert.matches("instruction limit exceeded", e)
    assert.is_nil(o:find("ESCAPED\ttrue", 1, true))
  end)

  it("cannot loop for ever inside string.rep or table.move", function()
    local o, e, status = attempt("print('empty', #(''):rep(math.maxinteger))")
    assert.are.equal(0, status, e)
    assert.matches("empty\t0", o)
    refused("table.move({}, 1, 1 << 52, 1, {}) print('ESCAPED')", "limit exceeded")
  end)

  it("has its memory capped even without --memory-limit", function()
    refused("local s = ('x'):rep((1 << 30) - 1) print('ESCAPED', #s)", "not enough memory")
  end)

  it("may read and write what the operator named with --allow-read and --allow-write", function()
    local f = assert(io.open(outside .. "/extra.csv", "w"))
    f:write("mobile,name\n13972565391,张三\n")
    f:close()
    local o, e, status = attempt([[
      local s = assert(qxt.source.csv(OUTSIDE .. "/extra.csv"))
      assert(qxt.mkdir(OUTSIDE .. "/made/here"))
      local k = qxt.sink.csv(OUTSIDE .. "/made/here/x.csv") k:close()
      print("allowed", #s:columns())
    ]], "--allow-read " .. sim.quote(outside .. "/extra.csv") .. " --allow-write " .. sim.quote(outside))
    assert.are.equal(0, status, o .. e)
    assert.matches("allowed\t2", o)
    assert.is_truthy(io.open(outside .. "/made/here/x.csv"))
  end)

  it("runs the bundled scripts/verify_csv.lua with its input and --out", function()
    local o, e, status = sim.run(("cd %s && timeout 60 %s run --sandbox %s/scripts/verify_csv.lua in.csv "
      .. "--out out/run --quiet"):format(sim.quote(root), qxtv, sim.quote(os.getenv("PWD"))))
    assert.are.equal(0, status, o .. e)
    assert.matches("13972565391", sim.read_file(out .. "/run/consistent.csv"))
    assert.matches('"consistent"', sim.read_file(out .. "/run/summary.json"))
  end)
end)

describe("qxtv --allow-read / --allow-write", function()
  it("are options of run --sandbox only", function()
    local _, err, status = sim.run(qxtv .. " run --allow-read /etc x.lua")
    assert.are.equal(2, status)
    assert.matches("%-%-allow%-read is an option of run %-%-sandbox", err)
  end)
end)
