-- What a run leaves on disk, end to end against the simulator: the dedupe
-- spill file (read through /proc while the run is alive, as anyone with
-- the user's rights could) holds no mobile and no name and is private and
-- unlinked; every output file ends mode 0600, whatever was at its path and
-- whatever the umask.
local runs = require("tests.helpers.runs")
local sim = require("tests.helpers.sim")

local NAMES = { "张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十" }

local function has(text, part)
  return text ~= nil and text:find(part, 1, true) ~= nil
end

-- A flow that spills its dedupe store from the second answer on, then
-- stops pulling records after `block` of them (every worker sleeps), so
-- that the spill file can be read while the process holds it.
local SPILL_FLOW = [[
local block, marker = tonumber(arg[1]), arg[2]
local NAMES = { "张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十" }
local i = 0
local function source()
  i = i + 1
  if i >= block then
    if i == block then assert(io.open(marker, "w")):close() end
    qxt.sleep(600)
  end
  return { mobile = ("139%08d"):format(i), name = NAMES[i % #NAMES + 1] }
end
local sink = { write = function() return true end }
qxt.flow{ source = source, concurrency = 8, quiet = true, dedupe_memory = 1,
          sinks = { consistent = sink, inconsistent = sink, invalid = sink, unverified = sink } }
]]

describe("personal data at rest", function()
  local dir
  setup(function() dir = runs.tmpdir() end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("the dedupe spill file holds keyed hashes only, mode 0600, unlinked", function()
    local s = sim.start{}
    local flow = dir .. "/spill.lua"
    local f = assert(io.open(flow, "w"))
    f:write(SPILL_FLOW)
    f:close()
    -- 10,000 answers past the memory limit: one batch of the spill committed to its file.
    local block, marker = 10020, dir .. "/spilled"
    local h = runs.start(("%s run %s %d %s"):format(sim.qxtv(), flow, block, marker), s.endpoint, dir)
    local ready = runs.until_true(function() return sim.read_file(marker) ~= nil end, 120)
    local listing = {}
    local p = io.popen("ls -l /proc/" .. h.pid .. "/fd")
    for l in p:lines() do listing[#listing + 1] = l end
    p:close()
    -- The spill is made in the temporary directory; a deleted file inherited
    -- from elsewhere (ctest's own log, rotated by another ctest) is not ours.
    local tmp = (os.getenv("TMPDIR") or "/tmp"):gsub("/$", "")
    local fds = {}
    for _, l in ipairs(listing) do
      local fd, target = l:match("(%d+) %-> (.*) %(deleted%)$")
      if fd and target:sub(1, #tmp + 1) == tmp .. "/" then fds[#fds + 1] = fd end
    end
    local path = fds[1] and ("/proc/%s/fd/%s"):format(h.pid, fds[1])
    local bytes = path and sim.read_file(path)
    local mode = path and runs.mode(path)
    os.execute("kill -9 " .. h.pid)
    runs.finish(h, 10)
    s:stop()
    assert.is_true(ready, sim.read_file(h.tag .. ".err"))
    assert.are.equal(1, #fds, table.concat(listing, "\n"))
    assert.are.equal("600", mode)
    assert.is_true(#bytes > 500000, "the spill holds " .. #bytes .. " bytes")
    for _, name in ipairs(NAMES) do assert.is_false(has(bytes, name), name) end
    for digits in bytes:gmatch("%d%d%d%d%d%d%d%d%d%d%d+") do
      for i = 1, #digits - 10 do
        local n = digits:sub(i, i + 10):match("^139(%d+)$")
        assert.is_false(n ~= nil and tonumber(n) <= block, "a mobile: " .. digits:sub(i, i + 10))
      end
    end
  end)

  it("every output file ends 0600, whatever was there and whatever the umask", function()
    local s = sim.start{}
    local input = dir .. "/input.csv"
    local f = assert(io.open(input, "w"))
    f:write("id,mobile,name\n")
    for i = 1, 40 do f:write("R", i, ",", i % 10 == 0 and "123" or ("139%08d"):format(i), ",张三\n") end
    f:close()
    local out = dir .. "/out"
    -- An output directory from an earlier run, readable by all, with its files.
    assert(os.execute("mkdir -m 755 " .. out))
    for _, name in ipairs{ "consistent.csv", "inconsistent.csv", "invalid.csv", "unverified.csv",
                           "summary.json", "report.html" } do
      local old = assert(io.open(out .. "/" .. name, "w"))
      old:write("old\n")
      old:close()
    end
    local function run(extra)
      local cmd = ("umask 022; exec %s run scripts/verify_csv.lua %s --out %s --quiet --report %s %s"):format(
        sim.qxtv(), input, out, out .. "/report.html", extra)
      local _, err, status = sim.run("sh -c " .. sim.quote(cmd), { QXT_ENDPOINT = s.endpoint })
      assert.are.equal(0, status, err)
    end
    local function all_private()
      local files = runs.files(out)
      assert.is_true(#files >= 8, table.concat(files, " "))
      for _, file in ipairs(files) do assert.are.equal("600", runs.mode(file), file) end
    end
    os.execute("chmod 644 " .. out .. "/*")
    run("")
    all_private()
    assert.is_false(has(sim.read_file(out .. "/consistent.csv"), "old"))
    -- Made readable again, journal and key included, then resumed.
    os.execute("chmod 644 " .. out .. "/* " .. out .. "/.[!.]* 2>/dev/null")
    run("--resume")
    all_private()
    s:stop()
  end)
end)
