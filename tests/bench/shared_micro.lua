-- shared_micro.lua: what shared state on Redis (qxt.shared, docs/scale-out.md)
-- costs per provider decision, against the embedded (one-process) mode, in
-- µs per decision: the rate limit (one atomic script per decision, on Redis's
-- clock), the leased budget (one script per chunk), the halt check (one GET
-- every 0.25 s at most), and the whole guard. A real redis-server on a unix
-- socket (tests/helpers/redis.lua), no HTTP. The rate is set far above what
-- is measured, so no decision waits for its slot: what is left is the cost.
--   qxtv run tests/bench/shared_micro.lua [N] [TASKS]
-- N decisions (default 20000), sequential and from TASKS tasks at once
-- (default 64, as a busy serve or run has them).
local redis_server = require("tests.helpers.redis")
local shared = require("qxt.shared")

local n, tasks = tonumber(arg[1] or 20000), tonumber(arg[2] or 64)
local RATE = 1e9

local rs = redis_server.start()

local function sequential(f)
  collectgarbage()
  local t0 = qxt.now()
  for _ = 1, n do f() end
  return (qxt.now() - t0) / n * 1e6
end

local function concurrent(f)
  collectgarbage()
  local t0 = qxt.now()
  local ts = {}
  for i = 1, tasks do
    ts[i] = qxt.spawn(function()
      for _ = 1, n // tasks do f() end
    end)
  end
  qxt.wait(ts)
  return (qxt.now() - t0) / (n // tasks * tasks) * 1e6
end

local function row(name, f)
  local seq, conc = sequential(f), concurrent(f)
  print(("%-44s %9.2f µs %9.2f µs"):format(name, seq, conc))
  return seq, conc
end

print(("%d decisions; %d tasks for the concurrent column; redis-server on a unix socket"):format(n, tasks))
print(("%-44s %12s %12s"):format("", "sequential", "concurrent"))

local embedded = shared.embedded{ rate = RATE, budget = n * 10 }
row("embedded guard (rate, budget, halt)", function() assert(not embedded:before_send()) end)

local quiet = function() end
local g_rate = assert(shared.open{ redis = rs.url, rate = RATE, log = quiet })
row("shared rate limit (GCRA script, TIME)", function() assert(not g_rate:before_send()) end)
g_rate:close()

local g_budget = assert(shared.open{ redis = rs.url, budget = n * 10, budget_id = "bench", log = quiet })
row("shared budget (leases of 50)", function() assert(not g_budget:before_send()) end)
g_budget:close()

local g_all = assert(shared.open{ redis = rs.url, rate = RATE, budget = n * 10, budget_id = "bench2",
                                  daily_budget = n * 10, log = quiet })
row("shared guard (rate, 2 budgets, halt)", function() assert(not g_all:before_send()) end)
g_all:close()

local r = assert(require("qxt.redis").connect{ url = rs.url })
while not r:up() do r:call("PING") qxt.sleep(0.01) end
row("one Redis round trip (PING), for scale", function() assert(r:call("PING")) end)
r:close()

local info = rs:cli("INFO", "memory")
print("redis used_memory after the runs: " .. (info:match("used_memory_human:(%S+)") or "?"))
print("keys: " .. rs:cli("DBSIZE"):gsub("%s+$", ""))
rs:stop()
