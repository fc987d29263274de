--- qxt.cli.args: a command's words, read one way for every qxtv command
-- (serve, admin, diff): `--name VALUE` options and positional words, in any
-- order. Each option takes exactly one value (there are no flags yet).
--
--   local args = require("qxt.cli.args")
--   local o, err = args.parse({ ... }, {
--     valued = { key = true, html = true },  -- o[name] = VALUE as given
--     other = function(o, name, value)       -- any other --name (optional;
--       ...                                  --   value nil when none followed):
--     end,                                   --   true: taken; nil, err: refused;
--                                            --   false: not an option of this command
--   })
--   o.words  the positional words, in order
--
-- A mistake is nil and a message naming the option: "--key wants a value",
-- "unknown option --frobnicate"; the command prints it with its usage and
-- exits 2 (args.fail does both).
local exit = require("qxt.exit")

local _M = {}

--- parse(list, spec) -> o | nil, message (see the header).
function _M.parse(list, spec)
  local o, words = {}, {}
  local valued, other = spec.valued or {}, spec.other
  local i = 1
  while i <= #list do
    local a = list[i]
    local name = a:match("^%-%-([%w-]+)$")
    if name then
      local value = list[i + 1]
      if valued[name] then
        if value == nil then return nil, "--" .. name .. " wants a value" end
        o[name] = value
      else
        local ok, err = false, nil
        if other then ok, err = other(o, name, value) end   -- it checks value (nil: none)
        if ok == false then return nil, "unknown option " .. a end
        if not ok then return nil, err end
      end
      i = i + 2
    else
      words[#words + 1] = a
      i = i + 1
    end
  end
  o.words = words
  return o
end

--- sayer(command) -> say(...): writes "qxtv COMMAND: ..." and a newline on
--- standard error, the one way a command speaks to its operator.
function _M.sayer(command)
  local prefix = "qxtv " .. command .. ": "
  return function(...)
    io.stderr:write(prefix, ...)
    io.stderr:write("\n")
  end
end

--- fail(command, why, usage) -> exit.USAGE, having said why and the usage
--- on standard error as "qxtv COMMAND: why".
function _M.fail(command, why, usage)
  _M.sayer(command)(tostring(why))
  io.stderr:write(usage, "\n")
  return exit.USAGE
end

return _M
