-- qxt.file inside the real engine: files that hold personal data are new
-- files of mode 0600 whatever was at their path (a readable file, a hard
-- link, a symlink), written through by every sink and writer; and the lock
-- files that keep a second run away.
local file = require("qxt.file")
local runs = require("tests.helpers.runs")
local sim = require("tests.helpers.sim")

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("qxt.file", function()
  local dir
  before_each(function() dir = runs.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  -- An earlier file at path, readable by all, with a second name (a hard
  -- link, as someone keeping a view of it would have).
  local function earlier(path)
    write(path, "old\n")
    assert(os.execute("chmod 644 " .. path .. " && ln " .. path .. " " .. path .. ".link"))
  end

  local function replaced(path)
    assert.are.equal("600", runs.mode(path))
    assert.is_nil(sim.read_file(path):find("old", 1, true))
    -- A new file, not the old one rewritten: the other name still has the old bytes.
    assert.are.equal("old\n", sim.read_file(path .. ".link"))
    assert.are.equal("644", runs.mode(path .. ".link"))
  end

  it("append_private keeps what is there, narrows it to 0600, and refuses a symbolic link", function()
    local path = dir .. "/log.jsonl"
    write(path, "old\n")
    assert(os.execute("chmod 644 " .. path))
    local f = assert(file.append_private(path))
    f:write("new\n")
    f:close()
    assert.are.equal("old\nnew\n", sim.read_file(path))
    assert.are.equal("600", runs.mode(path))
    f = assert(file.append_private(dir .. "/fresh.jsonl"))
    f:close()
    assert.are.equal("600", runs.mode(dir .. "/fresh.jsonl"))
    assert(os.execute("ln -s " .. path .. " " .. dir .. "/link"))
    local g, err = file.append_private(dir .. "/link")
    assert.is_nil(g)
    assert.truthy(err:find("symbolic link", 1, true), err)
  end)

  it("open_private gives a Lua file, new and 0600, whatever was there", function()
    local path = dir .. "/a.txt"
    earlier(path)
    local f = assert(file.open_private(path))
    assert.are.equal("file", io.type(f))
    assert(f:write("new\n"))
    assert(f:close())
    replaced(path)
    assert.are.equal("closed file", io.type(f))
    -- A path that does not exist yet
    f = assert(file.open_private(dir .. "/b.txt"))
    f:close()
    assert.are.equal("600", runs.mode(dir .. "/b.txt"))
  end)

  it("open_private does not write through a symbolic link, and says so", function()
    write(dir .. "/target", "theirs\n")
    assert(os.execute("ln -s " .. dir .. "/target " .. dir .. "/link"))
    local f, err = file.open_private(dir .. "/link")
    assert.is_nil(f)
    assert.matches("symbolic link", err)
    assert.are.equal("theirs\n", sim.read_file(dir .. "/target"))
    -- A device is written as it is (the operator's stream, not a file at rest).
    f = assert(file.open_private("/dev/null"))
    assert(f:write("x"))
    f:close()
    assert.is_nil(file.open_private(dir .. "/no/such/dir/x"))
  end)

  it("make_private creates or narrows a file in place", function()
    local path = dir .. "/db.sqlite"
    write(path, "keep")
    os.execute("chmod 644 " .. path)
    assert(file.make_private(path))
    assert.are.equal("600", runs.mode(path))
    assert.are.equal("keep", sim.read_file(path))
    assert(file.make_private(dir .. "/new"))
    assert.are.equal("600", runs.mode(dir .. "/new"))
    -- if_exists: nothing is created
    assert(file.make_private(dir .. "/absent", true))
    assert.is_nil(sim.read_file(dir .. "/absent"))
  end)

  it("the CSV, JSON lines and SQLite sinks, the CSV writer and the report write private files", function()
    for _, name in ipairs{ "s.csv", "s.jsonl", "w.csv", "r.html" } do earlier(dir .. "/" .. name) end
    local record = { mobile = "13972565391", name = "张三", fields = { mobile = "13972565391", name = "张三" } }
    local result = { code = 0, reason = "Succ", status = "一致" }
    for _, sink in ipairs{ qxt.sink.csv(dir .. "/s.csv"), qxt.sink.jsonl(dir .. "/s.jsonl") } do
      assert(sink:write(record, result))
      assert(sink:close())
    end
    local w = assert(qxt.csv.writer(dir .. "/w.csv", { "mobile", "name" }))
    assert(w:write{ mobile = "13972565391", name = "张三" })
    assert(w:close())
    assert(qxt.report.write({ records = 1, outcomes = { consistent = 1 } }, dir .. "/r.html"))
    for _, name in ipairs{ "s.csv", "s.jsonl", "w.csv", "r.html" } do replaced(dir .. "/" .. name) end

    local db = dir .. "/results.sqlite"
    write(db, "")
    os.execute("chmod 644 " .. db)
    local sink = assert(qxt.sink.sqlite(db, "verified"))
    sink:write(record, result)
    assert(sink:close())
    assert.are.equal("600", runs.mode(db))
    sink = assert(qxt.sink.sqlite(dir .. "/fresh.sqlite", "verified"))
    sink:write(record, result)
    assert(sink:close())
    assert.are.equal("600", runs.mode(dir .. "/fresh.sqlite"))
    -- An in-memory database is no file: nothing is created for it.
    sink = assert(qxt.sink.sqlite(":memory:", "verified"))
    sink:write(record, result)
    assert(sink:close())
    assert.is_nil(sim.read_file(":memory:"))
  end)

  it("lock: one holder at a time, named by its pid, until released", function()
    local path = dir .. "/.qxtv.lock"
    local lock = assert(file.lock(path))
    assert.are.equal("600", runs.mode(path))
    local pid = tonumber(sim.read_file(path):match("^(%d+)\n$"))
    assert.is_not_nil(pid)
    local again, err, holder = file.lock(path)
    assert.is_nil(again)
    assert.are.equal(pid, holder)
    assert.matches("pid " .. pid, err)
    -- Another process is refused too, while this one holds it.
    local _, out_err, status = sim.run(sim.qxtv() .. " -e " .. sim.quote(
      "local l, e = require('qxt.file').lock(...) io.stderr:write(e) os.exit(l and 0 or 2)") .. " " .. path)
    assert.are.equal(2, status)
    assert.matches("pid " .. pid, out_err)
    lock:release()
    lock:release()
    lock = assert(file.lock(path))
    lock:release()
    assert.is_nil(file.lock(dir .. "/no/such/dir/.qxtv.lock"))
  end)
end)
