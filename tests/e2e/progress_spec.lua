-- Live progress as people and logs see it: a redrawn line on a real
-- terminal (a pty made by script(1)), plain lines when stderr is a file,
-- nothing with --quiet; and the summary's numbers against a known run.
local cjson = require("cjson")
local sim = require("tests.helpers.sim")
local text = require("qxt.text")

local function flow_cmd(dir, extra)
  return ("%s run scripts/verify_csv.lua scripts/data/applicants.csv --out %s --no-journal --concurrency 2 %s")
    :format(sim.qxtv(), dir, extra or "")
end

describe("progress", function()
  local s
  setup(function() s = sim.start{ "--people", "scripts/data/people.csv", "--latency", "60ms" } end)
  teardown(function() s:stop() end)

  it("redraws one line on a terminal, never wider than it", function()
    local dir = os.tmpname(); os.remove(dir)
    local log = os.tmpname()
    local cmd = ("stty cols 60 2>/dev/null; QXT_ENDPOINT=%s %s"):format(s.endpoint, flow_cmd(dir))
    local _, err, status = sim.run(("script -qfec %s %s"):format(sim.quote(cmd), log))
    assert.are.equal(0, status, err)
    local typed = sim.read_file(log)
    os.remove(log)
    local redraws = 0
    for line in typed:gmatch("\r([^\r\n]-)\27%[K") do
      if line == "" then goto cleared end     -- the line cleared at the end
      redraws = redraws + 1
      assert.matches("^%d+/71 +%d+%% | %d+/s | ETA ", line)
      -- The full line is ~95 columns; the terminal has 60: it must be cut.
      assert.is_true(text.width(line) < 60, "a line of " .. text.width(line) .. " columns")
      ::cleared::
    end
    assert.is_true(redraws >= 3, redraws .. " redraws")
    assert.matches("records    71 ", typed)
    os.execute("rm -rf " .. dir)
  end)

  it("prints plain lines when stderr is not a terminal, and nothing with --quiet", function()
    local dir = os.tmpname(); os.remove(dir)
    local _, err, status = sim.run(flow_cmd(dir, "--progress-every 0.3"), { QXT_ENDPOINT = s.endpoint })
    assert.are.equal(0, status, err)
    assert.is_nil(err:find("\r", 1, true))
    local lines = 0
    for _ in err:gmatch("\n%d+/71 +%d+%% | [^\n]*retries %d+") do lines = lines + 1 end
    assert.is_true(lines >= 2, lines .. " progress lines in:\n" .. err)
    os.execute("rm -rf " .. dir)
    _, err = sim.run(flow_cmd(dir, "--quiet --progress-every 0.3"), { QXT_ENDPOINT = s.endpoint })
    assert.is_nil(err:find("/71 ", 1, true))
    os.execute("rm -rf " .. dir)
  end)

  it("ends with a summary whose numbers match the run", function()
    local dir = os.tmpname(); os.remove(dir)
    local _, err, status = sim.run(flow_cmd(dir, "--quiet"), { QXT_ENDPOINT = s.endpoint })
    assert.are.equal(0, status, err)
    local summary = cjson.decode(sim.read_file(dir .. "/summary.json"))
    -- The sample is fixed: 71 rows, 5 invalid locally, 4 duplicate rows.
    assert.are.equal(71, summary.records)
    assert.are.equal(5, summary.outcomes.invalid)
    assert.are.equal(4, summary.duplicates)
    assert.are.equal(71 - 5 - 4, summary.queries_sent)
    local total = 0
    for _, n in pairs(summary.outcomes) do total = total + n end
    assert.are.equal(71, total)
    assert.matches(("records +71 in"), err)
    assert.matches(("queries +%d sent"):format(summary.queries_sent), err)
    os.execute("rm -rf " .. dir)
  end)
end)
