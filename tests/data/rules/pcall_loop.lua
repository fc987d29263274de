-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "pcall loop", route = "approve", when = function(_, r) while true do pcall(function() while true do end end) end end },
  otherwise = "reject",
}
