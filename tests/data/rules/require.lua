-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "require", route = "approve", when = function(_, r) return require("io") end },
  otherwise = "reject",
}
