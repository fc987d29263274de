-- qxt.source.xlsx, qxt.sink.xlsx and their C halves (qxt.xlsx.core,
-- qxt.xlsx.writer) inside the real engine, on workbooks made by openpyxl
-- (tests/helpers/make_xlsx.py).
local core = require("qxt.xlsx.core")
local sim = require("tests.helpers.sim")
local xlsx_source = require("qxt.source.xlsx")
local xlsx_sink = require("qxt.sink.xlsx")

local data
local function generate()
  if data then return data end
  data = sim.tmpdir()
  local _, err, status = sim.run(("/usr/bin/python3 tests/helpers/make_xlsx.py %s"):format(sim.quote(data)))
  assert(status == 0, "make_xlsx.py failed: " .. tostring(err))
  return data
end

local function records(src)
  local out = {}
  for r in src:records() do out[#out + 1] = r end
  return out
end

describe("qxt.source.xlsx", function()
  before_each(generate)

  it("gives the records of its CSV twin: fields, seq, line, errors", function()
    local x = assert(xlsx_source.open(data .. "/twin.xlsx"))
    local c = assert(require("qxt.source.csv").open(data .. "/twin.csv"))
    assert.are.same(c:columns(), x:columns())
    assert.are.same(c:mapping(), x:mapping())
    assert.are.equal("申请人", x:sheet())
    assert.are.same({ 9, true }, { x:total() })
    local xr, cr = records(x), records(c)
    assert.are.equal(#cr, #xr)
    for i = 1, #cr do
      for _, k in ipairs({ "seq", "line", "mobile", "name", "error" }) do
        assert.are.equal(cr[i][k], xr[i][k], ("record %d: %s"):format(i, k))
      end
      assert.are.same(cr[i].fields, xr[i].fields)
    end
  end)

  it("turns numbers back into mobiles only when every digit is written", function()
    local d = xlsx_source.mobile_digits
    assert.are.equal("13972565391", d("13972565391"))
    assert.are.equal("13972565391", d("1.3972565391E10"))
    assert.are.equal("13972565391", d("1.3972565391e+10"))
    assert.are.equal("13972565391", d("13972565391.0"))
    assert.are.equal("13900000000", d("13900000000"))        -- every digit written
    assert.are.equal("13972565390", d("1.3972565390E10"))
    assert.is_nil(d("1.39E+10"))                             -- eight digits not there
    assert.is_nil(d("1.397256539E10"))
    assert.is_nil(d("13972565391.5"))
    assert.is_nil(d("-13972565391"))
    assert.is_nil(d("1e400"))
    assert.is_nil(d("abc"))
  end)

  it("shows numbers, dates, times and booleans as Excel does", function()
    local t = xlsx_source.cell_text
    assert.are.equal("0.3", t("0.30000000000000004", "n"))
    assert.are.equal("13972565391", t("13972565391", "n"))
    assert.are.equal("2026-03-01", t("46082", "d"))
    assert.are.equal("2026-03-01 12:00:00", t("46082.5", "d"))
    assert.are.equal("08:30:00", t("0.3541666666666667", "d"))
    assert.are.equal("1900-02-28", t("59", "d"))
    assert.are.equal("1900-02-29", t("60", "d"))             -- Excel's own, as it shows it
    assert.are.equal("1900-03-01", t("61", "d"))
    assert.are.equal("2030-03-02", t("46082", "d", true))    -- a 1904 workbook
    assert.are.equal("TRUE", t("TRUE", "b"))
    assert.are.equal("#N/A", t("#N/A", "e"))
    assert.are.equal("a\rb_x0041_", t("a_x000D_b_x005F_x0041_"))
  end)

  it("reads the sheet asked for, and names the sheets when it is not there", function()
    local src = assert(xlsx_source.open(data .. "/twin.xlsx", { sheet = "其他" }))
    assert.are.equal("13800138000", records(src)[1].mobile)
    src = assert(xlsx_source.open(data .. "/twin.xlsx", { sheet = "申请人" }))
    assert.are.equal(9, #records(src))
    local none, err = xlsx_source.open(data .. "/twin.xlsx", { sheet = "x" })
    assert.is_nil(none)
    assert.are.equal(data .. "/twin.xlsx: there is no sheet 'x'; the sheets are: '申请人', '其他'", err)
  end)

  it("stops reading when the workbook is replaced under it, keeping the rows read before", function()
    local dir = sim.tmpdir()
    assert(os.execute(("cp %s/twin.xlsx %s/in.xlsx"):format(sim.quote(data), sim.quote(dir))))
    local src = assert(xlsx_source.open(dir .. "/in.xlsx"))
    local next_record = src:records()
    assert.are.equal(1, next_record().seq)
    assert(os.execute(("cp %s/lossy.xlsx %s/new.xlsx && mv %s/new.xlsx %s/in.xlsx"):format(
      sim.quote(data), sim.quote(dir), sim.quote(dir), sim.quote(dir))))
    local ok, err = pcall(function() repeat local r = next_record() until r == nil end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("another file took its name while it was read", 1, true), err)
  end)

  it("says the workbook changed, not that it is damaged, when it is truncated under it", function()
    local dir = sim.tmpdir()
    local path = dir .. "/big.xlsx"
    -- Rows past what one read of the sheet (64 KiB) holds, written by the sink.
    local book = xlsx_sink.open(path, { columns = { "mobile", "name", "note" } })
    local sheet = book:sheet("applicants")
    for i = 1, 20000 do
      assert(sheet:write({ fields = { mobile = ("139%08d"):format(i), name = "张三", note = ("x"):rep(30) .. i } },
                         { row = i }))
    end
    assert(book:close())
    local f = assert(io.open(path, "rb"))
    local size = f:seek("end")
    f:close()
    local src = assert(xlsx_source.open(path, { sheet = "applicants" }))
    local next_record = src:records()
    assert.are.equal(1, next_record().seq)
    assert(os.execute(("truncate -s %d %s"):format(size // 2, sim.quote(path))))
    local ok, err = pcall(function() repeat local r = next_record() until r == nil end)
    assert.is_false(ok)
    assert.are.equal(("%s changed while it was read: its size went from %d to %d bytes while it was read. "
      .. "The rows read before were verified and written; nothing after was read. Make sure nothing writes "
      .. "the file, then run again."):format(path, size, size // 2), err)
    os.execute("rm -rf " .. sim.quote(dir))
  end)

  it("is refused on standard input, with the way out", function()
    local f = assert(io.open(data .. "/twin.xlsx", "rb"))
    local src, err = require("qxt.source.stdin").open{ file = f }
    f:close()
    assert.is_nil(src)
    assert.are.equal("stdin: this is an Excel workbook (.xlsx), which is read from a file, not a pipe: "
                     .. "give its path", err)
  end)

  it("rejects a row whose name is another row's merged cell, and tells of hidden rows", function()
    local src = assert(xlsx_source.open(data .. "/merged_data.xlsx"))
    assert.are.equal(data .. "/merged_data.xlsx: sheet 'Sheet' has 1 hidden row (the first: row 5), from a "
                     .. "filter or hidden by hand: they are read and verified like the others; delete the "
                     .. "rows you do not want verified", src:note())
    local r = records(src)
    assert.are.equal(4, #r)
    assert.is_nil(r[1].error)
    assert.is_nil(r[2].error)                                 -- B3 holds the value: its own
    assert.are.equal("row 3 (sheet row 4): the name cell B4 is part of the merged cells B3:B4, whose value "
                     .. "only the first cell holds; unmerge them and fill in every row", r[3].error)
    assert.is_nil(r[4].error)                                 -- hidden, read all the same
    assert.is_nil(assert(xlsx_source.open(data .. "/twin.xlsx")):note())
  end)

  it("refuses an ambiguous header as a CSV does, naming both columns", function()
    local path = data .. "/ambiguous.xlsx"
    local book = xlsx_sink.open(path, { columns = { "手机号", "mobile", "name" }, result_columns = { "code" } })
    assert(book:sheet("s"):write({ fields = { ["手机号"] = "1", mobile = "2", name = "x" } }, {}))
    assert(book:close())
    local none, err = xlsx_source.open(path, { sheet = "s" })
    assert.is_nil(none)
    assert.truthy(err:find("the header is ambiguous: '手机号' (column 1) and 'mobile' (column 2) both look like "
                           .. "the mobile column", 1, true), err)
  end)

  it("caps what it holds: a cell, a row, the shared strings, a part, merged ranges", function()
    local path = data .. "/twin.xlsx"
    local cases = {
      { { max_cell = 4 }, "xl/sharedStrings.xml has a string of more than 4 bytes" },
      { { max_row = 16 }, "holds more than 16 bytes" },
      { { max_strings = 100 }, "xl/sharedStrings.xml is 1116 bytes uncompressed, over the limit of 100" },
      { { max_part = 100 }, "over the limit of 100" },
      { { max_sheet = 1000 }, "xl/worksheets/sheet1.xml" },
    }
    for _, case in ipairs(cases) do
      local book, err = core.open(path, nil, case[1])
      assert.is_nil(book)
      assert.truthy(err:find(case[2], 1, true), err)
    end
    -- empty shared strings cost no text, but memory all the same
    local many, merr = core.open(data .. "/many_strings.xlsx", nil, { max_strings = 12000 })
    assert.is_nil(many)
    assert.truthy(merr:find("xl/sharedStrings.xml takes more than 12000 bytes of memory", 1, true), merr)
    assert.truthy(core.open(data .. "/many_strings.xlsx")):close()
    local book, err = core.open(data .. "/merged.xlsx", nil, { max_merges = 1 })
    assert.truthy(book, err)
    assert.are.same({ { 1, 1, 1, 2, ref = "A1:B1" } }, book:merges())
    book:close()
  end)

  it("reads the fuzzer's seeds (tests/fuzz/corpus/xlsx) to their end", function()
    local p = io.popen("ls tests/fuzz/corpus/xlsx")
    local n = 0
    for file in p:lines() do
      local f = assert(io.open("tests/fuzz/corpus/xlsx/" .. file, "rb"))
      local book = assert(core.open_string(f:read("a")))
      f:close()
      repeat local line = book:next() until not line
      book:close()
      n = n + 1
    end
    p:close()
    assert.is_true(n >= 3)
  end)

  it("never crashes on damaged bytes: each of 400 mutations opens or fails with a message", function()
    local f = assert(io.open(data .. "/stored.xlsx", "rb"))
    local original = f:read("a")
    f:close()
    local seed, opened, failed = 12345, 0, 0
    local function rand(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    for _ = 1, 400 do
      local bytes = { original:byte(1, -1) }
      for _ = 1, rand(8) do bytes[rand(#bytes)] = rand(256) - 1 end
      local mutated = string.char(table.unpack(bytes))
      local book, err = core.open_string(mutated)
      if book then
        opened = opened + 1
        while true do
          local line, why = book:next()
          if line == false then assert.are.equal("string", type(why)) end
          if not line then break end
        end
        book:close()
      else
        failed = failed + 1
        assert.are.equal("string", type(err))
      end
    end
    assert.is_true(opened > 0 and failed > 0, ("%d opened, %d failed"):format(opened, failed))
  end)
end)

describe("qxt.sink.xlsx", function()
  before_each(generate)

  local function read_sheet(path, sheet)
    local book = assert(core.open(path, sheet))
    local rows = {}
    while true do
      local line, cells, kinds = book:next()
      if not line then break end
      rows[#rows + 1] = { line = line, cells = cells, kinds = kinds or {} }
    end
    book:close()
    return rows
  end

  it("writes text as text: formulas never, bad bytes replaced, escapes kept, long texts cut", function()
    local path = sim.tmpdir() .. "/out.xlsx"
    local book = xlsx_sink.open(path, { columns = { "mobile", "name", "note" } })
    local sheet = book:sheet("consistent")
    assert(sheet:write({ fields = { mobile = "13972565391", name = "张三", note = "=1+1" } },
                       { code = 0, attempts = 1, row = 1, reason = "Succ" }))
    assert(sheet:write({ fields = { mobile = 13972565391, name = "bad\255", note = "_x0041_" } }, { row = 2 }))
    assert(sheet:write({ fields = { mobile = "+86", name = "@x", note = string.rep("长", 40000) } }, { row = 3 }))
    assert(book:close({ records = 3 }))
    assert.are.equal("600", require("tests.helpers.runs").mode(path))
    local rows = read_sheet(path, "consistent")
    assert.are.equal("mobile", rows[1].cells[1])
    assert.are.equal("=1+1", rows[2].cells[3])
    assert.is_nil(rows[2].kinds[3])                           -- text, not a formula's value
    assert.are.equal("n", rows[2].kinds[4])                   -- the code: a number
    assert.are.equal("13972565391", rows[3].cells[1])         -- a number field written as text
    assert.is_nil(rows[3].kinds[1])
    assert.are.equal("bad\u{FFFD}", rows[3].cells[2])
    assert.are.equal("_x0041_", xlsx_source.cell_text(rows[3].cells[3]))
    assert.are.equal("@x", rows[4].cells[2])
    assert.are.equal(32767, utf8.len(rows[4].cells[3]))
    local summary = read_sheet(path, "summary")
    assert.are.equal("texts cut to 32767 characters (Excel's limit)", summary[#summary].cells[1])
  end)

  it("names sheets as Excel allows, uniquely, with the summary first", function()
    local path = sim.tmpdir() .. "/names.xlsx"
    local book = xlsx_sink.open(path, { columns = { "mobile", "name" } })
    for _, name in ipairs({ "a/b", "A:B", "History", string.rep("长", 40), "summary" }) do book:sheet(name) end
    assert(book:close())
    local b = assert(core.open(path))
    assert.are.same({ "summary", "a_b", "A_B_2", "sheet_History", string.rep("长", 31), "summary_2" }, b:sheets())
    b:close()
  end)

  it("fails as every sink does, naming the file", function()
    local book = xlsx_sink.open("/nonexistent-dir/out.xlsx", { columns = { "mobile", "name" } })
    book:sheet("x")
    local ok, err = book:close()
    assert.is_nil(ok)
    assert.truthy(err:find("^/nonexistent%-dir/out%.xlsx: "), err)
  end)

  it("does not write through a symbolic link, and says so as the CSV sink does", function()
    local dir = sim.tmpdir()
    sim.write_file(dir .. "/target", "theirs\n")
    for _, name in ipairs({ "out.xlsx", "out.csv" }) do
      assert(os.execute(("ln -s %s %s"):format(sim.quote(dir .. "/target"), sim.quote(dir .. "/" .. name))))
    end
    local book = xlsx_sink.open(dir .. "/out.xlsx", { columns = { "mobile", "name" } })
    assert(book:sheet("x"):write({ fields = { mobile = "13972565391", name = "张三" } }, { row = 1 }))
    local ok, err = book:close()
    assert.is_nil(ok)
    assert.are.equal(dir .. "/out.xlsx: is a symbolic link, which qxtv does not follow for a file it writes "
                     .. "(name the file itself)", err)
    local csv_sink = require("qxt.sink.csv").open(dir .. "/out.csv", { "mobile", "name" })
    local csv_ok, csv_err = csv_sink:write({ fields = { mobile = "13972565391", name = "张三" } }, { row = 1 })
    assert.is_nil(csv_ok)
    assert.are.equal((csv_err:gsub("out%.csv", "out.xlsx")), err)
    assert.are.equal("theirs\n", sim.read_file(dir .. "/target"))
    assert.is_true(os.execute("test -L " .. sim.quote(dir .. "/out.xlsx")))
    os.execute("rm -rf " .. sim.quote(dir))
  end)
end)
