-- qxt.csv.core (src/lib/lcsv.c): the reader splits a plain line in C
-- when the buffer holds it, else in Lua. Read in 1-byte chunks, the buffer
-- hardly ever holds a whole next line, so the Lua path does nearly all the
-- work; in 64 KiB chunks, the C path does: both must read the same rows,
-- lines, numbers and errors. Then the C function's own contract.
local csv = require("qxt.csv")
local core = require("qxt.csv.core")

local function chunks(data, size)
  local pos = 1
  return function()
    if pos > #data then return nil end
    local c = data:sub(pos, pos + size - 1)
    pos = pos + size
    return c
  end
end

local function read_all(data, chunk_size)
  local r, err = csv.reader(chunks(data, chunk_size), { encoding = "utf-8", columns = false,
                                                         chunk_size = chunk_size })
  if not r then return { "refused: " .. err } end
  local out = { table.concat(r:header(), "|") }
  for row, line, n, row_err in r:rows() do
    local keys = {}
    for k in pairs(row) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local cells = {}
    for i, k in ipairs(keys) do cells[i] = tostring(k) .. "=" .. row[k] end
    out[#out + 1] = table.concat(cells, "|") .. " @" .. line .. " #" .. n .. " " .. tostring(row_err)
  end
  return out
end

local PIECES = { "a", "bc", "张", ",", ",", ",", "\n", "\n", "\r\n", " ", "\t", '"', '""', "\r", "1" }

describe("csv reader: C and Lua paths", function()
  it("read random files the same", function()
    math.randomseed(4242)
    for _ = 1, 300 do
      local parts = { ({ "a,b,c\n", "a,b\r\n", "x\n" })[math.random(3)] }
      for i = 2, math.random(1, 120) do parts[i] = PIECES[math.random(#PIECES)] end
      if math.random(2) == 1 then parts[#parts + 1] = "\n" end
      local data = table.concat(parts)
      assert.are.same(read_all(data, 1), read_all(data, 65536), string.format("%q", data))
    end
  end)
end)

describe("csv.core.next_row", function()
  local names = { "a", "b" }

  it("splits a complete plain line, past blank ones, and says where it stopped", function()
    local pos, lines, row, n = core.next_row("\n \t\r\n1,2\r\nrest", 1, false, names)
    assert.are.same({ 11, 3, { a = "1", b = "2" }, 2 }, { pos, lines, row, n })
    pos, lines, row, n = core.next_row("1,2,3,\nx", 1, false, names)
    assert.are.same({ a = "1", b = "2", [3] = "3", [4] = "" }, row)
    assert.are.same({ 8, 1, 4 }, { pos, lines, n })
  end)

  it("leaves quotes, unfinished lines and the end to the Lua reader", function()
    assert.are.same({ 3, 1 }, { core.next_row(' \n"q",1\n', 1, false, names) })
    assert.are.same({ 1, 0 }, { core.next_row("1,2", 1, false, names) })
    assert.are.same({ 4, 0 }, { core.next_row("1,2", 4, true, names) })
    local pos, lines, row = core.next_row("1,2\r", 1, true, names)
    assert.are.same({ 6, 1, { a = "1", b = "2" } }, { pos, lines, row })
  end)
end)

-- Plain lines are split by one function (split_fields in src/lib/lcsv.c),
-- whether next_row reads them, or the Lua reader hands over a line it read
-- itself (the header, a line in the last chunk, an unterminated quote's
-- first line): core.split is that function.
describe("csv.core.split", function()
  it("splits at every comma, trims nothing, keys by name then by number", function()
    local names = { "a", "b" }
    assert.are.same({ { a = " 1", b = "", [3] = "x " }, 3 }, { core.split(" 1,,x ", names) })
    assert.are.same({ { "" }, 1 }, { core.split("") })
    assert.are.same({ { "p", "q", "" }, 3 }, { core.split("p,q,") })
  end)

  it("gives the same row as next_row for the same line", function()
    local names = { "id", "mobile", "name" }
    local line = "7,13972565391,张三,extra"
    local _, _, row, n = core.next_row(line .. "\n", 1, false, names)
    assert.are.same({ row, n }, { core.split(line, names) })
  end)

  it("is the reader's splitter on every path: header and rows in tiny chunks", function()
    local data = "mobile,name\n139,张三\n138,李四"
    local r = assert(csv.reader(chunks(data, 1), { encoding = "utf-8", chunk_size = 1 }))
    assert.are.same({ "mobile", "name" }, r:header())
    local rows = {}
    for row in r:rows() do rows[#rows + 1] = row end
    assert.are.same({ (core.split("139,张三", r:header())), (core.split("138,李四", r:header())) }, rows)
  end)
end)

describe("qxt.csv: one folder", function()
  it("is the front of reader, columns, decode and writer in lua/qxt/csv/", function()
    local columns = require("qxt.csv.columns")
    assert.are.equal(columns.map, csv.map_columns)
    assert.are.equal(columns.MOBILE_COLUMNS, csv.MOBILE_COLUMNS)
    assert.are.equal(require("qxt.csv.reader").open, csv.open)
    assert.are.equal(require("qxt.csv.writer").new, csv.writer)
    assert.is_function(require("qxt.csv.decode").cr_source)
  end)
end)
