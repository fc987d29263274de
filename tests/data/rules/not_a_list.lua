-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
return 42
