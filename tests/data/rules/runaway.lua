-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "runaway", route = "approve", when = function(_, r) while true do end end },
  otherwise = "reject",
}
