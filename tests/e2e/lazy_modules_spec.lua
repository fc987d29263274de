-- What qxtv maps, as a subprocess: a script that sends nothing loads
-- neither libcurl, SQLite, libcrypto nor libedit (start-up is the dynamic
-- loader's page faults on small machines); the first verify() loads the
-- transport, the first journal the journal's module; a broken module is a
-- clear one-line error.
local sim = require("tests.helpers.sim")

local qxtv = sim.qxtv()

-- The shared objects of the qxtv process after running `code` with -e.
local function mapped_after(code)
  local probe = code .. [[
    local f = assert(io.open("/proc/self/maps"))
    for line in f:lines() do
      local path = line:match("%s(/%S+%.so[%.%d]*)$")
      if path then print(path) end
    end
    f:close()]]
  local out, err, status = sim.run(qxtv .. " -e " .. sim.quote(probe))
  assert.are.equal(0, status, err)
  return out
end

local HEAVY = { "libcurl", "libsqlite3", "libcrypto", "libedit", "libmicrohttpd", "qxtv%-http", "qxtv%-sqlite",
                "qxtv%-crypto" }

describe("qxtv's own modules", function()
  it("are not loaded by a script that sends nothing", function()
    local maps = mapped_after("local x = qxt.mask.mobile('13972565391')")
    assert.matches("liblua5%.4", maps)           -- the probe sees the mapped libraries
    for _, lib in ipairs(HEAVY) do
      assert.is_nil(maps:match(lib), lib .. " is loaded at start")
    end
  end)

  it("load the transport on the first verify() and the journal on its first use", function()
    local maps = mapped_after("assert(verify('13972565391', '张三').code == 0)")
    assert.matches("qxtv%-http%.so", maps)
    assert.matches("libcurl", maps)
    assert.is_nil(maps:match("libsqlite3"))
    maps = mapped_after("require('qxt.sqlite.core')")
    assert.matches("qxtv%-sqlite%.so", maps)
    assert.matches("libsqlite3", maps)
    assert.is_nil(maps:match("libcurl"))
    assert.is_nil(maps:match("libcrypto"))         -- the hashes are a module of their own
    maps = mapped_after("require('qxt.crypto')")
    assert.matches("qxtv%-crypto%.so", maps)
    assert.matches("libcrypto", maps)
    assert.is_nil(maps:match("libsqlite3"))
    assert.is_nil(maps:match("libmicrohttpd"))
    maps = mapped_after("require('qxt.httpd.core')")   -- qxtv serve's server
    assert.matches("qxtv%-httpd%.so", maps)
    assert.matches("libmicrohttpd", maps)
    assert.is_nil(maps:match("libcurl"))
  end)

  it("say which file is broken instead of crashing", function()
    -- A copy of qxtv in a directory of its own, beside a damaged module:
    -- the module beside the binary is the one loaded (the build tree's
    -- layout), so the damaged one is found first.
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -m 700 " .. sim.quote(dir)))
    assert(os.execute("cp " .. sim.quote(qxtv) .. " " .. sim.quote(dir .. "/qxtv")))
    local f = assert(io.open(dir .. "/qxtv-http.so", "wb"))
    f:write("not an ELF file")
    f:close()
    local out, err, status = sim.run(sim.quote(dir .. "/qxtv") .. " -e " ..
      sim.quote("print('sending'); verify('13972565391', '张三'); print('sent')"))
    os.execute("rm -rf " .. sim.quote(dir))
    assert.are.equal("sending\n", out)           -- stopped at the first verify()
    assert.are_not.equal(0, status)
    assert.matches("verify%(%): cannot load .*/qxtv%-http%.so", err)
    assert.is_nil(err:find("\n.", 1))             -- one line, no traceback noise
  end)
end)
