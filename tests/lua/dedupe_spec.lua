-- qxt.dedupe: bounded memory, the same answers from memory or disk, and no
-- plaintext pair on disk.
local dedupe = require("qxt.step.dedupe")
local sim = require("tests.helpers.sim")

describe("qxt.dedupe", function()
  it("answers from memory, then from its private disk store past the limit", function()
    local seen = dedupe.new{ limit = 10 }
    for i = 1, 1000 do
      seen:put(("139%08d\0王%d"):format(i, i), { code = 0, status = "一致", n = i, consistent = true })
    end
    for _, i in ipairs{ 1, 10, 11, 500, 1000 } do
      local a = seen:get(("139%08d\0王%d"):format(i, i))
      assert.are.same({ code = 0, status = "一致", n = i, consistent = true }, a)
    end
    assert.is_nil(seen:get("13900000000\0nobody"))
    assert.are.equal(10, seen.count)
    seen:close()
  end)

  it("writes no mobile and no name to disk, not even inside an answer", function()
    local seen = dedupe.new{ limit = 1, key = ("k"):rep(32) }
    seen:put("first", { code = 0 })
    seen:put("13900000001\0张三", { code = 0, status = "一致", mobile = "13900000001", name = "张三" })
    assert.are.same({ code = 0, status = "一致" }, seen:get("13900000001\0张三"))
    seen:close()
  end)

  it("keeps a flow's duplicates free when they are far apart", function()
    local s = sim.start{}
    local list = {}
    for i = 1, 60 do list[#list + 1] = { mobile = ("139%08d"):format(i), name = "张三" } end
    for i = 1, 60 do list[#list + 1] = { mobile = ("139%08d"):format(i), name = "张三" } end
    local rows, wrong = 0, 0
    local sink = { write = function(_, record, result)
      rows = rows + 1
      -- A duplicate's mobile and name are its own row's (the store keeps neither).
      if result.mobile ~= record.mobile or result.name ~= record.name then wrong = wrong + 1 end
    end }
    local summary = qxt.flow{ source = list, quiet = true, dedupe_memory = 5, verify = { endpoint = s.endpoint },
                              sinks = { consistent = sink, inconsistent = sink, invalid = sink, unverified = sink } }
    local stats = s:stats()
    s:stop()
    assert.are.equal(120, rows)
    assert.are.equal(0, wrong)
    assert.are.equal(60, summary.queries_sent)
    assert.are.equal(60, summary.duplicates)
    assert.are.equal(0, stats.repeated_pairs)
  end)
end)
