-- qxt.csv: the streaming reader (RFC 4180, encodings, malformed rows) and
-- the writer (quoting, formula guard).
local csv = require("qxt.csv")

local DATA = "tests/data/"

-- A read function over a string, handing out at most `size` bytes a call.
local function string_reader(s, size)
  local pos = 1
  return function(n)
    n = math.min(n, size or n)
    if pos > #s then return nil end
    local chunk = s:sub(pos, pos + n - 1)
    pos = pos + n
    return chunk
  end
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function all_rows(reader)
  local rows = {}
  for row, line, n, err in reader:rows() do
    rows[#rows + 1] = { row = row, line = line, n = n, err = err }
  end
  return rows
end

local function tmpfile(content)
  local path = os.tmpname()
  if content then
    local f = assert(io.open(path, "wb"))
    f:write(content)
    f:close()
  end
  return path
end

describe("csv reader", function()
  it("reads quotes, embedded commas and newlines, CRLF, a BOM, blank lines and a last line without newline",
    function()
      local reader = assert(csv.open(DATA .. "basic.csv"))
      assert.are.same({ "id", "mobile", "name", "note" }, reader:header())
      assert.are.same({ mobile = "mobile", name = "name" }, reader:mapping())
      local rows = all_rows(reader)
      assert.are.equal(4, #rows)
      assert.are.same({ id = "1", mobile = "13972565391", name = "张三", note = "plain" }, rows[1].row)
      assert.are.same({ id = "2", mobile = "139-7256-5392", name = "李四", note = "has, comma" }, rows[2].row)
      assert.are.equal('said "hi"\r\nthen left', rows[3].row.note)
      assert.are.equal("+86 13972565393", rows[3].row.mobile)
      assert.are.same({ id = "4", mobile = "13972565394", name = "阿依古丽·买买提", note = "last" }, rows[4].row)
      -- physical lines: header 1, rows 2 and 3, a blank line 4, a row over lines 5-6, then 7
      assert.are.same({ 2, 3, 5, 7 }, { rows[1].line, rows[2].line, rows[3].line, rows[4].line })
      assert.are.same({ 1, 2, 3, 4 }, { rows[1].n, rows[2].n, rows[3].n, rows[4].n })
      for _, r in ipairs(rows) do assert.is_nil(r.err) end
      assert.are.equal("utf-8", reader:encoding())
    end)

  it("gives the same rows whatever the chunk size (records across chunk boundaries)", function()
    local content = read_file(DATA .. "basic.csv")
    local expected = all_rows(assert(csv.reader(string_reader(content))))
    for _, encoding in ipairs({ "utf-8", "auto" }) do
      for size = 1, 23 do
        local reader = assert(csv.reader(string_reader(content, size),
          { chunk_size = size, encoding = encoding }))
        assert.are.same(expected, all_rows(reader), "chunk size " .. size .. " " .. encoding)
      end
    end
  end)

  it("understands CR-only line ends (Excel for Mac), and a CRLF cut between chunks", function()
    local rows = all_rows(assert(csv.reader(string_reader('mobile,name\r1,"a\rb"\r2,c\r'))))
    assert.are.equal(2, #rows)
    assert.are.same({ mobile = "1", name = "a\nb" }, rows[1].row)
    assert.are.equal(4, rows[2].line)
    local crlf = "mobile,name\r\n1,a\r\n2,b\r\n"
    for size = 1, 13 do
      local got = all_rows(assert(csv.reader(string_reader(crlf, size), { chunk_size = size, encoding = "utf-8" })))
      assert.are.equal(2, #got)
      assert.are.same({ mobile = "2", name = "b" }, got[2].row)
      assert.are.equal(3, got[2].line)
    end
  end)

  it("handles a doubled quote right at a chunk boundary and an empty quoted field", function()
    local content = 'mobile,name\n"1""2",""\n"",x\n'
    for size = 1, 9 do
      local rows = all_rows(assert(csv.reader(string_reader(content, size),
        { chunk_size = size, encoding = "utf-8" })))
      assert.are.equal(2, #rows)
      assert.are.same({ mobile = '1"2', name = "" }, rows[1].row)
      assert.are.same({ mobile = "", name = "x" }, rows[2].row)
    end
  end)

  it("yields malformed rows with an error instead of raising, and resynchronises", function()
    local rows = all_rows(assert(csv.open(DATA .. "malformed.csv")))
    assert.are.equal(5, #rows)
    assert.is_nil(rows[1].err)
    assert.are.equal("row 2 (line 3) has 2 fields, header has 3", rows[2].err)
    assert.are.equal("13972565392", rows[2].row.mobile)
    assert.is_nil(rows[2].row.city)
    assert.are.equal("row 3 (line 4) has 4 fields, header has 3", rows[3].err)
    assert.are.equal("extra", rows[3].row[4])
    assert.are.equal("row 4 (line 5) has an unterminated quote", rows[4].err)
    assert.are.equal("13972565394", rows[4].row.mobile)
    -- the line after the stray quote is read as its own row
    assert.is_nil(rows[5].err)
    assert.are.same({ mobile = "13972565395", name = "钱七", city = "广州" }, rows[5].row)
    assert.are.equal(6, rows[5].line)
  end)

  it("reports an unterminated quote at the very end of the data", function()
    local rows = all_rows(assert(csv.reader(string_reader('mobile,name\n1,"open'))))
    assert.are.equal(1, #rows)
    assert.are.equal("row 1 (line 2) has an unterminated quote", rows[1].err)
  end)

  it("flags text after a closing quote", function()
    local rows = all_rows(assert(csv.reader(string_reader('mobile,name\n1,"ab"cd\n2,ok\n'))))
    assert.are.equal("row 1 (line 2) has text after a closing quote", rows[1].err)
    assert.are.equal("abcd", rows[1].row.name)
    assert.is_nil(rows[2].err)
  end)

  it("caps the size of one record and reads on after it", function()
    local content = "mobile,name\n1," .. string.rep("x", 500) .. "\n2,y\n3,\"" .. string.rep("z", 500) .. "\n4,w\n"
    local rows = all_rows(assert(csv.reader(string_reader(content),
      { chunk_size = 16, max_record_bytes = 100, encoding = "utf-8" })))
    assert.are.equal(4, #rows)
    assert.are.equal("row 1 (line 2) is longer than 100 bytes", rows[1].err)
    assert.are.same({ mobile = "2", name = "y" }, rows[2].row)
    assert.matches("row 3 %(line 4%)", rows[3].err)
    assert.are.same({ mobile = "4", name = "w" }, rows[4].row)
    assert.are.equal(5, rows[4].line)
  end)

  it("maps Chinese header names, trimmed", function()
    local reader = assert(csv.open(DATA .. "chinese_header.csv"))
    assert.are.same({ "申请编号", "手机号码", "姓名", "产品" }, reader:header())
    assert.are.same({ mobile = "手机号码", name = "姓名" }, reader:mapping())
    local rows = all_rows(reader)
    assert.are.equal("13972565392", rows[2].row["手机号码"])
  end)

  it("maps header names case-insensitively", function()
    local reader = assert(csv.reader(string_reader("id,MOBILE,Name\n1,2,3\n")))
    assert.are.same({ mobile = "MOBILE", name = "Name" }, reader:mapping())
  end)

  -- Never a guess: which of two mobile columns is asked decides who is paid for.
  it("refuses a header with two mobile or two name columns, naming both and the way out", function()
    for _, case in ipairs{
      { "手机号,mobile,姓名\n", "'手机号' %(column 1%) and 'mobile' %(column 2%) both look like the mobile column",
        "%-%-mobile%-column 手机号 or %-%-mobile%-column mobile" },
      { "Phone,MOBILE,Name\n", "'Phone' %(column 1%) and 'MOBILE' %(column 2%) both", "%-%-mobile%-column Phone" },
      { "mobile,name,姓名\n", "'name' %(column 2%) and '姓名' %(column 3%) both look like the name column",
        "%-%-name%-column name or %-%-name%-column 姓名" },
      { "mobile,name, Mobile \n", "'mobile' %(column 1%) and 'Mobile' %(column 3%)", "rename them in the file" },
      { "mobile,name,mobile\n", "'mobile' %(column 1%) and 'mobile_2' %(column 3%) both look like the mobile",
        "say which with %-%-mobile%-column mobile_2, or rename the others" },
    } do
      local reader, err = csv.reader(string_reader(case[1] .. "1,2,3\n"))
      assert.is_nil(reader, case[1])
      assert.matches("the header is ambiguous: " .. case[2], err)
      assert.matches(case[3], err)
    end
  end)

  it("takes an explicit column among ambiguous ones, and the unique name of a repeated one", function()
    local reader = assert(csv.reader(string_reader("手机号,mobile,姓名,备注,备注\n1,2,张三,a,b\n"),
      { columns = { mobile = "mobile" } }))
    assert.are.same({ mobile = "mobile", name = "姓名" }, reader:mapping())
    assert.are.same({ "手机号", "mobile", "姓名", "备注", "备注_2" }, reader:header())
    reader = assert(csv.reader(string_reader("id,mobile,name,mobile,name, name \n1,2,3,4,5,6\n"),
      { columns = { mobile = "mobile_2", name = "name_3" } }))
    assert.are.same({ mobile = "mobile_2", name = "name_3" }, reader:mapping())
    assert.are.same({ "4", "6" }, (function(r) local row = r:rows()() return { row.mobile_2, row.name_3 } end)(reader))
    local none, err = csv.reader(string_reader("id,mobile,name,mobile\n1,2,3,4\n"), { columns = { mobile = "mobile" } })
    assert.is_nil(none)
    assert.matches("'mobile' %(column 2%) and 'mobile_2' %(column 4%)", err)
  end)

  it("takes an explicit column mapping", function()
    local reader = assert(csv.open(DATA .. "custom_header.csv",
      { columns = { mobile = "联系电话", name = "客户姓名" } }))
    assert.are.same({ mobile = "联系电话", name = "客户姓名" }, reader:mapping())
    assert.are.equal("张三", all_rows(reader)[1].row["客户姓名"])
  end)

  it("fails with the columns it found when a column is missing", function()
    local reader, err = csv.open(DATA .. "custom_header.csv")
    assert.is_nil(reader)
    assert.matches("no mobile column", err)
    assert.matches("columns found: 编号, 联系电话, 客户姓名", err)
    local _, err2 = csv.open(DATA .. "custom_header.csv", { columns = { mobile = "联系电话" } })
    assert.matches("no name column", err2)
    assert.not_matches("no mobile column", err2)
  end)

  it("reads any CSV with columns = false, naming empty and repeated header cells", function()
    local reader = assert(csv.reader(string_reader("a,,a, b \n1,2,3,4\n"), { columns = false }))
    assert.are.same({ "a", "column_2", "a_2", "b" }, reader:header())
    assert.is_nil(reader:mapping())
    assert.are.same({ a = "1", column_2 = "2", a_2 = "3", b = "4" }, all_rows(reader)[1].row)
  end)

  it("fails on empty input and on a missing file", function()
    local reader, err = csv.reader(string_reader(""))
    assert.is_nil(reader)
    assert.matches("no header row", err)
    assert.is_nil((csv.reader(string_reader("\r\n\n  \n"))))
    local r2, err2 = csv.open("tests/data/no-such-file.csv")
    assert.is_nil(r2)
    assert.matches("no%-such%-file", err2)
  end)

  it("raises on misuse", function()
    assert.has_error(function() csv.reader("not a function") end)
    assert.has_error(function() csv.reader(string_reader("a\n"), { encoding = "latin-9" }) end)
    assert.has_error(function() csv.open(nil) end)
  end)

  it("closes the file at the end of rows() and through <close>", function()
    local reader = assert(csv.open(DATA .. "basic.csv"))
    local file = reader.file
    all_rows(reader)
    assert.are.equal("closed file", io.type(file))
    local f2
    do
      local r <close> = assert(csv.open(DATA .. "basic.csv"))
      f2 = r.file
    end
    assert.are.equal("closed file", io.type(f2))
  end)

  it("streams in constant memory", function()
    local header, row = "mobile,name,note\n", "13972565391,张三,\"a, b\"\n"
    local total, sent = 200000, 0
    local reader = assert(csv.reader(function()
      if sent >= total then return nil end
      sent = sent + 1000
      return (sent == 1000 and header or "") .. string.rep(row, 1000)
    end))
    collectgarbage()
    local base, peak, n = collectgarbage("count"), 0, 0
    for r in reader:rows() do
      n = n + 1
      assert(r.note == "a, b")
      if n % 20000 == 0 then peak = math.max(peak, collectgarbage("count")) end
    end
    assert.are.equal(total, n)
    -- 200000 rows are ~6 MB of text; the reader must not hold them
    assert.is_true(peak - base < 4096, ("heap grew by %.0f KiB"):format(peak - base))
  end)
end)

describe("csv reader encodings", function()
  local iconv = require("qxt.iconv")
  local function gb18030(s)
    return (assert(assert(iconv.new("GB18030", "UTF-8")):convert(s)))
  end

  local EXPECTED = {
    { id = "1", mobile = "13972565391", name = "张三", note = "普通" },
    { id = "2", mobile = "13972565392", name = "阿依古丽·买买提", note = "备注, 含逗号" },
    { id = "3", mobile = "13972565393", name = "欧阳娜娜", note = "" },
  }

  it("detects a GBK file (as Excel on Chinese Windows writes it)", function()
    local reader = assert(csv.open(DATA .. "people_gbk.csv"))
    local rows = all_rows(reader)
    assert.are.equal("gb18030", reader:encoding())
    for i, expected in ipairs(EXPECTED) do
      assert.are.same(expected, rows[i].row)
    end
  end)

  it("reads it the same with encoding = \"gbk\" or \"gb18030\"", function()
    for _, encoding in ipairs({ "gbk", "GB18030" }) do
      local rows = all_rows(assert(csv.open(DATA .. "people_gbk.csv", { encoding = encoding })))
      assert.are.same(EXPECTED[2], rows[2].row)
    end
  end)

  it("converts correctly whatever the chunk size (characters cut between chunks)", function()
    local utf8_text = "手机号,姓名,备注\n13972565391,阿依古丽·买买提,\"多行\n备注\"\n13972565392,欧阳娜娜,𠀀€\n"
    local gb = gb18030(utf8_text)
    local expected = all_rows(assert(csv.reader(string_reader(utf8_text))))
    assert.are.equal("𠀀€", expected[2].row["备注"])
    for size = 1, 11 do
      local reader = assert(csv.reader(string_reader(gb, size), { chunk_size = size, encoding = "gb18030" }))
      assert.are.same(expected, all_rows(reader), "chunk size " .. size)
    end
  end)

  it("decides on the first non-ASCII window, after any amount of ASCII", function()
    local ascii = "mobile,name\n" .. string.rep("13972565391,Zhang San\n", 4000) -- ~90 KB
    local gb = ascii .. gb18030("13972565392,李四\n")
    local reader = assert(csv.reader(string_reader(gb), { chunk_size = 4096 }))
    local rows = all_rows(reader)
    assert.are.equal(4001, #rows)
    assert.are.equal("李四", rows[4001].row.name)
    assert.are.equal("gb18030", reader:encoding())
  end)

  it("keeps valid UTF-8 as UTF-8 in auto mode", function()
    local reader = assert(csv.reader(string_reader("mobile,name\n1,张三\n", 4), { chunk_size = 4 }))
    assert.are.equal("张三", all_rows(reader)[1].row.name)
    assert.are.equal("utf-8", reader:encoding())
  end)

  it("turns undecodable bytes into U+FFFD (which the cleaner then rejects)", function()
    local gb = gb18030("mobile,name\n1,张三\n2,李") .. "\x81" .. gb18030("\n3,王五\n")
    local rows = all_rows(assert(csv.reader(string_reader(gb), { encoding = "gb18030" })))
    assert.are.equal(3, #rows)
    assert.are.equal("李\u{FFFD}", rows[2].row.name)
    assert.are.equal("王五", rows[3].row.name)
    assert.is_nil(require("qxt.step.clean").name(rows[2].row.name))
  end)

  it("in utf-8 mode leaves invalid bytes for the cleaner to reject", function()
    local gb = "mobile,name\n1," .. gb18030("张三") .. "\n"
    local rows = all_rows(assert(csv.reader(string_reader(gb), { encoding = "utf-8" })))
    local name, reason = require("qxt.step.clean").name(rows[1].row.name)
    assert.is_nil(name)
    assert.matches("GBK", reason)
  end)
end)

describe("csv writer", function()
  it("quotes only when needed", function()
    assert.are.equal("plain", csv.cell("plain"))
    assert.are.equal('"a,b"', csv.cell("a,b"))
    assert.are.equal('"say ""hi"""', csv.cell('say "hi"'))
    assert.are.equal('"two\nlines"', csv.cell("two\nlines"))
    assert.are.equal('"cr\rhere"', csv.cell("cr\rhere"))
    assert.are.equal('" lead"', csv.cell(" lead"))
    assert.are.equal('"trail "', csv.cell("trail "))
    assert.are.equal("", csv.cell(nil))
    assert.are.equal("13972565391", csv.cell(1.3972565391e10))
    assert.are.equal("0.25", csv.cell(0.25))
    assert.are.equal("true", csv.cell(true))
  end)

  it("guards against formula injection but leaves plain numbers alone", function()
    assert.are.equal("'=HYPERLINK(\"x\")", csv.cell('=HYPERLINK("x")'):gsub('""', '"'):sub(2, -2))
    assert.are.equal("'=1+1", csv.cell("=1+1"))
    assert.are.equal("'+cmd", csv.cell("+cmd"))
    assert.are.equal("'-2+3", csv.cell("-2+3"))
    assert.are.equal("'@SUM(A1)", csv.cell("@SUM(A1)"))
    assert.are.equal("'\tx", csv.cell("\tx"))
    assert.are.equal('"\'\rx"', csv.cell("\rx"))
    assert.are.equal("-8", csv.cell("-8"))
    assert.are.equal("-8", csv.cell(-8))
    assert.are.equal("+8613972565391", csv.cell("+8613972565391"))
    assert.are.equal("-1.5", csv.cell("-1.5"))
    assert.are.equal("'+86 139 7256 5391", csv.cell("+86 139 7256 5391"))
  end)

  it("writes a header and rows that the reader reads back", function()
    local path = tmpfile()
    local w = assert(csv.writer(path, { "mobile", "name", "note", "code" }, { buffer_rows = 2 }))
    local rows = {
      { mobile = "13972565391", name = "张三", note = 'multi\nline, "quoted"', code = 0 },
      { mobile = "13972565392", name = "李四", code = -8 },
      { mobile = "13972565393", name = "王五", note = " padded ", code = 1 },
    }
    for _, r in ipairs(rows) do assert.is_true(w:write(r)) end
    assert.is_true(w:close())
    assert.is_true(w:close()) -- closing twice is harmless
    local text = read_file(path)
    assert.are.equal("mobile,name,note,code\r\n", text:sub(1, 23))
    local back = all_rows(assert(csv.open(path)))
    os.remove(path)
    assert.are.equal(3, #back)
    assert.are.same({ mobile = "13972565391", name = "张三", note = 'multi\nline, "quoted"', code = "0" },
      back[1].row)
    assert.are.same({ mobile = "13972565392", name = "李四", note = "", code = "-8" }, back[2].row)
    assert.are.equal(" padded ", back[3].row.note)
  end)

  it("buffers writes until flush", function()
    local path = tmpfile()
    local w = assert(csv.writer(path, { "a" }, { eol = "\n" }))
    w:write{ a = "1" }
    assert.are.equal("", read_file(path))
    assert.is_true(w:flush())
    assert.are.equal("a\n1\n", read_file(path))
    w:close()
    os.remove(path)
  end)

  it("writes to an open file it does not close, with an optional BOM", function()
    local path = tmpfile()
    local f = assert(io.open(path, "wb"))
    local w = assert(csv.writer(f, { "a", "b" }, { bom = true, eol = "\n" }))
    w:write{ a = "x" }
    w:close()
    assert.are.equal("file", io.type(f))
    f:close()
    assert.are.equal("\239\187\191a,b\nx,\n", read_file(path))
    os.remove(path)
  end)

  it("returns nil, err when the file cannot be created, and raises on misuse", function()
    local w, err = csv.writer("/nonexistent-dir/out.csv", { "a" })
    assert.is_nil(w)
    assert.is_string(err)
    assert.has_error(function() csv.writer(tmpfile(), {}) end)
    assert.has_error(function() csv.writer(42, { "a" }) end)
    local path = tmpfile()
    local w2 = assert(csv.writer(path, { "a" }))
    w2:close()
    assert.has_error(function() w2:write{ a = 1 } end)
    os.remove(path)
  end)
end)
