-- The parts of `qxtv serve` around the rules, inside the real engine:
-- loading a flow and its self_test (qxt.serve.flow), the decision log
-- (qxt.serve.decision_log: masked whatever it is given, appended, reopened)
-- and the test clock (qxt.serve.testclock: private, forward only).
local crypto = require("qxt.crypto")
local flow = require("qxt.serve.flow")
local dlog = require("qxt.serve.decision_log")
local testclock = require("qxt.serve.testclock")
local runs = require("tests.helpers.runs")
local sim = require("tests.helpers.sim")

local OK = { code = 0, class = "ok", consistent = true, status = "一致" }

describe("qxt.serve.flow", function()
  local dir
  before_each(function() dir = runs.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function load(text)
    local path = dir .. "/f.lua"
    sim.write_file(path, text)
    return flow.load(path)
  end

  it("loads a flow's decision, its revision the hash of the text loaded", function()
    local text = [[
local cleaner = qxt.clean.new()
table.insert(cleaner.mobile_rules, qxt.clean.reject("^1380000", "test number"))
local rules = qxt.rules{ { name = "vip", route = "review", when = function(r) return r.tier == "vip" end } }
if qxt.serving then return { rules = rules, clean = cleaner } end
error("the batch must not run")
]]
    local rev = assert(load(text))
    assert.equal(crypto.hex(crypto.sha256(text)), rev.revision)
    assert.same({ "review", "vip" }, { flow.decide(rev, { tier = "vip" }, OK) })
    assert.same({ "consistent", "match" }, { flow.decide(rev, {}, OK) })     -- the default outcomes
  end)

  it("says why a flow does not load, and returns nothing half-loaded", function()
    local rev, why = load("if qxt.serving then return { rules = ( end")
    assert.is_nil(rev)
    assert.truthy(why:find("f.lua", 1, true))
    rev, why = load("return 42")
    assert.is_nil(rev)
    assert.truthy(why:find("returned no decision", 1, true))
    rev, why = load("return { rules = 'no' }")
    assert.is_nil(rev)
    assert.truthy(why:find("rules must be", 1, true))
    rev, why = load("error('at load')")
    assert.is_nil(rev)
    assert.truthy(why:find("at load", 1, true))
  end)

  it("passes a self_test only when it returns true", function()
    local head = [[
local cleaner = qxt.clean.new()
table.insert(cleaner.mobile_rules, qxt.clean.reject("^1380000", "test number"))
local rules = qxt.rules{ { name = "gold", route = "review", when = function(r) return r.tier == "gold" end } }
return { rules = rules, clean = cleaner, self_test = function(check) %s end }
]]
    local function with(body) return load(head:format(body)) end
    assert.truthy(with([[return check({ mobile = "13972565391", name = "张三", tier = "gold" },
      { code = 0, class = "ok", consistent = true }) == "review"]]))
    -- check() cleans as a request is cleaned: a rejected record gives nil and the reason
    assert.truthy(with([[
      local route, reason, field = check({ mobile = "13800001234", name = "张三" }, { code = 0, class = "ok" })
      return route == nil and reason == "test number" and field == "mobile"]]))
    local rev, why = with("return false, 'gold must be reviewed'")
    assert.is_nil(rev)
    assert.truthy(why:find("self_test failed: gold must be reviewed", 1, true), why)
    rev, why = with("")                                   -- nothing returned is not a pass
    assert.is_nil(rev)
    assert.truthy(why:find("not true", 1, true), why)
    rev, why = with("return 1")
    assert.is_nil(rev)
    assert.truthy(why:find("not true", 1, true), why)
    rev, why = with("error('broken')")
    assert.is_nil(rev)
    assert.truthy(why:find("self_test raised", 1, true), why)
    rev, why = load("return { self_test = 'yes' }")
    assert.is_nil(rev)
    assert.truthy(why:find("self_test must be a function", 1, true), why)
  end)
end)

describe("qxt.serve.decision_log", function()
  local dir
  before_each(function() dir = runs.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("writes JSON lines with mobile and name masked, whatever it is given", function()
    local path = dir .. "/d.jsonl"
    local log = assert(dlog.open(path))
    log:write{ decision_id = "a1", mobile = "13972565391", name = "张三丰", code = 0 }
    log:write{ decision_id = "a2", mobile = 13972565391, name = "李四" }
    log:close()
    local text = sim.read_file(path)
    assert.is_nil(text:find("13972565391", 1, true))
    assert.is_nil(text:find("张三丰", 1, true))
    assert.is_nil(text:find("李四", 1, true))
    local lines = {}
    for line in text:gmatch("[^\n]+") do lines[#lines + 1] = require("cjson").decode(line) end
    assert.equal(2, #lines)
    assert.equal("139****5391", lines[1].mobile)
    assert.equal("张**", lines[1].name)
    assert.equal("139****5391", lines[2].mobile)
    assert.equal("600", runs.mode(path))
  end)

  it("appends across opens and reopens the path after it was moved", function()
    local path = dir .. "/d.jsonl"
    local log = assert(dlog.open(path))
    log:write{ n = 1 }
    log:flush()
    assert(os.rename(path, path .. ".1"))
    log:write{ n = 2 }                       -- still the moved file until reopened
    assert(log:reopen())
    log:write{ n = 3 }
    log:close()
    log = assert(dlog.open(path))
    log:write{ n = 4 }
    log:close()
    assert.equal('{"n":1}\n{"n":2}\n', sim.read_file(path .. ".1"))
    assert.equal('{"n":3}\n{"n":4}\n', sim.read_file(path))
  end)
end)

describe("qxt.serve.testclock", function()
  local dir
  before_each(function() dir = runs.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function clock_file(text, mode)
    local path = dir .. "/clock"
    sim.write_file(path, text)
    assert(os.execute("chmod " .. (mode or "600") .. " " .. path))
    return path
  end

  it("adds the file's seconds to the loop's clock, and only ever moves forward", function()
    local path = clock_file("100\n")
    local c = assert(testclock.open(path))
    assert.is_true(c:now() - qxt.now() >= 99.9)
    assert.is_nil(c:poll())                            -- unchanged: nothing to say
    sim.write_file(path, "86400")
    assert.truthy(c:poll():find("offset now 86400", 1, true))
    assert.equal(86400, c.offset)
    sim.write_file(path, "10")
    assert.truthy(c:poll():find("only moves forward", 1, true))
    assert.is_nil(c:poll())                            -- said once
    assert.equal(86400, c.offset)
    sim.write_file(path, "soon")
    assert.truthy(c:poll())
    assert.equal(86400, c.offset)
  end)

  it("refuses a file others may write, and a value that is not seconds", function()
    local c, why = testclock.open(clock_file("0", "666"))
    assert.is_nil(c)
    assert.truthy(why:find("chmod 600", 1, true), why)
    for _, bad in ipairs{ "-5", "nan", "1e12", "" } do
      c, why = testclock.open(clock_file(bad))
      assert.is_nil(c, bad)
      assert.truthy(why:find("seconds", 1, true), why)
    end
  end)
end)
