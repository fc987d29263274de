-- qxt.reorder: rows put in any order come out in input order, each once,
-- the same to a sink whether they waited in memory or on disk; the spill
-- file is private and has no name; and qxt.flow uses it by default.
local reorder = require("qxt.reorder")
local sim = require("tests.helpers.sim")
local runs = require("tests.helpers.runs")

-- A stage that collects what it writes.
local function collecting(opts)
  local got = {}
  opts = opts or {}
  opts.write = function(record, view, name) got[#got + 1] = { record = record, view = view, name = name } end
  return reorder.new(opts), got
end

local function positions(got)
  local t = {}
  for i, g in ipairs(got) do t[i] = g.record.seq end
  return t
end

local function iota(n)
  local t = {}
  for i = 1, n do t[i] = i end
  return t
end

-- Each position of 1..n put once, in a shuffled but nearly sorted order
-- (as workers make it), with a few rows very late.
local function arrival(n, seed)
  math.randomseed(seed)
  local order = iota(n)
  for i = 1, n - 1 do
    local j = math.min(n, i + math.random(0, 40))
    order[i], order[j] = order[j], order[i]
  end
  for _ = 1, 3 do
    local i = math.random(1, n // 2)
    local late = table.remove(order, i)
    table.insert(order, math.min(#order + 1, i + math.random(n // 4, n // 2)), late)
  end
  return order
end

local function record(n)
  return { seq = n, mobile = ("139%08d"):format(n), name = "张三",
           fields = { id = "R" .. n, mobile = ("139%08d"):format(n), name = "张三" } }
end

local function view(n)
  local answer = { code = 0, reason = "Succ", class = "ok", consistent = true, status = "一致",
                   attempts = 2, latency_ms = 3.25, raw = '{"code":0}' }
  return setmetatable({ rule = "match", row = n }, { __index = answer })
end

describe("qxt.reorder", function()
  it("writes rows in input order from any arrival order, in memory", function()
    local stage, got = collecting{ window = 100000 }
    local order = arrival(5000, 1)
    for _, n in ipairs(order) do stage:put(n, record(n), view(n), "consistent") end
    assert(stage:close())
    assert.are.same(iota(5000), positions(got))
    assert.are.equal(0, stage:report().spilled)
    assert.is_true(stage:report().held_peak > 40)
  end)

  it("spills past its window and reads rows back the same as they were put", function()
    local stage, got = collecting{ window = 50 }
    local order = arrival(20000, 2)
    for _, n in ipairs(order) do stage:put(n, record(n), view(n), n % 2 == 0 and "even" or "odd") end
    assert(stage:close())
    assert.are.same(iota(20000), positions(got))
    local r = stage:report()
    assert.is_true(r.spilled > 1000, r.spilled)
    assert.is_true(r.held_peak <= 50)
    local from_disk = 0
    for _, g in ipairs(got) do
      local n = g.record.seq
      assert.are.same(record(n), g.record)
      assert.are.equal(n % 2 == 0 and "even" or "odd", g.name)
      -- integers stay integers, floats floats, the raw body stays out
      assert.are.equal("integer", math.type(g.view.attempts))
      assert.are.equal(3.25, g.view.latency_ms)
      assert.are.equal(true, g.view.consistent)
      assert.are.equal("match", g.view.rule)
      assert.are.equal(n, g.view.row)
      assert.are.equal("一致", g.view.status)
      if g.view.raw == nil then from_disk = from_disk + 1 end
    end
    assert.are.equal(r.spilled, from_disk)
  end)

  it("reads back what the spill file holds now, after it was emptied and written again", function()
    -- Every run read back empties the file, and the next run is written from
    -- its start: reading must not return what a buffer kept of the old one.
    local stage, got = collecting{ window = 3 }
    local n = 0
    for round = 1, 4 do
      local first = n + 1
      for i = first + 1, first + 3 do        -- held back behind `first`, then spilled
        stage:put(i, { seq = i, text = ("round %d row %d "):format(round, i):rep(round * 7) }, { code = round }, "s")
      end
      stage:put(first, { seq = first, text = "first" }, { code = round }, "s")
      n = first + 3
    end
    assert(stage:close())
    assert.are.same(iota(n), positions(got))
    for _, g in ipairs(got) do
      if g.record.text ~= "first" then
        local round = g.view.code
        assert.are.equal(("round %d row %d "):format(round, g.record.seq):rep(round * 7), g.record.text)
      end
    end
    assert.are.equal(4, stage:report().spills)
  end)

  it("holds a stuck row's followers on disk, not in memory, then merges them", function()
    local stage, got = collecting{ window = 1000 }
    for n = 2, 30000 do stage:put(n, record(n), view(n), "s") end
    assert.are.equal(0, #got)
    assert.is_true(stage.count < 1000)
    stage:put(1, record(1), view(1), "s")
    assert.are.same(iota(30000), positions(got))
    assert(stage:close())
    assert.are.equal(29, stage:report().spills)
  end)

  it("keeps rows put while write() yields or the stage pauses, and writes them in their turn", function()
    local got = {}
    local stage
    stage = reorder.new{ window = 50, pause = qxt.sleep, write = function(rec)
      got[#got + 1] = rec.seq
      if rec.seq % 3 == 0 then qxt.sleep(0.0001) end
    end }
    local tasks = {}
    local order = arrival(3000, 3)
    for i, n in ipairs(order) do
      tasks[i] = qxt.spawn(function() qxt.sleep((i % 7) / 1000); stage:put(n, record(n), view(n), "s") end)
    end
    qxt.wait(tasks)
    assert(stage:close())
    assert.are.same(iota(3000), got)
    assert.is_true(stage:report().spilled > 0)
  end)

  it("skips a row that never came at close, writing everything after it", function()
    local stage, got = collecting{ window = 10 }
    for _, n in ipairs{ 1, 2, 4, 5, 6, 9, 8, 7, 30, 12, 11, 10, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22 } do
      stage:put(n, record(n), view(n), "s")
    end
    assert.are.same({ 1, 2 }, positions(got))
    assert(stage:close())
    assert.are.same({ 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 30 },
                    positions(got))
    assert.are.equal(1 + 7, stage:report().skipped)
  end)

  it("stops on a failing write: raised once, nothing written after it", function()
    local got = {}
    local stage = reorder.new{ window = 10, write = function(rec)
      if rec.seq == 3 then error("out.csv: No space left on device", 0) end
      got[#got + 1] = rec.seq
    end }
    stage:put(2, record(2), view(2), "s")
    stage:put(3, record(3), view(3), "s")
    stage:put(4, record(4), view(4), "s")
    local ok, err = pcall(stage.put, stage, 1, record(1), view(1), "s")
    assert.is_false(ok)
    assert.matches("No space left", err)
    stage:put(5, record(5), view(5), "s")
    assert(stage:close())
    assert.are.same({ 1, 2 }, got)
  end)

  it("refuses a row put twice, and a row it cannot keep on disk", function()
    local stage = collecting{ window = 1 }
    stage:put(1, record(1), view(1), "s")
    assert.has_error(function() stage:put(1, record(1), view(1), "s") end, "qxt.reorder: row 1 was put twice")
    local bad = record(3)
    bad.hook = print
    assert.has_error(function() stage:put(3, bad, view(3), "s") end)
    stage:close()
  end)

  it("is what qxt.flow does unless told order = \"arrival\"; bad options are refused", function()
    local function flow(order)
      local seen = {}
      local records = {}
      for i = 1, 300 do records[i] = { mobile = "12345", name = "张三", id = i } end
      -- every row rejected by cleaning, the odd ones only after a pause:
      -- as they come, rows arrive out of order
      local cleaner = { record = function(r)
        if r.id % 2 == 1 then qxt.sleep(0.002) end
        return false, "not a mobile"
      end }
      local summary = qxt.flow{ source = records, concurrency = 8, quiet = true, clean = cleaner, order = order,
                                order_window = 5,
                                sinks = { invalid = { write = function(_, _, _) return true end } },
                                on_result = function(r) seen[#seen + 1] = r.id end }
      return seen, summary
    end
    local seen, summary = flow(nil)
    assert.are.same(iota(300), seen)
    assert.are.equal("input", summary.order.mode)
    assert.is_true(summary.order.spilled > 0)
    seen, summary = flow("arrival")
    assert.are.equal(300, #seen)
    assert.are_not.same(iota(300), seen)
    assert.are.equal("arrival", summary.order.mode)
    for _, bad in ipairs{ { order = "sideways" }, { order_window = 0 }, { order_window = 1.5 }, { order_dir = 7 } } do
      bad.source, bad.sinks = {}, {}
      assert.has_error(function() qxt.flow(bad) end)
    end
  end)

  it("spills to a file of mode 0600 that has no name, in the directory given", function()
    local dir = sim.tmpdir()
    local stage = collecting{ window = 2, dir = dir }
    for n = 2, 10 do stage:put(n, record(n), view(n), "s") end
    -- The spill is open (this process's fd) but no longer in the directory.
    assert.are.same({}, runs.files(dir))
    local found
    local f = assert(io.open("/proc/self/stat"))     -- opened by this process: its own pid
    local pid = f:read("a"):match("^%d+")
    f:close()
    for line in io.popen("ls -l /proc/" .. pid .. "/fd"):lines() do
      local fd, target = line:match("(%d+) %-> (.*)$")
      if target and target:find(dir .. "/.qxtv-order-", 1, true) then
        found = true
        assert.matches("%(deleted%)$", target)
        assert.are.equal("600", runs.mode("/proc/" .. pid .. "/fd/" .. fd))
      end
    end
    assert.is_true(found)
    assert(stage:close())
    assert.are.same({}, runs.files(dir))
    os.execute("rm -rf " .. dir)
  end)
end)
