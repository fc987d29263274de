-- xlsx_micro.lua: writing and reading .xlsx, rows per second and peak
-- memory: qxtv run tests/bench/xlsx_micro.lua [ROWS] [DIR]
-- Writes ROWS (default 200000) rows of 6 columns with qxt.sink.xlsx (one
-- sheet), then reads them back with qxt.source.xlsx (the check pass
-- included), and prints the time of each and the process's peak resident
-- memory after each (VmHWM): reading must not grow with ROWS.
local rows, dir = tonumber(arg[1] or 200000), arg[2] or "/tmp"
local path = dir .. "/xlsx_micro.xlsx"

local function peak_mb()
  for l in io.lines("/proc/self/status") do
    local kb = l:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

local columns = { "申请编号", "手机号", "姓名", "产品", "备注", "日期" }
local t0 = qxt.now()
local book = qxt.sink.xlsx(path, { columns = columns })
local sheet = book:sheet("consistent")
local answer = { code = 0, reason = "Succ", status = "一致", area = "湖北-宜昌", isp = "中国电信", attempts = 1 }
for i = 1, rows do
  local rec = { fields = { ["申请编号"] = ("A%07d"):format(i), ["手机号"] = ("139%08d"):format(i),
                           ["姓名"] = "张三", ["产品"] = "开户", ["备注"] = "", ["日期"] = "2026-03-01" } }
  answer.row = i
  assert(sheet:write(rec, answer))
end
assert(book:close())
local written = qxt.now() - t0
local after_write = peak_mb()

t0 = qxt.now()
local src = assert(qxt.source.xlsx(path, { sheet = "consistent" }))
local opened = qxt.now() - t0
local n = 0
for _ in src:records() do n = n + 1 end
local read = qxt.now() - t0
assert(n == rows, n)
local f = io.open(path, "rb")
local size = f:seek("end")
f:close()
os.remove(path)
print(("xlsx write  %d rows in %.2f s (%.0f rows/s), %.1f MB file, peak RSS %.0f MB"):format(
  rows, written, rows / written, size / 1e6, after_write))
print(("xlsx read   %d rows in %.2f s (%.0f rows/s; the check pass %.2f s of it), peak RSS %.0f MB"):format(
  n, read, n / read, opened, peak_mb()))
