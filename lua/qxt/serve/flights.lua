-- qxt.serve.flights: identical work in flight at once done once. The first
-- caller of join(key, fn) starts fn in a task of its own (qxt.spawn); every
-- caller, the first included, waits for that task (qxt.wait) and gets the
-- same results. So 100 identical requests at once make one provider query.
--
--   local f = flights.new()
--   local res, shared = f:join(key, function() return verify(q) end)
--   -- res: fn's results packed ({n = ..., ...}); shared: true when this
--   -- caller waited for another's fn instead of starting one
--
-- fn runs in its own task, not the first caller's, so that the first caller
-- going away (its connection closed, its task ended) does not take the
-- answer away from the others. An error in fn is raised in every caller,
-- with fn's message. Works from tasks and from the main chunk alike (both
-- can qxt.wait). Keys are whatever the caller gives: pass hashes, not
-- personal data (the table lives as long as the flight).
local _M = {}

local Flights = {}
Flights.__index = Flights

function _M.new()
  return setmetatable({ tasks = {} }, Flights)
end

--- f:busy(key) -> true while a flight for key is on. Between busy() and
--- join() nothing yields, so a caller that saw no flight is the one that
--- starts it (tasks are cooperative).
function Flights:busy(key)
  return self.tasks[key] ~= nil
end

--- f:join(key, fn) -> results (packed), shared
function Flights:join(key, fn)
  local tasks = self.tasks
  local task = tasks[key]
  local shared = task ~= nil
  if not task then
    task = qxt.spawn(function()
      local res = table.pack(pcall(fn))
      tasks[key] = nil       -- before anyone resumes: a later request starts anew
      return res
    end)
    tasks[key] = task
  end
  local res = qxt.wait(task)
  if not res then error("a coalesced query's task failed", 0) end
  if not res[1] then error(res[2], 0) end
  return table.pack(table.unpack(res, 2, res.n)), shared
end

return _M
