-- Input and output integrity, end to end: `qxtv run scripts/verify_csv.lua`
-- against simulators. What is paid for is what the file says (encoding by
-- evidence, no guessed column), a file changing under a run stops it, and
-- an output that cannot be written in full is a failed run naming the file.
local cjson = require("cjson")
local csv = require("qxt.csv")
local iconv = require("qxt.iconv")
local sim = require("tests.helpers.sim")

local OUTCOMES = { "consistent", "inconsistent", "invalid", "unverified" }

local tmpdir = sim.tmpdir

local write_file = sim.write_file

local function read_rows(path)
  -- not the outputs made links to /dev/full below, an endless file
  if not os.execute("test -f " .. path .. " -a ! -L " .. path) then return nil end
  local reader = csv.open(path, { columns = false, encoding = "utf-8" })
  if not reader then return nil end
  local rows = {}
  for row in reader:rows() do rows[#rows + 1] = row end
  return rows
end

local function gb18030(s)
  return (assert(assert(iconv.new("GB18030", "UTF-8")):convert(s)))
end

-- Runs verify_csv on input into dir/out; returns status, stderr, outputs.
local function run_flow(s, input, dir, extra)
  local _, err, status = sim.run(("%s run scripts/verify_csv.lua %s --out %s --quiet %s"):format(
    sim.qxtv(), sim.quote(input), sim.quote(dir .. "/out"), extra or ""), { QXT_ENDPOINT = s.endpoint })
  local outputs = {}
  for _, o in ipairs(OUTCOMES) do outputs[o] = read_rows(dir .. "/out/" .. o .. ".csv") end
  return status, err, outputs
end

-- n people with distinct mobiles and common names of 1 to 4 characters
-- (so that, in UTF-8, many lines hold an odd number of CJK bytes).
local SURNAMES = { "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "欧阳" }
local GIVEN = { "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰" }
local function people(n)
  local list = {}
  for i = 1, n do
    list[i] = { mobile = ("139%08d"):format(i), name = SURNAMES[i % #SURNAMES + 1] .. GIVEN[i % #GIVEN + 1] }
  end
  return list
end

-- The simulator's registry for these people: every right pair is consistent.
local function registry(dir, list)
  local lines = { "mobile,name,area,carrier" }
  for _, p in ipairs(list) do lines[#lines + 1] = p.mobile .. "," .. p.name .. ",广东-深圳,中国移动" end
  write_file(dir .. "/people.csv", table.concat(lines, "\n") .. "\n")
  return dir .. "/people.csv"
end

describe("encoding by evidence", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  it("a UTF-8 file with one bad byte in row 3 stays UTF-8: only that row is rejected, 299 sent", function()
    local list = people(300)
    local lines = { "mobile,name,note" }
    for i, p in ipairs(list) do lines[#lines + 1] = p.mobile .. "," .. p.name .. "," .. (i == 3 and "x\255" or "ok") end
    local text = table.concat(lines, "\n") .. "\n"
    write_file(dir .. "/in.csv", text)
    local s = sim.start{ "--people", registry(dir, list) }
    local status, err, out = run_flow(s, dir .. "/in.csv", dir)
    local stats = s:stats()
    s:stop()
    assert.are.equal(0, status, err)
    assert.are.equal(299, stats.requests)
    assert.are.equal(1, #out.invalid)
    assert.are.equal("3", out.invalid[1].row)
    local offset = text:find("\255", 1, true) - 1
    assert.matches(("row 3 %%(line 4%%) has a byte that is not UTF%%-8 in column 'note' "
      .. "%%(0xFF at byte offset %d "):format(offset), out.invalid[1].reason)
    -- Every name reached the provider as written: all 299 are consistent.
    assert.are.equal(299, #out.consistent)
    assert.are.equal(0, #out.inconsistent)
    assert.matches("read as UTF%-8 %(299 of its 300 lines with non%-ASCII bytes are UTF%-8%)", err)
  end)

  it("a GB18030 export is read as GB18030, even with names whose bytes happen to be UTF-8", function()
    -- GB2312 characters whose two bytes are also a UTF-8 character (lead
    -- C2-DF, trail A1-BF), and two-character names made of them: lines of
    -- this file that are valid UTF-8 by chance.
    local lookalike = {}
    local conv = assert(iconv.new("UTF-8", "GB18030"))
    for lead = 0xC2, 0xD7 do
      for trail = 0xA1, 0xBF, 5 do
        local ch = conv:convert(string.char(lead, trail))
        if ch and utf8.len(string.char(lead, trail)) then lookalike[#lookalike + 1] = ch end
      end
    end
    local list = people(400)
    for i = 1, 400, 8 do         -- one row in 8: 12.5%, about the worst measured by chance
      list[i].name = lookalike[i % #lookalike + 1] .. lookalike[(i * 7) % #lookalike + 1]
    end
    local lines = { "手机号,姓名,备注" }
    for i, p in ipairs(list) do lines[#lines + 1] = p.mobile .. "," .. p.name .. "," .. (i % 8 == 1 and "" or "普通") end
    local gb = gb18030(table.concat(lines, "\r\n") .. "\r\n")
    write_file(dir .. "/in.csv", gb)
    local valid_lines = 0
    for line in gb:gmatch("[^\n]+") do
      if line:find("[\128-\255]") and utf8.len(line) then valid_lines = valid_lines + 1 end
    end
    assert.is_true(valid_lines >= 40, valid_lines .. " lines valid UTF-8")
    local s = sim.start{ "--people", registry(dir, list) }
    local status, err, out = run_flow(s, dir .. "/in.csv", dir)
    local stats = s:stats()
    s:stop()
    assert.are.equal(0, status, err)
    assert.are.equal(400, stats.requests)
    assert.are.equal(400, #out.consistent)
    -- Every note read back as written (rows come out in arrival order).
    for _, row in ipairs(out.consistent) do
      assert.are.equal(tonumber(row.row) % 8 == 1 and "" or "普通", row["备注"], "row " .. row.row)
    end
  end)

  it("tests/data/people_gbk.csv is read as GB18030", function()
    local s = sim.start{}
    local status, err, out = run_flow(s, "tests/data/people_gbk.csv", dir)
    s:stop()
    assert.are.equal(0, status, err)
    local names = {}
    for _, o in ipairs(OUTCOMES) do
      for _, row in ipairs(out[o]) do names[#names + 1] = row.name end
    end
    table.sort(names)
    assert.are.same({ "张三", "欧阳娜娜", "阿依古丽·买买提" }, names)
  end)

  it("a file that is neither stops before the first query, with the line, the offset and the ways out", function()
    local text = "mobile,name\n13900000001,张三\n13900000002,\255\254李四\n13900000003,王五\n"
    write_file(dir .. "/in.csv", text)
    local s = sim.start{}
    local status, err = run_flow(s, dir .. "/in.csv", dir)
    local stats = s:stats()
    s:stop()
    assert.are.equal(2, status)
    assert.are.equal(0, stats.requests)
    local offset = text:find("\255", 1, true) - 1
    assert.matches("in%.csv is neither UTF%-8 nor GB18030: line 3 %(byte offset " .. offset .. "%)", err)
    assert.matches("Fix the file", err)
    assert.matches("%-%-encoding utf%-8", err)
    assert.matches("%-%-encoding gb18030", err)
  end)
end)

describe("the header", function()
  local dir, s
  before_each(function()
    dir = tmpdir()
    s = sim.start{}
  end)
  after_each(function()
    s:stop()
    os.execute("rm -rf " .. dir)
  end)

  it("with both 手机号 and mobile is a usage error naming both, before any query", function()
    write_file(dir .. "/in.csv", "手机号,mobile,姓名\n13972565391,18819079212,张三\n")
    local status, err = run_flow(s, dir .. "/in.csv", dir)
    assert.are.equal(2, status)
    assert.are.equal(0, s:stats().requests)
    assert.matches("'手机号' %(column 1%) and 'mobile' %(column 2%) both look like the mobile column", err)
    assert.matches("%-%-mobile%-column 手机号 or %-%-mobile%-column mobile", err)
    -- Saying which one works, with a repeated column elsewhere in the header.
    write_file(dir .. "/in.csv", "手机号,mobile,姓名,备注,备注\n13972565391,18819079212,张三,a,b\n")
    local status2, err2, out = run_flow(s, dir .. "/in.csv", dir, "--mobile-column 手机号")
    assert.are.equal(0, status2, err2)
    assert.are.equal(1, s:stats().requests)
    assert.are.equal("consistent", #out.consistent == 1 and "consistent" or "other")
  end)

  it("with two name columns is a usage error too", function()
    write_file(dir .. "/in.csv", "mobile,name,姓名\n13972565391,张三,李四\n")
    local status, err = run_flow(s, dir .. "/in.csv", dir)
    assert.are.equal(2, status)
    assert.are.equal(0, s:stats().requests)
    assert.matches("'name' %(column 2%) and '姓名' %(column 3%) both look like the name column", err)
    assert.matches("%-%-name%-column", err)
  end)
end)

describe("an input from a pipe", function()
  it("/dev/stdin is read as CSV from its first byte: nothing is taken from it to tell its format", function()
    local dir = tmpdir()
    local s = sim.start{}
    local cmd = ("printf 'mobile,name\\n13972565391,张三\\n' | %s run scripts/verify_csv.lua /dev/stdin --out %s --quiet")
      :format(sim.qxtv(), sim.quote(dir .. "/out"))
    local _, err, status = sim.run("sh -c " .. sim.quote(cmd), { QXT_ENDPOINT = s.endpoint })
    local stats = s:stats()
    s:stop()
    local consistent = read_rows(dir .. "/out/consistent.csv")
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, status, err)
    assert.are.equal(1, stats.requests)
    assert.are.equal(1, #consistent)
    assert.are.equal("13972565391", consistent[1].mobile)
  end)
end)

describe("an input changing under a run", function()
  it("truncated while it is read: exit 6 naming the file, the rows answered kept", function()
    local dir = tmpdir()
    local lines = { "mobile,name,note" }
    for i = 1, 3000 do lines[#lines + 1] = ("139%08d,张三,%s"):format(i, string.rep("x", 200)) end
    write_file(dir .. "/in.csv", table.concat(lines, "\n") .. "\n")
    -- Slow answers: the run reads its first 64 KiB chunk (about 300 rows)
    -- and needs a minute for 3000 rows; the file is cut after the first
    -- answers, long before the reader reaches its end.
    local s = sim.start{ "--latency", "50ms" }
    -- (every number unknown, -4: --no-thresholds keeps the run going)
    local cmd = ("(%s run scripts/verify_csv.lua %s --out %s --quiet --no-thresholds --concurrency 4 2>%s; "
                 .. "echo $? >%s) &"):format(
      sim.qxtv(), dir .. "/in.csv", dir .. "/out", dir .. "/stderr", dir .. "/status")
    assert(os.execute("QXT_ENDPOINT=" .. sim.quote(s.endpoint) .. " QXT_APIKEY=" .. sim.quote(sim.apikey())
    .. " sh -c " .. sim.quote(cmd)))
    for _ = 1, 500 do
      if s:stats().requests >= 5 then break end
      qxt.sleep(0.02)
    end
    assert(os.execute("truncate -s 20000 " .. dir .. "/in.csv"))
    local status
    for _ = 1, 3000 do
      status = sim.read_file(dir .. "/status")
      if status and status:find("%d") then break end
      qxt.sleep(0.02)
    end
    local err = sim.read_file(dir .. "/stderr")
    local stats = s:stats()
    s:stop()
    assert.are.equal(6, tonumber(status), err)
    assert.matches(dir .. "/in.csv changed while it was read: its end came after 65536 of its %d+ bytes: "
      .. "it was truncated", err)
    local summary_text = sim.read_file(dir .. "/out/summary.json")
    assert.is_not_nil(summary_text)
    local summary = cjson.decode(summary_text)
    assert.matches("truncated", summary.input_error)
    local written = 0
    for _, o in ipairs(OUTCOMES) do written = written + #read_rows(dir .. "/out/" .. o .. ".csv") end
    assert.is_true(written > 0 and written < 3000, written .. " rows written")
    assert.are.equal(written, summary.records)
    -- Every query sent is in an output: nothing paid for was lost.
    assert.are.equal(stats.requests, summary.queries_sent)
    assert.are.equal(stats.requests, written)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("an output that cannot be written in full", function()
  local dir, s
  before_each(function()
    dir = tmpdir()
    s = sim.start{ "--people", "tests/data/hostile/people.csv" }
    assert(os.execute("mkdir -p " .. dir .. "/out"))
  end)
  after_each(function()
    s:stop()
    os.execute("rm -rf " .. dir)
  end)

  -- /dev/full takes the open, then fails every write with ENOSPC: a
  -- write() of a full buffer mid-run, or only the flush at close.
  local function full(name) assert(os.execute(("ln -s /dev/full %s/out/%s"):format(dir, name))) end

  it("a CSV output failing mid-run: exit 1 naming the file", function()
    local lines = { "mobile,name" }
    for _ = 1, 2000 do lines[#lines + 1] = "13972565391,张三" end   -- 2000 consistent rows
    write_file(dir .. "/in.csv", table.concat(lines, "\n") .. "\n")
    full("consistent.csv")
    local status, err = run_flow(s, dir .. "/in.csv", dir, "--no-journal")
    assert.are.equal(1, status, err)
    assert.matches("sink 'consistent' cannot write: " .. dir .. "/out/consistent%.csv: No space left on device", err)
  end)

  it("a CSV output failing only when it is closed: exit 1 naming the file", function()
    full("consistent.csv")
    local status, err = run_flow(s, "tests/data/basic.csv", dir, "--no-journal")
    assert.are.equal(1, status, err)
    assert.matches("sink 'consistent': " .. dir .. "/out/consistent%.csv: No space left on device", err)
    -- The other outputs were closed all the same.
    assert.are.equal(3, #read_rows(dir .. "/out/unverified.csv"))
  end)

  it("summary.json and the report: exit 1 naming each", function()
    full("summary.json")
    full("report.html")
    local status, err = run_flow(s, "tests/data/basic.csv", dir, "--report " .. dir .. "/out/report.html")
    assert.are.equal(1, status, err)
    assert.matches("cannot write " .. dir .. "/out/summary%.json: No space left on device", err)
    assert.matches("cannot write " .. dir .. "/out/report%.html: No space left on device", err)
    -- `qxtv report` too: the page is written with one write, then closed.
    write_file(dir .. "/summary.json", cjson.encode{ records = 0, outcomes = {}, codes = {} })
    local _, rerr, rstatus = sim.run(("%s report %s /dev/full"):format(sim.qxtv(), dir .. "/summary.json"))
    assert.are.equal(1, rstatus, rerr)
    assert.matches("cannot write /dev/full: No space left on device", rerr)
  end)
end)
