-- qxt.rules: decisions as a readable list of rules. The first rule whose
-- `when` holds routes the record; `otherwise` (a sink name) takes the rest,
-- or, without it, the default outcomes of qxt.route. The rule's name is
-- written on the output row (`rule` column) for audit.
--
--   route = qxt.rules{
--     { name = "match",            when = function(rec, r) return r.consistent end,    route = "approve" },
--     { name = "virtual operator", when = function(rec, r) return r.isp == "虚拟运营商" end, route = "review" },
--     otherwise = "reject",
--   }
local _M = {}

--- rules{ {name=, when=fn(record, result), route=sink}..., otherwise=sink }
-- -> router function (record, result) -> sink name, rule name
function _M.new(list)
  if type(list) ~= "table" then error("qxt.rules wants a table of rules", 2) end
  for i, rule in ipairs(list) do
    local to = rule.route or rule.to
    if type(rule.when) ~= "function" or type(to) ~= "string" then
      error(("rule %d%s needs when = function(record, result) and route = \"sink name\""):format(
        i, rule.name and (" (" .. tostring(rule.name) .. ")") or ""), 2)
    end
  end
  if list.otherwise ~= nil and type(list.otherwise) ~= "string" then
    error("otherwise must be a sink name", 2)
  end
  return function(record, result)
    for i, rule in ipairs(list) do
      if rule.when(record, result) then return rule.route or rule.to, rule.name or ("rule " .. i) end
    end
    if list.otherwise then return list.otherwise, "otherwise" end
    return nil
  end
end

return setmetatable(_M, { __call = function(_, list) return _M.new(list) end })
