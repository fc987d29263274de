-- qxt.mask: what logs may show of a person.
local mask = require("qxt.mask")

describe("mask.mobile", function()
  it("keeps the first 3 and last 4 digits of a mobile", function()
    assert.are.equal("139****5391", mask.mobile("13972565391"))
  end)

  it("masks a number given as a Lua number", function()
    assert.are.equal("139****5391", mask.mobile(13972565391))
    assert.are.equal("139****5391", mask.mobile(1.3972565391e10))
  end)

  it("hides everything under 7 characters", function()
    assert.are.equal("******", mask.mobile("123456"))
    assert.are.equal("*", mask.mobile("1"))
  end)

  it("always hides at least four characters", function()
    assert.are.equal("123****", mask.mobile("1234567"))
    assert.are.equal("123****890", mask.mobile("1234567890"))
  end)

  it("masks longer raw input without revealing more than 7 characters", function()
    assert.are.equal("+86****5391", mask.mobile("+8613972565391"))
  end)

  it("counts UTF-8 characters (full-width digits stay whole)", function()
    assert.are.equal("１３９****５３９１", mask.mobile("１３９７２５６５３９１"))
  end)

  it("never raises on nil or odd types", function()
    assert.are.equal("", mask.mobile(nil))
    assert.are.equal("", mask.mobile({}))
    assert.are.equal("", mask.mobile(true))
    assert.are.equal("", mask.mobile(""))
  end)
end)

describe("mask.name", function()
  it("keeps the first character and stars the others", function()
    assert.are.equal("张*", mask.name("张三"))
    assert.are.equal("欧***", mask.name("欧阳娜娜"))
    assert.are.equal("阿*******", mask.name("阿依古丽·买买提"))
    assert.are.equal("J*******", mask.name("John Doe"))
  end)

  it("masks a one-character name entirely", function()
    assert.are.equal("*", mask.name("张"))
  end)

  it("works byte by byte on text that is not UTF-8", function()
    assert.are.equal("\xd5***", mask.name("\xd5\xc5\xc8\xfd"))
  end)

  it("never raises on nil or odd types", function()
    assert.are.equal("", mask.name(nil))
    assert.are.equal("", mask.name(function() end))
  end)
end)
