-- The SQLite source and sink (qxtv's one SQLite binding, qxt.sqlite.core)
-- in a real flow against the simulator.
local core = require("qxt.sqlite.core")

-- Every row of `sql` on the database at path (read with bound values only).
local function select_all(path, sql, ...)
  local conn = core.open(path, { readonly = true })
  local rows = conn:prepare(sql):all(...)
  conn:close()
  return rows
end

local function tmpdb()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".db"
end

describe("qxt.source.sqlite and qxt.sink.sqlite", function()
  local db, out
  before_each(function()
    db, out = tmpdb(), tmpdb()
    local conn = core.open(db)
    conn:exec("CREATE TABLE applicants (id INTEGER, phone TEXT, 姓名 TEXT, day TEXT)")
    local rows = { { 1, "13972565391", "张三", "d1" }, { 2, "139-7256-5391", "李四", "d1" },
                   { 3, "12345", "王五", "d1" }, { 4, "13900000004", "赵六", "d1" },
                   { 5, "13972565391", "张三", "d2" } }
    local ins = conn:prepare("INSERT INTO applicants VALUES (?, ?, ?, ?)")
    for _, r in ipairs(rows) do ins:run(table.unpack(r)) end
    conn:close()
  end)
  after_each(function() os.remove(db); os.remove(out) end)

  it("reads a query's rows as records and writes results to a table", function()
    local src = assert(qxt.source.sqlite(db, "SELECT id, phone, 姓名 FROM applicants WHERE day = 'd1'"))
    assert.are.same({ "id", "phone", "姓名" }, src:columns())
    local sink = assert(qxt.sink.sqlite(out, "verified", { columns = src:columns() }))
    local sinks = { consistent = sink, inconsistent = sink, invalid = sink, unverified = sink }
    local summary = qxt.flow{ source = src, sinks = sinks, quiet = true }
    assert.are.equal(4, summary.records)
    local got = select_all(out, "SELECT id, code, status, rule, reason FROM verified ORDER BY id")
    assert.are.equal(4, #got)
    assert.are.equal("一致", got[1].status)
    assert.are.equal("不一致", got[2].status)
    assert.are.equal("rejected", got[3].rule)
    assert.is_nil(got[3].code)
    assert.matches("digits", got[3].reason)
    assert.are.equal("-4", got[4].code)
  end)

  it("replaces its table on each run (a resumed run rewrites every output), or appends if asked", function()
    local function run(mode)
      local src = assert(qxt.source.sqlite(db, "SELECT id, phone, 姓名 FROM applicants WHERE day = 'd1'"))
      local sink = assert(qxt.sink.sqlite(out, "verified", { columns = src:columns(), mode = mode }))
      qxt.flow{ source = src, quiet = true,
                sinks = { consistent = sink, inconsistent = sink, invalid = sink, unverified = sink } }
    end
    local function count()
      return tonumber(select_all(out, "SELECT count(*) AS n FROM verified")[1].n)
    end
    run(); run()
    assert.are.equal(4, count())
    run("append")
    assert.are.equal(8, count())
  end)

  it("says which columns it found when the mobile column is missing", function()
    local src, err = qxt.source.sqlite(db, "SELECT id, 姓名 FROM applicants")
    assert.is_nil(src)
    assert.matches("columns found: id, 姓名", err)
    local nodb
    nodb, err = qxt.source.sqlite("/nonexistent/x.db", "SELECT 1")
    assert.is_nil(nodb)
    assert.matches("no such database", err)
  end)

  it("reports a bad query clearly", function()
    local src, err = qxt.source.sqlite(db, "SELECT nope FROM applicants")
    assert.is_nil(src)
    assert.matches("nope", err)
  end)

  -- Values are bound, never written into SQL: whatever they hold comes
  -- back byte for byte, and nothing in them runs.
  local HOSTILE = { "O'Brien", "'); DROP TABLE applicants; --", '"); DROP TABLE verified; --',
                    "a\0b", "\\'\n;--", "Robert'); DELETE FROM verified WHERE ('1'='1" }

  it("round-trips values with quotes, SQL and NUL bytes through the source and the sink", function()
    local conn = core.open(db)
    conn:exec("CREATE TABLE notes (id INTEGER, phone TEXT, 姓名 TEXT, note TEXT)")
    local ins = conn:prepare("INSERT INTO notes VALUES (?, ?, ?, ?)")
    for i, v in ipairs(HOSTILE) do ins:run(i, "13972565391", "张三", v) end
    conn:close()
    local src = assert(qxt.source.sqlite(db, "SELECT id, phone, 姓名, note FROM notes",
                                         { columns = { mobile = "phone", name = "姓名" } }))
    local seen = {}
    for r in src:records() do seen[tonumber(r.fields.id)] = r.fields.note end
    assert.are.same(HOSTILE, seen)

    src = assert(qxt.source.sqlite(db, "SELECT id, phone, 姓名, note FROM notes"))
    local sink = assert(qxt.sink.sqlite(out, "verified", { columns = src:columns() }))
    qxt.flow{ source = src, quiet = true,
              sinks = { consistent = sink, inconsistent = sink, invalid = sink, unverified = sink } }
    local got = {}
    for _, row in ipairs(select_all(out, "SELECT id, note FROM verified")) do got[tonumber(row.id)] = row.note end
    assert.are.same(HOSTILE, got)
    assert.are.equal(5, #select_all(db, "SELECT id FROM applicants"))   -- nothing dropped
  end)

  it("runs the source's query as one read-only statement", function()
    local src, err = qxt.source.sqlite(db, "SELECT id, phone, 姓名 FROM applicants; DROP TABLE applicants")
    assert.is_nil(src)
    assert.matches("one SQL statement", err)
    src, err = qxt.source.sqlite(db, "DELETE FROM applicants RETURNING id, phone, 姓名")
    assert.is_nil(src)
    assert.matches(db, err, 1, true)
    assert.are.equal(5, #select_all(db, "SELECT id FROM applicants"))   -- nothing dropped or deleted
  end)

  it("refuses a bad table or column name, naming it", function()
    for _, bad in ipairs{ 'x"; DROP TABLE applicants; --', "t(x)", "", " lead", "a\nb", "sqlite_master",
                          ("x"):rep(65) } do
      local ok, err = pcall(qxt.sink.sqlite, out, bad)
      assert.is_false(ok)
      assert.matches("qxt.sink.sqlite: bad table name", err, 1, true)
    end
    local ok, err = pcall(qxt.sink.sqlite, out, "verified", { columns = { "id", "note); DROP TABLE x; --" } })
    assert.is_false(ok)
    assert.matches('bad column name "note); DROP TABLE x; --"', err, 1, true)
    -- columns taken from a record's fields are checked the same way, on the
    -- first write, which fails as every sink's write does: nil, "FILE: why"
    local sink = assert(qxt.sink.sqlite(out, "verified"))
    ok, err = sink:write({ seq = 1, fields = { ["a;b"] = "1" } }, { code = 0 })
    assert.is_nil(ok)
    assert.matches(out .. ': bad column name "a;b"', err, 1, true)
    sink:close()
    -- names beyond ASCII, spaces, hyphens and dots are fine
    sink = assert(qxt.sink.sqlite(out, "结果 2026-12.v1", { columns = { "手机号", "full name" } }))
    sink:write({ seq = 1, fields = { ["手机号"] = "13972565391", ["full name"] = "张三" } }, { code = 0 })
    assert(sink:close())
    assert.are.equal("张三", select_all(out, 'SELECT "full name" AS n FROM "结果 2026-12.v1"')[1].n)
  end)
end)
