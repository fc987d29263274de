-- serve's policy object (lua/qxt/serve/policy.lua), inside the real engine
-- and against the simulator, with a clock the test sets: what the server
-- calls for each request. Refusals never reach the provider; idempotency,
-- the cache and coalescing answer without a query; no table keeps a
-- mobile or a name.
local policy = require("qxt.serve.policy")

local DAY = 86400
local MOBILE, NAME = "13972565391", "张三"

-- A clock the test moves by hand.
local function clock_at(t)
  local c = { t = t }
  c.fn = function() return c.t end
  return c
end

-- A fetch that asks the simulator and counts the queries.
local function counting(mobile, name)
  local f = { calls = 0 }
  f.fn = function()
    f.calls = f.calls + 1
    return verify(mobile, name)
  end
  return f
end

local function req(mobile, name, id) return { mobile = mobile, name = name, request_id = id } end

describe("serve policy", function()
  local clock, p
  before_each(function()
    clock = clock_at(1000)
    p = policy.new(nil, clock.fn)
  end)

  describe("admit", function()
    it("refuses a request without a caller with 401", function()
      assert.are.same({ nil, 401, "unauthorized", nil }, { p:admit(nil, nil) })
      assert.are.equal(1, p:counters().refusals.unauthorized)
    end)

    it("lets a caller's burst through, then 429 qps with Retry-After, and again after a second", function()
      p = policy.new({ limits = { qps = 5, burst = 5 } }, clock.fn)
      for _ = 1, 5 do assert.is_true(p:admit("signup")) end
      assert.are.same({ nil, 429, "qps", 1 }, { p:admit("signup") })
      assert.is_true(p:admit("backoffice"))
      clock.t = clock.t + 0.2
      assert.is_true(p:admit("signup"))
      assert.are.equal(1, p:counters().refusals.qps)
    end)
  end)

  describe("answer", function()
    it("asks the provider once, then answers from the cache with its age", function()
      local f = counting(MOBILE, NAME)
      local key = p:pair_key(MOBILE, NAME)
      local a, source, age, coalesced = p:answer("signup", req(MOBILE, NAME), key, f.fn)
      assert.are.same({ 0, "provider", 0, false }, { a.code, source, age, coalesced })
      clock.t = clock.t + 3600
      a, source, age = p:answer("signup", req(MOBILE, NAME), nil, f.fn)   -- key computed
      assert.are.same({ "一致", true, "cache", 3600 }, { a.status, a.consistent, source, age })
      assert.are.equal(1, f.calls)
      local c = p:counters()
      assert.are.same({ 1, 1, 1, 1 }, { c.cache_hits, c.cache_misses, c.provider_queries, c.cache_entries })
      clock.t = clock.t + 30 * DAY                  -- the consistent answer has expired
      assert.are.equal("provider", select(2, p:answer("signup", req(MOBILE, NAME), key, f.fn)))
      assert.are.equal(2, f.calls)
    end)

    it("names_per_mobile: a 4th name against one mobile is refused, without a query", function()
      local names = { "张三", "李四", "王五", "赵六" }
      local f
      for i = 1, 3 do
        f = counting(MOBILE, names[i])
        assert.are.equal("provider", select(2, p:answer("signup", req(MOBILE, names[i]), nil, f.fn)))
      end
      f = counting(MOBILE, names[4])
      assert.are.same({ nil, 429, "names_per_mobile", DAY }, { p:answer("signup", req(MOBILE, names[4]), nil, f.fn) })
      assert.are.equal(0, f.calls)
      -- a name already checked still answers (from the cache), from any caller
      assert.are.equal("cache", select(2, p:answer("other", req(MOBILE, names[2]), nil, f.fn)))
      clock.t = clock.t + DAY
      assert.are.equal("provider", select(2, p:answer("signup", req(MOBILE, names[4]), nil, f.fn)))
      assert.are.equal(1, p:counters().refusals.names_per_mobile)
    end)

    it("pair_interval: an answer that is not cached is not asked again within a minute", function()
      local calls = 0
      local function failing()
        calls = calls + 1
        return { code = -8, class = "transient", reason = "系统错误,请稍候再试" }
      end
      assert.are.equal(-8, p:answer("signup", req(MOBILE, NAME), nil, failing).code)
      clock.t = clock.t + 59.5
      assert.are.same({ nil, 429, "pair_interval", 1 }, { p:answer("signup", req(MOBILE, NAME), nil, failing) })
      assert.are.equal(1, calls)
      clock.t = clock.t + 0.5
      assert.are.equal(-8, p:answer("signup", req(MOBILE, NAME), nil, failing).code)
      assert.are.equal(2, calls)
    end)

    it("daily_budget: counts provider queries only, refuses past it, fails closed until the day is over", function()
      p = policy.new({ limits = { daily_budget = 2 } }, clock.fn)
      local a = counting(MOBILE, NAME)
      local b = counting("13800138000", "李四")
      local c = counting("13800000004", "王五")
      assert.are.equal("provider", select(2, p:answer("signup", req(MOBILE, NAME), nil, a.fn)))
      for _ = 1, 5 do               -- cache hits spend nothing
        assert.are.equal("cache", select(2, p:answer("signup", req(MOBILE, NAME), nil, a.fn)))
      end
      assert.are.equal("provider", select(2, p:answer("signup", req("13800138000", "李四"), nil, b.fn)))
      clock.t = clock.t + 100
      assert.are.same({ nil, 429, "daily_budget", DAY - 100 },
                      { p:answer("signup", req("13800000004", "王五"), nil, c.fn) })
      assert.are.equal(0, c.calls)
      assert.are.equal("provider", select(2, p:answer("backoffice", req("13800000004", "王五"), nil, c.fn)))
      clock.t = clock.t + DAY - 100
      assert.are.equal("cache", select(2, p:answer("signup", req("13800000004", "王五"), nil, c.fn)))
      assert.are.same({ 1, 1, 1 }, { a.calls, b.calls, c.calls })
    end)

    it("makes 100 identical requests at once one provider query, spending one query of budget", function()
      p = policy.new({ limits = { daily_budget = 1 } }, clock.fn)
      local calls = 0
      local function fetch()
        calls = calls + 1
        qxt.sleep(0.05)
        return verify(MOBILE, NAME)
      end
      local tasks = {}
      for i = 1, 100 do
        tasks[i] = qxt.spawn(function()
          local a, source, _, coalesced = p:answer("signup", req(MOBILE, NAME), nil, fetch)
          return { status = a and a.status, source = source, coalesced = coalesced }
        end)
      end
      local rs = qxt.wait(tasks)
      assert.are.equal(1, calls)
      local shared = 0
      for i = 1, 100 do
        assert.are.same("一致", rs[i].status)
        assert.are.equal("provider", rs[i].source)
        if rs[i].coalesced then shared = shared + 1 end
      end
      assert.are.equal(99, shared)
      local c = p:counters()
      assert.are.same({ 99, 1, 100 }, { c.coalesced, c.provider_queries, c.cache_misses })
    end)

    it("checks each refusal before the provider: a refused request never calls fetch", function()
      p = policy.new({ limits = { names_per_mobile = 1, daily_budget = 1 } }, clock.fn)
      local function never() error("the provider was asked") end
      assert.truthy(p:answer("a", req(MOBILE, NAME), nil, counting(MOBILE, NAME).fn))
      assert.are.equal("names_per_mobile", select(3, p:answer("a", req(MOBILE, "李四"), nil, never)))
      assert.are.equal("daily_budget", select(3, p:answer("a", req("13800138000", "李四"), nil, never)))
      assert.are.same({ names_per_mobile = 1, daily_budget = 1 }, p:counters().refusals)
    end)
  end)

  describe("idempotency", function()
    it("returns the first answer for a repeated request_id, without a query or a limit", function()
      p = policy.new({ limits = { daily_budget = 1, pair_interval = 3600 } }, clock.fn)
      local f = counting(MOBILE, NAME)
      local first = p:answer("signup", req(MOBILE, NAME, "r-1"), nil, f.fn)
      clock.t = clock.t + 600
      local again, source, age = p:answer("signup", req(MOBILE, NAME, "r-1"), nil, f.fn)
      assert.are.same({ "idempotent", 600 }, { source, age })
      for _, k in ipairs({ "code", "class", "status", "area", "isp", "consistent" }) do
        assert.are.equal(first[k], again[k], k)
      end
      assert.are.equal(1, f.calls)
      assert.are.equal(1, p:counters().idempotent)
    end)

    it("keeps a possibly charged failure, so a retry does not pay twice; not a never-sent one", function()
      local calls = 0
      local charged = function()
        calls = calls + 1
        return { class = "transport", reason = "timed out", possibly_charged = true }
      end
      assert.is_true(p:answer("a", req(MOBILE, NAME, 7), nil, charged).possibly_charged)
      clock.t = clock.t + 3600
      local again, source = p:answer("a", req(MOBILE, NAME, 7), nil, charged)
      assert.are.same({ "idempotent", true, "transport" }, { source, again.possibly_charged, again.class })
      assert.are.equal(1, calls)
      local unsent = function()
        calls = calls + 1
        return { class = "transport", reason = "could not connect" }
      end
      p:answer("a", req("13800138000", "李四", 8), nil, unsent)
      clock.t = clock.t + 60
      assert.are.equal("provider", select(2, p:answer("a", req("13800138000", "李四", 8), nil, unsent)))
      assert.are.equal(3, calls)
    end)

    it("is per caller: the same request_id from another caller is another request", function()
      local f = counting(MOBILE, NAME)
      p:answer("signup", req(MOBILE, NAME, "r-1"), nil, f.fn)
      assert.are.equal("cache", select(2, p:answer("backoffice", req(MOBILE, NAME, "r-1"), nil, f.fn)))
      assert.are.equal("idempotent", select(2, p:answer("backoffice", req(MOBILE, NAME, "r-1"), nil, f.fn)))
    end)

    it("refuses a request_id reused for another pair with 409", function()
      p:answer("signup", req(MOBILE, NAME, "r-1"), nil, counting(MOBILE, NAME).fn)
      local f = counting(MOBILE, "李四")
      assert.are.same({ nil, 409, "request_id_reused", nil },
                      { p:answer("signup", req(MOBILE, "李四", "r-1"), nil, f.fn) })
      assert.are.equal(0, f.calls)
    end)

    it("refuses a request_id that is not an id with 400, without a query", function()
      local function never() error("the provider was asked") end
      for _, id in ipairs({ "", ("x"):rep(201), 1.5, true, {} }) do
        assert.are.same({ nil, 400, "request_id", nil }, { p:answer("a", req(MOBILE, NAME, id), nil, never) })
      end
      assert.are.equal(5, p:counters().refusals.request_id)
      assert.are.equal("provider", select(2, p:answer("a", req(MOBILE, NAME, ("x"):rep(200)), nil,
                                                       counting(MOBILE, NAME).fn)))
    end)

    it("forgets a request_id after 24 hours", function()
      local f = counting("13800000004", "王五")    -- no record: cached 1 day
      p:answer("signup", req("13800000004", "王五", "r-1"), nil, f.fn)
      clock.t = clock.t + DAY
      assert.are.equal("provider", select(2, p:answer("signup", req("13800000004", "王五", "r-1"), nil, f.fn)))
      assert.are.equal(2, f.calls)
    end)

    it("makes the same request sent twice at once one query, the second answered as idempotent", function()
      local calls = 0
      local function fetch()
        calls = calls + 1
        qxt.sleep(0.03)
        return { code = -8, class = "transient" }   -- not cached: only the flight shares it
      end
      local tasks = {}
      for i = 1, 10 do
        tasks[i] = qxt.spawn(function()
          return select(2, p:answer("signup", req(MOBILE, NAME, "same"), nil, fetch))
        end)
      end
      local rs = qxt.wait(tasks)
      assert.are.equal(1, calls)
      local n = 0
      for i = 1, 10 do if rs[i] == "idempotent" then n = n + 1 end end
      assert.are.equal(9, n)
    end)
  end)

  it("keeps no mobile and no name in any of its tables", function()
    local people = { { MOBILE, NAME }, { MOBILE, "李四" }, { "13800138000", "李四" }, { "13800000004", "王五" } }
    p = policy.new({ limits = { names_per_mobile = 2 } }, clock.fn)
    for i, who in ipairs(people) do
      local f = counting(who[1], who[2])
      p:answer("signup", req(who[1], who[2], "id-" .. i), nil, f.fn)
      p:answer("signup", req(who[1], who[2], "id-" .. i), nil, f.fn)
      p:answer("signup", req(who[1], who[2]), nil, function() return { code = -8, class = "transient" } end)
    end
    p:answer("signup", req(MOBILE, "赵六"), nil, counting(MOBILE, "赵六").fn)    -- refused
    local needles = { MOBILE, "13800138000", "13800000004", "张三", "李四", "王五", "赵六",
                      "139****5391", "3972565391" }
    local seen, strings = {}, 0
    local function walk(v, path)
      if type(v) == "string" then
        strings = strings + 1
        for _, n in ipairs(needles) do
          assert.is_nil(v:find(n, 1, true), ("%s holds %q"):format(path, n))
        end
      elseif type(v) == "table" and not seen[v] then
        seen[v] = true
        for k, x in pairs(v) do
          walk(k, path .. "[key]")
          walk(x, path .. "." .. tostring(k))
        end
      end
    end
    walk(p, "policy")
    assert.is_true(strings > 20, "walked " .. strings .. " strings")
    local c = p:counters()
    assert.is_true(c.cache_entries >= 3 and c.subjects >= 5)
  end)

  it("refuses an unknown option or a wrong value, naming it", function()
    for opts, msg in pairs({
      [{ limit = {} }] = "serve.limit: no such option",
      [{ idempotency = { window = 0 } }] = "serve.idempotency.window",
      [{ idempotency = { ttl = 5 } }] = "serve.idempotency.ttl: no such option",
      [{ limits = { names_per_mobile = 0 } }] = "serve.limits.names_per_mobile",
      [{ cache = { ttl = { consistent = "1d" } } }] = "serve.cache.ttl.consistent",
    }) do
      local ok, err = pcall(policy.new, opts)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(msg, 1, true), err)
    end
  end)
end)
