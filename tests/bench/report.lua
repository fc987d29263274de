-- report.lua: the benchmark's table, ratios and JSON, from run.sh's TSV.
--   qxtv run tests/bench/report.lua RESULTS.tsv STARTUP_MS "ROWS:KB ..." OUT.json
local cjson = require("cjson")
local path, startup_ms, rss_spec, out = arg[1], tonumber(arg[2]), arg[3] or "", arg[4]

local rows, by = {}, {}
for line in io.lines(path) do
  local server, client, n, c, wall, user, sys, rss = line:match(
    "^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
  local r = { server = server, client = client, n = tonumber(n), concurrency = tonumber(c) }
  if client == "wrk" then
    r.records_per_second = tonumber(wall)
  else
    r.seconds = tonumber(wall)
    r.records_per_second = r.n / r.seconds
    r.cpu_us_per_record = (tonumber(user) + tonumber(sys)) / r.n * 1e6
    r.peak_rss_kb = tonumber(rss)
  end
  rows[#rows + 1] = r
  by[server .. "/" .. client .. "/" .. tostring(r.concurrency)] = r
end

local function rate(server, client, c)
  local r = by[server .. "/" .. client .. "/" .. c]
  return r and r.records_per_second
end

print(("%-8s %-20s %7s %5s %10s %12s %10s"):format(
  "server", "client", "n", "conc", "records/s", "CPU us/rec", "RSS MB"))
for _, r in ipairs(rows) do
  print(("%-8s %-20s %7d %5d %10.0f %12s %10s"):format(r.server, r.client, r.n, r.concurrency,
    r.records_per_second or 0, r.cpu_us_per_record and ("%.1f"):format(r.cpu_us_per_record) or "",
    r.peak_rss_kb and ("%.1f"):format(r.peak_rss_kb / 1024) or ""))
end

local ratios = {}
local function ratio(label, a, b, target)
  if a and b and b > 0 then
    local v = a / b
    ratios[#ratios + 1] = { what = label, value = v, target = target, met = target == nil or v >= target }
    print(("%-52s %7.2f%s"):format(label, v, target and (("  (target >= %.2f: %s)"):format(target,
      v >= target and "met" or "MISSED")) or ""))
  end
end
print()
for _, server in ipairs{ "nginx", "sim0" } do
  local wrk = rate(server, "wrk", 64)
  local minimal, full = rate(server, "qxtv_minimal", 64), rate(server, "qxtv_verify_csv", 64)
  local nj = rate(server, "qxtv_csv_nojournal", 64)
  local strict = server == "nginx"
  ratio(server .. ": qxtv minimal / wrk", minimal, wrk, strict and 0.35 or nil)
  ratio(server .. ": verify_csv.lua / wrk", full, wrk, strict and 0.25 or nil)
  ratio(server .. ": verify_csv.lua (no journal) / wrk", nj, wrk)
  for _, peer in ipairs{ { "node_http", 2 }, { "node_fetch", 8 }, { "python_aiohttp", 8 }, { "xargs_curl" } } do
    ratio(("%s: qxtv minimal / %s"):format(server, peer[1]), minimal, rate(server, peer[1], 64),
          strict and peer[2] or nil)
    ratio(("%s: verify_csv.lua / %s"):format(server, peer[1]), full, rate(server, peer[1], 64),
          strict and peer[2] or nil)
  end
end
for _, c in ipairs{ 256, 1024 } do
  ratio(("sim 100 ms: verify_csv.lua at %d / Little's bound %d/s"):format(c, c * 10),
        rate("sim100", "qxtv_verify_csv", c), c / 0.1, c == 256 and 0.96 or 0.95)
end
local rss = {}
for rows_n, kb in rss_spec:gmatch("(%d+):(%d+)") do
  rss[#rss + 1] = { rows = tonumber(rows_n), peak_rss_kb = tonumber(kb) }
end
if #rss == 2 then
  ratio(("RSS %d rows / %d rows"):format(rss[2].rows, rss[1].rows), rss[2].peak_rss_kb, rss[1].peak_rss_kb)
end
print(("start-up: qxtv run of an empty script %.2f ms (target < 10 ms)"):format(startup_ms))

local f = assert(io.open(out, "w"))
f:write(cjson.encode{ results = rows, ratios = ratios, startup_ms = startup_ms, rss = rss }, "\n")
f:close()
print("written to " .. out)
