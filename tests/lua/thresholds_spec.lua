-- qxt.thresholds inside the real engine: the grammar (parsed, never run as
-- Lua), which metrics exist, rate = count / answers, min_samples, and a
-- flow stopped by one, against a simulator: every record in exactly one
-- sink, the rest unsent with the reason, exit status THRESHOLD.
local thresholds = require("qxt.thresholds")
local summary = require("qxt.summary")
local sim = require("tests.helpers.sim")

local SINKS = { "consistent", "inconsistent", "invalid", "unverified" }

-- A qxt.summary with n rows of each { outcome, class } given.
local function stats_of(list)
  local st = summary.new()
  for _, item in ipairs(list) do
    for _ = 1, item[3] do st:record(item[1], item[2], { class = item[2] }) end
  end
  return st
end

describe("qxt.thresholds", function()
  it("parses both spellings: what must hold, and when to abort", function()
    local j = assert(thresholds.new{ sinks = SINKS,
      thresholds = { no_record = "rate < 0.3", transport = { "count < 50", "rate<=0.1" } },
      abort_if = { "rate(invalid) > 0.2", " count ( possibly_charged ) >= 10 " } })
    local seen = {}
    for _, t in ipairs(j.list) do seen[#seen + 1] = thresholds.describe(t) end
    assert.are.same({ "no_record: rate < 0.3", "transport: count < 50", "transport: rate<=0.1",
                      "abort if rate(invalid) > 0.2", "abort if count ( possibly_charged ) >= 10" }, seen)
    assert.are.equal(200, j.min_samples)
  end)

  it("refuses an unknown metric, naming it and the known ones", function()
    local j, err = thresholds.new{ sinks = SINKS, abort_if = { "rate(no_recrod) > 0.3" } }
    assert.is_nil(j)
    assert.matches("unknown metric 'no_recrod'", err, 1, true)
    assert.matches("no_record", err, 1, true)
    j, err = thresholds.new{ sinks = { "approve", "review" }, thresholds = { invalid = "rate < 0.2" } }
    assert.is_nil(j)                             -- a flow without an `invalid` sink
    assert.matches("unknown metric 'invalid'", err, 1, true)
    assert.is_not_nil(thresholds.new{ sinks = { "approve", "review" }, thresholds = { review = "rate < 0.5" } })
  end)

  it("refuses a bad expression, saying how to write it", function()
    for _, bad in ipairs{ "rate(no_record) > 1.5", "rate(no_record) = 0.3", "rate(no_record) > x",
                          "os.exit(1)", "rate(no_record) > 0.3 or true", "count(no_record) > 2.5",
                          "max(no_record) > 3", "rate(no_record)>", "" } do
      local j, err = thresholds.new{ sinks = SINKS, abort_if = { bad } }
      assert.is_nil(j, bad)
      assert.is_string(err, bad)
    end
    local j, err = thresholds.new{ sinks = SINKS, thresholds = { no_record = "rate(no_record) < 0.3" } }
    assert.is_nil(j)
    assert.matches("write it as rate < 0.3", err, 1, true)
    j, err = thresholds.new{ sinks = SINKS, thresholds = { no_record = "rate < 0.3" }, min_samples = 0 }
    assert.is_nil(j)
    assert.matches("min-samples", err, 1, true)
  end)

  it("refuses a metric that is both a sink and a class", function()
    local j, err = thresholds.new{ sinks = { "transport", "ok" }, thresholds = { transport = "count < 5" } }
    assert.is_nil(j)
    assert.matches("both a sink and a class", err, 1, true)
  end)

  it("refuses every metric that is both a sink and a class, not only the first sink that is", function()
    for _, sinks in ipairs{ { "transport", "input" }, { "input", "transport" } } do
      for _, metric in ipairs(sinks) do
        local j, err = thresholds.new{ sinks = sinks, thresholds = { [metric] = "count < 5" } }
        assert.is_nil(j, metric)
        assert.are.equal(("thresholds.%s: metric '%s' is both a sink and a class of answer: rename the sink")
                         :format(metric, metric), err)
        j, err = thresholds.new{ sinks = sinks, abort_if = { ("count(%s) > 5"):format(metric) } }
        assert.is_nil(j, metric)
        assert.matches("both a sink and a class", err, 1, true)
      end
    end
  end)

  it("judges nothing before min_samples answers, then rate = count / answers", function()
    local j = assert(thresholds.new{ sinks = SINKS, thresholds = { no_record = "rate < 0.3" }, min_samples = 10 })
    assert.is_nil(j:observe(stats_of{ { "unverified", "no_record", 9 } }))     -- 9 of 9, too few
    -- 3 of 10 is 0.3: "rate < 0.3" no longer holds
    local st = stats_of{ { "consistent", "ok", 7 }, { "unverified", "no_record", 3 } }
    local t = j:observe(st)
    assert.are.equal("no_record", t.metric)
    assert.are.equal(0.3, t.crossed_value)
    assert.are.equal(10, t.crossed_answers)
    assert.are.equal("rate(no_record) = 0.300 after 10 answers (no_record: rate < 0.3)", thresholds.explain(t))
    assert.is_nil(j:observe(st))                                  -- said once
    local r = j:report(st)
    assert.is_true(r[1].crossed)
    assert.is_true(r[1].judged)
    assert.are.same({ "CROSSED", "0.300", "0.300" }, { r[1].state, r[1].value_text, r[1].value_when_crossed_text })
  end)

  it("gives each entry of its report the state and the values people read, once", function()
    local j = assert(thresholds.new{ sinks = SINKS, min_samples = 10, enforce = false,
                                     thresholds = { consistent = "count < 100", transport = "count < 2" } })
    local st = stats_of{ { "consistent", "ok", 6 }, { "unverified", "transport", 3 } }
    local r = j:report(st)
    assert.are.same({ "not judged", "6" }, { r[1].state, r[1].value_text })
    assert.is_nil(r[1].value_when_crossed_text)
    st:record("unverified", "transport", { class = "transport" })
    for _ = 1, 3 do st:record("consistent", "ok", { class = "ok" }) end
    j:observe(st)
    r = j:report(st)
    assert.are.same({ "holds", "9" }, { r[1].state, r[1].value_text })
    assert.are.same({ "CROSSED", "4", "4" }, { r[2].state, r[2].value_text, r[2].value_when_crossed_text })
    -- as an older summary.json gives them back: floats, no state
    assert.are.same({ "crosses (not enforced)", "4", nil },
                    { thresholds.settle{ kind = "count", value = 4.0, judged = true, crosses_now = true } })
  end)

  it("counts neither unsent rows nor rows with no stored answer as answers", function()
    local j = assert(thresholds.new{ sinks = SINKS, abort_if = { "rate(no_record) > 0.5" }, min_samples = 4 })
    local st = stats_of{ { "consistent", "ok", 2 }, { "unverified", "no_record", 1 }, { "unverified", "unsent", 50 },
                         { "unverified", "unverified", 50 } }
    assert.is_nil(j:observe(st))                                  -- 3 answers only
    st:record("unverified", "no_record", { class = "no_record" })
    st:record("unverified", "no_record", { class = "no_record" })
    local t = j:observe(st)                                       -- 3 of 5
    assert.are.equal(0.6, t.crossed_value)
  end)

  it("reads outcomes, classes and query counts; abort_if crosses when true", function()
    local st = stats_of{ { "invalid", "rejected", 4 }, { "consistent", "ok", 6 } }
    st.possibly_charged = 3
    local j = assert(thresholds.new{ sinks = SINKS, min_samples = 1, abort_if = { "count(possibly_charged) >= 3" } })
    assert.are.equal("possibly_charged", j:observe(st).metric)
    j = assert(thresholds.new{ sinks = SINKS, min_samples = 1, abort_if = { "rate(invalid) >= 0.5" } })
    assert.is_nil(j:observe(st))                                  -- 0.4
    j = assert(thresholds.new{ sinks = SINKS, min_samples = 1, abort_if = { "rate(rejected) > 0.35" } })
    assert.are.equal("rejected", j:observe(st).metric)
  end)

  it("is parsed by patterns, never by load()", function()
    local src = sim.read_file("lua/qxt/thresholds.lua")
    assert.is_nil(src:find("load%s*%("))
  end)
end)

describe("qxt.flow with thresholds", function()
  local s
  setup(function() s = sim.start() end)
  teardown(function() s:stop() end)

  local function memsink()
    return { rows = {}, write = function(self, rec, r) self.rows[#self.rows + 1] = { rec = rec, r = r } end }
  end

  it("stops sending once one is crossed; the rest goes to unverified with the reason", function()
    s:reset()
    local records = {}
    for i = 1, 300 do records[i] = { seq = i, mobile = ("139%08d"):format(i), name = "张三" } end   -- all -4
    local out = { consistent = memsink(), inconsistent = memsink(), invalid = memsink(), unverified = memsink() }
    local result = qxt.flow{ source = records, sinks = out, quiet = true, concurrency = 4,
                             verify = { endpoint = s.endpoint },
                             thresholds = { no_record = "rate < 0.5" }, min_samples = 20 }
    assert.are.equal(qxt.exit.THRESHOLD, result.exit_status)
    assert.are.equal(300, #out.unverified.rows)
    local sent = s:stats().requests
    assert.is_true(sent >= 20 and sent <= 20 + 4, sent .. " sent")
    local unsent = 0
    for _, row in ipairs(out.unverified.rows) do
      if row.r.class == "unsent" then
        unsent = unsent + 1
        assert.matches("^threshold crossed: rate%(no_record%) = 1.000 after 20 answers", row.r.reason)
      end
    end
    assert.are.equal(300 - sent, unsent)
    assert.matches("rate(no_record) = 1.000 after 20 answers", result.threshold_crossed, 1, true)
    assert.is_true(result.thresholds[1].crossed)
    assert.matches("THRESHOLD  crossed", result.text(), 1, true)
    qxt.exit_status(0)
  end)

  it("raises an error naming a bad one before anything is sent", function()
    s:reset()
    local ok, err = pcall(qxt.flow, { source = { { mobile = "13972565391", name = "张三" } },
                                      sinks = { consistent = memsink(), unverified = memsink() },
                                      verify = { endpoint = s.endpoint }, quiet = true,
                                      abort_if = { "rate(nope) > 0.1" } })
    assert.is_false(ok)
    assert.matches("unknown metric 'nope'", err, 1, true)
    assert.are.equal(0, s:stats().requests)
    qxt.exit_status(0)
  end)
end)
