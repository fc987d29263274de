--- qxt: the library every script sees as the global `qxt`.
-- The primitives come from the engine (qxt.core, in C); this module is the
-- place for the Lua-level conveniences built on them.
local core = require("qxt.core")

local _M = {}

for k, v in pairs(core) do
  _M[k] = v
end

return _M
