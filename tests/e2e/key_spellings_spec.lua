-- The apikey in another spelling: a server that sends back the key it was
-- given JSON-escaped (\u0051...), percent-encoded (upper, lower and mixed
-- hex case), base64 and base64url at each alignment, as hex, in upper
-- case, in the reason, in every result field, in extra fields, and in a
-- body that is not JSON (tests/drills/drill_server echo-encoded and
-- echo-text). Everything qxtv then writes or prints -- check's output
-- (text and --json), a flow's stdout and stderr, every sink, summary.json,
-- the report and the journal's bytes -- is searched with
-- tests/helpers/spellings.lua, which decodes all it can.
local cjson = require("cjson")
local sim = require("tests.helpers.sim")
local spellings = require("tests.helpers.spellings")

local KEY = "Qx7pT2mZ9vL4rW8nC6yB1dF5hJ3kS0aE"
local INPUT = "scripts/data/applicants.csv"
local DRILL = sim.qxtv():gsub("/[^/]*$", "") .. "/tests/drill_server"

local tmpdir = sim.tmpdir

local files_under = require("tests.helpers.runs").files

-- Starts drill_server MODE; returns its endpoint and a stop function.
local function drill(mode, dir)
  assert(os.execute(("%s %s --port-file %s/%s.port >/dev/null 2>&1 & echo $! >%s/%s.pid")
    :format(DRILL, mode, dir, mode, dir, mode)))
  local port
  for _ = 1, 200 do
    port = (sim.read_file(dir .. "/" .. mode .. ".port") or ""):match("%d+")
    if port then break end
    qxt.sleep(0.02)
  end
  assert(port, "drill_server did not start")
  local pid = sim.read_file(dir .. "/" .. mode .. ".pid"):match("%d+")
  return "http://127.0.0.1:" .. port .. "/Phone_TwoElements", function()
    os.execute("pkill -P " .. pid .. " 2>/dev/null; kill " .. pid .. " 2>/dev/null")
  end
end

-- POSTs a query as qxtv would, with curl: the server's body as it came.
local function fetch(endpoint)
  local p = io.popen(("curl -s --data 'apikey=%s&mobile=13972565391&name=%%E5%%BC%%A0%%E4%%B8%%89' %s")
    :format(KEY, endpoint))
  local body = p:read("a")
  p:close()
  return body
end

describe("the apikey spelled another way by a server", function()
  local work, json_ep, text_ep, stops, outputs

  local function collect(label, text) outputs[#outputs + 1] = { label = label, text = text or "" } end

  setup(function()
    work, outputs, stops = tmpdir(), {}, {}
    local stop
    json_ep, stop = drill("echo-encoded", work)
    stops[#stops + 1] = stop
    text_ep, stop = drill("echo-text", work)
    stops[#stops + 1] = stop
    local env = { QXT_APIKEY = KEY }
    for _, case in ipairs{ { "json", json_ep }, { "text", text_ep } } do
      local name, ep = case[1], case[2]
      local out, err = sim.run(("%s run scripts/verify_csv.lua %s --out %s/%s --report %s/%s/report.html")
        :format(sim.qxtv(), INPUT, work, name, work, name), { QXT_ENDPOINT = ep, QXT_APIKEY = KEY })
      collect(name .. " flow stdout", out)
      collect(name .. " flow stderr", err)
      for _, fmt in ipairs{ "", "--json" } do
        out, err = sim.run(("%s check %s --debug --endpoint %s 13972565391 张三"):format(sim.qxtv(), fmt, ep), env)
        collect(name .. " check " .. fmt .. " stdout", out)
        collect(name .. " check " .. fmt .. " stderr", err)
      end
    end
  end)

  teardown(function()
    for _, stop in ipairs(stops) do stop() end
    os.execute("rm -rf " .. work)
  end)

  it("the echoing server does send the key back in each spelling (the search finds each)", function()
    local body = fetch(json_ep)
    local n = 0
    -- Each blank-separated piece of the reason is one spelling.
    for piece in cjson.decode(body).reason:gmatch("%S+") do
      n = n + 1
      assert.is_not_nil(spellings.find(piece, KEY), "no key found in " .. piece)
    end
    assert.are.equal(14, n)
    local text = fetch(text_ep)
    assert.is_nil(pcall(cjson.decode, text) and true or nil)
    n = 0
    for piece in text:match("in (.*)</pre>"):gmatch("%S+") do
      n = n + 1
      assert.is_not_nil(spellings.find(piece, KEY), "no key found in " .. piece)
    end
    assert.are.equal(13, n)
  end)

  it("wrote the outputs the search is about", function()
    local names = {}
    for _, path in ipairs(files_under(work .. "/json")) do names[path:match("[^/]+$")] = true end
    for _, want in ipairs{ "summary.json", "report.html", "journal.sqlite" } do
      assert.is_true(names[want] == true, want .. " was not written")
    end
    local all = ""
    for _, path in ipairs(files_under(work .. "/json")) do all = all .. sim.read_file(path) end
    -- The echo reached the sinks and the journal, masked, not dropped.
    assert.matches("pU:%*%*%*", all)
    assert.matches("b0:%*%*%*", all)
  end)

  it("no spelling of the key in check's output, a flow's streams, any sink, summary, report or journal",
    function()
    local all = {}
    for _, o in ipairs(outputs) do all[#all + 1] = o end
    for _, path in ipairs(files_under(work)) do
      if not path:match("%.port$") and not path:match("%.pid$") then
        all[#all + 1] = { label = path, text = sim.read_file(path) }
      end
    end
    assert.is_true(#all >= 20, #all .. " outputs")
    for _, o in ipairs(all) do
      local how = spellings.find(o.text, KEY)
      assert.is_nil(how, ("the apikey is in %s (%s)"):format(o.label, tostring(how)))
    end
  end)

  it("an error a script raises goes out with the key masked, in any spelling", function()
    local pct = KEY:gsub(".", function(c) return ("%%%02x"):format(c:byte()) end)
    local b64 = "UXg3cFQybVo5dkw0clc4bkM2eUIxZEY1aEoza1MwYUU"
    local _, err, status = sim.run(("%s -e %s"):format(sim.qxtv(),
      sim.quote(("error('%s %s %s')"):format(KEY:lower(), pct, b64))), { QXT_APIKEY = KEY })
    assert.are.equal(1, status)
    assert.matches("%(command line%):1: %*+ %*+ %*+", err)
    assert.is_nil(spellings.find(err, KEY))
  end)

  it("raw is the decoded answer encoded again with every string masked, or a summary for non-JSON", function()
    local out = sim.run(("%s check --json --endpoint %s 13972565391 张三"):format(sim.qxtv(), json_ep),
      { QXT_APIKEY = KEY })
    local r = cjson.decode(out)
    local raw = cjson.decode(r.raw)
    assert.are.equal(0, raw.code)
    assert.are.equal("13972565391", raw.result.Mobile)
    assert.matches("^u:%*+ um:%*+", raw.reason)
    assert.are.equal(raw.reason, r.reason)
    assert.are.equal(raw.result.Status, r.status)
    out = sim.run(("%s check --json --endpoint %s 13972565391 张三"):format(sim.qxtv(), text_ep),
      { QXT_APIKEY = KEY })
    r = cjson.decode(out)
    assert.are.equal("transport", r.class)
    assert.is_nil(r.raw:find("<html>", 1, true))
    assert.matches("not JSON", r.raw)
  end)
end)
