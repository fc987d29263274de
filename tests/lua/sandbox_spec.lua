-- qxt.rules.load and qxt.sandbox: hostile rule files are stopped with a
-- message naming the file and the rule, the run goes on (or halts, by
-- policy), the engine's memory is fine afterwards, and a good rule file
-- routes records in a real flow against the simulator.
local sim = require("tests.helpers.sim")
local sandbox = require("qxt.sandbox")

local DIR = "tests/data/rules/"
local CONSISTENT = { mobile = "13972565391", name = "张三", fields = {} }
local ANSWER = { consistent = true, class = "ok", code = 0, isp = "中国电信", province = "湖北" }

-- Routes one record with the rule file; returns sink, rule column, seconds.
local function route_with(file, opts)
  local router = qxt.rules.load(DIR .. file, opts)
  local t0 = qxt.now()
  local sink, rule = router(CONSISTENT, ANSWER)
  return sink, rule, qxt.now() - t0
end

describe("qxt.rules.load (sandboxed)", function()
  local hostile = {
    { "runaway.lua", "runaway", "instruction limit exceeded" },
    { "pcall_loop.lua", "pcall loop", "instruction limit exceeded" },
    { "bomb.lua", "memory bomb", "memory limit exceeded" },
    { "os.lua", "os", "os is not available in the sandbox" },
    { "io.lua", "io", "io is not available in the sandbox" },
    { "require.lua", "require", "require is not available in the sandbox" },
    { "debug.lua", "debug", "debug is not available in the sandbox" },
    { "dump.lua", "dump", "string.dump is not available in the sandbox" },
    { "dump2.lua", "dump2", "string.dump is not available in the sandbox" },
    { "bytecode.lua", "bytecode", "binary chunks are not allowed in the sandbox" },
    { "metatable.lua", "metatable", "getmetatable is not available in the sandbox" },
    { "write.lua", "write", "the record is read%-only" },
  }
  for _, case in ipairs(hostile) do
    local file, rule, why = case[1], case[2], case[3]
    it("stops " .. file .. " with a clear message and routes the record for review", function()
      local sink, column, took = route_with(file)
      assert.are.equal("unverified", sink)
      assert.matches("^rule error: " .. file:gsub("%.", "%%.") .. " rule '" .. rule:gsub("%-", "%%-") .. "': ", column)
      assert.matches(why, column)
      assert.is_true(took < 1, file .. " took " .. took .. " s")
    end)
  end

  it("leaves the engine's string library and memory intact after the hostile rules", function()
    route_with("metatable.lua")
    assert.are.equal("ABC", ("abc"):upper())
    assert.is_function(string.dump)
    assert.is_string(string.dump(function() end))   -- trusted code still may
    route_with("bomb.lua")
    collectgarbage()
    assert.is_true(sandbox.used() < 64 * 1024 * 1024, "engine holds " .. sandbox.used())
    -- and allocating again outside the sandbox is not limited
    local big = ("y"):rep(32 * 1024 * 1024)
    assert.are.equal(32 * 1024 * 1024, #big)
  end)

  it("stops a loop in well under a second, with the default limit", function()
    local _, rule, took = route_with("runaway.lua")
    assert.matches("instruction limit", rule)
    assert.is_true(took < 0.5, "took " .. took)
  end)

  it("honours smaller limits", function()
    local _, rule = route_with("runaway.lua", { instructions = 1000 })
    assert.matches("instruction limit", rule)
    local _, rule2 = route_with("bomb.lua", { memory = 1024 * 1024 })
    assert.matches("memory limit exceeded %(1048576 bytes%)", rule2)
  end)

  it("halts with on_rule_error = 'halt'", function()
    local router = qxt.rules.load(DIR .. "os.lua", { on_rule_error = "halt" })
    local ok, err = pcall(router, CONSISTENT, ANSWER)
    assert.is_false(ok)
    assert.matches("rule error: os%.lua rule 'os': .*os is not available", err)
  end)

  it("refuses a hostile or runaway chunk at load time, naming the file", function()
    os.remove("/tmp/qxtv-sandbox-pwned")
    local ok, err = pcall(qxt.rules.load, DIR .. "chunk_os.lua")
    assert.is_false(ok)
    assert.matches("rule file .*chunk_os%.lua: .*os is not available", err)
    assert.is_nil(io.open("/tmp/qxtv-sandbox-pwned"))
    ok, err = pcall(qxt.rules.load, DIR .. "chunk_loop.lua")
    assert.is_false(ok)
    assert.matches("chunk_loop%.lua: instruction limit exceeded", err)
    ok, err = pcall(qxt.rules.load, DIR .. "not_a_list.lua")
    assert.is_false(ok)
    assert.matches("must return a list of rules", err)
  end)

  it("refuses a precompiled (binary) rule file", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(string.dump(function() return {} end))
    f:close()
    local ok, err = pcall(qxt.rules.load, path)
    os.remove(path)
    assert.is_false(ok)
    assert.matches("binary chunks are not allowed", err)
  end)
end)

describe("a good rule file in a real flow", function()
  local s
  before_each(function() s = sim.start{ "--latency", "5ms" } end)
  after_each(function() s:stop() end)

  local function memsink()
    return { rows = {}, write = function(self, rec, r) self.rows[#self.rows + 1] = { rec = rec, r = r } end }
  end

  it("routes records by scripts/rules/kyc_rules.lua; a failing rule only sends its record to review", function()
    local input = {
      { mobile = "13972565391", name = "张三", fields = { id = 1 } },      -- 湖北, 电信: approve
      { mobile = "13972565391", name = "李四", fields = { id = 2 } },      -- mismatch: reject
      { mobile = "17012345678", name = "周八", fields = { id = 3 } },      -- virtual operator: review
      { mobile = "15912345678", name = "司马懿", fields = { id = 4 } },    -- 河南: review
      { mobile = "13900000004", name = "赵六", fields = { id = 5 } },      -- no record: unverified
    }
    local out = { approve = memsink(), review = memsink(), reject = memsink(), unverified = memsink() }
    qxt.flow{ source = input, sinks = out, concurrency = 3, quiet = true, log = function() end,
              route = qxt.rules.load("scripts/rules/kyc_rules.lua"), verify = { endpoint = s.endpoint } }
    local at = {}
    for name, sink in pairs(out) do
      for _, row in ipairs(sink.rows) do at[row.rec.fields.id] = { name, row.r.rule } end
    end
    assert.are.same({ "approve", "verified" }, at[1])
    assert.are.same({ "reject", "name does not match" }, at[2])
    assert.are.same({ "review", "virtual operator" }, at[3])
    assert.are.same({ "review", "area outside the allowed list" }, at[4])
    assert.are.equal("unverified", at[5][1])

    -- the same flow with a runaway rule: every record ends in unverified, and the run finishes
    local out2 = { approve = memsink(), reject = memsink(), unverified = memsink() }
    local summary = qxt.flow{ source = { input[1], input[2] }, sinks = out2, quiet = true, log = function() end,
                              route = qxt.rules.load(DIR .. "runaway.lua"), verify = { endpoint = s.endpoint } }
    assert.are.equal(2, #out2.unverified.rows)
    assert.matches("^rule error: runaway%.lua rule 'runaway': ", out2.unverified.rows[1].r.rule)
    assert.is_table(summary)
  end)
end)
