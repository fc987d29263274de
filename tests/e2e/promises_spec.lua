-- The README's promises are docs/security.md's, word for word: the page
-- that names the test behind each promise must be the one people read.
local sim = require("tests.helpers.sim")

local function promises(path)
  local text = assert(sim.read_file(path), path)
  local list = {}
  local section = text:match("\n## What qxtv promises\n(.-)\n## ")
  assert(section, path .. " has no section 'What qxtv promises'")
  for line in section:gmatch("[^\n]+") do
    if line:match("^%d+%. ") then list[#list + 1] = line end
  end
  return list
end

describe("the promises", function()
  it("are the same sentences in README.md and docs/security.md", function()
    local readme, security = promises("README.md"), promises("docs/security.md")
    assert.is_true(#security >= 7)
    assert.are.same(security, readme)
  end)
end)
