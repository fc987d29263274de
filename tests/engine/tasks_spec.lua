-- Tasks: spawn, wait, sleep, errors in one task, and where blocking calls
-- may not wait. Runs inside the real engine (tests/busted.lua).
local sim = require("tests.helpers.sim")

describe("qxt.spawn and qxt.wait", function()
  it("runs a function with its arguments and returns its results", function()
    local t = qxt.spawn(function(a, b) return a + b, "x" end, 2, 3)
    local sum, x = qxt.wait(t)
    assert.are.equal(5, sum)
    assert.are.equal("x", x)
    assert.are.equal("done", t:status())
  end)

  it("waits for a list and returns each task's first result in order", function()
    local ts = {}
    for i = 1, 10 do
      ts[i] = qxt.spawn(function() qxt.sleep((11 - i) * 0.01); return i * i end)
    end
    local rs = qxt.wait(ts)
    assert.are.equal(10, rs.n)
    for i = 1, 10 do assert.are.equal(i * i, rs[i]) end
  end)

  it("lets a task wait for other tasks", function()
    local outer = qxt.spawn(function()
      local a = qxt.spawn(function() qxt.sleep(0.02); return "a" end)
      local b = qxt.spawn(function() return "b" end)
      local rs = qxt.wait({ a, b })
      return rs[1] .. rs[2]
    end)
    assert.are.equal("ab", qxt.wait(outer))
  end)

  it("does not start a task before the caller gives up control", function()
    local started = false
    local t = qxt.spawn(function() started = true end)
    assert.is_false(started)
    qxt.wait(t)
    assert.is_true(started)
  end)

  it("rejects what is not a task", function()
    assert.has_error(function() qxt.wait({ 1 }) end)
    assert.has_error(function() qxt.spawn("not a function") end)
  end)

  it("refuses a task that waits for itself", function()
    local me
    me = qxt.spawn(function() qxt.sleep(0.01); return pcall(qxt.wait, me) end)
    local ok, err = qxt.wait(me)
    assert.is_false(ok)
    assert.matches("cannot wait for itself", err)
  end)
end)

describe("qxt.sleep", function()
  it("overlaps across tasks (50 sleeps of 0.2 s take far less than 10 s)", function()
    local t0 = qxt.now()
    local ts = {}
    for i = 1, 50 do ts[i] = qxt.spawn(qxt.sleep, 0.2) end
    qxt.wait(ts)
    local took = qxt.now() - t0
    assert.is_true(took >= 0.19, "slept " .. took)
    assert.is_true(took < 2.5, "took " .. took)
  end)

  it("works in the main chunk and is monotonic", function()
    local t0 = qxt.now()
    qxt.sleep(0.05)
    assert.is_true(qxt.now() - t0 >= 0.049)
  end)

  it("rejects negative durations", function()
    assert.has_error(function() qxt.sleep(-1) end)
  end)

  it("lets a bare coroutine.yield() in a task hand over to other tasks", function()
    local order = {}
    local a = qxt.spawn(function()
      order[#order + 1] = "a1"; coroutine.yield(); order[#order + 1] = "a2"
    end)
    local b = qxt.spawn(function() order[#order + 1] = "b" end)
    qxt.wait({ a, b })
    assert.are.same({ "a1", "b", "a2" }, order)
  end)
end)

describe("an error in one task", function()
  it("is reported with the script's file and line and spares the others", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
local ok = 0
local ts = {}
for i = 1, 20 do
  ts[i] = qxt.spawn(function()
    qxt.sleep(0.01 * (i % 3))
    if i == 7 then error("record seven is broken") end
    ok = ok + 1
  end)
end
local rs = qxt.wait(ts)
print("finished", ok, rs.n, rs[7] == nil)
]])
    f:close()
    local out, err, status = sim.run(sim.qxtv() .. " run " .. script)
    os.remove(script)
    assert.are.equal(1, status)
    assert.matches("finished\t19\t20\ttrue", out)
    assert.matches(script:gsub("%p", "%%%0") .. ":6: record seven is broken", err)
  end)

  it("leaves no request behind when a task fails while others wait on the network", function()
    local ts = {}
    for i = 1, 20 do
      ts[i] = qxt.spawn(function()
        if i == 3 then error("boom") end
        return verify("13972565391", "张三").class
      end)
    end
    local rs = qxt.wait(ts)
    assert.is_nil(rs[3])
    assert.are.equal("ok", rs[20])
    assert.are.equal(0, qxt.stats().requests)
    assert.are.equal(0, qxt.stats().tasks)
  end)
end)

describe("blocking calls where nobody can resume them", function()
  it("explain themselves inside a C boundary such as table.sort", function()
    local t = qxt.spawn(function()
      return pcall(table.sort, { 3, 1, 2 }, function(a, b) qxt.sleep(0); return a < b end)
    end)
    local ok, err = qxt.wait(t)
    assert.is_false(ok)
    assert.matches("cannot wait here", err)
  end)

  it("explain themselves in a plain coroutine inside a task", function()
    local t = qxt.spawn(function()
      local co = coroutine.wrap(function() return pcall(verify, "13972565391", "张三") end)
      return co()
    end)
    local ok, err = qxt.wait(t)
    assert.is_false(ok)
    assert.matches("not a qxt task", err)
  end)

  it("report a deadlock instead of hanging", function()
    local code = "local a, b; a = qxt.spawn(function() qxt.sleep(0.01); qxt.wait(b) end); " ..
                 "b = qxt.spawn(function() qxt.sleep(0.01); qxt.wait(a) end)"
    local _, err, status = sim.run(sim.qxtv() .. " -e " .. sim.quote(code))
    assert.are.equal(1, status)
    assert.matches("deadlock", err)
  end)
end)

describe("the main chunk", function()
  it("ends only after every task has ended, and passes arg", function()
    local out, _, status = sim.run(sim.qxtv() .. " -e " ..
      sim.quote("local a = ...; qxt.spawn(function() qxt.sleep(0.1); print('late', arg[1], a) end)") .. " one")
    assert.are.equal(0, status)
    assert.are.equal("late\tone\tone\n", out)
  end)

  it("sets the exit status with qxt.exit_status or an integer it returns", function()
    local _, _, s1 = sim.run(sim.qxtv() .. " -e " .. sim.quote("qxt.exit_status(3)"))
    assert.are.equal(3, s1)
    local _, _, s2 = sim.run(sim.qxtv() .. " -e " .. sim.quote("return 4"))
    assert.are.equal(4, s2)
  end)
end)

-- A `<close>` variable whose handler prints `closed <tag>` (or counts in-process).
local function closer(tag)
  return "local _ <close> = setmetatable({}, { __close = function() print('closed " .. tag .. "') end }); "
end

describe("a task's <close> variables", function()
  it("are closed exactly once when the task raises, and it still fails with its error", function()
    local closed, seen = 0, nil
    local t = qxt.spawn(function()
      local _ <close> = setmetatable({}, { __close = function(_, e) closed = closed + 1; seen = e end })
      qxt.sleep(0)
      error("task breaks", 0)
    end)
    local r, err = qxt.wait(t)
    assert.is_nil(r)
    assert.matches("task breaks", err)
    assert.are.equal(1, closed)
    assert.matches("task breaks", tostring(seen))
    assert.are.equal("failed", t:status())
  end)

  it("are closed exactly once when the main chunk fails while the task sleeps", function()
    local slow = sim.start{ "--latency", "60s" }
    local code = "qxt.spawn(function() " .. closer("sleeper") .. "qxt.sleep(3600) end); " ..
                 "qxt.spawn(function() " .. closer("verifier") .. "verify('13972565391', '张三', " ..
                 "{ endpoint = '" .. slow.endpoint .. "' }) end); " ..
                 "qxt.sleep(0.2); error('main breaks')"
    local out, err, status = sim.run(sim.qxtv() .. " -e " .. sim.quote(code))
    slow:stop()
    assert.are.equal(1, status)
    assert.matches("main breaks", err)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    table.sort(lines)
    assert.are.same({ "closed sleeper", "closed verifier" }, lines)
  end)

  it("are closed exactly once when the engine is freed with tasks in a deadlock", function()
    local code = "local a, b; a = qxt.spawn(function() " .. closer("a") .. "qxt.sleep(0.01); qxt.wait(b) end); " ..
                 "b = qxt.spawn(function() " .. closer("b") .. "qxt.sleep(0.01); qxt.wait(a) end)"
    local out, err, status = sim.run(sim.qxtv() .. " -e " .. sim.quote(code))
    assert.are.equal(1, status)
    assert.matches("deadlock", err)
    local lines = {}
    for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
    table.sort(lines)
    assert.are.same({ "closed a", "closed b" }, lines)
  end)
end)

describe("qxt.spawn", function()
  it("takes as many arguments as Lua can pass (its pushes check the stack)", function()
    local code = "local t = {}; for i = 1, 300000 do t[i] = i end; " ..
                 "print(qxt.wait(qxt.spawn(function(...) return select('#', ...) end, table.unpack(t))))"
    local out, _, status = sim.run(sim.qxtv() .. " -e " .. sim.quote(code))
    assert.are.equal(0, status)
    assert.are.equal("300000\n", out)
  end)
end)
