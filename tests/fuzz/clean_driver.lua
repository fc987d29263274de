-- clean_driver.lua: what fuzz_clean.c runs on each input (through the real
-- lua/qxt/step/clean.lua and mask.lua). Raises when a promise breaks:
--  * cleaning never raises; a rejection has a non-empty reason that is
--    valid UTF-8 (it lands in invalid.csv);
--  * an accepted mobile is 11 digits 1[3-9]..., an accepted name valid
--    UTF-8 without control characters, digits or U+FFFD, at most 30
--    characters; cleaning what was accepted changes nothing (idempotent);
--  * masks never raise, always hide something of a non-empty value, and keep valid UTF-8 valid.
local clean = require("qxt.step.clean")
local mask = require("qxt.mask")

local function check_reason(why, what)
  assert(type(why) == "string" and #why > 0, what .. ": a rejection needs a reason")
  assert(utf8.len(why), what .. ": the reason is not UTF-8: " .. string.format("%q", why))
end

local function check(v)
  local m, why = clean.mobile(v)
  if m then
    assert(m:find("^1[3-9]%d%d%d%d%d%d%d%d%d$"), "accepted mobile " .. m)
    assert(clean.mobile(m) == m, "mobile cleaning is not idempotent")
  else
    check_reason(why, "mobile")
  end
  local n
  n, why = clean.name(v)
  if n then
    local len = utf8.len(n)
    assert(len and len >= 1 and len <= clean.MAX_NAME_LENGTH, "accepted name length")
    assert(not n:find("[%c%d\127]") and not n:find("\239\191\189", 1, true), "accepted name " .. n)
    local again = clean.name(n)
    if again ~= n then
      error(string.format("name cleaning is not idempotent: %q -> %q -> %q", v, n, tostring(again)))
    end
  else
    check_reason(why, "name")
  end
  for _, f in ipairs{ mask.mobile, mask.name } do
    local masked = f(v)
    assert(type(masked) == "string")
    if utf8.len(v) then assert(utf8.len(masked), "a mask broke UTF-8") end
    if v ~= "" then assert(masked:find("*", 1, true), "a mask hid nothing: " .. v) end
  end
  local rec, rwhy, field = clean.record{ mobile = v, name = v }
  if not rec then
    check_reason(rwhy, "record")
    assert(field == "mobile" or field == "name")
  end
end

return function(data)
  check(data)
  -- A mobile and a name side by side, as a row has them.
  local a, b = data:match("^(.-)\t(.*)$")
  if a then
    local rec = clean.record{ mobile = a, name = b }
    if rec then assert(rec.mobile_raw == a and rec.name_raw == b) end
  end
end
