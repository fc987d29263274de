-- qxt.clean: cleaning and local validation of a record before any paid query.
--
--   local clean = require("qxt.step.clean")
--   clean.mobile("+86 139-7256-5391")   --> "13972565391"
--   clean.mobile("1397256539")          --> nil, "mobile has 10 digits, need 11"
--   clean.name(" 阿依古丽 • 买买提 ")   --> "阿依古丽·买买提"
--   clean.record(rec)                   --> rec (mobile/name cleaned, originals kept
--                                           as mobile_raw/name_raw) | nil, reason, field
--
-- Rules. A cleaner (clean.new{...}) has two ordered arrays, mobile_rules
-- and name_rules, of functions `rule(value, cleaner) -> value | nil,
-- reason`: a rule returns the (possibly rewritten) value for the next rule,
-- or nil and the reason to reject the record. The last built-in rule of
-- each list validates, so a rule appended after it sees a clean 11-digit
-- mobile or a clean name. Rejecting test numbers 1380000xxxx from a script:
--
--   local cleaner = qxt.clean.new()
--   table.insert(cleaner.mobile_rules, qxt.clean.reject("^1380000", "test number 1380000xxxx"))
--   qxt.flow{ ..., clean = cleaner }
--
-- or, with a function of your own:
--
--   table.insert(cleaner.mobile_rules, function(m)
--     if m:find("^1380000") then return nil, "test number" end
--     return m
--   end)
--
-- The module-level functions (clean.mobile, clean.name, clean.record) use
-- the built-in rules, which nothing outside this file can change: a script
-- that wants other rules makes its own cleaner. One spelling: functions are
-- called with '.', the module's and a cleaner's alike (cleaner.record(rec));
-- a ':' call raises. The built-in rules are also reachable by name in
-- clean.rules, to rebuild a list in another order.

local _M = {}

local byte, char, find, format, gsub, match, sub =
  string.byte, string.char, string.find, string.format, string.gsub, string.match, string.sub

local MIDDLE_DOT = "\u{B7}"

-- A printable form of the character of s at byte i, for reasons: valid
-- UTF-8 only (reasons land in CSV outputs), control bytes as \xNN.
local function char_at(s, i)
  local b = byte(s, i)
  if b >= 32 and b < 127 then
    return char(b)
  end
  local c = b >= 128 and match(s, "^" .. utf8.charpattern, i)
  if c and utf8.len(c) then
    return c
  end
  return format("\\x%02X", b)
end

local function codepoint_label(s, i)
  local ok, code = pcall(utf8.codepoint, s, i)
  return ok and format("U+%04X", code) or format("byte 0x%02X", byte(s, i))
end

local function text_or_reason(v, field)
  if v == nil then
    return nil, field .. " is missing"
  end
  return nil, format("%s has type %s, expected text", field, type(v))
end

----------------------------------------------------------------------------
-- Mobile rules

local rules = {}
_M.rules = rules

--- Turns a Lua number (an Excel export read as a number, a JSON number)
-- into digits; rejects non-integral numbers and spreadsheet damage such as
-- "1.39726E+10" (digits already lost) with a reason that says what to fix.
function rules.mobile_text(v)
  if math.type(v) == "integer" then
    return format("%d", v)
  elseif math.type(v) == "float" then
    local i = math.tointeger(v)
    if not i then
      return nil, format("mobile %s is not a whole number", tostring(v))
    end
    return format("%d", i)
  elseif type(v) ~= "string" then
    return text_or_reason(v, "mobile")
  end
  if find(v, "[eE]") and find(v, "^%s*[%d.]+[eE][+]?%d+%s*$") then
    return nil, format("mobile %q is in scientific notation (a spreadsheet number); " ..
      "export the column as text", v)
  end
  -- "13972565391.0": a float column written out by a spreadsheet or pandas.
  local digits = find(v, ".0", 1, true) and match(v, "^%s*(1%d%d%d%d%d%d%d%d%d%d)%.0+%s*$")
  return digits or v
end

--- Full-width digits and plus sign (U+FF10..U+FF19, U+FF0B) to ASCII.
function rules.mobile_ascii_digits(s)
  if not find(s, "\239\188", 1, true) then
    return s
  end
  s = gsub(s, "\239\188([\139\144-\153])", function(b)
    local c = byte(b)
    return c == 139 and "+" or char(c - 96)
  end)
  return s
end

--- Removes what people type between digits: ASCII blanks, dashes, dots and
-- parentheses; no-break, full-width and typographic spaces; every dash of
-- U+2010..U+2015, U+2212 and U+FF0D (and U+FE63); full-width parentheses and
-- full stop; invisible characters (zero-width spaces, word joiner, soft
-- hyphen, a stray BOM).
function rules.mobile_strip_separators(s)
  if find(s, "[%s%-%.()]") then
    s = gsub(s, "[%s%-%.()]", "")
  end
  if find(s, "[\128-\255]") then
    s = gsub(s, "\226\128[\128-\149]", "")      -- U+2000..U+2015 spaces, zero-widths, dashes
    s = gsub(s, "\226\129\160", "")             -- U+2060 word joiner
    s = gsub(s, "\226\136\146", "")             -- U+2212 minus sign
    s = gsub(s, "\227\128\128", "")             -- U+3000 ideographic space
    s = gsub(s, "\239\188[\136\137\141\142]", "") -- U+FF08 U+FF09 U+FF0D U+FF0E
    s = gsub(s, "\239\185\163", "")             -- U+FE63 small hyphen-minus
    s = gsub(s, "\239\187\191", "")             -- U+FEFF BOM
    s = gsub(s, "\194[\160\173]", "")           -- U+00A0 no-break space, U+00AD soft hyphen
  end
  return s
end

--- Drops a country code: "+86" and "0086" (never the start of a Chinese
-- number) whenever digits follow, "86" only when 11 digits remain.
function rules.mobile_strip_country_code(s)
  local rest = match(s, "^%+86(%d+)$") or match(s, "^0086(%d+)$")
  if rest then
    return rest
  end
  rest = match(s, "^86(%d+)$")
  if rest and #rest == 11 then
    return rest
  end
  return s
end

--- The final check: 11 digits, 1 then 3..9.
function rules.mobile_validate(s)
  if s == "" then
    return nil, "mobile is empty"
  end
  local bad = find(s, "%D")
  if bad then
    local c = char_at(s, bad)
    if find(c, "^%a$") then
      return nil, format("mobile contains a letter '%s'", c)
    end
    return nil, format("mobile contains an unexpected character '%s'", c)
  end
  if #s ~= 11 then
    return nil, format("mobile has %d digit%s, need 11", #s, #s == 1 and "" or "s")
  end
  if not find(s, "^1[3-9]") then
    return nil, format("mobile must start with 13-19, not %s", sub(s, 1, 2))
  end
  return s
end

----------------------------------------------------------------------------
-- Name rules

function rules.name_text(v)
  if type(v) ~= "string" then
    return text_or_reason(v, "name")
  end
  return v
end

--- Rejects bytes that are not UTF-8 before anything rewrites them; the usual
-- cause is a GBK file read as UTF-8.
function rules.name_utf8(s)
  local ok, bad = utf8.len(s)
  if not ok then
    return nil, format("name is not valid UTF-8 (byte %d); is the file GBK-encoded? " ..
      "try encoding = \"gb18030\"", bad)
  end
  return s
end

--- Blanks: no-break, full-width and typographic spaces count as blanks and
-- invisible characters go; trims both ends; removes blanks between two
-- CJK-like characters ("张 三" is never how a name is registered); collapses
-- other runs of blanks to one space ("Anna  Maria" -> "Anna Maria").
function rules.name_blanks(s)
  -- Lead bytes of the blanks and invisible characters below; CJK
  -- ideographs mostly start with E4..E9, so common names skip the rewrites.
  if find(s, "[\194\226\227\239]") then
    s = gsub(s, "\227\128\128", " ")            -- U+3000 ideographic space
    s = gsub(s, "\194\160", " ")                -- U+00A0 no-break space
    s = gsub(s, "\226\128[\128-\138]", " ")     -- U+2000..U+200A spaces
    s = gsub(s, "\226\128[\139-\141]", "")      -- U+200B..U+200D zero-widths
    s = gsub(s, "\226\129\160", "")             -- U+2060 word joiner
    s = gsub(s, "\239\187\191", "")             -- U+FEFF BOM
  end
  if find(s, "^[ \t]") or find(s, "[ \t]$") then
    s = match(s, "^[ \t]*(.-)[ \t]*$")
  end
  if find(s, "[ \t]") then
    s = gsub(s, "[ \t]+", " ")
    -- A character of 3 or 4 UTF-8 bytes (CJK and the like) on both sides:
    -- the byte before the blank ends a multibyte character, the one after
    -- starts a 3- or 4-byte one.
    s = gsub(s, "([\128-\191]) ([\224-\244])", "%1%2")
  end
  return s
end

-- Look-alikes of U+00B7 that appear in names typed with other input
-- methods or pasted from documents. None of them belongs in a registered
-- name, so they are always rewritten.
local DOT_LOOKALIKES = {
  "\u{2022}", -- • bullet (word processors)
  "\u{2024}", -- ․ one dot leader
  "\u{2027}", -- ‧ hyphenation point (Big5 / traditional Chinese IMEs)
  "\u{2219}", -- ∙ bullet operator
  "\u{22C5}", -- ⋅ dot operator
  "\u{30FB}", -- ・ katakana middle dot (Japanese IMEs)
  "\u{FF65}", -- ･ half-width katakana middle dot
  "\u{0387}", -- · Greek ano teleia (Unicode-normalises to U+00B7)
}

--- Normalises the middle dot of transliterated names (阿依古丽·买买提):
-- look-alikes become U+00B7; a full stop ('.' or full-width '．') becomes
-- U+00B7 only between CJK-like characters, so "J. Smith" keeps its '.';
-- blanks around the dot go and repeated dots collapse.
function rules.name_middle_dot(s)
  if not find(s, "[.\128-\255]") then
    return s
  end
  if find(s, "[\206\226\227\239]") then -- the look-alikes' lead bytes
    for _, lookalike in ipairs(DOT_LOOKALIKES) do
      if find(s, lookalike, 1, true) then
        s = gsub(s, lookalike, MIDDLE_DOT)
      end
    end
  end
  -- Until nothing changes: in "张．．三" the second stop follows the dot
  -- the first became, which one gsub pass cannot see (found by fuzzing).
  local stops = 1
  while stops > 0 and (find(s, ".", 1, true) or find(s, "\239\188\142", 1, true)) do
    local fw
    s, stops = gsub(s, "([\128-\191]) ?[.] ?([\224-\244])", "%1" .. MIDDLE_DOT .. "%2")
    s, fw = gsub(s, "([\128-\191]) ?\239\188\142 ?([\224-\244])", "%1" .. MIDDLE_DOT .. "%2")
    stops = stops + fw
  end
  if find(s, MIDDLE_DOT, 1, true) then
    s = gsub(s, " ?\194\183 ?", MIDDLE_DOT)
    while find(s, MIDDLE_DOT .. MIDDLE_DOT, 1, true) do
      s = gsub(s, MIDDLE_DOT .. MIDDLE_DOT, MIDDLE_DOT)
    end
  end
  return s
end

--- The final check: not empty, no control characters, no digits, no
-- replacement character (a decoding failure upstream), the dot only between
-- name parts, at most cleaner.max_name_length characters.
function rules.name_validate(s, cleaner)
  if s == "" then
    return nil, "name is empty"
  end
  local special = find(s, "[\194\239]") -- lead bytes of C1 controls, U+FF10.., U+FFFD, U+00B7
  local bad = find(s, "[%c\127]") or (special and find(s, "\194[\128-\159]"))
  if bad then
    return nil, format("name contains a control character (%s)", codepoint_label(s, bad))
  end
  bad = find(s, "%d")
  if bad then
    return nil, format("name contains a digit '%s'", sub(s, bad, bad))
  end
  if special then
    bad = find(s, "\239\188[\144-\153]")
    if bad then
      return nil, format("name contains a digit '%s'", sub(s, bad, bad + 2))
    end
    if find(s, "\239\191\189", 1, true) then
      return nil, "name contains U+FFFD, a character lost in decoding; check the file encoding"
    end
    if find(s, "^\194\183") or sub(s, -2) == MIDDLE_DOT then
      return nil, "name starts or ends with a middle dot"
    end
  end
  local n = utf8.len(s)
  local max = cleaner and cleaner.max_name_length or _M.MAX_NAME_LENGTH
  if n > max then
    return nil, format("name has %d characters, maximum %d", n, max)
  end
  return s
end

----------------------------------------------------------------------------
-- Cleaners

_M.MAX_NAME_LENGTH = 30

local DEFAULT_MOBILE_RULES = {
  rules.mobile_text,
  rules.mobile_ascii_digits,
  rules.mobile_strip_separators,
  rules.mobile_strip_country_code,
  rules.mobile_validate,
}

local DEFAULT_NAME_RULES = {
  rules.name_text,
  rules.name_utf8,
  rules.name_blanks,
  rules.name_middle_dot,
  rules.name_validate,
}

local function copy(list)
  return table.move(list, 1, #list, 1, {})
end

local function apply(list, value, cleaner)
  for i = 1, #list do
    local reason
    value, reason = list[i](value, cleaner)
    if value == nil then
      return nil, reason or "rejected by a cleaning rule"
    end
  end
  return value
end

local Cleaner = {}

--- cleaner.mobile(v) -> mobile11 | nil, reason
function Cleaner.mobile(self, v)
  return apply(self.mobile_rules, v, self)
end

--- cleaner.name(v) -> name | nil, reason
function Cleaner.name(self, v)
  return apply(self.name_rules, v, self)
end

--- cleaner.record(rec [, opts]) -> rec | nil, reason, field
-- Cleans rec.mobile and rec.name in place, keeping the input values as
-- rec.mobile_raw and rec.name_raw. A record that already carries an error
-- (a malformed input row) is rejected with that error and field "record".
-- opts.max_name_length overrides the cleaner's limit for this call.
function Cleaner.record(self, rec, opts)
  if type(rec) ~= "table" then
    error("clean.record: expected a record table, got " .. type(rec), 2)
  end
  if rec.error then
    return nil, rec.error, "record"
  end
  local cleaner = self
  if opts and opts.max_name_length then
    cleaner = setmetatable({ max_name_length = opts.max_name_length }, { __index = self })
  end
  local raw_mobile = rec.mobile_raw
  if raw_mobile == nil then
    raw_mobile = rec.mobile
  end
  local raw_name = rec.name_raw
  if raw_name == nil then
    raw_name = rec.name
  end
  local mobile, why = apply(cleaner.mobile_rules, raw_mobile, cleaner)
  if not mobile then
    return nil, why, "mobile"
  end
  local name
  name, why = apply(cleaner.name_rules, raw_name, cleaner)
  if not name then
    return nil, why, "name"
  end
  rec.mobile_raw, rec.name_raw = raw_mobile, raw_name
  rec.mobile, rec.name = mobile, name
  return rec
end

-- Puts a cleaner's functions on t (the cleaner itself, or this module),
-- called with '.' as a cleaner goes where the module would do
-- (qxt.flow{clean=}); a ':' call is a mistake that would clean the table.
local function bind(t, cleaner)
  for _, method in ipairs({ "mobile", "name", "record" }) do
    local f = Cleaner[method]
    t[method] = function(first, ...)
      if first == t then
        error(("clean: call %s with '.', not ':'"):format(method), 2)
      end
      return f(cleaner, first, ...)
    end
  end
end

--- clean.new([opts]) -> cleaner
-- opts.mobile_rules, opts.name_rules: arrays of rules (default: fresh copies
-- of the built-in lists); opts.max_name_length (default 30).
function _M.new(opts)
  opts = opts or {}
  local max = opts.max_name_length or _M.MAX_NAME_LENGTH
  if math.type(max) ~= "integer" or max < 1 then
    error("clean.new: max_name_length must be an integer >= 1, got " .. tostring(max), 2)
  end
  for _, key in ipairs({ "mobile_rules", "name_rules" }) do
    local list = opts[key]
    if list ~= nil then
      if type(list) ~= "table" then
        error(format("clean.new: %s must be an array of functions, got %s", key, type(list)), 2)
      end
      for i, rule in ipairs(list) do
        if type(rule) ~= "function" then
          error(format("clean.new: %s[%d] is a %s, expected a function", key, i, type(rule)), 2)
        end
      end
    end
  end
  local cleaner = {
    mobile_rules = opts.mobile_rules and copy(opts.mobile_rules) or copy(DEFAULT_MOBILE_RULES),
    name_rules = opts.name_rules and copy(opts.name_rules) or copy(DEFAULT_NAME_RULES),
    max_name_length = max,
  }
  bind(cleaner, cleaner)
  return cleaner
end

--- clean.reject(pattern, reason) -> rule
-- A rule rejecting values that match a Lua pattern, e.g.
-- clean.reject("^1380000", "test number").
function _M.reject(pattern, reason)
  if type(pattern) ~= "string" or type(reason) ~= "string" then
    error("clean.reject: expected a pattern and a reason (two strings)", 2)
  end
  return function(value)
    if find(value, pattern) then
      return nil, reason
    end
    return value
  end
end

--- clean.mobile(v), clean.name(v), clean.record(rec [, opts]): the
-- built-in rules, through a cleaner of their own that nothing else reaches.
bind(_M, {
  mobile_rules = copy(DEFAULT_MOBILE_RULES),
  name_rules = copy(DEFAULT_NAME_RULES),
  max_name_length = _M.MAX_NAME_LENGTH,
})

return _M
