-- qxt.sink.row: the one row format. What a result row holds is decided
-- here, once; every sink (csv, jsonl, sqlite, stdout) only formats it.
--
-- A row is: the input columns, then the result columns, in that order.
-- - Input columns: opts.columns (usually source:columns()), else the first
--   record's keys: mobile and name first, then the others sorted. Their
--   values are (record.fields or record)[column], as read (not cleaned).
-- - Result columns: RESULT_COLUMNS (code, reason, status, area, isp,
--   attempts, rule, row: the input's data-row number) or opts.result_columns.
--   A value is result[column], else record[column]; `reason` falls back to
--   record.error, so a row rejected before sending still says why. A result
--   column whose name an input column already uses is written as
--   "qxt_<name>", so both survive.
-- - `rule`, `row` and `duplicate` come from the flow's view of the result
--   (view() below): a duplicate row shares its answer but not its identity.
-- - Masking: none. A sink is the output the operator asked for, stdout
--   included: mobiles and names as read. Masking is for logs (qxt.mask);
--   the apikey was masked where the answer was decoded (src/engine/lresult.c).
-- - A nil value is an empty cell (CSV), SQL NULL (SQLite), an absent key
--   (JSON lines).
--
-- Failures, the same for every sink: write(), flush() and close() return
-- true, or nil and "WHERE: why" (WHERE: the file's path, "standard output",
-- or "the output file") for what the outside world did (a full disk, a
-- missing directory); qxt.flow stops on the first nil, err of a write and
-- reports every failed close. Misuse (bad arguments, a write after close)
-- raises.
--
-- The CSV sink applies the value rule in C for speed (qxt.csv_writer.core
-- _write_record, bound to layout().fields/results); tests/lua/rows_spec.lua
-- checks that every sink writes the same row.

local _M = {}

_M.RESULT_COLUMNS = { "code", "reason", "status", "area", "isp", "attempts", "rule", "row" }

local sort = table.sort

--- default_columns(record) -> the input columns when none are given: the
--- record's string keys (record.fields, else the record), mobile and name
--- first, then the others sorted.
function _M.default_columns(record)
  local fields = record and (record.fields or record)
  if not fields then return { "mobile", "name" } end
  local keys, first = {}, {}
  for _, k in ipairs({ "mobile", "name" }) do
    if fields[k] ~= nil then first[#first + 1] = k end
  end
  for k in pairs(fields) do
    if type(k) == "string" and k ~= "mobile" and k ~= "name" then keys[#keys + 1] = k end
  end
  sort(keys)
  return table.move(keys, 1, #keys, #first + 1, first)
end

--- layout(inputs [, result_columns]) -> layout: the row's columns, decided
--- once per sink. layout.names[i]: the column's name as written;
--- layout.fields[i]: the input field it takes, or false; layout.results[i]:
--- the result column it takes, or false; layout.n: the number of columns.
function _M.layout(inputs, result_columns)
  local names, fields, results, taken = {}, {}, {}, {}
  for i, col in ipairs(inputs) do
    names[i], fields[i], results[i] = col, col, false
    taken[col] = true
  end
  local n = #names
  for _, col in ipairs(result_columns or _M.RESULT_COLUMNS) do
    local out = taken[col] and "qxt_" .. col or col
    n = n + 1
    names[n], fields[n], results[n] = out, false, col
    taken[out] = true
  end
  -- When two columns share a name (an input named "qxt_code" and a renamed
  -- "code"), the later source wins, as it would in a table keyed by name.
  local last = {}
  for i = 1, n do last[names[i]] = i end
  for i = 1, n do
    local j = last[names[i]]
    fields[i], results[i] = fields[j], results[j]
  end
  return { names = names, fields = fields, results = results, n = n }
end

--- value(record, result, column) -> the value of a result column.
local function value(record, result, col)
  local v = result and result[col]
  if v == nil then
    v = record[col]
    if v == nil and col == "reason" then v = record.error end
  end
  return v
end
_M.value = value

--- values(layout, record, result [, out]) -> out: the row's values, out[i]
--- for column i (nil: empty). out is reused when given.
function _M.values(layout, record, result, out)
  out = out or {}
  local fields, results = layout.fields, layout.results
  local input = record.fields or record
  for i = 1, layout.n do
    local f = fields[i]
    if f then
      out[i] = input[f]
    else
      out[i] = value(record, result, results[i])
    end
  end
  return out
end

--- named(layout, record, result) -> { [name] = value }: the row as a
--- table keyed by column name (nil values absent), for formats whose
--- records are maps (JSON). layout nil: every field of the record (as
--- default_columns(record) names them, with the same renaming of result
--- columns), without making a layout for each row.
function _M.named(layout, record, result)
  local input = record.fields or record
  if not layout then
    local t = {}
    for k, v in pairs(input) do t[k] = v end
    local columns = _M.RESULT_COLUMNS
    for i = 1, #columns do
      local col = columns[i]
      local v = result and result[col]
      if v == nil then v = value(record, nil, col) end
      if input[col] ~= nil then t["qxt_" .. col] = v else t[col] = v end
    end
    return t
  end
  local t, names, fields, results = {}, layout.names, layout.fields, layout.results
  for i = 1, layout.n do
    local f = fields[i]
    if f then
      t[names[i]] = input[f]
    else
      t[names[i]] = value(record, result, results[i])
    end
  end
  return t
end

--- view(record, result, rule, duplicate) -> what a sink gets as the result:
--- the answer, with this row's own rule, row number (record.seq) and, for a
--- duplicate row (one answered by another row of the same pair), its own
--- mobile and name and duplicate = true. The answer itself is not copied.
function _M.view(record, result, rule, duplicate)
  local v = setmetatable({ rule = rule, row = record.seq, duplicate = duplicate or nil },
                         { __index = result })
  if duplicate then v.mobile, v.name = record.mobile, record.name end
  return v
end

--- where(target) -> how a failure names the output: its path, "standard
--- output", or "the output file".
function _M.where(target, file)
  if type(target) == "string" then return target end
  if target == io.stdout or file == io.stdout then return "standard output" end
  return "the output file"
end

--- failed(where, err) -> nil, "WHERE: why": the one shape of a failure.
function _M.failed(where, err)
  return nil, ("%s: %s"):format(where, tostring(err))
end

return _M
