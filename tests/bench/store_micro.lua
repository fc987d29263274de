-- store_micro.lua: what qxtv keeps in SQLite, alone (no HTTP), in µs per
-- record: the journal's commits (batches of 64 answers a loop turn, as a
-- busy run gives it; one fsync a batch), the journal's lookups on resume,
-- the dedupe store's spill to disk (put, then get), and the SQLite sink.
--   qxtv run tests/bench/store_micro.lua [N] [REPEAT]
-- Best of REPEAT (default 3), N records (default 20000).
local dedupe = require("qxt.step.dedupe")
local sink_sqlite = require("qxt.sink.sqlite")

local n, repeat_n = tonumber(arg[1] or 20000), tonumber(arg[2] or 3)

local result = { code = 0, reason = "Succ", class = "ok", consistent = true, status = "一致",
                 area = "湖北-宜昌", isp = "中国电信", attempts = 1 }
local records = {}
for i = 1, n do
  records[i] = { seq = i, mobile = ("139%08d"):format(i), name = "张三" .. i,
                 fields = { id = tostring(i), mobile = ("139%08d"):format(i), name = "张三" .. i } }
end

local dir = os.tmpname()
os.remove(dir)
assert(qxt.mkdir(dir))

local function best(f)
  local t = math.huge
  for r = 1, repeat_n do
    collectgarbage()
    t = math.min(t, f(r))
  end
  return t / n * 1e6
end

local commit = best(function(r)
  local path = ("%s/j%d.sqlite"):format(dir, r)
  local j = assert(qxt.journal.open(path))
  local t0 = qxt.now()
  for i, rec in ipairs(records) do
    j:commit(rec, result, "consistent", "consistent", function() end)
    if i % 64 == 0 then qxt.sleep(0) end
  end
  assert(j:drain())
  local t = qxt.now() - t0
  assert(j:close())
  return t
end)

local lookup = best(function(r)
  local j = assert(qxt.journal.open(("%s/j%d.sqlite"):format(dir, r), { resume = true }))
  local t0 = os.clock()
  for _, rec in ipairs(records) do assert(j:lookup(rec)) end
  local t = os.clock() - t0
  assert(j:close())
  return t
end)

local put, get = math.huge, math.huge
for _ = 1, repeat_n do
  collectgarbage()
  local store = dedupe.new{ limit = 0 }
  local t0 = os.clock()
  for _, rec in ipairs(records) do store:put(rec.mobile .. "\0" .. rec.name, result) end
  local t1 = os.clock()
  for _, rec in ipairs(records) do assert(store:get(rec.mobile .. "\0" .. rec.name)) end
  local t2 = os.clock()
  store:close()
  put, get = math.min(put, t1 - t0), math.min(get, t2 - t1)
end
put, get = put / n * 1e6, get / n * 1e6

local sink = best(function(r)
  local s = assert(sink_sqlite.open(("%s/s%d.sqlite"):format(dir, r), "verified",
                                    { columns = { "id", "mobile", "name" } }))
  local t0 = os.clock()
  for _, rec in ipairs(records) do s:write(rec, result) end
  assert(s:close())
  return os.clock() - t0
end)

os.execute("rm -rf '" .. dir .. "'")
print(("%d records: journal commit %.2f µs, journal lookup %.2f µs, dedupe spill put %.2f µs, "
       .. "get %.2f µs, sqlite sink write %.2f µs"):format(n, commit, lookup, put, get, sink))
