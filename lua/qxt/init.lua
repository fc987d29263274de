--- qxt: the library every script sees as the global `qxt`.
-- The primitives come from the engine (qxt.core, in C); the flow library
-- is loaded on first use, so a three-line script pays nothing for it.
local core = require("qxt.core")

local _M = {}

for k, v in pairs(core) do
  _M[k] = v
end

-- Sub-modules reachable as qxt.flow, qxt.retry, qxt.clean, qxt.source, ...
local LAZY = {
  flow = "qxt.flow", retry = "qxt.step.retry", clean = "qxt.step.clean", mask = "qxt.mask",
  route = "qxt.step.route", csv = "qxt.csv", codes = "qxt.codes", source = "qxt.source",
  sink = "qxt.sink", report = "qxt.report", rules = "qxt.step.rules", journal = "qxt.journal",
  file = "qxt.file", exit = "qxt.exit", shared = "qxt.shared",
}

return setmetatable(_M, {
  __index = function(t, k)
    local name = LAZY[k]
    if not name then return nil end
    local m = require(name)
    rawset(t, k, m)
    return m
  end,
})
