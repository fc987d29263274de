-- The small bundled flows, run as a user would: kyc_onboarding.lua (a rule
-- list with otherwise) and check_one.lua.
local csv = require("qxt.csv")
local sim = require("tests.helpers.sim")

local function rows(path)
  local reader = assert(csv.open(path, { columns = false }))
  local out = {}
  for row in reader:rows() do out[#out + 1] = row end
  reader:close()
  return out
end

describe("scripts/kyc_onboarding.lua", function()
  it("decides approve, review or reject for every applicant, naming the rule", function()
    local s = sim.start{ "--people", "scripts/data/people.csv" }
    local dir = os.tmpname()
    os.remove(dir)
    local _, err, status = sim.run(sim.qxtv() .. " run scripts/kyc_onboarding.lua scripts/data/applicants.csv "
                                   .. dir, { QXT_ENDPOINT = s.endpoint })
    s:stop()
    assert.are.equal(0, status, err)
    local seen, total = {}, 0
    local expect = { approve = { verified = true },
                     review = { ["virtual operator"] = true, ["home area unknown"] = true, otherwise = true },
                     reject = { ["name does not match"] = true, ["not a valid number or name"] = true } }
    for decision, allowed in pairs(expect) do
      for _, row in ipairs(rows(dir .. "/" .. decision .. ".csv")) do
        assert.is_nil(seen[row["申请编号"]], row["申请编号"] .. " twice")
        seen[row["申请编号"]] = decision
        assert.is_true(allowed[row.rule] == true, decision .. " by rule " .. tostring(row.rule))
        total = total + 1
      end
    end
    assert.are.equal(#rows("scripts/data/applicants.csv"), total)
    assert.are.equal("reject", seen.A0063)        -- 12345678901: not a mobile number
    assert.are.equal("review", seen.A0061)        -- no record (-4): otherwise
    os.execute("rm -rf " .. dir)
  end)

  it("reads the same applicants from an Excel workbook and decides the same", function()
    local dir = sim.tmpdir()
    -- The CSV saved as a workbook by a real spreadsheet library (Debian's python3-openpyxl).
    sim.write_file(dir .. "/to_xlsx.py", [[
import csv, sys, openpyxl
wb = openpyxl.Workbook()
ws = wb.active
for row in csv.reader(open(sys.argv[1], encoding="utf-8-sig")):
    ws.append(row)
ws.row_dimensions[3].hidden = True       # a filter a person left on: read, and said
wb.save(sys.argv[2])
]])
    local _, perr, pstatus = sim.run(("/usr/bin/python3 %s scripts/data/applicants.csv %s"):format(
      sim.quote(dir .. "/to_xlsx.py"), sim.quote(dir .. "/applicants.xlsx")))
    assert.are.equal(0, pstatus, perr)
    local s = sim.start{ "--people", "scripts/data/people.csv" }
    local decided = {}
    for _, input in ipairs{ "scripts/data/applicants.csv", dir .. "/applicants.xlsx" } do
      local out = dir .. "/out-" .. #decided
      local _, err, status = sim.run(sim.qxtv() .. " run scripts/kyc_onboarding.lua " .. sim.quote(input) .. " "
                                     .. out, { QXT_ENDPOINT = s.endpoint })
      assert.are.equal(0, status, err)
      if input:match("%.xlsx$") then assert.matches("1 hidden row (the first: row 3)", err, 1, true) end
      local t = {}
      for _, decision in ipairs{ "approve", "review", "reject" } do
        for _, row in ipairs(rows(out .. "/" .. decision .. ".csv")) do t[row["申请编号"]] = decision .. "/" .. row.rule end
      end
      decided[#decided + 1] = t
    end
    s:stop()
    assert.is_true(next(decided[1]) ~= nil)
    assert.are.same(decided[1], decided[2])
    os.execute("rm -rf " .. dir)
  end)
end)

describe("scripts/check_one.lua", function()
  it("prints one answer", function()
    local out, err, status = sim.run(sim.qxtv() .. " run scripts/check_one.lua 13972565391 张三")
    assert.are.equal(0, status, err)
    assert.are.equal("0\tSucc\t一致\t湖北-宜昌\t中国电信\n", out)
  end)
end)
