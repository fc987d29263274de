--- qxt.redis: a Redis connection for the state several qxtv processes share
-- (docs/scale-out.md). The connection lives in the engine's own loop
-- (src/lib/lredis.c, hiredis): a round trip never blocks it, the calling
-- task waits, and a Redis that is down or slow costs one `timeout` at most.
--
--   local redis = require("qxt.redis")
--   local r = redis.connect{ url = "redis://127.0.0.1:6379/0" | "unix:///run/redis.sock?db=2",
--                            password_file = PATH | nil, timeout = 0.05, prefix = "qxtv:" }
--   r:call("INCR", r:key("n")) -> reply | nil, err
--   local s = r:script(LUA_SOURCE); s:run({ keys }, { args }) -> reply | nil, err
--   r:up() -> boolean;   r:state() -> "up" | "connecting" | "down" | "closed", why
--   r:settle(seconds) -> state, why   (waits while the first connect is under way)
--   r:key("budget", "day") -> "qxtv:budget:day"
--
-- connect never waits: the connection is made (and made again after a
-- failure, with a back-off) from the loop. Replies: integer -> integer,
-- bulk/status -> string, nil -> false, array -> table (1..n); an error reply
-- -> nil, "ERR ...". Transport outcomes are nil, "timeout" (no reply within
-- timeout s; the late reply is dropped) and nil, "down" (not connected: at
-- once). The password comes only from a file that others cannot read; it is
-- never part of the URL, a message or a log line.
local core = require("qxt.redis.core")

local _M = {}

local Redis = {}
Redis.__index = Redis

-- The database number of a URL (digits), or nil past what the binding
-- takes (src/lib/lredis.c: 0 .. 1000000).
local MAX_DB = 1000000
local function database(digits)
  local n = math.tointeger(tonumber(digits))
  if n and n <= MAX_DB then return n end
  return nil, ("redis URL: database %s is not a number from 0 to %d"):format(digits, MAX_DB)
end

--- Parses a Redis URL into { host, port } or { path }, plus db. Returns
-- nil, message on a malformed URL; the message never repeats the URL's
-- userinfo (it might be a password pasted by mistake).
function _M.parse_url(url)
  if type(url) ~= "string" or url == "" then return nil, "redis URL: empty" end
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then
    return nil, "redis URL: expected redis://HOST[:PORT][/DB] or unix:///PATH[?db=N]"
  end
  scheme = scheme:lower()
  if scheme == "rediss" then
    return nil, "redis URL: rediss:// (TLS) is not supported; use a local TLS tunnel or a unix socket"
  end
  if scheme == "unix" then
    local path, query = rest:match("^([^?]*)%??(.*)$")
    if path:sub(1, 1) ~= "/" then return nil, "redis URL: unix:// needs an absolute path (unix:///run/redis.sock)" end
    local db = 0
    if query ~= "" then
      local n = query:match("^db=(%d+)$")
      if not n then return nil, "redis URL: unix socket options: only ?db=N is understood" end
      local err
      db, err = database(n)
      if not db then return nil, err end
    end
    return { path = path, db = db }
  end
  if scheme ~= "redis" then return nil, ("redis URL: scheme %s:// is not redis:// or unix://"):format(scheme) end
  local authority, tail = rest:match("^([^/]*)(.*)$")
  if authority:find("@", 1, true) then
    return nil, "redis URL: a password in the URL is refused (it would show in `ps`); use --redis-password-file"
  end
  local host, port = authority:match("^%[([%x:.]+)%]:?(%d*)$")
  if not host then host, port = authority:match("^([%w.-]+):?(%d*)$") end
  if not host or host == "" then return nil, "redis URL: no host (redis://127.0.0.1:6379/0)" end
  local digits = port
  port = port == "" and 6379 or math.tointeger(tonumber(port))
  if not port or port < 1 or port > 65535 then
    return nil, ("redis URL: port %s is not between 1 and 65535"):format(digits)
  end
  local db = 0
  if tail ~= "" and tail ~= "/" then
    local n = tail:match("^/(%d+)$")
    if not n then return nil, "redis URL: the path must be a database number (/0 .. /15)" end
    local err
    db, err = database(n)
    if not db then return nil, err end
  end
  return { host = host, port = port, db = db }
end

--- Reads the password from a file that only its owner may read.
local function read_password(path)
  local file = require("qxt.file")
  local text, err = file.read_private(path)
  if not text then return nil, "--redis-password-file: " .. tostring(err) end
  text = text:gsub("[\r\n]+$", "")
  if text == "" then return nil, "--redis-password-file " .. path .. ": empty" end
  if text:find("[\r\n%z]") then return nil, "--redis-password-file " .. path .. ": more than one line" end
  return text
end

--- Opens a connection (see the header). Returns nil, message on a bad URL
-- or password file; never for an unreachable server (that is "down").
function _M.connect(opts)
  local where, err = _M.parse_url(opts.url)
  if not where then return nil, err end
  local password
  if opts.password_file then
    password, err = read_password(opts.password_file)
    if not password then return nil, err end
  end
  local timeout = opts.timeout or 0.05
  if type(timeout) ~= "number" or timeout <= 0 or timeout > 60 then
    return nil, "redis timeout must be between 0 and 60 seconds"
  end
  local prefix = opts.prefix or "qxtv:"
  if type(prefix) ~= "string" or prefix:find("[%s%c]") then
    return nil, "redis prefix: no spaces or control characters"
  end
  local conn = core.connect{
    host = where.host, port = where.port, path = where.path, db = where.db,
    password = password, timeout = timeout, connect_timeout = opts.connect_timeout,
  }
  return setmetatable({ conn = conn, prefix = prefix, timeout = timeout,
    where = where.path and ("unix:" .. where.path) or (where.host .. ":" .. where.port) }, Redis)
end

function Redis:call(...)
  return self.conn:call(...)
end

function Redis:up()
  return (self.conn:state()) == "up"
end

function Redis:state()
  return self.conn:state()
end

--- r:settle(seconds) -> state, why: waits (in the loop, at most seconds)
--- while the connection is still being made, for a caller that wants to
--- say at start whether Redis is there.
function Redis:settle(seconds)
  local deadline = qxt.now() + seconds
  while self.conn:state() == "connecting" and qxt.now() < deadline do qxt.sleep(0.01) end
  return self.conn:state()
end

function Redis:stats()
  return self.conn:stats()
end

function Redis:close()
  self.conn:close()
end

--- The key of parts joined by ":" under the prefix.
function Redis:key(...)
  return self.prefix .. table.concat({ ... }, ":")
end

local Script = {}
Script.__index = Script

--- A server-side Lua script, run by its SHA1 (loaded on first use and
-- again after a NOSCRIPT: a restarted Redis forgets its scripts).
function Redis:script(source)
  return setmetatable({ r = self, source = source }, Script)
end

local function run_args(sha, keys, args)
  local a = { "EVALSHA", sha, #keys }
  for _, k in ipairs(keys) do a[#a + 1] = k end
  for _, v in ipairs(args or {}) do a[#a + 1] = v end
  return a
end

function Script:run(keys, args)
  keys = keys or {}
  for _ = 1, 2 do
    if not self.sha then
      local sha, err = self.r.conn:call("SCRIPT", "LOAD", self.source)
      if not sha then return nil, err end
      self.sha = sha
    end
    local reply, err = self.r.conn:call(table.unpack(run_args(self.sha, keys, args)))
    if reply ~= nil or not (err and err:find("^NOSCRIPT")) then return reply, err end
    self.sha = nil
  end
  return nil, "NOSCRIPT: the script could not be loaded"
end

return _M
