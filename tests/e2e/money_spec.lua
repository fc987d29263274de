-- Money, end to end: `qxtv run scripts/verify_csv.lua` against simulators
-- whose answers come too late or name someone else. What the simulator
-- billed (its own /stats) must lie between the summary's `charged` and
-- `charged + possibly_charged`, and nothing about someone else becomes a
-- verdict, now or on --resume.
local cjson = require("cjson")
local sim = require("tests.helpers.sim")

local PEOPLE = "scripts/data/people.csv"

-- An input of the first n people of the registry (all consistent when answered).
local function input_of(n)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("mobile,name\n")
  local i = 0
  for line in io.lines(PEOPLE) do
    if i > 0 and i <= n then
      local mobile, name = line:match("^([^,]+),([^,]+)")
      f:write(mobile, ",", name, "\n")
    end
    i = i + 1
  end
  f:close()
  return path
end

local rows = require("tests.helpers.runs").read_csv

local function run(endpoint, input, dir, extra)
  return sim.run(("%s run --timeout 1 scripts/verify_csv.lua %s --out %s %s"):format(
    sim.qxtv(), input, dir, extra or ""), { QXT_ENDPOINT = endpoint })
end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  return d
end

describe("money, end to end", function()
  it("slow answers and --timeout 1: the provider's count lies between charged and charged + possibly_charged",
     function()
    local s = sim.start{ "--people", PEOPLE, "--latency", "1500ms" }
    local input, dir = input_of(20), tmpdir()
    local _, err, status = run(s.endpoint, input, dir, "--report " .. dir .. "/report.html")
    local billed = s:stats().charged
    s:stop()
    local summary = cjson.decode(sim.read_file(dir .. "/summary.json") or error(err))
    assert.are.equal(0, status, err)
    assert.are.equal(20, #rows(dir .. "/unverified.csv"))
    assert.are.equal(40, summary.queries_sent)       -- each pair sent, then re-sent once: not 5 times
    assert.are.equal(40, summary.possibly_charged)
    assert.is_true(billed >= summary.charged, billed .. " billed, " .. summary.charged .. " charged")
    assert.is_true(billed <= summary.charged + summary.possibly_charged,
                   billed .. " billed, " .. summary.charged .. " + " .. summary.possibly_charged)
    assert.matches("40 possibly charged", err)     -- the end-of-run table
    assert.matches("possibly charged", assert(sim.read_file(dir .. "/report.html")))
    os.execute("rm -rf " .. dir .. " " .. input)
  end)

  it("--resend-possibly-charged 0 sends each pair once", function()
    local s = sim.start{ "--people", PEOPLE, "--latency", "1500ms" }
    local input, dir = input_of(5), tmpdir()
    local _, err, status = run(s.endpoint, input, dir, "--quiet --resend-possibly-charged 0")
    local seen = s:stats()
    s:stop()
    local summary = cjson.decode(sim.read_file(dir .. "/summary.json") or error(err))
    assert.are.equal(0, status, err)
    assert.are.equal(5, seen.requests)
    assert.are.equal(5, summary.possibly_charged)
    os.execute("rm -rf " .. dir .. " " .. input)
  end)

  it("--resume does not pay again for what earlier runs possibly paid for, unless allowed", function()
    local slow = sim.start{ "--people", PEOPLE, "--latency", "1500ms" }
    local input, dir = input_of(5), tmpdir()
    local _, err, status = run(slow.endpoint, input, dir, "--quiet")
    local first = slow:stats().requests
    slow:stop()
    assert.are.equal(0, status, err)
    assert.are.equal(10, first)                       -- sent, then re-sent once

    local fast = sim.start{ "--people", PEOPLE }
    _, err, status = run(fast.endpoint, input, dir, "--quiet --resume")
    assert.are.equal(0, status, err)
    assert.are.equal(0, fast:stats().requests)
    local unverified = rows(dir .. "/unverified.csv")
    assert.are.equal(5, #unverified)
    for _, row in ipairs(unverified) do
      assert.matches("possibly charged 2 time%(s%) by earlier runs of this journal; not sent again", row.reason)
    end

    -- Said explicitly, once more is allowed; answered now, they are kept.
    _, err, status = run(fast.endpoint, input, dir, "--quiet --resume --resend-possibly-charged 2")
    local asked = fast:stats().requests
    fast:stop()
    assert.are.equal(0, status, err)
    assert.are.equal(5, asked)
    assert.are.equal(5, #rows(dir .. "/consistent.csv"))
    os.execute("rm -rf " .. dir .. " " .. input)
  end)

  it("answers naming another mobile are never verdicts, and a resume asks again", function()
    local wrong = sim.start{ "--people", PEOPLE, "--wrong-mobile-rate", "1" }
    local input, dir = input_of(20), tmpdir()
    local _, err, status = run(wrong.endpoint, input, dir)
    local seen = wrong:stats()
    wrong:stop()
    local summary = cjson.decode(sim.read_file(dir .. "/summary.json") or error(err))
    assert.are.equal(0, status, err)
    assert.are.equal(0, #rows(dir .. "/consistent.csv") + #rows(dir .. "/inconsistent.csv"))
    local unverified = rows(dir .. "/unverified.csv")
    assert.are.equal(20, #unverified)
    for _, row in ipairs(unverified) do
      assert.matches("another mobile", row.reason)
      assert.are.equal("", row.status)
      assert.are.equal("", row.area)
    end
    assert.are.equal(20, seen.requests)               -- never retried
    assert.are.equal(20, summary.possibly_charged)
    assert.is_true(seen.charged >= summary.charged and seen.charged <= summary.charged + summary.possibly_charged)
    assert.matches("named another person", err)

    local j = assert(qxt.journal.open(dir .. "/journal.sqlite", { resume = true }))
    assert.are.equal(20, j:header("possibly_charged"))
    j:close()

    -- The journal kept none of them as answers: --resume asks the provider.
    local good = sim.start{ "--people", PEOPLE }
    _, err, status = run(good.endpoint, input, dir, "--resume")
    local asked = good:stats().requests
    good:stop()
    assert.are.equal(0, status, err)
    assert.are.equal(20, asked)
    assert.are.equal(20, #rows(dir .. "/consistent.csv"))
    os.execute("rm -rf " .. dir .. " " .. input)
  end)
end)
