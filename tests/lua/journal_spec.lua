-- qxt.journal and qxt.flow{ journal = ... } inside the real engine, against
-- simulators: answers are committed before rows are released, a second run
-- on the same journal asks the provider only for what is new, the journal
-- knows records by position and keyed hash only, and refuses what it must.
local journal = require("qxt.journal")
local sim = require("tests.helpers.sim")

local function tmppath()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".sqlite"
end

local function remove(path)
  for _, f in ipairs{ path, path .. "-wal", path .. "-shm", path .. ".key" } do os.remove(f) end
end

local function memsink(log)
  return { rows = {}, write = function(self, rec, r)
    if log then log[#log + 1] = rec.seq end
    self.rows[#self.rows + 1] = { rec = rec, r = r }
  end }
end

local function sinks(log)
  return { consistent = memsink(log), inconsistent = memsink(log), invalid = memsink(log),
           unverified = memsink(log) }
end

local PEOPLE = { { "13972565391", "张三" }, { "18819079212", "曹操" }, { "13800138000", "李四" },
                 { "13912345678", "王五" }, { "15601234567", "赵六" }, { "13900000001", "某某" },
                 { "12345", "坏号" }, { "13972565391", "张三" }, { "18612345678", "错名" } }

local function records()
  local out = {}
  for i, p in ipairs(PEOPLE) do out[i] = { seq = i, mobile = p[1], name = p[2], fields = { id = i } } end
  return out
end

local function count(all)
  local n = 0
  for _, s in pairs(all) do n = n + #s.rows end
  return n
end

describe("qxt.journal", function()
  local path
  before_each(function() path = tmppath() end)
  after_each(function() remove(path) end)

  it("creates a private journal and a separate private key", function()
    local j = assert(journal.open(path, { flow = "f" }))
    j:close()
    for _, f in ipairs{ path, path .. ".key" } do
      local p = io.popen("stat -c %a " .. f)
      assert.are.equal("600", p:read("l"))
      p:close()
    end
    assert.are.equal(32, #sim.read_file(path .. ".key"))
  end)

  it("knows a record by position and by keyed pair hash, never by its text", function()
    local j = assert(journal.open(path))
    local rec = { seq = 7, mobile = "13972565391", name = "张三" }
    local t = qxt.spawn(function()
      j:commit(rec, { code = 0, class = "ok", reason = "Succ", status = "一致", area = "湖北-宜昌",
                      isp = "中国电信", attempts = 2 }, "consistent", "consistent")
    end)
    assert.is_true(qxt.wait(t) == nil and t:status() == "done")
    j:close()
    local k = assert(journal.open(path, { resume = true }))
    local r, dup = k:lookup(rec)
    assert.are.equal(0, r.code)
    assert.is_true(r.consistent)
    assert.are.equal("湖北", r.province)
    assert.are.equal("宜昌", r.city)
    assert.are.equal(2, r.attempts)
    assert.is_false(dup)
    r, dup = k:lookup({ seq = 99, mobile = "13972565391", name = "张三" })
    assert.are.equal("中国电信", r.isp)
    assert.is_true(dup)
    assert.is_nil(k:lookup({ seq = 98, mobile = "13972565391", name = "张四" }))
    assert.has_error(function() k:lookup({ seq = 7, mobile = "13972565392", name = "张三" }) end)
    k:close()
    local bytes = sim.read_file(path)
    assert.is_nil(bytes:find("13972565391", 1, true))
    assert.is_nil(bytes:find("张三", 1, true))
  end)

  it("hashes a pair as the first 128 bits of HMAC-SHA256 under the journal's key", function()
    local core = require("qxt.crypto")
    local key = core.random(32)
    local h = core.pair_hasher(key)
    for _, msg in ipairs{ "13972565391\0张三", "", ("x"):rep(10000) } do
      assert.are.equal(core.hex(core.hmac(key, msg):sub(1, 16)), h(msg))
    end
    assert.are_not.equal(h("a"), core.pair_hasher(core.random(32))("a"))
    -- RFC 4231 test case 2: key "Jefe"
    assert.are.equal("5bdcc146bf60754e6a042426089575c7",
                     core.pair_hasher("Jefe")("what do ya want for nothing?"))
  end)

  it("refuses a second run on the same journal at once", function()
    local j = assert(journal.open(path))
    local k, err = journal.open(path, { resume = true })
    assert.is_nil(k)
    assert.matches("in use by another run %(pid %d+%)", err)
    j:close()
  end)

  it("purges journals not written for N days, with their keys, and nothing else", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. "/run1 " .. dir .. "/run2"))
    for _, run in ipairs{ "run1", "run2" } do assert(journal.open(dir .. "/" .. run .. "/journal.sqlite")):close() end
    local other = io.open(dir .. "/run1/results.sqlite", "w")
    other:close()
    os.execute("touch -d '10 days ago' " .. dir .. "/run1/journal.sqlite " .. dir .. "/run1/results.sqlite")
    assert.are.same({}, journal.purge(dir, 30))
    assert.are.same({ dir .. "/run1/journal.sqlite" }, journal.purge(dir, 5, true))
    assert.is_not_nil(sim.read_file(dir .. "/run1/journal.sqlite"))
    assert.are.same({ dir .. "/run1/journal.sqlite" }, journal.purge(dir, 5))
    assert.is_nil(sim.read_file(dir .. "/run1/journal.sqlite"))
    assert.is_nil(sim.read_file(dir .. "/run1/journal.sqlite.key"))
    assert.is_not_nil(sim.read_file(dir .. "/run1/results.sqlite"))
    assert.is_not_nil(sim.read_file(dir .. "/run2/journal.sqlite"))
    os.execute("rm -rf " .. dir)
  end)

  it("keeps only the provider's answers, not halts, -8 or transport failures", function()
    assert.is_true(journal.is_answer({ code = 0, class = "ok" }))
    assert.is_true(journal.is_answer({ code = -4, class = "no_record" }))
    assert.is_true(journal.is_answer({ code = -3, class = "input" }))
    assert.is_false(journal.is_answer({ code = -5, class = "account" }))
    assert.is_false(journal.is_answer({ code = -8, class = "transient" }))
    assert.is_false(journal.is_answer({ class = "transport" }))
    assert.is_false(journal.is_answer({ class = "unsent" }))
  end)
end)

describe("qxt.flow with a journal", function()
  local path, s
  before_each(function()
    path = tmppath()
    s = sim.start{}
  end)
  after_each(function()
    s:stop()
    remove(path)
  end)

  it("asks again only for what the journal has no answer for", function()
    local log = {}
    local first = sinks(log)
    local summary = qxt.flow{ source = records(), sinks = first, journal = path, quiet = true,
                              verify = { endpoint = s.endpoint } }
    assert.are.equal(0, summary.exit_status)
    assert.are.equal(#PEOPLE, count(first))
    local sent = s:stats().requests
    assert.are.equal(7, sent)                  -- 9 rows, one invalid, one duplicate pair
    s:reset()
    local again = sinks()
    summary = qxt.flow{ source = records(), sinks = again, journal = path, quiet = true,
                        verify = { endpoint = s.endpoint } }
    assert.are.equal(0, s:stats().requests)
    assert.are.equal(#PEOPLE, count(again))
    assert.are.equal(7, summary.resumed)
    assert.are.equal(0, summary.possibly_charged_twice)
    for name, sk in pairs(first) do
      for i, row in ipairs(sk.rows) do
        assert.are.equal(row.r.code, again[name].rows[i] and again[name].rows[i].r.code)
      end
    end
  end)

  it("reuses an earlier journal's answers younger than max_age, only when asked", function()
    qxt.flow{ source = records(), sinks = sinks(), journal = path, quiet = true, verify = { endpoint = s.endpoint } }
    s:reset()
    local second = tmppath()
    local j = assert(journal.open(second))
    assert(j:reuse_from(path, 3600))
    local summary = qxt.flow{ source = records(), sinks = sinks(), journal = j, quiet = true,
                              verify = { endpoint = s.endpoint } }
    j:close()
    assert.are.equal(0, s:stats().requests)
    assert.is_true(summary.reused >= 7)
    -- now in the second journal itself: its own resume needs no other
    local k = assert(journal.open(second, { resume = true }))
    assert.are.equal(7, k.answered)
    k:close()
    remove(second)
    -- answers older than max_age are asked again
    local db = require("qxt.sqlite.core").open(path)
    db:exec("UPDATE answers SET at = at - 7200")
    db:close()
    local third = tmppath()
    j = assert(journal.open(third))
    assert(j:reuse_from(path, 3600))
    summary = qxt.flow{ source = records(), sinks = sinks(), journal = j, quiet = true,
                        verify = { endpoint = s.endpoint } }
    j:close()
    remove(third)
    assert.are.equal(0, summary.reused)
    assert.are.equal(7, s:stats().requests)
  end)

  it("commits each answer before its row is released, and a halt is not an answer", function()
    local poor = sim.start{ "--apikey", os.getenv("QXTV_TEST_APIKEY") .. ":2" }
    local j = assert(journal.open(path))
    local released = {}
    local out = sinks()
    for _, sk in pairs(out) do
      local write = sk.write
      sk.write = function(self, rec, r)
        if r.code == 0 and not r.duplicate then
          -- durable already: the journal has it
          released[#released + 1] = rec.seq
          assert.is_truthy(j.st.by_seq:first(rec.seq))
        end
        return write(self, rec, r)
      end
    end
    local summary = qxt.flow{ source = records(), sinks = out, journal = j, quiet = true, concurrency = 1,
                              verify = { endpoint = poor.endpoint } }
    poor:stop()
    qxt.exit_status(0)
    assert.are.equal(3, summary.exit_status)
    assert.are.equal(2, #released)
    assert.are.equal(2, j.answered)
    j:close()
  end)
end)
