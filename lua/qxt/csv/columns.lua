-- qxt.csv.columns: a header's column names, and which of them hold the
-- mobile and the name. Used by the CSV reader and by every other source
-- whose records have named fields (JSONL, SQLite, a Lua table), so all of
-- them find the columns the same way and refuse the same ambiguities.

local _M = {}

local concat, format, lower, match = table.concat, string.format, string.lower, string.match

--- csv.MOBILE_COLUMNS, csv.NAME_COLUMNS: the names (compared trimmed and
-- case-insensitive) that mark the mobile and the name column.
_M.MOBILE_COLUMNS = { "mobile", "phone", "手机号", "手机号码", "手机" }
_M.NAME_COLUMNS = { "name", "姓名" }

local function trim(s)
  return match(s, "^[%s\u{3000}]*(.-)[%s\u{3000}]*$")
end

--- columns.names(fields) -> the header's column names: trimmed, an empty
-- one becomes "column_N", a repeated one gets "_2", "_3"...
function _M.names(fields)
  local names, seen = {}, {}
  for i, field in ipairs(fields) do
    local name = trim(field)
    if name == "" then
      name = "column_" .. i
    end
    if seen[name] then
      local k = 2
      while seen[name .. "_" .. k] do
        k = k + 1
      end
      name = name .. "_" .. k
    end
    seen[name] = true
    names[i] = name
  end
  return names
end

-- The columns among `names` that match one of `candidates`, compared
-- trimmed and case-insensitive on `raw` (the header cells as written, when
-- `names` made repeated ones unique), as a list of indexes.
local function matching_columns(names, raw, candidates)
  local wanted, found = {}, {}
  for _, candidate in ipairs(candidates) do
    wanted[lower(trim(candidate))] = true
  end
  for i, name in ipairs(names) do
    if wanted[lower(trim(raw[i] or name))] then
      found[#found + 1] = i
    end
  end
  return found
end

local OPTION = { mobile = "--mobile-column", name = "--name-column" }

-- Why the columns `found` cannot all be the `field` column, and how to
-- say which one is: by a name that picks it alone.
local function ambiguous(field, names, raw, found)
  local list, picks = {}, {}
  for k, i in ipairs(found) do
    list[k] = format("'%s' (column %d)", names[i], i)
    if #matching_columns(names, raw, { names[i] }) <= 1 then
      picks[#picks + 1] = OPTION[field] .. " " .. names[i]
    end
  end
  local way = "rename them in the file"
  if #picks > 0 then
    way = "say which with " .. concat(picks, " or ")
      .. (#picks < #found and ", or rename the others in the file" or "")
  end
  return format("the header is ambiguous: %s and %s %s look like the %s column; %s "
    .. "(in a flow: columns = { %s = ... })", concat(list, ", ", 1, #list - 1), list[#list],
    #list == 2 and "both" or "all", field, way, field)
end

--- columns.map(names, columns [, raw]) (csv.map_columns) -> { mobile = name, name = name } | nil, err
-- Finds the mobile and name columns among `names` (a header, or the keys of
-- a JSON object); `columns` is the explicit mapping of opts.columns (either
-- field may be absent); `raw` the header cells as written, when `names`
-- renamed repeated ones ("mobile" twice: "mobile", "mobile_2"). Shared with
-- the other sources.
--
-- Never a guess: two columns that both match (手机号 and mobile, name and
-- 姓名, or the same name twice) are an error naming both, with the way out:
-- say which with columns = { mobile = ... } (--mobile-column), where the
-- unique name of a repeated one ("mobile_2") picks it.
function _M.map(names, columns, raw)
  columns = columns or {}
  raw = raw or names
  local map, missing = {}, {}
  for _, field in ipairs({ "mobile", "name" }) do
    local wanted = columns[field]
    local candidates = wanted and { wanted }
      or (field == "mobile" and _M.MOBILE_COLUMNS or _M.NAME_COLUMNS)
    local found = matching_columns(names, raw, candidates)
    if #found == 0 and wanted then
      for i, name in ipairs(names) do
        if name == wanted then
          found[1] = i -- the unique name of a repeated column
        end
      end
    end
    if #found > 1 then
      return nil, ambiguous(field, names, raw, found)
    end
    map[field] = found[1] and names[found[1]]
    if not map[field] then
      missing[#missing + 1] = format("no %s column (looked for %s)", field, concat(candidates, ", "))
    end
  end
  if #missing > 0 then
    return nil, format("%s; columns found: %s", concat(missing, "; "),
      #names > 0 and concat(names, ", ") or "none")
  end
  return map
end

return _M
