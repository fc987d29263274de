-- qxt.text: text as a terminal shows it. CJK characters take two columns,
-- so tables and progress lines are measured in columns, not bytes.
local _M = {}

local function columns_of(c)
  if c >= 0x1100 and (c <= 0x115F or (c >= 0x2E80 and c <= 0xA4CF) or (c >= 0xAC00 and c <= 0xD7A3)
      or (c >= 0xF900 and c <= 0xFAFF) or (c >= 0xFE30 and c <= 0xFE4F) or (c >= 0xFF00 and c <= 0xFF60)
      or (c >= 0xFFE0 and c <= 0xFFE6) or (c >= 0x20000 and c <= 0x3FFFD)) then
    return 2
  end
  return 1
end

--- Display width of a UTF-8 string (bytes that are not UTF-8 count one each).
function _M.width(s)
  if not utf8.len(s) then return #s end
  local w = 0
  for _, c in utf8.codes(s) do w = w + columns_of(c) end
  return w
end

--- s padded with blanks to w columns.
function _M.pad(s, w)
  return s .. string.rep(" ", w - _M.width(s))
end

--- s cut to at most w columns (never in the middle of a character).
function _M.truncate(s, w)
  if _M.width(s) <= w or not utf8.len(s) then return s end
  local out, used = {}, 0
  for _, c in utf8.codes(s) do
    local cw = columns_of(c)
    if used + cw > w then break end
    out[#out + 1] = utf8.char(c)
    used = used + cw
  end
  return table.concat(out)
end

return _M
