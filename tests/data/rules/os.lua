-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "os", route = "approve", when = function(_, r) return os.execute("id") end },
  otherwise = "reject",
}
