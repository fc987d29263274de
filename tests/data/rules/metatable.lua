-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return {
  { name = "metatable", route = "approve", when = function(_, r) getmetatable("").__index.upper = nil return true end },
  otherwise = "reject",
}
