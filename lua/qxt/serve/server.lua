--- qxt.serve.server: the accept loop of `qxtv serve`. Each request runs in
-- a task of its own (so a handler may wait on verify()); a handler that
-- raises gives 500 with no detail, and the error is logged with its
-- personal data masked. SIGINT or SIGTERM stops accepting, lets the requests
-- in flight finish, then returns.
--
--   server.run(srv, handle, { log =, grace = 30, hangup =, tick = })
--     srv from qxt.httpd.core.listen; handle(req) -> status, headers, body
--     hangup()  called (in a task of its own) after SIGHUP, once for any
--               number of signals since the last call; nil: SIGHUP is not
--               caught (it ends the process, as by default)
--     tick()    called every ~50 ms while serving, and once after the last
--               request is answered (e.g. to flush a log)
local mask = require("qxt.mask")
local signal = require("qxt.signal")

local _M = {}

local INTERNAL = '{"error":"internal error"}'

-- An error message may quote a record: runs of digits long enough to be a
-- mobile, and words in other scripts than ASCII (names), are masked.
local function masked(msg)
  msg = tostring(msg):gsub("%d%d%d%d%d%d%d+", mask.mobile)
  msg = msg:gsub("[\128-\255][\128-\255%w·]*", mask.name)
  return msg
end
_M.masked = masked

local function one(srv_log, handle, req, r)
  local ok, status, headers, body = pcall(handle, r)
  if not ok or math.type(status) ~= "integer" then
    srv_log(("%s %s: handler failed: %s"):format(r.method, r.path,
      masked(ok and ("returned status " .. tostring(status)) or status)))
    status, headers, body = 500, { ["Content-Type"] = "application/json" }, INTERNAL
  end
  local sent, err = pcall(req.respond, req, status, headers, body)
  if not sent then                    -- e.g. a header with a line break
    srv_log(("%s %s: bad answer: %s"):format(r.method, r.path, masked(err)))
    req:respond(500, { ["Content-Type"] = "application/json" }, INTERNAL)
  end
end

function _M.run(srv, handle, opts)
  opts = opts or {}
  local log = opts.log or function(msg) io.stderr:write("qxtv serve: ", msg, "\n") end
  signal.catch(opts.grace or 30)
  if opts.hangup then signal.catch_hangup() end
  local tick = opts.tick or function() end
  qxt.spawn(function()
    local sig
    local seen = 0
    repeat
      qxt.sleep(0.05)
      -- A reload runs here, between polls: two SIGHUPs during one reload
      -- are one more reload, never lost and never run at once.
      local n = opts.hangup and signal.hangups() or 0
      if n ~= seen then
        seen = n
        local ok, err = pcall(opts.hangup)
        if not ok then log("reload failed: " .. masked(err)) end
      end
      tick()
      sig = signal.interrupted()
    until sig
    log(("%s: not accepting any more; finishing %d request(s) in flight"):format(sig, srv:inflight()))
    srv:quiesce()
  end)
  while true do
    local req, r = srv:next()
    if not req then break end
    qxt.spawn(one, log, handle, req, r)
  end
  while srv:inflight() > 0 do qxt.sleep(0.01) end
  srv:close()
  tick()
  signal.release()
  log("stopped")
end

return _M
