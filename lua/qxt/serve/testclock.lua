--- qxt.serve.testclock: `qxtv serve --clock-file FILE`, a clock a test can
-- move forward (docs/serve.md, "A clock for tests"). FILE holds a number of
-- seconds, added to the loop's monotonic clock (qxt.now) for everything the
-- request policy times: the cache's time to live, the limits' windows, the
-- idempotency window.
--
--   local tc, err = testclock.open(path)   -- nil, "PATH: why" when unusable
--   tc:now()     -> qxt.now() + the offset     (the policy's clock)
--   tc:poll()    -> nil | a line for the log   (the server calls it ~20 times a second)
--   tc.offset    the offset in force, seconds
--
-- Forward only: a value below the one in force is ignored (and said), so the
-- clock never runs back and no entry or window ever lasts longer than it
-- would without the file. It can only end them sooner, which is what a
-- restart does too (the state is in memory): the file gives nobody more than
-- restarting the process would. It must be private (0600, as --tokens), so
-- only the service's own user can move it.
local file = require("qxt.file")

local _M = {}

local Clock = {}
Clock.__index = Clock

local MAX = 10 * 366 * 86400       -- ten years: past every window and time to live

local function read(path)
  local text, err = file.read_private(path, 64)
  if not text then return nil, err end
  local n = tonumber(text:match("^%s*(.-)%s*$"))
  if not n or n ~= n or n < 0 or n > MAX then
    return nil, ("%s: wants a number of seconds, 0 to %d"):format(path, MAX)
  end
  return n
end

--- open(path) -> clock | nil, why
function _M.open(path)
  local n, err = read(path)
  if not n then return nil, err end
  return setmetatable({ path = path, offset = n }, Clock)
end

function Clock:now()
  return qxt.now() + self.offset
end

--- poll() -> nil | a message: reads the file again; a larger offset takes
-- effect, a smaller one or an unreadable file is ignored (said once).
function Clock:poll()
  local n, err = read(self.path)
  local msg
  if not n then
    msg = "test clock: " .. err .. "; the offset stays " .. self.offset
  elseif n < self.offset then
    msg = ("test clock: %s: %s is below the offset in force (%s): ignored, it only moves forward")
      :format(self.path, n, self.offset)
  elseif n > self.offset then
    self.offset = n
    self.said = nil
    return ("test clock: offset now %s s"):format(n)
  end
  if msg and msg ~= self.said then
    self.said = msg
    return msg
  end
  return nil
end

return _M
