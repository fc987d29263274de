-- kyc_rules.lua: a rule file as the risk team writes it — no engineering
-- needed. It returns the rules; the flow loads it sandboxed:
--   route = qxt.rules.load("scripts/rules/kyc_rules.lua")
-- The first rule that holds decides; `otherwise` takes the rest.
local ALLOWED_PROVINCES = {
  ["北京"] = true, ["上海"] = true, ["广东"] = true, ["湖北"] = true, ["江苏"] = true,
  ["浙江"] = true, ["四川"] = true, ["福建"] = true,
}

return {
  { name = "name does not match", route = "reject",
    when = function(_, r) return r.consistent == false end },
  { name = "virtual operator", route = "review",
    when = function(_, r) return r.consistent and r.isp == "虚拟运营商" end },
  { name = "area outside the allowed list", route = "review",
    when = function(_, r) return r.consistent and not ALLOWED_PROVINCES[r.province or ""] end },
  { name = "verified", route = "approve",
    when = function(_, r) return r.consistent == true end },
  otherwise = "unverified",        -- no verdict: -4, retries used up, halted
}
