-- csv_driver.lua: what fuzz_csv.c runs on each input (through the real
-- lua/qxt/csv/reader.lua). Raises when the reader breaks a promise:
--  * it never raises on any data: a bad file is `nil, message`, a bad row
--    is a row with an error;
--  * rows are numbered 1, 2, 3... and their lines never go backwards;
--  * the chunk size does not change what is read (for files without CR,
--    whose line-end guess looks at the first chunk by design);
--  * the GB18030 path always yields valid UTF-8;
--  * a value written by csv.cell reads back the same (with the apostrophe
--    of the formula guard), and so does a row written by csv.writer.
-- The first input byte picks the encoding, whether the mobile and name
-- columns are looked for, a chunk size and the record limit; the rest is
-- the file.
local csv = require("qxt.csv")

local ENCODINGS = { "utf-8", "gb18030", "auto" }
local CHUNK_SIZES = { 1, 2, 3, 5, 16, 64, 509 }

local function chunks(data, size)
  local pos = 1
  return function()
    if pos > #data then return nil end
    local c = data:sub(pos, pos + size - 1)
    pos = pos + size
    return c
  end
end

-- Everything the reader yields, as one string (to compare two reads).
local function read_all(data, opts, check_utf8)
  local r, err = csv.reader(chunks(data, opts.chunk_size), opts)
  if not r then
    assert(type(err) == "string" and #err > 0, "a refused file needs a message")
    return "refused: " .. err
  end
  local names = r:header()
  local out = { table.concat(names, "\31") }
  local last_line = 0
  for row, line, n, row_err in r:rows() do
    assert(n == #out, "rows are numbered in order")
    assert(math.type(line) == "integer" and line > last_line, "lines go forward")
    last_line = line
    local cells = {}
    for i, name in ipairs(names) do cells[i] = row[name] or "\0nil" end
    local k = #names + 1
    while row[k] ~= nil do
      cells[#cells + 1] = row[k]
      k = k + 1
    end
    for _, v in pairs(row) do
      assert(type(v) == "string", "fields are strings")
      if check_utf8 then assert(utf8.len(v), "GB18030 path yields valid UTF-8") end
    end
    assert(row_err == nil or type(row_err) == "string")
    out[#out + 1] = table.concat(cells, "\31") .. "\30" .. tostring(row_err) .. "\30" .. line
  end
  return table.concat(out, "\29")
end

-- csv.cell(v) then read back: v, or "'" .. v when the formula guard fired.
local function round_trip(v)
  local text = "a,b\n" .. csv.cell(v) .. ",z\n"
  local r = assert(csv.reader(chunks(text, 7), { encoding = "utf-8", columns = false }))
  local row
  for got in r:rows() do
    assert(row == nil, "one cell became two rows: " .. string.format("%q", v))
    row = got
  end
  if v == "" then return end
  assert(row, "a written row was lost")
  local back = row.a
  if back ~= v and not (back == "'" .. v and v:find("^[=+%-@\t\r]")) then
    error(string.format("cell %q read back as %q", v, tostring(back)))
  end
  assert(row.b == "z", "the cell spilled into the next one")
end

-- A row of cells written by csv.writer (to a temporary file) reads back
-- cell for cell, as round_trip says.
local function write_row(cells, eol)
  local columns = {}
  for i = 1, math.max(2, #cells) do columns[i] = "c" .. i end
  local f = assert(io.tmpfile())
  local w = assert(csv.writer(f, columns, { eol = eol, buffer_rows = 1 }))
  local row = {}
  for i, v in ipairs(cells) do row["c" .. i] = v end
  assert(w:write(row))
  assert(w:close())
  f:seek("set")
  local r = assert(csv.reader(function(n) return f:read(n) end, { encoding = "utf-8", columns = false }))
  local got, utf8_cells = nil, true
  for _, v in ipairs(cells) do
    if not utf8.len(v) then utf8_cells = false end
  end
  for back, _, _, err in r:rows() do
    assert(got == nil, "one written row became two")
    -- read as UTF-8, a row with a byte that is not is flagged, and still read
    assert(err == nil or (not utf8_cells and err:find("not UTF-8", 1, true)), err)
    got = back
  end
  f:close()
  assert(got, "a written row was lost")
  for i = 1, #columns do
    local v, back = cells[i] or "", got["c" .. i]
    if back ~= v and not (back == "'" .. v and v:find("^[=+%-@\t\r]")) then
      error(string.format("cell %q of a written row read back as %q", v, tostring(back)))
    end
  end
end

return function(data)
  if #data < 1 then return end
  local b = data:byte(1)
  local body = data:sub(2)
  local encoding = ENCODINGS[b % 3 + 1]
  local columns = (b // 3) % 2 == 0 and false or nil
  local small = CHUNK_SIZES[b // 6 % 7 + 1]
  -- A tiny record limit reaches the over-long-line paths; what counts as
  -- over-long then depends on how much is buffered, so no comparison.
  local max_record = b // 42 % 2 == 1 and 64 or nil
  local gb = encoding == "gb18030"
  local a = read_all(body, { encoding = encoding, columns = columns, chunk_size = small,
                             max_record_bytes = max_record }, gb)
  if not body:find("\r", 1, true) and not max_record then
    local whole = read_all(body, { encoding = encoding, columns = columns, chunk_size = 65536 }, gb)
    if a ~= whole then
      error(string.format("chunk size %d changes the result:\n%q\n%q", small, a, whole))
    end
  end
  -- Cells of the input, written and read back.
  local n, cells = 0, {}
  for field in body:gmatch("[^,\n]+") do
    round_trip(field)
    n = n + 1
    cells[n] = field
    if n == 8 then break end
  end
  round_trip(body)
  cells[#cells + 1] = body
  write_row(cells, b % 2 == 0 and "\r\n" or "\n")
end
