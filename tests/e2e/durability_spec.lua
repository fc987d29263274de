-- Durable runs, end to end: `qxtv run scripts/verify_csv.lua` as a
-- subprocess against simulators, killed (SIGKILL, SIGINT), halted (-5),
-- starved of disk, then resumed with --resume. Every input row must end in
-- exactly one output, and no answer in the journal may be paid for again.
local cjson = require("cjson")
local sim = require("tests.helpers.sim")
local runs = require("tests.helpers.runs")

local KEY = os.getenv("QXTV_TEST_APIKEY")
local OUTCOMES = { "consistent", "inconsistent", "invalid", "unverified" }
local NAMES = { "张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十", "王芳", "陈静" }
local CONCURRENCY = 32

local tmpdir = sim.tmpdir

local function sleep(s) qxt.sleep(s) end

-- n rows: a third of the numbers registered (code 0), the rest -4; some
-- invalid, some repeating an earlier pair, some a known number with another name.
local function make_input(dir, n)
  math.randomseed(n)
  local inp = assert(io.open(dir .. "/input.csv", "w"))
  local ppl = assert(io.open(dir .. "/people.csv", "w"))
  inp:write("id,mobile,name\n")
  ppl:write("mobile,name,area,carrier\n")
  for i = 1, n do
    local m, nm = ("139%08d"):format(i), NAMES[math.random(#NAMES)]
    if i % 3 == 0 then ppl:write(m, ",", nm, ",湖北-宜昌,中国电信\n") end
    if i % 50 == 0 then m = "12345" end
    if i % 41 == 0 then m, nm = ("139%08d"):format(i - 1), "某人" end
    if i % 97 == 0 then m = ("139%08d"):format(i - 2) end
    inp:write("R", i, ",", m, ",", nm, "\n")
  end
  inp:close()
  ppl:close()
  return dir .. "/input.csv", dir .. "/people.csv"
end

local read_csv = runs.read_csv

-- Asserts every input id is in exactly one output; returns the outputs.
local function exactly_once(dir, input)
  local where, outputs = {}, {}
  for _, o in ipairs(OUTCOMES) do
    outputs[o] = read_csv(dir .. "/" .. o .. ".csv")
    for _, row in ipairs(outputs[o]) do
      assert(where[row.id] == nil, row.id .. " is in " .. tostring(where[row.id]) .. " and " .. o)
      where[row.id] = o
    end
  end
  local n = 0
  for _, row in ipairs(read_csv(input)) do
    assert(where[row.id], row.id .. " was lost")
    n = n + 1
  end
  local m = 0
  for _ in pairs(where) do m = m + 1 end
  assert.are.equal(n, m)
  return outputs
end

-- --no-thresholds: two thirds of these inputs are unknown numbers (-4), on
-- purpose, which the bundled flow's default thresholds would stop.
local function command(input, out, extra)
  return ("%s run scripts/verify_csv.lua %s --out %s --quiet --no-thresholds --concurrency %d %s"):format(
    sim.qxtv(), input, out, CONCURRENCY, extra or "")
end

-- Starts the flow in the background; returns a handle with the pid of
-- qxtv itself (exec'd), and where its exit status will appear.
local function start(cmd, endpoint, dir)
  local tag = dir .. "/bg" .. math.random(1e9)
  assert(os.execute(("(QXT_ENDPOINT=%s QXT_APIKEY=%s sh -c 'echo $$ > %s.pid; exec %s' >%s.out 2>%s.err; "
    .. "echo $? > %s.status) &"):format(sim.quote(endpoint), sim.quote(KEY), tag, cmd, tag, tag, tag)))
  local pid
  for _ = 1, 200 do
    pid = sim.read_file(tag .. ".pid")
    if pid and pid:match("%d+") then break end
    sleep(0.01)
  end
  return { pid = assert(pid:match("%d+")), tag = tag }
end

-- Waits (at most `limit` seconds) for the run to end; returns its exit
-- status and stderr, or nil if still running.
local function finish(h, limit)
  local t0 = qxt.now()
  repeat
    local st = sim.read_file(h.tag .. ".status")
    if st and st:match("%d+") then return tonumber(st:match("%d+")), sim.read_file(h.tag .. ".err") end
    sleep(0.05)
  until qxt.now() - t0 > limit
  return nil
end

local header = runs.journal_header

local function mode(path)
  local p = io.popen("stat -c %a " .. path)
  local m = p:read("l")
  p:close()
  return m
end

-- Queries sent for a pair beyond the first, over every pair.
local function resends(stats)
  local n = 0
  for _, count in pairs(stats.pairs) do n = n + count - 1 end
  return n
end

describe("durable runs", function()
  local dir, input, people
  setup(function()
    dir = tmpdir()
    input, people = make_input(dir, 20000)
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("survives SIGKILL at random moments: every row once, only in-flight queries sent again", function()
    local s = sim.start{ "--people", people, "--latency", "2ms", "--jitter", "1ms" }
    local out = dir .. "/crash"
    math.randomseed(os.time())
    local kills = 0
    for round = 1, 3 do
      local h = start(command(input, out, round > 1 and "--resume" or ""), s.endpoint, dir)
      sleep(0.3 + math.random() * 1.2)
      os.execute("kill -9 " .. h.pid .. " 2>/dev/null")
      local status = finish(h, 10)
      if status == 137 then kills = kills + 1 end
    end
    assert.is_true(kills >= 1)
    local _, err, status = sim.run(command(input, out, "--resume"), { QXT_ENDPOINT = s.endpoint })
    local stats = s:stats()
    s:stop()
    assert.are.equal(0, status, err)
    exactly_once(out, input)
    local summary = cjson.decode(sim.read_file(out .. "/summary.json"))
    assert.are.equal(20000, summary.records)
    assert.is_true(summary.resumed > 0)
    -- Every pair sent again had been in flight when a run was killed: at
    -- most one per worker per kill.
    local h = header(out .. "/journal.sqlite")
    assert.is_true(resends(stats) <= h.charged_twice, resends(stats) .. " > " .. h.charged_twice)
    assert.is_true(h.charged_twice <= kills * CONCURRENCY, h.charged_twice .. " for " .. kills .. " kills")

    -- The journal is private and holds no mobile and no name.
    assert.are.equal("600", mode(out .. "/journal.sqlite"))
    assert.are.equal("600", mode(out .. "/journal.sqlite.key"))
    local bytes = sim.read_file(out .. "/journal.sqlite") .. (sim.read_file(out .. "/journal.sqlite-wal") or "")
    for _, name in ipairs(NAMES) do assert.is_nil(bytes:find(name, 1, true), name) end
    assert.is_nil(bytes:find("某人", 1, true))
    local mobiles = {}
    for _, row in ipairs(read_csv(input)) do mobiles[row.mobile] = true end
    -- (hex digests may hold runs of digits: only the input's numbers count)
    for digits in bytes:gmatch("%d+") do
      for i = 1, #digits - 10 do assert.is_nil(mobiles[digits:sub(i, i + 10)], "a mobile") end
    end
  end)

  it("halts on -5, then resumes after a top-up without paying twice", function()
    local small = dir .. "/small.csv"
    os.execute("head -n 2001 " .. input .. " > " .. small)
    local out = dir .. "/halt"
    local poor = sim.start{ "--people", people, "--apikey", KEY .. ":300" }
    local _, err, status = sim.run(command(small, out), { QXT_ENDPOINT = poor.endpoint })
    local before = poor:stats()
    poor:stop()
    assert.are.equal(3, status, err)
    assert.matches("%-%-resume", err)
    local rich = sim.start{ "--people", people, "--apikey", KEY }
    _, err, status = sim.run(command(small, out, "--resume"), { QXT_ENDPOINT = rich.endpoint })
    local after = rich:stats()
    rich:stop()
    assert.are.equal(0, status, err)
    local outputs = exactly_once(out, small)
    -- Each pair with a verdict was paid for once, over both accounts.
    local verdicts = {}
    for _, o in ipairs{ "consistent", "inconsistent" } do
      for _, row in ipairs(outputs[o]) do verdicts[row.mobile .. "," .. row.name] = true end
    end
    local n = 0
    for _ in pairs(verdicts) do n = n + 1 end
    assert.are.equal(300, before.charged)
    assert.are.equal(n, before.charged + after.charged)
    assert.are.equal(0, after.repeated_pairs)
    for pair in pairs(after.pairs) do
      -- Sent again only if the poor account had refused it (-5, unpaid).
      assert.is_true(before.pairs[pair] == nil or before.by_code["-5"] > 0, pair)
    end
  end)

  it("stops on SIGINT after the answers in flight, and resumes", function()
    local small = dir .. "/sigint.csv"
    os.execute("head -n 1001 " .. input .. " > " .. small)
    local out = dir .. "/sigint"
    local s = sim.start{ "--people", people, "--latency", "200ms" }
    local h = start(command(small, out), s.endpoint, dir)
    sleep(1)
    os.execute("kill -INT " .. h.pid)
    local status, err = finish(h, 8)
    assert.are.equal(5, status, err)
    assert.matches("SIGINT", err)
    assert.matches("%-%-resume", err)
    local _, err2, status2 = sim.run(command(small, out, "--resume"), { QXT_ENDPOINT = s.endpoint })
    local stats = s:stats()
    s:stop()
    assert.are.equal(0, status2, err2)
    exactly_once(out, small)
    -- Nothing was lost in flight: no pair was ever asked twice.
    assert.are.equal(0, stats.repeated_pairs)
    assert.are.equal(0, header(out .. "/journal.sqlite").charged_twice)
  end)

  it("stops on SIGTERM the same way", function()
    local small = dir .. "/sigterm.csv"
    os.execute("head -n 301 " .. input .. " > " .. small)
    local out = dir .. "/sigterm"
    local s = sim.start{ "--people", people, "--latency", "200ms" }
    local h = start(command(small, out), s.endpoint, dir)
    sleep(0.8)
    os.execute("kill -TERM " .. h.pid)
    local status, err = finish(h, 8)
    s:stop()
    assert.are.equal(5, status, err)
    assert.matches("SIGTERM", err)
  end)

  it("exits at once on a second SIGINT, still resumable", function()
    local small = dir .. "/sigint2.csv"
    os.execute("head -n 201 " .. input .. " > " .. small)
    local out = dir .. "/sigint2"
    local slow = sim.start{ "--people", people, "--latency", "5s" }
    local h = start(command(small, out), slow.endpoint, dir)
    sleep(0.8)
    os.execute("kill -INT " .. h.pid)
    sleep(0.3)
    local t0 = qxt.now()
    os.execute("kill -INT " .. h.pid)
    local status, err = finish(h, 3)
    slow:stop()
    assert.are.equal(130, status, err)
    assert.is_true(qxt.now() - t0 < 2)
    assert.matches("resume", err)
    local s = sim.start{ "--people", people }
    local _, err2, status2 = sim.run(command(small, out, "--resume"), { QXT_ENDPOINT = s.endpoint })
    s:stop()
    assert.are.equal(0, status2, err2)
    exactly_once(out, small)
  end)

  it("stops with a clear error when the journal cannot be written, and resumes", function()
    local small = dir .. "/disk.csv"
    os.execute("head -n 3001 " .. input .. " > " .. small)
    local out = dir .. "/disk"
    local s = sim.start{ "--people", people }
    -- A file size limit (SIGXFSZ ignored): writes past 300 KiB fail with EFBIG.
    local _, err, status = sim.run("bash -c " .. sim.quote("trap '' XFSZ; ulimit -f 300; exec "
      .. command(small, out)), { QXT_ENDPOINT = s.endpoint })
    assert.are.equal(1, status, err)
    assert.matches("journal cannot be written", err)
    assert.matches("disk I/O error", err)
    local _, err2, status2 = sim.run(command(small, out, "--resume"), { QXT_ENDPOINT = s.endpoint })
    local stats = s:stats()
    s:stop()
    assert.are.equal(0, status2, err2)
    exactly_once(out, small)
    assert.is_true(resends(stats) <= CONCURRENCY)
  end)

  describe("refuses to resume", function()
    local s, small, out
    setup(function()
      s = sim.start{ "--people", people }
      small = dir .. "/refuse.csv"
      os.execute("head -n 101 " .. input .. " > " .. small)
      out = dir .. "/refuse"
      local _, err, status = sim.run(command(small, out), { QXT_ENDPOINT = s.endpoint })
      assert.are.equal(0, status, err)
    end)
    teardown(function() s:stop() end)

    local function refused(cmd, pattern)
      local _, err, status = sim.run(cmd, { QXT_ENDPOINT = s.endpoint })
      assert.are.equal(2, status, err)
      assert.matches(pattern, err)
    end

    it("a journal without --resume, and --resume without a journal", function()
      refused(command(small, out), "already there.*%-%-resume")
      refused(command(small, dir .. "/nothing", "--resume"), "nothing to resume")
    end)

    it("another input file", function()
      local other = dir .. "/other.csv"
      os.execute("cp " .. small .. " " .. other .. " && echo R9999,13900009999,张三 >> " .. other)
      refused(command(other, out, "--resume"), "another input")
    end)

    it("a changed flow", function()
      refused(command(small, out, "--resume --encoding utf-8"), "flow changed")
    end)

    it("a corrupt or truncated journal, or a lost key", function()
      local copy = dir .. "/corrupt"
      for _, damage in ipairs{
        "truncate -s 5000 " .. copy .. "/journal.sqlite",
        "dd if=/dev/urandom of=" .. copy .. "/journal.sqlite bs=1024 seek=1 count=8 conv=notrunc 2>/dev/null",
        "rm " .. copy .. "/journal.sqlite.key",
      } do
        os.execute("rm -rf " .. copy .. " && cp -a " .. out .. " " .. copy)
        os.execute(damage)
        local _, err, status = sim.run(command(small, copy, "--resume"), { QXT_ENDPOINT = s.endpoint })
        assert.are.equal(2, status, damage .. ": " .. err)
        assert.matches("cannot be resumed", err)
      end
    end)
  end)
end)
