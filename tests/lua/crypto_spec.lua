-- qxt.crypto's string hash and constant-time lookup, inside the real engine:
-- what serve's --tokens (lua/qxt/serve/tokens.lua) is built on.
local crypto = require("qxt.crypto")

describe("qxt.crypto.sha256", function()
  it("is SHA-256 of a string, raw bytes (FIPS 180-2 test vectors)", function()
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      crypto.hex(crypto.sha256("abc")))
    assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      crypto.hex(crypto.sha256("")))
    assert.are.equal(32, #crypto.sha256(("x"):rep(100000)))
  end)

  it("hashes bytes, zeros included", function()
    assert.are_not.equal(crypto.sha256("a\0b"), crypto.sha256("a\0c"))
  end)
end)

describe("qxt.crypto.ct_find", function()
  local h = {}
  for i = 1, 50 do h[i] = crypto.sha256("token " .. i) end
  local all = table.concat(h)

  it("finds a hash wherever it is, and compares every one each time", function()
    for _, i in ipairs({ 1, 2, 25, 50 }) do
      local at, compared = crypto.ct_find(h[i], all)
      assert.are.equal(i, at)
      assert.are.equal(50, compared)
    end
  end)

  it("says false for a hash that is not there, after comparing all", function()
    local at, compared = crypto.ct_find(crypto.sha256("nobody"), all)
    assert.is_false(at)
    assert.are.equal(50, compared)
  end)

  it("a hash sharing a long prefix is no match", function()
    local near = h[7]:sub(1, 31) .. string.char((h[7]:byte(32) + 1) % 256)
    assert.is_false((crypto.ct_find(near, all)))
  end)

  it("refuses a digest or a list that is not 32-byte hashes", function()
    assert.has_error(function() crypto.ct_find("short", all) end)
    assert.has_error(function() crypto.ct_find(h[1], all .. "x") end)
    assert.is_false((crypto.ct_find(h[1], "")))
  end)
end)
