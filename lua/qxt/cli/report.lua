--- `qxtv report SUMMARY.json [REPORT.html]`: the HTML report of a finished
-- run, from its summary.json (default output: report.html beside it).
local exit = require("qxt.exit")
local cjson = require("cjson")
local report = require("qxt.report")

return function(input, output)
  local f, err = io.open(input or "", "rb")
  if not f then
    io.stderr:write("qxtv report: cannot read ", tostring(input), ": ", tostring(err), "\n")
    return exit.USAGE
  end
  local ok, s = pcall(cjson.decode, f:read("a"))
  f:close()
  if not ok or type(s) ~= "table" then
    io.stderr:write("qxtv report: ", input, " is not a run summary (summary.json)\n")
    return exit.USAGE
  end
  output = output or (input:gsub("[^/]*$", "") .. "report.html")
  local wrote, werr = report.write(s, output)
  if not wrote then
    io.stderr:write("qxtv report: cannot write ", tostring(werr), "\n")   -- werr names the file
    return exit.FAILED
  end
  print(output)
  return exit.OK
end
