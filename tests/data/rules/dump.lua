-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "dump", route = "approve", when = function(_, r) return string.dump(print) end },
  otherwise = "reject",
}
