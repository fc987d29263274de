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
