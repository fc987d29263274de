-- qxt.diff and `qxtv diff` on output directories made here: destination
-- names as they come from file names (any bytes).
local diff = require("qxt.diff")
local sim = require("tests.helpers.sim")

local function write_csv(path, rows)
  local lines = { "row,mobile,name" }
  for _, r in ipairs(rows) do lines[#lines + 1] = ("%d,%s,%s"):format(r, "139" .. ("%08d"):format(r), "张三") end
  sim.write_file(path, table.concat(lines, "\n") .. "\n")
end

describe("qxt.diff", function()
  it("shows destinations whose names are not UTF-8 or hold Hangul Jamo (U+1100..U+115F)", function()
    local a, b = sim.tmpdir(), sim.tmpdir()
    local jamo, bad = "\u{1100}\u{115F}", "bad\255name"
    write_csv(a .. "/" .. jamo .. ".csv", { 1, 2 })
    write_csv(a .. "/same.csv", { 3 })
    write_csv(b .. "/" .. bad .. ".csv", { 1, 2 })
    write_csv(b .. "/same.csv", { 3 })
    local d = assert(diff.compare(a, b))
    assert.are.equal(2, d.moved)
    local text = diff.text(d)
    assert.matches(jamo .. " -> " .. bad .. ": 2 row(s)", text, 1, true)
    -- the matrix: the Jamo name (4 columns) padded to the widest (8 bytes, 8 columns)
    assert.matches("\n" .. jamo .. "      2*", text, 1, true)
    local out, err, status = sim.run(("%s diff %s %s"):format(sim.qxtv(), sim.quote(a), sim.quote(b)))
    assert.are.equal(0, status, err)
    assert.matches("1 rows in the same destination, 2 moved", out, 1, true)
    os.execute(("rm -rf %s %s"):format(sim.quote(a), sim.quote(b)))
  end)
end)
