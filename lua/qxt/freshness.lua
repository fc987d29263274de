--- qxt.freshness: how long an answer may be reused instead of asking (and
-- paying) again, by its outcome. One table for `qxtv serve`'s cache
-- (qxt.serve.cache) and for a run's --reuse-from (qxt.journal:reuse_from).
--
--   outcome        the answer                      default age
--   consistent     code 0, status 一致              30 days
--   inconsistent   code 0, status 不一致            7 days
--   no_record      code -4                          1 day
--
-- Never reused, whatever the ages: any other code (1, -2, -3 are free to
-- ask again; -1, -5, -8, -9 are no answer), a status the provider does not
-- document, a transport failure, an answer about someone else (mismatch),
-- anything possibly charged: asking again is either useless or the only way
-- to learn the answer.
local codes = require("qxt.codes")

local _M = {}

local DAY = 86400

--- Seconds by outcome. Shared, not copied: change it here for both.
_M.DEFAULT = { consistent = 30 * DAY, inconsistent = 7 * DAY, no_record = DAY }

_M.OUTCOMES = { "consistent", "inconsistent", "no_record" }

--- outcome(answer) -> "consistent" | "inconsistent" | "no_record" | nil
--- (nil: never reused).
function _M.outcome(answer)
  if type(answer) ~= "table" or answer.possibly_charged or math.type(answer.code) ~= "integer" then
    return nil
  end
  if answer.code == 0 and answer.class == "ok" then
    local consistent = codes.verdict(answer.status, answer.area)
    if consistent == true then return "consistent" end
    if consistent == false then return "inconsistent" end
    return nil
  end
  if answer.code == -4 and answer.class == "no_record" then return "no_record" end
  return nil
end

local function seconds(v) return math.type(v) ~= nil and v >= 0 end

--- ages(spec [, name]) -> seconds by outcome (a new table) | nil, message.
--- The one way ages are given, for --max-age, journal:reuse_from and the
--- serve cache's ttl: nil for the defaults; seconds for every outcome; or a
--- table { consistent =, inconsistent =, no_record = } of seconds, the
--- outcomes left out keeping their defaults. 0 or false: never reused.
--- name is the caller's name for spec, for the message ("serve.cache.ttl").
function _M.ages(spec, name)
  name = name or "ages"
  local out = {}
  for k, v in pairs(_M.DEFAULT) do out[k] = v end
  if spec == nil then return out end
  if type(spec) ~= "table" then
    if not seconds(spec) then
      return nil, ("%s: seconds (>= 0) for every outcome, or a table of them by outcome"):format(name)
    end
    for k in pairs(out) do out[k] = spec end
    return out
  end
  for k, v in pairs(spec) do
    if _M.DEFAULT[k] == nil then
      return nil, ("%s.%s: no such outcome (consistent, inconsistent, no_record)"):format(name, tostring(k))
    end
    if v ~= false and not seconds(v) then return nil, ("%s.%s: seconds (>= 0) or false"):format(name, k) end
    out[k] = v or 0
  end
  return out
end

local function days(s)
  local n = s:match("^%s*(%d+%.?%d*)%s*$")
  n = n and tonumber(n)
  return n
end

--- parse(text) -> seconds by outcome | nil, message.
--- "30" is one age in days for every outcome; "consistent=30,inconsistent=7,
--- no_record=1" one per outcome (days, fractions allowed, 0 = never reused),
--- an outcome left out keeping its default. nil or "" gives the defaults.
function _M.parse(text)
  if text == nil or text == "" then return _M.ages(nil) end
  if type(text) == "number" then text = tostring(text) end
  local one = days(text)
  if one then return _M.ages(one * DAY) end
  local out = {}
  for part in (text .. ","):gmatch("([^,]*),") do
    local k, v = part:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if not k then
      return nil, ("'%s': write one age in days (30) or one per outcome (consistent=30,inconsistent=7,no_record=1)")
        :format(text)
    end
    if _M.DEFAULT[k] == nil then
      return nil, ("'%s': no outcome '%s' (consistent, inconsistent, no_record; fatal, transport and possibly "
                   .. "charged answers are never reused)"):format(text, k)
    end
    local d = days(v)
    if not d then return nil, ("'%s': '%s' is not a number of days"):format(text, v) end
    out[k] = d * DAY
  end
  return _M.ages(out)
end

--- describe(ages) -> "consistent 30 d, inconsistent 7 d, no_record 1 d"
function _M.describe(ages)
  local parts = {}
  for _, k in ipairs(_M.OUTCOMES) do
    parts[#parts + 1] = ("%s %g d"):format(k, (ages[k] or 0) / DAY)
  end
  return table.concat(parts, ", ")
end

return _M
