-- Excel in and out, end to end: `qxtv run scripts/verify_csv.lua` on
-- workbooks made by a real spreadsheet library (python3-openpyxl, through
-- tests/helpers/make_xlsx.py), against the simulator; the workbooks it
-- writes read back with openpyxl (tests/helpers/read_xlsx.py).
local cjson = require("cjson")
local runs = require("tests.helpers.runs")
local sim = require("tests.helpers.sim")

local PEOPLE = "scripts/data/people.csv"
local OUTCOMES = runs.OUTCOMES
local PY = "/usr/bin/python3"

local data                 -- the generated inputs, made once

local function generate()
  if data then return data end
  data = sim.tmpdir()
  local _, err, status = sim.run(("%s tests/helpers/make_xlsx.py %s"):format(PY, sim.quote(data)))
  assert(status == 0, "make_xlsx.py failed: " .. tostring(err))
  return data
end

-- Runs the bundled flow into a fresh directory: dir, stderr, exit status.
local function run_flow(endpoint, input, extra)
  local dir = sim.tmpdir() .. "/out"
  local _, err, status = sim.run(("%s run scripts/verify_csv.lua %s --out %s --quiet %s"):format(
    sim.qxtv(), sim.quote(input), sim.quote(dir), extra or ""), { QXT_ENDPOINT = endpoint })
  return dir, err, status
end

-- A sheet's or CSV's rows by their input row number (rows reach a sink in
-- the order their answers come back).
local function by_row(rows)
  table.sort(rows, function(a, b) return tonumber(a.row) < tonumber(b.row) end)
  return rows
end

local function read_back(path)
  local out, err, status = sim.run(("%s tests/helpers/read_xlsx.py %s"):format(PY, sim.quote(path)))
  assert(status == 0, "read_xlsx.py failed: " .. tostring(err))
  return cjson.decode(out)
end

-- What a CSV cell holds without the spreadsheet guard the CSV writer adds
-- ("'=1+1"): the .xlsx holds the text as read.
local function unguarded(v)
  if v:match("^'[=+%-@\t\r]") then return v:sub(2) end
  return v
end

describe("Excel input and output (verify_csv.lua)", function()
  local s
  before_each(function()
    generate()
    s = sim.start{ "--people", PEOPLE }
  end)
  after_each(function() s:stop() end)

  it("reads an .xlsx row for row like its CSV twin: the same outputs, the same reasons", function()
    local xdir, xerr, xstatus = run_flow(s.endpoint, data .. "/twin.xlsx")
    assert.are.equal(0, xstatus, xerr)
    local cdir, cerr, cstatus = run_flow(s.endpoint, data .. "/twin.csv")
    assert.are.equal(0, cstatus, cerr)
    local total = 0
    for _, o in ipairs(OUTCOMES) do
      local x, c = by_row(runs.read_csv(xdir .. "/" .. o .. ".csv")), by_row(runs.read_csv(cdir .. "/" .. o .. ".csv"))
      assert.are.same(c, x, o)
      total = total + #x
    end
    assert.are.equal(9, total)
    -- numbers-as-mobiles came back as 11 digits and were asked as such
    local consistent = runs.read_csv(xdir .. "/consistent.csv")
    local by_id = {}
    for _, r in ipairs(consistent) do by_id[r["申请编号"]] = r end
    assert.are.equal("13972565391", by_id.A1["手机号"])         -- stored as 1.3972565391E10
    assert.are.equal("2026-03-01", by_id.A1["日期"])             -- a date cell, as Excel shows it
    assert.are.equal("'=1+1", by_id.A1["备注"])                  -- text, guarded in the CSV output
    local invalid = runs.read_csv(xdir .. "/invalid.csv")
    assert.are.equal("mobile has 10 digits, need 11", invalid[1].reason)
    assert.are.equal(14, s:stats().requests)                     -- 7 pairs, asked once per run
  end)

  it("--format xlsx writes one workbook that reads back the same with openpyxl", function()
    local cdir, cerr, cstatus = run_flow(s.endpoint, data .. "/twin.csv")
    assert.are.equal(0, cstatus, cerr)
    local xdir, xerr, xstatus = run_flow(s.endpoint, data .. "/twin.xlsx", "--format xlsx")
    assert.are.equal(0, xstatus, xerr)
    assert.are.equal("600", runs.mode(xdir .. "/results.xlsx"))
    for _, o in ipairs(OUTCOMES) do assert.is_nil(io.open(xdir .. "/" .. o .. ".csv")) end
    local book = read_back(xdir .. "/results.xlsx")
    local names = {}
    for i, sh in ipairs(book.sheets) do names[i] = sh.name end
    assert.are.same({ "summary", "consistent", "inconsistent", "invalid", "unverified" }, names)
    for i = 2, #book.sheets do
      local sh, want = book.sheets[i], by_row(runs.read_csv(cdir .. "/" .. book.sheets[i].name .. ".csv"))
      assert.are.equal("A2", sh.freeze, sh.name)               -- the header row stays in view
      local header, at = sh.rows[1], {}
      for c, col in ipairs(header) do at[col] = c end
      local sheet_rows = { sh.rows[1] }
      for r = 2, #sh.rows do sheet_rows[r] = { row = sh.rows[r][at.row], cells = sh.rows[r], types = sh.types[r] } end
      table.sort(sheet_rows, function(a, b) return a.row and b.row and a.row < b.row end)
      assert.are.equal(#want, #sh.rows - 1, sh.name)
      for r = 2, #sh.rows do
        for c, col in ipairs(header) do
          local v, t, expected = sheet_rows[r].cells[c], sheet_rows[r].types[c], want[r - 1][col]
          if v == cjson.null then
            assert.are.equal("", expected, col)
          elseif col == "code" or col == "attempts" or col == "row" then
            assert.are.equal("n", t, col)                       -- numbers, to sort by
            assert.are.equal(tonumber(expected), v, col)
          else
            -- every input field, mobiles included, is text; never a number or a formula
            assert.are.equal("s", t, ("%s %s: %s"):format(sh.name, col, tostring(v)))
            assert.are.equal(unguarded(expected), v, col)
          end
        end
      end
    end
    local summary = {}
    for r = 2, #book.sheets[1].rows do summary[book.sheets[1].rows[r][1]] = book.sheets[1].rows[r][2] end
    assert.are.equal(9, summary.records)
    assert.are.equal(5, summary["outcomes.consistent"])
    assert.are.equal(5, summary["rows in sheet 'consistent'"])
  end)

  it("rejects a mobile whose digits Excel lost, naming the row and the cell, and pays for nothing", function()
    local dir, err, status = run_flow(s.endpoint, data .. "/lossy.xlsx")
    assert.are.equal(0, status, err)
    local invalid = runs.read_csv(dir .. "/invalid.csv")
    assert.are.equal(3, #invalid)
    assert.are.equal("L2", invalid[1].id)
    assert.are.equal("1.39E+10", invalid[1].mobile)
    assert.truthy(invalid[1].reason:find("row 2 (sheet row 3)", 1, true), invalid[1].reason)
    assert.truthy(invalid[1].reason:find("cell A3", 1, true), invalid[1].reason)
    assert.truthy(invalid[2].reason:find("not a whole number", 1, true), invalid[2].reason)
    assert.are.equal("row 4 (sheet row 5): the mobile in column 'mobile' (cell A5) holds the spreadsheet "
                     .. "error #N/A", invalid[3].reason)
    assert.are.equal(1, s:stats().requests)                     -- L1 only
  end)

  it("reads the sheet --sheet names, and lists the sheets when there is no such sheet", function()
    local dir, err, status = run_flow(s.endpoint, data .. "/twin.xlsx", "--sheet 其他")
    assert.are.equal(0, status, err)
    assert.are.equal(1, #runs.read_csv(dir .. "/consistent.csv"))
    local _, err2, status2 = run_flow(s.endpoint, data .. "/twin.xlsx", "--sheet March")
    assert.are.equal(2, status2)
    assert.truthy(err2:find("there is no sheet 'March'; the sheets are: '申请人', '其他'", 1, true), err2)
    local _, err3, status3 = run_flow(s.endpoint, data .. "/twin.csv", "--sheet 其他")
    assert.are.equal(2, status3)
    assert.truthy(err3:find("has no sheets", 1, true), err3)
  end)

  it("stops before sending anything on a merged header or a damaged, hostile or huge workbook", function()
    local cases = {
      merged = "the header (row 1) has merged cells A1:B1",
      bomb = "expands more than 200 times its compressed size",
      doctype = "has a DOCTYPE",
      badxml = "is not well-formed XML: mismatched tag at line 1",
      truncated = "one cut short",
      notzip = "not an .xlsx workbook",
    }
    for name, why in pairs(cases) do
      local dir, err, status = run_flow(s.endpoint, data .. "/" .. name .. ".xlsx")
      assert.are.equal(2, status, name .. ": " .. err)
      assert.truthy(err:find(why, 1, true), name .. ": " .. err)
      assert.is_nil(io.open(dir .. "/consistent.csv"), name)
    end
    assert.are.equal(0, s:stats().requests)
  end)

  it("--format xlsx after SIGINT and --resume: every row once in the workbook, no pair asked twice", function()
    local slow = sim.start{ "--people", PEOPLE, "--latency", "300ms" }
    local dir = sim.tmpdir()
    local out = dir .. "/out"
    local cmd = ("%s run scripts/verify_csv.lua %s --out %s --quiet --format xlsx --concurrency 1"):format(
      sim.qxtv(), sim.quote(data .. "/twin.xlsx"), sim.quote(out))
    local h = runs.start(cmd, slow.endpoint, dir)
    -- once the first query is out (the journal and the signal handler are set up by then)
    assert.is_true(runs.until_true(function() return slow:stats().requests >= 1 end, 30))
    os.execute("kill -INT " .. h.pid)
    local status, err = runs.finish(h, 10)
    assert.are.equal(5, status, err)
    assert.are.equal("600", runs.mode(out .. "/results.xlsx"))   -- what was answered, written
    local _, err2, status2 = sim.run(cmd .. " --resume", { QXT_ENDPOINT = slow.endpoint })
    local stats = slow:stats()
    slow:stop()
    assert.are.equal(0, status2, err2)
    local seen, n = {}, 0
    for i, sh in ipairs(read_back(out .. "/results.xlsx").sheets) do
      if i > 1 then
        local at
        for c, col in ipairs(sh.rows[1]) do if col == "row" then at = c end end
        for r = 2, #sh.rows do
          local row = sh.rows[r][at]
          assert.is_nil(seen[row], "row " .. row .. " twice")
          seen[row], n = true, n + 1
        end
      end
    end
    assert.are.equal(9, n)
    assert.are.equal(0, stats.repeated_pairs)
  end)

  it("reads and writes workbooks under run --sandbox too", function()
    local dir = sim.tmpdir() .. "/out"
    local _, err, status = sim.run(("%s run --sandbox scripts/verify_csv.lua %s --out %s --quiet --format xlsx")
      :format(sim.qxtv(), sim.quote(data .. "/twin.xlsx"), sim.quote(dir)), { QXT_ENDPOINT = s.endpoint })
    assert.are.equal(0, status, err)
    assert.are.equal(5, #read_back(dir .. "/results.xlsx").sheets)
  end)

  it("refuses an old binary .xls with the way out", function()
    local path = sim.tmpdir() .. "/old.xls"
    sim.write_file(path, "\208\207\17\224\161\177\26\225" .. string.rep("\0", 512))
    local _, err, status = run_flow(s.endpoint, path)
    assert.are.equal(2, status)
    assert.truthy(err:find("save it as .xlsx", 1, true), err)
    assert.are.equal(0, s:stats().requests)
  end)
end)
