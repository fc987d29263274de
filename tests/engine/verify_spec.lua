-- verify(): the result contract (docs/lua-api.md), in and outside tasks, many in
-- flight, keep-alive, and the apikey never coming back.
local sim = require("tests.helpers.sim")

local KEY = "0123456789abcdef0123456789abcdef"

describe("verify() in the main chunk", function()
  it("returns every field of the contract for a match", function()
    local r = verify("13972565391", "张三")
    assert.are.equal(0, r.code)
    assert.are.equal("Succ", r.reason)
    assert.are.equal("ok", r.class)
    assert.is_true(r.consistent)
    assert.are.equal("一致", r.status)
    assert.are.equal("湖北-宜昌", r.area)
    assert.are.equal("湖北", r.province)
    assert.are.equal("宜昌", r.city)
    assert.are.equal("中国电信", r.isp)
    assert.are.equal("13972565391", r.mobile)
    assert.are.equal("张三", r.name)
    assert.is_number(r.latency_ms)
    assert.is_true(r.latency_ms > 0)
    assert.matches('"Status":"一致"', r.raw, 1, true)
  end)

  it("says 不一致 for another name", function()
    local r = verify("13972565391", "李四")
    assert.are.equal(0, r.code)
    assert.is_false(r.consistent)
    assert.are.equal("不一致", r.status)
  end)

  it("classifies the provider's input and no-record codes", function()
    assert.are.same({ -2, "input" }, { verify("1397256539", "张三").code, verify("1397256539", "张三").class })
    assert.are.same({ -3, "input" }, { verify("12972565391", "张三").code, verify("12972565391", "张三").class })
    assert.are.same({ 1, "input" }, { verify("13972565391", "").code, verify("13972565391", "").class })
    local r = verify("13800000004", "王五")
    assert.are.equal(-4, r.code)
    assert.are.equal("no_record", r.class)
    assert.is_nil(r.consistent)
  end)

  it("accepts a mobile given as an integer", function()
    assert.are.equal(0, verify(13972565391, "张三").code)
  end)

  it("raises for mistakes in the script, naming its line", function()
    local ok, err = pcall(verify, nil, "张三")
    assert.is_false(ok)
    assert.matches("bad argument #1", err)
    assert.has_error(function() verify("1", "2", { timeout = -1 }) end)
    assert.has_error(function() verify("1", "2", { endpoint = "file:///etc/passwd" }) end)
    assert.has_error(function() verify("1", "2", "not a table") end)
  end)

  it("never hands the apikey back, even when a server echoes it", function()
    local r = verify("13972565391", "张三")
    assert.is_nil(r.raw:find(KEY, 1, true))
    for _, v in pairs(r) do
      if type(v) == "string" then assert.is_nil(v:find(KEY, 1, true)) end
    end
  end)
end)

describe("verify() in tasks", function()
  local s
  setup(function() s = sim.start{ "--latency", "200ms" } end)
  teardown(function() s:stop() end)

  it("keeps 200 queries in flight at once: they finish in about one latency", function()
    local t0 = qxt.now()
    local ts = {}
    for i = 1, 200 do
      ts[i] = qxt.spawn(function()
        return verify(string.format("139%08d", i), "张三", { endpoint = s.endpoint })
      end)
    end
    local rs = qxt.wait(ts)
    local took = qxt.now() - t0
    for i = 1, 200 do
      assert.are.equal(string.format("139%08d", i), rs[i].mobile)
      assert.is_true(rs[i].latency_ms >= 190, "latency " .. rs[i].latency_ms)
    end
    -- 200 one after the other would take 40 s; overlapping, about 0.2 s.
    assert.is_true(took < 4, "200 verifies took " .. took .. " s")
    assert.are.equal(200, s:stats().requests)
  end)

  it("reuses connections (keep-alive)", function()
    local before = qxt.stats().connections
    local t = qxt.spawn(function()
      for _ = 1, 20 do verify("13972565391", "张三", { endpoint = s.endpoint }) end
    end)
    qxt.wait(t)
    assert.is_true(qxt.stats().connections - before <= 2,
      "opened " .. (qxt.stats().connections - before) .. " connections for 20 sequential queries")
  end)
end)
