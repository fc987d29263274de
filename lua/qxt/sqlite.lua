-- qxt.sqlite: an SQLite connection through Debian's LuaSQL binding
-- (lua-sql-sqlite3), shared by the SQLite source and sink.
local _M = {}

--- connect(path) -> conn, env | nil, err. The caller closes both
-- (conn first).
function _M.connect(path)
  local env = require("luasql.sqlite3").sqlite3()
  local conn, err = env:connect(path)
  if not conn then
    env:close()
    return nil, ("%s: %s"):format(path, tostring(err))
  end
  return conn, env
end

return _M
