-- qxt.diff and `qxtv diff` on output directories made here: destination
-- names as they come from file names (any bytes), and a workbook that stops
-- being readable while it is read.
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

  describe("with a workbook that fails while it is read", function()
    local a, b, real_core
    setup(function()
      a, b = sim.tmpdir(), sim.tmpdir()
      local out = require("qxt.sink.xlsx").open(a .. "/results.xlsx", { columns = { "mobile", "name" } })
      local consistent = out:sheet("consistent")
      for i = 1, 3000 do
        assert(consistent:write({ fields = { mobile = "139" .. ("%08d"):format(i), name = "张三" } },
                                { row = i, code = 0 }))
      end
      assert(out:close({ records = 3000 }))
      -- B's workbook is cut short once its sheet has been checked and a few
      -- rows read, as a disk failing or a file rewritten in place would do.
      real_core = require("qxt.xlsx.core")
      local cut = setmetatable({
        open = function(path, sheet, ...)
          local book, err = real_core.open(path, sheet, ...)
          if not (book and sheet and path == b .. "/results.xlsx") then return book, err end
          local calls = 0
          return {
            date1904 = function() return book:date1904() end,
            close = function() return book:close() end,
            next = function()
              calls = calls + 1
              if calls == 5 then assert(os.execute("truncate -s 3000 " .. sim.quote(path))) end
              return book:next()
            end,
          }
        end,
      }, { __index = real_core })
      package.loaded["qxt.xlsx.core"] = cut
    end)
    before_each(function()
      assert(os.execute(("cp %s/results.xlsx %s/results.xlsx"):format(sim.quote(a), sim.quote(b))))
    end)
    teardown(function()
      package.loaded["qxt.xlsx.core"] = real_core
      os.execute(("rm -rf %s %s"):format(sim.quote(a), sim.quote(b)))
    end)

    it("fails with the workbook, the sheet and why, instead of comparing the rows read so far", function()
      local d, err = diff.compare(a, b)
      assert.is_nil(d)
      assert.matches("^" .. b:gsub("%p", "%%%0") .. "/results%.xlsx %(sheet consistent%): xl/worksheets/", err)
      assert.matches("cannot be read", err, 1, true)
    end)

    it("makes qxtv diff exit 2, as an output directory that cannot be read does", function()
      assert.are.equal(require("qxt.exit").USAGE, require("qxt.cli.diff")(a, b))
    end)
  end)
end)
