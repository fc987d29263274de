-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "memory bomb", route = "approve", when = function(_, r) local t = {} while true do t[#t+1] = ("x"):rep(1e6) end end },
  otherwise = "reject",
}
