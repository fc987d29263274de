-- serve's policy with its state on Redis (lua/qxt/serve/shared/store.lua),
-- inside the real engine, against a real redis-server (tests/helpers/redis.lua)
-- and the simulator: two policies on one Redis and one hash key are two
-- instances. The cache, request ids, names per mobile, the pair interval
-- and coalescing are shared; an owner that dies is not asked again; Redis
-- down fails as designed and comes back by itself; Redis holds no personal
-- data and no key without a time to live.
local policy = require("qxt.serve.policy")
local redis = require("qxt.redis")
local redis_server = require("tests.helpers.redis")
local wait_up = redis_server.wait_up
local spellings = require("tests.helpers.spellings")

local MOBILE, NAME = "13972565391", "张三"
local HASH_KEY = string.rep("k", 32)

local function req(mobile, name, id) return { mobile = mobile, name = name, request_id = id } end

-- A fetch that asks the simulator and counts the queries.
local function counting(mobile, name, before)
  local f = { calls = 0 }
  f.fn = function()
    f.calls = f.calls + 1
    if before then before() end
    return verify(mobile, name)
  end
  return f
end

describe("serve policy on Redis", function()
  local rs, conns = nil, {}

  local function instance(opts, extra, timeout)
    local r = assert(redis.connect{ url = rs.url, timeout = timeout or 0.5 })
    conns[#conns + 1] = r
    assert.is_true(wait_up(r), select(2, r:state()))
    local shared = { redis = r, hash_key = HASH_KEY }
    for k, v in pairs(extra or {}) do shared[k] = v end
    return policy.new(opts, nil, shared), r
  end

  setup(function() rs = redis_server.start() end)
  teardown(function()
    for _, r in ipairs(conns) do r:close() end
    rs:stop()
  end)
  before_each(function() rs:cli("FLUSHALL") end)

  it("answers from the cache at B what A asked", function()
    local a, b = instance(), instance()
    local f = counting(MOBILE, NAME)
    local ans, source = a:answer("c", req(MOBILE, NAME), nil, f.fn)
    assert.are.equal("provider", source)
    assert.are.equal(0, ans.code)
    local again, source_b, age = b:answer("c", req(MOBILE, NAME), nil, f.fn)
    assert.are.equal("cache", source_b)
    assert.are.equal(ans.status, again.status)
    assert.are.equal(ans.area, again.area)
    assert.are.equal(ans.isp, again.isp)
    assert.is_true(again.consistent)
    assert.is_true(age >= 0)
    assert.are.equal(1, f.calls)
    assert.are.equal(1, b:counters().cache_hits)
    assert.are.same({ cache = "shared", idempotency = "shared", limits = "shared", coalescing = "shared" },
                    b:modes())
  end)

  it("gives the first answer to a request_id repeated at another instance, 409 for another pair", function()
    local a, b = instance(), instance()
    local f = counting("13900000004", "王五")
    local first = a:answer("c", req("13900000004", "王五", "r-1"), nil, f.fn)
    local again, source = b:answer("c", req("13900000004", "王五", "r-1"), nil, f.fn)
    assert.are.equal("idempotent", source)
    assert.are.equal(first.code, again.code)
    assert.are.equal(1, f.calls)
    assert.are.same({ nil, 409, "request_id_reused" }, { b:answer("c", req(MOBILE, NAME, "r-1"), nil, f.fn) })
    -- the same id from another caller is another request
    local _, other = b:answer("d", req("13900000004", "王五", "r-1"), nil, f.fn)
    assert.are.equal("cache", other)
  end)

  it("counts the names checked against a mobile over every instance", function()
    local a, b = instance(), instance()
    for i, name in ipairs({ "张三", "李四", "王五" }) do
      local p = (i % 2 == 1) and a or b
      assert.is_table((p:answer("c", req(MOBILE, name), nil, counting(MOBILE, name).fn)))
    end
    local r = { a:answer("c", req(MOBILE, "赵六"), nil, counting(MOBILE, "赵六").fn) }
    assert.are.same({ nil, 429, "names_per_mobile" }, { r[1], r[2], r[3] })
    assert.is_true(r[4] >= 1)
    -- a name already counted is not a new one
    assert.is_table((b:answer("c", req(MOBILE, "李四"), nil, counting(MOBILE, "李四").fn)))
  end)

  it("keeps the pair interval over instances for answers it does not cache", function()
    local a, b = instance(), instance()
    -- a transient -8 is never cached: only the interval stops a second query
    local calls = 0
    local function transient()
      calls = calls + 1
      return { code = -8, class = "transient", reason = "system error" }
    end
    assert.are.equal(-8, (a:answer("c", req("13800138008", "钱七"), nil, transient)).code)
    local r = { b:answer("c", req("13800138008", "钱七"), nil, transient) }
    assert.are.same({ nil, 429, "pair_interval" }, { r[1], r[2], r[3] })
    assert.is_true(r[4] >= 1)
    assert.are.equal(1, calls)
  end)

  it("does not start the pair interval for a query the guard never sent", function()
    local a, b = instance(), instance()
    local calls = 0
    local function unsent()
      calls = calls + 1
      return { class = "unsent", reason = "budget exhausted", attempts = 0 }
    end
    assert.are.equal("unsent", (a:answer("c", req("13800138009", "钱七"), nil, unsent)).class)
    local again = b:answer("c", req("13800138009", "钱七"), nil, unsent)
    assert.are.equal("unsent", again.class)
    assert.are.equal(2, calls)
  end)

  it("leaves another instance's pair interval alone when its own unsent query ends after its lock", function()
    -- A claims the pair and waits long for a refusal (unsent); its lock and
    -- interval end meanwhile, B claims the pair anew and asks (an answer not
    -- cached). A's end must not take B's interval away: C is refused.
    local serve = { limits = { pair_interval = 1 } }
    local a = instance(serve, { lock_ttl = 1.5 })
    local b, c = instance(serve), instance(serve)
    local ta = qxt.spawn(function()
      return a:answer("c", req("13800138011", "冯九"), nil, function()
        qxt.sleep(2.2)
        return { class = "unsent", reason = "budget exhausted", attempts = 0 }
      end)
    end)
    qxt.sleep(1.6)
    local transient = function() return { class = "transient", code = -8, reason = "busy", attempts = 1 } end
    assert.are.equal("transient", (b:answer("c", req("13800138011", "冯九"), nil, transient)).class)
    assert.are.equal("unsent", (qxt.wait(ta)).class)
    local calls = 0
    local r = { c:answer("c", req("13800138011", "冯九"), nil, function() calls = calls + 1; return transient() end) }
    assert.are.same({ nil, 429, "pair_interval" }, { r[1], r[2], r[3] })
    assert.are.equal(0, calls)
  end)

  it("asks once for a pair two instances want at once; the other waits for its answer", function()
    local a, b = instance(), instance()
    local f = counting(MOBILE, NAME, function() qxt.sleep(0.3) end)
    local got = {}
    local ta = qxt.spawn(function() got.a = { a:answer("c", req(MOBILE, NAME), nil, f.fn) } end)
    qxt.sleep(0.05)
    local tb = qxt.spawn(function() got.b = { b:answer("c", req(MOBILE, NAME), nil, f.fn) } end)
    local tb2 = qxt.spawn(function() got.b2 = { b:answer("c", req(MOBILE, NAME), nil, f.fn) } end)
    qxt.wait(ta); qxt.wait(tb); qxt.wait(tb2)
    assert.are.equal(1, f.calls)
    assert.are.equal("provider", got.a[2])
    assert.is_false(got.a[4])
    assert.are.equal("provider", got.b[2])
    assert.is_true(got.b[4])            -- coalesced over Redis
    assert.is_true(got.b2[4])           -- and at B in memory
    assert.are.equal(got.a[1].status, got.b[1].status)
    assert.are.equal(1, b:counters().coalesced - 1)
  end)

  it("never asks again for a pair whose owner died: 503 coalesced_lost, then the interval", function()
    local b = instance(nil, { lock_ttl = 0.3 })
    local a = instance(nil, { lock_ttl = 0.3 })
    -- an owner that claimed the pair and died: its lock and its interval, no answer
    local f = counting(MOBILE, NAME)
    local dead = qxt.spawn(function()
      return pcall(a.answer, a, "c", req(MOBILE, NAME), nil, function()
        qxt.sleep(1)
        error("the owner died")
      end)
    end)
    qxt.sleep(0.05)
    -- the lock expires after 0.3 s although A never finished
    local r = { b:answer("c", req(MOBILE, NAME), nil, f.fn) }
    assert.are.same({ nil, 503, "coalesced_lost" }, { r[1], r[2], r[3] })
    assert.is_true(r[4] >= 1)
    r = { b:answer("c", req(MOBILE, NAME), nil, f.fn) }
    assert.are.same({ nil, 429, "pair_interval" }, { r[1], r[2], r[3] })
    assert.are.equal(0, f.calls)
    assert.is_false((qxt.wait(dead)))
    r = { b:answer("c", req(MOBILE, NAME), nil, f.fn) }
    assert.are.same({ nil, 429, "pair_interval" }, { r[1], r[2], r[3] })
  end)

  it("fails as designed while Redis is down, and is shared again once it is back", function()
    local closed, r = instance()
    local loc = instance({ redis_down = "local" })
    local f = counting("13900000007", "孙八")
    assert.is_table((closed:answer("c", req("13900000007", "孙八"), nil, f.fn)))
    rs:kill()
    -- subject limits closed, idempotency closed (a miss could charge twice), cache a miss
    assert.are.same({ nil, 429, "redis_down", 1 }, { closed:answer("c", req("13900000007", "孙八"), nil, f.fn) })
    assert.are.same({ nil, 503, "redis_down", 1 },
                    { closed:answer("c", req("13900000007", "孙八", "r-9"), nil, f.fn) })
    local m = closed:modes()
    assert.are.equal("closed", m.idempotency)
    assert.are.equal("closed", m.limits)
    -- "local": this instance's own limits, a cache miss, one query
    local ans, source = loc:answer("c", req("13900000007", "孙八"), nil, f.fn)
    assert.are.equal("provider", source)
    assert.is_number(ans.code)
    assert.are.equal(2, f.calls)
    m = loc:modes()
    assert.are.equal("local", m.limits)
    assert.are.equal("miss", m.cache)
    assert.are.equal("local", m.coalescing)
    -- the pair interval of this instance holds while Redis is down
    local r2 = { loc:answer("c", req("13900000007", "孙八"), nil, f.fn) }
    assert.are.same({ nil, 429, "pair_interval" }, { r2[1], r2[2], r2[3] })
    assert.are.equal(2, f.calls)
    rs:launch()
    assert.is_true(wait_up(r))
    local back
    for _ = 1, 500 do
      local x = { closed:answer("c", req("13900000008", "周九"), nil, counting("13900000008", "周九").fn) }
      if x[1] then back = x break end
      qxt.sleep(0.01)
    end
    assert.is_table(back)
    qxt.sleep(1.1)
    assert.are.same({ cache = "shared", idempotency = "shared", limits = "shared", coalescing = "shared" },
                    closed:modes())
  end)

  it("counts a Redis slower than its timeout as down for that request", function()
    local p = instance(nil, nil, 0.1)
    local f = counting("13900000009", "吴十")
    rs:pause()
    local r = { p:answer("c", req("13900000009", "吴十"), nil, f.fn) }
    rs:resume()
    assert.are.same({ nil, 429, "redis_down", 1 }, r)
    assert.are.equal(0, f.calls)
    assert.are.equal("closed", p:modes().limits)
    local ans, source = p:answer("c", req("13900000009", "吴十"), nil, f.fn)
    assert.are.equal("provider", source)
    assert.is_number(ans.code)
    assert.are.equal(1, f.calls)
  end)

  it("keeps no mobile or name in Redis, and every key has a time to live", function()
    local a = instance()
    local people = { { MOBILE, NAME }, { "13900000004", "王五" }, { "13800138008", "Zhang San" } }
    for i, p in ipairs(people) do
      a:answer("caller", req(p[1], p[2], "id-" .. i), nil, counting(p[1], p[2]).fn)
    end
    a:answer("caller", req(MOBILE, "李四"), nil, counting(MOBILE, "李四").fn)
    local keys = {}
    for k in rs:cli("--scan"):gmatch("[^\n]+") do keys[#keys + 1] = k end
    assert.is_true(#keys >= 8)
    local everything = {}
    for _, k in ipairs(keys) do
      assert.matches("^qxtv:serve:", k)
      local ttl = tonumber(rs:cli("PTTL", k):match("%-?%d+"))
      assert.is_true(ttl ~= -1, k .. " has no time to live")   -- -2: gone since the scan
      local kind = rs:cli("TYPE", k):match("%a+")
      local value = kind == "hash" and rs:cli("HGETALL", k) or kind == "zset" and rs:cli("ZRANGE", k, 0, -1,
        "WITHSCORES") or rs:cli("GET", k)
      everything[#everything + 1] = k .. "\n" .. value
    end
    local text = table.concat(everything, "\n")
    for _, p in ipairs(people) do
      assert.is_nil(spellings.find(text, p[1]), p[1])
      assert.is_nil(spellings.find(text, p[2]), p[2])
    end
    for i = 1, #people do assert.is_nil(text:find("id-" .. i, 1, true)) end
  end)
end)
