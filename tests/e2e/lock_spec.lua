-- One run at a time per output directory and per journal, end to end:
-- `qxtv run scripts/verify_csv.lua` as subprocesses against a slow
-- simulator. A second run on the same --out (or the same --journal) must
-- stop at once, before it sends, truncates or writes anything, with exit
-- status 2 and the pid of the run that holds it; the first run must finish
-- as if alone. A run killed with SIGKILL must block nothing.
local cjson = require("cjson")
local runs = require("tests.helpers.runs")
local sim = require("tests.helpers.sim")

local NAMES = { "张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十" }
local ROWS = 120

local function make_input(dir)
  local inp = assert(io.open(dir .. "/input.csv", "w"))
  local ppl = assert(io.open(dir .. "/people.csv", "w"))
  inp:write("id,mobile,name\n")
  ppl:write("mobile,name,area,carrier\n")
  for i = 1, ROWS do
    local m, nm = ("139%08d"):format(i), NAMES[i % #NAMES + 1]
    if i % 3 == 0 then ppl:write(m, ",", nm, ",湖北-宜昌,中国电信\n") end
    inp:write("R", i, ",", m, ",", nm, "\n")
  end
  inp:close()
  ppl:close()
  return dir .. "/input.csv", dir .. "/people.csv"
end

local function command(input, out, extra)
  return ("%s run scripts/verify_csv.lua %s --out %s --quiet --concurrency 4 %s"):format(
    sim.qxtv(), input, out, extra or "")
end

local header = runs.journal_header

local function has(text, part)
  return text ~= nil and text:find(part, 1, true) ~= nil
end

describe("one run per output directory and journal", function()
  local dir, input, s
  setup(function()
    dir = runs.tmpdir()
    local people
    input, people = make_input(dir)
    -- Slow answers keep the first run busy for seconds: 120 rows, 4 in flight.
    s = sim.start{ "--people", people, "--latency", "100ms" }
  end)
  teardown(function()
    s:stop()
    os.execute("rm -rf " .. dir)
  end)

  -- A first run left behind by a failed test would hold its directory.
  local started = {}
  after_each(function()
    for _, h in ipairs(started) do
      if not runs.finish(h, 0) then os.execute("kill -9 " .. h.pid .. " 2>/dev/null") end
    end
    started = {}
  end)

  -- Starts a run in the background and waits until it is sending.
  local function first(out, extra)
    s:reset()
    local h = runs.start(command(input, out, extra), s.endpoint, dir)
    started[#started + 1] = h
    assert(runs.until_true(function() return s:stats().requests > 0 end, 20), "the first run never sent")
    return h
  end

  -- The first run ends normally: every row once, every pair asked once.
  local function finished_alone(h, out)
    local status, err = runs.finish(h, 60)
    assert.are.equal(0, status, err)
    local stats = s:stats()
    assert.are.equal(0, stats.repeated_pairs)
    local summary = cjson.decode(sim.read_file(out .. "/summary.json"))
    assert.are.equal(ROWS, summary.records)
    assert.are.equal(summary.queries_sent, stats.requests)
    assert.are.equal(ROWS, runs.exactly_once(out, input))
  end

  it("stops a second run on the same --out at once: exit 2, the holder's pid, nothing sent", function()
    local out = dir .. "/same"
    local h = first(out)
    for _, extra in ipairs{ "", "--resume", "--no-journal" } do
      local _, err, status = sim.run(command(input, out, extra), { QXT_ENDPOINT = s.endpoint })
      assert.are.equal(2, status, extra .. ": " .. err)
      assert.is_true(has(err, "pid " .. h.pid), extra .. ": " .. err)
      assert.is_true(has(err, out), extra .. ": " .. err)
    end
    finished_alone(h, out)
    -- The refused --resume did not even count as a run of the journal.
    assert.are.equal(1, header(out .. "/journal.sqlite").runs)
  end)

  it("stops a second run on the same --journal from another --out", function()
    local journal = dir .. "/shared.sqlite"
    local h = first(dir .. "/one", "--journal " .. journal)
    for _, extra in ipairs{ "", "--resume" } do
      local _, err, status = sim.run(command(input, dir .. "/two", "--journal " .. journal .. " " .. extra),
                                     { QXT_ENDPOINT = s.endpoint })
      assert.are.equal(2, status, extra .. ": " .. err)
      assert.is_true(has(err, "pid " .. h.pid), extra .. ": " .. err)
      assert.is_true(has(err, journal), extra .. ": " .. err)
    end
    for _, o in ipairs(runs.OUTCOMES) do assert.is_nil(sim.read_file(dir .. "/two/" .. o .. ".csv"), o) end
    finished_alone(h, dir .. "/one")
    assert.are.equal(1, header(journal).runs)
  end)

  it("lets the next run (and --resume) proceed after a run killed with SIGKILL", function()
    local out = dir .. "/killed"
    local h = first(out)
    assert(runs.until_true(function() return s:stats().requests >= 20 end, 20))
    os.execute("kill -9 " .. h.pid)
    assert.are.equal(137, (runs.finish(h, 10)))
    -- The lock file still names the dead run: the kernel released its lock.
    assert.is_true(has(sim.read_file(out .. "/.qxtv.lock"), h.pid))
    local _, err, status = sim.run(command(input, out, "--resume"), { QXT_ENDPOINT = s.endpoint })
    assert.are.equal(0, status, err)
    assert.are.equal(ROWS, runs.exactly_once(out, input))
    assert.are.equal(2, header(out .. "/journal.sqlite").runs)
    -- And a run of another flow on the same directory, after that one ended.
    _, err, status = sim.run(command(input, out, "--no-journal"), { QXT_ENDPOINT = s.endpoint })
    assert.are.equal(0, status, err)
  end)
end)
