-- sink_micro.lua: the per-row cost of each sink alone, in µs per row (no
-- HTTP): qxtv run tests/bench/sink_micro.lua IN.csv [REPEAT]
-- Reads IN.csv with qxt.source.csv, then writes every record with a typical
-- result (the flow's view: a table whose __index is the answer) through the
-- CSV, JSON lines and SQLite sinks, to temporary files. Best of REPEAT
-- (default 3) for each.
local source_csv = require("qxt.source.csv")

local path, repeat_n = arg[1], tonumber(arg[2] or 3)
assert(path, "usage: qxtv run tests/bench/sink_micro.lua IN.csv [REPEAT]")

local src = assert(source_csv.open(path))
local records = {}
for rec in src:records() do records[#records + 1] = rec end
local columns = src:columns()

local answer = { code = 0, reason = "Succ", class = "ok", consistent = true, status = "一致",
                 area = "湖北-宜昌", province = "湖北", city = "宜昌", isp = "中国电信",
                 attempts = 1, latency_ms = 3.25, mobile = "13972565391", name = "张三" }

local SINKS = {
  { "csv", function(out) return qxt.sink.csv(out, { columns = columns }) end },
  { "jsonl", function(out) return qxt.sink.jsonl(out) end },
  { "sqlite", function(out) return assert(qxt.sink.sqlite(out, "t", { columns = columns })) end },
}

local n = #records
local line = {}
for _, s in ipairs(SINKS) do
  local best = math.huge
  for _ = 1, repeat_n do
    local out = os.tmpname()
    collectgarbage()
    local t0 = os.clock()
    local sink = s[2](out)
    for _, rec in ipairs(records) do
      local view = setmetatable({ rule = "consistent", row = rec.seq }, { __index = answer })
      assert(sink:write(rec, view))
    end
    assert(sink:close())
    best = math.min(best, os.clock() - t0)
    os.remove(out)
  end
  line[#line + 1] = ("%s %.2f"):format(s[1], best / n * 1e6)
end
print(("%d rows, write µs/row: %s"):format(n, table.concat(line, ", ")))
