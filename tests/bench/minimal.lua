-- minimal.lua: the engine alone. N verify() calls with C tasks in flight,
-- no CSV, no cleaning, no sinks: qxtv run tests/bench/minimal.lua N C
local n, c = tonumber(arg[1]), tonumber(arg[2])
local next_i, ok = 0, 0
local function worker()
  while next_i < n do
    next_i = next_i + 1
    if verify(("139%08d"):format(next_i), "张三").code then ok = ok + 1 end
  end
end
local ws = {}
for i = 1, c do ws[i] = qxt.spawn(worker) end
qxt.wait(ws)
print(ok)
