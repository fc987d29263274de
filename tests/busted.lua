-- Runs busted inside the real qxtv engine: `qxtv run tests/busted.lua SPEC...`.
-- Specs see the engine's globals (verify, qxt) exactly as user scripts do.
require("busted.runner")({ standalone = false })
