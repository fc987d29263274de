-- Secrets and personal data: runs the end-to-end flow (a halt on the
-- balance, faults, a resume, a report, `qxtv check`, a server that echoes
-- the request) with a distinctive apikey, then reads every byte written:
-- standard output and error, the simulator's output and request log, every
-- file in the output directories (CSV sinks, summary.json, report, the
-- journal and its WAL and key files).
--  * The apikey appears nowhere, ever.
--  * Plaintext mobiles and names of the input appear only in the four CSV
--    sinks, which are meant to hold them (and in `qxtv check`'s own answer,
--    printed for the person who asked). Logs, progress, the summary, the
--    report and the journal carry masked forms or nothing.
local clean = require("qxt.step.clean")
local csv = require("qxt.csv")
local mask = require("qxt.mask")
local sim = require("tests.helpers.sim")

local INPUT = "scripts/data/applicants.csv"
local PEOPLE = "scripts/data/people.csv"
local KEY = "Qx7pT2mZ9vL4rW8nC6yB1dF5hJ3kS0aE"        -- 32 characters, nowhere else
local SINKS = { ["consistent.csv"] = true, ["inconsistent.csv"] = true, ["invalid.csv"] = true,
                ["unverified.csv"] = true }

local tmpdir = sim.tmpdir

local files_under = require("tests.helpers.runs").files   -- every regular file under dir

-- The input's mobiles (cleaned, and as typed when that is long enough to
-- identify someone) and names (cleaned and as typed, two characters or
-- more: one character is what a mask keeps).
local function personal_data()
  local needles = {}
  local reader = assert(csv.open(INPUT))
  local map = reader:mapping()
  for row in reader:rows() do
    local m, n = row[map.mobile], row[map.name]
    for _, v in ipairs{ m, clean.mobile(m) or false } do
      if v and #v:gsub("%D", "") >= 7 then needles[v] = "mobile" end
    end
    for _, v in ipairs{ n, clean.name(n) or false } do
      v = v and v:match("^%s*(.-)%s*$")
      if v and (utf8.len(v) or #v) >= 2 then needles[v] = "name" end
    end
  end
  reader:close()
  return needles
end

describe("secrets and personal data in everything the flow writes", function()
  local work, texts, pii

  -- texts: label -> content, for each output stream and file written.
  local function collect(label, content) texts[#texts + 1] = { label = label, text = content or "" } end

  setup(function()
    work = tmpdir()
    texts = {}
    pii = personal_data()
    local keyfile = work .. "/apikey"
    local f = assert(io.open(keyfile, "w"))
    f:write(KEY, "\n")
    f:close()
    os.execute("chmod 600 " .. keyfile)

    -- Run 1: faults, then the balance runs out mid-run (a halt, exit 3).
    local s1 = sim.start{ "--apikey", KEY .. ":25", "--people", PEOPLE, "--log", work .. "/sim1.log",
                          "--fail-rate", "0.2", "--drop-rate", "0.05", "--garbage-rate", "0.05",
                          "--http-error-rate", "0.05", "--seed", "3" }
    local out, err, status = sim.run(("%s run scripts/verify_csv.lua %s --out %s/out --report %s/out/report.html")
      :format(sim.qxtv(), INPUT, work, work), { QXT_ENDPOINT = s1.endpoint, QXT_APIKEY = KEY })
    s1:stop()
    assert.are.equal(3, status, err)
    collect("run 1 stdout", out)
    collect("run 1 stderr", err)
    collect("simulator 1 output", sim.read_file(s1.dir .. "/out"))

    -- Run 2: topped up (a new simulator), resumed, the key from a file.
    local s2 = sim.start{ "--apikey", KEY, "--people", PEOPLE, "--log", work .. "/sim2.log" }
    out, err, status = sim.run(("%s run --apikey-file %s scripts/verify_csv.lua %s --out %s/out --resume")
      :format(sim.qxtv(), keyfile, INPUT, work), { QXT_ENDPOINT = s2.endpoint, QXT_APIKEY = "" })
    assert.are.equal(0, status, err)
    collect("run 2 stdout", out)
    collect("run 2 stderr", err)

    -- qxtv check: an answer, a transport failure, and --debug.
    out, err = sim.run(("%s check --debug --apikey-file %s --endpoint %s 13972565391 张三")
      :format(sim.qxtv(), keyfile, s2.endpoint), { QXT_APIKEY = "" })
    collect("check stderr", err)
    collect("check stdout (apikey only)", out)
    out, err = sim.run(("%s check --json --timeout 1 --endpoint http://127.0.0.1:9/x 13972565391 张三")
      :format(sim.qxtv()), { QXT_APIKEY = KEY })
    collect("check stderr, refused", err)
    collect("check stdout, refused (apikey only)", out)
    s2:stop()
    collect("simulator 2 output", sim.read_file(s2.dir .. "/out"))
  end)

  teardown(function() os.execute("rm -rf " .. work) end)

  it("collected the streams and files of every run", function()
    local files = files_under(work .. "/out")
    local names = {}
    for _, path in ipairs(files) do names[path:match("[^/]+$")] = true end
    for _, want in ipairs{ "consistent.csv", "unverified.csv", "summary.json", "report.html",
                           "journal.sqlite" } do
      assert.is_true(names[want] == true, want .. " was not written")
    end
    assert.is_true(#sim.read_file(work .. "/sim1.log") > 0)
  end)

  it("the apikey appears in no output stream, log, sink, report or journal", function()
    local all = {}
    for _, t in ipairs(texts) do all[#all + 1] = t end
    for _, path in ipairs(files_under(work)) do
      if path ~= work .. "/apikey" then all[#all + 1] = { label = path, text = sim.read_file(path) } end
    end
    assert.is_true(#all > 10)
    for _, t in ipairs(all) do
      assert.is_nil(t.text:find(KEY, 1, true), "the apikey is in " .. t.label)
      assert.is_nil(t.text:find(KEY:sub(5, 28), 1, true), "the middle of the apikey is in " .. t.label)
    end
  end)

  it("plaintext mobiles and names appear only in the CSV sinks", function()
    local n, found = 0, 0
    local sinks = sim.read_file(work .. "/out/consistent.csv") .. sim.read_file(work .. "/out/invalid.csv")
    for needle in pairs(pii) do
      n = n + 1
      if sinks:find(needle, 1, true) then found = found + 1 end
    end
    assert.is_true(n > 50 and found > 20, "the search itself looks wrong")   -- the sinks do hold them
    local checked = 0
    local function scan(label, text)
      checked = checked + 1
      for needle, what in pairs(pii) do
        assert.is_nil(text:find(needle, 1, true), ("a plaintext %s (%s) is in %s"):format(
          what, mask[what](needle), label))
      end
    end
    for _, t in ipairs(texts) do
      if not t.label:find("check stdout", 1, true) then scan(t.label, t.text) end
    end
    for _, path in ipairs(files_under(work)) do
      local base = path:match("[^/]+$")
      if not SINKS[base] and base ~= "apikey" then scan(path, sim.read_file(path)) end
    end
    assert.is_true(checked > 10)
  end)

  it("a server that echoes the request back cannot put the apikey into a result or a sink", function()
    local dir = tmpdir()
    local drill = sim.qxtv():gsub("/[^/]*$", "") .. "/tests/drill_server"
    assert(os.execute(("%s echo --port-file %s/port >/dev/null 2>&1 & echo $! >%s/pid"):format(drill, dir, dir)))
    for _ = 1, 100 do
      if (sim.read_file(dir .. "/port") or ""):match("%d") then break end
      qxt.sleep(0.02)
    end
    local endpoint = "http://127.0.0.1:" .. sim.read_file(dir .. "/port"):match("%d+") .. "/Phone_TwoElements"
    local out, err = sim.run(("%s run scripts/verify_csv.lua %s --out %s/out --quiet --no-journal")
      :format(sim.qxtv(), INPUT, dir), { QXT_ENDPOINT = endpoint, QXT_APIKEY = KEY })
    local jout, jerr = sim.run(("%s check --json --debug --endpoint %s 13972565391 张三")
      :format(sim.qxtv(), endpoint), { QXT_APIKEY = KEY })
    os.execute("kill " .. sim.read_file(dir .. "/pid"):match("%d+"))
    local invalid = sim.read_file(dir .. "/out/invalid.csv")
    assert.matches("you sent apikey=%*+&", invalid)         -- the echo arrived, masked
    for label, text in pairs{ stdout = out, stderr = err, check = jout, check_err = jerr } do
      assert.is_nil(text:find(KEY, 1, true), "the apikey is in " .. label)
    end
    for _, path in ipairs(files_under(dir)) do
      assert.is_nil(sim.read_file(path):find(KEY, 1, true), "the apikey is in " .. path)
    end
    os.execute("rm -rf " .. dir)
  end)
end)
