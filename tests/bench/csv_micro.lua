-- csv_micro.lua: the CSV reader and the CSV sink alone, in µs per row
-- (no HTTP): qxtv run tests/bench/csv_micro.lua IN.csv [REPEAT]
-- Reads IN.csv with qxt.source.csv, then writes every record with
-- qxt.sink.csv and a typical result (the flow's view: a table whose
-- __index is the answer), to a temporary file. Best of REPEAT (default 3).
local source_csv = require("qxt.source.csv")
local sink_csv = require("qxt.sink.csv")

local path, repeat_n = arg[1], tonumber(arg[2] or 3)
assert(path, "usage: qxtv run tests/bench/csv_micro.lua IN.csv [REPEAT]")

local function read_all()
  local src = assert(source_csv.open(path))
  local records = {}
  for rec in src:records() do records[#records + 1] = rec end
  return records, src:columns()
end

local answer = { code = 0, reason = "Succ", class = "ok", consistent = true, status = "一致",
                 area = "湖北-宜昌", province = "湖北", city = "宜昌", isp = "中国电信",
                 attempts = 1, latency_ms = 3.25, mobile = "13972565391", name = "张三" }

local best_read, best_write = math.huge, math.huge
local records, columns
for _ = 1, repeat_n do
  collectgarbage()
  local t0 = os.clock()
  records, columns = read_all()
  best_read = math.min(best_read, os.clock() - t0)
end
local out = os.tmpname()
for _ = 1, repeat_n do
  collectgarbage()
  local t0 = os.clock()
  local sink = sink_csv.open(out, { columns = columns })
  for _, rec in ipairs(records) do
    local view = setmetatable({ rule = "consistent", row = rec.seq }, { __index = answer })
    assert(sink:write(rec, view))
  end
  assert(sink:close())
  best_write = math.min(best_write, os.clock() - t0)
end
os.remove(out)
local n = #records
print(("%d rows: read %.2f µs/row, write %.2f µs/row"):format(n, best_read / n * 1e6, best_write / n * 1e6))
