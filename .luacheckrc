-- luacheck configuration: `luacheck lua scripts tests` (run by scripts/test.sh)
std = "lua54"
-- The engine's globals, reachable from scripts; nobody assigns them.
read_globals = { "qxt", "verify" }
max_line_length = 120

files["tests/lua"] = { std = "+busted" }
files["tests/engine"] = { std = "+busted" }
files["tests/e2e"] = { std = "+busted" }
-- wrk's scripting API: it reads the globals a script sets.
files["tests/bench/*.lua"] = { globals = { "wrk", "request", "response", "done", "setup", "init" },
                               unused_args = false }
