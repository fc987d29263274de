-- One row format (qxt.sink.row): every sink writes the same columns, in the
-- same order, with the same values, for the same record and result; and
-- every sink fails the same way (nil, "FILE: why", never a raise).
local cjson = require("cjson")
local sim = require("tests.helpers.sim")

local function tmp(ext)
  local p = os.tmpname()
  os.remove(p)
  return p .. ext
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- The record and result every sink gets: a code-0 answer as the flow
-- passes it (a view with rule and row), and a rejected row with no result.
local function record(id, mobile)
  return { seq = id, mobile = mobile, name = "张三",
           fields = { id = tostring(id), phone = mobile, ["姓名"] = "张三", status = "vip" } }
end
local COLUMNS = { "id", "phone", "姓名", "status" }
local ANSWER = { code = 0, reason = "Succ", class = "ok", status = "一致", area = "湖北-宜昌",
                 isp = "中国电信", attempts = 2, consistent = true }
local function view(rec)
  return setmetatable({ rule = "match", row = rec.seq }, { __index = ANSWER })
end
local WANT_HEADER = { "id", "phone", "姓名", "status", "code", "reason", "qxt_status", "area", "isp",
                      "attempts", "rule", "row" }
local WANT_ROWS = {
  { "1", "13972565391", "张三", "vip", "0", "Succ", "一致", "湖北-宜昌", "中国电信", "2", "match", "1" },
  { "2", "123", "张三", "vip", "", "row 2 has 3 fields", "", "", "", "", "", "" },
}

local function write_both(sink)
  local a = record(1, "13972565391")
  assert.is_true(sink:write(a, view(a)))
  local b = record(2, "123")
  b.error = "row 2 has 3 fields"
  assert.is_true(sink:write(b, nil))
  assert.is_true(sink:close())
end

-- JSON keys and their values as text (the values here hold no quotes).
local function json_columns(line)
  local names, values, obj = {}, {}, cjson.decode(line)
  for key in line:gmatch('[{,]"([^"]+)":') do
    names[#names + 1] = key
    local v = obj[key]
    local i = math.tointeger(v)       -- cjson reads every number as a float
    values[#values + 1] = v == nil and "" or (i and ("%d"):format(i) or tostring(v))
  end
  return names, values
end

-- names and values -> { [name] = value } without the empty ones
local function as_map(names, values)
  local t = {}
  for i, name in ipairs(names) do
    if values[i] ~= "" then t[name] = values[i] end
  end
  return t
end

local function csv_table(text)
  local lines = {}
  for line in text:gmatch("[^\r\n]+") do
    local cells = {}
    -- (the values here hold no comma; the sqlite3 program quotes some cells)
    for cell in (line .. ","):gmatch("([^,]*),") do cells[#cells + 1] = cell:gsub('^"(.*)"$', "%1") end
    lines[#lines + 1] = cells
  end
  return lines
end

describe("qxt.sink.row: one row format", function()
  it("has the result columns every sink writes, in their order", function()
    local row = require("qxt.sink.row")
    assert.are.same({ "code", "reason", "status", "area", "isp", "attempts", "rule", "row" }, row.RESULT_COLUMNS)
    for _, name in ipairs{ "csv", "jsonl", "sqlite" } do
      assert.are.equal(row.RESULT_COLUMNS, require("qxt.sink." .. name).RESULT_COLUMNS, name)
    end
  end)

  it("CSV, JSON lines, SQLite and stdout write the same columns in the same order", function()
    -- CSV
    local csv_path = tmp(".csv")
    write_both(qxt.sink.csv(csv_path, { columns = COLUMNS }))
    local csv_rows = csv_table(slurp(csv_path))
    os.remove(csv_path)
    assert.are.same(WANT_HEADER, csv_rows[1])
    assert.are.same(WANT_ROWS[1], csv_rows[2])
    assert.are.same(WANT_ROWS[2], csv_rows[3])

    -- JSON lines: the same keys with the same values (a JSON object has no
    -- order); an empty cell is no key
    local jsonl_path = tmp(".jsonl")
    write_both(qxt.sink.jsonl(jsonl_path, { columns = COLUMNS }))
    local n = 0
    for line in io.lines(jsonl_path) do
      n = n + 1
      assert.are.same(as_map(WANT_HEADER, WANT_ROWS[n]), as_map(json_columns(line)))
    end
    os.remove(jsonl_path)
    assert.are.equal(2, n)

    -- SQLite: read back with the sqlite3 program (not our binding)
    local db = tmp(".db")
    write_both(assert(qxt.sink.sqlite(db, "t", { columns = COLUMNS })))
    local out = sim.run(("sqlite3 -header -csv %s 'SELECT * FROM t ORDER BY id'"):format(sim.quote(db)))
    os.remove(db)
    local db_rows = csv_table(out)
    assert.are.same(WANT_HEADER, db_rows[1])
    assert.are.same(WANT_ROWS[1], db_rows[2])
    assert.are.same(WANT_ROWS[2], db_rows[3])
  end)

  it("stdout prints the same row, unmasked (an output, not a log)", function()
    local code = [[
      local fmt = ...
      local sink = qxt.sink.stdout{ format = fmt, columns = { "id", "phone", "姓名", "status" } }
      local rec = { seq = 1, fields = { id = "1", phone = "13972565391", ["姓名"] = "张三", status = "vip" } }
      assert(sink:write(rec, setmetatable({ rule = "match", row = 1 }, { __index = { code = 0, reason = "Succ",
        status = "一致", area = "湖北-宜昌", isp = "中国电信", attempts = 2 } })))
      assert(sink:close())]]
    local out, err, status = sim.run(sim.qxtv() .. " -e " .. sim.quote(code) .. " csv")
    assert.are.equal(0, status, err)
    local rows = csv_table(out)
    assert.are.same(WANT_HEADER, rows[1])
    assert.are.same(WANT_ROWS[1], rows[2])
    out, err, status = sim.run(sim.qxtv() .. " -e " .. sim.quote(code) .. " jsonl")
    assert.are.equal(0, status, err)
    assert.are.same(as_map(WANT_HEADER, WANT_ROWS[1]), as_map(json_columns(out:match("[^\n]+"))))
  end)

  it("CSV and xlsx write a table source's numbers, booleans and others as the same text", function()
    local values = { 1e16, 13972565391.0, 13972565391, -0.0, 0.1, 1 / 3, 2 ^ 63, 1e300, -1e16, true, false,
                     {}, cjson.null }
    local columns, fields = {}, {}
    for i, v in ipairs(values) do columns[i], fields["c" .. i] = "c" .. i, v end
    local rec = { seq = 1, fields = fields }
    local csv_path, xlsx_path = tmp(".csv"), tmp(".xlsx")
    local workbook = qxt.sink.xlsx(xlsx_path, columns)
    for _, sink in ipairs{ qxt.sink.csv(csv_path, columns), workbook:sheet("x") } do
      assert.is_true(sink:write(rec, { code = 0 }))
      assert.is_true(sink:close())
    end
    assert.is_true(workbook:close())
    local book = assert(require("qxt.xlsx.core").open(xlsx_path, "x"))
    assert.are.equal(1, book:next())
    local _, cells = book:next()
    book:close()
    local want = csv_table(slurp(csv_path))[2]
    os.remove(csv_path)
    os.remove(xlsx_path)
    assert.are.equal("10000000000000000", want[1])
    for i = 1, #values do assert.are.equal(want[i], cells[i] or "", "c" .. i) end
  end)

  it("without columns, CSV and SQLite take the first record's: mobile and name first, then sorted", function()
    local rec = { seq = 1, fields = { zeta = "z", name = "张三", alpha = "a", mobile = "13972565391" } }
    local want = { "mobile", "name", "alpha", "zeta", "code" }
    local csv_path, db = tmp(".csv"), tmp(".db")
    local csv_sink = qxt.sink.csv(csv_path)
    local db_sink = assert(qxt.sink.sqlite(db, "t"))
    for _, sink in ipairs{ csv_sink, db_sink } do
      assert.is_true(sink:write(rec, { code = 0 }))
      assert.is_true(sink:close())
    end
    local got = csv_table(slurp(csv_path))[1]
    os.remove(csv_path)
    assert.are.same(want, { table.unpack(got, 1, 5) })
    local out = sim.run(("sqlite3 -header -csv %s 'SELECT * FROM t'"):format(sim.quote(db)))
    os.remove(db)
    assert.are.same(want, { table.unpack(csv_table(out)[1], 1, 5) })
  end)
end)

describe("JSON lines without columns", function()
  it("holds each record's own fields, and keeps an input column a result column shares", function()
    local path = tmp(".jsonl")
    local sink = qxt.sink.jsonl(path)
    assert.is_true(sink:write({ seq = 1, fields = { mobile = "1", name = "a", status = "vip" } },
                              { code = 0, status = "一致", rule = "match", row = 1 }))
    assert.is_true(sink:write({ seq = 2, fields = { mobile = "2", name = "b", extra = "x" } },
                              { code = -4, rule = "no_record", row = 2 }))
    assert.is_true(sink:close())
    local lines = {}
    for line in io.lines(path) do lines[#lines + 1] = cjson.decode(line) end
    os.remove(path)
    -- the input's status survives; the answer's is qxt_status, as in CSV and SQLite
    assert.are.equal("vip", lines[1].status)
    assert.are.equal("一致", lines[1].qxt_status)
    assert.are.equal("x", lines[2].extra)
    assert.is_nil(lines[2].qxt_status)
    assert.are.equal(-4, lines[2].code)
  end)
end)

describe("every sink fails the same way", function()
  -- /dev/full takes the open, then fails every write with ENOSPC.
  local function check(name, sink)
    local rec = record(1, "13972565391")
    local wrote, werr = sink:write(rec, view(rec))
    local closed, cerr = sink:close()
    local err = werr or cerr
    assert.is_true(wrote == true or (wrote == nil and type(werr) == "string"), name .. ": write")
    assert.is_true(closed == true or (closed == nil and type(cerr) == "string"), name .. ": close")
    assert.is_string(err, name .. ": a full disk must be an error")
    assert.matches("/dev/full", err, 1, true)
  end

  it("returns nil and 'FILE: why' from write or close, never raises (CSV, JSON lines, SQLite)", function()
    check("csv", qxt.sink.csv("/dev/full", { columns = COLUMNS, buffer_rows = 1 }))
    check("jsonl", qxt.sink.jsonl("/dev/full"))
    check("sqlite", assert(qxt.sink.sqlite("/dev/full", "t", { columns = COLUMNS })))
    -- a commit at every row: the failure comes from write(), as a value
    check("sqlite batch 1", assert(qxt.sink.sqlite("/dev/full", "t", { columns = COLUMNS, batch = 1 })))
  end)

  it("raises on misuse: a write after close", function()
    local db = tmp(".db")
    local sinks = { qxt.sink.csv(tmp(".csv"), { columns = COLUMNS }), qxt.sink.jsonl(tmp(".jsonl")),
                    assert(qxt.sink.sqlite(db, "t", { columns = COLUMNS })) }
    for _, sink in ipairs(sinks) do
      assert.is_true(sink:close())
      local rec = record(1, "13972565391")
      assert.has_error(function() sink:write(rec, view(rec)) end)
      if sink.path then os.remove(sink.path) end
    end
    os.remove(db)
  end)
end)
