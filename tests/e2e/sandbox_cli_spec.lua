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
    { "local f = io.open('/etc/passwd')", "io is not available in the sandbox" },
    { "os.execute('touch /tmp/qxtv-cli-pwned')", "os is not available in the sandbox" },
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
    local out, err, status = sim.run(qxtv .. " run --sandbox --memory-limit 256 " .. path .. " " .. input)
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
