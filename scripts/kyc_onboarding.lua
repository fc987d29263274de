-- kyc_onboarding.lua: one decision per applicant — approve, review or
-- reject — from readable rules on the carrier's answer; the same rules on
-- a file and online.
--   qxtv run scripts/kyc_onboarding.lua applicants.csv|applicants.xlsx [OUT_DIR]
--     writes OUT_DIR/approve.csv, review.csv, reject.csv (default out-kyc/)
--   qxtv serve scripts/kyc_onboarding.lua --listen 127.0.0.1:8088
--     answers POST /v1/verify with the same decision (docs/serve.md)
local BIG_THREE = { ["中国移动"] = true, ["中国联通"] = true, ["中国电信"] = true }

-- The policy, in the order it is applied. The first rule that holds decides.
local rules = qxt.rules{
  { name = "name does not match", route = "reject",
    when = function(_, r) return r.consistent == false end },
  { name = "not a valid number or name", route = "reject",
    when = function(_, r) return r.class == "rejected" or r.class == "input" end },
  { name = "virtual operator", route = "review",
    when = function(_, r) return r.consistent and not BIG_THREE[r.isp] end },
  { name = "home area unknown", route = "review",
    when = function(_, r) return r.consistent and r.province == nil end },
  { name = "verified", route = "approve",
    when = function(_, r) return r.consistent == true end },
  otherwise = "review",                      -- no verdict: -4, retries used up, halted
}

-- Online, the decision is all `qxtv serve` needs; its self_test runs
-- before the rules serve (and on every reload): a verified person on a big
-- carrier is approved, a name that does not match is rejected.
if qxt.serving then
  return { rules = rules, self_test = function(check)
    local ok = { code = 0, class = "ok", consistent = true, isp = "中国移动", province = "北京" }
    local no = { code = 0, class = "ok", consistent = false, isp = "中国移动", province = "北京" }
    local who = { mobile = "13800138000", name = "李四" }
    return check(who, ok) == "approve" and check(who, no) == "reject"
  end }
end

local input, out = arg[1], arg[2] or "out-kyc"
if not input then
  io.stderr:write("usage: qxtv run scripts/kyc_onboarding.lua applicants.csv|applicants.xlsx [OUT_DIR]\n")
  os.exit(qxt.exit.USAGE)
end

local source = assert(qxt.source.file(input))   -- a CSV, or an Excel workbook (.xlsx)
assert(qxt.mkdir(out))
-- One run at a time in OUT_DIR: a second one would pay for every row again.
local _, lerr = qxt.file.lock(out .. "/.qxtv.lock")
if lerr then
  io.stderr:write("kyc_onboarding: ", lerr, "; nothing was sent or written\n")
  os.exit(qxt.exit.USAGE)
end
local sinks = {}
for _, decision in ipairs{ "approve", "review", "reject" } do
  sinks[decision] = qxt.sink.csv(out .. "/" .. decision .. ".csv", { columns = source:columns(), bom = true })
end

-- Stop before paying for a broken export (a wrong column, numbers mangled by
-- Excel): after 200 rows, a third unknown to the carrier or a fifth refused
-- as not a number means the file is wrong, not the applicants (exit 7).
local thresholds = { no_record = "rate < 0.3", rejected = "rate < 0.2", input = "rate < 0.2",
                     transport = "count < 50" }

local summary = qxt.flow{ source = source, sinks = sinks, route = rules, concurrency = 32,
                          thresholds = thresholds }
io.stderr:write(summary.text(), "\n")
