-- Runs busted inside the real qxtv engine: `qxtv run tests/busted.lua SPEC...`.
-- Specs see the engine's globals (verify, qxt) exactly as user scripts do.
-- busted exits non-zero itself on a failure; when every test passed it
-- returns, and the run's status is busted's, even where a spec made a task
-- fail on purpose.
require("busted.runner")({ standalone = false })
qxt.exit_status(0)
