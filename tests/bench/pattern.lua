-- pattern.lua: the sandbox's step-counted pattern functions (qxt.sandbox.core)
-- against the string library: how long a runaway pattern runs before it is
-- stopped, and the speed on ordinary patterns. Best of 3 runs each.
--   qxtv run tests/bench/pattern.lua
local core = require("qxt.sandbox.core")
local sandbox = require("qxt.sandbox")

local function best(f)
  local t = math.huge
  for _ = 1, 3 do
    local t0 = qxt.now()
    f()
    t = math.min(t, qxt.now() - t0)
  end
  return t
end

local RUNAWAY_S, RUNAWAY_P = ("a"):rep(5000), ("a*"):rep(10) .. "b"
print(("runaway (\"a\"):rep(5000):find((\"a*\"):rep(10)..\"b\") stopped after:"))
print(("  in a rule (1e6 instructions): %.0f ms"):format(1000 * best(function()
  assert(not sandbox.call(function() return core.find(RUNAWAY_S, RUNAWAY_P) end))
end)))
print(("  a loop in a rule, for comparison: %.0f ms"):format(1000 * best(function()
  assert(not sandbox.call(function() while true do end end))
end)))
print(("  run --sandbox, per call: %.0f ms"):format(1000 * best(function()
  assert(not pcall(core.find, RUNAWAY_S, RUNAWAY_P))
end)))

local text = ("张三,13972565391,湖北-宜昌 key=value; 12.5% (note) "):rep(200)
local CASES = {
  { "find plain-ish", function(f) for _ = 1, 200 do f.find(text, "note", 1, true) f.find(text, "宜昌") end end },
  { "find %d+", function(f) for _ = 1, 2000 do f.find(text, "%d+", 100) end end },
  { "match (%w+)=(%w+)", function(f) for _ = 1, 2000 do f.match(text, "(%w+)=(%w+)") end end },
  { "match ^%s*(.-)%s*$", function(f) for _ = 1, 200 do f.match("  trim me please  ", "^%s*(.-)%s*$") end end },
  { "gmatch [^,]+", function(f) for _ = 1, 20 do for _ in f.gmatch(text, "[^,]+") do end end end },
  { "gmatch %f[%w]%w+", function(f) for _ = 1, 20 do for _ in f.gmatch(text, "%f[%w]%w+") do end end end },
  { "gsub %s+ -> ' '", function(f) for _ = 1, 20 do f.gsub(text, "%s+", " ") end end },
  { "gsub %b() -> ''", function(f) for _ = 1, 20 do f.gsub(text, "%b()", "") end end },
  { "gsub (%d)(%d) fn", function(f)
    for _ = 1, 20 do f.gsub(text, "(%d)(%d)", function(a, b) return b .. a end) end
  end },
}
print(("%-22s %10s %10s %7s"):format("ordinary patterns", "string ms", "bounded ms", "ratio"))
for _, c in ipairs(CASES) do
  local r = best(function() c[2](string) end)
  local b = best(function() c[2](core) end)
  print(("%-22s %10.2f %10.2f %7.2f"):format(c[1], r * 1000, b * 1000, b / r))
end
