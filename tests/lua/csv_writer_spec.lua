-- qxt.csv.writer (C core, src/lib/lcsv_write.c): the same text as the rules
-- in qxt.csv's header, checked against a model of them on random values;
-- random rows read back by the reader; the CSV sink's columns taken
-- straight from records as a row table would have; a full disk reported
-- as nil, err.
local csv = require("qxt.csv")
local csv_sink = require("qxt.sink.csv")
local cjson = require("cjson")

-- The rules, written plainly (this was the Lua writer's cell()).
local function model_cell(v)
  local s
  local t = type(v)
  if t == "string" then
    s = v
  elseif t == "number" then
    local i = math.tointeger(v)
    s = i and string.format("%d", i) or string.format("%.14g", v)
  elseif t == "boolean" then
    s = tostring(v)
  else
    return ""
  end
  if s == "" then return s end
  local first = s:byte()
  if (first == 61 or first == 43 or first == 45 or first == 64 or first == 9 or first == 13)
      and not s:find("^[-+]?%d+%.?%d*$") then
    s = "'" .. s
  end
  if s:find('[,"\r\n]') or s:byte() == 32 or s:byte(-1) == 32 then
    s = '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end

-- Bytes that matter to the rules, and some that do not.
local ALPHABET = { "=", "+", "-", "@", "\t", "\r", "\n", ",", '"', " ", "'", ".", "0", "1", "9",
                   "a", "Z", "张", "\0", "\255", "e", "E" }

local function random_string(max)
  local parts = {}
  for i = 1, math.random(0, max) do parts[i] = ALPHABET[math.random(#ALPHABET)] end
  return table.concat(parts)
end

local NUMBERS = { 0, -0.0, 1, -8, 13972565391, 1.3972565391e10, 0.25, -1.5, 1e300, -1e-300,
                  math.huge, -math.huge, math.maxinteger, math.mininteger, 2^53, 2^63, -2^63,
                  1 / 3, 123456789.123456789 }

local function random_value()
  local k = math.random(10)
  if k <= 6 then return random_string(8) end
  if k == 7 then
    local n = NUMBERS[math.random(#NUMBERS)]
    return math.random(2) == 1 and n or math.random(-1000, 1000) / 8
  end
  if k == 8 then return math.random(2) == 1 end
  if k == 9 then return cjson.null end
  return nil
end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

describe("csv writer core", function()
  local path
  before_each(function() path = os.tmpname() end)
  after_each(function() os.remove(path) end)

  it("formats every value as the rules say", function()
    math.randomseed(20240601)
    for _, n in ipairs(NUMBERS) do
      assert.are.equal(model_cell(n), csv.cell(n), tostring(n))
      assert.are.equal(model_cell(-n), csv.cell(-n), tostring(-n))
    end
    assert.are.equal(model_cell(0 / 0), csv.cell(0 / 0))
    for _, v in ipairs({ "", "-", "+", ".", "-.", "1.", "-1.", "+.5", "1.2.3", "1e5", "-1e5", " ", "=",
                         "\t", "\r", "@", "-8 ", " -8", {}, print, true, false }) do
      assert.are.equal(model_cell(v), csv.cell(v), string.format("%q", tostring(v)))
    end
    for _ = 1, 20000 do
      local v = random_value()
      assert.are.equal(model_cell(v), csv.cell(v), string.format("%q", tostring(v)))
    end
  end)

  it("writes rows that the reader reads back", function()
    math.randomseed(7)
    for round = 1, 40 do
      local ncols = math.random(2, 6)
      local columns = {}
      for i = 1, ncols do columns[i] = "c" .. i end
      local eol = round % 2 == 0 and "\r\n" or "\n"
      local w = assert(csv.writer(path, columns, { eol = eol, buffer_rows = math.random(1, 20),
                                                   bom = round % 3 == 0 }))
      local rows = {}
      for r = 1, math.random(0, 60) do
        local row = {}
        for i = 1, ncols do
          row["c" .. i] = random_value()
        end
        rows[r] = row
        assert.is_true(w:write(row))
      end
      assert.is_true(w:close())
      local reader = assert(csv.open(path, { columns = false, encoding = "utf-8" }))
      assert.are.same(columns, reader:header())
      local n = 0
      for back, _, _, err in reader:rows() do
        n = n + 1
        -- Read back as UTF-8, a row holding bytes that are not is flagged
        -- (qxt.csv), and still yielded as written.
        local utf8_row = true
        for i = 1, ncols do
          local v = rows[n]["c" .. i]
          if type(v) == "string" and not utf8.len(v) then utf8_row = false end
        end
        if utf8_row then
          assert.is_nil(err)
        else
          assert.matches("not UTF%-8 in column 'c%d'", err)
        end
        for i = 1, ncols do
          local v = rows[n]["c" .. i]
          local want = model_cell(v)
          if want:sub(1, 1) == '"' then want = want:sub(2, -2):gsub('""', '"') end
          assert.are.equal(want, back["c" .. i], string.format("row %d column %d: %q", n, i, tostring(v)))
        end
      end
      assert.are.equal(#rows, n)
    end
  end)

  it("writes a sink row as the row table of the input and result columns would have", function()
    math.randomseed(99)
    local inputs = { "mobile", "name", "status", "qxt_status", "reason" }
    for round = 1, 30 do
      local sink = csv_sink.open(path, { columns = inputs, buffer_rows = math.random(1, 9) })
      local expected = {}
      local header
      for r = 1, 25 do
        local fields = {}
        for _, col in ipairs(inputs) do fields[col] = random_value() end
        local record = { fields = round % 5 ~= 0 and fields or nil, seq = r, error = random_value(),
                         code = random_value(), reason = random_value() }
        if not record.fields then
          for k, v in pairs(fields) do record[k] = v end
        end
        local answer = { code = random_value(), reason = math.random(2) == 1 and random_value() or nil,
                         status = random_value(), isp = random_value(), attempts = math.random(0, 5) }
        local result = math.random(4) > 1 and setmetatable({ rule = "r", row = r }, { __index = answer })
                       or nil
        assert.is_true(sink:write(record, result))
        -- The row table, as the Lua sink built it.
        local row, src = {}, record.fields or record
        header = {}
        local taken = {}
        for i, col in ipairs(inputs) do
          row[col] = src[col]
          header[i], taken[col] = col, true
        end
        for _, col in ipairs(csv_sink.RESULT_COLUMNS) do
          local out = taken[col] and "qxt_" .. col or col
          header[#header + 1], taken[out] = out, true
          local v = result and result[col]
          if v == nil then v = record[col] end
          if v == nil and col == "reason" then v = record.error end
          row[out] = v
        end
        local cells = {}
        for i, col in ipairs(header) do cells[i] = model_cell(row[col]) end
        expected[r] = table.concat(cells, ",")
      end
      assert.is_true(sink:close())
      local cells = {}
      for i, col in ipairs(header) do cells[i] = model_cell(col) end
      assert.are.equal(table.concat(cells, ",") .. "\r\n" .. table.concat(expected, "\r\n") .. "\r\n",
                       read_file(path))
    end
  end)

  it("returns nil, err when the disk is full", function()
    local f = io.open("/dev/full", "wb")
    if not f then return end -- no /dev/full here
    f:close()
    local w = assert(csv.writer("/dev/full", { "a", "b" }, { buffer_rows = 1000 }))
    assert.is_true(w:write{ a = "1", b = "2" })
    local ok, err = w:flush()
    assert.is_nil(ok)
    assert.matches("No space left", err)
    -- Past stdio's buffer, the write itself fails.
    for _ = 1, 2000 do
      ok, err = w:write{ a = string.rep("x", 100), b = 1 }
      if not ok then break end
    end
    assert.is_nil(ok)
    assert.matches("No space left", err)
    w:close() -- what is left in stdio's buffer may or may not be gone
    assert.is_true(w:close())

    local sink = csv_sink.open("/dev/full", { columns = { "mobile" }, buffer_rows = 1 })
    ok, err = sink:write({ fields = { mobile = string.rep("1", 10000) } }, { code = 0 })
    assert.is_nil(ok)
    assert.matches("No space left", err)
    sink:close()
  end)

  it("raises on misuse", function()
    local w = assert(csv.writer(path, { "a" }))
    assert.is_true(w:close())
    assert.has_error(function() w:write{ a = 1 } end, "csv writer: write after close")
    assert.has_error(function() w:_write_record({}, {}) end)
    local w2 = assert(csv.writer(path, { "a" }))
    assert.has_error(function() w2:_write_record({}, {}) end, "csv writer: _write_record before _bind")
    assert.matches("^csv writer %(", tostring(w2))
    w2:close()
    assert.are.equal("csv writer (closed)", tostring(w2))
  end)
end)
