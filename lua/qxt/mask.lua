-- qxt.mask: masked forms of personal data for logs and progress lines.
--
--   mask.mobile("13972565391")      --> "139****5391"
--   mask.name("张三")               --> "张*"
--   mask.name("阿依古丽·买买提")     --> "阿*******"
--
-- Never raises: logging must not be the thing that crashes a run. nil and
-- values that are neither strings nor numbers mask to "".
-- Counting is per UTF-8 character, so a masked name never ends in half a
-- character; bytes that are not UTF-8 are counted one by one.

local _M = {}

local rep, sub = string.rep, string.sub

-- The characters of s as an array (UTF-8 when valid, else single bytes).
local function characters(s)
  local chars = {}
  if utf8.len(s) then
    for _, code in utf8.codes(s) do
      chars[#chars + 1] = utf8.char(code)
    end
  else
    for i = 1, #s do
      chars[i] = sub(s, i, i)
    end
  end
  return chars
end

local function as_text(v)
  if type(v) == "string" then
    return v
  elseif math.type(v) == "integer" then
    return string.format("%d", v)
  elseif math.type(v) == "float" then
    local i = math.tointeger(v)
    return i and string.format("%d", i) or tostring(v)
  end
  return nil
end

--- mask.mobile(v) -> string
-- Keeps the first 3 and the last 4 characters of an 11-character number,
-- always writing four stars between them. Shorter values keep fewer trailing
-- characters so that at least four stay hidden; under 7 characters, all are
-- stars.
function _M.mobile(v)
  local s = as_text(v)
  if not s or s == "" then
    return ""
  end
  local chars = characters(s)
  local n = #chars
  if n < 7 then
    return rep("*", n)
  end
  local hidden = math.max(4, n - 7)
  local tail = n - 3 - hidden
  return table.concat(chars, "", 1, 3) .. "****" .. table.concat(chars, "", n - tail + 1, n)
end

--- mask.name(v) -> string
-- The first character, then one star per remaining character. A name of a
-- single character becomes "*": keeping it would reveal the whole name.
function _M.name(v)
  local s = as_text(v)
  if not s or s == "" then
    return ""
  end
  local chars = characters(s)
  if #chars == 1 then
    return "*"
  end
  return chars[1] .. rep("*", #chars - 1)
end

return _M
