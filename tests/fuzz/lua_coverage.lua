-- lua_coverage.lua: which lines of the Lua library a fuzz corpus reaches.
--   qxtv run tests/fuzz/lua_coverage.lua DRIVER MODULE[,MODULE...] DIR...
-- runs DRIVER (csv_driver.lua, clean_driver.lua) on every file in the DIRs
-- under a line hook, and prints, per module file, the lines run out of the
-- lines that hold code (those luac5.4 lists instructions for). Used by
-- tests/tools/fuzz.sh after the Lua harnesses; a driver failure is reported,
-- not raised (the fuzzer itself is the judge of those).
local driver_path, modules = arg[1], arg[2]
assert(driver_path and modules, "usage: lua_coverage.lua DRIVER MODULE[,MODULE...] DIR...")
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path

local files = {}
for m in modules:gmatch("[^,]+") do files[#files + 1] = "lua/" .. m:gsub("%.", "/") .. ".lua" end

-- Lines holding code, from luac's listing: "[123]" on each instruction.
local function code_lines(path)
  local lines = {}
  local p = assert(io.popen("luac5.4 -l -l -p " .. path))
  for l in p:lines() do
    local n = l:match("^%s+%d+%s+%[(%d+)%]")
    if n and n ~= "0" then lines[tonumber(n)] = true end
  end
  p:close()
  return lines
end

local hit = {}
for _, f in ipairs(files) do hit["@" .. f] = {} end
debug.sethook(function(_, line)
  local src = debug.getinfo(2, "S").source
  local t = hit[src]
  if t then t[line] = true end
end, "l")
local driver = dofile(driver_path)           -- loads the modules: their top level counts
local runs, failed = 0, 0
for i = 3, #arg do
  local p = assert(io.popen("ls " .. arg[i] .. " 2>/dev/null"))
  for name in p:lines() do
    local f = io.open(arg[i] .. "/" .. name, "rb")
    if f then
      local data = f:read("a")
      f:close()
      runs = runs + 1
      if not pcall(driver, data) then failed = failed + 1 end
    end
  end
  p:close()
end
debug.sethook()

for _, f in ipairs(files) do
  local code, n, covered = code_lines(f), 0, 0
  for line in pairs(code) do
    n = n + 1
    if hit["@" .. f][line] then covered = covered + 1 end
  end
  print(("%s: %d of %d lines with code run (%.0f%%), %d inputs%s"):format(f, covered, n,
    100 * covered / n, runs, failed > 0 and (", " .. failed .. " failing") or ""))
end
