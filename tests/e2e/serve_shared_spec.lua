-- Several real `qxtv serve` processes on one real redis-server
-- (tests/helpers/redis.lua) and the real simulator: the answer cache,
-- request ids, names per mobile and coalescing are shared; Redis killed
-- under load and restarted costs no crash, no lost answer and no query
-- twice, and the shared mode comes back by itself; Redis holds no mobile or
-- name in any spelling.
local cjson = require("cjson")
local redis_server = require("tests.helpers.redis")
local serve = require("tests.helpers.serve")
local sim = require("tests.helpers.sim")
local spellings = require("tests.helpers.spellings")

local q = sim.quote
local wait_for = serve.wait_for

--- `qxtv serve` (tests/helpers/serve.lua) sharing its state on rs;
--- engine: the engine's options (before the flow); no_key: without --hash-key-file.
local function start(dir, s, rs, tag, args, engine, no_key)
  local key_file = dir .. "/hash.key"
  if not io.open(key_file) then
    sim.write_file(key_file, string.rep("s3cret-shared-by-instances-", 2) .. "\n")
    os.execute("chmod 600 " .. q(key_file))
  end
  -- A slow Redis counts as down (--redis-timeout, 50 ms by default): this
  -- box runs many tests at once, and these are about sharing, not speed.
  return serve.start(dir, s, { tag = tag, engine = engine, args = ("--redis %s --redis-timeout 2000 %s %s"):format(
    q(rs.url), no_key and "" or "--hash-key-file " .. q(key_file), args or "") })
end

-- Many requests at once from python's threads: requests = { { url, body } },
-- at most `workers` in flight; every thread waits at a barrier first when
-- `together`; each thread pauses `pause` s before each request. Returns
-- { { status, body } } in order (status 0: no answer).
local LOAD = [[
import json, sys, threading, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor
import time
reqs = json.load(open(sys.argv[1])); workers = int(sys.argv[2]); together = sys.argv[3] == "1"
pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0
barrier = threading.Barrier(len(reqs)) if together else None
def one(r):
    if barrier: barrier.wait()
    if pause: time.sleep(pause)
    req = urllib.request.Request(r[0], data=json.dumps(r[1]).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return [resp.status, json.loads(resp.read())]
    except urllib.error.HTTPError as e:
        return [e.code, json.loads(e.read() or b"null")]
    except Exception as e:
        return [0, str(e)]
with ThreadPoolExecutor(max_workers=workers) as ex:
    out = list(ex.map(one, reqs))
import os
with open(sys.argv[4] + ".tmp", "w") as f:
    json.dump(out, f)
os.rename(sys.argv[4] + ".tmp", sys.argv[4])   # whole, or not there: the spec polls for it
]]

local function load(dir, reqs, workers, together, background, pause)
  sim.write_file(dir .. "/load.py", LOAD)
  sim.write_file(dir .. "/reqs.json", cjson.encode(reqs))
  os.remove(dir .. "/out.json")
  local cmd = ("/usr/bin/python3 %s %s %d %s %s %s"):format(q(dir .. "/load.py"), q(dir .. "/reqs.json"), workers,
    together and "1" or "0", q(dir .. "/out.json"), tostring(pause or 0))
  if background then
    assert(os.execute("(" .. cmd .. " >" .. q(dir .. "/load.log") .. " 2>&1 &)"))
    return function()
      local text = wait_for("the load", function() return sim.read_file(dir .. "/out.json") end, 6000)
      return cjson.decode(text)
    end
  end
  assert(os.execute(cmd), sim.read_file(dir .. "/load.log") or "")
  return cjson.decode(sim.read_file(dir .. "/out.json"))
end

local function modes(srv)
  local _, body = srv:call("GET", "/readyz")
  return type(body) == "table" and body.state or {}
end

local PARTS = { "cache", "idempotency", "limits", "coalescing" }

local function all_shared(srv)
  local m = modes(srv)
  for _, part in ipairs(PARTS) do
    if m[part] ~= "shared" then return false end
  end
  return true
end

describe("qxtv serve instances sharing state on Redis", function()
  local dir, s, rs, a, b, c
  setup(function()
    dir = sim.tmpdir()
    rs = redis_server.start()
    s = sim.start{ "--latency", "500ms" }
    a, b, c = start(dir, s, rs, "a"), start(dir, s, rs, "b"), start(dir, s, rs, "c")
  end)
  teardown(function()
    for _, srv in ipairs({ a, b, c }) do if srv then srv:stop() end end
    s:stop()
    rs:stop()
  end)

  it("says at /readyz and /metrics that each part is shared", function()
    local m = modes(a)
    for _, part in ipairs(PARTS) do assert.are.equal("shared", m[part], part) end
    local _, text = a:call("GET", "/metrics")
    assert.matches('qxtv_shared_mode{part="cache",mode="shared"} 1', text, 1, true)
  end)

  it("keeps the per-request state in the instance with --redis but no --hash-key-file, and says so", function()
    local alone = start(dir, s, rs, "nokey", nil, nil, true)
    finally(function() alone:stop() end)
    assert.are.equal("embedded", modes(alone).cache)
    assert.matches("--redis without --hash-key-file", alone:log(), 1, true)
  end)

  it("makes one provider query for 300 identical requests spread over three instances", function()
    s:reset()
    local reqs = {}
    for i = 1, 300 do
      local srv = ({ a, b, c })[i % 3 + 1]
      reqs[i] = { srv.url .. "/v1/verify", { mobile = "13972565391", name = "张三" } }
    end
    local out = load(dir, reqs, 300, true)
    local charged = 0
    for i, r in ipairs(out) do
      assert.are.equal(200, r[1], "request " .. i .. ": " .. cjson.encode(r[2]))
      assert.are.equal("consistent", r[2].decision)
      if r[2].charged then charged = charged + 1 end
    end
    assert.are.equal(1, s:stats().requests)
    assert.are.equal(1, charged)
  end)

  it("answers from the cache at B what A asked", function()
    s:reset()
    local st, first = a:verify{ mobile = "13900000004", name = "王五" }
    assert.are.equal(200, st)
    assert.are.equal("provider", first.source)
    local st2, again = b:verify{ mobile = "13900000004", name = "王五" }
    assert.are.equal(200, st2)
    assert.are.equal("cache", again.source)
    assert.are.equal(first.code, again.code)
    assert.are.equal(first.area, again.area)
    assert.are.equal(1, s:stats().requests)
  end)

  it("answers a request_id repeated at another instance with the first answer", function()
    s:reset()
    local st, first = a:verify{ mobile = "13900000005", name = "赵六", request_id = "order-77" }
    assert.are.equal(200, st)
    local st2, again = c:verify{ mobile = "13900000005", name = "赵六", request_id = "order-77" }
    assert.are.equal(200, st2)
    assert.are.equal("idempotent", again.source)
    assert.are.equal(first.code, again.code)
    local st3, other = b:verify{ mobile = "13900000006", name = "赵六", request_id = "order-77" }
    assert.are.equal(409, st3)
    assert.are.equal("request_id_reused", other.error)
    assert.are.equal(1, s:stats().requests)
  end)

  it("counts the names checked against one mobile over all instances", function()
    for i, name in ipairs({ "甲一", "乙二", "丙三" }) do
      local srv = ({ a, b, c })[i]
      assert.are.equal(200, (srv:verify{ mobile = "13911112222", name = name }), name)
    end
    local st, body = a:verify{ mobile = "13911112222", name = "丁四" }
    assert.are.equal(429, st)
    assert.are.equal("names_per_mobile", body.limit)
  end)

  it("keeps no mobile or name in Redis, in any key or value, and a time to live on every key", function()
    local people = { { "13972565391", "张三" }, { "13900000004", "王五" }, { "13900000005", "赵六" },
                     { "13900000006", "赵六" }, { "13911112222", "甲一" }, { "13911112222", "乙二" },
                     { "13911112222", "丙三" }, { "13911112222", "丁四" } }
    local keys = {}
    for k in rs:cli("--scan"):gmatch("[^\n]+") do keys[#keys + 1] = k end
    assert.is_true(#keys >= 8, #keys .. " keys")
    local dump = {}
    for _, k in ipairs(keys) do
      -- PTTL -1: no time to live (-2: gone since the scan, e.g. a lock)
      assert.is_true(tonumber(rs:cli("PTTL", k):match("%-?%d+")) ~= -1, k .. " has no time to live")
      local kind = rs:cli("TYPE", k):match("%a+")
      local value
      if kind == "hash" then value = rs:cli("HGETALL", k)
      elseif kind == "zset" then value = rs:cli("ZRANGE", k, 0, -1, "WITHSCORES")
      elseif kind == "string" then value = rs:cli("GET", k)
      else value = rs:cli("DUMP", k) end
      dump[#dump + 1] = k .. "\n" .. value
    end
    local text = table.concat(dump, "\n")
    for _, p in ipairs(people) do
      assert.is_nil(spellings.find(text, p[1]), p[1])
      assert.is_nil(spellings.find(text, p[2]), p[2])
    end
    assert.is_nil(text:find("order-77", 1, true))
  end)
end)

describe("qxtv serve instances when Redis dies under load", function()
  it("keep answering each request once, ask no pair twice, say so, and share again once it is back", function()
    local dir = sim.tmpdir()
    local rs = redis_server.start()
    local s = sim.start{ "--latency", "50ms" }
    local srvs = { start(dir, s, rs, "a"), start(dir, s, rs, "b"), start(dir, s, rs, "c") }
    finally(function()
      for _, srv in ipairs(srvs) do srv:stop() end
      s:stop()
      rs:stop()
    end)
    -- 900 distinct pairs, each asked once (no client retries), six at a time, paced
    local reqs = {}
    for i = 1, 900 do
      reqs[i] = { srvs[i % 3 + 1].url .. "/v1/verify", { mobile = ("139%08d"):format(i), name = "钱七" } }
    end
    local finish = load(dir, reqs, 6, false, true, 0.02)
    wait_for("the load to start", function() return s:stats().requests >= 50 end)
    rs:kill()
    -- while it is down: the requests get their designed answers, /readyz says which mode
    local m = wait_for("a fallback mode", function()
      local got = modes(srvs[1])
      return got.limits == "closed" and got
    end)
    assert.are.equal("closed", m.idempotency)
    assert.are.equal("miss", m.cache)
    qxt.sleep(1)
    rs:launch()
    local back = qxt.now()
    for _, srv in ipairs(srvs) do
      wait_for("shared mode again", function() return all_shared(srv) end, 250)   -- 5 s
    end
    assert.is_true(qxt.now() - back <= 5)
    -- shared again: a new pair is asked and answered at once at every instance
    for i, srv in ipairs(srvs) do
      local st, body = srv:verify{ mobile = ("138%08d"):format(i), name = "钱七" }
      assert.are.equal(200, st)
      assert.are.equal("provider", body.source)
    end
    local out = finish()
    local by_status, asked = {}, #srvs
    for i, r in ipairs(out) do
      -- one answer per request: an answer, or a designed refusal while Redis was away
      assert.is_true(r[1] == 200 or (r[1] == 429 and r[2].error == "redis_down"),
                     "request " .. i .. ": " .. r[1] .. " " .. cjson.encode(r[2]))
      by_status[r[1]] = (by_status[r[1]] or 0) + 1
      if r[2].source == "provider" then asked = asked + 1 end
    end
    assert.are.equal(900, #out)
    assert.is_true((by_status[429] or 0) > 0, "some requests fell in the outage")
    local st = s:stats()
    assert.are.equal(0, st.repeated_pairs)
    assert.are.equal(st.requests, asked)                -- every query answered once, to its asker
    for _, srv in ipairs(srvs) do
      assert.is_true(srv:alive())
      assert.are.equal(200, (srv:call("GET", "/livez")))
      assert.matches("shared limits: Redis", srv:log())
      assert.is_nil(srv:log():find("钱七", 1, true))
    end
  end)
end)

describe("qxtv serve instances when the one asking the provider dies", function()
  it("never send its possibly charged query again: 503, then 429 until the interval ends, 409 for its id", function()
    local dir = sim.tmpdir()
    local rs = redis_server.start()
    local s = sim.start{ "--latency", "3s" }
    -- the lock outlives any query: --timeout + --connect-timeout + 5 s = 8 s
    local engine = "--timeout 2 --connect-timeout 1"
    local a, b = start(dir, s, rs, "a", nil, engine), start(dir, s, rs, "b", nil, engine)
    finally(function()
      a:stop(); b:stop()
      s:stop()
      rs:stop()
    end)
    local body = cjson.encode{ mobile = "13972565391", name = "张三", request_id = "pay-1" }
    assert(os.execute(("curl -s -o /dev/null -H 'Content-Type: application/json' -d %s %s >/dev/null 2>&1 &")
      :format(q(body), q(a.url .. "/v1/verify"))))
    wait_for("A's query at the provider", function() return s:stats().requests == 1 end)
    os.execute("kill -KILL " .. a.pid)
    local st, refused = b:verify{ mobile = "13972565391", name = "张三" }
    assert.are.equal(503, st)
    assert.are.equal("coalesced_lost", refused.error)
    st, refused = b:verify{ mobile = "13972565391", name = "张三" }
    assert.are.equal(429, st)
    assert.are.equal("pair_interval", refused.limit)
    -- the caller retries its request_id: never sent again under it
    st, refused = b:verify{ mobile = "13972565391", name = "张三", request_id = "pay-1" }
    assert.are.equal(409, st)
    assert.are.equal("request_id_lost", refused.error)
    assert.are.equal(1, s:stats().requests)
    assert.matches("not asked again", b:log())
  end)
end)
