-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "debug", route = "approve", when = function(_, r) debug.sethook() return true end },
  otherwise = "reject",
}
