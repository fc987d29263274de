-- One table of exit statuses (src/common/exits.c): what `qxtv --help` and
-- `COMMAND --help` print, what docs/cli.md lists and what the Lua flows
-- name (qxt.exit) say the same, status by status, so they cannot drift;
-- and no flow or command sets a status by a bare number.
local sim = require("tests.helpers.sim")

-- { [status] = { name =, meaning = } } from lines "  STATUS NAME  meaning".
local function from_help(text)
  local t, on = {}, false
  for line in text:gmatch("[^\n]+") do
    if line == "Exit status:" then
      on = true
    elseif on then
      local status, name, meaning = line:match("^%s*(%d+) (%u+)%s+(.-)%s*$")
      if not status then break end
      t[tonumber(status)] = { name = name, meaning = meaning }
    end
  end
  return t
end

-- The same from docs/cli.md's "Exit status" table: "| STATUS | NAME | meaning |".
local function from_docs()
  local f = assert(io.open("docs/cli.md", "rb"))
  local text = f:read("a")
  f:close()
  local section = assert(text:match("\n## Exit status\n(.-)\n## ") or text:match("\n## Exit status\n(.*)$"))
  local t = {}
  for line in section:gmatch("[^\n]+") do
    local status, name, meaning = line:match("^| (%d+) | (%u+) | (.-) |$")
    if status then t[tonumber(status)] = { name = name, meaning = meaning } end
  end
  return t
end

local function from_table()
  local t = {}
  for _, row in ipairs(qxt.exit.list) do t[row.status] = { name = row.name, meaning = row.meaning } end
  return t
end

describe("exit statuses", function()
  local want = from_table()

  it("include every status qxtv can end with, each named", function()
    for _, name in ipairs{ "OK", "FAILED", "USAGE", "HALTED", "BUDGET", "INTERRUPTED", "INPUT", "THRESHOLD",
                           "ABORTED" } do
      assert.is_not_nil(want[qxt.exit[name]], name)
      assert.are.equal(name, want[qxt.exit[name]].name)
    end
    assert.are.equal(130, qxt.exit.ABORTED)           -- a second signal: what shells expect
    assert.are.equal(qxt.exit.INPUT, qxt.flow.EXIT_INPUT)
    assert.are.equal(7, qxt.exit.THRESHOLD)
    assert.are.equal(qxt.exit.THRESHOLD, qxt.flow.EXIT_THRESHOLD)
    assert.has_error(function() return qxt.exit.HALT end, "qxt.exit: no exit status named 'HALT'")
  end)

  it("are the same in qxtv --help, every COMMAND --help and docs/cli.md", function()
    local out, err, status = sim.run(sim.qxtv() .. " --help")
    assert.are.equal(0, status, err)
    assert.are.same(want, from_help(out))
    for _, command in ipairs{ "run", "check", "repl", "-e", "new", "report", "serve", "diff" } do
      out = sim.run(sim.qxtv() .. " " .. command .. " --help")
      assert.are.same(want, from_help(out), command .. " --help")
    end
    assert.are.same(want, from_docs())
  end)

  it("are set by name, never by a bare number, in the Lua library, the scripts and main.c", function()
    local p = io.popen("grep -rnE '(os\\.exit|exit_status)\\( *[0-9]|return [0-9]+$' lua/qxt/flow.lua lua/qxt/run.lua "
                       .. "lua/qxt/cli scripts/*.lua; grep -nE '\\bexit\\( *[0-9]' src/engine/main.c src/lib/lsignal.c")
    local found = p:read("a")
    p:close()
    assert.are.equal("", found)
  end)
end)
