--- tests/helpers/spellings.lua: is a secret somewhere in these bytes, in
-- any spelling? Written apart from the engine's own redaction (src/engine/qxt.c),
-- so that a test using it does not grade qxtv with qxtv's own idea.
--
--   spellings.find(text, key) --> nil | "how it was found"
--
-- Decodes everything it can, repeatedly (up to three layers): percent
-- escapes, JSON escapes (\uXXXX, \/ ...), HTML numeric entities; in each
-- layer it looks for the key ignoring letter case, and decodes every run
-- of base64 / base64url (at all four character offsets) and of hex (at
-- both offsets) to look for it there too.
local _M = {}

local char, tonumber = string.char, tonumber

local function percent(s)
  return (s:gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

local JSON_ESC = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

local function json(s)
  s = s:gsub("\\u(%x%x%x%x)", function(h) return utf8.char(tonumber(h, 16)) end)
  return (s:gsub('\\(["\\/bfnrt])', JSON_ESC))
end

local function entities(s)
  s = s:gsub("&#[xX](%x+);", function(h) local c = tonumber(h, 16); return c < 0x110000 and utf8.char(c) end)
  return (s:gsub("&#(%d+);", function(d) local c = tonumber(d); return c < 0x110000 and utf8.char(c) end))
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_VALUE = {}
for i = 1, 64 do B64_VALUE[B64:sub(i, i)] = i - 1 end
B64_VALUE["-"], B64_VALUE["_"] = 62, 63

-- Decodes base64 (either alphabet) from the start of run, ignoring a
-- trailing partial group.
local function unbase64(run)
  local out, bits, n = {}, 0, 0
  for c in run:gmatch(".") do
    local v = B64_VALUE[c]
    if not v then break end
    bits, n = (bits << 6) | v, n + 6
    if n >= 8 then
      n = n - 8
      out[#out + 1] = char((bits >> n) & 0xff)
      bits = bits & ((1 << n) - 1)
    end
  end
  return table.concat(out)
end

local function unhex(run)
  return (run:gsub("%x%x", function(h) return char(tonumber(h, 16)) end))
end

local function has(text, key)
  return text:lower():find(key:lower(), 1, true) ~= nil
end

-- The key in text, literal or inside a base64 or hex run.
local function search_layer(text, key)
  if has(text, key) then return "as text" end
  local min64 = (#key * 4) // 3
  for run in text:gmatch("[%w+/_%-]+") do
    if #run >= min64 then
      for off = 1, 4 do
        if has(unbase64(run:sub(off)), key) then return "in base64" end
      end
    end
  end
  for run in text:gmatch("%x+") do
    if #run >= 2 * #key and (has(unhex(run), key) or has(unhex(run:sub(2)), key)) then return "in hex" end
  end
  return nil
end

--- find(text, key) -> nil, or how the key was found ("in base64 after
-- percent decoding", ...).
function _M.find(text, key)
  local layers, seen = { { text = text, how = "" } }, { [text] = true }
  for depth = 1, 4 do
    local next_layers = {}
    for _, l in ipairs(layers) do
      local found = search_layer(l.text, key)
      if found then return found .. l.how end
      if depth < 4 then
        for name, decode in pairs{ percent = percent, json = json, html = entities } do
          local d = decode(l.text)
          if not seen[d] then
            seen[d] = true
            next_layers[#next_layers + 1] = { text = d, how = " after " .. name .. " decoding" .. l.how }
          end
        end
      end
    end
    layers = next_layers
  end
  return nil
end

return _M
