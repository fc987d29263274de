-- serve's --tokens file (lua/qxt/serve/tokens.lua), inside the real engine:
-- the format, a file others may read, and the Authorization header.
local crypto = require("qxt.crypto")
local runs = require("tests.helpers.runs")
local tokens = require("qxt.serve.tokens")

local function sha(token) return crypto.hex(crypto.sha256(token)) end

local function write(path, text, mode)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  assert(os.execute(("chmod %s %s"):format(mode or "600", path)))
end

describe("serve tokens", function()
  local dir
  before_each(function() dir = runs.tmpdir() end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local FILE = table.concat({
    "# callers of the KYC service",
    "",
    "signup " .. sha("s3cret-signup-token"),
    "  backoffice   " .. sha("bo/Token+1=") .. "   # the risk team",
    "crlf " .. sha("crlf-token") .. "\r",
  }, "\n")

  it("loads a private file and knows each caller by its token", function()
    write(dir .. "/tokens", FILE)
    local t = assert(tokens.load(dir .. "/tokens"))
    assert.are.same({ "signup", "backoffice", "crlf" }, t:callers())
    assert.are.equal("signup", t:check("Bearer s3cret-signup-token"))
    assert.are.equal("backoffice", t:check("bearer bo/Token+1="))
    assert.are.equal("crlf", t:check("Bearer crlf-token"))
  end)

  it("refuses a wrong token, a missing one and a malformed header, saying which", function()
    local t = assert(tokens.parse(FILE))
    local cases = {
      { nil, "no bearer token" }, { "", "no bearer token" },
      { "Bearer wrong-token", "unknown bearer token" },
      { "Bearer s3cret-signup-token ", "malformed" },       -- trailing space
      { "Bearer  s3cret-signup-token", "malformed" },       -- two spaces
      { "Bearer s3cret signup", "malformed" },
      { "Basic c2lnbnVwOng=", "not \"Bearer TOKEN\"" },
      { "Bearers3cret-signup-token", "not \"Bearer TOKEN\"" },
      { "s3cret-signup-token", "not \"Bearer TOKEN\"" },
      { "Bearer " .. sha("s3cret-signup-token"), "unknown bearer token" },  -- the hash is no token
      { "Bearer " .. ("a"):rep(5000), "malformed" },
    }
    for _, c in ipairs(cases) do
      local caller, why = t:check(c[1])
      assert.is_nil(caller, tostring(c[1]))
      assert.truthy(why:find(c[2], 1, true), why)
    end
  end)

  it("names the line that is wrong", function()
    local bad = {
      { "signup\n", "tokens:1: expected NAME SHA256HEX" },
      { "# c\nsignup s3cret-signup-token\n", "tokens:2: the hash is the token's SHA-256" },
      { "a " .. sha("x") .. "\nb " .. sha("x"):sub(2) .. "\n", "tokens:2:" },
      { "a " .. sha("x") .. "\na " .. sha("y") .. "\n", "tokens:2: caller a is named twice" },
      { "a " .. sha("x") .. "\nb " .. sha("x"):upper() .. "\n", "tokens:2: the same hash as caller a" },
      { "a b " .. sha("x") .. "\n", "tokens:1: expected" },
      { "na/me " .. sha("x") .. "\n", "tokens:1: a caller's name" },
      { "# nobody\n\n", "tokens: no caller" },
    }
    for _, c in ipairs(bad) do
      local t, err = tokens.parse(c[1], "tokens")
      assert.is_nil(t)
      assert.truthy(err:find(c[2], 1, true), err)
    end
    write(dir .. "/tokens", "signup " .. sha("x") .. "\nbroken line here\n")
    local t, err = tokens.load(dir .. "/tokens")
    assert.is_nil(t)
    assert.are.equal(dir .. "/tokens:2: expected NAME SHA256HEX", err)
  end)

  it("refuses a file its group or others may read or write", function()
    for _, mode in ipairs({ "644", "640", "604", "620", "602" }) do
      write(dir .. "/tokens", FILE, mode)
      local t, err = tokens.load(dir .. "/tokens")
      assert.is_nil(t, mode)
      assert.truthy(err:find("readable or writable by others", 1, true), err)
      assert.truthy(err:find("chmod 600", 1, true), err)
    end
    write(dir .. "/tokens", FILE, "400")
    assert.truthy(tokens.load(dir .. "/tokens"))
    local t, err = tokens.load(dir .. "/missing")
    assert.is_nil(t)
    assert.truthy(err:find("missing", 1, true))
    assert.is_nil((tokens.load(dir)))                       -- a directory
  end)

  it("compares the token's hash with every caller's, wherever it matches", function()
    -- ct_find reports how many hashes it compared: all of them, for the
    -- first caller, the last and an unknown token alike.
    local lines = {}
    for i = 1, 40 do lines[i] = ("c%d %s"):format(i, sha("token-" .. i)) end
    local t = assert(tokens.parse(table.concat(lines, "\n")))
    for _, token in ipairs({ "token-1", "token-40", "token-41" }) do
      local _, compared = crypto.ct_find(crypto.sha256(token), t.hashes)
      assert.are.equal(40, compared)
    end
    assert.are.equal("c1", t:check("Bearer token-1"))
    assert.are.equal("c40", t:check("Bearer token-40"))
    assert.is_nil(t:check("Bearer token-41"))
  end)
end)
