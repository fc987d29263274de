-- The qxtv command line, run as a subprocess against the simulator
-- (QXT_ENDPOINT/QXT_APIKEY come from tests/with-sim.sh).
local cjson = require("cjson")
local sim = require("tests.helpers.sim")

local KEY = os.getenv("QXTV_TEST_APIKEY")
local qxtv = sim.qxtv()

describe("qxtv check", function()
  it("--json prints the result object of docs/lua-api.md with every field", function()
    local out, err, status = sim.run(qxtv .. " check --json 13972565391 张三")
    assert.are.equal(0, status, err)
    local r = cjson.decode(out)
    assert.are.equal(0, r.code)
    assert.are.equal("ok", r.class)
    assert.is_true(r.consistent)
    assert.are.equal("湖北", r.province)
    for _, k in ipairs{ "code", "reason", "class", "consistent", "status", "area", "province",
                        "city", "isp", "mobile", "name", "latency_ms", "raw" } do
      assert.is_not_nil(r[k], k)
    end
  end)

  it("prints a readable answer and exits 1 without a verdict", function()
    local out, _, status = sim.run(qxtv .. " check 13900000004 赵六")
    assert.are.equal(1, status)
    assert.matches("code%s+%-4", out)
    assert.matches("no_record", out)
  end)

  it("takes options after the command word, and --timeout gives a transport result", function()
    local slow = sim.start{ "--latency", "3s" }
    local out, _, status = sim.run(qxtv .. " check --json --timeout 0.3 --endpoint " .. slow.endpoint ..
                                   " 13972565391 张三")
    slow:stop()
    assert.are.equal(1, status)
    local r = cjson.decode(out)
    assert.are.equal("transport", r.class)
    assert.are.equal(cjson.null, r.code)
    assert.matches("timeout", r.reason)
  end)

  it("refuses to start without an apikey, before sending anything", function()
    local s = sim.start{}
    local _, err, status = sim.run(qxtv .. " check --endpoint " .. s.endpoint .. " 13972565391 张三",
                                   { QXT_APIKEY = "" })
    local stats = s:stats()
    s:stop()
    assert.are.equal(2, status)
    assert.matches("no apikey", err)
    assert.are.equal(0, stats.requests)
  end)

  it("reads the apikey from a file and never prints it", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w")); f:write(KEY, "\n"); f:close()
    os.execute("chmod 600 " .. path)
    local out, err, status = sim.run(qxtv .. " check --json --apikey-file " .. path .. " 13972565391 张三",
                                     { QXT_APIKEY = "" })
    os.remove(path)
    assert.are.equal(0, status, err)
    assert.is_nil((out .. err):find(KEY, 1, true))
  end)

  it("keeps a wrong apikey out of every output, even the error text", function()
    local wrong = "ffffffffffffffffffffffffffffffff"
    local out, err = sim.run(qxtv .. " check --json 13972565391 张三", { QXT_APIKEY = wrong })
    assert.are.equal(-1, cjson.decode(out).code)
    assert.is_nil((out .. err):find(wrong, 1, true))
  end)
end)

describe("qxtv usage", function()
  it("--help and --version exit 0", function()
    local out, _, status = sim.run(qxtv .. " --help")
    assert.are.equal(0, status)
    assert.matches("qxtv run", out)
    out, _, status = sim.run(qxtv .. " --version")
    assert.are.equal(0, status)
    assert.matches("^qxtv %d+%.%d+", out)
  end)

  for _, bad in ipairs{ "", "frobnicate", "run", "check 1", "check --bogus 1 2", "run --timeout x a.lua",
                        "check --endpoint ftp://x/ 1 2", "run --json a.lua", "repl --sandbox" } do
    it("exits 2 with a usage line for: qxtv " .. bad, function()
      local _, err, status = sim.run(qxtv .. " " .. bad)
      assert.are.equal(2, status)
      assert.matches("qxtv", err)
    end)
  end

  it("reports a syntax error with the file and line", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w")); f:write("local x = \n\n = 1\n"); f:close()
    local _, err, status = sim.run(qxtv .. " run " .. path)
    os.remove(path)
    assert.are.equal(1, status)
    assert.matches(path:gsub("%p", "%%%0") .. ":3:", err)
  end)

  it("passes arguments to the script as arg", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w")); f:write("print(#arg, arg[1], arg[2], arg[0] ~= nil)"); f:close()
    local out, _, status = sim.run(qxtv .. " run " .. path .. " a --b")
    os.remove(path)
    assert.are.equal(0, status)
    assert.are.equal("2\ta\t--b\ttrue\n", out)
  end)

  it("runs 500 verifies that overlap (100 ms each: 50 s one after another)", function()
    local s = sim.start{ "--latency", "100ms" }
    local out, err, status = sim.run(qxtv .. " -e " .. sim.quote([[
      local t0 = qxt.now(); local ts = {}
      for i = 1, 500 do ts[i] = qxt.spawn(verify, string.format("139%08d", i), "张三") end
      local rs = qxt.wait(ts)
      local n = 0
      for i = 1, rs.n do if rs[i].code then n = n + 1 end end
      print(n, qxt.now() - t0)]]), { QXT_ENDPOINT = s.endpoint })
    s:stop()
    assert.are.equal(0, status, err)
    local n, took = out:match("^(%d+)\t([%d.e-]+)")
    assert.are.equal("500", n)
    assert.is_true(tonumber(took) < 10, "took " .. took)
  end)
end)
