-- The operator's tools, run as subprocesses: qxtv repl, qxtv new, the HTML
-- report (rendered by a real headless Chromium), and qxtv report.
local sim = require("tests.helpers.sim")

local qxtv = sim.qxtv()

local tmpdir = sim.tmpdir

describe("qxtv repl", function()
  it("evaluates lines and prints verify() results as tables", function()
    local input = os.tmpname()
    local f = assert(io.open(input, "w"))
    f:write('verify("13972565391", "张三")\n', 'for i = 1,\n 2 do print("loop", i) end\n',
            'error("oops")\n', '{ verify("13900000004", "王五") }\n')
    f:close()
    local out, err, status = sim.run(qxtv .. " repl < " .. input)
    os.remove(input)
    assert.are.equal(0, status)
    assert.matches("mobile%s+name%s+code%s+class%s+status", out)
    assert.matches("13972565391%s+张三%s+0%s+ok%s+一致", out)
    assert.matches("loop\t2", out)                          -- a statement over two lines
    assert.matches("13900000004%s+王五%s+%-4%s+no_record", out)
    assert.matches("oops", err)                               -- an error does not end the session
  end)
end)

describe("qxtv repl on a terminal", function()
  it("edits a UTF-8 line on a pty and prints the answer as a table", function()
    local input, log = os.tmpname(), os.tmpname()
    local f = assert(io.open(input, "w"))
    -- The session ends by a statement, not by the end of input: script(1)
    -- sends ^D when its input ends, and a ^D that reaches the pty before
    -- the line editor takes the terminal is lost with the mode switch, so
    -- the repl would wait for ever (seen under load).
    f:write('verify("13972565391", "张三")\n', 'os.exit(0)\n')
    f:close()
    local _, err, status = sim.run(("script -qfec %s %s < %s"):format(sim.quote(qxtv .. " repl"), log, input))
    local typed = sim.read_file(log)
    os.remove(input); os.remove(log)
    assert.are.equal(0, status, err)
    assert.matches("qxt> ", typed)
    assert.matches("13972565391%s+张三%s+0%s+ok%s+一致", typed)
  end)
end)

describe("qxtv new", function()
  it("writes a starter flow that runs as is against the simulator, and never overwrites", function()
    local dir = tmpdir()
    local _, err, status = sim.run("cd " .. dir .. " && " .. qxtv .. " new first_flow")
    assert.are.equal(0, status, err)
    local out
    out, err, status = sim.run("cd " .. dir .. " && " .. qxtv .. " run first_flow.lua")
    assert.are.equal(0, status, err)
    assert.matches("consistent%s+1", out)
    assert.is_not_nil(sim.read_file(dir .. "/out-first_flow/review.csv"))
    assert.is_not_nil(sim.read_file(dir .. "/out-first_flow/report.html"))
    _, _, status = sim.run("cd " .. dir .. " && " .. qxtv .. " new first_flow")
    assert.are.equal(1, status)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("the HTML report", function()
  local dir, html
  setup(function()
    dir = tmpdir()
    local s = sim.start{ "--people", "scripts/data/people.csv", "--latency", "20ms", "--fail-rate", "0.2" }
    local _, err, status = sim.run(("%s run scripts/verify_csv.lua scripts/data/applicants.csv --out %s "
      .. "--report %s/report.html --quiet"):format(qxtv, dir, dir), { QXT_ENDPOINT = s.endpoint })
    s:stop()
    assert.are.equal(0, status, err)
    html = sim.read_file(dir .. "/report.html")
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("is one self-contained page: charts as inline SVG, no script, no network", function()
    local charts = 0
    for _ in html:gmatch('<figure class="chart"') do charts = charts + 1 end
    assert.are.equal(8, charts)
    assert.is_nil(html:find("<script", 1, true))
    -- Nothing to fetch: no sources, links, imports or CSS urls (the only
    -- URL is the SVG namespace name, which is never fetched).
    for _, needle in ipairs{ "src=", "href=", "<link", "@import", "url(" } do
      assert.is_nil(html:find(needle, 1, true), needle)
    end
    assert.matches("中国移动", html)
  end)

  it("can be made again from summary.json with qxtv report", function()
    local out, err, status = sim.run(qxtv .. " report " .. dir .. "/summary.json " .. dir .. "/again.html")
    assert.are.equal(0, status, err)
    assert.matches("again.html", out)
    local again = sim.read_file(dir .. "/again.html")
    local function bars(h) local n = 0; for _ in h:gmatch('class="bar"') do n = n + 1 end; return n end
    assert.are.equal(bars(html), bars(again))
    local _, _, bad = sim.run(qxtv .. " report " .. dir .. "/consistent.csv")
    assert.are.equal(2, bad)
  end)

  it("renders in headless Chromium: bars drawn, page not blank", function()
    local flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run " ..
                  "--disable-background-networking --disable-component-update --disable-sync " ..
                  "--user-data-dir=" .. dir .. "/chromium"
    local url = "file://" .. dir .. "/report.html"
    local dom = sim.run("chromium " .. flags .. " --dump-dom " .. url)
    local bars = 0
    for _ in dom:gmatch('<rect class="bar"') do bars = bars + 1 end
    assert.is_true(bars >= 15, bars .. " bars in the rendered DOM")
    local _, err = sim.run("chromium " .. flags .. " --window-size=1400,2000 --screenshot=" ..
                           dir .. "/report.png " .. url)
    assert.is_not_nil(sim.read_file(dir .. "/report.png"), err)
    -- A blank page has one colour; the charts bring their palette.
    local colours = sim.run("convert " .. dir .. "/report.png -format %k info:")
    assert.is_true(tonumber(colours) > 50, "only " .. tostring(colours) .. " colours")
    -- The outcome colours themselves are on the screen.
    local green = sim.run("convert " .. dir .. "/report.png -fill black +opaque '#2e7d32' " ..
                          "-format '%[fx:mean*w*h]' info:")
    assert.is_true(tonumber(green) > 100, "consistent bar pixels: " .. tostring(green))
  end)
end)
