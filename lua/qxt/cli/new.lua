--- `qxtv new NAME`: writes NAME.lua, a commented starter flow that runs as
-- is against the simulator (`qxtv sim`), to be edited into your own.
local exit = require("qxt.exit")
local TEMPLATE = [=[
-- %s: a verification flow. Run it with
--   qxtv run %s [INPUT.csv]
-- or serve its decision online (docs/serve.md) with
--   qxtv serve %s --listen 127.0.0.1:8088
-- Without an INPUT.csv it verifies a few sample records (known to the
-- simulator: start one with `qxtv sim --port 8080` and
--   export QXT_ENDPOINT=http://127.0.0.1:8080/Phone_TwoElements
--   export QXT_APIKEY=0123456789abcdef0123456789abcdef ).

-- 1. Cleaning: the built-in rules normalise +86, blanks, dashes and
--    full-width digits. Add your own to a cleaner, e.g. refuse test numbers:
local cleaner = qxt.clean.new()
table.insert(cleaner.mobile_rules, qxt.clean.reject("^1380000", "test number"))

-- 2. The decision: rules that decide before the default outcomes
--    (consistent, inconsistent, invalid, unverified).
local rules = qxt.route.rules{
  { name = "mismatch needs a person", route = "review",
    when = function(_, r) return r.consistent == false end },
}

-- 3. Online: `qxtv serve %s` loads this file with qxt.serving = true and
--    takes the decision from here (docs/serve.md): the same cleaning and
--    rules answer POST /v1/verify. Its self_test runs before the rules
--    serve (at start and on every reload, SIGHUP): unless it returns true
--    they do not. Everything below is the batch run.
if qxt.serving then
  return { rules = rules, clean = cleaner, self_test = function(check)
    return check({ mobile = "13972565391", name = "李四" }, { code = 0, class = "ok", consistent = false })
      == "review"
  end }
end

-- 4. Where records come from: a CSV or an Excel workbook (.xlsx, its first
--    sheet) with a mobile column (mobile, phone, 手机号, 手机号码, 手机) and a
--    name column (name, 姓名), or a Lua table.
local source
if arg[1] then
  source = assert(qxt.source.file(arg[1], { encoding = "auto" }))
else
  source = qxt.source.table{
    { mobile = "13972565391", name = "张三" },
    { mobile = "+86 139-7256-5391", name = "李四" },      -- cleaned, then 不一致
    { mobile = "1390000", name = "王五" },                -- rejected locally
    { mobile = "13900000004", name = "赵六" },            -- no record (-4)
  }
end

-- 5. Where results go: one sink per outcome, plus any of your own.
local out = "out-%s"
assert(qxt.mkdir(out))
local columns = source.columns and source:columns() or { "mobile", "name" }
local sinks = {}
for _, outcome in ipairs{ "consistent", "inconsistent", "invalid", "unverified", "review" } do
  sinks[outcome] = qxt.sink.csv(out .. "/" .. outcome .. ".csv", columns)
end

-- 6. Run: how many queries in flight, how fast, how to retry -8.
local summary = qxt.flow{
  source = source,
  sinks = sinks,
  clean = cleaner,
  concurrency = 16,
  rate = 50,                                   -- queries per second at most
  retry = qxt.retry.policy{ on = { -8, "transport" }, attempts = 5, backoff = 0.2, factor = 2 },
  route = rules,
}

-- 7. The end: a summary for people, and a report with charts.
print(summary.text())
assert(qxt.report.write(summary, out .. "/report.html"))
print("outputs and report.html in " .. out .. "/")
]=]

return function(name)
  if not name or name == "" or name:find("[/\\%%]") then
    io.stderr:write("qxtv new: give a plain NAME (letters, digits, - or _), e.g. qxtv new my_flow\n")
    return exit.USAGE
  end
  local base = name:gsub("%.lua$", "")
  local path = base .. ".lua"
  if io.open(path, "r") then
    io.stderr:write("qxtv new: ", path, " exists already; not overwriting it\n")
    return exit.FAILED
  end
  local f = assert(io.open(path, "w"))
  f:write(TEMPLATE:format(path, path, path, path, base))
  f:close()
  print("wrote " .. path .. "; run it with: qxtv run " .. path .. " (or serve it: qxtv serve " .. path .. ")")
  return exit.OK
end
