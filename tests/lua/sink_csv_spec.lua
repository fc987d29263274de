-- qxt.sink.csv: input columns plus the result, formula-safe, created lazily.
local csv = require("qxt.csv")
local csv_sink = require("qxt.sink.csv")
local csv_source = require("qxt.source.csv")

local function read_back(path)
  local reader = assert(csv.open(path, { columns = false }))
  local rows = {}
  for row in reader:rows() do rows[#rows + 1] = row end
  return reader:header(), rows
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

describe("sink.csv", function()
  local path
  before_each(function()
    path = os.tmpname()
    os.remove(path)
  end)
  after_each(function()
    os.remove(path)
  end)

  it("writes the input columns, then code, reason, status, area, isp, attempts, rule", function()
    local src = assert(csv_source.open("tests/data/chinese_header.csv"))
    local sink = csv_sink.open(path, { columns = src:columns() })
    for rec in src:records() do
      assert.is_true(sink:write(rec, { code = 0, reason = "Succ", class = "ok", status = "一致",
        area = "湖北-宜昌", isp = "中国电信", attempts = 2, rule = "consistent" }))
    end
    assert.is_true(sink:close())
    local header, rows = read_back(path)
    assert.are.same({ "code", "reason", "status", "area", "isp", "attempts", "rule" },
      { table.unpack(csv_sink.RESULT_COLUMNS, 1, 7) })
    local expected = { "申请编号", "手机号码", "姓名", "产品" }
    table.move(csv_sink.RESULT_COLUMNS, 1, #csv_sink.RESULT_COLUMNS, 5, expected)
    assert.are.same(expected, header)
    assert.are.equal(2, #rows)
    local want = { ["申请编号"] = "A1", ["手机号码"] = "13972565391", ["姓名"] = "张三", ["产品"] = "开户",
      code = "0", reason = "Succ", status = "一致", area = "湖北-宜昌", isp = "中国电信", attempts = "2",
      rule = "consistent" }
    for column, value in pairs(want) do
      assert.are.equal(value, rows[1][column], column)
    end
  end)

  it("writes the input values as read, not the cleaned ones", function()
    local sink = csv_sink.open(path, { "mobile", "name" })
    local rec = { fields = { mobile = "139-7256-5391", name = " 张三 " } }
    require("qxt.step.clean").record(rec) -- cleans rec.mobile, not the fields
    sink:write(rec, { code = 0 })
    local plus = { fields = { mobile = "+86 139 7256 5391", name = "李四" } }
    require("qxt.step.clean").record(plus)
    sink:write(plus, { code = 0 })
    sink:close()
    local _, rows = read_back(path)
    assert.are.equal("139-7256-5391", rows[1].mobile)
    assert.are.equal(" 张三 ", rows[1].name)
    -- a leading '+' would start a formula in a spreadsheet: guarded
    assert.are.equal("'+86 139 7256 5391", rows[2].mobile)
  end)

  it("explains a row rejected before sending, from its error or result", function()
    local sink = csv_sink.open(path, { columns = { "mobile", "name" } })
    sink:write({ fields = { mobile = "1", name = "x" }, error = "row 3 (line 4) has 2 fields, header has 3" })
    sink:write({ fields = { mobile = "2", name = "y" } }, { class = "rejected", reason = "mobile has 1 digit, need 11",
      attempts = 0 })
    sink:close()
    local _, rows = read_back(path)
    assert.are.equal("row 3 (line 4) has 2 fields, header has 3", rows[1].reason)
    assert.are.equal("", rows[1].code)
    assert.are.equal("mobile has 1 digit, need 11", rows[2].reason)
    assert.are.equal("0", rows[2].attempts)
  end)

  it("keeps negative codes as numbers and defuses formulas", function()
    local sink = csv_sink.open(path, { "mobile", "name", "note" })
    sink:write({ fields = { mobile = "13972565391", name = "张三", note = "=HYPERLINK(\"http://x\")" } },
      { code = -8, reason = "系统错误,稍后再试", attempts = 5 })
    sink:close()
    local f = assert(io.open(path, "rb"))
    local text = f:read("a")
    f:close()
    assert.matches(',"\'=HYPERLINK%(""http://x""%)",%-8,"系统错误,稍后再试",', text)
  end)

  it("renames a result column that an input column already uses", function()
    local sink = csv_sink.open(path, { "mobile", "name", "status" })
    sink:write({ fields = { mobile = "1", name = "a", status = "vip" } }, { status = "一致" })
    sink:close()
    local header, rows = read_back(path)
    assert.are.equal("qxt_status", header[6])
    assert.are.equal("vip", rows[1].status)
    assert.are.equal("一致", rows[1].qxt_status)
  end)

  it("takes its columns from the first record when none are given", function()
    local sink = csv_sink.open(path, { result_columns = { "code" } })
    sink:write({ mobile = "13972565391", name = "张三", zeta = 1, alpha = 2 }, { code = 0 })
    sink:close()
    local header = read_back(path)
    assert.are.same({ "mobile", "name", "alpha", "zeta", "code" }, header)
  end)

  it("creates nothing before the first write, and a header-only file on close", function()
    local sink = csv_sink.open(path, { "mobile", "name" })
    assert.is_false(exists(path))
    assert.is_true(sink:close())
    assert.is_true(exists(path))
    local header, rows = read_back(path)
    assert.are.equal(0, #rows)
    assert.are.equal("mobile", header[1])
    assert.is_true(sink:close()) -- twice is harmless
    assert.has_error(function() sink:write({ fields = {} }, {}) end)
  end)

  it("buffers, and flush() puts the rows on disk", function()
    local sink = csv_sink.open(path, { "mobile", "name" })
    sink:write({ fields = { mobile = "1", name = "a" } }, { code = 0 })
    local f = assert(io.open(path, "rb"))
    assert.are.equal("", f:read("a"))
    assert.is_true(sink:flush())
    f:seek("set")
    assert.matches("^mobile,name,", f:read("a"))
    f:close()
    sink:close()
  end)

  it("returns nil, err when the file cannot be created", function()
    local sink = csv_sink.open("/nonexistent-dir/out.csv", { "mobile" })
    local ok, err = sink:write({ fields = { mobile = "1" } }, {})
    assert.is_nil(ok)
    assert.is_string(err)
    assert.has_error(function() csv_sink.open(42) end)
  end)
end)
