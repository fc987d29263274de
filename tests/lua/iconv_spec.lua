-- qxt.iconv: the C binding to iconv(3), chunk by chunk.
local iconv = require("qxt.iconv")

local UTF8 = "张三,阿依古丽·买买提,欧阳娜娜"

local function to_gb18030(s)
  local conv = assert(iconv.new("GB18030", "UTF-8"))
  local out, pending = conv:convert(s)
  assert.are.equal(0, pending)
  conv:close()
  return out
end

describe("qxt.iconv", function()
  it("converts GB18030 to UTF-8 and back", function()
    local gb = to_gb18030(UTF8)
    assert.are_not.equal(UTF8, gb)
    assert.is_true(#gb < #UTF8) -- two bytes per Chinese character instead of three
    local back, pending = assert(iconv.new("UTF-8", "GB18030")):convert(gb)
    assert.are.equal(UTF8, back)
    assert.are.equal(0, pending)
  end)

  it("leaves a character cut at the end of a chunk for the next chunk", function()
    local gb = to_gb18030("张三")                -- 4 bytes
    local conv = assert(iconv.new("UTF-8", "GB18030"))
    local first, pending = conv:convert(gb:sub(1, 3))
    assert.are.equal("张", first)
    assert.are.equal(1, pending)
    local rest = conv:convert(gb:sub(3 - pending + 1))
    assert.are.equal("三", rest)
  end)

  it("reassembles any split of a converted text", function()
    local gb = to_gb18030(UTF8 .. " 𠀀 €") -- 4-byte GB18030 sequences too
    for size = 1, 7 do
      local conv = assert(iconv.new("UTF-8", "GB18030"))
      local out, carry = {}, ""
      for i = 1, #gb, size do
        local data = carry .. gb:sub(i, i + size - 1)
        local text, pending = assert(conv:convert(data))
        out[#out + 1] = text
        carry = pending > 0 and data:sub(-pending) or ""
      end
      assert.are.equal("", carry)
      assert.are.equal(UTF8 .. " 𠀀 €", table.concat(out))
    end
  end)

  it("returns nil, message and the position of an invalid sequence", function()
    local conv = assert(iconv.new("UTF-8", "UTF-8"))
    local text, err, pos = conv:convert("ab\xffcd")
    assert.is_nil(text)
    assert.matches("invalid byte sequence at byte 3", err)
    assert.are.equal(3, pos)
    -- and the converter is usable again
    assert.are.equal("ok", (conv:convert("ok")))
  end)

  it("returns nil and a message for an unsupported encoding", function()
    local conv, err = iconv.new("UTF-8", "NO-SUCH-ENCODING")
    assert.is_nil(conv)
    assert.matches("not supported", err)
  end)

  it("converts an empty string and large input", function()
    local conv = assert(iconv.new("UTF-8", "GB18030"))
    assert.are.equal("", (conv:convert("")))
    local big = string.rep(to_gb18030("张三,"), 50000)
    local out = assert(conv:convert(big))
    assert.are.equal(string.rep("张三,", 50000), out)
  end)

  it("raises on misuse and after close", function()
    local conv = assert(iconv.new("UTF-8", "GB18030"))
    assert.has_error(function() conv:convert({}) end)
    assert.has_error(function() iconv.new("UTF-8") end)
    conv:close()
    conv:close() -- harmless
    assert.has_error(function() conv:convert("x") end)
    assert.matches("closed", tostring(conv))
  end)

  it("closes through to-be-closed variables", function()
    local outer
    do
      local conv <close> = assert(iconv.new("UTF-8", "GB18030"))
      outer = conv
    end
    assert.matches("closed", tostring(outer))
  end)
end)
