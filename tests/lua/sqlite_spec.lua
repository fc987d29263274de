-- The SQLite source and sink (Debian's lua-sql-sqlite3) in a real flow
-- against the simulator.
local driver = require("luasql.sqlite3")

local function tmpdb()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".db"
end

describe("qxt.source.sqlite and qxt.sink.sqlite", function()
  local db, out
  before_each(function()
    db, out = tmpdb(), tmpdb()
    local env = driver.sqlite3()
    local conn = env:connect(db)
    assert(conn:execute("CREATE TABLE applicants (id INTEGER, phone TEXT, 姓名 TEXT, day TEXT)"))
    local rows = { { 1, "13972565391", "张三", "d1" }, { 2, "139-7256-5391", "李四", "d1" },
                   { 3, "12345", "王五", "d1" }, { 4, "13900000004", "赵六", "d1" },
                   { 5, "13972565391", "张三", "d2" } }
    for _, r in ipairs(rows) do
      assert(conn:execute(("INSERT INTO applicants VALUES (%d, '%s', '%s', '%s')"):format(table.unpack(r))))
    end
    conn:close()
    env:close()
  end)
  after_each(function() os.remove(db); os.remove(out) end)

  it("reads a query's rows as records and writes results to a table", function()
    local src = assert(qxt.source.sqlite(db, "SELECT id, phone, 姓名 FROM applicants WHERE day = 'd1'"))
    assert.are.same({ "id", "phone", "姓名" }, src:columns())
    local sink = assert(qxt.sink.sqlite(out, "verified", { columns = src:columns() }))
    local sinks = { consistent = sink, inconsistent = sink, invalid = sink, unverified = sink }
    local summary = qxt.flow{ source = src, sinks = sinks, quiet = true }
    assert.are.equal(4, summary.records)
    local env = driver.sqlite3()
    local conn = env:connect(out)
    local cur = conn:execute("SELECT id, code, status, rule, reason FROM verified ORDER BY id")
    local got = {}
    local row = cur:fetch({}, "a")
    while row do got[#got + 1] = row; row = cur:fetch({}, "a") end
    cur:close(); conn:close(); env:close()
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
      local env = driver.sqlite3()
      local conn = env:connect(out)
      local cur = conn:execute("SELECT count(*) AS n FROM verified")
      local n = cur:fetch({}, "a").n
      cur:close(); conn:close(); env:close()
      return tonumber(n)
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
end)
