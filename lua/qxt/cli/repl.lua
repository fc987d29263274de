--- The REPL's printer: verify() results as readable tables, anything else
-- as compact Lua. Used by `qxtv repl` for the values a line returns.
local text = require("qxt.text")

local width, pad = text.width, text.pad

local _M = {}

local RESULT_COLUMNS = { "mobile", "name", "code", "class", "status", "area", "isp", "latency_ms" }

local function is_result(v)
  return type(v) == "table" and v.class ~= nil and v.mobile ~= nil
end

local function cell(v)
  if v == nil then return "" end
  if math.type(v) == "float" then return string.format("%.1f", v) end
  return tostring(v)
end

local function result_table(list)
  local widths, rows = {}, {}
  for i, col in ipairs(RESULT_COLUMNS) do widths[i] = width(col) end
  for r, res in ipairs(list) do
    rows[r] = {}
    for i, col in ipairs(RESULT_COLUMNS) do
      local s = cell(res[col])
      if not utf8.len(s) then s = "?" end
      rows[r][i] = s
      if width(s) > widths[i] then widths[i] = width(s) end
    end
  end
  local out = {}
  local head = {}
  for i, col in ipairs(RESULT_COLUMNS) do head[i] = pad(col, widths[i]) end
  out[1] = table.concat(head, "  ")
  for _, row in ipairs(rows) do
    local line = {}
    for i, s in ipairs(row) do line[i] = pad(s, widths[i]) end
    out[#out + 1] = table.concat(line, "  ")
  end
  return table.concat(out, "\n")
end

local function serialize(v, depth, seen)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if t ~= "table" then return tostring(v) end
  if seen[v] or depth > 3 then return "{...}" end
  seen[v] = true
  local parts, n = {}, #v
  for i = 1, n do parts[#parts + 1] = serialize(v[i], depth + 1, seen) end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do
    local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. serialize(k, depth + 1, seen) .. "]")
    parts[#parts + 1] = key .. " = " .. serialize(v[k], depth + 1, seen)
    if #parts > 40 then parts[#parts + 1] = "..."; break end
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

--- The text for one value.
function _M.format(v)
  if is_result(v) then return result_table{ v } end
  if type(v) == "table" and #v > 0 and is_result(v[1]) then return result_table(v) end
  return serialize(v, 0, {})
end

--- Prints the values a line returned.
function _M.show(...)
  for i = 1, select("#", ...) do print(_M.format((select(i, ...)))) end
end

return _M
