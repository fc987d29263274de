-- Transport failures are results with class "transport" and a reason,
-- never raised errors and never hangs.
local sim = require("tests.helpers.sim")

describe("transport failures", function()
  local slow, broken, garbage, dropper
  setup(function()
    slow = sim.start{ "--latency", "3s" }
    broken = sim.start{ "--http-error-rate", "1" }
    garbage = sim.start{ "--garbage-rate", "1" }
    dropper = sim.start{ "--drop-rate", "1" }
  end)
  teardown(function()
    for _, s in ipairs{ slow, broken, garbage, dropper } do s:stop() end
  end)

  it("a timeout gives class transport with a reason, in about the time asked", function()
    local t0 = qxt.now()
    local r = verify("13972565391", "张三", { endpoint = slow.endpoint, timeout = 0.3 })
    assert.are.equal("transport", r.class)
    assert.is_nil(r.code)
    assert.matches("timeout", r.reason)
    assert.is_true(qxt.now() - t0 < 2)
  end)

  it("timeouts in many tasks do not hold up the others", function()
    local ts = {}
    for i = 1, 10 do
      ts[i] = qxt.spawn(verify, "13972565391", "张三", { endpoint = slow.endpoint, timeout = 0.2 })
    end
    local quick = qxt.spawn(verify, "13972565391", "张三")
    local rs = qxt.wait(ts)
    for i = 1, 10 do assert.are.equal("transport", rs[i].class) end
    assert.are.equal("ok", qxt.wait(quick).class)
  end)

  it("an HTTP 5xx with an HTML body is transport", function()
    local r = verify("13972565391", "张三", { endpoint = broken.endpoint })
    assert.are.equal("transport", r.class)
    assert.is_nil(r.code)
    assert.matches("HTTP 5%d%d", r.reason)
  end)

  it("a body that is not JSON is transport", function()
    local r = verify("13972565391", "张三", { endpoint = garbage.endpoint })
    assert.are.equal("transport", r.class)
    assert.matches("not JSON", r.reason)
  end)

  it("a connection closed without an answer is transport", function()
    local r = verify("13972565391", "张三", { endpoint = dropper.endpoint, timeout = 5 })
    assert.are.equal("transport", r.class)
    assert.is_string(r.reason)
  end)

  it("never resends a query on its own when a reused connection dies (money)", function()
    -- libcurl would silently resend a request whose reused connection
    -- closed without an answer; the provider may have charged the first.
    local s = sim.start{ "--drop-rate", "0.3", "--seed", "5" }
    local sent, dropped = 0, 0
    local t = qxt.spawn(function()
      for _ = 1, 150 do
        local r = verify("13972565391", "张三", { endpoint = s.endpoint })
        sent = sent + 1
        if r.class == "transport" then dropped = dropped + 1 end
      end
    end)
    qxt.wait(t)
    local seen = s:stats().requests
    s:stop()
    assert.is_true(dropped > 20, dropped .. " dropped")
    assert.are.equal(sent, seen)
  end)

  it("a refused connection is transport", function()
    local r = verify("13972565391", "张三", { endpoint = "http://127.0.0.1:1/Phone_TwoElements" })
    assert.are.equal("transport", r.class)
    assert.matches("connect", r.reason:lower())
  end)

  it("an HTTP 404 without a provider answer is transport", function()
    local r = verify("13972565391", "张三", { endpoint = slow.url .. "/nowhere", timeout = 5 })
    assert.are.equal("transport", r.class)
    assert.matches("HTTP 404", r.reason)
  end)
end)
