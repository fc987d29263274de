--- `qxtv check [--json] MOBILE NAME`: one query, shown to a person or as JSON.
local exit = require("qxt.exit")
local cjson = require("cjson")

local FIELDS = { "code", "reason", "class", "consistent", "status", "area", "province",
                 "city", "isp", "mobile", "name", "latency_ms", "possibly_charged", "raw" }

local VERDICT = { [true] = "consistent (一致)", [false] = "not consistent (不一致)" }

local function as_json(r)
  local out = {}
  for _, k in ipairs(FIELDS) do
    local v = r[k]
    if v == nil then v = cjson.null end
    out[k] = v
  end
  return cjson.encode(out)
end

local function as_text(r)
  local lines = {}
  local function add(label, value)
    if value ~= nil and value ~= "" then
      lines[#lines + 1] = string.format("%-9s %s", label, tostring(value))
    end
  end
  add("mobile", r.mobile)
  add("name", r.name)
  if r.consistent ~= nil then
    add("verdict", VERDICT[r.consistent])
  elseif r.status then
    add("verdict", "unknown status " .. r.status)
  else
    add("verdict", "none")
  end
  add("code", r.code and (r.code .. "  " .. r.reason) or nil)
  add("class", r.class)
  if r.code == nil then add("reason", r.reason) end
  if r.possibly_charged then add("money", "possibly charged: sent, and no answer about this person came back") end
  add("area", r.area)
  add("carrier", r.isp)
  add("latency", string.format("%.1f ms", r.latency_ms))
  return table.concat(lines, "\n")
end

return function(mobile, name, format)
  local r = verify(mobile, name)
  print(format == "json" and as_json(r) or as_text(r))
  return r.class == "ok" and exit.OK or exit.FAILED
end
