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
--
-- Rules from outside the engineering team come from a file, sandboxed:
--
--   route = qxt.rules.load("scripts/rules/kyc_rules.lua")
--
-- The file is a Lua chunk returning such a list. See load() below.
local _M = {}

--- rules{ {name=, when=fn(record, result), route=sink}..., otherwise=sink }
-- -> router function (record, result) -> sink name, rule name
function _M.new(list)
  if type(list) ~= "table" then error("qxt.rules wants a table of rules", 2) end
  for i, rule in ipairs(list) do
    if type(rule.when) ~= "function" or type(rule.route) ~= "string" then
      error(("rule %d%s needs when = function(record, result) and route = \"sink name\""):format(
        i, rule.name and (" (" .. tostring(rule.name) .. ")") or ""), 2)
    end
  end
  if list.otherwise ~= nil and type(list.otherwise) ~= "string" then
    error("otherwise must be a sink name", 2)
  end
  return function(record, result)
    for i, rule in ipairs(list) do
      if rule.when(record, result) then return rule.route, rule.name or ("rule " .. i) end
    end
    if list.otherwise then return list.otherwise, "otherwise" end
    return nil
  end
end

--- load(path [, opts]) -> router | raises with the file's name
-- opts.sandbox (default true): the chunk and every `when` run in the
--   environment of qxt.sandbox (no io, os, require, debug; text-only load),
--   each under opts.instructions (default 1,000,000) and opts.memory bytes
--   (default 16 MiB). With sandbox = false the file runs as trusted code.
-- opts.on_rule_error: "review" (default) sends a record whose rule failed
--   to opts.error_route (default "unverified") with the rule column
--   "rule error: <file> rule '<name>': <message>", and the run goes on;
--   "halt" raises that message, which stops the flow.
function _M.load(path, opts)
  opts = opts or {}
  local sandbox = opts.sandbox ~= false
  local policy = opts.on_rule_error or "review"
  if policy ~= "review" and policy ~= "halt" then
    error("on_rule_error must be \"review\" or \"halt\"", 2)
  end
  local error_route = opts.error_route or "unverified"
  local sb = require("qxt.sandbox")
  local limits = { instructions = opts.instructions or sb.INSTRUCTIONS, memory = opts.memory or sb.MEMORY }
  local list, err
  if sandbox then
    list, err = sb.loadfile(path, sb.env(), limits)
  else
    local chunk
    chunk, err = loadfile(path, "t")
    if chunk then list = chunk() end
  end
  if err then error(("rule file %s: %s"):format(path, err), 2) end
  if type(list) ~= "table" then error(("rule file %s must return a list of rules"):format(path), 2) end
  local ok, router = pcall(_M.new, list)
  if not ok then error(("rule file %s: %s"):format(path, router), 2) end
  if not sandbox then return router end

  local file = path:match("[^/]+$")
  -- The host's own copy of the rules, taken once checked: a `when` that
  -- changes the list it came from changes nothing here.
  local rules = {}
  for i, rule in ipairs(list) do
    rules[i] = { name = tostring(rule.name or ("rule " .. i)), route = rule.route, when = rule.when }
  end
  local otherwise = list.otherwise
  -- Each `when` runs under the limits, on a read-only view of the record
  -- and the result, nested tables included, so a rule cannot change what
  -- the sinks write.
  local views = setmetatable({}, { __mode = "k" })
  local function readonly(t)
    if type(t) ~= "table" then return t end
    local view = views[t]
    if view then return view end
    view = setmetatable({}, {
      __index = function(_, k) return readonly(t[k]) end,
      __newindex = function(_, k) error(("the record is read-only (%s)"):format(tostring(k)), 2) end,
      __len = function() return #t end,
      __pairs = function()
        return function(_, k)
          local nk, v = next(t, k)
          return nk, readonly(v)
        end, nil, nil
      end,
      __metatable = false,
    })
    views[t] = view
    return view
  end
  return function(record, result)
    local rec, res = readonly(record), readonly(result)
    for _, rule in ipairs(rules) do
      local fine, holds = sb.call(rule.when, limits, rec, res)
      if not fine then
        local why = ("rule error: %s rule '%s': %s"):format(file, rule.name, tostring(holds))
        if policy == "halt" then error(why, 0) end
        return error_route, why
      end
      if holds then return rule.route, rule.name end
    end
    if otherwise then return otherwise, "otherwise" end
    return nil
  end
end

return setmetatable(_M, { __call = function(_, list) return _M.new(list) end })
