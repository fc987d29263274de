-- qxt.shared inside the real engine against a real redis-server: the
-- shared rate limit, the leased budget and the halt, each seen from two
-- "instances" (two connections, two objects) in one process, and what each
-- does when Redis dies and comes back.
local redis = require("qxt.redis")
local redis_server = require("tests.helpers.redis")
local wait_up = redis_server.wait_up
local shared = require("qxt.shared")
local shared_rate = require("qxt.shared.ratelimit")
local shared_budget = require("qxt.shared.budget")
local shared_halt = require("qxt.shared.halt")
local shared_cli = require("qxt.shared.cli")

local function logger()
  local lines = {}
  return lines, function(msg) lines[#lines + 1] = msg end
end

local function any(lines, pattern)
  for _, l in ipairs(lines) do if l:find(pattern) then return true end end
  return false
end

describe("qxt.shared", function()
  local rs, a, b

  setup(function()
    rs = redis_server.start()
  end)

  teardown(function()
    rs:stop()
  end)

  before_each(function()
    if not rs:answers() then rs:launch() end
    a = assert(redis.connect{ url = rs.url, timeout = 0.2 })
    b = assert(redis.connect{ url = rs.url, timeout = 0.2 })
    assert.is_true(wait_up(a) and wait_up(b))
    assert.are.equal("OK", a:call("FLUSHALL"))
  end)

  after_each(function()
    a:close()
    b:close()
  end)

  describe("rate limit", function()
    it("puts the takes of two instances on one timeline", function()
      -- 40 takes over two instances at 100/s: the shared timeline spaces all
      -- 40 by 10 ms, so they span 0.39 s of Redis time; two unshared
      -- limiters would each take 20 and end after 0.19 s.
      local la = shared_rate.new(a, { rate = 100 })
      local lb = shared_rate.new(b, { rate = 100 })
      local t0 = qxt.now()
      local ts = {}
      for i = 1, 40 do
        local l = i % 2 == 0 and la or lb
        ts[i] = qxt.spawn(function() l:take() end)
      end
      qxt.wait(ts)
      assert.is_true(qxt.now() - t0 >= 0.38, "took " .. (qxt.now() - t0))
      assert.are.equal("shared", la:mode())
      assert.are.equal(20, la.shared_takes)
      local ttl = a:call("PTTL", a:key("rate"))
      assert.is_true(ttl > 0 and ttl <= 1500, "the timeline key expires: " .. tostring(ttl))
    end)

    it("falls back to rate / instances while Redis is down, says so, and comes back", function()
      local lines, log = logger()
      local l = shared_rate.new(a, { rate = 100, instances = 4, log = log })
      l:take()
      assert.are.equal("shared", l:mode())
      rs:kill()
      local t0 = qxt.now()
      for _ = 1, 6 do l:take() end          -- 25/s here: 5 intervals of 40 ms
      assert.is_true(qxt.now() - t0 >= 0.19, "local fallback at rate/instances; took " .. (qxt.now() - t0))
      assert.are.equal("local", l:mode())
      assert.is_true(any(lines, "this instance keeps to 25 queries/s %(the global 100 / 4 instances%)"))
      rs:launch()
      assert.is_true(wait_up(a))
      l:take()
      assert.are.equal("shared", l:mode())
      assert.is_true(any(lines, "back to the shared limit"))
      assert.are.equal(1, l.fallbacks)
    end)

    it("is a drop-in of the local limiter", function()
      local local_l = require("qxt.step.ratelimit").new(100)
      local shared_l = shared_rate.new(a, { rate = 100 })
      for _, l in ipairs({ local_l, shared_l }) do assert.is_function(l.take) end
      assert.has_error(function() shared_rate.new(a, { rate = 0 }) end)
    end)
  end)

  describe("budget", function()
    it("never grants more than the limit over instances, in chunks", function()
      local ba = shared_budget.new(a, { name = "t", limit = 100, chunk = 7 })
      local bb = shared_budget.new(b, { name = "t", limit = 100, chunk = 7 })
      local got = { 0, 0 }
      local ts = {}
      for i = 1, 60 do
        local which = i % 2 + 1
        local bud = which == 1 and ba or bb
        ts[i] = qxt.spawn(function()
          while bud:take() do got[which] = got[which] + 1; qxt.sleep(0) end
        end)
      end
      qxt.wait(ts)
      assert.are.equal(100, got[1] + got[2])
      assert.is_true(got[1] > 0 and got[2] > 0)
      assert.is_true(ba.leases + bb.leases <= 16, "leased in chunks: " .. (ba.leases + bb.leases))
      assert.is_nil(select(1, ba:take()))
      assert.are.equal("exhausted", select(2, bb:take()))
      assert.are.equal("100", a:call("GET", a:key("budget", "t")))
      assert.is_true(a:call("TTL", a:key("budget", "t")) > 0)
    end)

    it("gives back an unused lease", function()
      local ba = shared_budget.new(a, { name = "g", limit = 50, chunk = 10 })
      assert.is_true(ba:take())
      assert.are.equal("10", a:call("GET", a:key("budget", "g")))
      ba:release()
      assert.are.equal("1", a:call("GET", a:key("budget", "g")))
    end)

    it("counts a daily budget per UTC day of Redis's clock", function()
      local bd = shared_budget.new(a, { name = "day", limit = 5, window = "day", chunk = 2 })
      for _ = 1, 5 do assert.is_true(bd:take()) end
      assert.is_nil(bd:take())
      local day = math.tointeger(tonumber(a:call("TIME")[1]) // 86400)
      local key = a:key("budget", "day") .. ":" .. day
      assert.are.equal("5", a:call("GET", key))
      local ttl = a:call("TTL", key)
      assert.is_true(ttl > 86400 and ttl <= 2 * 86400)
    end)

    it("spends its lease while Redis is down, then fails closed, then leases again", function()
      local lines, log = logger()
      local ba = shared_budget.new(a, { name = "c", limit = 100, chunk = 5, log = log })
      assert.is_true(ba:take())                 -- a lease of 5: 4 left
      rs:kill()
      for _ = 1, 4 do assert.is_true(ba:take()) end
      local ok, why = ba:take()
      assert.is_nil(ok)
      assert.are.equal("down", why)
      assert.are.equal("closed", ba:status().mode)
      assert.is_true(any(lines, "then nothing until Redis answers"))
      rs:launch()
      assert.is_true(wait_up(a))
      assert.is_true(ba:take())
      assert.are.equal("shared", ba:status().mode)
    end)
  end)

  describe("halt", function()
    it("stops the other instance at its next check, until an operator clears it", function()
      local ha = shared_halt.new(a, { interval = 0.05 })
      local hb = shared_halt.new(b, { interval = 0.05 })
      assert.is_nil(ha:check())
      assert.is_nil(hb:check())
      ha:raise("-5 账户余额不足")
      assert.matches("^%-5", ha:check())
      qxt.sleep(0.06)
      assert.matches("^%-5 账户余额不足 %(at ", hb:check())
      local ttl = a:call("TTL", a:key("halt"))
      assert.is_true(ttl > 0 and ttl <= shared_halt.TTL)
      -- qxtv admin resume deletes the key: both send again, the raiser too.
      assert.are.equal(1, a:call("DEL", a:key("halt")))
      qxt.sleep(0.06)
      assert.is_nil(hb:check())
      assert.is_nil(ha:check())
    end)

    it("keeps its own halt while Redis is down and tells the others once it is back", function()
      local hb = shared_halt.new(b, { interval = 0.05 })
      local lines, log = logger()
      local ha = shared_halt.new(a, { interval = 0.05, log = log })
      rs:kill()
      ha:raise("-9 IP not allowed")
      assert.matches("^%-9", ha:check())
      assert.is_true(any(lines, "told once it answers"))
      rs:launch()
      assert.is_true(wait_up(a) and wait_up(b))
      qxt.sleep(0.06)
      assert.matches("^%-9", ha:check())       -- pushed now
      qxt.sleep(0.06)
      assert.matches("^%-9", hb:check())
    end)
  end)

  describe("the guard", function()
    it("refuses once the shared budget is spent, and halts every guard on a fatal code", function()
      local lines, log = logger()
      local opts = { redis = rs.url, timeout = 0.2, rate = 1000, budget = 3, budget_id = "job7", log = log }
      local g1, g2 = assert(shared.open(opts)), assert(shared.open(opts))
      assert.is_nil(g1:before_send())
      assert.is_nil(g2:before_send())
      assert.is_nil(g1:before_send())
      local why, halted = g2:before_send()
      assert.matches("budget exhausted: the shared budget of 3 queries", why)
      assert.is_nil(halted)
      assert.are.same({ redis = "up", rate = "shared", budget = "shared", halt = "shared" }, g1:modes())
      g1:fatal("-1 no such account")
      qxt.sleep(0.3)
      why, halted = g2:before_send()
      assert.matches("^%-1 no such account", why)
      assert.is_true(halted)
      g1:close()
      g2:close()
      assert.is_true(any(lines, "shared state on Redis at unix:"))
    end)

    it("keeps --budget without --budget-id as this instance's own budget", function()
      local g = assert(shared.open{ redis = rs.url, timeout = 0.2, budget = 3, log = function() end })
      local sent, refused = 0, {}
      for _ = 1, 10 do
        local why = g:before_send()
        if why then refused[#refused + 1] = why else sent = sent + 1 end
      end
      g:close()
      assert.are.equal(3, sent)
      assert.are.equal(7, #refused)
      assert.are.equal("budget exhausted: 3 queries sent", refused[1])
    end)

    it("gives back to a budget what another budget refused: nothing unsent is counted", function()
      local g = assert(shared.open{ redis = rs.url, timeout = 0.2, budget = 1000, budget_id = "job9", daily_budget = 5,
                                    log = function() end })
      local sent = 0
      for _ = 1, 40 do
        if not g:before_send() then sent = sent + 1 end
      end
      g:close()                      -- gives back the unused leases
      assert.are.equal(5, sent)
      assert.are.equal("5", a:call("GET", a:key("budget", "run:job9")))
    end)

    it("lets nothing go to the provider once the run stopped while its queries waited for the rate", function()
      -- 8 workers wait for a shared rate of 4/s; the first answer crosses a
      -- threshold: the 7 waiting must not be sent.
      local s = require("tests.helpers.sim").start{}
      finally(function() s:stop() end)
      local function memsink() return { write = function() return true end } end
      local source = {}
      for i = 1, 20 do source[i] = { mobile = ("139%08d"):format(i), name = "张三", fields = { id = i } } end
      local summary = qxt.flow{
        source = source, concurrency = 8, rate = 4, quiet = true, log = function() end,
        shared = { redis = rs.url, timeout = 0.2 },
        abort_if = "count(answers) >= 1", min_samples = 1,
        verify = { endpoint = s.endpoint },
        sinks = { consistent = memsink(), inconsistent = memsink(), invalid = memsink(), unverified = memsink() },
      }
      assert.are.equal(qxt.exit.THRESHOLD, summary.exit_status)
      assert.are.equal(1, s:stats().requests)
    end)

    it("keys a hash under the shared hash key only", function()
      local dir = require("tests.helpers.sim").tmpdir()
      local key_file = dir .. "/hash.key"
      require("tests.helpers.sim").write_file(key_file, string.rep("k", 40))
      os.execute("chmod 600 " .. key_file)
      local g = assert(shared.open{ redis = rs.url, hash_key_file = key_file, log = function() end })
      local h = g:hash("13972565391")
      assert.matches("^%x+$", h)
      assert.are.equal(64, #h)
      assert.are.equal(h, g:hash("13972565391"))
      g:close()
      os.execute("chmod 644 " .. key_file)
      local bad, err = shared.open{ redis = rs.url, hash_key_file = key_file, log = function() end }
      assert.is_nil(bad)
      assert.matches("hash%-key%-file", err)
    end)

    it("is said down at start, and its modes say local and closed", function()
      rs:kill()
      local lines, log = logger()
      local g = assert(shared.open{ redis = rs.url, timeout = 0.05, rate = 1000, daily_budget = 10, log = log })
      assert.is_true(any(lines, "unreachable at start"))
      local why = g:before_send()
      assert.matches("Redis unreachable", why)
      local m = g:modes()
      assert.are.equal("down", m.redis)
      assert.are.equal("closed", m.budget)
      g:close()
      rs:launch()
    end)
  end)

  describe("options", function()
    it("parses the command line and names what is wrong", function()
      local o = {}
      assert.is_true(shared_cli.set(o, "redis", "redis://127.0.0.1:6379/1"))
      assert.is_true(shared_cli.set(o, "redis-timeout", "75"))
      assert.is_true(shared_cli.set(o, "instances", "3"))
      local s = assert(shared_cli.finish(o))
      assert.are.equal(0.075, s.timeout)
      assert.are.equal(3, s.instances)
      o = {}
      assert.is_true(shared_cli.set(o, "redis-timeout", "0.1s"))
      assert.are.equal(0.1, o.shared.timeout)
      assert.is_nil(shared_cli.set(o, "redis-timeout", "fast"))
      assert.is_nil(shared_cli.set(o, "instances", "0"))
      local _, err = shared_cli.finish({ shared = { instances = 2 } })
      assert.matches("%-%-instances needs %-%-redis URL", err)
      _, err = shared_cli.finish({ shared = { redis = "redis://h:0" } })
      assert.matches("^%-%-redis: redis URL: port 0", err)
      assert.is_nil(shared_cli.finish({}))
    end)

    it("are not for a sandboxed flow: Redis and its password file are the operator's", function()
      local sim = require("tests.helpers.sim")
      local dir = sim.tmpdir()
      sim.write_file(dir .. "/flow.lua",
        ('qxt.flow{ source = {}, sinks = {}, shared = { redis = %q } }'):format(rs.url))
      local _, err, status = sim.run(sim.qxtv() .. " run --sandbox " .. sim.quote(dir .. "/flow.lua"))
      assert.are_not.equal(0, status)
      assert.matches("option 'shared' is not available in the sandbox", err)
      sim.write_file(dir .. "/in.csv", "mobile,name\n13972565391,张三\n")
      _, err, status = sim.run(("%s run --sandbox scripts/verify_csv.lua %s --out %s --redis %s"):format(
        sim.qxtv(), sim.quote(dir .. "/in.csv"), sim.quote(dir .. "/out"), sim.quote(rs.url)))
      assert.are_not.equal(0, status)
      assert.matches("qxt.shared is not available in the sandbox", err)
    end)
  end)
end)
