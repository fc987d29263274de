-- qxt.sqlite: what the SQLite source and sink share on top of qxtv's one
-- SQLite binding (qxt.sqlite.core, src/lib/lsqlite.c: prepared statements,
-- values always bound). Values never go into SQL text; the one thing that
-- does is an identifier (a sink's table and column names), and only once
-- ident() has checked it against a strict pattern and quoted it.
--   local db = sqlite.open(path, "qxt.sink.sqlite")   -- db | nil, err
--   local t = sqlite.ident(name, "table")             -- '"name"', or raises
local core = require("qxt.sqlite.core")

local _M = {}

_M.IDENT_MAX = 64

--- open(path, label [, opts]) -> db | nil, err: a connection whose
-- failures name label and path (opts as qxt.sqlite.core.open).
function _M.open(path, label, opts)
  opts = opts or {}
  local ok, db = pcall(core.open, path, { readonly = opts.readonly, label = label })
  if not ok then return nil, tostring(db) end
  return db
end

-- One character of an identifier: an ASCII letter, digit, underscore,
-- space, hyphen or dot, or a character beyond ASCII's and Latin-1's
-- controls (U+00A0 on: 手机号, 姓名, é). Quotes, brackets, semicolons,
-- controls and the like are never part of a name.
local function allowed(cp)
  if cp >= 0xA0 then return true end
  if cp >= 0x80 then return false end
  return utf8.char(cp):match("^[%w_ %-%.]$") ~= nil
end

--- ident(name, what) -> name quoted for SQL; raises "bad WHAT name ..."
-- if name is not 1 to IDENT_MAX characters of that pattern
-- (starting with neither a space nor "sqlite_", SQLite's own).
function _M.ident(name, what)
  local n = type(name) == "string" and utf8.len(name)
  local ok = n and n >= 1 and n <= _M.IDENT_MAX and not name:match("^ ") and not name:match(" $")
             and not name:lower():match("^sqlite_")
  if ok then
    for _, cp in utf8.codes(name) do
      if not allowed(cp) then ok = false; break end
    end
  end
  if not ok then
    error(("bad %s name %q: a name is 1 to %d letters, digits, '_', ' ', '-' or '.' "
           .. "(no quotes, brackets, semicolons or control characters; not starting with sqlite_)")
          :format(what, tostring(name), _M.IDENT_MAX), 0)
  end
  return '"' .. name .. '"'
end

return _M
