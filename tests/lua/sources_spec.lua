-- qxt.source.*: every source yields records of one shape
-- { seq, line, fields, mobile, name, error } and tells its columns.
local clean = require("qxt.step.clean")
local csv_source = require("qxt.source.csv")
local jsonl_source = require("qxt.source.jsonl")
local table_source = require("qxt.source.table")
local stdin_source = require("qxt.source.stdin")

local DATA = "tests/data/"

local function collect(src)
  local out = {}
  for rec in src:records() do out[#out + 1] = rec end
  return out
end

local function tmpfile(content)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
  return path
end

local function chunks(s, size)
  local pos = 1
  return function()
    if pos > #s then return nil end
    local c = s:sub(pos, pos + size - 1)
    pos = pos + size
    return c
  end
end

describe("source.csv", function()
  it("yields records in input order with line, fields, mobile and name", function()
    local src = assert(csv_source.open(DATA .. "chinese_header.csv"))
    assert.are.same({ "申请编号", "手机号码", "姓名", "产品" }, src:columns())
    local recs = collect(src)
    assert.are.equal(2, #recs)
    assert.are.same({ seq = 2, line = 3, mobile = "13972565392", name = "李四",
      fields = { ["申请编号"] = "A2", ["手机号码"] = "13972565392", ["姓名"] = "李四", ["产品"] = "信用卡" } },
      recs[2])
  end)

  it("passes malformed rows on with their error", function()
    local recs = collect(assert(csv_source.open(DATA .. "malformed.csv")))
    assert.are.equal(5, #recs)
    assert.are.equal("row 2 (line 3) has 2 fields, header has 3", recs[2].error)
    assert.are.equal("13972565392", recs[2].mobile)
    assert.are.same({ 1, 2, 3, 4, 5 }, { recs[1].seq, recs[2].seq, recs[3].seq, recs[4].seq, recs[5].seq })
    local ok, reason = clean.record(recs[2])
    assert.is_nil(ok)
    assert.are.equal(recs[2].error, reason)
  end)

  it("decodes a GBK file and its records clean", function()
    local src = assert(csv_source.open(DATA .. "people_gbk.csv"))
    local recs = collect(src)
    assert.are.equal("gb18030", src:encoding())
    assert.are.equal("阿依古丽·买买提", recs[2].name)
    for _, rec in ipairs(recs) do assert.is_truthy(clean.record(rec)) end
  end)

  it("cleans every record of the basic fixture", function()
    for _, rec in ipairs(collect(assert(csv_source.open(DATA .. "basic.csv")))) do
      assert.is_truthy(clean.record(rec))
      assert.matches("^1397256539%d$", rec.mobile)
    end
  end)

  it("counts a small file exactly and estimates a large one", function()
    local src = assert(csv_source.open(DATA .. "chinese_header.csv"))
    local n, exact = src:total()
    assert.are.equal(2, n)
    assert.is_true(exact)
    local lines = { "mobile,name" }
    for i = 1, 20000 do lines[#lines + 1] = ("139%08d,张三"):format(i) end
    local path = tmpfile(table.concat(lines, "\n") .. "\n")
    local big = assert(csv_source.open(path))
    local estimate, is_exact = big:total()
    os.remove(path)
    assert.is_false(is_exact)
    assert.is_true(math.abs(estimate - 20000) < 200, "estimate " .. estimate)
  end)

  it("reads from an open file or a read function; total is then unknown", function()
    local f = assert(io.open(DATA .. "basic.csv", "rb"))
    local from_file = assert(csv_source.open(f))
    assert.are.equal(4, #collect(from_file))
    f:close()
    local from_fn = assert(csv_source.open(chunks("mobile,name\n1,2\n", 3)))
    assert.is_nil(from_fn:total())
    assert.are.equal("2", collect(from_fn)[1].name)
  end)

  it("is a stream: reading it twice raises", function()
    local src = assert(csv_source.open(DATA .. "basic.csv"))
    collect(src)
    assert.has_error(function() src:records() end)
  end)

  it("fails with nil, err for a missing file or column", function()
    assert.is_nil((csv_source.open(DATA .. "nothing-here.csv")))
    local src, err = csv_source.open(DATA .. "custom_header.csv")
    assert.is_nil(src)
    assert.matches("columns found", err)
    assert.is_truthy(csv_source.open(DATA .. "custom_header.csv",
      { columns = { mobile = "联系电话", name = "客户姓名" } }))
  end)
end)

describe("source.jsonl", function()
  it("reads objects, keeping bad lines as records with an error", function()
    local src = assert(jsonl_source.open(DATA .. "people.jsonl"))
    local recs = collect(src)
    assert.are.equal(7, #recs)
    assert.are.same({ seq = 1, line = 1, mobile = "13972565391", name = "张三",
      fields = { id = 1, mobile = "13972565391", name = "张三" } }, recs[1])
    assert.are.equal(13972565392, recs[2].mobile)
    assert.are.equal("13972565392", clean.mobile(recs[2].mobile))
    assert.are.equal('["vip"]', recs[2].fields.tags)
    assert.are.equal(4, recs[3].line) -- the blank line 3 is skipped
    assert.is_nil(recs[3].fields.note) -- JSON null
    assert.are.equal("line 5: not a JSON object", recs[4].error)
    assert.matches("^line 6: invalid JSON", recs[5].error)
    assert.are.equal("line 7: not a JSON object", recs[6].error)
    assert.are.same({ seq = 7, line = 8, mobile = "13972565397", name = "钱七",
      fields = { id = 7, mobile = "13972565397", name = "钱七" } }, recs[7])
  end)

  it("names the columns after the first object's keys, in written order", function()
    local src = assert(jsonl_source.open(DATA .. "people.jsonl"))
    assert.are.same({ "id", "mobile", "name" }, src:columns())
    assert.is_nil(src:total())
  end)

  it("finds known keys, takes an explicit mapping, and fails without one", function()
    local text = '{"手机号": "13972565391", "姓名": "张三", "x": {"k": "v,\\"}"}}\r\n'
    local src = assert(jsonl_source.open(chunks("\239\187\191" .. text, 5)))
    assert.are.same({ "手机号", "姓名", "x" }, src:columns())
    local rec = collect(src)[1]
    assert.are.equal("张三", rec.name)
    assert.are.equal('{"k":"v,\\"}"}', rec.fields.x)
    local custom = '{"tel": "13972565391", "who": "张三"}\n'
    local bad, err = jsonl_source.open(chunks(custom, 100))
    assert.is_nil(bad)
    assert.matches("no mobile column", err)
    local ok = assert(jsonl_source.open(chunks(custom, 100), { columns = { mobile = "tel", name = "who" } }))
    assert.are.equal("13972565391", collect(ok)[1].mobile)
  end)

  it("skips an over-long line with an error and reads on", function()
    local text = '{"mobile":"1","name":"a"}\n{"mobile":"' .. string.rep("9", 300) .. '"}\n{"mobile":"3","name":"c"}\n'
    local recs = collect(assert(jsonl_source.open(chunks(text, 10), { max_line_bytes = 100 })))
    assert.are.equal(3, #recs)
    assert.matches("^line 2: longer than 100 bytes", recs[2].error)
    assert.are.equal("c", recs[3].name)
  end)

  it("yields nothing for an empty input", function()
    assert.are.equal(0, #collect(assert(jsonl_source.open(chunks("", 10)))))
  end)
end)

describe("source.table", function()
  it("reads an array of tables", function()
    local src = assert(table_source.open{
      { phone = "13972565391", ["姓名"] = "张三", id = 1 },
      { phone = "13972565392", ["姓名"] = "李四", id = 2 },
    })
    assert.are.same({ "phone", "姓名", "id" }, src:columns())
    assert.are.equal(2, src:total())
    local recs = collect(src)
    assert.are.equal(2, #recs)
    assert.are.equal("李四", recs[2].name)
    assert.are.equal(2, recs[2].seq)
    assert.are.equal(2, recs[2].fields.id)
  end)

  it("reads a generator lazily", function()
    local produced = 0
    local src = assert(table_source.open(function()
      if produced < 3 then
        produced = produced + 1
        return { mobile = "1397256539" .. produced, name = "n" .. produced }
      end
    end))
    assert.are.equal(1, produced) -- only the first item, for the columns
    assert.is_nil(src:total())
    local it = src:records()
    assert.are.equal("n1", it().name)
    assert.are.equal(1, produced)
    assert.are.equal("n2", it().name)
    assert.are.equal("n3", it().name)
    assert.is_nil(it())
    assert.is_nil(it())
    assert.are.equal(3, produced)
  end)

  it("turns an item that is not a table into a record with an error", function()
    local recs = collect(assert(table_source.open{ { mobile = "1", name = "a" }, "oops" }))
    assert.are.equal("item 2 is a string, expected a table", recs[2].error)
  end)

  it("takes an explicit mapping and column order; fails without a mapping", function()
    local src = assert(table_source.open({ { tel = "1", who = "a", z = 0 } },
      { columns = { mobile = "tel", name = "who" }, order = { "who", "tel" } }))
    assert.are.same({ "who", "tel" }, src:columns())
    assert.are.equal("1", collect(src)[1].mobile)
    local bad, err = table_source.open{ { tel = "1" } }
    assert.is_nil(bad)
    assert.matches("no mobile column", err)
    assert.has_error(function() table_source.open("nope") end)
  end)
end)

describe("source.stdin", function()
  local function with_input(content, opts)
    local path = tmpfile(content)
    local f = assert(io.open(path, "rb"))
    opts = opts or {}
    opts.file = f
    local src, err = stdin_source.open(opts)
    local recs = src and collect(src)
    f:close()
    os.remove(path)
    return src, recs, err
  end

  it("detects CSV", function()
    local src, recs = with_input("mobile,name\n13972565391,张三\n")
    assert.are.same({ "mobile", "name" }, src:columns())
    assert.are.equal("张三", recs[1].name)
  end)

  it("detects JSON lines, after blank lines and a BOM", function()
    local _, recs = with_input('\239\187\191\n  {"mobile": "13972565391", "name": "张三"}\n')
    assert.are.equal(1, #recs)
    assert.are.equal("13972565391", recs[1].mobile)
    assert.are.equal(2, recs[1].line)
  end)

  it("honours an explicit format and CSV options", function()
    local _, recs = with_input("tel,who\n1,a\n", { format = "csv", columns = { mobile = "tel", name = "who" } })
    assert.are.equal("a", recs[1].name)
    assert.has_error(function() stdin_source.open{ format = "xml", file = io.stdin } end)
  end)

  it("fails with nil, err on empty input", function()
    local src, _, err = with_input("")
    assert.is_nil(src)
    assert.matches("^stdin: no header row", err)
  end)
end)
