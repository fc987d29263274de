-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "io", route = "approve", when = function(_, r) return io.open("/etc/passwd") end },
  otherwise = "reject",
}
