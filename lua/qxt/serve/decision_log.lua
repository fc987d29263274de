--- qxt.serve.decision_log: `qxtv serve`'s decision log, one JSON object a
-- line, for audit ("who asked what about whom, under which rules, and what
-- was answered") and for comparing a shadow's rules with the live ones.
--
--   local dlog = require("qxt.serve.decision_log")
--   local log, err = dlog.open(path)   -- nil or "-": standard output;
--                                      -- else appended to, mode 0600
--   log:write{ decision_id =, caller =, mobile =, name =, ... }
--   log:flush()                        -- the server calls it every ~50 ms
--   log:reopen() -> true | nil, err    -- SIGHUP: after logrotate moved it
--   log:close()
--
-- The fields `mobile` and `name` are always written masked (qxt.mask),
-- whatever the caller passes: the log never holds them in plaintext. The
-- caller passes no apikey and no token (there is none in the fields the
-- server writes). Lines are buffered and written whole by flush(), so a
-- decision costs no system call of its own; what is buffered when the
-- process is killed (SIGKILL, the grace period's end) is lost, as any
-- buffered log's is. A write error is reported once on stderr and the
-- line dropped: the log must not be what stops the service.
local cjson = require("cjson.safe")
local mask = require("qxt.mask")

local _M = {}

local Log = {}
Log.__index = Log

local function open_file(path)
  if path == nil or path == "-" then
    io.stdout:setvbuf("full", 65536)
    return io.stdout
  end
  local f, err = require("qxt.file").append_private(path)
  if not f then return nil, err end
  f:setvbuf("full", 65536)
  return f
end

--- open(path) -> log | nil, err
function _M.open(path)
  local f, err = open_file(path)
  if not f then return nil, err end
  return setmetatable({ path = path ~= "-" and path or nil, f = f, failed = false }, Log)
end

function Log:write(fields)
  local t = {}
  for k, v in pairs(fields) do t[k] = v end
  if t.mobile ~= nil then t.mobile = mask.mobile(t.mobile) end
  if t.name ~= nil then t.name = mask.name(t.name) end
  local line = cjson.encode(t)
  if not line then return end
  local ok, err = self.f:write(line, "\n")
  if not ok and not self.failed then
    self.failed = true
    io.stderr:write("qxtv serve: decision log: ", tostring(err), "\n")
  end
end

function Log:flush()
  local ok, err = self.f:flush()
  if not ok and not self.failed then
    self.failed = true
    io.stderr:write("qxtv serve: decision log: ", tostring(err), "\n")
  end
end

--- reopen() -> true | nil, err: the file at the path again (a new one if
-- it was moved away). On failure the old file stays in use.
function Log:reopen()
  if not self.path then return true end
  self:flush()
  local f, err = open_file(self.path)
  if not f then return nil, err end
  self.f:close()
  self.f, self.failed = f, false
  return true
end

function Log:close()
  self:flush()
  if self.path then self.f:close() end
end

return _M
