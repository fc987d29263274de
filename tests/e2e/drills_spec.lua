-- Hostile server drills: verify() against tests/drills/drill_server, a
-- server that misbehaves on purpose, and against TLS endpoints with bad
-- certificates (made fresh by tests/drills/make_certs.sh). Every drill
-- must end within the configured timeout with class `transport` and a
-- reason that says what happened, with memory capped, never following a
-- redirect and never accepting a certificate nobody vouched for. The
-- counterpart: a certificate from a test CA is accepted once that CA is
-- given with `qxtv check --cafile`.
local cjson = require("cjson")
local sim = require("tests.helpers.sim")

local qxtv = sim.qxtv()
local M, N = "13972565391", "张三"
-- Upper bounds on how long a drill takes stretch under tests/tools/valgrind.sh.
local SLACK = os.getenv("QXTV_SLOW") and 4 or 1
-- Peak RSS of the engine running the drills; lifted under valgrind too.
local MAX_RSS_MB = tonumber(os.getenv("QXTV_RSS_LIMIT_MB") or "200")

local function pause(s) qxt.sleep(s) end

local tmpdir = sim.tmpdir

local drill = require("tests.helpers.drill").start

-- Peak resident memory of this process (the engine running the spec), MB.
local function peak_mb()
  local status = sim.read_file("/proc/self/status") or ""
  return tonumber(status:match("VmHWM:%s*(%d+)") or "0") / 1024
end

-- One verify against endpoint with the given timeouts; returns the result
-- and the seconds it took.
local function timed(endpoint, timeout, connect_timeout)
  local t0 = qxt.now()
  local r = verify(M, N, { endpoint = endpoint, timeout = timeout, connect_timeout = connect_timeout or 1 })
  return r, qxt.now() - t0
end

local function is_transport(r, reason)
  assert.are.equal("transport", r.class, r.reason)
  assert.is_true(r.code == nil or r.code == cjson.null, "a code without an answer")
  assert.is_true(r.consistent == nil or r.consistent == cjson.null, "a verdict without an answer")
  assert.matches(reason, r.reason)
end

describe("hostile server drills", function()
  it("slow-loris (a byte a second): ends at the timeout, transport, says so", function()
    local d = drill("slowloris")
    local r, took = timed(d.endpoint, 1.5)
    d.stop()
    is_transport(r, "timeout")
    assert.is_true(took >= 1.4 and took < 2.5 * SLACK, "took " .. took)
  end)

  it("a server that never answers: ends at the timeout", function()
    local d = drill("silent")
    local r, took = timed(d.endpoint, 1)
    d.stop()
    is_transport(r, "timeout")
    assert.is_true(took < 2 * SLACK, "took " .. took)
  end)

  it("a never-ending body: cut at the 1 MiB cap, long before the timeout", function()
    local d = drill("endless")
    local r, took = timed(d.endpoint, 10)
    d.stop()
    is_transport(r, "larger than 1048576 bytes")
    assert.is_true(took < 5 * SLACK, "took " .. took)
    assert.is_true(#r.raw <= 1048576)
  end)

  it("a 100 MB body, announced or chunked: refused, memory stays capped", function()
    local d1, d2 = drill("big"), drill("big-chunked")
    local r1, took1 = timed(d1.endpoint, 10)
    local r2, took2 = timed(d2.endpoint, 10)
    d1.stop()
    d2.stop()
    is_transport(r1, "[Mm]aximum file size exceeded")
    is_transport(r2, "larger than 1048576 bytes")
    assert.is_true(took1 < 5 * SLACK and took2 < 5 * SLACK, ("took %.1f and %.1f s"):format(took1, took2))
    assert.is_true(peak_mb() < MAX_RSS_MB, ("peak RSS %.0f MB"):format(peak_mb()))
  end)

  it("twenty never-ending bodies at once: each capped, memory bounded", function()
    local d = drill("endless")
    local tasks = {}
    for i = 1, 20 do tasks[i] = qxt.spawn(timed, d.endpoint, 10) end
    local results = qxt.wait(tasks)
    d.stop()
    for i = 1, 20 do is_transport(results[i], "larger than 1048576 bytes") end
    assert.is_true(peak_mb() < MAX_RSS_MB, ("peak RSS %.0f MB"):format(peak_mb()))
  end)

  it("a redirect to file:// is not followed", function()
    local d = drill("redirect-file")
    local r, took = timed(d.endpoint, 3)
    d.stop()
    is_transport(r, "HTTP 302")
    assert.are.equal(302, r.http_status)
    assert.is_nil(r.raw:find("root:", 1, true))
    assert.is_true(took < 2 * SLACK)
  end)

  it("a redirect to another host is not followed: that host gets nothing", function()
    local other = sim.start{}
    local d = drill("redirect-host", "--target " .. other.endpoint)
    local r = timed(d.endpoint, 3)
    local stats = other:stats()
    d.stop()
    other:stop()
    is_transport(r, "HTTP 302")
    assert.are.equal(0, stats.requests)
  end)

  it("a reset in the middle of the body: transport, the reset named", function()
    local d = drill("reset")
    local r, took = timed(d.endpoint, 3)
    d.stop()
    is_transport(r, "reset")
    assert.is_true(took < 2 * SLACK)
  end)

  it("a DNS name that does not resolve: transport within the connect timeout", function()
    local r, took = timed("http://nonexistent.invalid/Phone_TwoElements", 3, 2)
    is_transport(r, "[Rr]esolv")   -- "Could not resolve host", or "Resolving timed out"
    assert.is_true(took < 3.5 * SLACK, "took " .. took)
  end)

  it("nothing listening: transport, refused, at once", function()
    local d = drill("ok")
    d.stop()
    pause(0.1)
    local r, took = timed(d.endpoint, 3)
    is_transport(r, "connect")
    assert.is_true(took < 2 * SLACK)
  end)

  it("the simulator's slow answers: cut at the timeout", function()
    local s = sim.start{ "--slow-rate", "1", "--slow", "10s" }
    local r, took = timed(s.endpoint, 0.5)
    s:stop()
    is_transport(r, "timeout")
    assert.is_true(took < 1.5 * SLACK)
  end)
end)

describe("TLS drills", function()
  local certs
  setup(function()
    certs = tmpdir()
    assert(os.execute("tests/drills/make_certs.sh " .. certs .. " >/dev/null"))
  end)
  teardown(function() os.execute("rm -rf " .. certs) end)

  -- `qxtv check --json` against a TLS drill_server with certificate NAME.
  local function check(name, cafile, mode)
    local d = drill(mode or "ok", ("--tls %s/%s.pem %s/%s.key"):format(certs, name, certs, name))
    local t0 = qxt.now()
    local out, err, status = sim.run(("%s check --json --timeout %d --endpoint %s %s %s %s"):format(
      qxtv, 3 * SLACK, d.endpoint, cafile and ("--cafile " .. certs .. "/ca.pem") or "", M, N))
    local took = qxt.now() - t0
    d.stop()
    local ok, r = pcall(cjson.decode, out)
    assert.is_true(ok, "not JSON: " .. out .. err)
    return r, status, took
  end

  it("a certificate from a test CA is refused without --cafile", function()
    local r, status = check("good", false)
    assert.are.equal(1, status)
    is_transport(r, "SSL certificate problem")
  end)

  it("the same endpoint answers normally once that CA is given with --cafile", function()
    local r, status = check("good", true)
    assert.are.equal(0, status, r.reason)
    assert.are.equal(0, r.code)
    assert.are.equal("ok", r.class)
    assert.is_true(r.consistent)
  end)

  it("a self-signed certificate is refused, --cafile or not", function()
    for _, cafile in ipairs{ false, true } do
      local r, status = check("self", cafile)
      assert.are.equal(1, status)
      is_transport(r, "self%-signed")
    end
  end)

  it("a certificate for another host is refused even from the trusted CA", function()
    local r = check("wronghost", true)
    is_transport(r, "SSL")
    assert.is_truthy(r.reason:find("no alternative certificate subject name matches", 1, true)
                     or r.reason:find("does not match", 1, true), r.reason)
  end)

  it("an expired certificate is refused even from the trusted CA", function()
    local r = check("expired", true)
    is_transport(r, "expired")
  end)

  it("slow-loris over TLS ends at the timeout too", function()
    local r, status, took = check("good", true, "slowloris")
    assert.are.equal(1, status)
    is_transport(r, "timeout")
    assert.is_true(took < 5 * SLACK, "took " .. took)
  end)
end)
