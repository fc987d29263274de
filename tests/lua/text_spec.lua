-- qxt.text: terminal column widths for tables and progress lines.
local text = require("qxt.text")

describe("qxt.text", function()
  it("counts CJK characters as two columns", function()
    assert.are.equal(4, text.width("张三"))
    assert.are.equal(7, text.width("一致 ok"))
    assert.are.equal(2, text.width("𠀀"))             -- beyond the BMP
    assert.are.equal(3, text.width("\xff\xfe\xfd"))   -- not UTF-8: one per byte
  end)

  it("pads and truncates by columns, never inside a character", function()
    assert.are.equal("张三  ", text.pad("张三", 6))
    assert.are.equal("张三", text.truncate("张三李四", 5))
    assert.are.equal("ab", text.truncate("ab", 10))
    assert.is_truthy(utf8.len(text.truncate("一致不一致", 3)))
  end)
end)
