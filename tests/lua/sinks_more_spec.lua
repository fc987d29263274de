-- The JSON lines and stdout sinks in real flows against the simulator.
local cjson = require("cjson")
local sim = require("tests.helpers.sim")

describe("qxt.sink.jsonl and qxt.sink.stdout", function()
  it("writes one object per record with the input fields and the result", function()
    local path = os.tmpname()
    local sink = qxt.sink.jsonl(path)
    qxt.flow{ source = qxt.source.table{ { mobile = "13972565391", name = "张三", id = "a" },
                                         { mobile = "123", name = "李四", id = "b" } },
              quiet = true, sinks = { consistent = sink, inconsistent = sink, invalid = sink, unverified = sink } }
    local lines = {}
    for line in io.lines(path) do lines[#lines + 1] = cjson.decode(line) end
    os.remove(path)
    table.sort(lines, function(x, y) return x.id < y.id end)
    assert.are.equal(2, #lines)
    assert.are.equal(0, lines[1].code)
    assert.are.equal("一致", lines[1].status)
    assert.are.equal("match", lines[1].rule)
    assert.are.equal("rejected", lines[2].rule)
    assert.matches("digits", lines[2].reason)
  end)

  it("prints to standard output as JSON lines or CSV", function()
    local code = [[
      local fmt = ...
      local sink = qxt.sink.stdout{ format = fmt, columns = { "mobile", "name" } }
      qxt.flow{ source = { { mobile = "13972565391", name = "张三" } }, quiet = true,
                sinks = { consistent = sink, inconsistent = sink, invalid = sink, unverified = sink } }]]
    local out, err, status = sim.run(sim.qxtv() .. " -e " .. sim.quote(code) .. " jsonl")
    assert.are.equal(0, status, err)
    assert.are.equal("一致", cjson.decode(out).status)
    out, err, status = sim.run(sim.qxtv() .. " -e " .. sim.quote(code) .. " csv")
    assert.are.equal(0, status, err)
    assert.matches("^mobile,name,code,reason,status", out)
    assert.matches("13972565391,张三,0,Succ,一致", out)
  end)
end)
