-- `qxtv serve` end to end: the real binary serving a flow file over HTTP,
-- against the real simulator, spoken to with curl. Each status code of the
-- API, keep-alive, hundreds of idle connections, verify() inside a handler,
-- and a graceful stop with requests in flight.
local cjson = require("cjson")
local sim = require("tests.helpers.sim")

local q = sim.quote
local serve = require("tests.helpers.serve")

local FLOW = [[
local cleaner = qxt.clean.new()
table.insert(cleaner.mobile_rules, qxt.clean.reject("^1380000", "test number"))
local decision = {
  rules = qxt.rules{
    { name = "vip", route = "review", when = function(rec) return rec.tier == "vip" end },
    { name = "boom", route = "x", when = function(rec)
        if rec.tier == "boom" then error("rule failed for " .. rec.mobile .. " " .. rec.name) end
        return false
      end },
  },
  clean = cleaner,
  -- the server's own tests send hundreds of requests a second from one caller
  serve = { limits = { qps = false } },
}
if qxt.serving then return decision end
print("batch ran")
]]

local wait_for = serve.wait_for

-- A server of FLOW unless the spec names another flow file.
local function start(dir, s, opts)
  opts = opts or {}
  opts.text = opts.text or FLOW
  return serve.start(dir, s, opts)
end

local function has(s, part) return s ~= nil and s:find(part, 1, true) ~= nil end

describe("qxtv serve", function()
  local dir, s, srv
  setup(function()
    dir = sim.tmpdir()
    s = sim.start{}
    srv = start(dir, s)
  end)
  teardown(function()
    if srv then srv:stop() end
    s:stop()
  end)

  it("is alive and ready, with the flow's revision", function()
    local st, body = srv:call("GET", "/livez")
    assert.equal(200, st)
    assert.equal("ok", body.status)
    st, body = srv:call("GET", "/readyz")
    assert.equal(200, st)
    assert.is_true(body.ready)
    local _, hex = require("qxt.crypto").sha256_file(dir .. "/flow.lua")
    assert.equal(hex, body.revision)
  end)

  it("answers a decision from the provider, by the flow's rules", function()
    s:reset()
    local st, body = srv:verify{ mobile = "+86 139-7256-5391", name = "张三" }
    assert.equal(200, st)
    assert.equal("consistent", body.decision)
    assert.equal("match", body.rule)
    assert.equal(0, body.code)
    assert.equal("ok", body.class)
    assert.equal("一致", body.status)
    assert.equal("provider", body.source)
    assert.equal(0, body.age_s)
    assert.is_true(body.charged)
    assert.matches("^%x+$", body.decision_id)
    assert.is_nil(body.mobile)
    assert.is_nil(body.name)
    -- extra fields reach the rules; the same pair again is the cache's answer
    st, body = srv:verify{ mobile = "13972565391", name = "张三", tier = "vip" }
    assert.equal(200, st)
    assert.equal("review", body.decision)
    assert.equal("vip", body.rule)
    assert.equal("cache", body.source)
    assert.is_false(body.charged)
    assert.equal(1, s:stats().requests)
    assert.is_false(has(srv:log(), "13972565391"))
  end)

  it("refuses bad input with 400, the cleaning's own reason, and sends nothing", function()
    s:reset()
    local st, body = srv:verify('{"mobile": "139')
    assert.equal(400, st)
    assert.matches("^bad JSON", body.error)
    st = srv:verify("[1, 2]")
    assert.equal(400, st)
    st, body = srv:verify{ name = "张三" }
    assert.equal(400, st)
    assert.equal("missing field: mobile", body.error)
    st, body = srv:verify{ mobile = "13972565391" }
    assert.equal(400, st)
    assert.equal("missing field: name", body.error)
    st, body = srv:verify{ mobile = "1390000", name = "张三" }
    assert.equal(400, st)
    assert.equal(select(2, qxt.clean.mobile("1390000")), body.error)
    assert.equal("mobile", body.field)
    st, body = srv:verify{ mobile = "13800001234", name = "张三" }
    assert.equal(400, st)
    assert.equal("test number", body.error)
    assert.equal(0, s:stats().requests)
  end)

  it("refuses a body over 16 KiB with 413, a non-JSON body with 415", function()
    s:reset()
    local st = srv:verify(('{"mobile":"13972565391","name":"%s"}'):format(("x"):rep(17000)))
    assert.equal(413, st)
    st = srv:verify('{"mobile":"13972565391","name":"张三"}', { "Content-Type: text/plain" })
    assert.equal(415, st)
    st = srv:verify("mobile=13972565391&name=x", { "Content-Type: application/x-www-form-urlencoded" })
    assert.equal(415, st)
    assert.equal(0, s:stats().requests)
  end)

  it("answers 404 for an unknown path and 405 for a wrong method", function()
    local st, _, head = srv:call("GET", "/v1/verify")
    assert.equal(405, st)
    assert.truthy(head:lower():find("allow: post", 1, true))
    st = srv:call("GET", "/nowhere")
    assert.equal(404, st)
  end)

  it("gives 500 without detail when the flow's rule raises, and logs it masked", function()
    local st, body = srv:verify{ mobile = "13972565391", name = "张三", tier = "boom" }
    assert.equal(500, st)
    assert.same({ error = "internal error" }, body)
    local log = srv:log()
    assert.truthy(has(log, "rule failed"))
    assert.is_false(has(log, "13972565391"))
    assert.is_false(has(log, "张三"))
    -- and it still serves
    assert.equal(200, (srv:verify{ mobile = "13972565391", name = "张三" }))
  end)

  it("keeps a connection alive across many requests", function()
    local parts = { "curl -s -o /dev/null -w '%{http_code} %{num_connects}\\n'" }
    for i = 1, 40 do
      if i > 1 then parts[#parts + 1] = "--next -s -o /dev/null -w '%{http_code} %{num_connects}\\n'" end
      parts[#parts + 1] = "-H 'Content-Type: application/json' -d "
        .. q(cjson.encode{ mobile = "13972565391", name = "张三" }) .. " " .. q(srv.url .. "/v1/verify")
    end
    local p = io.popen(table.concat(parts, " "))
    local ok, connects = 0, 0
    for line in p:lines() do
      local code, n = line:match("^(%d+) (%d+)")
      if code == "200" then ok = ok + 1 end
      connects = connects + tonumber(n)
    end
    p:close()
    assert.equal(40, ok)
    assert.equal(1, connects)
  end)

  it("serves while 300 idle connections are held open, and answers on them afterwards", function()
    local script = dir .. "/idle.sh"
    sim.write_file(script, ([[
fds=()
for i in $(seq 300); do exec {fd}<>/dev/tcp/127.0.0.1/%s || exit 1; fds+=($fd); done
echo open > %s
while [ ! -e %s ]; do sleep 0.05; done
n=0
for fd in "${fds[@]}"; do
  printf 'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n' >&$fd
  IFS= read -r -t 10 line <&$fd && case "$line" in *" 200 "*) n=$((n+1));; esac
done
echo $n > %s
]]):format(srv.port, q(dir .. "/idle-open"), q(dir .. "/idle-go"), q(dir .. "/idle-done")))
    assert(os.execute("bash " .. q(script) .. " >/dev/null 2>&1 &"))
    wait_for("300 connections", function() return sim.read_file(dir .. "/idle-open") end)
    for _ = 1, 5 do
      assert.equal(200, (srv:verify{ mobile = "13972565391", name = "张三" }))
    end
    sim.write_file(dir .. "/idle-go", "go")
    local n = wait_for("the idle connections' answers", function() return sim.read_file(dir .. "/idle-done") end)
    assert.equal(300, tonumber(n))
  end)

  it("needs a valid bearer token with --tokens", function()
    local tokens = dir .. "/tokens"
    local hash = require("qxt.crypto").hex(require("qxt.crypto").sha256("s3cret-token"))
    sim.write_file(tokens, "# name sha256hex\napp " .. hash .. "\n")
    assert(os.execute("chmod 600 " .. q(tokens)))     -- a token file others may read is refused
    local t = start(dir, s, { tag = "tok", args = "--tokens " .. q(tokens) })
    local st, body = t:verify{ mobile = "13972565391", name = "张三" }
    assert.equal(401, st)
    assert.truthy(body.error)
    st = t:verify({ mobile = "13972565391", name = "张三" },
                  { "Content-Type: application/json", "Authorization: Bearer wrong" })
    assert.equal(401, st)
    st, body = t:verify({ mobile = "13972565391", name = "张三" },
                        { "Content-Type: application/json", "Authorization: Bearer s3cret-token" })
    assert.equal(200, st)
    assert.equal("consistent", body.decision)
    assert.is_false(has(t:log(), "s3cret-token"))
    assert.equal(0, t:stop())
  end)

  it("halts with 503 and the reason after a fatal provider code", function()
    local h = start(dir, s, { tag = "halt", apikey = "ffffffffffffffffffffffffffffffff" })
    local st, body = h:verify{ mobile = "13972565391", name = "张三" }
    assert.equal(503, st)
    assert.matches("^halted: %-%d", body.error)
    s:reset()
    st, body = h:verify{ mobile = "13972565391", name = "张三" }
    assert.equal(503, st)
    assert.matches("^halted", body.error)
    assert.equal(0, s:stats().requests)
    st, body = h:call("GET", "/readyz")
    assert.equal(503, st)
    assert.is_false(body.ready)
    assert.equal(200, (h:call("GET", "/livez")))
    assert.equal(0, h:stop())
  end)
end)

describe("a flow from qxtv new", function()
  it("is served as is: the same cleaning and rules as its batch", function()
    local dir = sim.tmpdir()
    local s = sim.start{}
    local _, err, status = sim.run("cd " .. q(dir) .. " && " .. q(sim.qxtv()) .. " new both")
    assert.are.equal(0, status, err)
    local srv = start(dir, s, { flow = dir .. "/both.lua" })
    local st, body = srv:verify{ mobile = "+86 139 7256 5391", name = "李四" }
    assert.equal(200, st)
    assert.equal("review", body.decision)
    assert.equal("mismatch needs a person", body.rule)
    st, body = srv:verify{ mobile = "13800001234", name = "李四" }
    assert.equal(400, st)
    assert.equal("test number", body.error)
    assert.equal(0, srv:stop())
    assert.is_false(has(srv:log(), "batch"))
    assert.is_nil(sim.read_file(dir .. "/out-both/review.csv"))
    s:stop()
  end)
end)

describe("scripts/kyc_onboarding.lua", function()
  it("is served with the rules it runs with on a file", function()
    local dir = sim.tmpdir()
    local s = sim.start{}
    local srv = start(dir, s, { flow = "scripts/kyc_onboarding.lua" })
    finally(function() srv:stop(); s:stop() end)
    local expect = {
      { "13972565391", "张三", "approve", "verified" },
      { "13972565391", "李四", "reject", "name does not match" },
      { "17012345678", "周八", "review", "virtual operator" },
      { "13900000001", "王五", "review", "otherwise" },
    }
    for _, e in ipairs(expect) do
      local st, body = srv:verify{ mobile = e[1], name = e[2] }
      assert.equal(200, st)
      assert.equal(e[3], body.decision, e[2])
      assert.equal(e[4], body.rule, e[2])
    end
  end)
end)

describe("qxtv serve's request policy", function()
  local POLICY_FLOW = [[
if qxt.serving then return { serve = { limits = { qps = 0.01, burst = 4 } } } end
]]
  it("refuses over a limit with 429, its name and Retry-After, and never asks the provider", function()
    local dir = sim.tmpdir()
    local s = sim.start{}
    sim.write_file(dir .. "/limited.lua", POLICY_FLOW)
    local srv = start(dir, s, { flow = dir .. "/limited.lua" })
    finally(function() srv:stop(); s:stop() end)
    -- three names on one mobile are allowed in 24 h; the fourth is enumeration
    for i, name in ipairs{ "张三", "李四", "王五" } do
      assert.equal(200, (srv:verify{ mobile = "13972565391", name = name }), "name " .. i)
    end
    local st, body, head = srv:verify{ mobile = "13972565391", name = "赵六" }
    assert.equal(429, st)
    assert.equal("names_per_mobile", body.limit)
    assert.matches("Retry%-After: %d+", head)
    assert.equal(3, s:stats().requests)
    -- the caller's rate: a burst of four (spent above), then 429 "qps"
    st, body = srv:verify{ mobile = "13900000004", name = "王五" }
    assert.equal(429, st)
    assert.equal("qps", body.limit)
    assert.equal(3, s:stats().requests)
  end)

  it("refuses a caller over its daily budget, and a pair asked again within its interval", function()
    local dir = sim.tmpdir()
    -- every answer is -8: never cached, so only the limits stand between a request and a query
    local s = sim.start{ "--fail-rate", "1" }
    sim.write_file(dir .. "/budget.lua",
      "if qxt.serving then return { serve = { limits = { qps = false, daily_budget = 2 } } } end\n")
    local srv = start(dir, s, { flow = dir .. "/budget.lua" })
    finally(function() srv:stop(); s:stop() end)
    local st, body = srv:verify{ mobile = "13972565391", name = "张三" }
    assert.equal(200, st)
    assert.equal(-8, body.code)
    local head
    st, body, head = srv:verify{ mobile = "13972565391", name = "张三" }     -- the same pair again
    assert.equal(429, st)
    assert.equal("pair_interval", body.limit)
    assert.matches("Retry%-After: %d+", head)
    assert.equal(200, (srv:verify{ mobile = "18819079212", name = "曹操" }))
    st, body, head = srv:verify{ mobile = "13800138000", name = "李四" }      -- a third query today
    assert.equal(429, st)
    assert.equal("daily_budget", body.limit)
    assert.matches("Retry%-After: %d+", head)
    assert.equal(2, s:stats().requests)
  end)

  it("asks once for 100 identical requests at once, and answers a repeated request_id without asking", function()
    local dir = sim.tmpdir()
    -- long enough for all 100 to arrive while the one query is out
    local s = sim.start{ "--latency", "3000ms" }
    local srv = start(dir, s)
    finally(function() srv:stop(); s:stop() end)
    local N = 100
    sim.write_file(dir .. "/same.json", cjson.encode{ mobile = "13972565391", name = "张三" })
    assert(os.execute(("for i in $(seq %d); do curl -s -o %s/same$i -H 'Content-Type: application/json' "
      .. "--data-binary @%s %s >/dev/null 2>&1 & done"):format(N, q(dir), q(dir .. "/same.json"),
      q(srv.url .. "/v1/verify"))))
    local charged, sources = 0, {}
    for i = 1, N do
      local text = wait_for("answer " .. i, function()
        local t = sim.read_file(dir .. "/same" .. i)
        return t and #t > 0 and t
      end)
      local b = cjson.decode(text)
      assert.equal("consistent", b.decision)
      if b.charged then charged = charged + 1 end
      sources[b.source] = (sources[b.source] or 0) + 1
    end
    assert.equal(1, s:stats().requests)
    assert.equal(1, charged)                -- the one request that asked; the rest waited on it
    assert.same({ provider = N }, sources)  -- none from the cache: they were all in flight at once
    local _, metrics = srv:call("GET", "/metrics")
    assert.truthy(metrics:find("\nqxtv_coalesced_total " .. (N - 1) .. "\n", 1, true))
    -- a request_id seen before: its first answer, no query, whatever the pair now
    local st, first = srv:verify{ mobile = "13900000004", name = "王五", request_id = "r-1" }
    assert.equal(200, st)
    local again
    st, again = srv:verify{ mobile = "13900000004", name = "王五", request_id = "r-1" }
    assert.equal(200, st)
    assert.equal("idempotent", again.source)
    assert.equal(first.code, again.code)
    assert.equal(2, s:stats().requests)
  end)
end)

describe("qxtv serve's /metrics", function()
  -- Parsed by the Prometheus project's own parser (Debian's python3-prometheus-client).
  local PARSE = [[
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in f.samples:
        out.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
]]
  local function parse(dir, text)
    sim.write_file(dir .. "/metrics.txt", text)
    sim.write_file(dir .. "/parse.py", PARSE)
    local p = io.popen("/usr/bin/python3 " .. q(dir .. "/parse.py") .. " " .. q(dir .. "/metrics.txt") .. " 2>&1")
    local got = p:read("a")
    p:close()
    local samples = cjson.decode(got)
    assert(type(samples) == "table", "the parser said: " .. got)
    return function(name, labels)
      local total = 0
      for _, x in ipairs(samples) do
        local match = x.name == name
        for k, v in pairs(labels or {}) do match = match and x.labels[k] == v end
        if match then total = total + x.value end
      end
      return total
    end
  end

  it("counts requests, decisions, refusals, the cache and provider latency, with no personal data", function()
    local dir = sim.tmpdir()
    local s = sim.start{}
    sim.write_file(dir .. "/m.lua", "if qxt.serving then return { serve = { limits = { qps = false } } } end\n")
    local srv = start(dir, s, { flow = dir .. "/m.lua" })
    finally(function() srv:stop(); s:stop() end)
    for _, name in ipairs{ "张三", "李四", "王五" } do
      assert.equal(200, (srv:verify{ mobile = "13972565391", name = name }))
    end
    assert.equal(429, (srv:verify{ mobile = "13972565391", name = "赵六" }))
    assert.equal(200, (srv:verify{ mobile = "13972565391", name = "张三" }))   -- the cache's
    assert.equal(400, (srv:verify{ mobile = "1390000", name = "张三" }))
    local st, text, head = srv:call("GET", "/metrics")
    assert.equal(200, st)
    assert.matches("Content%-Type: text/plain; version=0%.0%.4", head)
    local value = parse(dir, text)
    assert.equal(4, value("qxtv_http_requests_total", { route = "/v1/verify", status = "200" }))
    assert.equal(1, value("qxtv_http_requests_total", { route = "/v1/verify", status = "429" }))
    assert.equal(1, value("qxtv_http_requests_total", { route = "/v1/verify", status = "400" }))
    assert.equal(1, value("qxtv_refusals_total", { limit = "names_per_mobile" }))
    assert.equal(1, value("qxtv_cache_hits_total"))
    assert.equal(4, value("qxtv_decisions_total", { code = "0" }))
    assert.equal(3, s:stats().requests)
    assert.equal(3, value("qxtv_provider_latency_seconds_count"))
    assert.equal(3, value("qxtv_provider_latency_seconds_bucket", { le = "+Inf" }))
    assert.equal(1, value("qxtv_requests_in_flight"))         -- this request itself
    for _, secret in ipairs{ "13972565391", "张三", "李四", "王五", "赵六", "1390000" } do
      assert.is_nil(text:find(secret, 1, true), secret)
    end
  end)
end)

describe("qxtv serve on SIGTERM", function()
  it("finishes the requests in flight, answers each once, and exits 0", function()
    local dir = sim.tmpdir()
    local s = sim.start{ "--latency", "1500ms" }
    local srv = start(dir, s)
    local N = 20
    for i = 1, N do
      local body = cjson.encode{ mobile = ("139%08d"):format(i), name = "张三" }
      assert(os.execute(("curl -s -o %s -w '%%{http_code}' -H 'Content-Type: application/json' -d %s %s >%s 2>&1 &")
        :format(q(dir .. "/out" .. i), q(body), q(srv.url .. "/v1/verify"), q(dir .. "/code" .. i))))
    end
    -- every request has reached the provider (and waits there): now stop
    wait_for("the queries in flight", function() return s:stats().requests == N end)
    os.execute("kill -TERM " .. srv.pid)
    wait_for("the stop", function() return has(srv:log(), "not accepting") end)
    -- the requests are still waiting on the provider, and nothing new is taken
    local _, _, refused = sim.run("curl -s -o /dev/null " .. q(srv.url .. "/livez"))
    assert.are_not.equal(0, refused)
    local rc = srv:stop(true)
    assert.equal(0, rc)
    for i = 1, N do
      local code = wait_for("curl " .. i, function()
        local c = sim.read_file(dir .. "/code" .. i)
        return c and #c >= 3 and c
      end)
      assert.equal("200", code)
      local body = cjson.decode(sim.read_file(dir .. "/out" .. i))
      assert.equal("provider", body.source)
    end
    local st = s:stats()
    assert.equal(N, st.requests)
    assert.equal(0, st.repeated_pairs)
    assert.truthy(has(srv:log(), "SIGTERM"))
    -- the decision log was flushed before the exit: one line per answer
    local ids = {}
    for _, line in ipairs(srv:decisions()) do
      assert.is_nil(ids[line.decision_id])
      ids[line.decision_id] = true
    end
    for i = 1, N do
      local body = cjson.decode(sim.read_file(dir .. "/out" .. i))
      assert.is_true(ids[body.decision_id], "a log line for answer " .. i)
      ids[body.decision_id] = nil
    end
    assert.is_nil(next(ids))
    s:stop()
  end)
end)
