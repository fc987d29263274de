-- luacheck: ignore
-- hostile rule file for tests/lua/sandbox_spec.lua
os.execute("touch /tmp/qxtv-sandbox-pwned")
return {}
