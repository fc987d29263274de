-- qxt.journal.committer inside the real engine, on a real SQLite file: a
-- batch runs as one transaction on the committer's thread; a failing
-- statement rolls the whole batch back and says why; tasks go on while a
-- commit runs; misuse is refused.
local core = require("qxt.sqlite.core")
local committer = require("qxt.journal.committer")

local function tmpdb()
  local p = os.tmpname()
  os.remove(p)
  p = p .. ".sqlite"
  local db = core.open(p)
  db:exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;" ..
          "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT, f REAL)")
  return db, p
end

local function cleanup(db, p)
  db:close()
  for _, f in ipairs{ p, p .. "-wal", p .. "-shm" } do os.remove(f) end
end

local function count(db)
  return db:prepare("SELECT count(*) AS n FROM t"):first().n
end

describe("qxt.journal.committer", function()
  it("commits a batch in order, as one transaction, from a task", function()
    local db, p = tmpdb()
    local c = committer.new(db)
    local put = db:prepare("INSERT OR REPLACE INTO t (k, v, f) VALUES (?, ?, ?)")
    local del = db:prepare("DELETE FROM t WHERE k = ?")
    local ops = {}
    for i = 1, 500 do ops[#ops + 1] = { put, i, "值" .. i, i / 4, n = 4 } end
    ops[#ops + 1] = { del, 7, n = 2 }
    ops[#ops + 1] = { put, 9, nil, true, n = 4 }     -- nil and a boolean
    local t = qxt.spawn(function() return c:commit(ops) end)
    assert.is_true(qxt.wait(t))
    assert.are.equal(499, count(db))
    local row = db:prepare("SELECT * FROM t WHERE k = 9"):first()
    assert.is_nil(row.v)
    assert.are.equal(1, row.f)
    assert.are.equal("值3", db:prepare("SELECT v FROM t WHERE k = 3"):first().v)
    c:close()
    cleanup(db, p)
  end)

  it("rolls the whole batch back when one statement fails, and names the journal", function()
    local db, p = tmpdb()
    local c = committer.new(db)
    local ins = db:prepare("INSERT INTO t (k, v) VALUES (?, ?)")
    local ok, err = c:commit{ { ins, 1, "a", n = 3 }, { ins, 1, "again", n = 3 } }   -- main chunk
    assert.is_nil(ok)
    assert.matches("journal .*: INSERT INTO t", err)
    assert.matches("UNIQUE", err)
    assert.are.equal(0, count(db))
    -- the committer is usable again after a failure
    assert.is_true(c:commit{ { ins, 2, "b", n = 3 } })
    assert.are.equal(1, count(db))
    c:close()
    cleanup(db, p)
  end)

  it("lets other tasks run while a commit is on the disk", function()
    local db, p = tmpdb()
    local c = committer.new(db)
    local put = db:prepare("INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)")
    local ops = {}
    for i = 1, 20000 do ops[i] = { put, i, ("x"):rep(100), n = 3 } end
    local ticks, committed = 0, false
    local writer = qxt.spawn(function() c:commit(ops); committed = true end)
    local ticker = qxt.spawn(function()
      while not committed do ticks = ticks + 1; qxt.sleep(0) end
    end)
    qxt.wait{ writer, ticker }
    assert.is_true(committed)
    assert.is_true(ticks > 1, "the loop stood still during the commit")
    assert.are.equal(20000, count(db))
    c:close()
    cleanup(db, p)
  end)

  it("refuses a second commit while one runs, and bad operations", function()
    local db, p = tmpdb()
    local c = committer.new(db)
    local put = db:prepare("INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)")
    local second
    local a = qxt.spawn(function() return c:commit{ { put, 1, "a", n = 3 } } end)
    local b = qxt.spawn(function() second = { pcall(c.commit, c, { { put, 2, "b", n = 3 } }) } end)
    qxt.wait{ a, b }
    assert.is_false(second[1])
    assert.matches("still running", second[2])
    assert.has_error(function() c:commit{ { put, 1, {}, n = 3 } } end)
    assert.has_error(function() c:commit{ { put, 1, "x" } } end)      -- no n
    assert.has_error(function() c:commit{ "not an operation" } end)
    assert.is_true(c:commit{ { put, 3, "c", n = 3 } })
    c:close()
    c:close()                                                      -- harmless twice
    assert.has_error(function() c:commit{} end)
    cleanup(db, p)
  end)
end)
