-- qxt.freshness, the one table of answer ages (--max-age, the serve
-- cache's TTL), and a journal reusing an earlier one's answers by outcome,
-- inside the real engine against a simulator.
local freshness = require("qxt.freshness")
local journal = require("qxt.journal")
local sim = require("tests.helpers.sim")

local DAY = 86400

describe("qxt.freshness", function()
  it("is the serve cache's table, not a copy", function()
    local cache = require("qxt.serve.cache")
    assert.is_true(rawequal(freshness.DEFAULT, cache.DEFAULT_TTL))
    assert.is_true(rawequal(freshness.outcome, cache.outcome))
    assert.are.same({ consistent = 30 * DAY, inconsistent = 7 * DAY, no_record = DAY }, freshness.DEFAULT)
  end)

  it("parses one age or one per outcome, in days; the rest keep their defaults", function()
    assert.are.same({ consistent = 30 * DAY, inconsistent = 30 * DAY, no_record = 30 * DAY }, freshness.parse("30"))
    assert.are.same({ consistent = 30 * DAY, inconsistent = 7 * DAY, no_record = DAY }, freshness.parse(nil))
    assert.are.same({ consistent = 10 * DAY, inconsistent = 7 * DAY, no_record = DAY / 2 },
                    freshness.parse("consistent=10, no_record=0.5"))
    assert.are.same({ consistent = 0, inconsistent = 0, no_record = 0 }, freshness.parse("0"))
  end)

  it("gives ages from nil, seconds, or seconds by outcome over the defaults; false or 0 is never", function()
    assert.are.same(freshness.DEFAULT, freshness.ages(nil))
    assert.is_false(rawequal(freshness.DEFAULT, freshness.ages(nil)))     -- a copy
    assert.are.same({ consistent = 60, inconsistent = 60, no_record = 60 }, freshness.ages(60))
    assert.are.same({ consistent = 0, inconsistent = 7 * DAY, no_record = 0 },
                    freshness.ages({ consistent = false, no_record = 0 }))
    for _, case in ipairs{ { { consistant = 1 },
                             "ttl.consistant: no such outcome (consistent, inconsistent, no_record)" },
                           { { consistent = -1 }, "ttl.consistent: seconds (>= 0) or false" },
                           { { consistent = true }, "ttl.consistent: seconds (>= 0) or false" },
                           { { consistent = 0 / 0 }, "ttl.consistent: seconds (>= 0) or false" },
                           { { 5 }, "ttl.1: no such outcome" },
                           { -5, "ttl: seconds (>= 0)" }, { 0 / 0, "ttl: seconds (>= 0)" },
                           { "30", "ttl: seconds (>= 0)" }, { false, "ttl: seconds (>= 0)" } } do
      local spec, why = case[1], case[2]
      local ages, err = freshness.ages(spec, "ttl")
      assert.is_nil(ages, why)
      assert.are.equal("string", type(err))
      assert.matches(why, err, 1, true)
    end
  end)

  it("refuses what is not an outcome or not a number of days", function()
    for text, why in pairs{ ["transport=3"] = "no outcome 'transport'", ["possibly_charged=1"] = "never reused",
                            ["consistent=x"] = "not a number of days", ["thirty"] = "one age in days",
                            ["-3"] = "one age in days", ["consistent=30,"] = "one age in days" } do
      local ages, err = freshness.parse(text)
      assert.is_nil(ages, text)
      assert.matches(why, err, 1, true)
    end
  end)

  it("reuses only consistent, inconsistent and no_record answers", function()
    assert.are.equal("consistent", freshness.outcome{ code = 0, class = "ok", status = "一致" })
    assert.are.equal("inconsistent", freshness.outcome{ code = 0, class = "ok", status = "不一致" })
    assert.are.equal("no_record", freshness.outcome{ code = -4, class = "no_record" })
    assert.is_nil(freshness.outcome{ code = 0, class = "ok", status = "未知" })
    assert.is_nil(freshness.outcome{ code = -3, class = "input" })
    assert.is_nil(freshness.outcome{ code = -5, class = "account" })
    assert.is_nil(freshness.outcome{ class = "transport", possibly_charged = true })
    assert.is_nil(freshness.outcome{ code = 0, class = "ok", status = "一致", possibly_charged = true })
  end)
end)

describe("journal:reuse_from by outcome", function()
  local s, old
  -- consistent, inconsistent, no record, and -2 (sent as is: a cleaner that keeps everything)
  local PEOPLE = { { "13972565391", "张三" }, { "13972565391", "李四" }, { "13900000001", "某某" },
                   { "1390000000", "短号" } }
  local KEEP = { record = function() return true end }

  local function tmppath()
    local p = os.tmpname()
    os.remove(p)
    return p .. ".sqlite"
  end
  local function remove(path)
    for _, f in ipairs{ path, path .. "-wal", path .. "-shm", path .. ".key", path .. ".lock" } do os.remove(f) end
  end
  local function records()
    local out = {}
    for i, p in ipairs(PEOPLE) do out[i] = { seq = i, mobile = p[1], name = p[2] } end
    return out
  end
  local function sinks()
    local function sk() return { write = function() end } end
    return { consistent = sk(), inconsistent = sk(), invalid = sk(), unverified = sk() }
  end
  local function sql(path, text)
    local db = require("qxt.sqlite.core").open(path)
    local rows = db:prepare(text):all()
    db:close()
    return rows
  end
  -- A run reusing `old` with max_age; returns the queries it sent and its journal's path.
  local function replay(max_age)
    s:reset()
    local path = tmppath()
    local j = assert(journal.open(path))
    assert(j:reuse_from(old, max_age))
    qxt.flow{ source = records(), sinks = sinks(), journal = j, clean = KEEP, quiet = true,
              verify = { endpoint = s.endpoint } }
    j:close()
    return s:stats(), path
  end

  setup(function()
    s = sim.start()
    old = tmppath()
    qxt.flow{ source = records(), sinks = sinks(), journal = old, clean = KEEP, quiet = true,
              verify = { endpoint = s.endpoint } }
    local classes = {}
    for _, row in ipairs(sql(old, "SELECT class FROM answers ORDER BY seq")) do classes[#classes + 1] = row.class end
    assert.are.same({ "ok", "ok", "no_record", "input" }, classes)
    sql(old, "UPDATE answers SET at = at - " .. 3 * DAY)      -- answered three days ago
  end)
  teardown(function()
    s:stop()
    remove(old)
  end)

  it("takes the serve cache's ages by default: 3-day-old consistent and inconsistent, not no_record", function()
    local stats, path = replay(nil)
    assert.are.equal(2, stats.requests)
    assert.are.equal(1, stats.pairs["13900000001,某某"])
    assert.are.equal(1, stats.pairs["1390000000,短号"])            -- input codes are never reused
    -- reused answers keep their own time: reusing them again does not make them younger
    local rows = sql(path, "SELECT seq, at FROM answers ORDER BY seq")
    assert.is_true(rows[1].at <= os.time() - 3 * DAY + 60)
    assert.is_true(rows[3].at >= os.time() - 60)
    remove(path)
  end)

  it("takes one age per outcome, the others keeping their defaults", function()
    local stats, path = replay{ inconsistent = 2 * DAY, no_record = 5 * DAY }
    assert.are.equal(2, stats.requests)
    assert.are.equal(1, stats.pairs["13972565391,李四"])
    assert.are.equal(1, stats.pairs["1390000000,短号"])
    remove(path)
  end)

  it("takes one age for every outcome", function()
    local stats, path = replay(DAY)
    assert.are.equal(4, stats.requests)
    remove(path)
    stats, path = replay(4 * DAY)
    assert.are.equal(1, stats.requests)
    remove(path)
  end)

  it("takes false for an outcome as never, as 0 is (and as the serve cache takes it)", function()
    for _, never in ipairs{ false, 0 } do
      local stats, path = replay{ consistent = never }
      assert.are.equal(3, stats.requests)
      assert.are.equal(1, stats.pairs["13972565391,张三"])
      assert.is_nil(stats.pairs["13972565391,李四"])              -- inconsistent: 7 days, the default
      remove(path)
    end
  end)

  it("refuses an age for what is not an outcome, or that is not seconds, naming it", function()
    for max_age, why in pairs{ [{ consistant = 0 }] = "max_age.consistant: no such outcome",
                               [{ consistent = "30" }] = "max_age.consistent: seconds (>= 0) or false",
                               [{ no_record = -1 }] = "max_age.no_record: seconds (>= 0) or false",
                               [-1] = "max_age: seconds (>= 0)" } do
      local path = tmppath()
      local j = assert(journal.open(path))
      local ok, err = j:reuse_from(old, max_age)
      j:close()
      remove(path)
      assert.is_nil(ok, why)
      assert.matches(why, err, 1, true)
    end
  end)

  it("false takes every answer kept, at any age (an offline replay)", function()
    local stats, path = replay(false)
    assert.are.equal(0, stats.requests)
    remove(path)
  end)

  it("never takes an older answer that a newer one replaced", function()
    -- 张三: consistent 10 days ago (fresh for 30), then no record 2 days ago (stale after 1)
    sql(old, "UPDATE answers SET at = at - " .. 7 * DAY .. " WHERE seq = 1")
    sql(old, "INSERT INTO answers (seq, pair, code, class, reason, attempts, at) SELECT 99, pair, -4, 'no_record', "
             .. "'', 1, " .. (os.time() - 2 * DAY) .. " FROM answers WHERE seq = 1")
    local stats, path = replay(nil)
    assert.are.equal(1, stats.pairs["13972565391,张三"])
    remove(path)
    sql(old, "DELETE FROM answers WHERE seq = 99")
  end)
end)
