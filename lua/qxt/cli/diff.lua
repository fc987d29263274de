--- `qxtv diff OUT_A OUT_B [--key COLUMN] [--html FILE]`: how many rows moved
-- from which destination in run A to which in run B (qxt.diff), as a table
-- on standard output and, with --html, as a self-contained page. Made for
-- "what would my new rules change": run A as it was, B an --offline replay.
-- Exit 0 whatever the differences; 2 for a usage mistake or an output
-- directory that cannot be read; 1 when the page cannot be written.
local args = require("qxt.cli.args")
local diff = require("qxt.diff")
local exit = require("qxt.exit")

local USAGE = "usage: qxtv diff OUT_A OUT_B [--key COLUMN] [--html FILE]"

local say = args.sayer("diff")

local function parse(list)
  local o, err = args.parse(list, { valued = { key = true, html = true } })
  if not o then return nil, err end
  if #o.words ~= 2 then return nil, "diff wants two output directories, OUT_A and OUT_B" end
  o.a, o.b = o.words[1], o.words[2]
  return o
end

return function(...)
  local o, err = parse({ ... })
  if not o then return args.fail("diff", err, USAGE) end
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
    say("wrote ", o.html)
  end
  return exit.OK
end
