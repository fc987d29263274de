--- qxt.exit: the process's exit statuses by name (qxt.exit.HALTED == 3).
-- One table, in C (src/common/exits.c), that `qxtv --help` prints and docs/cli.md
-- lists too; tests/e2e/exit_codes_spec.lua checks that the three agree.
-- A flow says qxt.exit_status(qxt.exit.USAGE), never a bare number.
--
--   qxt.exit.OK, FAILED, USAGE, HALTED, BUDGET, INTERRUPTED, INPUT, THRESHOLD, ABORTED
--   qxt.exit.list   { {status =, name =, meaning =}, ... } in increasing status
local core = require("qxt.core")

local _M = { list = core.exits() }

for _, row in ipairs(_M.list) do _M[row.name] = row.status end

-- A misspelt name is a mistake, not a nil that becomes exit status 0.
return setmetatable(_M, { __index = function(_, k)
  error(("qxt.exit: no exit status named '%s'"):format(tostring(k)), 2)
end })
