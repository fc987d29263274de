-- qxt.redis through the real engine against a real redis-server
-- (tests/helpers/redis.lua): round trips and reply types, errors, the
-- timeout of a stopped server, reconnecting after a kill, many calls from
-- many tasks, and a loop that keeps turning while Redis does not answer.
local redis = require("qxt.redis")
local redis_server = require("tests.helpers.redis")
local wait_up = redis_server.wait_up
local sim = require("tests.helpers.sim")

describe("qxt.redis", function()
  local rs, r

  setup(function()
    rs = redis_server.start()
  end)

  teardown(function()
    if r then r:close() end
    rs:stop()
  end)

  before_each(function()
    if not r then r = assert(redis.connect{ url = rs.url, timeout = 0.5 }) end
    assert.is_true(wait_up(r))
    assert.are.equal("OK", r:call("FLUSHDB"))
  end)

  it("turns each kind of reply into its Lua value", function()
    assert.are.equal("PONG", r:call("PING"))               -- status
    assert.are.equal("OK", r:call("SET", "a", 41))          -- a number argument goes as text
    assert.are.equal(42, r:call("INCR", "a"))              -- integer
    assert.are.equal("42", r:call("GET", "a"))             -- bulk
    assert.are.equal(false, r:call("GET", "missing"))     -- nil
    assert.are.same({ "42", false }, r:call("MGET", "a", "missing"))
    assert.are.same({}, r:call("KEYS", "nothing:*"))
    local nested = r:script("return { 1, 'two', { 3, 'four' }, redis.status_reply('OK') }"):run()
    assert.are.same({ 1, "two", { 3, "four" }, "OK" }, nested)
  end)

  it("is binary safe both ways", function()
    local v = "a\0b\r\n\255"
    assert.are.equal("OK", r:call("SET", "bin\0key", v))
    assert.are.equal(v, r:call("GET", "bin\0key"))
  end)

  it("returns an error reply as nil and the message", function()
    local v, err = r:call("HGETALL")
    assert.is_nil(v)
    assert.matches("^ERR wrong number of arguments", err)
    r:call("SET", "s", "x")
    v, err = r:call("INCR", "s")
    assert.is_nil(v)
    assert.matches("^ERR value is not an integer", err)
  end)

  it("raises on arguments that are not strings or numbers", function()
    assert.has_error(function() r:call("SET", "k", {}) end)
    assert.has_error(function() r:call() end)
  end)

  it("runs a script by its SHA and loads it again after Redis forgot it", function()
    local s = r:script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert.are.equal(5, s:run({ r:key("n") }, { 5 }))
    assert.are.equal(12, s:run({ r:key("n") }, { 7 }))
    assert.are.equal("OK", r:call("SCRIPT", "FLUSH"))
    assert.are.equal(13, s:run({ r:key("n") }, { 1 }))
    assert.are.equal("13", rs:cli("GET", "qxtv:n"):match("%d+"))
  end)

  it("joins key parts under the prefix", function()
    assert.are.equal("qxtv:budget:day", r:key("budget", "day"))
    local r2 = assert(redis.connect{ url = rs.url, prefix = "t1:" })
    assert.are.equal("t1:halt", r2:key("halt"))
    r2:close()
  end)

  it("answers many calls from many tasks, each its own reply", function()
    local ts, seen = {}, {}
    for i = 1, 200 do
      ts[i] = qxt.spawn(function()
        local got = {}
        for j = 1, 10 do
          got[j] = assert(r:call("INCR", "counter"))
          assert.are.equal("v" .. i .. ":" .. j, r:call("ECHO", "v" .. i .. ":" .. j))
        end
        return got
      end)
    end
    for _, got in ipairs(qxt.wait(ts)) do
      for _, n in ipairs(got) do
        assert.is_nil(seen[n])
        seen[n] = true
      end
    end
    assert.are.equal(2000, #seen)
    assert.are.equal("2000", r:call("GET", "counter"))
  end)

  it("times Redis, not a busy loop: calls made just before the loop is held past their timeout are answered", function()
    -- A burst: 100 calls made in one pass of the loop, then the same pass
    -- busy for 3 timeouts (as 300 requests at once on a loaded machine).
    -- Redis answers in microseconds; its commands went out only after the
    -- pass. That is not a slow Redis: every call gets its reply.
    local fast = assert(redis.connect{ url = rs.url, timeout = 0.05 })
    finally(function() fast:close() end)
    assert.is_true(wait_up(fast))
    local ts = {}
    for i = 1, 100 do
      ts[i] = qxt.spawn(function()
        qxt.sleep(0.01)
        return { fast:call("ECHO", "e" .. i) }
      end)
    end
    ts[#ts + 1] = qxt.spawn(function()
      qxt.sleep(0.01)
      local t0 = os.clock()
      while os.clock() - t0 < 0.15 do end   -- holds the loop, as a long pass of work does
      return { "busy" }
    end)
    local got = qxt.wait(ts)
    local timeouts = 0
    for i = 1, 100 do
      if got[i][2] == "timeout" then timeouts = timeouts + 1 else assert.are.equal("e" .. i, got[i][1]) end
    end
    assert.are.equal(0, timeouts)
    assert.are.equal(0, fast:stats().timeouts)
  end)

  it("gives up after the timeout on a stopped server, keeps the loop turning, drops the late reply", function()
    local ticks, waiting = 0, true
    local ticker = qxt.spawn(function()
      while waiting do ticks = ticks + 1; qxt.sleep(0.01) end
    end)
    rs:pause()
    local v, err = r:call("ECHO", "late")
    waiting = false
    qxt.wait(ticker)
    rs:resume()
    assert.is_nil(v)
    assert.are.equal("timeout", err)
    assert.is_true(ticks >= 5, "the ticker ticked " .. ticks .. " times while the call waited 0.5 s")
    -- The late "late" is dropped: the next call gets its own reply.
    assert.is_true(wait_up(r))
    assert.are.equal("mine", r:call("ECHO", "mine"))
  end)

  it("drops a connection that owes replies for too long, and comes back by itself", function()
    rs:pause()
    local errs = {}
    for i = 1, 4 do errs[i] = select(2, r:call("PING")) end   -- 4 x 0.5 s > the 1 s stall limit
    local _, err = r:call("PING")
    rs:resume()
    assert.are.equal("timeout", errs[1])
    assert.are.equal("down", err)                                -- at once, without a wait
    assert.is_true(wait_up(r))
    assert.are.equal("PONG", r:call("PING"))
  end)

  it("says down at once after a kill, and reconnects to the restarted server", function()
    assert.are.equal("OK", r:call("SET", "before", "1"))
    rs:kill()
    local v, err = r:call("GET", "before")
    assert.is_nil(v)
    assert.are.equal("down", err)
    assert.is_false(r:up())
    local t0 = qxt.now()
    v, err = r:call("GET", "before")
    assert.is_nil(v)
    assert.are.equal("down", err)
    assert.is_true(qxt.now() - t0 < 0.1, "a call to a dead server must not wait")
    rs:launch()
    assert.is_true(wait_up(r))
    assert.are.equal(false, r:call("GET", "before"))          -- a new, empty server
    assert.is_true(r:stats().connects >= 2)
  end)

  it("ends waiting calls with down when closed", function()
    local r2 = assert(redis.connect{ url = rs.url, timeout = 2 })
    assert.is_true(wait_up(r2))
    rs:pause()
    local t = qxt.spawn(function() return select(2, r2:call("PING")) end)
    qxt.sleep(0.05)
    r2:close()
    local err = qxt.wait(t)
    rs:resume()
    assert.are.equal("down", err)
    assert.are.equal("closed", select(2, r2:call("PING")))
  end)

  it("selects the database of the URL", function()
    local r3 = assert(redis.connect{ url = rs.url .. "?db=3" })
    assert.is_true(wait_up(r3))
    assert.are.equal("OK", r3:call("SET", "indb3", "yes"))
    r3:close()
    assert.are.equal("yes", rs:cli("-n", "3", "GET", "indb3"):match("%a+"))
    assert.are.equal(false, r:call("GET", "indb3"))
  end)
end)

describe("qxt.redis over TCP", function()
  it("round-trips and reconnects on 127.0.0.1", function()
    local rs = redis_server.start{ tcp = true }
    local r = assert(redis.connect{ url = rs.tcp_url, timeout = 0.5 })
    assert.is_true(wait_up(r))
    assert.are.equal("OK", r:call("SET", "t", "tcp"))
    assert.are.equal("tcp", r:call("GET", "t"))
    rs:kill()
    assert.are.equal("down", select(2, r:call("GET", "t")))
    rs:launch()
    assert.is_true(wait_up(r))
    assert.are.equal("PONG", r:call("PING"))
    r:close()
    rs:stop()
  end)
end)

describe("qxt.redis URLs", function()
  it("parses host, port, database and unix sockets", function()
    assert.are.same({ host = "10.0.0.5", port = 6380, db = 2 }, redis.parse_url("redis://10.0.0.5:6380/2"))
    assert.are.same({ host = "cache.internal", port = 6379, db = 0 }, redis.parse_url("redis://cache.internal"))
    assert.are.same({ host = "::1", port = 7000, db = 0 }, redis.parse_url("redis://[::1]:7000/"))
    assert.are.same({ path = "/run/redis.sock", db = 0 }, redis.parse_url("unix:///run/redis.sock"))
    assert.are.same({ path = "/run/redis.sock", db = 4 }, redis.parse_url("unix:///run/redis.sock?db=4"))
  end)

  it("names what is wrong, and never repeats a password", function()
    local cases = {
      { "", "empty" },
      { "localhost:6379", "expected redis://" },
      { "http://x", "scheme http://" },
      { "rediss://x", "TLS" },
      { "redis://:s3cret@host:6379", "password in the URL is refused" },
      { "redis://host:99999", "port 99999" },
      { "redis://host/abc", "database number" },
      { "redis://127.0.0.1:99999999999999999999", "port 99999999999999999999 is not between" },
      { "redis://127.0.0.1/99999999999999999999", "database 99999999999999999999 is not a number" },
      { "unix:///x.sock?db=1000001", "database 1000001 is not a number" },
      { "redis://", "no host" },
      { "unix://relative.sock", "absolute path" },
      { "unix:///x.sock?timeout=1", "only %?db=N" },
    }
    for _, c in ipairs(cases) do
      local v, err = redis.parse_url(c[1])
      assert.is_nil(v, c[1])
      assert.matches(c[2], err)
      assert.is_nil(err:find("s3cret", 1, true))
    end
    local r, err = redis.connect{ url = "redis://:s3cret@h" }
    assert.is_nil(r)
    assert.is_nil(err:find("s3cret", 1, true))
  end)
end)

describe("qxt.redis with a password", function()
  local rs

  setup(function() rs = redis_server.start{ password = "pw-Zq81" } end)
  teardown(function() rs:stop() end)

  it("authenticates with the password from a private file", function()
    local r = assert(redis.connect{ url = rs.url, password_file = rs.password_file })
    assert.is_true(wait_up(r))
    assert.are.equal("PONG", r:call("PING"))
    r:close()
  end)

  it("stays down with a wrong password, saying why without the password", function()
    local f = sim.tmpdir() .. "/wrong"
    sim.write_file(f, "not-the-password\n")
    os.execute("chmod 600 " .. sim.quote(f))
    local r = assert(redis.connect{ url = rs.url, password_file = f })
    assert.is_nil(r:call("PING"))
    qxt.sleep(0.1)
    local state, why = r:state()
    assert.are_not.equal("up", state)
    assert.matches("AUTH", why)
    assert.is_nil(why:find("not-the-password", 1, true))
    r:close()
  end)

  it("refuses a password file others may read", function()
    local f = sim.tmpdir() .. "/open"
    sim.write_file(f, "pw-Zq81\n")
    os.execute("chmod 644 " .. sim.quote(f))
    local r, err = redis.connect{ url = rs.url, password_file = f }
    assert.is_nil(r)
    assert.matches("password%-file", err)
    assert.is_nil(err:find("pw-Zq81", 1, true))
  end)
end)
