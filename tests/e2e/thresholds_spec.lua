-- Thresholds end to end: scripts/verify_csv.lua run on an input whose
-- mobile column is the wrong one (every number unknown to the carrier, -4)
-- stops on its default threshold after its minimum samples with exit 7
-- (THRESHOLD), every row in exactly one output, a journal that --resume
-- continues; bad thresholds are usage errors before anything is sent.
local cjson = require("cjson")
local sim = require("tests.helpers.sim")
local runs = require("tests.helpers.runs")

-- The simulator's built-in people (docs/simulator.md): the right column.
local PEOPLE = { { "13972565391", "张三" }, { "18819079212", "曹操" }, { "13800138000", "李四" },
                 { "13912345678", "王五" }, { "15601234567", "赵六" } }
local ROWS, CONCURRENCY = 1000, 8

-- id, mobile (registered, the right column), name, phone2 (an emergency
-- contact's number: well formed, unknown to the carrier).
local function make_input(dir)
  local lines = { "id,mobile,name,phone2" }
  for i = 1, ROWS do
    local p = PEOPLE[(i - 1) % #PEOPLE + 1]
    lines[#lines + 1] = ("R%d,%s,%s,139%08d"):format(i, p[1], p[2], i)
  end
  sim.write_file(dir .. "/in.csv", table.concat(lines, "\n") .. "\n")
  return dir .. "/in.csv"
end

local function verify_csv(s, input, out, extra)
  return sim.run(("%s run scripts/verify_csv.lua %s --out %s --quiet --concurrency %d %s"):format(
    sim.qxtv(), input, out, CONCURRENCY, extra or ""), { QXT_ENDPOINT = s.endpoint })
end

describe("a run with a wrong mobile column", function()
  local dir, s, input
  setup(function()
    dir = runs.tmpdir()
    s = sim.start()
    input = make_input(dir)
  end)
  teardown(function()
    s:stop()
    os.execute("rm -rf " .. dir)
  end)

  local first_sent
  it("stops on its threshold after 200 answers, exit 7, every row in one output", function()
    local _, err, status = verify_csv(s, input, dir .. "/out",
                                      "--mobile-column phone2 --report " .. dir .. "/out/report.html")
    assert.are.equal(qxt.exit.THRESHOLD, status, err)
    assert.matches("threshold crossed: rate%(no_record%) = 1.000 after 200 answers %(no_record: rate < 0.3%)", err)
    assert.matches("--resume continues", err, 1, true)
    first_sent = s:stats().requests
    -- the 200 answers, and at most the queries in flight and waiting for their commit then
    assert.is_true(first_sent >= 200 and first_sent <= 200 + 3 * CONCURRENCY, first_sent .. " queries")
    assert.are.equal(ROWS, runs.exactly_once(dir .. "/out", input))
    local unsent = 0
    for _, row in ipairs(runs.read_csv(dir .. "/out/unverified.csv")) do
      if row.rule == "unsent" then
        unsent = unsent + 1
        assert.matches("^threshold crossed: rate%(no_record%)", row.reason)
      end
    end
    assert.are.equal(ROWS - first_sent, unsent)
    local summary = cjson.decode(sim.read_file(dir .. "/out/summary.json"))
    assert.are.equal(200, summary.min_samples)
    local by_metric = {}
    for _, t in ipairs(summary.thresholds) do by_metric[t.metric] = t end
    assert.is_true(by_metric.no_record.crossed)
    assert.are.equal(200, by_metric.no_record.answers_when_crossed)
    assert.are.equal(1, by_metric.no_record.value_when_crossed)
    assert.is_false(by_metric.invalid.crossed)
    assert.is_true(by_metric.invalid.judged)
    assert.are.equal("transport: count < 50", by_metric.transport.condition)
    local html = sim.read_file(dir .. "/out/report.html")
    assert.matches("THRESHOLD crossed: rate(no_record)", html, 1, true)
    assert.matches('<td class="crossed">CROSSED at 1.000 after 200 answers', html, 1, true)
    assert.is_not_nil(sim.read_file(dir .. "/out/journal.sqlite"))
    -- made again from summary.json, whose numbers read back as floats: still whole numbers
    local _, rerr, rstatus = sim.run(sim.qxtv() .. " report " .. dir .. "/out/summary.json " .. dir .. "/again.html")
    assert.are.equal(0, rstatus, rerr)
    local again = sim.read_file(dir .. "/again.html")
    assert.matches("records<b>1000</b>", again, 1, true)
    assert.matches("CROSSED at 1.000 after 200 answers", again, 1, true)
    assert.is_nil(again:find("1000.0", 1, true))
  end)

  it("resumed as it is, stops again at once on the journal's answers, sending nothing", function()
    local _, err, status = verify_csv(s, input, dir .. "/out", "--mobile-column phone2 --resume")
    assert.are.equal(qxt.exit.THRESHOLD, status, err)
    assert.are.equal(first_sent, s:stats().requests)
    assert.are.equal(ROWS, runs.exactly_once(dir .. "/out", input))
  end)

  it("resumed with the thresholds off, finishes without asking any pair twice", function()
    local _, err, status = verify_csv(s, input, dir .. "/out", "--mobile-column phone2 --resume --no-thresholds")
    assert.are.equal(0, status, err)
    local stats = s:stats()
    assert.are.equal(ROWS, stats.requests)           -- the rest, once
    assert.are.equal(0, stats.repeated_pairs)
    assert.are.equal(ROWS, runs.exactly_once(dir .. "/out", input))
    assert.are.equal(ROWS, #runs.read_csv(dir .. "/out/unverified.csv"))
    local summary = cjson.decode(sim.read_file(dir .. "/out/summary.json"))
    assert.are.equal(first_sent, summary.resumed)
    assert.is_nil(summary.thresholds)
  end)
end)

describe("--abort-if and --min-samples", function()
  local dir, s, input
  setup(function()
    dir = runs.tmpdir()
    s = sim.start()
    input = make_input(dir)
  end)
  teardown(function()
    s:stop()
    os.execute("rm -rf " .. dir)
  end)

  it("stop when the condition holds, after the minimum samples given", function()
    s:reset()
    local _, err, status = verify_csv(s, input, dir .. "/ok",
      "--no-thresholds --abort-if 'count(consistent) >= 300' --min-samples 300")
    assert.are.equal(qxt.exit.THRESHOLD, status, err)
    assert.matches("count(consistent) = 300 after 300 answers (abort if count(consistent) >= 300)", err, 1, true)
    assert.are.equal(ROWS, runs.exactly_once(dir .. "/ok", input))
  end)

  it("with the right column, the default thresholds hold and the run ends 0", function()
    local _, err, status = verify_csv(s, input, dir .. "/right")
    assert.are.equal(0, status, err)
    assert.matches("no_record: rate < 0.3%s+now 0.000%s+holds", err)
  end)

  for _, case in ipairs{
    { "--abort-if 'rate(no_recod) > 0.3'", "unknown metric 'no_recod'" },
    { "--abort-if 'rate(no_record) > 0.3 or os.exit(0)'", "write it as rate(METRIC) > 0.3" },
    { "--abort-if 'rate(no_record) > 3'", "a rate is a number from 0 to 1" },
    { "--min-samples 0", "positive integer" },
    { "--max-age fatal=3 --reuse-from x", "no outcome 'fatal'" },
  } do
    it("refuse " .. case[1] .. " before anything is read, opened or sent (exit 2)", function()
      s:reset()
      local out = dir .. "/bad" .. math.random(1e6)
      local _, err, status = verify_csv(s, input, out, case[1])
      assert.are.equal(qxt.exit.USAGE, status, err)
      assert.matches(case[2], err, 1, true)
      assert.are.equal(0, s:stats().requests)
      assert.is_nil(sim.read_file(out .. "/journal.sqlite"))
    end)
  end
end)
