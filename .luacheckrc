-- luacheck configuration: `luacheck lua tests/lua scripts`
std = "lua54"
-- The engine's globals, reachable from scripts; nobody assigns them.
read_globals = { "qxt", "verify" }
max_line_length = 120

files["tests/lua"] = { std = "+busted" }
