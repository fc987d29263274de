-- qxt.source.table: records from a Lua array or a generator function.
--
--   local src = require("qxt.source.table").open{
--     { mobile = "13972565391", name = "张三", id = 7 },
--     { mobile = "13800138000", name = "李四", id = 8 },
--   }
--   local gen = require("qxt.source.table").open(function()
--     return next_row_from_somewhere()     -- a table, or nil at the end
--   end)
--
-- Records have the shape of every source (see qxt.source.csv); `fields` is
-- the item itself (not copied). Mobile and name keys are found as CSV
-- columns are (or opts.columns) on the first item, whose keys also give
-- src:columns(): mobile, name, then the others sorted (a Lua table has no
-- order of its own; opts.order = { ... } sets it). An item that is not a
-- table becomes a record with `error`.

local csv = require("qxt.csv")

local _M = {}

local Source = {}
Source.__index = Source

local function keys_of(item)
  local keys = {}
  for k in pairs(item) do
    if type(k) == "string" then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  return keys
end

function Source:_pull()
  if self.array then
    self.index = self.index + 1
    return self.array[self.index]
  end
  if self.done then
    return nil
  end
  local item = self.generator()
  if item == nil then
    self.done = true
  end
  return item
end

--- source:records() -> iterator of records. Read once.
function Source:records()
  if self.started then
    error("source:records(): this source has already been read", 2)
  end
  self.started = true
  local seq = 0
  return function()
    local item
    if self.first ~= nil then
      item, self.first = self.first, nil
    else
      item = self:_pull()
    end
    if item == nil then
      return nil
    end
    seq = seq + 1
    if type(item) ~= "table" then
      return { seq = seq, fields = {}, error = string.format("item %d is a %s, expected a table",
        seq, type(item)) }
    end
    local map = self.map
    return { seq = seq, line = self.array and seq or nil, fields = item,
             mobile = item[map.mobile], name = item[map.name] }
  end
end

--- source:columns() -> array of column names (see the header comment).
function Source:columns()
  return table.move(self.order, 1, #self.order, 1, {})
end

--- source:total() -> the array's length, or nil for a generator.
function Source:total()
  if self.array then
    return #self.array, true
  end
  return nil
end

function Source:close()
  self.done = true
end

--- table_source.open(array_or_generator, opts) -> source | nil, err
-- opts.columns: { mobile = key, name = key }; opts.order: column order.
-- Fails (nil, err) when the first item has no mobile or no name key.
function _M.open(input, opts)
  opts = opts or {}
  local self = setmetatable({ index = 0, map = {}, order = {} }, Source)
  if type(input) == "table" then
    self.array = input
  elseif type(input) == "function" then
    self.generator = input
  else
    error("source.table: expected an array or a generator function, got " .. type(input), 2)
  end
  local first
  if self.array then
    first = input[1]
  else
    first = self:_pull()
    self.first = first
  end
  if type(first) == "table" then
    local keys = keys_of(first)
    local map, why = csv.map_columns(keys, opts.columns)
    if not map then
      return nil, "the first item: " .. why
    end
    self.map = map
    local order = { map.mobile, map.name }
    for _, k in ipairs(keys) do
      if k ~= map.mobile and k ~= map.name then
        order[#order + 1] = k
      end
    end
    self.order = order
  end
  if opts.order then
    self.order = table.move(opts.order, 1, #opts.order, 1, {})
  end
  return self
end

_M.new = _M.open

return _M
