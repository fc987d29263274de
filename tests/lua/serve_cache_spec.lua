-- serve's answer cache (lua/qxt/serve/cache.lua), inside the real engine and
-- against the simulator for the answers: the time to live by outcome with
-- times the test gives, the never-cached classes, the size bound, what an
-- entry holds, and identical queries in flight done once.
local cache = require("qxt.serve.cache")

local DAY = 86400

-- Real answers from the simulator (with-sim.sh starts one for this spec).
local CONSISTENT = verify("13972565391", "张三")
local INCONSISTENT = verify("13972565391", "李四")
local NO_RECORD = verify("13800000004", "王五")
local INPUT = verify("12972565391", "张三")
-- Failures shaped as verify() gives them (lresult.c); the simulator only
-- gives these under faults this spec has no use for.
local NEVER = {
  ["-1 bad apikey"] = { code = -1, class = "account", reason = "apikey" },
  ["-5 no balance"] = { code = -5, class = "account", reason = "balance" },
  ["-8 system error"] = { code = -8, class = "transient", reason = "system" },
  ["-9 ip denied"] = { code = -9, class = "account", reason = "ip" },
  ["transport, never sent"] = { class = "transport", reason = "could not connect" },
  ["transport, possibly charged"] = { class = "transport", reason = "timed out", possibly_charged = true },
  ["mismatch"] = { class = "mismatch", reason = "names another mobile", possibly_charged = true },
  ["code 0, possibly charged"] = { code = 0, class = "ok", status = "一致", area = "湖北-宜昌",
                                   possibly_charged = true },
  ["code 0 without a verdict"] = { code = 0, class = "ok", status = "?", area = "湖北-宜昌" },
}

describe("serve cache", function()
  it("answers from the simulator are what the spec expects", function()
    assert.are.equal(0, CONSISTENT.code)
    assert.is_true(CONSISTENT.consistent)
    assert.is_false(INCONSISTENT.consistent)
    assert.are.equal(-4, NO_RECORD.code)
    assert.are.equal("input", INPUT.class)
  end)

  it("keeps consistent 30 days, inconsistent 7 days, no record 1 day", function()
    local c = cache.new()
    for _, case in ipairs({ { CONSISTENT, 30 * DAY }, { INCONSISTENT, 7 * DAY }, { NO_RECORD, DAY } }) do
      local answer, ttl = case[1], case[2]
      local t0 = 1000
      assert.is_true(c:put("k", answer, t0))
      local got, age = c:get("k", t0 + ttl - 1)
      assert.are.equal(answer.code, got.code)
      assert.are.equal(answer.status, got.status)
      assert.are.equal(ttl - 1, age)
      assert.is_nil(c:get("k", t0 + ttl))
      assert.are.equal(0, c:count())              -- expired: dropped
    end
  end)

  it("gives back the answer's fields, verdict included, and nothing personal", function()
    local c = cache.new()
    c:put("k", CONSISTENT, 0)
    local got = c:get("k", 5)
    assert.are.same({ code = 0, class = "ok", reason = "Succ", status = "一致", area = "湖北-宜昌",
                      isp = "中国电信", consistent = true, province = "湖北", city = "宜昌" }, got)
    got.code = 99                                 -- a fresh table each time
    assert.are.equal(0, c:get("k", 5).code)
    local entry = c.store.by_key.k.value
    assert.are.same({ code = 0, class = "ok", reason = "Succ", status = "一致", area = "湖北-宜昌",
                      isp = "中国电信" }, entry)
  end)

  it("never caches -1, -5, -8, -9, transport failures, mismatches, anything possibly charged, input codes", function()
    local c = cache.new({ ttl = { consistent = 10 * DAY, inconsistent = 10 * DAY, no_record = 10 * DAY } })
    NEVER["input code"] = INPUT
    for what, answer in pairs(NEVER) do
      assert.is_false(c:put("k", answer, 0), what)
      assert.is_nil(c:get("k", 1), what)
    end
    assert.are.equal(0, c:count())
  end)

  it("takes its times to live from the flow; 0 or false: not cached", function()
    local c = cache.new({ ttl = { consistent = 60, no_record = false } })
    assert.is_true(c:put("a", CONSISTENT, 0))
    assert.is_nil(c:get("a", 60))
    assert.is_false(c:put("b", NO_RECORD, 0))
    assert.is_true(c:put("c", INCONSISTENT, 0))   -- the default for the rest
    assert.truthy(c:get("c", 7 * DAY - 1))
    for opts, msg in pairs({
      [{ ttl = { charged = 5 } }] = "serve.cache.ttl.charged: no such outcome",
      [{ ttl = { consistent = -1 } }] = "serve.cache.ttl.consistent: seconds",
      [{ size = 5 }] = "serve.cache.size: no such option",
      [{ max_entries = 0 }] = "max_entries is a positive integer",
    }) do
      local ok, err = pcall(cache.new, opts)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(msg, 1, true), err)
    end
  end)

  it("holds at most max_entries, dropping the least recently used", function()
    local c = cache.new({ max_entries = 3 })
    for _, k in ipairs({ "a", "b", "c" }) do c:put(k, CONSISTENT, 0) end
    assert.truthy(c:get("a", 1))                  -- a is now the most recent: b goes first
    c:put("d", CONSISTENT, 2)
    assert.are.equal(3, c:count())
    assert.is_nil(c:get("b", 3))
    for _, k in ipairs({ "a", "c", "d" }) do assert.truthy(c:get(k, 3), k) end
    for i = 1, 1000 do c:put("k" .. i, NO_RECORD, 4) end
    assert.are.equal(3, c:count())
    for _, k in ipairs({ "k998", "k999", "k1000" }) do assert.truthy(c:get(k, 5), k) end
  end)

  describe("join", function()
    it("makes 100 identical requests in flight at once one query", function()
      local c = cache.new()
      local calls = 0
      local function fetch()
        calls = calls + 1
        qxt.sleep(0.05)
        return verify("13972565391", "张三")
      end
      local tasks, shared = {}, 0
      for i = 1, 100 do
        tasks[i] = qxt.spawn(function()
          local res, was_shared = c:join("k", fetch)
          if was_shared then shared = shared + 1 end
          return res[1]
        end)
      end
      local rs = qxt.wait(tasks)
      assert.are.equal(1, calls)
      assert.are.equal(99, shared)
      for i = 1, 100 do assert.are.equal("一致", rs[i].status) end
      assert.is_false(c:busy("k"))
      -- over: the next request asks again
      c:join("k", fetch)
      assert.are.equal(2, calls)
    end)

    it("keeps different keys apart", function()
      local c = cache.new()
      local calls = {}
      local tasks = {}
      for i = 1, 30 do
        local k = "k" .. (i % 3)
        tasks[i] = qxt.spawn(function()
          return c:join(k, function()
            calls[k] = (calls[k] or 0) + 1
            qxt.sleep(0.02)
            return k
          end)[1]
        end)
      end
      local rs = qxt.wait(tasks)
      assert.are.same({ k0 = 1, k1 = 1, k2 = 1 }, calls)
      for i = 1, 30 do assert.are.equal("k" .. (i % 3), rs[i]) end
    end)

    it("raises fetch's error in every waiting request, and forgets the flight", function()
      local c = cache.new()
      local tasks = {}
      for i = 1, 5 do
        tasks[i] = qxt.spawn(function()
          local ok, err = pcall(c.join, c, "k", function() qxt.sleep(0.01); error("provider down", 0) end)
          return not ok and err
        end)
      end
      local rs = qxt.wait(tasks)
      for i = 1, 5 do assert.are.equal("provider down", rs[i]) end
      assert.is_false(c:busy("k"))
    end)
  end)
end)
