--- tests/helpers/serve.lua: the real `qxtv serve` in the background, on a
-- free port, spoken to with curl (tests/e2e/serve*_spec.lua).
--   local srv = serve.start(dir, sim, { flow =, text =, tag =, args =, engine =, apikey =, decision_log = })
--     (engine: the engine's options, before the flow; args: serve's, after it)
--   srv:verify{ mobile =, name = } --> status, body (decoded), headers text
--   srv:call(method, path, body, headers); srv:ready() (/readyz); srv:log() (stderr);
--   srv:decisions() (the decision log's lines, decoded; stdout unless
--   opts.decision_log names the file); srv:hup(); srv:stop() --> exit status
local cjson = require("cjson")
local sim = require("tests.helpers.sim")

local q = sim.quote

local _M = {}

_M.KEY = "0123456789abcdef0123456789abcdef"

--- The flow written when a spec names no flow file that exists (opts.text: another).
_M.FLOW = "if qxt.serving then return { serve = { limits = { qps = false } } } end\n"

--- wait_for(what, pred [, tries]) -> pred's first truthy value, within
--- tries x 20 ms (default 1500: ~30 s).
function _M.wait_for(what, pred, tries)
  for _ = 1, tries or 1500 do
    local v = pred()
    if v then return v end
    qxt.sleep(0.02)
  end
  error("timed out waiting for " .. what)
end
local wait_for = _M.wait_for

local Server = {}
Server.__index = Server

--- Starts `qxtv serve` in the background on a free port.
function _M.start(dir, s, opts)
  opts = opts or {}
  local flow = opts.flow or dir .. "/flow.lua"
  local exists = io.open(flow)
  if exists then exists:close() else sim.write_file(flow, opts.text or _M.FLOW) end
  local tag = opts.tag or "a"
  local port_file, rc, log, out = dir .. "/port-" .. tag, dir .. "/rc-" .. tag, dir .. "/log-" .. tag,
    dir .. "/out-" .. tag
  os.remove(port_file)
  os.remove(rc)
  local cmd = ("(QXT_ENDPOINT=%s QXT_APIKEY=%s %s serve %s %s --listen 127.0.0.1:0 --port-file %s %s >%s 2>%s & "
               .. "echo $! >%s; wait $!; echo $? >%s) &"):format(
    q(s.endpoint), q(opts.apikey or _M.KEY), q(sim.qxtv()), opts.engine or "", q(flow), q(port_file), opts.args or "",
    q(out), q(log), q(dir .. "/pid-" .. tag), q(rc))
  assert(os.execute(cmd))
  local got, port = pcall(wait_for, "the port file", function()
    local p = sim.read_file(port_file)
    return p and p:match("^(%d+)")
  end)
  assert(got, tostring(port) .. "; qxtv serve said: " .. (sim.read_file(log) or ""))
  local self = setmetatable({ dir = dir, port = port, url = "http://127.0.0.1:" .. port,
                              rc_file = rc, log_file = log, out_file = out,
                              decision_file = opts.decision_log or out }, Server)
  self.pid = sim.read_file(dir .. "/pid-" .. tag):match("%d+")
  return self
end

--- SIGTERM (unless sent already: a second one exits at once), then the exit status.
function Server:stop(signalled)
  if self.stopped then return self.stopped end
  if self.pid and not signalled then os.execute("kill -TERM " .. self.pid .. " 2>/dev/null") end
  -- The shell creates the file before it writes the status into it.
  local rc = wait_for("qxtv serve to exit", function() return (sim.read_file(self.rc_file) or ""):match("%d+") end)
  self.pid = nil
  self.stopped = tonumber(rc)
  return self.stopped
end

--- Whether the process is still there.
function Server:alive()
  return self.pid ~= nil and os.execute("kill -0 " .. self.pid .. " 2>/dev/null")
end

--- SIGHUP: reload the flow, reopen the decision log.
function Server:hup()
  assert(os.execute("kill -HUP " .. self.pid))
end

--- What the server said on stderr.
function Server:log() return sim.read_file(self.log_file) or "" end

--- The decision log's lines, each decoded (a line that is not JSON raises).
-- It is flushed every ~50 ms, so a spec waits for the lines it expects.
function Server:decisions()
  local lines = {}
  for line in (sim.read_file(self.decision_file) or ""):gmatch("[^\n]+") do
    lines[#lines + 1] = assert(cjson.decode(line), "not JSON: " .. line)
  end
  return lines
end

--- Waits until the decision log has n lines; returns them.
function Server:wait_decisions(n)
  return wait_for(n .. " decision log lines", function()
    local d = self:decisions()
    return #d >= n and d
  end)
end

--- One request with curl: status, body (decoded when JSON), headers text.
function Server:call(method, path, body, headers)
  local tmp = os.tmpname()
  -- A large body waits for "100 Continue" (curl's Expect) as long as it takes: the server
  -- refuses it before reading, and a client that sent it anyway could see a reset.
  local args = { "curl -s -o " .. q(tmp .. ".body") .. " -D " .. q(tmp .. ".head") .. " -w '%{http_code}'",
                 "--expect100-timeout 60 -X " .. method }
  for _, h in ipairs(headers or { "Content-Type: application/json" }) do args[#args + 1] = "-H " .. q(h) end
  if body then
    sim.write_file(tmp .. ".in", type(body) == "table" and cjson.encode(body) or body)
    args[#args + 1] = "--data-binary @" .. q(tmp .. ".in")
  end
  args[#args + 1] = q(self.url .. path)
  local p = io.popen(table.concat(args, " "))
  local status = tonumber(p:read("a"))
  p:close()
  local text, head = sim.read_file(tmp .. ".body"), sim.read_file(tmp .. ".head")
  for _, suffix in ipairs({ "", ".body", ".head", ".in" }) do os.remove(tmp .. suffix) end
  local ok, decoded = pcall(cjson.decode, text or "")
  return status, ok and decoded or text, head or ""
end

--- GET /readyz, decoded ({} when it is not JSON).
function Server:ready()
  local _, body = self:call("GET", "/readyz")
  return type(body) == "table" and body or {}
end

function Server:verify(body, headers)
  return self:call("POST", "/v1/verify", body, headers)
end

--- Starts a request in the background (curl); :result() waits for it and
-- returns status, body (decoded).
function Server:background(body, tag)
  local out, code = self.dir .. "/bg-" .. tag, self.dir .. "/bg-code-" .. tag
  os.remove(out)
  os.remove(code)
  assert(os.execute(("curl -s -o %s -w '%%{http_code}' -H 'Content-Type: application/json' -d %s %s >%s 2>&1 &")
    :format(q(out), q(cjson.encode(body)), q(self.url .. "/v1/verify"), q(code))))
  return {
    result = function()
      local c = wait_for("request " .. tag, function()
        local t = sim.read_file(code)
        return t and #t >= 3 and t
      end)
      local text = sim.read_file(out) or ""
      local ok, decoded = pcall(cjson.decode, text)
      return tonumber(c), ok and decoded or text
    end,
  }
end

return _M
