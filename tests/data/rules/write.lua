-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "write", route = "approve", when = function(_, r) r.consistent = false return true end },
  otherwise = "reject",
}
