-- The fuzzers' seed corpora (tests/fuzz/corpus/csv, clean), replayed through
-- their drivers in the ordinary build on every test run: each input must
-- keep every invariant the fuzzers check (tests/fuzz/*_driver.lua), so a
-- change to qxt.csv or qxt.clean that breaks one fails here, without clang.

local function corpus(name)
  local files = {}
  local p = io.popen("ls tests/fuzz/corpus/" .. name)
  for file in p:lines() do files[#files + 1] = file end
  p:close()
  return files
end

for _, name in ipairs{ "csv", "clean" } do
  describe("fuzz corpus " .. name, function()
    local driver = dofile("tests/fuzz/" .. name .. "_driver.lua")
    for _, file in ipairs(corpus(name)) do
      it(file, function()
        local f = assert(io.open("tests/fuzz/corpus/" .. name .. "/" .. file, "rb"))
        local data = f:read("a")
        f:close()
        driver(data)
      end)
    end
  end)
end
