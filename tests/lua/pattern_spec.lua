-- The sandbox's bounded pattern functions (qxt.sandbox.core: find, match,
-- gmatch, gsub, rep; src/lib/pattern.c) against the string library itself:
-- every pattern x subject x function must give exactly the same values, or
-- the same error.
local core = require("qxt.sandbox.core")

local PATTERNS = {
  -- plain text and anchors
  "", "a", "abc", "^a", "a$", "^abc$", "^", "$", "^$", "a^", "$a", "b$c", "^^a",
  -- classes and sets
  ".", "%a+", "%d+", "%D+", "%s*", "%w+", "%W", "%p", "%l%u", "%x+", "%c", "%g+", "%S+", "%A",
  "[abc]", "[^abc]+", "[a-c]+", "[%a%d]+", "[%]]", "[]]", "[^]]+", "[a-]", "[-a]", "[%-]", "[^%s]+",
  "[\128-\255]+", "[%w_]+", "[a%-z]+",
  -- repetitions
  "a*", "a+", "a-", "a?", "a*b", "a-b", ".-b", ".*b", "a?b", "ab*c", "x*", ".-", ".*", "%d*%.?%d+",
  -- captures
  "(a)", "(a)(b)", "(a*(.)%w(%s*))", "()", "()a()", "(%a+)=(%w+)", "((a)(b))", "(h)(e)(l)(l)(o)",
  "%f[%w]%w+", "%f[%W]", "%f[%a]%a+%f[%A]", "%f[^%z]", "%f[%z]",
  -- balances and back-references
  "%b()", "%b{}", "%bxy", "(%a)%1", "(%a+) %1", "([\"'])(.-)%1", "()(%a)%2",
  -- special characters escaped
  "%.", "%%", "%(", "%)", "%[", "%^", "%$", "%*", "%+", "%-", "%?",
  -- UTF-8 bytes
  "张三", "[\228-\233][\128-\191]+", utf8.charpattern, "[%z\1-\127]",
  -- malformed
  "%", "a%", "[a", "[^", "(", ")", "a)", "%b", "%ba", "%f", "%fa", "%1", "(a)%2", "(a%1)",
  "[%", "(()", "%g%", "((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))",
}

local SUBJECTS = {
  "", "a", "abc", "aaab", "hello world", "  key=val, x=10 ", "f(a(b)c)d", "{x{y}}z", "a.b$c^d*e",
  "12.5 and 3.14159e2", "张三 李四", "it's \"quoted\" and 'single'", "abab cdcd", "\0a\0b",
  "THE (quick) fox", "x-y_z", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "]]]", "hello",
}

-- The values of a call, or its error without the function's name (which
-- differs: string.find vs qxt.sandbox.core.find).
local function outcome(f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then
    r[2] = tostring(r[2]):gsub("to '[^']*'", "to '?'")
    return { false, r[2] }
  end
  return r
end

local function gmatch_all(gm, s, p, init)
  local out = {}
  for a, b, c in gm(s, p, init) do
    out[#out + 1] = { a, b, c }
    if #out > 100 then break end
  end
  return out
end

describe("the sandbox's pattern functions give what the string library gives", function()
  local cases = 0

  local function same(what, real, ours)
    cases = cases + 1
    assert.are.same(real, ours, what)
  end

  it("for find and match, with and without init and plain", function()
    for _, p in ipairs(PATTERNS) do
      for _, s in ipairs(SUBJECTS) do
        local what = ("%q on %q"):format(p, s)
        same("find " .. what, outcome(string.find, s, p), outcome(core.find, s, p))
        same("match " .. what, outcome(string.match, s, p), outcome(core.match, s, p))
        for _, init in ipairs{ 2, -3, 0, 100, -100 } do
          same("find init " .. init .. " " .. what, outcome(string.find, s, p, init), outcome(core.find, s, p, init))
          same("match init " .. init .. " " .. what, outcome(string.match, s, p, init),
               outcome(core.match, s, p, init))
        end
        same("find plain " .. what, outcome(string.find, s, p, 1, true), outcome(core.find, s, p, 1, true))
      end
    end
  end)

  it("for gmatch, with init and anchors", function()
    for _, p in ipairs(PATTERNS) do
      for _, s in ipairs(SUBJECTS) do
        local what = ("%q on %q"):format(p, s)
        for _, init in ipairs{ 1, 3, -2, 50 } do
          same("gmatch " .. init .. " " .. what, outcome(gmatch_all, string.gmatch, s, p, init),
               outcome(gmatch_all, core.gmatch, s, p, init))
        end
      end
    end
  end)

  it("for gsub with string, table and function replacements and n", function()
    local REPL = { "<%0>", "%1-%1", "%2", "%%", "%", "%x", "", "[%1]", 42, { a = "A", hello = false, b = 1, x = {} },
                   function(a, b) return b and (a .. "|" .. tostring(b)) or nil end,
                   function() return false end, function(a) return #tostring(a) end,
                   function() return {} end }
    for _, p in ipairs(PATTERNS) do
      for _, s in ipairs(SUBJECTS) do
        for ri, r in ipairs(REPL) do
          local what = ("%q on %q with replacement %d"):format(p, s, ri)
          same("gsub " .. what, outcome(string.gsub, s, p, r), outcome(core.gsub, s, p, r))
          same("gsub n=2 " .. what, outcome(string.gsub, s, p, r, 2), outcome(core.gsub, s, p, r, 2))
        end
      end
    end
    same("gsub bad repl", outcome(string.gsub, "a", "a", true), outcome(core.gsub, "a", "a", true))
  end)

  it("for rep", function()
    for _, c in ipairs{ { "ab", 3 }, { "ab", 3, "," }, { "", 5 }, { "", 0 }, { "x", -1 }, { "", 3, "-" },
                        { "x", 1 << 62 }, { {}, 1 }, { "x" } } do
      same("rep", outcome(string.rep, table.unpack(c)), outcome(core.rep, table.unpack(c)))
    end
    -- where the library's would copy nothing math.maxinteger times
    assert.are.equal("", core.rep("", math.maxinteger))
  end)

  it("in a few thousand cases", function()
    assert.is_true(cases > 3000, cases .. " cases")
  end)
end)

describe("the sandbox's pattern functions stop a runaway pattern", function()
  it("with the instruction limit's error, inside sandbox.call", function()
    local sandbox = require("qxt.sandbox")
    local ok, err = sandbox.call(function() return core.find(("a"):rep(5000), ("a*"):rep(10) .. "b") end)
    assert.is_false(ok)
    assert.matches("instruction limit exceeded %(in a string pattern%)", err)
  end)

  it("with a budget of its own outside it", function()
    local ok, err = pcall(core.gsub, ("a"):rep(5000), ("a*"):rep(10) .. "b", "")
    assert.is_false(ok)
    assert.matches("instruction limit exceeded %(a string pattern took more than %d+ million steps%)", err)
  end)
end)
