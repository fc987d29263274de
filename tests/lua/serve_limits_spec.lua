-- serve's limits (lua/qxt/serve/limits.lua), inside the real engine, with
-- times the test gives: each limit lets requests through up to its edge,
-- refuses the next with its name and a Retry-After, and lets requests
-- through again once the window is over.
local limits = require("qxt.serve.limits")

local DAY = 86400

describe("serve limits", function()
  it("has every limit on by default", function()
    local l = limits.new()
    local s = {}
    for k, v in pairs(l.s) do s[k] = v end
    s.callers = nil
    assert.are.same({ qps = 10, burst = 20, daily_budget = 10000, names_per_mobile = 3,
                      names_window = DAY, pair_interval = 60, max_subjects = 100000 }, s)
  end)

  it("qps: a burst at once, then the rate; refused with Retry-After; allowed again later", function()
    local l = limits.new({ qps = 2, burst = 3 })
    local t = 1000
    for _ = 1, 3 do assert.is_true(l:qps("a", t)) end
    local ok, limit, after = l:qps("a", t)
    assert.is_nil(ok)
    assert.are.equal("qps", limit)
    assert.are.equal(1, after)                   -- 0.5 s, said as whole seconds
    assert.is_true(l:qps("b", t))                -- another caller has its own bucket
    assert.is_nil((l:qps("a", t + 0.4)))
    assert.is_true(l:qps("a", t + 0.5))          -- one slot every 1/qps
    assert.is_nil((l:qps("a", t + 0.5)))
    for _ = 1, 3 do assert.is_true(l:qps("a", t + 10)) end   -- a quiet spell: the burst again
    assert.is_nil((l:qps("a", t + 10)))
  end)

  it("qps: per-caller settings override the defaults", function()
    local l = limits.new({ qps = 1, burst = 1, callers = { bulk = { qps = 100, burst = 50 } } })
    assert.is_true(l:qps("one", 0))
    assert.is_nil((l:qps("one", 0)))
    for _ = 1, 50 do assert.is_true(l:qps("bulk", 0)) end
    assert.is_nil((l:qps("bulk", 0)))
  end)

  it("daily_budget: the edge, refused until the 24 h window ends, then a new budget", function()
    local l = limits.new({ daily_budget = 3 })
    local t0 = 5000
    assert.is_true(l:budget("a", t0))
    assert.is_true(l:budget("a", t0 + 100))
    assert.is_true(l:budget("a", t0 + 200))
    local ok, limit, after = l:budget("a", t0 + 300)
    assert.is_nil(ok)
    assert.are.equal("daily_budget", limit)
    assert.are.equal(DAY - 300, after)
    assert.is_nil((l:budget("a", t0 + DAY - 1)))   -- still closed, however often asked
    assert.is_true(l:budget("b", t0 + 300))         -- per caller
    assert.is_true(l:budget("a", t0 + DAY))
    assert.is_true(l:budget("a", t0 + DAY + 1))
  end)

  it("names_per_mobile: 3 distinct names a mobile, the same ones again, a 4th refused for 24 h",
     function()
    local l = limits.new()
    local t = 0
    assert.is_true(l:names("m1", "p1", t))
    assert.is_true(l:names("m1", "p2", t + 10))
    assert.is_true(l:names("m1", "p3", t + 20))
    assert.is_true(l:names("m1", "p1", t + 30))    -- not a new name
    local ok, limit, after = l:names("m1", "p4", t + 40)
    assert.is_nil(ok)
    assert.are.equal("names_per_mobile", limit)
    assert.are.equal(DAY - 30, after)               -- p2, seen at t+10, is the first to age out
    assert.is_true(l:names("m2", "p5", t + 40))     -- another mobile
    assert.is_nil((l:names("m1", "p4", t + 10 + DAY - 1)))
    assert.is_true(l:names("m1", "p4", t + 10 + DAY))  -- p2 has aged out
    assert.is_nil((l:names("m1", "p5", t + 10 + DAY)))
  end)

  it("pair_interval: one provider query of a pair a minute", function()
    local l = limits.new()
    assert.is_true(l:pair("p1", 100))
    local ok, limit, after = l:pair("p1", 100.5)
    assert.is_nil(ok)
    assert.are.equal("pair_interval", limit)
    assert.are.equal(60, after)
    assert.are.equal(1, select(3, l:pair("p1", 159.2)))
    assert.is_true(l:pair("p2", 101))
    assert.is_true(l:pair("p1", 160))
    assert.is_nil((l:pair("p1", 219)))
  end)

  it("a limit set to false is off; a wrong setting is an error naming it", function()
    local l = limits.new({ qps = false, daily_budget = false, names_per_mobile = false, pair_interval = false })
    for i = 1, 100 do
      assert.is_true(l:qps("a", 0))
      assert.is_true(l:budget("a", 0))
      assert.is_true(l:names("m", "p" .. i, 0))
      assert.is_true(l:pair("p", 0))
    end
    for opts, msg in pairs({
      [{ qpz = 1 }] = "serve.limits.qpz: no such limit",
      [{ qps = -1 }] = "serve.limits.qps: a positive number",
      [{ burst = 1.5 }] = "serve.limits.burst: a positive integer",
      [{ callers = { a = { names_per_mobile = 3 } } }] =
        "serve.limits.callers.a.names_per_mobile: no such per-caller limit",
      [{ max_subjects = false }] = "max_subjects cannot be off",
    }) do
      local ok, err = pcall(limits.new, opts)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(msg, 1, true), err)
    end
  end)

  it("tracks at most max_subjects; at the cap a new subject is refused (fail closed) until entries expire", function()
    local l = limits.new({ max_subjects = 10 })
    for i = 1, 5 do
      assert.is_true(l:names("m" .. i, "p" .. i, 0))
      assert.is_true(l:pair("p" .. i, 0))
    end
    assert.are.equal(10, l:tracked())
    local ok, limit, after = l:pair("p6", 1)
    assert.is_nil(ok)
    assert.are.equal("subjects_full", limit)
    assert.are.equal(59, after)                          -- the first pair expires at 60
    assert.are.equal("subjects_full", select(2, l:names("m6", "p6", 1)))
    assert.is_true(l:names("m1", "p1", 1))               -- known subjects still work
    assert.are.equal("pair_interval", select(2, l:pair("p1", 1)))
    assert.is_true(l:pair("p6", 60))                      -- the pairs have expired: room again
    assert.is_true(l:pair("p7", 60))                      -- (reclaimed a few a call)
    assert.are.equal(7, l:tracked())                      -- 5 mobiles, 2 pairs
  end)

  it("reclaims expired subjects as it goes: memory stays bounded under a stream of new ones", function()
    local l = limits.new({ names_window = 100, pair_interval = 10 })
    local most = 0
    for i = 1, 20000 do
      local t = i * 0.1                                  -- 10 new subjects a second
      assert.is_true(l:names("m" .. i, "p" .. i, t))
      assert.is_true(l:pair("p" .. i, t))
      most = math.max(most, l:tracked())
    end
    -- alive at once: 100 s of mobiles and 10 s of pairs, 10 a second, plus a few not yet reclaimed
    assert.is_true(most <= 1000 + 100 + 10, most)
    local slots = l.mobiles.last - l.mobiles.first + 1 + l.pairs.last - l.pairs.first + 1
    assert.are.equal(l:tracked(), slots)
  end)

  it("a subject used again stays as long as it is used, and then goes", function()
    local l = limits.new({ names_window = 100, pair_interval = 10 })
    for t = 0, 500, 5 do assert.is_true(l:names("m", "p", t)) end
    assert.are.equal(1, l:tracked())
    for i = 1, 10 do l:names("x" .. i, "q" .. i, 700) end   -- m expired at 600: reclaimed on the way
    assert.is_nil(l.mobiles.entries.m)
    assert.are.equal(10, l:tracked())
  end)
end)
