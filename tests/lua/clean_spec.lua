-- qxt.clean: a table of spellings for each rule, and the extension points.
local clean = require("qxt.step.clean")

describe("clean.mobile", function()
  local accepted = {
    { "13972565391", "plain" },
    { " 13972565391\t", "ASCII blanks around" },
    { "139 7256 5391", "blanks inside" },
    { "139-7256-5391", "ASCII dashes" },
    { "139\u{2010}7256\u{2015}5391", "Unicode dashes U+2010..U+2015" },
    { "139\u{2212}7256\u{FF0D}5391", "minus sign and full-width hyphen" },
    { "139.7256.5391", "dots" },
    { "(139) 7256 5391", "parentheses" },
    { "\u{FF08}139\u{FF09}72565391", "full-width parentheses" },
    { "139\u{3000}7256\u{3000}5391", "ideographic spaces" },
    { "139\u{A0}7256\u{A0}5391", "no-break spaces" },
    { "\u{200B}13972565391\u{FEFF}", "invisible characters" },
    { "１３９７２５６５３９１", "full-width digits" },
    { "+8613972565391", "+86" },
    { "+86 139 7256 5391", "+86 and blanks" },
    { "+86-139-7256-5391", "+86 and dashes" },
    { "\u{FF0B}８６１３９７２５６５３９１", "full-width +86" },
    { "008613972565391", "0086" },
    { "0086 139 7256 5391", "0086 and blanks" },
    { "8613972565391", "86 followed by 11 digits" },
    { "13972565391.0", "a float column written as text" },
  }
  for _, case in ipairs(accepted) do
    it("accepts " .. case[2], function()
      assert.are.equal("13972565391", (clean.mobile(case[1])))
    end)
  end

  it("accepts integral Lua numbers (spreadsheet and JSON exports)", function()
    assert.are.equal("13972565391", clean.mobile(13972565391))
    assert.are.equal("13972565391", clean.mobile(1.3972565391e10))
  end)

  local rejected = {
    { "1397256539", "mobile has 10 digits, need 11" },
    { "139725653911", "mobile has 12 digits, need 11" },
    { "1", "mobile has 1 digit, need 11" },
    { "23972565391", "mobile must start with 13-19, not 23" },
    { "12972565391", "mobile must start with 13-19, not 12" },
    { "1397256539x", "mobile contains a letter 'x'" },
    { "139７２５６５３９#", "mobile contains an unexpected character '#'" },
    { "139\u{FF03}72565391", "mobile contains an unexpected character '\u{FF03}'" },
    { "", "mobile is empty" },
    { " \u{3000} ", "mobile is empty" },
    { "86139725653", "mobile must start with 13-19, not 86" },
  }
  for _, case in ipairs(rejected) do
    it("rejects " .. case[1] .. " with a reason", function()
      local m, reason = clean.mobile(case[1])
      assert.is_nil(m)
      assert.are.equal(case[2], reason)
    end)
  end

  it("rejects numbers that are not whole, missing values and other types", function()
    local m, reason = clean.mobile(13972565391.5)
    assert.is_nil(m)
    assert.matches("not a whole number", reason)
    assert.are.equal("mobile is missing", select(2, clean.mobile(nil)))
    assert.are.equal("mobile has type boolean, expected text", select(2, clean.mobile(true)))
  end)

  it("rejects scientific notation, whose digits a spreadsheet already lost", function()
    local m, reason = clean.mobile("1.39726E+10")
    assert.is_nil(m)
    assert.matches("scientific notation", reason)
  end)

  it("reports an invalid byte printably", function()
    local _, reason = clean.mobile("139\xff72565391")
    assert.are.equal("mobile contains an unexpected character '\\xFF'", reason)
  end)
end)

describe("clean.name", function()
  local cases = {
    { "张三", "张三", "a plain name" },
    { "  张三\t", "张三", "ASCII blanks at both ends" },
    { "\u{3000}张三\u{3000}", "张三", "full-width blanks at both ends" },
    { "张 三", "张三", "a blank between CJK characters" },
    { "张\u{3000}三", "张三", "a full-width blank between CJK characters" },
    { "阿依古丽·买买提", "阿依古丽·买买提", "U+00B7 itself" },
    { "阿依古丽 · 买买提", "阿依古丽·买买提", "blanks around the dot" },
    { "阿依古丽\u{2022}买买提", "阿依古丽·买买提", "U+2022 bullet" },
    { "阿依古丽\u{2027}买买提", "阿依古丽·买买提", "U+2027 hyphenation point" },
    { "阿依古丽\u{30FB}买买提", "阿依古丽·买买提", "U+30FB katakana middle dot" },
    { "阿依古丽\u{FF65}买买提", "阿依古丽·买买提", "U+FF65 half-width katakana middle dot" },
    { "阿依古丽\u{2219}买买提", "阿依古丽·买买提", "U+2219 bullet operator" },
    { "阿依古丽\u{22C5}买买提", "阿依古丽·买买提", "U+22C5 dot operator" },
    { "阿依古丽\u{0387}买买提", "阿依古丽·买买提", "U+0387 Greek ano teleia" },
    { "阿依古丽.买买提", "阿依古丽·买买提", "'.' between CJK characters" },
    { "阿依古丽 . 买买提", "阿依古丽·买买提", "'.' with blanks between CJK characters" },
    { "阿依古丽\u{FF0E}买买提", "阿依古丽·买买提", "full-width full stop between CJK characters" },
    { "阿依古丽··买买提", "阿依古丽·买买提", "a doubled dot" },
    { "J. Smith", "J. Smith", "'.' in a Latin name" },
    { "Anna   Maria", "Anna Maria", "runs of blanks in a Latin name" },
  }
  for _, case in ipairs(cases) do
    it("normalises " .. case[3], function()
      assert.are.equal(case[2], (clean.name(case[1])))
    end)
  end

  local rejected = {
    { "", "name is empty" },
    { " \u{3000}\t", "name is empty" },
    { "张三3", "name contains a digit '3'" },
    { "张三３", "name contains a digit '３'" },
    { "张\n三", "name contains a control character (U+000A)" },
    { "张\u{85}三", "name contains a control character (U+0085)" },
    { "·买买提", "name starts or ends with a middle dot" },
    { "张\u{FFFD}", "name contains U+FFFD, a character lost in decoding; check the file encoding" },
  }
  for _, case in ipairs(rejected) do
    it("rejects " .. case[2], function()
      local n, reason = clean.name(case[1])
      assert.is_nil(n)
      assert.are.equal(case[2], reason)
    end)
  end

  it("counts characters, not bytes, against the maximum length", function()
    assert.are.equal(string.rep("张", 30), clean.name(string.rep("张", 30)))
    local n, reason = clean.name(string.rep("张", 31))
    assert.is_nil(n)
    assert.are.equal("name has 31 characters, maximum 30", reason)
  end)

  it("rejects bytes that are not UTF-8 with a hint about the encoding", function()
    local n, reason = clean.name("\xd5\xc5\xc8\xfd") -- 张三 in GBK
    assert.is_nil(n)
    assert.matches("not valid UTF%-8 %(byte 1%)", reason)
    assert.matches("gb18030", reason)
  end)

  it("rejects missing names and other types", function()
    assert.are.equal("name is missing", select(2, clean.name(nil)))
    assert.are.equal("name has type number, expected text", select(2, clean.name(12)))
  end)
end)

describe("clean.record", function()
  it("cleans in place and keeps the originals", function()
    local rec = { mobile = "+86 139-7256-5391", name = " 张三 ", seq = 4 }
    local out = clean.record(rec)
    assert.are.equal(rec, out)
    assert.are.equal("13972565391", rec.mobile)
    assert.are.equal("张三", rec.name)
    assert.are.equal("+86 139-7256-5391", rec.mobile_raw)
    assert.are.equal(" 张三 ", rec.name_raw)
  end)

  it("is idempotent: cleaning twice keeps the first originals", function()
    local rec = { mobile = "139 7256 5391", name = "张三" }
    clean.record(rec)
    clean.record(rec)
    assert.are.equal("139 7256 5391", rec.mobile_raw)
  end)

  it("names the field that failed and leaves the record untouched", function()
    local rec = { mobile = "13972565391", name = "" }
    local ok, reason, field = clean.record(rec)
    assert.is_nil(ok)
    assert.are.equal("name is empty", reason)
    assert.are.equal("name", field)
    assert.is_nil(rec.mobile_raw)
    local _, why, which = clean.record({ mobile = "123", name = "张三" })
    assert.are.equal("mobile has 3 digits, need 11", why)
    assert.are.equal("mobile", which)
  end)

  it("passes on an error the source already found", function()
    local ok, reason, field = clean.record({ error = "row 3 (line 4) has 2 fields, header has 3" })
    assert.is_nil(ok)
    assert.are.equal("row 3 (line 4) has 2 fields, header has 3", reason)
    assert.are.equal("record", field)
  end)

  it("takes a per-call maximum name length", function()
    local ok, reason = clean.record({ mobile = "13972565391", name = "欧阳娜娜" }, { max_name_length = 3 })
    assert.is_nil(ok)
    assert.are.equal("name has 4 characters, maximum 3", reason)
  end)

  it("raises on a record that is not a table (a programming mistake)", function()
    assert.has_error(function() clean.record("13972565391") end)
  end)
end)

describe("extending the rules", function()
  it("a custom cleaner rejects test numbers with one added rule", function()
    local cleaner = clean.new()
    table.insert(cleaner.mobile_rules, clean.reject("^1380000", "test number 1380000xxxx"))
    assert.are.equal("test number 1380000xxxx", select(2, cleaner.mobile("138-0000-1234")))
    assert.are.equal("13972565391", cleaner.mobile("13972565391"))
    -- the default cleaner is untouched
    assert.are.equal("13800001234", clean.mobile("13800001234"))
  end)

  it("a plain function rule sees the clean value and may rewrite it", function()
    local seen
    local cleaner = clean.new()
    table.insert(cleaner.name_rules, function(name)
      seen = name
      return name:upper()
    end)
    assert.are.equal("JOHN SMITH", cleaner.name("  john  smith "))
    assert.are.equal("john smith", seen)
  end)

  it("has one spelling: no module-level lists to change, and '.' calls only", function()
    -- the built-in rules are the module's own: a script's rules go in a cleaner
    assert.is_nil(clean.mobile_rules)
    assert.is_nil(clean.name_rules)
    assert.is_nil(clean.default)
    local cleaner = clean.new()
    for _, t in ipairs{ clean, cleaner } do
      assert.has_error(function() t:mobile("13972565391") end, "clean: call mobile with '.', not ':'")
      assert.has_error(function() t:record({ mobile = "13972565391", name = "张三" }) end)
    end
  end)

  it("rules can be rebuilt from clean.rules, and max_name_length set", function()
    local cleaner = clean.new{
      mobile_rules = { clean.rules.mobile_text, clean.rules.mobile_validate },
      max_name_length = 2,
    }
    assert.is_nil(cleaner.mobile("139 7256 5391")) -- no separator stripping any more
    assert.is_nil(cleaner.name("欧阳娜娜"))
    assert.are.equal("张三", cleaner.name("张三"))
  end)

  it("a rule returning nil without a reason still gives one", function()
    local cleaner = clean.new()
    cleaner.mobile_rules[#cleaner.mobile_rules + 1] = function() return nil end
    assert.are.equal("rejected by a cleaning rule", select(2, cleaner.mobile("13972565391")))
  end)

  it("raises on bad options (programming mistakes)", function()
    assert.has_error(function() clean.new{ max_name_length = 0 } end)
    assert.has_error(function() clean.new{ mobile_rules = { "not a function" } } end)
    assert.has_error(function() clean.reject("^138") end)
  end)
end)
