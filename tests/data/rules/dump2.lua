-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "dump2", route = "approve", when = function(_, r) return ("").dump(print) end },
  otherwise = "reject",
}
