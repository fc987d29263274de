-- qxt.codes: the provider's codes, from the engine's one code table
-- (src/common/codes.c, through qxt.core). Everything Lua knows about a code or a
-- class comes from here: retry (final), journal (answer), route (outcome),
-- summary (charged, meaning). Nothing here restates the table.
local core = require("qxt.core")

local _M = {}

--- class ("ok", "input", ...) of a provider code
function _M.class(code) return (core.code_info(code)) end

--- a one-line English meaning, for summaries
function _M.meaning(code) return select(2, core.code_info(code)) end

--- the provider's own reason text, or nil for an undocumented code
function _M.reason(code) return select(3, core.code_info(code)) end

--- true when the provider bills an answer with this code (assumed: 0 only)
function _M.charged(code) return select(4, core.code_info(code)) end

local finals, classes = core.classes()

--- Every class a result can have -> true when it is final (no retry policy
--- may ask again after it: ok, input, account, mismatch), else false.
_M.CLASSES = finals

--- Every class -> { final = bool, answer = bool (the journal keeps it, a
--- resumed run reuses it), outcome = its default sink without a verdict }.
_M.CLASS = classes

--- info(code) -> { code, class, meaning, reason (nil: undocumented),
--- charged, final }: the code's row of the table.
function _M.info(code)
  local class, meaning, reason, charged = core.code_info(code)
  return { code = code, class = class, meaning = meaning, reason = reason, charged = charged,
           final = finals[class] }
end

--- verdict(status, area) -> consistent (true/false/nil), province, city:
--- the verdict fields of a code-0 answer, by the decoder's own rule (C:
--- qxt_verdict_of), for answers read back from storage.
_M.verdict = core.verdict

return _M
