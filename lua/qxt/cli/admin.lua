--- `qxtv admin status|resume --redis URL [--redis-password-file FILE] [--redis-prefix P]`:
-- what an operator does to the state qxtv instances share on Redis
-- (docs/scale-out.md).
--   status   says whether sending is halted (and why), and today's shared budget count
--   resume   clears the halt a fatal provider code (-1, -5, -9) set: every
--            instance may send again (within a second). Fix the account first.
local args = require("qxt.cli.args")
local exit = require("qxt.exit")
local shared_cli = require("qxt.shared.cli")

local USAGE = "usage: qxtv admin status|resume --redis URL [--redis-password-file FILE] [--redis-prefix P] "
  .. "[--redis-timeout MS]"

local say = args.sayer("admin")

local function parse(list)
  local o, err = args.parse(list, {
    other = function(o, name, value)
      if name == "redis" or name == "redis-password-file" or name == "redis-prefix" or name == "redis-timeout" then
        return shared_cli.set(o, name, value)
      end
      return false
    end,
  })
  if not o then return nil, err end
  if #o.words > 1 then return nil, "one action only (got also " .. o.words[2] .. ")" end
  o.action = o.words[1]
  if o.action ~= "status" and o.action ~= "resume" then return nil, "admin wants an action: status or resume" end
  local s
  s, err = shared_cli.finish(o)
  if err then return nil, err end
  if not s then return nil, "admin wants --redis URL" end
  o.shared = s
  return o
end

-- Connects and waits for the connection (an operator's command may wait a second).
local function connect(s)
  local r, err = require("qxt.redis").connect{ url = s.redis, password_file = s.password_file,
    prefix = s.prefix, timeout = math.max(s.timeout or 1, 1) }
  if not r then return nil, err end
  local state, why = r:settle(3)
  if state ~= "up" then
    r:close()
    return nil, ("Redis at %s is %s (%s)"):format(r.where, state, tostring(why))
  end
  return r
end

return function(...)
  local o, why = parse({ ... })
  if not o then return args.fail("admin", why, USAGE) end
  local r, err = connect(o.shared)
  if not r then
    say(err)
    return exit.FAILED
  end
  local halt_key = require("qxt.shared.halt").key(r)
  local halted, gerr = r:call("GET", halt_key)
  if halted == nil then
    say("cannot read ", halt_key, ": ", tostring(gerr))
    r:close()
    return exit.FAILED
  end
  if o.action == "resume" then
    if not halted then
      print("not halted: nothing to resume")
    else
      local ok, derr = r:call("DEL", halt_key)
      if ok == nil then
        say("cannot clear ", halt_key, ": ", tostring(derr))
        r:close()
        return exit.FAILED
      end
      print("resumed: the halt (" .. halted .. ") is cleared; every instance sends again within a second")
    end
  else
    print("halted: " .. (halted or "no"))
    local t = r:call("TIME")
    if type(t) == "table" then
      local used = r:call("GET", require("qxt.shared.budget").day_key(r, math.tointeger(tonumber(t[1]))))
      print(("daily budget: %s queries leased today (UTC)"):format(used or "0"))
    end
    local rate = r:call("PTTL", require("qxt.shared.ratelimit").key(r))
    print("shared rate limit: " .. ((math.type(rate) == "integer" and rate > 0) and "in use" or "idle"))
  end
  r:close()
  return exit.OK
end
