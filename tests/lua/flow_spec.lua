-- qxt.flow against real simulators: every record ends in exactly one sink
-- with a reason, pairs are never paid twice, fatal codes halt, budgets and
-- rates hold, retries follow the policy.
local sim = require("tests.helpers.sim")

local function memsink()
  return { rows = {}, write = function(self, rec, r) self.rows[#self.rows + 1] = { rec = rec, r = r } end }
end

local function sinks()
  return { consistent = memsink(), inconsistent = memsink(), invalid = memsink(), unverified = memsink() }
end

-- The i-th of many distinct valid names (names may not hold digits).
local GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚华萍红鹏飞东博涵怡然轩萱"
local function name_of(i)
  local chars = {}
  for _, c in utf8.codes(GIVEN) do chars[#chars + 1] = utf8.char(c) end
  return "王" .. chars[(i - 1) % #chars + 1] .. chars[(i - 1) // #chars + 1]
end

local function records(list)
  local out = {}
  for i, p in ipairs(list) do out[i] = { mobile = p[1], name = p[2], fields = { id = i } } end
  return out
end

-- Every input id exactly once across the sinks; returns id -> sink name.
local function where(all, n)
  local seen = {}
  for name, s in pairs(all) do
    for _, row in ipairs(s.rows) do
      local id = row.rec.fields.id
      assert.is_nil(seen[id], "record " .. tostring(id) .. " written twice")
      seen[id] = name
    end
  end
  for i = 1, n do assert.is_not_nil(seen[i], "record " .. i .. " lost") end
  return seen
end

describe("qxt.flow", function()
  local s
  before_each(function() s = sim.start{ "--latency", "20ms" } end)
  after_each(function() s:stop() end)

  it("routes each record to one outcome, cleaning first and querying each pair once", function()
    local input = records{
      { "13972565391", "张三" },            -- 1 consistent
      { "139-7256-5391", "李四" },          -- 2 inconsistent (cleaned mobile)
      { "12345", "王五" },                  -- 3 invalid locally
      { "13900000004", "赵六" },            -- 4 no record -> unverified
      { "+86 139 7256 5391", " 张三 " },    -- 5 duplicate of 1 after cleaning
      { "13972565391", "" },                -- 6 empty name: invalid locally
    }
    local out = sinks()
    local summary = qxt.flow{ source = input, sinks = out, concurrency = 4, quiet = true,
                              verify = { endpoint = s.endpoint } }
    local at = where(out, #input)
    assert.are.same({ "consistent", "inconsistent", "invalid", "unverified", "consistent", "invalid" },
                    { at[1], at[2], at[3], at[4], at[5], at[6] })
    assert.are.equal(3, summary.queries_sent)
    assert.are.equal(1, summary.duplicates)
    assert.are.equal(0, s:stats().repeated_pairs)
    for _, row in ipairs(out.invalid.rows) do assert.is_string(row.r.reason) end
  end)

  it("halts on -5, sends nothing more, and still routes every record", function()
    local b = sim.start{ "--apikey", os.getenv("QXTV_TEST_APIKEY") .. ":5", "--latency", "10ms" }
    local list = {}
    for i = 1, 60 do list[i] = { "13972565391", name_of(i) } end
    local out = sinks()
    local summary = qxt.flow{ source = records(list), sinks = out, concurrency = 4, quiet = true,
                              verify = { endpoint = b.endpoint }, log = function() end }
    local stats = b:stats()
    b:stop()
    where(out, 60)
    assert.is_string(summary.halted)
    assert.matches("^%-5", summary.halted)
    assert.are.equal(3, summary.exit_status)
    assert.are.equal(5, stats.charged)
    assert.is_true(stats.requests <= 5 + 4, "sent " .. stats.requests .. " after the halt")
    local halted = 0
    for _, row in ipairs(out.unverified.rows) do
      if row.r.reason:find("^halted: %-5") then halted = halted + 1 end
    end
    assert.is_true(halted >= 60 - 5 - 4)
    qxt.exit_status(0)
  end)

  for _, case in ipairs{
    { code = -1, sim = { "--apikey", "ffffffffffffffffffffffffffffffff" } },      -- our key is unknown
    { code = -9, sim = { "--allow-ip", "10.9.9.9" } },                            -- loopback not allowed
  } do
    it("halts on " .. case.code .. " too, sending nothing more", function()
      local b = sim.start(case.sim)
      local list = {}
      for i = 1, 30 do list[i] = { "13972565391", name_of(i) } end
      local out = sinks()
      local summary = qxt.flow{ source = records(list), sinks = out, concurrency = 2, quiet = true,
                                verify = { endpoint = b.endpoint }, log = function() end }
      local seen = b:stats().requests
      b:stop()
      where(out, 30)
      assert.matches("^" .. case.code .. " ", summary.halted)
      assert.are.equal(3, summary.exit_status)
      assert.is_true(seen <= 2, seen .. " queries reached the provider")
      qxt.exit_status(0)
    end)
  end

  it("halts when the endpoint stops answering, instead of failing every row", function()
    local list = {}
    for i = 1, 50 do list[i] = { "13972565391", name_of(i) } end
    local out = sinks()
    local messages = {}
    local summary = qxt.flow{ source = records(list), sinks = out, concurrency = 2, quiet = true,
                              verify = { endpoint = "http://127.0.0.1:1/Phone_TwoElements" },
                              retry = qxt.retry.policy{ attempts = 2, backoff = 0.001, jitter = 0 },
                              transport_halt = 10,
                              log = function(m) messages[#messages + 1] = m end }
    where(out, 50)
    assert.are.equal(3, summary.exit_status)
    assert.matches("no answer from the endpoint", summary.halted)
    assert.is_true(summary.queries_sent <= 11, summary.queries_sent .. " sent")
    assert.matches("Check the endpoint", table.concat(messages, "\n"))
    qxt.exit_status(0)
  end)

  it("stops at the budget and says so", function()
    local list = {}
    for i = 1, 20 do list[i] = { "13972565391", name_of(i) } end
    local out = sinks()
    local summary = qxt.flow{ source = records(list), sinks = out, budget = 7, concurrency = 3,
                              quiet = true, verify = { endpoint = s.endpoint } }
    where(out, 20)
    assert.are.equal(7, summary.queries_sent)
    assert.are.equal(4, summary.exit_status)
    assert.are.equal(13, #out.unverified.rows)
    qxt.exit_status(0)
  end)

  it("retries -8 by policy and never retries input codes", function()
    local f = sim.start{ "--fail-rate", "0.5", "--seed", "3" }
    local list = {}
    for i = 1, 40 do list[i] = { "13972565391", name_of(i) } end
    list[41] = { "13972565391", "张三" }
    local out = sinks()
    local summary = qxt.flow{ source = records(list), sinks = out, concurrency = 8, quiet = true,
                              verify = { endpoint = f.endpoint },
                              retry = qxt.retry.policy{ on = { -8 }, attempts = 10, backoff = 0.001, jitter = 0 } }
    f:stop()
    where(out, 41)
    assert.is_true(summary.retries > 5, "retries " .. summary.retries)
    assert.are.equal(summary.queries_sent, 41 + summary.retries)
    assert.are.equal(40, #out.inconsistent.rows)
    assert.has_error(function() qxt.retry.policy{ on = { -3 } } end)
  end)

  it("holds the rate cap", function()
    local list = {}
    for i = 1, 21 do list[i] = { "13972565391", name_of(i) } end
    local t0 = qxt.now()
    qxt.flow{ source = records(list), sinks = sinks(), rate = 40, concurrency = 16, quiet = true,
              verify = { endpoint = s.endpoint } }
    -- 21 queries at 40/s need at least 0.5 s whatever the concurrency.
    assert.is_true(qxt.now() - t0 >= 0.45, "took " .. (qxt.now() - t0))
  end)

  it("lets rules route first and names the rule", function()
    local out = sinks()
    out.review = memsink()
    qxt.flow{
      source = records{ { "13972565391", "李四" }, { "13972565391", "张三" } },
      sinks = out, quiet = true, verify = { endpoint = s.endpoint },
      route = qxt.route.rules{
        { name = "mismatch to review", route = "review", when = function(_, r) return r.consistent == false end },
      },
    }
    assert.are.equal(1, #out.review.rows)
    assert.are.equal("mismatch to review", out.review.rows[1].r.rule)
    assert.are.equal(1, #out.consistent.rows)
  end)

  it("stops on a sink that cannot write, naming the record, instead of losing rows", function()
    local out = sinks()
    out.consistent = { write = function() return nil, "No space left on device" end }
    local summary = qxt.flow{ source = records{ { "13972565391", "张三" }, { "13972565391", "李四" } },
                              sinks = out, concurrency = 1, quiet = true, verify = { endpoint = s.endpoint } }
    assert.are.equal(1, summary.exit_status)
    assert.matches("stopped on an error", summary.failed)
    assert.are.equal(0, summary.records)      -- nothing counted as written that was not
    qxt.exit_status(0)
  end)

  it("rejects a misconfigured flow with a clear message", function()
    assert.has_error(function() qxt.flow{ sinks = {} } end, "qxt.flow: 'source' is required")
    assert.has_error(function() qxt.flow{ source = {}, sinks = {}, concurrency = 0 } end)
    assert.has_error(function() qxt.flow{ source = {}, sinks = {}, bogus = 1 } end,
                     "qxt.flow: unknown option 'bogus'")
  end)
end)
