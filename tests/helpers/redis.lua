--- tests/helpers/redis.lua: a real redis-server (the Debian package) for a
-- spec, on a unix socket in a temp dir, without persistence.
--   local rs = redis_server.start()          -- waits until it answers PING
--   rs.url ("unix:///tmp/.../redis.sock"), rs.socket, rs:cli("GET", "k")
--   rs:pause() / rs:resume()                  -- SIGSTOP / SIGCONT
--   rs:kill() (SIGKILL) ; rs:restart()        -- same socket, empty data
--   rs:stop()
-- A password: redis_server.start{ password = "..." } (then rs.password_file).
-- Over TCP too: redis_server.start{ tcp = true } (then rs.tcp_url, on 127.0.0.1).
local sim = require("tests.helpers.sim")

local _M = {}

local SERVER = os.getenv("QXTV_REDIS_SERVER") or "/usr/bin/redis-server"
local CLI = os.getenv("QXTV_REDIS_CLI") or "/usr/bin/redis-cli"
local q = sim.quote

local function pause(s)
  if qxt and qxt.sleep then qxt.sleep(s) else os.execute("sleep " .. s) end
end

local Server = {}
Server.__index = Server

--- redis-cli against this server; returns its stdout (raw replies).
function Server:cli(...)
  local args = {}
  for i, v in ipairs({ ... }) do args[i] = q(v) end
  local auth = self.password and ("REDISCLI_AUTH=" .. q(self.password) .. " ") or ""
  local p = io.popen(auth .. CLI .. " -s " .. q(self.socket) .. " --no-auth-warning "
    .. table.concat(args, " ") .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

function Server:answers()
  return self:cli("PING"):match("PONG") ~= nil
end

function Server:launch()
  os.remove(self.socket)
  local conf = {
    "port " .. (self.port or 0), "bind 127.0.0.1", "unixsocket " .. self.socket, "unixsocketperm 700",
    "save ''", "appendonly no", "dir " .. self.dir, "daemonize no",
    "logfile " .. self.dir .. "/redis.log",
  }
  if self.password then conf[#conf + 1] = "requirepass " .. self.password end
  sim.write_file(self.dir .. "/redis.conf", table.concat(conf, "\n") .. "\n")
  assert(os.execute(("%s %s >/dev/null 2>&1 & echo $! >%s"):format(SERVER, q(self.dir .. "/redis.conf"),
    q(self.dir .. "/pid"))))
  self.pid = sim.read_file(self.dir .. "/pid"):match("%d+")
  for _ = 1, 250 do
    if self:answers() then return self end
    pause(0.02)
  end
  error("redis-server did not start: " .. (sim.read_file(self.dir .. "/redis.log") or ""))
end

function Server:signal(sig)
  if self.pid then os.execute("kill -" .. sig .. " " .. self.pid .. " 2>/dev/null") end
end

function Server:pause() self:signal("STOP") end
function Server:resume() self:signal("CONT") end

--- SIGKILL, and waits until the process is gone.
function Server:kill()
  if not self.pid then return end
  self:signal("CONT")
  self:signal("KILL")
  for _ = 1, 250 do
    if not os.execute("kill -0 " .. self.pid .. " 2>/dev/null") then break end
    pause(0.02)
  end
  self.pid = nil
end

--- A new server on the same socket (its data gone, as after a crash
-- without persistence).
function Server:restart()
  self:kill()
  return self:launch()
end

function Server:stop()
  self:kill()
  os.execute("rm -rf " .. q(self.dir))
end

function _M.available()
  return os.execute("test -x " .. q(SERVER))
end

function _M.start(opts)
  opts = opts or {}
  -- A short directory: a unix socket path has at most 107 bytes.
  local dir = sim.tmpdir()
  local s = setmetatable({ dir = dir, socket = dir .. "/redis.sock", password = opts.password }, Server)
  s.url = "unix://" .. s.socket
  if opts.tcp then
    -- A free port: the kernel's pick for a socket just closed is free for now.
    local p = io.popen("/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); "
                       .. "print(s.getsockname()[1])'")
    s.port = tonumber(p:read("a"):match("%d+"))
    p:close()
    s.tcp_url = ("redis://127.0.0.1:%d/0"):format(s.port)
  end
  if s.password then
    s.password_file = dir .. "/password"
    sim.write_file(s.password_file, s.password .. "\n")
    os.execute("chmod 600 " .. q(s.password_file))
  end
  return s:launch()
end

--- wait_up(r) -> true once the qxt.redis connection r is up again (in the
--- loop), false after ~10 s.
function _M.wait_up(r)
  for _ = 1, 1000 do
    if r:up() then return true end
    r:call("PING")
    qxt.sleep(0.01)
  end
  return false
end

return _M
