--- qxt.diff: where the rows of one run went compared with another's, from
-- their output directories (one CSV per destination: consistent.csv,
-- approve.csv, ...; or, from `--format xlsx`, results.xlsx with a sheet per
-- destination). Rows are matched by the input row number the engine writes
-- on every output row (column `row`, or `qxt_row` when the input had a `row`
-- of its own) or by a key column of the input (`key`).
--
--   local d = assert(diff.compare("out-june", "out-replay", { key = "申请编号" }))
--   d.moves[from][to] -> rows; d.examples[from .. "\0" .. to] -> up to 3, masked
--   print(diff.text(d)); diff.write_html(d, "diff.html")
--
-- Memory: a run's destination (and rule) per key, held while the second run
-- is read: about 100 bytes a row. Examples show the key, the masked mobile
-- and name (qxt.mask), and the rule and reason each run gave; never a whole
-- mobile or name. A key found twice in one run is counted, its first row kept.
local csv = require("qxt.csv")
local mask = require("qxt.mask")
local html = require("qxt.html")
local text = require("qxt.text")
local width, pad = text.width, text.pad

local _M = {}

_M.MISSING = "(not in this run)"
_M.EXAMPLES = 3

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- The outputs of a run's directory, sorted by destination: { {name, path,
--- sheet}... } or nil, message. The CSV files (one per destination); with
--- none, the sheets of DIR/results.xlsx (`--format xlsx`) but its summary.
local function outputs(dir)
  local f = io.open(dir .. "/.", "rb")
  if not f then return nil, ("%s: not a directory of run outputs"):format(dir) end
  f:close()
  local p = io.popen(("find %s -maxdepth 1 -type f -name '*.csv' ! -name '.*' 2>/dev/null"):format(quote(dir)))
  local list = {}
  for path in p:lines() do
    list[#list + 1] = { name = path:match("([^/]+)%.csv$"), path = path }
  end
  p:close()
  if #list == 0 then
    local book_path = dir .. "/results.xlsx"
    local probe = io.open(book_path, "rb")
    if probe then
      probe:close()
      local book, err = require("qxt.xlsx.core").open(book_path)
      if not book then return nil, ("%s: %s"):format(book_path, err) end
      for _, sheet in ipairs(book:sheets()) do
        if sheet ~= "summary" then list[#list + 1] = { name = sheet, path = book_path, sheet = sheet } end
      end
      book:close()
    end
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  if #list == 0 then return nil, ("%s: no output files (*.csv or results.xlsx) in it"):format(dir) end
  return list
end

--- A reader of one output: header() -> names, rows() -> iterator of
--- { [column] = text }, failure() -> why the rows stopped early (nil: they
--- did not), close(). CSV through qxt.csv; a workbook's sheet through the
--- same reader as xlsx input (cells as the input reads them).
local function open_output(file)
  if not file.sheet then return csv.open(file.path, { columns = false, encoding = "utf-8" }) end
  local xcore = require("qxt.xlsx.core")
  local cell_text = require("qxt.source.xlsx").cell_text
  local where = ("%s (sheet %s)"):format(file.path, file.sheet)
  local book, err = xcore.open(file.path, file.sheet)
  if not book then return nil, ("%s: %s"):format(where, err) end
  local date1904 = book:date1904()
  local failed
  -- The next row's cells; nil at the end, or when the workbook cannot be
  -- read on (book:next() gives false, why): the rows read so far are not
  -- the sheet, so the failure is kept for failure().
  local function row_of()
    local line, cells, kinds, last = book:next()
    if line == false then failed = ("%s: %s"):format(where, cells) end
    if not line then return nil end
    local t = {}
    for i = 1, last do t[i] = cells[i] and cell_text(cells[i], kinds and kinds[i], date1904) or "" end
    return t
  end
  local header = row_of() or {}
  if failed then
    book:close()
    return nil, failed
  end
  return {
    header = function() return header end,
    rows = function()
      return function()
        local t = row_of()
        if not t then return nil end
        local row = {}
        for i, h in ipairs(header) do row[h] = t[i] or "" end
        return row
      end
    end,
    failure = function() return failed end,
    close = function() book:close() end,
  }
end

-- Reads every output of dir; calls each(key, dest, rule, reason, mobile, name) per row.
local function read_run(dir, key_column, each)
  local files, err = outputs(dir)
  if not files then return nil, err end
  local dests = {}
  for _, file in ipairs(files) do
    dests[#dests + 1] = file.name
    local reader, rerr = open_output(file)
    if not reader then return nil, rerr end
    local header = reader:header() or {}
    local has = {}
    for _, h in ipairs(header) do has[h] = true end
    local key = key_column or (has.qxt_row and "qxt_row") or "row"
    if not has[key] then
      reader:close()
      return nil, ("%s: no column '%s'%s"):format(file.sheet and (file.path .. " (sheet " .. file.sheet .. ")")
        or file.path, key, key_column and "" or " (not an output of qxtv? give --key COLUMN)")
    end
    local rule = has.qxt_rule and "qxt_rule" or "rule"
    local reason = has.qxt_reason and "qxt_reason" or "reason"
    local ok, mapping = pcall(csv.map_columns, header)
    mapping = ok and mapping or {}
    for row in reader:rows() do
      each(row[key] or "", file.name, row[rule], row[reason], mapping.mobile and row[mapping.mobile],
           mapping.name and row[mapping.name])
    end
    local failed = reader.failure and reader:failure()
    reader:close()
    if failed then return nil, failed end
  end
  return dests
end

--- compare(dir_a, dir_b [, opts]) -> the differences | nil, message.
--- opts.key: the column that identifies a row (default: the row number).
function _M.compare(dir_a, dir_b, opts)
  opts = opts or {}
  local dest_a, rule_a = {}, {}
  local n_a, dup_a = 0, 0
  local dests_a, err = read_run(dir_a, opts.key, function(key, dest, rule)
    if dest_a[key] then dup_a = dup_a + 1; return end
    dest_a[key], rule_a[key] = dest, rule or ""
    n_a = n_a + 1
  end)
  if not dests_a then return nil, err end
  local d = { a = dir_a, b = dir_b, key = opts.key or "row", moves = {}, examples = {}, rows_a = n_a,
              rows_b = 0, moved = 0, same = 0, duplicates_a = dup_a, duplicates_b = 0 }
  local seen_b = {}
  local function count(from, to, example)
    d.moves[from] = d.moves[from] or {}
    d.moves[from][to] = (d.moves[from][to] or 0) + 1
    if from == to then d.same = d.same + 1; return end
    d.moved = d.moved + 1
    local list = d.examples[from .. "\0" .. to]
    if not list then list = {}; d.examples[from .. "\0" .. to] = list end
    if #list < _M.EXAMPLES then list[#list + 1] = example() end
  end
  local dests_b
  dests_b, err = read_run(dir_b, opts.key, function(key, dest, rule, reason, mobile, name)
    if seen_b[key] then d.duplicates_b = d.duplicates_b + 1; return end
    seen_b[key] = true
    d.rows_b = d.rows_b + 1
    local from = dest_a[key] or _M.MISSING
    count(from, dest, function()
      return { key = key, mobile = mask.mobile(mobile), name = mask.name(name),
               rule_a = rule_a[key], rule_b = rule or "", reason_b = reason or "" }
    end)
  end)
  if not dests_b then return nil, err end
  for key, dest in pairs(dest_a) do
    if not seen_b[key] then
      count(dest, _M.MISSING, function() return { key = key, mobile = "", name = "", rule_a = rule_a[key],
                                                  rule_b = "", reason_b = "" } end)
    end
  end
  -- Example order: by key, numerically when keys are numbers (row numbers).
  for _, list in pairs(d.examples) do
    table.sort(list, function(x, y)
      local nx, ny = tonumber(x.key), tonumber(y.key)
      if nx and ny then return nx < ny end
      return x.key < y.key
    end)
  end
  local function with_missing(list, other)
    local t, has = {}, {}
    for _, x in ipairs(list) do t[#t + 1] = x; has[x] = true end
    for _, x in ipairs(other) do if not has[x] then t[#t + 1] = x; has[x] = true end end
    return t
  end
  -- Rows: A's destinations; columns: B's. Each side also lists the other's
  -- names, so that the table is square when both runs have the same sinks.
  d.from = with_missing(dests_a, dests_b)
  d.to = with_missing(dests_b, dests_a)
  if d.moves[_M.MISSING] then d.from[#d.from + 1] = _M.MISSING end
  for _, row in pairs(d.moves) do
    if row[_M.MISSING] then d.to[#d.to + 1] = _M.MISSING; break end
  end
  return d
end

--- The moves, largest first: { {from, to, rows, examples}... }
function _M.moved(d)
  local list = {}
  for from, row in pairs(d.moves) do
    for to, n in pairs(row) do
      if from ~= to then
        list[#list + 1] = { from = from, to = to, rows = n, examples = d.examples[from .. "\0" .. to] }
      end
    end
  end
  table.sort(list, function(x, y)
    if x.rows ~= y.rows then return x.rows > y.rows end
    if x.from ~= y.from then return x.from < y.from end
    return x.to < y.to
  end)
  return list
end

local function example_text(e, key)
  local who = (e.mobile ~= "" or e.name ~= "") and (" " .. e.mobile .. " " .. e.name) or ""
  return ("%s %s%s: rule '%s' -> '%s'%s"):format(key, e.key, who, e.rule_a or "", e.rule_b,
    e.reason_b ~= "" and (" (" .. e.reason_b .. ")") or "")
end

--- The table for people: rows from A's destination, columns to B's.
function _M.text(d)
  local lines = {}
  local function add(fmt, ...) lines[#lines + 1] = fmt:format(...) end
  add("A %s: %d rows; B %s: %d rows; matched by %s", d.a, d.rows_a, d.b, d.rows_b, d.key)
  add("%d rows in the same destination, %d moved", d.same, d.moved)
  if d.duplicates_a + d.duplicates_b > 0 then
    add("%d key(s) found more than once in A, %d in B: the first row of each was compared",
        d.duplicates_a, d.duplicates_b)
  end
  local w = width("A \\ B")
  for _, name in ipairs(d.from) do w = math.max(w, width(name)) end
  local header = { pad("A \\ B", w) }
  local widths = {}
  for i, name in ipairs(d.to) do
    widths[i] = math.max(width(name), 6)
    header[#header + 1] = pad(name, widths[i])
  end
  add("")
  add("%s", (table.concat(header, "  "):gsub("%s+$", "")))
  for _, from in ipairs(d.from) do
    local cells = { pad(from, w) }
    for i, to in ipairs(d.to) do
      local n = (d.moves[from] or {})[to] or 0
      local cell = tostring(n)
      if from ~= to and n > 0 then cell = cell .. "*" end
      cells[#cells + 1] = pad(cell, widths[i])
    end
    add("%s", (table.concat(cells, "  "):gsub("%s+$", "")))
  end
  local moved = _M.moved(d)
  if #moved > 0 then
    add("")
    add("moved (* above), with examples (masked):")
    for _, m in ipairs(moved) do
      add("  %s -> %s: %d row(s)", m.from, m.to, m.rows)
      for _, e in ipairs(m.examples or {}) do add("      %s", example_text(e, d.key)) end
    end
  end
  return table.concat(lines, "\n")
end

local esc = html.esc

local CSS = [[
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:6px 10px}
td.n{text-align:right;min-width:60px}td.same{background:#e8f5e9;color:#2e7d32}
td.moved{background:#c62828;color:#fff;font-weight:600}td.zero{color:#999}
.summary{margin:8px 0}.examples td{font-size:13px}
]]

--- One self-contained page (no script, nothing fetched) for a comparison.
function _M.html(d)
  local out = { html.head("qxtv diff", CSS),
                "<h1>Where the rows went: A compared with B</h1>",
                ('<p class="summary">A <b>%s</b>: %d rows. B <b>%s</b>: %d rows. Matched by <b>%s</b>.</p>')
                  :format(esc(d.a), d.rows_a, esc(d.b), d.rows_b, esc(d.key)),
                ('<p class="summary" id="moved">%d rows in the same destination, <b>%d moved</b>.</p>')
                  :format(d.same, d.moved) }
  out[#out + 1] = "<p>Each line is where rows were in A, each column where they are in B; a red cell "
                 .. "counts rows that moved.</p>"
  out[#out + 1] = '<table class="matrix"><tr><th>A \\ B</th>'
  for _, to in ipairs(d.to) do out[#out + 1] = "<th>" .. esc(to) .. "</th>" end
  out[#out + 1] = "</tr>"
  for _, from in ipairs(d.from) do
    out[#out + 1] = "<tr><th>" .. esc(from) .. "</th>"
    for _, to in ipairs(d.to) do
      local n = (d.moves[from] or {})[to] or 0
      local class = n == 0 and "zero" or from == to and "same" or "moved"
      out[#out + 1] = ('<td class="n %s" data-from="%s" data-to="%s">%d</td>'):format(class, esc(from), esc(to), n)
    end
    out[#out + 1] = "</tr>"
  end
  out[#out + 1] = "</table>"
  local moved = _M.moved(d)
  if #moved > 0 then
    out[#out + 1] = "<h2>Examples (masked)</h2>"
    out[#out + 1] = ('<table class="examples"><tr><th>from</th><th>to</th><th>rows</th><th>%s</th><th>mobile</th>'
                     .. "<th>name</th><th>rule in A</th><th>rule in B</th><th>reason in B</th></tr>"):format(esc(d.key))
    for _, m in ipairs(moved) do
      for i, e in ipairs(m.examples or {}) do
        out[#out + 1] = ("<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td>"
                         .. "<td>%s</td><td>%s</td></tr>"):format(esc(m.from), esc(m.to), i == 1 and m.rows or "",
          esc(e.key), esc(e.mobile), esc(e.name), esc(e.rule_a or ""), esc(e.rule_b), esc(e.reason_b))
      end
    end
    out[#out + 1] = "</table>"
  end
  out[#out + 1] = "</body></html>\n"
  return table.concat(out, "\n")
end

--- Writes the page to path (a new file, mode 0600); true or nil, message.
function _M.write_html(d, path)
  return html.write(path, _M.html(d))
end

return _M
