-- reorder_micro.lua: the memory and time qxt.reorder takes when one row is
-- stuck and every row after it must wait (no HTTP, no sink):
--   qxtv run tests/bench/reorder_micro.lua [ROWS] [WINDOW] [MODE]
-- MODE "stuck" (default): row 1 comes last, after ROWS-1 others (all but
-- WINDOW of them wait on disk). MODE "near": rows come at most 64 places
-- late, as workers make them (nothing spills). Prints rows/s, the rows
-- that spilled and the peak RSS of the process (VmHWM), which includes the
-- engine itself (about 10 MB; see the "baseline" line).
local reorder = require("qxt.reorder")

local rows = tonumber(arg[1] or 1000000)
local window = math.tointeger(tonumber(arg[2] or reorder.WINDOW))
local mode = arg[3] or "stuck"

local function hwm_kb()
  local f = assert(io.open("/proc/self/status"))
  local kb = f:read("a"):match("VmHWM:%s*(%d+)")
  f:close()
  return tonumber(kb)
end

io.write(("baseline   peak RSS %.1f MB\n"):format(hwm_kb() / 1024))

-- A row as the CSV source and the flow make it: an input record with its
-- fields, and a view over a typical answer.
local answer = { code = 0, reason = "Succ", class = "ok", consistent = true, status = "一致",
                 area = "湖北-宜昌", province = "湖北", city = "宜昌", isp = "中国电信",
                 attempts = 1, latency_ms = 3.25, raw = '{"code":0,"reason":"Succ"}' }
local meta = { __index = answer }
local function row(n)
  local m = ("139%08d"):format(n % 100000000)
  return { seq = n, line = n + 1, mobile = m, name = "王芳",
           fields = { id = tostring(n), mobile = m, name = "王芳" } },
         setmetatable({ rule = "match", row = n }, meta)
end

local function put(stage, n)
  local record, view = row(n)
  stage:put(n, record, view, "s")
end

local written, last = 0, 0
local stage = reorder.new{ window = window, write = function(record)
  assert(record.seq == last + 1)
  last = record.seq
  written = written + 1
end }

local t0 = qxt.now()
if mode == "stuck" then
  for n = 2, rows do put(stage, n) end
  put(stage, 1)
else
  -- a sliding shuffle: each row at most 64 places from its own
  local pending, k = {}, 0
  for n = 1, rows do
    k = k + 1
    pending[k] = n
    if k == 64 or n == rows then
      for i = k, 2, -1 do
        local j = math.random(i)
        pending[i], pending[j] = pending[j], pending[i]
      end
      for i = 1, k do put(stage, pending[i]) end
      k = 0
    end
  end
end
assert(stage:close())
local dt = qxt.now() - t0
assert(written == rows, written)
local r = stage:report()
io.write(("%-6s     %d rows, window %d: %.2f s (%.0f rows/s), %d spilled in %d runs, held at most %d, "
          .. "peak RSS %.1f MB\n"):format(mode, rows, window, dt, rows / dt, r.spilled, r.spills, r.held_peak,
                                        hwm_kb() / 1024))
