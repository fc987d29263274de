-- Try new rules without paying, end to end: a flow run once against the
-- simulator, replayed --offline with one rule changed (the simulator's
-- /stats show zero queries), and `qxtv diff` reporting exactly the rows the
-- changed rule moves, as a table and as an HTML page rendered by a real
-- headless Chromium.
local cjson = require("cjson")
local sim = require("tests.helpers.sim")
local runs = require("tests.helpers.runs")

-- The simulator's built-in people (docs/simulator.md); 周八 is on a virtual operator.
local PEOPLE = { { "13972565391", "张三" }, { "18819079212", "曹操" }, { "17012345678", "周八" },
                 { "13912345678", "王五" }, { "13972565391", "李四" }, { "13900000001", "某某" },
                 { "12345", "坏号" }, { "19212345678", "马超" } }
local ROWS = 64

local function make_input(dir)
  local lines = { "id,mobile,name" }
  for i = 1, ROWS do
    local p = PEOPLE[(i - 1) % #PEOPLE + 1]
    lines[#lines + 1] = ("A%03d,%s,%s"):format(i, p[1], p[2])
  end
  sim.write_file(dir .. "/in.csv", table.concat(lines, "\n") .. "\n")
  return dir .. "/in.csv"
end

-- A flow with its rules in a file (as the risk team keeps them), a journal,
-- and an optional offline replay of an earlier journal.
local FLOW = [[
local input, out, rules, from = arg[1], arg[2], arg[3], arg[4]
local source = assert(qxt.source.csv(input))
assert(qxt.mkdir(out))
local sinks = {}
for _, d in ipairs{ "approve", "review", "reject", "unverified" } do
  sinks[d] = assert(qxt.sink.csv(out .. "/" .. d .. ".csv", { columns = source:columns() }))
end
local j = assert(qxt.journal.open(out .. "/journal.sqlite", { input = input }))
if from then assert(j:reuse_from(from, false)) end
local summary = qxt.flow{ source = source, sinks = sinks, route = qxt.rules.load(rules), journal = j,
                          offline = from ~= nil, quiet = true }
j:close()
local f = assert(qxt.file.open_private(out .. "/summary.json"))
f:write(summary.json())
f:close()
]]

describe("an offline replay with a changed rule, and qxtv diff", function()
  local dir, s, input
  setup(function()
    dir = runs.tmpdir()
    s = sim.start()
    input = make_input(dir)
    sim.write_file(dir .. "/flow.lua", FLOW)
    local rules = sim.read_file("scripts/rules/kyc_rules.lua")
    sim.write_file(dir .. "/rules_v1.lua", rules)
    -- the one change: a virtual operator is approved instead of reviewed
    local v2, n = rules:gsub('(name = "virtual operator", route = )"review"', '%1"approve"')
    assert(n == 1)
    sim.write_file(dir .. "/rules_v2.lua", v2)
  end)
  teardown(function()
    s:stop()
    os.execute("rm -rf " .. dir)
  end)

  local function run(args)
    return sim.run(("%s run %s/flow.lua %s"):format(sim.qxtv(), dir, args), { QXT_ENDPOINT = s.endpoint })
  end

  it("replays every answer from the journal and sends nothing", function()
    local _, err, status = run(("%s %s/a %s/rules_v1.lua"):format(input, dir, dir))
    assert.are.equal(0, status, err)
    local paid = s:stats().requests
    assert.is_true(paid > 0)
    s:reset()
    _, err, status = run(("%s %s/b %s/rules_v2.lua %s/a/journal.sqlite"):format(input, dir, dir, dir))
    assert.are.equal(0, status, err)
    assert.are.equal(0, s:stats().requests)
    local summary = cjson.decode(sim.read_file(dir .. "/b/summary.json"))
    assert.are.equal(0, summary.offline.no_stored_answer)
    assert.are.equal(0, summary.queries_sent)
    assert.are.equal(ROWS, summary.records)
  end)

  it("diff reports exactly the rows the changed rule moves, masked", function()
    local out, err, status = sim.run(("%s diff %s/a %s/b --html %s/diff.html"):format(sim.qxtv(), dir, dir, dir))
    assert.are.equal(0, status, err)
    -- 周八 (17012345678) is every 8th row, from A003: 8 rows, review -> approve, nothing else
    assert.matches(("%d rows in the same destination, 8 moved"):format(ROWS - 8), out, 1, true)
    assert.matches("review -> approve: 8 row(s)", out, 1, true)
    local moves = 0
    for _ in out:gmatch("\n  [%w_()]+[^\n]* %-> [^\n]*: %d+ row%(s%)") do moves = moves + 1 end
    assert.are.equal(1, moves)
    assert.matches("row 3 170****5678 周*: rule 'virtual operator' -> 'virtual operator'", out, 1, true)
    assert.is_nil(out:find("17012345678", 1, true))
    assert.is_nil(out:find("周八", 1, true))
    -- the same by the input's own key column
    local by_key = sim.run(("%s diff %s/a %s/b --key id"):format(sim.qxtv(), dir, dir))
    assert.matches("review -> approve: 8 row(s)", by_key, 1, true)
    assert.matches("id A003 170****5678", by_key, 1, true)
    -- the matrix: review row, approve column
    local header = out:match("\n(A \\ B[^\n]*)")
    assert.is_not_nil(header)
  end)

  it("diff refuses what is not two output directories (exit 2)", function()
    local _, _, status = sim.run(("%s diff %s/a"):format(sim.qxtv(), dir))
    assert.are.equal(2, status)
    local err
    _, err, status = sim.run(("%s diff %s/a %s/nowhere"):format(sim.qxtv(), dir, dir))
    assert.are.equal(2, status)
    assert.matches("nowhere: not a directory of run outputs", err, 1, true)
    _, err, status = sim.run(("%s diff %s/a %s/b --key nope"):format(sim.qxtv(), dir, dir))
    assert.are.equal(2, status)
    assert.matches("no column 'nope'", err, 1, true)
  end)

  it("writes a page that renders in headless Chromium: the moved cell stands out", function()
    local html = sim.read_file(dir .. "/diff.html")
    assert.is_nil(html:find("<script", 1, true))
    for _, needle in ipairs{ "src=", "href=", "<link", "@import", "url(" } do
      assert.is_nil(html:find(needle, 1, true), needle)
    end
    assert.is_nil(html:find("17012345678", 1, true))
    local flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run " ..
                  "--disable-background-networking --disable-component-update --disable-sync " ..
                  "--user-data-dir=" .. dir .. "/chromium"
    local url = "file://" .. dir .. "/diff.html"
    local dom = sim.run("chromium " .. flags .. " --dump-dom " .. url)
    assert.matches('<td class="n moved" data%-from="review" data%-to="approve">8</td>', dom)
    local moved = 0
    for _ in dom:gmatch('class="n moved"') do moved = moved + 1 end
    assert.are.equal(1, moved)
    local _, err = sim.run("chromium " .. flags .. " --window-size=1000,700 --screenshot=" ..
                           dir .. "/diff.png " .. url)
    assert.is_not_nil(sim.read_file(dir .. "/diff.png"), err)
    local red = sim.run("convert " .. dir .. "/diff.png -fill black +opaque '#c62828' -format '%[fx:mean*w*h]' info:")
    assert.is_true(tonumber(red) > 100, "moved cell pixels: " .. tostring(red))
  end)
end)

describe("scripts/verify_csv.lua --offline", function()
  local dir, s
  setup(function()
    dir = runs.tmpdir()
    s = sim.start()
  end)
  teardown(function()
    s:stop()
    os.execute("rm -rf " .. dir)
  end)

  local function verify_csv(input, out, extra, env)
    return sim.run(("%s run scripts/verify_csv.lua %s --out %s --quiet %s"):format(sim.qxtv(), input, out, extra or ""),
                   env or { QXT_ENDPOINT = s.endpoint })
  end

  it("sends nothing, not even without a key, and counts the rows with no stored answer", function()
    local input = make_input(dir)
    local _, err, status = verify_csv(input, dir .. "/a")
    assert.are.equal(0, status, err)
    -- a new input: the old rows and 10 pairs never asked
    local lines = { (sim.read_file(input):gsub("\n$", "")) }
    for i = 1, 10 do lines[#lines + 1] = ("N%02d,139%08d,新人"):format(i, 1000 + i) end
    sim.write_file(dir .. "/new.csv", table.concat(lines, "\n") .. "\n")
    s:reset()
    _, err, status = verify_csv(dir .. "/new.csv", dir .. "/b", "--offline --reuse-from " .. dir .. "/a/journal.sqlite",
                                { QXT_ENDPOINT = s.endpoint, QXT_APIKEY = "" })
    assert.are.equal(0, status, err)
    assert.are.equal(0, s:stats().requests)
    assert.matches("offline    nothing sent; 10 records with no stored answer", err, 1, true)
    local summary = cjson.decode(sim.read_file(dir .. "/b/summary.json"))
    assert.are.equal(10, summary.offline.no_stored_answer)
    local unanswered = 0
    for _, row in ipairs(runs.read_csv(dir .. "/b/unverified.csv")) do
      if row.reason == "no stored answer" then
        unanswered = unanswered + 1
        assert.matches("^N", row.id)
      end
    end
    assert.are.equal(10, unanswered)
    -- every old row where it was
    local out = sim.run(("%s diff %s/a %s/b --key id"):format(sim.qxtv(), dir, dir))
    assert.matches(("%d rows in the same destination, 10 moved"):format(ROWS), out, 1, true)
    assert.matches("(not in this run) -> unverified: 10 row(s)", out, 1, true)
  end)

  it("replays through --rules: diff shows exactly the rows the rule moves", function()
    sim.write_file(dir .. "/rules.lua", [[
return {
  { name = "virtual operator", route = "unverified",
    when = function(_, r) return r.consistent and r.isp == "虚拟运营商" end },
}
]])
    s:reset()
    local _, err, status = verify_csv(dir .. "/in.csv", dir .. "/r", "--offline --reuse-from " .. dir
                                      .. "/a/journal.sqlite --rules " .. dir .. "/rules.lua")
    assert.are.equal(0, status, err)
    assert.are.equal(0, s:stats().requests)
    local out = sim.run(("%s diff %s/a %s/r"):format(sim.qxtv(), dir, dir))
    assert.matches(("%d rows in the same destination, 8 moved"):format(ROWS - 8), out, 1, true)
    assert.matches("consistent -> unverified: 8 row(s)", out, 1, true)
    assert.matches("row 3 170****5678 周*: rule 'match' -> 'virtual operator'", out, 1, true)
    _, err, status = verify_csv(dir .. "/in.csv", dir .. "/r2", "--rules " .. dir .. "/nowhere.lua")
    assert.are.equal(2, status)
    assert.matches("--rules", err, 1, true)
  end)

  it("diffs a --format xlsx replay against a CSV run: the same rows moved", function()
    s:reset()
    local _, err, status = verify_csv(dir .. "/in.csv", dir .. "/rx", "--offline --reuse-from " .. dir
                                      .. "/a/journal.sqlite --rules " .. dir .. "/rules.lua --format xlsx")
    assert.are.equal(0, status, err)
    assert.are.equal(0, s:stats().requests)
    assert.is_nil(io.open(dir .. "/rx/unverified.csv"))
    local out, derr, dstatus = sim.run(("%s diff %s/a %s/rx"):format(sim.qxtv(), dir, dir))
    assert.are.equal(0, dstatus, derr)
    assert.matches(("%d rows in the same destination, 8 moved"):format(ROWS - 8), out, 1, true)
    assert.matches("consistent -> unverified: 8 row(s)", out, 1, true)
    assert.matches("row 3 170****5678 周*: rule 'match' -> 'virtual operator'", out, 1, true)
    assert.is_nil(out:find("summary", 1, true))
  end)

  it("needs --reuse-from (exit 2, nothing sent)", function()
    s:reset()
    local _, err, status = verify_csv(dir .. "/in.csv", dir .. "/c", "--offline")
    assert.are.equal(2, status)
    assert.matches("--offline takes every answer from --reuse-from", err, 1, true)
    assert.are.equal(0, s:stats().requests)
  end)
end)
