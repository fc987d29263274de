--- tests/helpers/drill.lua: start tests/drills/drill_server (a server that
-- misbehaves on purpose, one way per MODE) on a free loopback port.
--   local d = drill.start("reset")
--   verify(m, n, { endpoint = d.endpoint }); d.stop()
local sim = require("tests.helpers.sim")

local _M = {}

local tmpdir = sim.tmpdir

--- Starts drill_server MODE [ARGS] (e.g. "--tls CERT KEY", shell words);
--- returns { url, endpoint, stop }.
function _M.start(mode, args)
  local bin = sim.qxtv():gsub("/[^/]*$", "") .. "/tests/drill_server"
  local dir = tmpdir()
  assert(os.execute(("%s %s --port-file %s/port %s >%s/out 2>&1 & echo $! >%s/pid"):format(
    sim.quote(bin), sim.quote(mode), dir, args or "", dir, dir)))
  local port
  for _ = 1, 200 do
    port = sim.read_file(dir .. "/port")
    if port and port:match("^%d+") then break end
    qxt.sleep(0.02)
  end
  assert(port and port:match("^%d+"), "drill_server did not start: " .. tostring(sim.read_file(dir .. "/out")))
  local pid = sim.read_file(dir .. "/pid"):match("%d+")
  local scheme = args and args:find("--tls", 1, true) and "https" or "http"
  local d = { url = scheme .. "://127.0.0.1:" .. port:match("%d+") }
  d.endpoint = d.url .. "/Phone_TwoElements"
  function d.stop()
    -- The server and its children (one per connection).
    os.execute("pkill -P " .. pid .. " 2>/dev/null; kill " .. pid .. " 2>/dev/null")
    os.execute("rm -rf " .. sim.quote(dir))
  end
  return d
end

return _M
