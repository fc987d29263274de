-- Many instances, one set of limits (docs/scale-out.md): three `qxtv serve`
-- and one `qxtv run` on the same apikey, a real redis-server and the real
-- simulator. The simulator's own counts are the judge: queries per second,
-- charged queries, and when the last query came after a fatal code.
local cjson = require("cjson")
local redis_server = require("tests.helpers.redis")
local runs = require("tests.helpers.runs")
local serve_helper = require("tests.helpers.serve")
local sim = require("tests.helpers.sim")
local spellings = require("tests.helpers.spellings")

local q = sim.quote
local KEY = "5c0ffee05c0ffee05c0ffee05c0ffee0"

local FLOW = [[
local decision = { serve = { limits = { qps = false, daily_budget = false } } }
if qxt.serving then return decision end
]]

local SURNAMES = { "赵", "钱", "孙", "李", "周", "吴", "郑", "王", "冯", "陈" }
local GIVEN = { "伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超",
                "秀", "霞", "平", "刚", "桂" }

--- n people from `from` on: distinct mobiles, two- or three-character names.
local function people(from, n)
  local list = {}
  for i = from, from + n - 1 do
    local name = SURNAMES[i % #SURNAMES + 1] .. GIVEN[(i // #SURNAMES) % #GIVEN + 1]
    if i % 3 == 0 then name = name .. GIVEN[(i // 7) % #GIVEN + 1] end
    list[#list + 1] = { mobile = ("139%08d"):format(i), name = name }
  end
  return list
end

local function write_people(path, list)
  local out = { "mobile,name,area,carrier" }
  for _, p in ipairs(list) do out[#out + 1] = p.mobile .. "," .. p.name .. ",湖北-武汉,中国电信" end
  sim.write_file(path, table.concat(out, "\n") .. "\n")
end

local function write_input(path, list)
  local out = { "id,mobile,name" }
  for i, p in ipairs(list) do out[#out + 1] = ("r%d,%s,%s"):format(i, p.mobile, p.name) end
  sim.write_file(path, table.concat(out, "\n") .. "\n")
end

local function until_true(what, cond, limit)
  assert(runs.until_true(cond, limit or 30), "timed out waiting for " .. what)
end

-- One `qxtv serve` in the background (tests/helpers/serve.lua); every one
-- started is stopped at the end.
local started = {}
local function serve(dir, tag, endpoint, args)
  local srv = serve_helper.start(dir, { endpoint = endpoint }, { tag = "serve-" .. tag, args = args, apikey = KEY,
                                                                 text = FLOW })
  started[#started + 1] = srv
  return srv
end

--- POSTs one request per person to srv, `parallel` at a time, in the
-- background (tests/helpers/post_load.py); :wait() gives the count of each
-- HTTP status and the decoded answers, in order.
local function load(srv, list, parallel, dir, tag)
  local base = dir .. "/load-" .. tag
  local lines = {}
  for i, p in ipairs(list) do lines[i] = cjson.encode({ mobile = p.mobile, name = p.name }) end
  sim.write_file(base .. ".in", table.concat(lines, "\n") .. "\n")
  assert(os.execute(("(/usr/bin/python3 tests/helpers/post_load.py %s %s %d %s >%s.err 2>&1; echo done >%s) "
    .. ">/dev/null 2>&1 &")
    :format(q(srv.url .. "/v1/verify"), q(base .. ".in"), parallel, q(base .. ".out"), q(base), q(base .. ".done"))))
  return {
    wait = function()
      until_true("the load on " .. tag, function() return sim.read_file(base .. ".done") end, 120)
      local statuses, bodies = {}, {}
      for line in io.lines(base .. ".out") do
        local r = cjson.decode(line)
        local st = tostring(math.tointeger(r.status))
        statuses[st] = (statuses[st] or 0) + 1
        bodies[r.i] = r.body ~= cjson.null and r.body or nil
      end
      return statuses, bodies
    end,
  }
end

local function run_flow(dir, tag, endpoint, list, args)
  local input = dir .. "/input-" .. tag .. ".csv"
  write_input(input, list)
  local base = dir .. "/run-" .. tag
  assert(os.execute(("(QXT_ENDPOINT=%s QXT_APIKEY=%s %s run scripts/verify_csv.lua %s --out %s --no-journal --quiet "
    .. "%s >%s.out 2>%s.err; echo $? >%s.rc) >/dev/null 2>&1 &"):format(q(endpoint), q(KEY), q(sim.qxtv()), q(input),
    q(base .. "-out"), args, q(base), q(base), q(base))))
  return {
    wait = function()
      until_true("the run " .. tag, function() return (sim.read_file(base .. ".rc") or ""):match("%d+") end, 120)
      return tonumber(sim.read_file(base .. ".rc"):match("%d+")), sim.read_file(base .. ".err"),
        base .. "-out", input
    end,
  }
end

describe("scale-out on Redis", function()
  local dir, rs, used, sims = nil, nil, {}, {}

  setup(function()
    dir = sim.tmpdir()
    rs = redis_server.start()
  end)

  teardown(function()
    for _, srv in ipairs(started) do pcall(srv.stop, srv) end
    for _, s in ipairs(sims) do s:stop() end
    rs:stop()
  end)

  local function shared(prefix, instances)
    return ("--redis %s --redis-prefix %s --instances %d"):format(q(rs.url), prefix, instances)
  end

  local function start_sim(opts)
    local s = sim.start(opts)
    sims[#sims + 1] = s
    return s
  end

  local function remember(list)
    for _, p in ipairs(list) do used[#used + 1] = p end
  end

  it("keeps three servers and a run under one global rate at the simulator", function()
    local everyone = people(1, 1400)
    remember(everyone)
    write_people(dir .. "/people-a.csv", everyone)
    local s = start_sim{ "--people", dir .. "/people-a.csv", "--apikey", KEY }
    -- The provider's limit is 200/s; --rate keeps 10% under it, as docs/scale-out.md
    -- says to: the limit binds on Redis's clock when a query is let go, and the
    -- way to the provider (a busy CPU, the network) can bunch a few together.
    local args = "--rate 180 " .. shared("ta:", 4)
    local servers, loads = {}, {}
    for i = 1, 3 do servers[i] = serve(dir, "a" .. i, s.endpoint, args) end
    local run = run_flow(dir, "a", s.endpoint, { table.unpack(everyone, 1051, 1400) },
      args .. " --concurrency 32")
    for i = 1, 3 do
      loads[i] = load(servers[i], { table.unpack(everyone, (i - 1) * 350 + 1, i * 350) }, 16, dir, "a" .. i)
    end
    for i = 1, 3 do
      local statuses = loads[i].wait()
      assert.are.same({ ["200"] = 350 }, statuses)
    end
    local status = run.wait()
    assert.are.equal(0, status)
    local st = s:stats()
    s:stop()
    for i = 1, 3 do
      assert.matches("shared state on Redis", servers[i]:log())
      servers[i]:stop()
    end
    assert.are.equal(1400, st.requests)
    local seconds = 0
    for _, n in pairs(st.per_second) do
      seconds = seconds + 1
      assert.is_true(n <= 200, "the simulator saw " .. n .. " queries in one second: " .. cjson.encode(st.per_second))
    end
    -- Shared, not 4 x 180/s: 1400 queries spread over 7.8 s or more.
    assert.is_true(seconds >= 8, "1400 queries at 180/s take at least 8 wall-clock seconds, not " .. seconds)
    io.stderr:write(("\n[scale-out] queries per second at the simulator: max %d over %d s\n"):format(
      st.max_per_second, seconds))
  end)

  it("spends a shared budget of 1,000 at most, over every instance", function()
    local everyone = people(5001, 1600)
    remember(everyone)
    write_people(dir .. "/people-b.csv", everyone)
    local s = start_sim{ "--people", dir .. "/people-b.csv", "--apikey", KEY }
    local args = "--budget 1000 --budget-id job-b " .. shared("tb:", 4)
    local servers, loads = {}, {}
    for i = 1, 3 do servers[i] = serve(dir, "b" .. i, s.endpoint, args) end
    local run = run_flow(dir, "b", s.endpoint, { table.unpack(everyone, 1201, 1600) }, args .. " --concurrency 16")
    for i = 1, 3 do
      loads[i] = load(servers[i], { table.unpack(everyone, (i - 1) * 400 + 1, i * 400) }, 16, dir, "b" .. i)
    end
    local answered, refused = 0, 0
    for i = 1, 3 do
      local statuses, bodies = loads[i].wait()
      assert.are.equal(400, (statuses["200"] or 0) + (statuses["503"] or 0))
      answered, refused = answered + (statuses["200"] or 0), refused + (statuses["503"] or 0)
      for j = 1, 400 do
        local b = bodies[j]
        assert.is_truthy(b and (b.decision or (b.error and b.error:find("budget exhausted"))), cjson.encode(b))
      end
    end
    local status, err, out, input = run.wait()
    local st = s:stats()
    s:stop()
    for i = 1, 3 do servers[i]:stop() end
    assert.is_true(st.charged <= 1000, "the simulator charged " .. st.charged)
    -- Leases not spent when the instances stopped are all that may be lost:
    -- 4 instances x chunks of 25.
    assert.is_true(st.charged >= 900, "the simulator charged only " .. st.charged)
    io.stderr:write(("\n[scale-out] budget 1000: the simulator charged %d\n"):format(st.charged))
    assert.are.equal(st.charged, st.requests)
    -- Every record of the run is in one output; what it sent is what got an answer.
    assert.are.equal(400, runs.exactly_once(out, input))
    local sent = #runs.read_csv(out .. "/consistent.csv")
    assert.are.equal(st.charged, answered + sent)
    assert.are.equal(1600 - st.charged, refused + 400 - sent)
    if sent < 400 then                                     -- the run got less than it wanted
      assert.are.equal(4, status, err)                     -- BUDGET
      assert.matches("BUDGET%s+used up", err)
    else
      assert.are.equal(0, status, err)
    end
  end)

  it("stops every instance within a second of a fatal -5, until an operator resumes", function()
    local everyone = people(9001, 1200)
    remember(everyone)
    write_people(dir .. "/people-c.csv", everyone)
    local log = dir .. "/sim-c.log"
    local s = start_sim{ "--people", dir .. "/people-c.csv", "--apikey", KEY .. ":200", "--log", log }
    local args = "--rate 100 " .. shared("tc:", 4)
    local servers, loads = {}, {}
    for i = 1, 3 do servers[i] = serve(dir, "c" .. i, s.endpoint, args) end
    local run = run_flow(dir, "c", s.endpoint, { table.unpack(everyone, 901, 1200) }, args .. " --concurrency 16")
    for i = 1, 3 do
      loads[i] = load(servers[i], { table.unpack(everyone, (i - 1) * 300 + 1, i * 300) }, 8, dir, "c" .. i)
    end
    for i = 1, 3 do loads[i].wait() end
    local status, err = run.wait()
    assert.are.equal(3, status, err)                      -- HALTED
    -- The simulator's log: nothing came later than a second after the first -5.
    local first, last, after = nil, nil, 0
    for line in io.lines(log) do
      local h, m, sec = line:match('"ts":"%d+%-%d+%-%d+T(%d+):(%d+):([%d.]+)Z"')
      local t = tonumber(h) * 3600 + tonumber(m) * 60 + tonumber(sec)
      if first then after = after + 1 end
      if not first and line:find('"code":-5', 1, true) then first = t end
      last = t
    end
    assert.is_truthy(first, "the balance ran out")
    assert.is_true(last - first <= 1.0, ("the last query came %.3f s after the first -5"):format(last - first))
    io.stderr:write(("\n[scale-out] the last query came %.3f s after the first -5 (%d queries after it)\n"):format(
      last - first, after))
    assert.is_true(s:stats().requests < 1200)
    for i = 1, 3 do
      local r = servers[i]:ready()
      assert.is_false(r.ready)
      assert.matches("^%-5", r.halted)
    end
    local out = sim.run(("%s admin status --redis %s --redis-prefix tc:"):format(q(sim.qxtv()), q(rs.url)))
    assert.matches("halted: %-5", out)
    out = sim.run(("%s admin resume --redis %s --redis-prefix tc:"):format(q(sim.qxtv()), q(rs.url)))
    assert.matches("^resumed", out)
    for i = 1, 3 do
      until_true("serve c" .. i .. " to be ready again", function() return servers[i]:ready().ready end, 5)
    end
    out = sim.run(("%s admin resume --redis %s --redis-prefix tc:"):format(q(sim.qxtv()), q(rs.url)))
    assert.matches("not halted", out)
    s:stop()
    for i = 1, 3 do servers[i]:stop() end
  end)

  it("survives Redis killed mid-load: local fallback shown, shared again within 5 s, every answer once", function()
    local everyone = people(14001, 2200)
    remember(everyone)
    write_people(dir .. "/people-d.csv", everyone)
    local s = start_sim{ "--people", dir .. "/people-d.csv", "--apikey", KEY }
    local args = "--rate 300 " .. shared("td:", 4)
    local servers, loads = {}, {}
    for i = 1, 3 do servers[i] = serve(dir, "d" .. i, s.endpoint, args) end
    local run = run_flow(dir, "d", s.endpoint, { table.unpack(everyone, 1801, 2200) }, args .. " --concurrency 16")
    for i = 1, 3 do
      loads[i] = load(servers[i], { table.unpack(everyone, (i - 1) * 600 + 1, i * 600) }, 16, dir, "d" .. i)
    end
    until_true("the load to start", function() return s:stats().requests >= 300 end, 20)
    rs:kill()
    until_true("the local fallback to show", function()
      return servers[1]:ready().shared and servers[1]:ready().shared.rate == "local"
    end, 5)
    local _, metrics = servers[1]:call("GET", "/metrics")
    assert.matches('qxtv_shared_mode{part="rate",mode="local"} 1', metrics, 1, true)
    rs:launch()
    for i = 1, 3 do
      assert(runs.until_true(function()
        local sh = servers[i]:ready().shared
        return sh and sh.rate == "shared" and sh.redis == "up"
      end, 5), "serve d" .. i .. " back to shared mode within 5 s")
    end
    for i = 1, 3 do
      local statuses, bodies = loads[i].wait()
      assert.are.same({ ["200"] = 600 }, statuses)
      for j = 1, 600 do assert.is_truthy(bodies[j] and bodies[j].decision) end
      assert.matches("rate limit: Redis unreachable", servers[i]:log())
    end
    local status, err, out, input = run.wait()
    assert.are.equal(0, status, err)
    assert.matches("this instance keeps to 75 queries/s %(the global 300 / 4 instances%)", err)
    assert.are.equal(400, runs.exactly_once(out, input))
    assert.are.equal(400, #runs.read_csv(out .. "/consistent.csv"))
    local st = s:stats()
    s:stop()
    for i = 1, 3 do assert.are.equal(0, servers[i]:stop()) end
    assert.are.equal(2200, st.requests)          -- each asked once: none lost, none doubled
    assert.are.equal(0, st.repeated_pairs)
  end)

  it("keeps --rate and --budget for one serve without Redis (the embedded mode)", function()
    local everyone = people(21001, 5)
    remember(everyone)
    write_people(dir .. "/people-e.csv", everyone)
    local s = start_sim{ "--people", dir .. "/people-e.csv", "--apikey", KEY }
    local srv = serve(dir, "e", s.endpoint, "--rate 50 --budget 3")
    local statuses, bodies = load(srv, everyone, 1, dir, "e").wait()
    assert.are.same({ ["200"] = 3, ["503"] = 2 }, statuses)
    assert.matches("budget exhausted: 3 queries sent", bodies[5].error)
    local ready = srv:ready()
    assert.are.same({ redis = "off", rate = "embedded", budget = "embedded", halt = "embedded" }, ready.shared)
    assert.are.equal(3, s:stats().requests)
    assert.are.equal(0, srv:stop())
    s:stop()
  end)

  it("says what is wrong with an admin command", function()
    local _, err, status = sim.run(q(sim.qxtv()) .. " admin resume")
    assert.are.equal(2, status)
    assert.matches("admin wants %-%-redis URL", err)
    _, err, status = sim.run(q(sim.qxtv()) .. " admin restart --redis " .. q(rs.url))
    assert.are.equal(2, status)
    assert.matches("status or resume", err)
    _, err, status = sim.run(q(sim.qxtv()) .. " admin status --redis unix:///nonexistent/redis.sock")
    assert.are.equal(1, status)
    assert.matches("is down", err)
    local out
    out, _, status = sim.run(q(sim.qxtv()) .. " admin status --redis " .. q(rs.url) .. " --redis-prefix none:")
    assert.are.equal(0, status)
    assert.matches("halted: no", out)
  end)

  it("leaves no mobile or name in Redis, and no key without a time to live", function()
    local p = io.popen(("redis-cli -s %s --scan"):format(q(rs.socket)))
    local keys = {}
    for k in p:lines() do keys[#keys + 1] = k end
    p:close()
    local text = {}
    for _, k in ipairs(keys) do
      -- PTTL: -1 is a key without a time to live; -2 one gone since the scan;
      -- 0 one about to go (TTL, in whole seconds, rounds that to 0 too).
      local ttl = tonumber(rs:cli("PTTL", k):match("%-?%d+"))
      assert.is_true(ttl ~= -1, k .. " has no time to live")
      text[#text + 1] = k .. "=" .. rs:cli("GET", k)
    end
    text = table.concat(text, "\n")
    assert.is_true(#used > 5000)
    for _, person in ipairs(used) do
      assert.is_nil(text:find(person.mobile, 1, true))
      assert.is_nil(text:find(person.mobile:sub(4), 1, true))
      assert.is_nil(text:find(person.name, 1, true))
    end
    for i = 1, #used, 97 do
      assert.is_nil(spellings.find(text, used[i].mobile), used[i].mobile)
    end
  end)
end)
