-- qxt.sandbox.paths: which files a `run --sandbox` flow may open. The
-- operator names them (--allow-read PATH, --allow-write DIR, the script's
-- file arguments and its --out); a path is judged after it is resolved:
-- symbolic links followed, `..` gone, relative to the current directory.
-- A path that does not exist yet is judged by its parent directory, and a
-- dangling symbolic link is refused (opening it would create its target).
local core = require("qxt.sandbox.core")

local _M = {}

--- resolve(path) -> the absolute path, links resolved | nil, why
function _M.resolve(path)
  if type(path) ~= "string" or path == "" then return nil, "not a path: " .. tostring(path) end
  local real, err, missing = core.realpath(path)
  if real then return real end
  if not missing then return nil, err end
  if core.is_link(path) then return nil, path .. " is a symbolic link to nothing" end
  local trimmed = path:gsub("/+$", "")
  local dir, base = trimmed:match("^(.*)/([^/]*)$")
  if not dir then dir, base = ".", trimmed end
  if dir == "" then dir = "/" end
  if base == "" or base == "." or base == ".." then return nil, path .. ": not a file name" end
  local parent, perr = _M.resolve(dir)
  if not parent then return nil, perr end
  return (parent == "/" and "" or parent) .. "/" .. base
end

local function under(path, dir)
  return path == dir or dir == "/" or path:sub(1, #dir + 1) == dir .. "/"
end

local Policy = {}
Policy.__index = Policy

--- new{ read = {paths}, write = {dirs} } -> policy. Entries that cannot be
-- resolved are left out (an --out that cannot exist allows nothing).
function _M.new(opts)
  local self = setmetatable({ read = {}, write = {} }, Policy)
  for _, kind in ipairs{ "read", "write" } do
    for _, p in ipairs(opts[kind] or {}) do
      local real = _M.resolve(p)
      if real then table.insert(self[kind], real) end
    end
  end
  return self
end

-- why: the resolved path when it differs from the one given, or the reason
-- it could not be resolved.
local function refuse(verb, path, real, why, option)
  if real and real ~= path then why = "it is " .. real end
  error(("%s %s is not allowed in the sandbox%s: pass %s to qxtv"):format(verb, tostring(path),
    why and (" (" .. why .. ")") or "", option), 3)
end

--- policy:read(path): raises unless path may be read (what may be
-- written may be read too).
function Policy:check_read(path)
  local real, why = _M.resolve(path)
  if real then
    for _, list in ipairs{ self.read, self.write } do
      for _, p in ipairs(list) do
        if under(real, p) then return real end
      end
    end
  end
  refuse("reading", path, real, why, "--allow-read PATH")
end

--- policy:write(path [, verb]): raises unless path is inside a writable
-- directory (or, for mkdir, is one).
function Policy:check_write(path, verb)
  local real, why = _M.resolve(path)
  if real then
    for _, p in ipairs(self.write) do
      if under(real, p) and (real ~= p or verb == "creating") then return real end
    end
  end
  refuse(verb or "writing", path, real, why, "--allow-write DIR")
end

return _M
