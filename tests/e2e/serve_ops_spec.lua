-- `qxtv serve` in operation, end to end (the real binary, the real
-- simulator, curl): the decision log (JSON lines, masked, reopened on
-- SIGHUP, flushed on SIGTERM), reloading the flow on SIGHUP (a good one
-- serves, a bad one or one failing its self_test leaves the old one, a
-- request in flight keeps its revision), the --shadow rules and their
-- counts, and the cache's times to live under a clock the test moves
-- (--clock-file), proved by the simulator's request count.
local crypto = require("qxt.crypto")
local mask = require("qxt.mask")
local serve = require("tests.helpers.serve")
local sim = require("tests.helpers.sim")
local spellings = require("tests.helpers.spellings")

local q = sim.quote
local wait_for = serve.wait_for

local function has(s, part) return s ~= nil and s:find(part, 1, true) ~= nil end

local function count(s, part)
  local n, i = 0, 1
  while true do
    local at = s:find(part, i, true)
    if not at then return n end
    n, i = n + 1, at + #part
  end
end

local function sha(text) return crypto.hex(crypto.sha256(text)) end

local function mode_of(path)
  local p = io.popen("stat -c %a " .. q(path))
  local m = p:read("l")
  p:close()
  return m
end

-- A flow whose rules send everything to one route, so the route says
-- which revision decided. extra: more Lua inside the returned table.
local function tagged_flow(route, extra)
  return ([[
local rules = qxt.rules{
  { name = "%s rule", route = "%s", when = function() return true end },
}
if qxt.serving then
  return { rules = rules, serve = { limits = { qps = false } }, %s }
end
]]):format(route, route, extra or "")
end

-- Prometheus text: the value of one sample (labels as written), or 0.
local function metric(text, sample)
  for line in text:gmatch("[^\n]+") do
    local name, value = line:match("^(.-) (%S+)$")
    if name == sample then return tonumber(value) end
  end
  return 0
end

describe("qxtv serve's decision log", function()
  local PEOPLE = {
    { mobile = "13972565391", name = "张三" }, { mobile = "13972565391", name = "李四" },
    { mobile = "18819079212", name = "曹操" }, { mobile = "13900000001", name = "王五" },
  }

  it("is one JSON line per decision, masked, private, with who asked and under which rules", function()
    local dir = sim.tmpdir()
    local s = sim.start{}
    local token = "Tk9-decision-log-token-Zq7"
    local tokens = dir .. "/tokens"
    sim.write_file(tokens, "signup " .. sha(token) .. "\n")
    assert(os.execute("chmod 600 " .. q(tokens)))
    local log_path = dir .. "/decisions.jsonl"
    local text = tagged_flow("approve")
    local srv = serve.start(dir, s, { text = text, decision_log = log_path,
      args = "--tokens " .. q(tokens) .. " --decision-log " .. q(log_path) })
    finally(function() srv:stop(); s:stop() end)
    local auth = { "Content-Type: application/json", "Authorization: Bearer " .. token }
    local answers = {}
    for i, p in ipairs(PEOPLE) do
      local st, body = srv:verify(p, auth)
      assert.equal(200, st, "person " .. i)
      answers[body.decision_id] = body
    end
    local st, again = srv:verify(PEOPLE[1], auth)          -- the cache's answer is a decision too
    assert.equal(200, st)
    answers[again.decision_id] = again
    assert.equal(400, (srv:verify({ mobile = "1390000", name = "张三" }, auth)))   -- no decision, no line
    assert.equal(401, (srv:verify(PEOPLE[1])))                                    -- nor here
    local lines = srv:wait_decisions(5)
    qxt.sleep(0.2)
    assert.equal(5, #srv:decisions())
    assert.equal("600", mode_of(log_path))
    local masked = {}
    for _, p in ipairs(PEOPLE) do masked[mask.mobile(p.mobile) .. " " .. mask.name(p.name)] = true end
    for _, line in ipairs(lines) do
      local body = answers[line.decision_id]
      assert.truthy(body, "a line for each answer, by its decision_id")
      assert.equal("signup", line.caller)
      assert.equal(sha(text), line.revision)
      assert.equal(body.revision, line.revision)
      assert.equal("number", type(line.latency_ms))
      assert.is_true(line.latency_ms >= 0)
      assert.equal(body.decision, line.decision)
      assert.equal(body.rule, line.rule)
      assert.equal(body.code, line.code)
      assert.equal(body.class, line.class)
      assert.equal(body.source, line.source)
      assert.equal(200, line.http_status)
      assert.truthy(masked[line.mobile .. " " .. line.name], line.mobile .. " " .. line.name)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", line.ts)
    end
    -- nothing of a person, the token or the apikey, in any spelling, in the log or on stderr
    local written = sim.read_file(log_path) .. srv:log()
    for _, p in ipairs(PEOPLE) do
      for _, secret in ipairs{ p.mobile, p.name, p.mobile:sub(4) } do
        assert.is_nil(spellings.find(written, secret), secret)
      end
    end
    assert.is_nil(spellings.find(written, token))
    assert.is_nil(spellings.find(written, serve.KEY))
  end)

  it("goes to a new file after logrotate moved it and sent SIGHUP, and is flushed on SIGTERM", function()
    local dir = sim.tmpdir()
    local s = sim.start{}
    local log_path = dir .. "/decisions.jsonl"
    local srv = serve.start(dir, s, { decision_log = log_path, args = "--decision-log " .. q(log_path) })
    finally(function() s:stop() end)
    assert.equal(200, (srv:verify(PEOPLE[1])))
    assert.equal(200, (srv:verify(PEOPLE[2])))
    srv:wait_decisions(2)
    assert(os.rename(log_path, log_path .. ".1"))
    srv:hup()
    wait_for("the reload", function() return has(srv:log(), "reloaded") end)
    for i = 3, 4 do assert.equal(200, (srv:verify(PEOPLE[i]))) end
    -- stopped at once after the answers: the lines are written before it exits
    assert.equal(0, srv:stop())
    assert.equal(2, #srv:decisions())
    assert.equal("600", mode_of(log_path))
    local old = sim.read_file(log_path .. ".1")
    assert.equal(2, count(old, "\n"))
  end)
end)

describe("qxtv serve on SIGHUP", function()
  it("serves the new rules when they load and pass their self_test, and keeps the old ones otherwise", function()
    local dir = sim.tmpdir()
    local s = sim.start{}
    local path = dir .. "/flow.lua"
    local v1 = tagged_flow("v1", [[self_test = function(check) return check({ mobile = "13972565391", name = "张三" },
      { code = 0, class = "ok", consistent = true }) == "v1" end]])
    sim.write_file(path, v1)
    local srv = serve.start(dir, s)
    finally(function() srv:stop(); s:stop() end)
    local st, body = srv:verify{ mobile = "13972565391", name = "张三" }
    assert.equal(200, st)
    assert.equal("v1", body.decision)
    assert.equal(sha(v1), body.revision)

    -- a good one: the next request is decided by it; /readyz says its revision
    local v2 = tagged_flow("v2")
    sim.write_file(path, v2)
    srv:hup()
    wait_for("the reload", function() return has(srv:log(), "reloaded") end)
    st, body = srv:verify{ mobile = "13972565391", name = "张三" }
    assert.equal(200, st)
    assert.equal("v2", body.decision)
    assert.equal("v2 rule", body.rule)
    assert.equal(sha(v2), body.revision)
    local _, ready = srv:call("GET", "/readyz")
    assert.equal(sha(v2), ready.revision)

    -- one that does not load: refused, said, and v2 serves on
    sim.write_file(path, "if qxt.serving then return { rules = ( end\n")
    srv:hup()
    wait_for("the refusal", function() return count(srv:log(), "reload refused") == 1 end)
    assert.equal("v2", select(2, srv:verify{ mobile = "13972565391", name = "张三" }).decision)

    -- one whose self_test fails: refused with its reason, v2 serves on
    sim.write_file(path, tagged_flow("v3", [[self_test = function(check)
      local route = check({ mobile = "13972565391", name = "张三" }, { code = 0, class = "ok", consistent = true })
      return route == "approve", "a verified person must be approved, got " .. tostring(route)
    end]]))
    srv:hup()
    wait_for("the second refusal", function() return count(srv:log(), "reload refused") == 2 end)
    assert.truthy(has(srv:log(), "self_test failed: a verified person must be approved, got v3"))
    -- and one whose self_test raises
    sim.write_file(path, tagged_flow("v4", [[self_test = function() error("the rules are broken") end]]))
    srv:hup()
    wait_for("the third refusal", function() return count(srv:log(), "reload refused") == 3 end)
    assert.truthy(has(srv:log(), "self_test raised"))
    st, body = srv:verify{ mobile = "13972565391", name = "张三" }
    assert.equal(200, st)
    assert.equal("v2", body.decision)
    assert.equal(sha(v2), body.revision)
    _, ready = srv:call("GET", "/readyz")
    assert.equal(sha(v2), ready.revision)
    assert.is_true(ready.ready)
    local _, m = srv:call("GET", "/metrics")
    assert.equal(1, metric(m, 'qxtv_reloads_total{result="ok"}'))
    assert.equal(3, metric(m, 'qxtv_reloads_total{result="failed"}'))
    assert.equal(1, s:stats().requests)
  end)

  it("refuses to start on a flow whose self_test fails", function()
    local dir = sim.tmpdir()
    local path = dir .. "/bad.lua"
    sim.write_file(path, tagged_flow("x", "self_test = function() return false, 'no good' end"))
    local _, err, status = sim.run(q(sim.qxtv()) .. " serve " .. q(path) .. " --listen 127.0.0.1:0")
    assert.are_not.equal(0, status)
    assert.truthy(has(err, "self_test failed: no good"), err)
  end)

  it("never queries while a flow loads or tests itself: a batch without its return, a paying self_test", function()
    local dir = sim.tmpdir()
    local s = sim.start{}
    finally(function() s:stop() end)
    local function start(path)
      return sim.run(("QXT_ENDPOINT=%s QXT_APIKEY=%s %s serve %s --listen 127.0.0.1:0"):format(
        q(s.endpoint), q(sim.apikey()), q(sim.qxtv()), q(path)))
    end
    local BATCH = [[
qxt.flow{ source = qxt.source.table{ { mobile = "13972565391", name = "张三" } }, quiet = true,
          sinks = { consistent = qxt.sink.stdout{}, inconsistent = qxt.sink.stdout{},
                    invalid = qxt.sink.stdout{}, unverified = qxt.sink.stdout{} } }
]]
    -- a batch flow that forgot `if qxt.serving then return ... end`, asking first itself
    local path = dir .. "/batch.lua"
    sim.write_file(path, 'local r = verify("13972565391", "张三")\n' .. BATCH .. "return { got = r }\n")
    local _, err, status = start(path)
    assert.are_not.equal(0, status)
    assert.truthy(has(err, "verify() while the flow loads"), err)
    -- the batch alone: refused as a batch
    sim.write_file(path, BATCH)
    _, err, status = start(path)
    assert.are_not.equal(0, status)
    assert.truthy(has(err, "a batch under `qxtv serve`"), err)
    -- a self_test that asks the provider
    path = dir .. "/paying.lua"
    sim.write_file(path, tagged_flow("x",
      [[self_test = function() return verify("13972565391", "张三").code == 0 end]]))
    _, err, status = start(path)
    assert.are_not.equal(0, status)
    assert.truthy(has(err, "self_test raised"), err)
    assert.are.equal(0, s:stats().requests)
  end)

  it("lets a request in flight finish on the revision it started with", function()
    local dir = sim.tmpdir()
    local s = sim.start{ "--latency", "1500ms" }
    local path = dir .. "/flow.lua"
    local v1, v2 = tagged_flow("v1"), tagged_flow("v2")
    sim.write_file(path, v1)
    local srv = serve.start(dir, s)
    finally(function() srv:stop(); s:stop() end)
    local a = srv:background({ mobile = "13972565391", name = "张三" }, "a")
    wait_for("the query in flight", function() return s:stats().requests == 1 end)
    sim.write_file(path, v2)
    srv:hup()
    wait_for("the reload", function() return has(srv:log(), "reloaded") end)
    local b = srv:background({ mobile = "18819079212", name = "曹操" }, "b")
    local st, body = a.result()
    assert.equal(200, st)
    assert.equal("v1", body.decision)                 -- started before the reload
    assert.equal(sha(v1), body.revision)
    st, body = b.result()
    assert.equal(200, st)
    assert.equal("v2", body.decision)
    assert.equal(sha(v2), body.revision)
    local lines = srv:wait_decisions(2)
    local by_decision = {}
    for _, l in ipairs(lines) do by_decision[l.decision] = l end
    assert.equal(sha(v1), by_decision.v1.revision)
    assert.equal(sha(v2), by_decision.v2.revision)
  end)
end)

describe("qxtv serve --shadow", function()
  it("runs the candidate's rules on every answer, counts where it disagrees, never changes an answer", function()
    local dir = sim.tmpdir()
    local s = sim.start{}
    local live = dir .. "/live.lua"
    sim.write_file(live, [[
local rules = qxt.rules{ { name = "vip", route = "review", when = function(r) return r.tier == "vip" end } }
if qxt.serving then return { rules = rules, serve = { limits = { qps = false } } } end
]])
    local candidate = dir .. "/candidate.lua"
    local cand_text = [[
local rules = qxt.rules{
  { name = "boom", route = "x", when = function(r) if r.tier == "boom" then error("boom " .. r.mobile) end end },
  { name = "vip or gold", route = "review", when = function(r) return r.tier == "vip" or r.tier == "gold" end },
}
if qxt.serving then return { rules = rules } end
]]
    sim.write_file(candidate, cand_text)
    local srv = serve.start(dir, s, { flow = live, args = "--shadow " .. q(candidate) })
    finally(function() srv:stop(); s:stop() end)
    local tiers = { "none", "gold", "vip", "gold", "boom", "none", "gold", "silver" }
    local differs = 0
    for i, tier in ipairs(tiers) do
      local st, body = srv:verify{ mobile = "13972565391", name = "张三", tier = tier }
      assert.equal(200, st, tier)
      -- the live rules' answer, whatever the shadow says (or raises)
      assert.equal(tier == "vip" and "review" or "consistent", body.decision, "request " .. i)
      if tier == "gold" then differs = differs + 1 end
    end
    assert.equal(1, s:stats().requests)             -- the shadow asks nothing
    local _, m = srv:call("GET", "/metrics")
    assert.equal(differs, metric(m, 'qxtv_shadow_total{outcome="disagree"}'))
    assert.equal(differs, metric(m, 'qxtv_shadow_disagreements_total{decision="consistent",shadow_decision="review"}'))
    assert.equal(1, metric(m, 'qxtv_shadow_total{outcome="error"}'))
    assert.equal(#tiers - differs - 1, metric(m, 'qxtv_shadow_total{outcome="agree"}'))
    local lines = srv:wait_decisions(#tiers)
    local flagged, errors = 0, 0
    for _, l in ipairs(lines) do
      if l.shadow_decision then
        flagged = flagged + 1
        assert.equal("review", l.shadow_decision)
        assert.equal("vip or gold", l.shadow_rule)
        assert.equal(sha(cand_text), l.shadow_revision)
      end
      if l.shadow_error then errors = errors + 1 end
    end
    assert.equal(differs, flagged)
    assert.equal(1, errors)
    assert.truthy(has(srv:log(), "rules raised"))
    assert.is_false(has(srv:log(), "13972565391"))
    local _, ready = srv:call("GET", "/readyz")
    assert.equal(sha(cand_text), ready.shadow)

    -- SIGHUP reloads the shadow too: "silver" now disagrees as well
    local cand2 = cand_text:gsub('r.tier == "gold"', 'r.tier == "gold" or r.tier == "silver"')
    sim.write_file(candidate, cand2)
    srv:hup()
    wait_for("the reload", function() return has(srv:log(), "reloaded") end)
    _, ready = srv:call("GET", "/readyz")
    assert.equal(sha(cand2), ready.shadow)
    assert.equal("consistent", select(2, srv:verify{ mobile = "13972565391", name = "张三", tier = "silver" }).decision)
    _, m = srv:call("GET", "/metrics")
    assert.equal(differs + 1, metric(m, 'qxtv_shadow_total{outcome="disagree"}'))
  end)
end)

describe("qxtv serve's cache under a clock the test moves (--clock-file)", function()
  local TTL_FLOW = [[
if qxt.serving then
  return { serve = { limits = { qps = false, pair_interval = false } } }
end
]]
  local A = { mobile = "13972565391", name = "张三" }   -- consistent: 30 days
  local B = { mobile = "13972565391", name = "李四" }   -- inconsistent: 7 days
  local C = { mobile = "13900000001", name = "王五" }   -- no record (-4): 1 day

  local function set_clock(srv, file, offset)
    sim.write_file(file, tostring(offset) .. "\n")
    wait_for("the clock at " .. offset, function()
      local _, ready = srv:call("GET", "/readyz")
      return ready.clock_offset_s == offset
    end)
  end

  it("keeps each outcome exactly its time to live", function()
    local dir = sim.tmpdir()
    local s = sim.start{}
    local clock = dir .. "/clock"
    sim.write_file(clock, "0\n")
    assert(os.execute("chmod 600 " .. q(clock)))
    local srv = serve.start(dir, s, { text = TTL_FLOW, args = "--clock-file " .. q(clock) })
    finally(function() srv:stop(); s:stop() end)
    assert.truthy(has(srv:log(), "TEST CLOCK"))
    local function source(p)
      local st, body = srv:verify(p)
      assert.equal(200, st)
      return body.source, body
    end
    local queries = function() return s:stats().requests end
    assert.equal("provider", source(A))
    assert.equal("provider", source(B))
    local _, c = source(C)
    assert.equal(-4, c.code)
    assert.equal(3, queries())
    for _, p in ipairs{ A, B, C } do assert.equal("cache", source(p)) end
    assert.equal(3, queries())

    local DAY = 86400
    set_clock(srv, clock, DAY - 60)                  -- a minute before no record's end
    local src, body = source(C)
    assert.equal("cache", src)
    assert.is_true(body.age_s >= DAY - 60)
    set_clock(srv, clock, DAY + 1)                   -- past it: asked again, the others still cached
    assert.equal("provider", source(C))
    assert.equal("cache", source(A))
    assert.equal("cache", source(B))
    assert.equal(4, queries())

    set_clock(srv, clock, 7 * DAY - 60)
    assert.equal("cache", source(B))
    set_clock(srv, clock, 7 * DAY + 1)
    assert.equal("provider", source(B))
    assert.equal("cache", source(A))
    assert.equal(5, queries())

    set_clock(srv, clock, 30 * DAY - 60)
    assert.equal("cache", source(A))
    set_clock(srv, clock, 30 * DAY + 1)
    assert.equal("provider", source(A))
    assert.equal(6, queries())

    -- backwards is refused: the clock stays, and says so
    sim.write_file(clock, "5\n")
    wait_for("the refusal", function() return has(srv:log(), "only moves forward") end)
    local _, ready = srv:call("GET", "/readyz")
    assert.equal(30 * DAY + 1, ready.clock_offset_s)
  end)

  it("never caches a transient code or a possibly charged answer", function()
    for _, opt in ipairs{ "--fail-rate", "--drop-rate" } do
      local dir = sim.tmpdir()
      local s = sim.start{ opt, "1" }
      local srv = serve.start(dir, s, { text = TTL_FLOW })
      for i = 1, 3 do
        local st, body = srv:verify(A)
        assert.equal(200, st, opt .. " " .. i)
        assert.equal("provider", body.source)
      end
      local st = s:stats()
      assert.is_true(st.requests >= 3, opt)
      local _, m = srv:call("GET", "/metrics")
      assert.equal(0, metric(m, "qxtv_cache_hits_total"), opt)
      assert.equal(0, srv:stop())
      s:stop()
    end
  end)

  it("refuses a clock file others may write", function()
    local dir = sim.tmpdir()
    local clock = dir .. "/clock"
    sim.write_file(clock, "0\n")
    assert(os.execute("chmod 666 " .. q(clock)))
    sim.write_file(dir .. "/f.lua", TTL_FLOW)
    local _, err, status = sim.run(q(sim.qxtv()) .. " serve " .. q(dir .. "/f.lua")
      .. " --listen 127.0.0.1:0 --clock-file " .. q(clock))
    assert.are_not.equal(0, status)
    assert.truthy(has(err, "chmod 600"), err)
  end)
end)

