-- qxt.input inside the engine: the encoding scan agrees with iconv, the
-- rule decides as docs/troubleshooting.md says, a watched file that changes
-- under the reader stops it, and the sinks name the file they failed to
-- write.
local csv = require("qxt.csv")
local input = require("qxt.input")
local iconv = require("qxt.iconv")
local sim = require("tests.helpers.sim")

local write_file = sim.write_file

local function gb18030(s)
  return (assert(assert(iconv.new("GB18030", "UTF-8")):convert(s)))
end

describe("qxt.input.core.scan", function()
  it("finds GB18030 valid exactly where iconv does, for every 2- and 4-byte code", function()
    local conv = assert(iconv.new("UTF-8", "GB18030"))
    local scan = input.scan_string
    local differ = {}
    local function check(s)
      local text, pending = conv:convert(s)
      conv:reset()
      local by_iconv = text ~= nil and pending == 0
      if by_iconv ~= (scan(s).gb_bad_seqs == 0) and #differ < 5 then
        differ[#differ + 1] = (s:gsub(".", function(c) return ("%02X"):format(c:byte()) end))
      end
    end
    for a = 0x80, 0xFF do
      for b = 0x00, 0xFF do check(string.char(a, b)) end
    end
    local char = string.char
    for a = 0x81, 0xFE do
      for b = 0x30, 0x39 do
        for c = 0x81, 0xFE do
          for d = 0x30, 0x39 do check(char(a, b, c, d)) end
        end
      end
    end
    assert.are.same({}, differ)
  end)

  it("counts lines by what they are: UTF-8 with CJK, UTF-8 without, not UTF-8; and where the first is", function()
    local c = input.scan_string("a,b\n张三丰,x\nJosé,y\n\255,z\n" .. gb18030("李四") .. "\nend")
    assert.are.same({ 6, 4, 1, 1, 2 }, { c.lines, c.lines_nonascii, c.utf8_strong, c.utf8_weak, c.utf8_bad })
    assert.are.equal(4, c.utf8_first_line)
    assert.are.equal(#"a,b\n张三丰,x\nJosé,y\n", c.utf8_first)
    assert.are.equal(2, c.gb_bad)               -- "张三丰," (9 bytes: one left with the comma) and \255
  end)
end)

describe("input.encoding: the rule", function()
  local function counts(strong, weak, bad, gb_bad)
    return { utf8_strong = strong, utf8_weak = weak, utf8_bad = bad, gb_bad = gb_bad,
             utf8_first = 99, utf8_first_line = 3, gb_first = 120, gb_first_line = 4 }
  end

  it("decides UTF-8, UTF-8 with damaged lines, GB18030, or nothing", function()
    assert.are.equal("utf-8", input.encoding(counts(0, 0, 0, 0), "f"))
    assert.are.equal("utf-8", input.encoding(counts(5, 0, 0, 7), "f"))
    local e, note = input.encoding(counts(299, 0, 1, 300), "f.csv")
    assert.are.equal("utf-8", e)
    assert.matches("f%.csv is read as UTF%-8 %(299 of its 300 lines", note)
    assert.matches("line 3 %(byte offset 99%)", note)
    assert.are.equal("utf-8", (input.encoding(counts(9, 0, 1, 0), "f")))      -- exactly 90%
    assert.are.equal("gb18030", (input.encoding(counts(0, 0, 3, 0), "f")))
    assert.are.equal("gb18030", (input.encoding(counts(0, 25, 75, 0), "f"))) -- 25% by chance
    assert.are.equal("gb18030", (input.encoding(counts(5, 20, 75, 0), "f"))) -- 5% with CJK
    -- In between, or a file that is not GB18030 either: no guess.
    for _, c in ipairs{ counts(8, 0, 1, 0), counts(0, 26, 74, 0), counts(6, 19, 75, 0), counts(2, 0, 1, 3),
                        counts(0, 0, 3, 1) } do
      local none, why = input.encoding(c, "f.csv")
      assert.is_nil(none)
      assert.matches("f%.csv", why)
      assert.matches("line 3 %(byte offset 99%)", why)
      assert.matches("%-%-encoding utf%-8.*%-%-encoding gb18030", why)
    end
    assert.matches("neither UTF%-8 nor GB18030.*line 4 %(byte offset 120%) is not GB18030",
      select(2, input.encoding(counts(0, 0, 3, 1), "f")))
    assert.matches("cannot tell whether f is UTF%-8 or GB18030",
      select(2, input.encoding(counts(8, 0, 1, 0), "f")))
  end)
end)

describe("csv encoding auto by evidence", function()
  local path
  before_each(function() path = os.tmpname() end)
  after_each(function() os.remove(path) end)

  it("reads a UTF-8 file with a bad byte early as UTF-8, rejecting that row only", function()
    local lines = { "mobile,name" }
    for i = 1, 300 do lines[#lines + 1] = ("139%08d,%s"):format(i, i == 3 and "张\255" or "欧阳娜娜") end
    local text = table.concat(lines, "\n") .. "\n"
    write_file(path, text)
    local reader = assert(csv.open(path))
    assert.are.equal("utf-8", reader:encoding())
    assert.matches("read as UTF%-8", reader:encoding_note())
    local errors = {}
    for row, _, n, err in reader:rows() do
      if err then errors[n] = err else assert.are.equal("欧阳娜娜", row.name) end
    end
    assert.are.same({ [3] = ("row 3 (line 4) has a byte that is not UTF-8 in column 'name' (0xFF at byte offset %d "
      .. "of the file)"):format(text:find("\255", 1, true) - 1) }, errors)
  end)

  it("reads a GB18030 file as GB18030 and the same file in UTF-8 as UTF-8, bad bytes anywhere in it", function()
    local lines = { "mobile,name" }
    for i = 1, 3000 do lines[#lines + 1] = ("139%08d,%s"):format(i, i % 2 == 0 and "张三" or "欧阳娜娜") end
    local text = table.concat(lines, "\n") .. "\n"
    write_file(path, gb18030(text))
    local reader = assert(csv.open(path))
    assert.are.equal("gb18030", reader:encoding())
    local n = 0
    for row in reader:rows() do n = n + 1; assert.is_truthy(row.name == "张三" or row.name == "欧阳娜娜") end
    assert.are.equal(3000, n)
    -- The old rule looked at the first 64 KiB only: a bad byte after them
    -- in a UTF-8 file, or before them, decided nothing but its own row.
    write_file(path, text .. "13900009999,\255\n")
    reader = assert(csv.open(path))
    assert.are.equal("utf-8", reader:encoding())
  end)

  it("stops on a file that is neither, naming the line and offset", function()
    write_file(path, "mobile,name\n1,张三\n2,\255\254\n3,李四\n")
    local reader, err = csv.open(path)
    assert.is_nil(reader)
    assert.matches("neither UTF%-8 nor GB18030: line 3 %(byte offset " .. #"mobile,name\n1,张三\n2," .. "%)", err)
  end)

  it("with encoding utf-8, rejects each row holding a byte that is not UTF-8, by column and offset", function()
    local text = "mobile,name,note\n1,张三,ok\n2,李四,\"x,\255\"\n3,王\226\128,y\n4,赵六,z\n"
    write_file(path, text)
    for size = 1, 9 do
      local reader = assert(csv.open(path, { encoding = "utf-8", chunk_size = size }))
      local errs = {}
      for _, _, n, err in reader:rows() do errs[n] = err or false end
      assert.are.same({ false,
        ("row 2 (line 3) has a byte that is not UTF-8 in column 'note' (0xFF at byte offset %d of the file)")
          :format(text:find("\255", 1, true) - 1),
        ("row 3 (line 4) has a byte that is not UTF-8 in column 'name' (0xE2 at byte offset %d of the file)")
          :format(text:find("\226\128,", 1, true) - 1),
        false }, errs, "chunk size " .. size)
    end
  end)

  it("decides a stream on what is buffered", function()
    local text = gb18030("mobile,name\n1,张三\n2,欧阳娜娜\n")
    local done
    local reader = assert(csv.reader(function() if done then return nil end done = true return text end))
    assert.are.equal("gb18030", reader:encoding())
    done = nil
    local none, err = csv.reader(function() if done then return nil end done = true
      return "mobile,name\n1,张三\n2,\255\254\n" end, { name = "stdin" })
    assert.is_nil(none)
    assert.matches("stdin is neither UTF%-8 nor GB18030", err)
  end)
end)

describe("a watched input file", function()
  local path, other
  before_each(function()
    path, other = os.tmpname(), os.tmpname()
    local lines = { "mobile,name" }
    for i = 1, 20000 do lines[#lines + 1] = ("139%08d,张三"):format(i) end
    write_file(path, table.concat(lines, "\n") .. "\n")   -- ~370 KB: several chunks
  end)
  after_each(function()
    os.remove(path)
    os.remove(other)
  end)

  -- Reads 10 rows, does `change`, reads on; returns the rows read and the error.
  local function read_with(change)
    local reader = assert(csv.open(path))
    local rows, it = 0, reader:rows()
    for _ = 1, 10 do assert(it()); rows = rows + 1 end
    change()
    local ok, err = pcall(function() while it() do rows = rows + 1 end end)
    reader:close()
    return rows, not ok and err or nil
  end

  it("stops when it is truncated, naming it, before the rows past the cut", function()
    local rows, err = read_with(function() assert(os.execute("truncate -s 100000 " .. path)) end)
    assert.matches(path .. " changed while it was read: its end came after 100000 of its %d+ bytes: it was truncated",
      err)
    assert.is_true(rows < 20000)
  end)

  it("stops when it grows", function()
    local _, err = read_with(function()
      local f = assert(io.open(path, "ab"))
      f:write("13900000000,李四\n")
      f:close()
    end)
    assert.matches("it grew past the %d+ bytes it had when opened", err)
  end)

  it("stops when it is rewritten in place, or replaced", function()
    local _, err = read_with(function()
      local f = assert(io.open(path, "r+b"))
      f:seek("set", 20)
      f:write("9")
      f:close()
      assert(os.execute("touch -d '2000-01-01' " .. path))
    end)
    assert.matches("modified while it was read", err)
    _, err = read_with(function()
      assert(os.execute(("cp %s %s && mv %s %s"):format(path, other, other, path)))
    end)
    assert.matches("another file took its name while it was read", err)
  end)

  it("says nothing when nothing changed", function()
    local rows, err = read_with(function() end)
    assert.is_nil(err)
    assert.are.equal(20000, rows)
  end)

  it("is opened by input.open: a watch for a file, none for a device, 'PATH: why' for a directory", function()
    local f, w = input.open(path)
    assert.are.equal("file", io.type(f))
    assert.are.equal(path, w.path)
    f:close()
    f, w = input.open("/dev/null")
    assert.are.equal("file", io.type(f))
    assert.is_nil(w)
    f:close()
    local dir = sim.tmpdir()
    assert.are.same({ nil, dir .. ": Is a directory" }, { input.open(dir) })
    assert.are.same({ nil, dir .. "/none: No such file or directory" }, { input.open(dir .. "/none") })
    os.execute("rm -rf " .. sim.quote(dir))
  end)
end)

describe("a flow whose outputs cannot be written", function()
  local endpoint = os.getenv("QXT_ENDPOINT")
  local function records()
    return { { seq = 1, mobile = "13972565391", name = "张三", fields = { mobile = "13972565391", name = "张三" } },
             { seq = 2, mobile = "13972565391", name = "李四", fields = { mobile = "13972565391", name = "李四" } } }
  end

  it("fails, naming the file, for a JSON lines sink and an SQLite sink that only fail at close", function()
    local logged, spare = {}, { os.tmpname(), os.tmpname() }
    local summary = qxt.flow{
      source = records(), quiet = true, verify = { endpoint = endpoint },
      log = function(msg) logged[#logged + 1] = msg end,
      sinks = { consistent = qxt.sink.jsonl("/dev/full"), inconsistent = qxt.sink.sqlite("/dev/full", "t"),
                invalid = qxt.sink.jsonl(spare[1]), unverified = qxt.sink.jsonl(spare[2]) },
    }
    for _, p in ipairs(spare) do os.remove(p) end
    assert.are.equal(2, summary.records)
    assert.are.equal(1, summary.exit_status)
    local all = table.concat(logged, "\n")
    assert.matches("sink 'consistent': /dev/full: No space left on device", all)
    assert.matches("sink 'inconsistent': /dev/full: commit failed", all)
    assert.matches("stopped on an error", summary.failed)
    qxt.exit_status(0)
  end)
end)

describe("a watched JSON lines file", function()
  it("stops when it is truncated while it is read", function()
    local path = os.tmpname()
    local lines = {}
    for i = 1, 5000 do lines[i] = ('{"mobile":"139%08d","name":"张三"}'):format(i) end
    write_file(path, table.concat(lines, "\n") .. "\n")
    local src = assert(qxt.source.jsonl(path))
    local it = src:records()
    for _ = 1, 10 do assert(it()) end
    assert(os.execute("truncate -s 70000 " .. path))
    local ok, err = pcall(function() while it() do end end)
    os.remove(path)
    assert.is_false(ok)
    assert.matches("changed while it was read: its end came after 70000 of its", err)
  end)
end)
