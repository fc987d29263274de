-- Money: every verify() result is in exactly one of three states, against
-- real servers (the simulator, the drill server, a closed port):
--   never sent       class transport, no possibly_charged: safe to ask again
--   answered         a provider code (billed or not, per code)
--   possibly charged the request went out whole and no decodable answer
--                    about this person came back: possibly_charged = true
-- And an answer naming another mobile (or, unmasked, another name) than
-- the one asked is class mismatch: possibly charged, never a verdict.
local cjson = require("cjson")
local drill = require("tests.helpers.drill")
local sim = require("tests.helpers.sim")

local M, N = "13972565391", "张三"

local function never_sent(r)
  assert.are.equal("transport", r.class, r.reason)
  assert.is_nil(r.code)
  assert.is_nil(r.possibly_charged, "a request that never went out is free: " .. tostring(r.reason))
end

local function possibly_charged(r, class)
  assert.are.equal(class or "transport", r.class, r.reason)
  assert.is_nil(r.code)
  assert.is_true(r.possibly_charged, "possibly_charged: " .. tostring(r.reason))
  assert.is_nil(r.consistent)
  assert.is_nil(r.status)
  assert.is_nil(r.area)
  assert.is_nil(r.province)
  assert.is_nil(r.isp)
end

describe("possibly charged", function()
  it("a timeout after the request was sent", function()
    local s = sim.start{ "--latency", "3s" }
    local r = verify(M, N, { endpoint = s.endpoint, timeout = 0.3 })
    local seen = s:stats()
    s:stop()
    assert.are.equal(1, seen.requests)          -- the provider did get it
    possibly_charged(r)
    assert.matches("timeout", r.reason)
  end)

  it("a server that reads the request and never answers", function()
    local d = drill.start("silent")
    local r = verify(M, N, { endpoint = d.endpoint, timeout = 0.5 })
    d.stop()
    possibly_charged(r)
  end)

  it("a connection reset after the request was sent, mid-answer", function()
    local d = drill.start("reset")
    local r = verify(M, N, { endpoint = d.endpoint, timeout = 5 })
    d.stop()
    possibly_charged(r)
  end)

  it("a connection closed without an answer", function()
    local s = sim.start{ "--drop-rate", "1" }
    local r = verify(M, N, { endpoint = s.endpoint, timeout = 5 })
    s:stop()
    possibly_charged(r)
  end)

  it("an HTTP 5xx with an HTML page, and a 404", function()
    local s = sim.start{ "--http-error-rate", "1" }
    local r = verify(M, N, { endpoint = s.endpoint })
    local nowhere = verify(M, N, { endpoint = s.url .. "/nowhere" })
    s:stop()
    possibly_charged(r)
    assert.matches("HTTP 5%d%d", r.reason)
    possibly_charged(nowhere)
    assert.matches("HTTP 404", nowhere.reason)
  end)

  it("a body that is not JSON, a JSON answer cut short, an empty body", function()
    local s = sim.start{ "--garbage-rate", "1" }
    local results, reasons = {}, {}
    for i = 1, 12 do results[i] = verify(M, N .. string.rep("三", i), { endpoint = s.endpoint }) end
    s:stop()
    for _, r in ipairs(results) do
      possibly_charged(r)
      reasons[r.reason] = true
    end
    assert.is_true(reasons["the response is not JSON"])
  end)

  it("an answer larger than the cap, cut off", function()
    local d = drill.start("big")
    local r = verify(M, N, { endpoint = d.endpoint, timeout = 5 })
    d.stop()
    possibly_charged(r)
  end)
end)

describe("never sent", function()
  it("a refused connection", function()
    never_sent(verify(M, N, { endpoint = "http://127.0.0.1:1/Phone_TwoElements" }))
  end)

  it("a TLS handshake refused (a certificate nobody vouched for)", function()
    local certs = os.tmpname()
    os.remove(certs)
    assert(os.execute("tests/drills/make_certs.sh " .. certs .. " >/dev/null"))
    local d = drill.start("ok", ("--tls %s/self.pem %s/self.key"):format(certs, certs))
    local r = verify(M, N, { endpoint = d.endpoint, timeout = 5 })
    d.stop()
    os.execute("rm -rf " .. certs)
    never_sent(r)
    assert.matches("certificate", r.reason)
  end)

  it("a name that does not resolve", function()
    never_sent(verify(M, N, { endpoint = "http://qxtv-no-such-host.invalid/Phone_TwoElements",
                              connect_timeout = 2 }))
  end)
end)

describe("answered", function()
  it("codes 0, -4 and -8 are answers, not possibly charged", function()
    local s = sim.start{}
    local ok = verify(M, N, { endpoint = s.endpoint })
    local none = verify("13900000000", N, { endpoint = s.endpoint })
    s:stop()
    local busy = sim.start{ "--fail-rate", "1" }
    local again = verify(M, N, { endpoint = busy.endpoint })
    busy:stop()
    for _, r in ipairs{ ok, none, again } do
      assert.is_number(r.code)
      assert.is_nil(r.possibly_charged)
    end
    assert.is_true(ok.consistent)
  end)
end)

describe("an answer about someone else", function()
  it("another Mobile is class mismatch: no verdict taken from it, possibly charged", function()
    local s = sim.start{ "--wrong-mobile-rate", "1" }
    local r = verify(M, N, { endpoint = s.endpoint })
    local seen = s:stats()
    s:stop()
    assert.are.equal(1, seen.charged)              -- the provider billed it all the same
    possibly_charged(r, "mismatch")
    assert.matches("another mobile", r.reason)
    assert.is_nil(r.reason:find("13972565392", 1, true), "the other number shows unmasked")
    assert.is_nil(r.city)
    assert.are.equal(M, r.mobile)                  -- what was asked, as always
  end)

  it("a Name echoed masked is not compared", function()
    local d = drill.start("masked-name")
    local r = verify(M, N, { endpoint = d.endpoint, timeout = 5 })
    d.stop()
    assert.are.equal("ok", r.class, r.reason)
    assert.are.equal(0, r.code)
    assert.is_true(r.consistent)
    assert.is_nil(r.possibly_charged)
  end)

  it("an unmasked Name that differs is class mismatch", function()
    local d = drill.start("other-name")
    local r = verify(M, N, { endpoint = d.endpoint, timeout = 5 })
    d.stop()
    possibly_charged(r, "mismatch")
    assert.matches("another name", r.reason)
    assert.is_nil(r.reason:find("李四", 1, true), "the other name shows unmasked")
  end)

  it("the same mobile in another spelling is the same mobile", function()
    -- The drill server echoes 13972565391; asked with +86 and spaces (a
    -- script may send what it likes) it is still this person's answer.
    local d = drill.start("ok")
    local r = verify("+86 139 7256 5391", N, { endpoint = d.endpoint, timeout = 5 })
    d.stop()
    assert.are.equal("ok", r.class, r.reason)
    assert.is_true(r.consistent)
  end)

  it("qxtv check --json shows the class and the flag", function()
    local s = sim.start{ "--wrong-mobile-rate", "1" }
    local out, _, status = sim.run(("%s check --json %s %s"):format(sim.qxtv(), M, N),
                                   { QXT_ENDPOINT = s.endpoint })
    s:stop()
    local r = cjson.decode(out)
    assert.are.equal("mismatch", r.class)
    assert.is_true(r.possibly_charged)
    assert.are.equal(1, status)
  end)
end)
