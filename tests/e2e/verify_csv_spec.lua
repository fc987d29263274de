-- The bundled flow, end to end: `qxtv run scripts/verify_csv.lua` as a
-- subprocess against simulators, on the messy sample export.
local cjson = require("cjson")
local csv = require("qxt.csv")
local sim = require("tests.helpers.sim")

local KEY = os.getenv("QXTV_TEST_APIKEY")
local INPUT = "scripts/data/applicants.csv"
local PEOPLE = "scripts/data/people.csv"
local OUTCOMES = { "consistent", "inconsistent", "invalid", "unverified" }

local function read_csv(path)
  local reader = csv.open(path, { columns = false })
  if not reader then return nil end
  local rows = {}
  for row in reader:rows() do rows[#rows + 1] = row end
  reader:close()
  return rows
end

local function input_ids(path)
  local ids = {}
  for _, row in ipairs(read_csv(path or INPUT)) do ids[#ids + 1] = row["申请编号"] end
  return ids
end

-- Runs the flow into a fresh directory; returns the directory, outputs by
-- outcome, stdout, stderr, exit status.
local function run_flow(endpoint, extra, input)
  local dir = os.tmpname()
  os.remove(dir)
  local out, err, status = sim.run(("%s run scripts/verify_csv.lua %s --out %s %s"):format(
    sim.qxtv(), input or INPUT, dir, extra or ""), { QXT_ENDPOINT = endpoint })
  local outputs = {}
  for _, o in ipairs(OUTCOMES) do outputs[o] = read_csv(dir .. "/" .. o .. ".csv") end
  return dir, outputs, out, err, status
end

-- Asserts every input id is in exactly one output; returns id -> outcome.
local function exactly_once(outputs, ids)
  local where = {}
  for outcome, rows in pairs(outputs) do
    for _, row in ipairs(rows) do
      local id = row["申请编号"]
      assert.is_nil(where[id], id .. " is in " .. tostring(where[id]) .. " and " .. outcome)
      where[id] = outcome
      assert.is_not_nil(row.reason, id)
    end
  end
  for _, id in ipairs(ids) do assert.is_not_nil(where[id], id .. " was lost") end
  local n = 0
  for _ in pairs(where) do n = n + 1 end
  assert.are.equal(#ids, n)
  return where
end

describe("scripts/verify_csv.lua", function()
  local s
  before_each(function() s = sim.start{ "--people", PEOPLE, "--latency", "20ms" } end)
  after_each(function() s:stop() end)

  it("writes every row to exactly one output, with the original columns and the result", function()
    local dir, outputs, _, err, status = run_flow(s.endpoint)
    assert.are.equal(0, status, err)
    local where = exactly_once(outputs, input_ids())
    assert.are.equal("consistent", where.A9999)             -- quoted field with a comma inside
    local row = outputs.consistent[1]
    for _, col in ipairs{ "申请编号", "手机号", "姓名", "产品", "code", "reason", "status", "area",
                          "isp", "attempts", "row" } do
      assert.is_not_nil(row[col], col)
    end
    for _, r in ipairs(outputs.invalid) do assert.is_true(#r.reason > 0) end
    local summary = cjson.decode(sim.read_file(dir .. "/summary.json"))
    assert.are.equal(#input_ids(), summary.records)
    assert.are.equal(#outputs.consistent, summary.outcomes.consistent)
    assert.is_number(summary.latency_ms.p95)
    assert.are.equal(s:stats().charged, summary.charged)
    -- Money: no (mobile, name) pair was ever asked twice.
    assert.are.equal(0, s:stats().repeated_pairs)
    os.execute("rm -rf " .. dir)
  end)

  it("retries -8 and still answers every row once", function()
    local f = sim.start{ "--people", PEOPLE, "--fail-rate", "0.3", "--seed", "11" }
    local dir, outputs, _, err, status = run_flow(f.endpoint)
    local stats = f:stats()
    f:stop()
    assert.are.equal(0, status, err)
    exactly_once(outputs, input_ids())
    local summary = cjson.decode(sim.read_file(dir .. "/summary.json"))
    assert.is_true(summary.retries > 0)
    assert.are.equal(stats.requests, summary.queries_sent)
    os.execute("rm -rf " .. dir)
  end)

  it("halts on -5 with status 3 and routes the rest to unverified", function()
    local b = sim.start{ "--people", PEOPLE, "--apikey", KEY .. ":10" }
    local dir, outputs, _, err, status = run_flow(b.endpoint, "--concurrency 4")
    local stats = b:stats()
    b:stop()
    assert.are.equal(3, status)
    assert.matches("halted", err)
    exactly_once(outputs, input_ids())
    local halted = 0
    for _, r in ipairs(outputs.unverified) do
      if r.reason:find("^halted: %-5") then halted = halted + 1 end
    end
    assert.is_true(halted > 30, halted .. " rows halted")
    assert.are.equal(10, stats.charged)
    os.execute("rm -rf " .. dir)
  end)

  it("reads a GB18030 export the same as UTF-8", function()
    local gbk = os.tmpname()
    assert(os.execute("iconv -f UTF-8 -t GB18030 " .. INPUT .. " > " .. gbk))
    local dir, outputs, _, err, status = run_flow(s.endpoint, "", gbk)
    assert.are.equal(0, status, err)
    local where = exactly_once(outputs, input_ids())
    local _, utf8_outputs = run_flow(s.endpoint)
    local expected = exactly_once(utf8_outputs, input_ids())
    assert.are.same(expected, where)
    os.remove(gbk)
    os.execute("rm -rf " .. dir)
  end)

  it("keeps the apikey out of every output and stderr", function()
    local dir, _, out, err = run_flow(s.endpoint)
    local p = io.popen("cat " .. dir .. "/*")
    local all = p:read("a") .. out .. err
    p:close()
    assert.is_nil(all:find(KEY, 1, true))
    os.execute("rm -rf " .. dir)
  end)

  it("names the columns it found when the mobile column is missing", function()
    local _, _, _, err, status = run_flow(s.endpoint, "--mobile-column 电话")
    assert.are.equal(2, status)
    assert.matches("电话", err)
    assert.matches("手机号", err)
  end)

  it("refuses bad options with status 2", function()
    for _, bad in ipairs{ "--concurrency 0", "--concurrency x", "--bogus 1", "--rate" } do
      local _, _, _, err, status = run_flow(s.endpoint, bad)
      assert.are.equal(2, status, bad)
      assert.matches("usage", err)
    end
  end)
end)
