-- qxt.route: where a record goes once its outcome is known.
--
-- The four outcomes (docs/flows.md), decided from the record and its result:
--   consistent    the carrier says the number belongs to the name (一致)
--   inconsistent  it does not (不一致)
--   invalid       rejected before sending, or the provider said the input
--                 was wrong (codes 1, -2, -3)
--   unverified    no verdict: no record (-4), retries used up, a status the
--                 provider did not document, an answer about someone else
--                 (class mismatch, rule other_person), or never sent
--                 (halted, budget)
-- A script can route with rules of its own: a function (record, result) ->
-- sink name [, rule name] that returns nil to fall back to these.
local codes = require("qxt.codes")

local _M = {}

_M.OUTCOMES = { "consistent", "inconsistent", "invalid", "unverified" }

--- The default outcome of a result, and the name of the rule that chose it.
-- A class's outcome without a verdict comes from the code table
-- (qxt.codes.CLASS); `rejected` and `unsent` are the flow's own classes.
function _M.outcome(result)
  local class = result.class
  if class == "rejected" then return "invalid", class end
  if class == "ok" and result.consistent == true then return "consistent", "match" end
  if class == "ok" and result.consistent == false then return "inconsistent", "mismatch" end
  -- not "mismatch": that rule names a verdict (不一致), this is no verdict at all
  if class == "mismatch" then return "unverified", "other_person" end
  local info = codes.CLASS[class]
  return info and info.outcome or "unverified", class or "unknown"
end

--- A router from an ordered list of rules (see qxt.rules, which this is):
--   { name = "...", when = function(record, result) -> bool, route = "sink" }
function _M.rules(list)
  return require("qxt.step.rules").new(list)
end

--- The route of a record: the router's (the flow's rules, a function
--- (record, result) -> route, rule), else the default outcome. For a batch
--- run and a served request alike.
function _M.decide(router, record, result)
  local name, rule
  if router then name, rule = router(record, result) end
  if name == nil then name, rule = _M.outcome(result) end
  return name, rule
end

return _M
