--- `qxtv diff OUT_A OUT_B [--key COLUMN] [--html FILE]`: how many rows moved
-- from which destination in run A to which in run B (qxt.diff), as a table
-- on standard output and, with --html, as a self-contained page. Made for
-- "what would my new rules change": run A as it was, B an --offline replay.
-- Exit 0 whatever the differences; 2 for a usage mistake or an output
-- directory that cannot be read; 1 when the page cannot be written.
local diff = require("qxt.diff")
local exit = require("qxt.exit")

local USAGE = "usage: qxtv diff OUT_A OUT_B [--key COLUMN] [--html FILE]"

local function say(...)
  io.stderr:write("qxtv diff: ", ...)
  io.stderr:write("\n")
end

local function parse(args)
  local o, dirs = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local key = a:match("^%-%-([%w-]+)$")
    if key == "key" or key == "html" then
      if not args[i + 1] then return nil, "--" .. key .. " wants a value" end
      o[key] = args[i + 1]
      i = i + 2
    elseif key then
      return nil, "unknown option " .. a
    else
      dirs[#dirs + 1] = a
      i = i + 1
    end
  end
  if #dirs ~= 2 then return nil, "diff wants two output directories, OUT_A and OUT_B" end
  o.a, o.b = dirs[1], dirs[2]
  return o
end

return function(...)
  local o, err = parse({ ... })
  if not o then
    say(err)
    io.stderr:write(USAGE, "\n")
    return exit.USAGE
  end
  local d, cerr = diff.compare(o.a, o.b, { key = o.key })
  if not d then
    say(cerr)
    return exit.USAGE
  end
  print(diff.text(d))
  if o.html then
    local ok, werr = diff.write_html(d, o.html)
    if not ok then
      say("cannot write ", tostring(werr))
      return exit.FAILED
    end
    io.stderr:write("qxtv diff: wrote ", o.html, "\n")
  end
  return exit.OK
end
