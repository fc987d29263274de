-- qxt.sandbox: an environment and limits for Lua code from outside the
-- engineering team (rule files, `qxtv run --sandbox`). The environment holds
-- a minimal safe set only: no io, os, require, debug, package, dofile,
-- loadfile, collectgarbage, string.dump, coroutine (a new coroutine would
-- escape the instruction count), getmetatable/setmetatable (the string
-- metatable is shared with the engine; a __gc would run outside the limits).
-- `load` is text-only and gives the chunk the sandbox environment.
-- The limits live in C (qxt.sandbox.core): an instruction count hook on the
-- running thread, a memory budget in the state's allocator, and a step
-- budget for the C loops the hook cannot see: string patterns (a matcher
-- of our own, src/lib/pattern.c), string.rep, table.move.
local core = require("qxt.sandbox.core")

local _M = {}

-- The string metatable is shared by all code: its methods ("x"):find(...)
-- go to the bounded functions while sandboxed code runs, to the library's
-- otherwise. Other methods fall through to the string table itself.
local BOUNDED = { "find", "match", "gmatch", "gsub", "rep" }
do
  local mt = getmetatable("")
  if mt.__index == string then
    local methods = setmetatable({}, { __index = string })
    for _, k in ipairs(BOUNDED) do methods[k] = core.dispatch(string[k], core[k]) end
    mt.__index = methods
  end
end

-- ("").dump reaches the engine's own string table through the string
-- metatable, which all code shares: refuse it while sandboxed code runs.
do
  local dump = string.dump
  if not core.active() then
    string.dump = function(...)  -- luacheck: ignore 122
      if core.active() then error("string.dump is not available in the sandbox", 2) end
      return dump(...)
    end
  end
end

_M.INSTRUCTIONS = 1000000        -- per call of a rule's `when`, and per chunk
_M.MEMORY = 16 * 1024 * 1024     -- bytes a call may add to the state

local SAFE = { "pairs", "ipairs", "type", "tostring", "tonumber", "select", "error",
               "pcall", "next", "assert", "rawequal", "rawlen", "_VERSION" }
local LIBS = { "string", "table", "math", "utf8" }

local function copy(lib, except)
  local t = {}
  for k, v in pairs(lib) do
    if not (except and except[k]) then t[k] = v end
  end
  return t
end

-- table.move runs its whole range in one C call: charged first.
local tmove = table.move
local function move(a1, f, e, t, a2)
  if math.type(f) == "integer" and math.type(e) == "integer" and e >= f then
    local n = e - f
    core.charge(n >= 0 and n + 1 or math.maxinteger, "table.move")
  end
  return tmove(a1, f, e, t, a2)
end

local unavailable = { io = true, os = true, require = true, debug = true, package = true,
                      dofile = true, loadfile = true, collectgarbage = true,
                      getmetatable = true, setmetatable = true, coroutine = true,
                      rawget = true, rawset = true }

--- env([extra]) -> a fresh environment with the safe set and extra's fields.
-- Reading a name that is not there is nil, as in plain Lua, except for the
-- names above, which raise "X is not available in the sandbox".
function _M.env(extra)
  local env = {}
  for _, k in ipairs(SAFE) do env[k] = _G[k] end
  for _, k in ipairs(LIBS) do env[k] = copy(_G[k], k == "string" and { dump = true } or nil) end
  env.math.randomseed = nil
  env.string.dump = function() error("string.dump is not available in the sandbox", 2) end
  for _, k in ipairs(BOUNDED) do env.string[k] = core[k] end
  env.table.move = move
  env.load = function(chunk, name, _, e)
    if type(chunk) == "string" and chunk:byte(1) == 27 then
      return nil, "binary chunks are not allowed in the sandbox"
    end
    return load(chunk, name, "t", e or env)
  end
  env._G = env
  for k, v in pairs(extra or {}) do env[k] = v end
  return setmetatable(env, {
    __index = function(_, k)
      if unavailable[k] then error(("%s is not available in the sandbox"):format(k), 2) end
      return nil
    end,
    __metatable = false,
  })
end

--- script_env([opts]) -> the environment of `qxtv run --sandbox`: the safe
-- set, and the facade of qxt.sandbox.facade (qxt, verify, io, os, arg,
-- print) with the files of opts.allow_read and opts.allow_write (and the
-- script's own inputs and --out). From then on the whole state counts as
-- sandboxed (bounded patterns for every call).
function _M.script_env(opts)
  opts = opts or {}
  local fields = require("qxt.sandbox.facade").new{ read = opts.allow_read, write = opts.allow_write,
                                                    arg = _G.arg }
  core.seal()
  return _M.env(fields)
end

--- call(fn, {instructions=, memory=}, ...) -> true, results... | false, message
-- Runs fn with both limits (0 = none); never raises for what fn does.
function _M.call(fn, limits, ...)
  limits = limits or {}
  return core.call(fn, limits.instructions or _M.INSTRUCTIONS, limits.memory or _M.MEMORY, ...)
end

--- loadfile(path, env [, limits]) -> the chunk's first value | nil, message
-- The file is read as text ("t"), run in env under the limits.
function _M.loadfile(path, env, limits)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("a")
  f:close()
  if text:byte(1) == 27 then return nil, path .. ": binary chunks are not allowed" end
  local chunk, lerr = load(text, "@" .. path, "t", env)
  if not chunk then return nil, lerr end
  local ok, value = _M.call(chunk, limits)
  if not ok then return nil, value end
  return value
end

--- used() -> bytes the engine's Lua state holds now.
_M.used = core.used

return _M
