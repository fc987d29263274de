--- tests/helpers/sim.lua: start a real simulator process (build/qxt-sim)
-- with the options a spec needs, on a free loopback port.
--   local s = sim.start{ "--latency", "100ms" }
--   verify(m, n, { endpoint = s.endpoint }); s:stats(); s:stop()
local cjson = require("cjson")

local _M = {}

-- The qxtv binary under test, as an absolute path (specs may cd).
local function qxtv_bin()
  local bin = os.getenv("QXTV_BIN") or "build/qxtv"
  if bin:sub(1, 1) ~= "/" then bin = os.getenv("PWD") .. "/" .. bin end
  return bin
end

local function build_dir()
  return (qxtv_bin():gsub("/[^/]*$", ""))
end

--- The qxtv binary under test.
function _M.qxtv()
  return qxtv_bin()
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
_M.quote = shell_quote

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
_M.read_file = read_file

--- Writes text to path (raises on failure).
function _M.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
end

--- A fresh empty directory.
function _M.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. shell_quote(d)))
  return d
end

local function pause(s)
  if qxt and qxt.sleep then qxt.sleep(s) else os.execute("sleep " .. s) end
end

local Sim = {}
Sim.__index = Sim

function Sim:stats()
  local p = io.popen("curl -sf " .. shell_quote(self.url .. "/stats"))
  local body = p:read("a")
  p:close()
  return cjson.decode(body)
end

function Sim:reset()
  os.execute("curl -sf -X POST " .. shell_quote(self.url .. "/stats/reset") .. " >/dev/null")
end

function Sim:stop()
  if self.pid then
    os.execute("kill " .. self.pid .. " 2>/dev/null")
    self.pid = nil
  end
end

--- Starts a simulator with the given options; waits until it listens.
function _M.start(opts)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. shell_quote(dir)))
  local args = {}
  for i, v in ipairs(opts or {}) do args[i] = shell_quote(v) end
  local cmd = string.format("%s/qxt-sim --port 0 --port-file %s %s >%s 2>&1 & echo $! >%s",
    build_dir(), shell_quote(dir .. "/port"), table.concat(args, " "),
    shell_quote(dir .. "/out"), shell_quote(dir .. "/pid"))
  assert(os.execute(cmd))
  local port
  for _ = 1, 200 do
    port = read_file(dir .. "/port")
    if port and port:match("^%d+") then break end
    pause(0.02)
  end
  assert(port and port:match("^%d+"), "simulator did not start: " .. (read_file(dir .. "/out") or ""))
  local s = setmetatable({
    dir = dir,
    pid = read_file(dir .. "/pid"):match("%d+"),
    url = "http://127.0.0.1:" .. port:match("%d+"),
  }, Sim)
  s.endpoint = s.url .. "/Phone_TwoElements"
  return s
end

--- The simulator's test key (tests/with-sim.sh): qxtv removes QXT_APIKEY
-- from its own environment, so the qxtv running a spec cannot pass it on.
function _M.apikey()
  return os.getenv("QXTV_TEST_APIKEY")
end

--- Runs a shell command; returns its stdout, stderr and exit status. env
-- adds variables; QXT_APIKEY is the test key unless env sets it.
function _M.run(cmd, env)
  local out, err = os.tmpname(), os.tmpname()
  local prefix = ""
  env = env or {}
  if env.QXT_APIKEY == nil and _M.apikey() then prefix = "export QXT_APIKEY=" .. shell_quote(_M.apikey()) .. "; " end
  for k, v in pairs(env) do prefix = prefix .. k .. "=" .. shell_quote(v) .. " " end
  local ok, _, status = os.execute(prefix .. cmd .. " >" .. out .. " 2>" .. err)
  local o, e = read_file(out), read_file(err)
  os.remove(out)
  os.remove(err)
  return o, e, ok and 0 or status
end

return _M
