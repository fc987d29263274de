-- qxt.cli.args: the words of serve, admin and diff, read one way: options
-- with a value, positional words, and a mistake named.
local args = require("qxt.cli.args")

describe("qxt.cli.args", function()
  it("takes --name VALUE options and positional words in any order", function()
    local o = assert(args.parse({ "a", "--key", "id", "b", "--html", "x.html" },
                                { valued = { key = true, html = true } }))
    assert.are.equal("id", o.key)
    assert.are.equal("x.html", o.html)
    assert.are.same({ "a", "b" }, o.words)
  end)

  it("names an option without its value, or one the command does not know", function()
    local o, err = args.parse({ "a", "--key" }, { valued = { key = true } })
    assert.is_nil(o)
    assert.are.equal("--key wants a value", err)
    o, err = args.parse({ "--frob", "1" }, { valued = { key = true } })
    assert.is_nil(o)
    assert.are.equal("unknown option --frob", err)
  end)

  it("hands other options to the command: taken, refused with its reason, or unknown", function()
    local seen = {}
    local spec = {
      other = function(o, name, value)
        if name == "rate" then
          if not tonumber(value) then return nil, "--rate wants a number" end
          o.rate = tonumber(value)
          seen[#seen + 1] = name
          return true
        end
        return false
      end,
    }
    assert.are.equal(5, assert(args.parse({ "--rate", "5", "w" }, spec)).rate)
    local o, err = args.parse({ "--rate" }, spec)
    assert.is_nil(o)
    assert.are.equal("--rate wants a number", err)
    o, err = args.parse({ "--burst", "2" }, spec)
    assert.is_nil(o)
    assert.are.equal("unknown option --burst", err)
    assert.are.same({ "rate" }, seen)
  end)
end)
