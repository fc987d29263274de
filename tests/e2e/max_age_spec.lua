-- --reuse-from with --max-age by outcome, end to end: scripts/verify_csv.lua
-- reuses an earlier run's answers while they are younger than their
-- outcome's age (defaults: the serve cache's 30/7/1 days), and asks the
-- simulator again for the rest; its /stats say which pairs were asked.
local sim = require("tests.helpers.sim")
local runs = require("tests.helpers.runs")

local DAY = 86400
-- consistent (5 pairs), inconsistent (李四), no record (某某), and one refused before sending
local PEOPLE = { { "13972565391", "张三" }, { "18819079212", "曹操" }, { "17012345678", "周八" },
                 { "13912345678", "王五" }, { "13972565391", "李四" }, { "13900000001", "某某" },
                 { "12345", "坏号" }, { "19212345678", "马超" } }

describe("--reuse-from with --max-age by outcome", function()
  local dir, s
  setup(function()
    dir = runs.tmpdir()
    s = sim.start()
    local lines = { "id,mobile,name" }
    for i = 1, 24 do
      local p = PEOPLE[(i - 1) % #PEOPLE + 1]
      lines[#lines + 1] = ("A%02d,%s,%s"):format(i, p[1], p[2])
    end
    sim.write_file(dir .. "/in.csv", table.concat(lines, "\n") .. "\n")
    local _, err, status = sim.run(("%s run scripts/verify_csv.lua %s/in.csv --out %s/a --quiet"):format(
      sim.qxtv(), dir, dir), { QXT_ENDPOINT = s.endpoint })
    assert(status == 0, err)
    -- every answer three days old
    local db = require("qxt.sqlite.core").open(dir .. "/a/journal.sqlite")
    db:exec("UPDATE answers SET at = at - " .. 3 * DAY)
    db:close()
  end)
  teardown(function()
    s:stop()
    os.execute("rm -rf " .. dir)
  end)

  -- A run reusing a/journal.sqlite; returns the pairs it asked, sorted.
  local function asked(out, extra)
    s:reset()
    local _, err, status = sim.run(("%s run scripts/verify_csv.lua %s/in.csv --out %s/%s --quiet --reuse-from "
      .. "%s/a/journal.sqlite %s"):format(sim.qxtv(), dir, dir, out, dir, extra or ""), { QXT_ENDPOINT = s.endpoint })
    assert.are.equal(0, status, err)
    local list = {}
    for pair in pairs(s:stats().pairs) do list[#list + 1] = pair end
    table.sort(list)
    assert.are.equal(24, runs.exactly_once(dir .. "/" .. out, dir .. "/in.csv"))
    return list
  end

  it("by default reuses 3-day-old consistent and inconsistent answers, not no record", function()
    assert.are.same({ "13900000001,某某" }, asked("b"))
  end)

  it("takes one age per outcome, the others at their defaults", function()
    assert.are.same({ "13972565391,李四" }, asked("c", "--max-age inconsistent=2,no_record=5"))
  end)

  it("takes one age for every outcome", function()
    assert.are.equal(7, #asked("d", "--max-age 1"))
    assert.are.same({}, asked("e", "--max-age 3.5"))
  end)
end)
