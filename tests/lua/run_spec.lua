-- qxt.run: a flow's run as an object, phase by phase. Rows that are
-- rejected before any query need no provider: these runs send nothing.
local run = require("qxt.run")

local function recorder(fail_write, fail_close)
  return {
    rows = {}, closed = 0,
    write = function(self, rec, r)
      if fail_write then return nil, "No space left on device" end
      self.rows[#self.rows + 1] = { rec = rec, r = r }
      return true
    end,
    close = function(self)
      self.closed = self.closed + 1
      if fail_close == "raise" then error("disk gone") end
      if fail_close then return nil, "No space left on device" end
      return true
    end,
  }
end

local function sinks()
  return { consistent = recorder(), inconsistent = recorder(), invalid = recorder(), unverified = recorder() }
end

-- Not mobiles: every row goes to 'invalid' without a query.
local INPUT = { { mobile = "12345", name = "张三" }, { mobile = "abc", name = "李四" } }

describe("qxt.run", function()
  it("without a journal, plugs in hooks that do nothing and loads no journal or signal handling", function()
    local r = run.new{ source = INPUT, sinks = sinks(), quiet = true }
    assert.are.equal(run.no_journal, r.hooks)
    assert.is_nil(r.hooks:lookup(INPUT[1]))
    assert.are.equal(0, r.hooks:charged_before(1))
    assert.is_false(r.hooks:commit(INPUT[1], {}, "invalid", nil, function() error("not called") end))
    local summary = r:go()
    assert.are.equal(0, summary.exit_status)
    assert.are.equal(2, summary.records)
    assert.is_nil(summary.resumed)                   -- journal fields only with a journal
    assert.is_nil(package.loaded["qxt.signal"])
    assert.is_nil(package.loaded["qxt.journal"])
  end)

  it("routes each record in the route phase, naming a sink that is not there", function()
    local r = run.new{ source = INPUT, sinks = { invalid = recorder() }, quiet = true,
                       route = function() return "nowhere" end }
    assert.has_error(function() r:route({ seq = 7 }, { class = "rejected" }) end,
                     "qxt.flow: record 7 was routed to 'nowhere', which is not among the sinks")
  end)

  it("closes every sink when one cannot write or close, and exits 1 (qxt.exit.FAILED)", function()
    local out = sinks()
    out.invalid = recorder(true)
    out.consistent = recorder(false, "raise")
    out.unverified = recorder(false, true)
    local messages = {}
    local summary = run.new{ source = INPUT, sinks = out, concurrency = 1, quiet = true,
                             log = function(m) messages[#messages + 1] = m end }:go()
    for name, s in pairs(out) do assert.are.equal(1, s.closed, name .. " closed " .. s.closed .. " times") end
    assert.are.equal(qxt.exit.FAILED, summary.exit_status)
    assert.matches("stopped on an error", summary.failed)
    local said = table.concat(messages, "\n")
    assert.matches("sink 'consistent': .*disk gone", said)
    assert.matches("sink 'unverified': No space left on device", said)
    qxt.exit_status(0)
  end)

  it("offline, counts every row with no stored answer, also duplicates that waited for such a row", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(qxt.mkdir(dir))
    local old = assert(qxt.journal.open(dir .. "/old.sqlite"))     -- an earlier run that answered nothing
    old:close()
    local j = assert(qxt.journal.open(dir .. "/new.sqlite"))
    assert(j:reuse_from(dir .. "/old.sqlite", false))
    -- the same pair four times, one other pair once: none has a stored answer
    local records = {}
    for i, mobile in ipairs{ "13972565391", "13972565391", "13972565391", "13900000001", "13972565391" } do
      records[i] = { seq = i, mobile = mobile, name = "张三" }
    end
    local out = sinks()
    -- a route that takes its time (it may look something up): rows of the
    -- same pair read meanwhile by the other workers wait for its answer
    local route = function() qxt.sleep(0.01) end
    local summary = run.new{ source = records, sinks = out, journal = j, offline = true, quiet = true,
                             concurrency = 4, route = route }:go()
    j:close()
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, summary.exit_status)
    assert.are.equal(5, #out.unverified.rows)
    for _, row in ipairs(out.unverified.rows) do assert.are.equal("no stored answer", row.r.reason) end
    assert.are.equal(5, summary.classes.unverified)
    assert.are.equal(5, summary.offline.no_stored_answer)
  end)
end)
