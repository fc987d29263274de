-- qxt.flow and money it may have spent without an answer, against real
-- simulators: a request sent whole and unanswered (possibly charged) is
-- re-sent only as the policy allows (default once), failures before sending
-- stay free to retry, an answer about someone else is never a verdict and
-- never asked again; the summary counts all of it.
local sim = require("tests.helpers.sim")

local function memsink()
  return { rows = {}, write = function(self, rec, r) self.rows[#self.rows + 1] = { rec = rec, r = r } end }
end

local function sinks()
  return { consistent = memsink(), inconsistent = memsink(), invalid = memsink(), unverified = memsink() }
end

-- n records of the registry's people (mobile, name as registered).
local PEOPLE = { { "13972565391", "张三" }, { "18819079212", "曹操" }, { "13800138000", "李四" },
                 { "13912345678", "王五" }, { "15601234567", "赵六" } }
local function records(n)
  local out = {}
  for i = 1, n do
    local p = PEOPLE[i]
    out[i] = { mobile = p[1], name = p[2], fields = { id = i } }
  end
  return out
end

local function quiet_flow(opts)
  opts.quiet, opts.log = true, opts.log or function() end
  opts.concurrency = opts.concurrency or 5
  return qxt.flow(opts)
end

describe("qxt.flow and possibly charged requests", function()
  local slow
  setup(function() slow = sim.start{ "--latency", "2s" } end)
  teardown(function() slow:stop() end)
  before_each(function() slow:reset() end)

  local function timing_out(retry)
    local out = sinks()
    local summary = quiet_flow{ source = records(5), sinks = out, retry = retry,
                                verify = { endpoint = slow.endpoint, timeout = 0.3 } }
    return summary, out, slow:stats()
  end

  it("re-sends a request that timed out after sending once by default, not five times", function()
    local summary, out, seen = timing_out(nil)
    assert.are.equal(10, seen.requests)              -- 2 per record, not 5
    assert.are.equal(10, summary.possibly_charged)
    assert.are.equal(0, summary.charged)
    assert.are.equal(5, #out.unverified.rows)
    for _, row in ipairs(out.unverified.rows) do
      assert.are.equal(2, row.r.attempts)
      assert.is_true(row.r.possibly_charged)
    end
    -- the provider billed between charged and charged + possibly_charged
    assert.is_true(seen.charged >= summary.charged)
    assert.is_true(seen.charged <= summary.charged + summary.possibly_charged)
    -- and people see it: the progress line and the end-of-run table
    assert.matches("possibly charged 10", require("qxt.progress").new{ quiet = true }:line(summary, 0))
    assert.matches("10 possibly charged", summary.text())
  end)

  it("sends each once when the flow sets resend_possibly_charged = 0", function()
    local summary, _, seen = timing_out(qxt.retry.policy{ backoff = 0.01, resend_possibly_charged = 0 })
    assert.are.equal(5, seen.requests)
    assert.are.equal(5, summary.possibly_charged)
  end)

  it("honours an explicit count, for a function policy too", function()
    local summary, _, seen = timing_out(qxt.retry.policy{ backoff = 0.01, resend_possibly_charged = 2 })
    assert.are.equal(15, seen.requests)
    assert.are.equal(15, summary.possibly_charged)
    local always = function() return 0.01 end
    slow:reset()
    summary, _, seen = timing_out(always)
    assert.are.equal(10, seen.requests)              -- a plain function: the default cap
    assert.are.equal(10, summary.possibly_charged)
    slow:reset()
    summary, _, seen = timing_out(qxt.retry.from(always, { resend_possibly_charged = 3 }))
    assert.are.equal(20, seen.requests)
    assert.are.equal(20, summary.possibly_charged)
  end)

  it("counts possibly charged requests against the budget", function()
    local out = sinks()
    local summary = quiet_flow{ source = records(5), sinks = out, budget = 3, concurrency = 1,
                                verify = { endpoint = slow.endpoint, timeout = 0.3 } }
    assert.are.equal(3, slow:stats().requests)
    assert.are.equal(3, summary.possibly_charged)
    assert.is_true(summary.budget_exhausted)
    qxt.exit_status(0)
  end)
end)

describe("qxt.flow and failures before sending", function()
  it("retries them by `attempts` alone, and counts nothing as possibly charged", function()
    local out = sinks()
    local summary = quiet_flow{ source = records(3), sinks = out, transport_halt = 1000,
                                verify = { endpoint = "http://127.0.0.1:1/Phone_TwoElements" },
                                retry = qxt.retry.policy{ attempts = 4, backoff = 0.001, jitter = 0 } }
    assert.are.equal(12, summary.queries_sent)
    assert.are.equal(0, summary.possibly_charged)
    for _, row in ipairs(out.unverified.rows) do
      assert.are.equal(4, row.r.attempts)
      assert.is_nil(row.r.possibly_charged)
    end
  end)
end)

describe("qxt.flow and answers about someone else", function()
  it("routes them to unverified, never as a verdict, asks once, counts them possibly charged", function()
    local s = sim.start{ "--wrong-mobile-rate", "1" }
    local list = records(4)
    list[5] = { mobile = "13972565391", name = "张三", fields = { id = 5 } }   -- a duplicate of 1
    local out = sinks()
    local messages = {}
    local summary = quiet_flow{ source = list, sinks = out, verify = { endpoint = s.endpoint },
                                retry = qxt.retry.policy{ on = { -8, "transport", "no_record" } },
                                log = function(m) messages[#messages + 1] = m end }
    local seen = s:stats()
    s:stop()
    assert.are.equal(0, #out.consistent.rows + #out.inconsistent.rows)
    assert.are.equal(5, #out.unverified.rows)
    for _, row in ipairs(out.unverified.rows) do
      assert.are.equal("mismatch", row.r.class)
      assert.are.equal("other_person", row.r.rule)
      assert.is_nil(row.r.consistent)
      assert.is_nil(row.r.status)
      assert.matches("another mobile", row.r.reason)
    end
    assert.are.equal(4, seen.requests)               -- never retried, the duplicate not asked
    assert.are.equal(4, summary.possibly_charged)
    assert.are.equal(0, summary.charged)
    assert.are.equal(4, seen.charged)                -- what the provider billed: in the bracket
    assert.matches("named another person", table.concat(messages, "\n"))
  end)
end)
