-- Results in input order, end to end: the real qxtv against simulators whose
-- latency, jitter and -8 answers (retried with back-off) make the answers
-- come back out of order. Every output of every sink kind must list its
-- rows in input order, each once; also after SIGKILL and --resume; rows
-- that end early (rejected by cleaning, duplicates, unsent past a budget)
-- too. --order arrival must keep the old behaviour (checked to differ), and
-- rows held back spill to a private, nameless file that is gone afterwards.
local cjson = require("cjson")
local sim = require("tests.helpers.sim")
local runs = require("tests.helpers.runs")

local NAMES = { "张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十" }
local CONCURRENCY = 16

-- n rows: a third registered (consistent or not by name), some invalid
-- mobiles, some repeating an earlier pair (dedupe), some another name.
local function make_input(dir, n)
  math.randomseed(n)
  local inp = assert(io.open(dir .. "/input.csv", "w"))
  local ppl = assert(io.open(dir .. "/people.csv", "w"))
  inp:write("id,mobile,name\n")
  ppl:write("mobile,name,area,carrier\n")
  local rows = {}
  for i = 1, n do
    local m, nm = ("139%08d"):format(i), NAMES[math.random(#NAMES)]
    if i % 3 == 0 then ppl:write(m, ",", i % 2 == 0 and nm or "某人", ",湖北-宜昌,中国电信\n") end
    if i % 50 == 0 then m = "12345" end
    if i % 37 == 0 then m, nm = rows[i - 5][1], rows[i - 5][2] end
    rows[i] = { m, nm }
    inp:write(i, ",", m, ",", nm, "\n")
  end
  inp:close()
  ppl:close()
  return dir .. "/input.csv", dir .. "/people.csv"
end

local function command(input, out, extra)
  return ("%s run scripts/verify_csv.lua %s --out %s --quiet --no-thresholds --concurrency %d %s"):format(
    sim.qxtv(), input, out, CONCURRENCY, extra or "")
end

-- Whether a list of row numbers is strictly increasing; the first place it is not.
local function increasing(list)
  for i = 2, #list do
    if list[i] <= list[i - 1] then return false, ("%d after %d (place %d)"):format(list[i], list[i - 1], i) end
  end
  return true
end

local function ids(rows)
  local t = {}
  for i, row in ipairs(rows) do t[i] = tonumber(row.id) end
  return t
end

-- The four CSV outputs of verify_csv: each row once over all of them;
-- returns whether each is in input order (and where one is not).
local function csv_outputs(dir, input)
  local n = runs.exactly_once(dir, input)
  local sorted, where = true, {}
  for _, o in ipairs(runs.OUTCOMES) do
    local list = ids(runs.read_csv(dir .. "/" .. o .. ".csv"))
    local ok, at = increasing(list)
    if not ok then sorted = false; where[#where + 1] = o .. ": " .. at end
  end
  return sorted, table.concat(where, "; "), n
end

-- A flow with one sink of each kind; rows go to a kind by row number, so
-- that each sink gets rows from all over the input.
local FLOW = [[
local input, out, order = arg[1], arg[2], arg[3]
local src = assert(qxt.source.csv(input))
local cols = src:columns()
local KINDS = { "csv", "jsonl", "sqlite", "stdout", "xlsx" }
local book = qxt.sink.xlsx(out .. "/rows.xlsx", { columns = cols })
local summary = qxt.flow{
  source = src, concurrency = 16, quiet = true, order = order, order_window = 20, order_dir = out,
  retry = qxt.retry.policy{ on = { -8, "transport" }, attempts = 6, backoff = 0.05, factor = 2 },
  route = function(record) return KINDS[record.seq % 5 + 1], "by_row" end,
  sinks = {
    csv = assert(qxt.sink.csv(out .. "/rows.csv", { columns = cols })),
    jsonl = assert(qxt.sink.jsonl(out .. "/rows.jsonl", { columns = cols })),
    sqlite = assert(qxt.sink.sqlite(out .. "/rows.db", "rows", { columns = cols })),
    stdout = qxt.sink.stdout{ columns = cols },
    xlsx = book:sheet("rows"),
  },
}
assert(book:close(summary))
io.stderr:write(summary.json(), "\n")
]]

local function jsonl_ids(text)
  local t = {}
  for line in text:gmatch("[^\n]+") do t[#t + 1] = tonumber(cjson.decode(line).id) end
  return t
end

-- The ids of the one data sheet, as openpyxl (Debian's python3-openpyxl) reads it.
local function xlsx_ids(path)
  local p = io.popen("/usr/bin/python3 tests/helpers/read_xlsx.py " .. path)
  local book = cjson.decode(p:read("a"))
  p:close()
  local t = {}
  for _, sheet in ipairs(book.sheets) do
    if sheet.name == "rows" then
      local col
      for i, h in ipairs(sheet.rows[1]) do if h == "id" then col = i end end
      for r = 2, #sheet.rows do t[#t + 1] = tonumber(sheet.rows[r][col]) end
    end
  end
  return t
end

local function sqlite_ids(path)
  local db = require("qxt.sqlite.core").open(path)
  local t = {}
  for _, row in ipairs(db:prepare("SELECT id FROM rows ORDER BY rowid"):all()) do t[#t + 1] = tonumber(row.id) end
  db:close()
  return t
end

describe("results in input order", function()
  local dir, input, people
  setup(function()
    dir = runs.tmpdir()
    input, people = make_input(dir, 3000)
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("every sink kind gets its rows in input order; --order arrival does not", function()
    local flow = dir .. "/kinds.lua"
    sim.write_file(flow, FLOW)
    local s = sim.start{ "--people", people, "--latency", "3ms", "--jitter", "3ms", "--fail-rate", "0.05",
                         "--seed", "7" }
    finally(function() s:stop() end)   -- also when an assertion fails
    local got = {}
    for _, order in ipairs{ "input", "arrival" } do
      local out = dir .. "/kinds-" .. order
      assert(os.execute("mkdir -p " .. out))
      local stdout, err, status = sim.run(("%s run %s %s %s %s"):format(sim.qxtv(), flow, input, out, order),
                                          { QXT_ENDPOINT = s.endpoint })
      assert.are.equal(0, status, err)
      local summary = cjson.decode(err:match("{.*}"))
      got[order] = {
        csv = ids(runs.read_csv(out .. "/rows.csv")),
        jsonl = jsonl_ids(sim.read_file(out .. "/rows.jsonl")),
        sqlite = sqlite_ids(out .. "/rows.db"),
        stdout = jsonl_ids(stdout),
        xlsx = xlsx_ids(out .. "/rows.xlsx"),
        summary = summary,
      }
    end
    s:stop()
    for _, order in ipairs{ "input", "arrival" } do
      -- each kind has its quarter of the rows, each row once over all kinds
      local seen, total = {}, 0
      for kind, k in pairs{ csv = 0, jsonl = 1, sqlite = 2, stdout = 3, xlsx = 4 } do
        for _, id in ipairs(got[order][kind]) do
          assert.are.equal(k, id % 5, order .. " " .. kind .. " " .. id)
          assert.is_nil(seen[id], id)
          seen[id] = true
          total = total + 1
        end
      end
      assert.are.equal(3000, total)
    end
    for _, kind in ipairs{ "csv", "jsonl", "sqlite", "stdout", "xlsx" } do
      local ok, at = increasing(got.input[kind])
      assert.is_true(ok, kind .. ": " .. tostring(at))
    end
    -- The answers did come back out of order: as they came, no kind is sorted.
    for _, kind in ipairs{ "csv", "jsonl", "sqlite", "stdout", "xlsx" } do
      assert.is_false(increasing(got.arrival[kind]), kind .. " was in order without reordering")
    end
    assert.are.equal("input", got.input.summary.order.mode)
    assert.is_true(got.input.summary.order.spilled > 0)
    assert.are.equal("arrival", got.arrival.summary.order.mode)
  end)

  it("verify_csv: input order by default, rows that end early included; arrival order on request", function()
    local s = sim.start{ "--people", people, "--latency", "3ms", "--jitter", "3ms", "--fail-rate", "0.05",
                         "--seed", "11" }
    finally(function() s:stop() end)   -- also when an assertion fails
    local _, err, status = sim.run(command(input, dir .. "/default"), { QXT_ENDPOINT = s.endpoint })
    assert.are.equal(0, status, err)
    local sorted, where = csv_outputs(dir .. "/default", input)
    assert.is_true(sorted, where)
    -- rejected by cleaning, and duplicates answered by an earlier row, are there
    local invalid = runs.read_csv(dir .. "/default/invalid.csv")
    assert.is_true(#invalid >= 50, #invalid)
    local summary = cjson.decode(sim.read_file(dir .. "/default/summary.json"))
    assert.is_true(summary.duplicates > 0, sim.read_file(dir .. "/default/summary.json"))

    _, err, status = sim.run(command(input, dir .. "/bad", "--order sideways"), { QXT_ENDPOINT = s.endpoint })
    assert.are.equal(2, status, err)
    assert.matches("%-%-order wants input or arrival, not 'sideways'", err)
    _, err, status = sim.run(command(input, dir .. "/arrival", "--order arrival"), { QXT_ENDPOINT = s.endpoint })
    assert.are.equal(0, status, err)
    sorted = csv_outputs(dir .. "/arrival", input)
    assert.is_false(sorted, "the answers came back in order: the test proves nothing")

    -- A budget: the rows never sent are in order with the others.
    _, err, status = sim.run(command(input, dir .. "/budget", "--budget 1500"), { QXT_ENDPOINT = s.endpoint })
    s:stop()
    assert.are.equal(qxt.exit.BUDGET, status, err)
    sorted, where = csv_outputs(dir .. "/budget", input)
    assert.is_true(sorted, where)
    local unsent = 0
    for _, row in ipairs(runs.read_csv(dir .. "/budget/unverified.csv")) do
      if row.reason:find("budget exhausted", 1, true) then unsent = unsent + 1 end
    end
    assert.is_true(unsent > 100, unsent)
  end)

  it("after SIGKILL and --resume, every row is in exactly one output, once, in order", function()
    local big = dir .. "/big"
    assert(os.execute("mkdir -p " .. big))
    local input2, people2 = make_input(big, 20000)
    local s = sim.start{ "--people", people2, "--latency", "2ms", "--jitter", "2ms", "--fail-rate", "0.03" }
    finally(function() s:stop() end)   -- also when an assertion fails
    local out = big .. "/out"
    local h = runs.start(command(input2, out), s.endpoint, big)
    -- killed once some rows are out, long before the end
    assert.is_true(runs.until_true(function()
      local f = io.open(out .. "/unverified.csv")
      local size = f and f:seek("end") or 0
      if f then f:close() end
      return size > 20000
    end, 30))
    os.execute("kill -9 " .. h.pid)
    assert.are.equal(137, runs.finish(h, 10))
    local _, err, status = sim.run(command(input2, out, "--resume"), { QXT_ENDPOINT = s.endpoint })
    s:stop()
    assert.are.equal(0, status, err)
    local sorted, where, n = csv_outputs(out, input2)
    assert.are.equal(20000, n)
    assert.is_true(sorted, where)
    local summary = cjson.decode(sim.read_file(out .. "/summary.json"))
    assert.is_true(summary.resumed > 0)
    -- no spill file left behind, by the killed run or the resumed one
    for _, f in ipairs(runs.files(out)) do assert.is_nil(f:find(".qxtv-order", 1, true), f) end
  end)

  it("spills rows held back by a slow one to a file of mode 0600 with no name, gone afterwards", function()
    -- one answer in 100 takes 1.5 s: the rows after it wait, 20 in memory, the rest on disk
    local s = sim.start{ "--people", people, "--slow-rate", "0.01", "--slow", "1500ms", "--seed", "5" }
    finally(function() s:stop() end)   -- also when an assertion fails
    local out = dir .. "/spill"
    local h = runs.start(command(input, out, "--order-window 20"), s.endpoint, dir)
    local seen
    assert.is_true(runs.until_true(function()
      local p = io.popen("ls -l /proc/" .. h.pid .. "/fd 2>/dev/null")
      for line in p:lines() do
        local fd, target = line:match("(%d+) %-> (.*)$")
        if target and target:find(out .. "/.qxtv-order-", 1, true) then
          seen = { target = target, mode = runs.mode("/proc/" .. h.pid .. "/fd/" .. fd) }
        end
      end
      p:close()
      return seen ~= nil
    end, 30), "no spill file seen")
    local status, err = runs.finish(h, 60)
    s:stop()
    assert.are.equal(0, status, err)
    assert.matches(" %(deleted%)$", seen.target)
    assert.are.equal("600", seen.mode)
    for _, f in ipairs(runs.files(out)) do assert.is_nil(f:find(".qxtv-order", 1, true), f) end
    local sorted, where = csv_outputs(out, input)
    assert.is_true(sorted, where)
    local summary = cjson.decode(sim.read_file(out .. "/summary.json"))
    assert.is_true(summary.order.spilled > 0)
    assert.is_true(summary.order.held_peak <= 20)
  end)
end)
