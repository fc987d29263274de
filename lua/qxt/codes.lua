-- qxt.codes: the provider's codes, from the engine's one code table.
local core = require("qxt.core")

local _M = {}

--- class ("ok", "input", ...) of a provider code
function _M.class(code) return (core.code_info(code)) end

--- a one-line English meaning, for summaries
function _M.meaning(code) return select(2, core.code_info(code)) end

--- the provider's own reason text, or nil for an undocumented code
function _M.reason(code) return select(3, core.code_info(code)) end

--- Every class a result can have -> true when it is final (no retry policy
--- may ask again after it: ok, input, account, mismatch), else false.
_M.CLASSES = core.classes()

return _M
