-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "bytecode", route = "approve", when = function(_, r) return assert(load("\27Lua"))() end },
  otherwise = "reject",
}
