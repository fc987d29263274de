-- qxt.lazy: a namespace whose members are modules loaded on first use, so
-- `qxt.source.csv(...)` costs nothing until a script uses it.
--   return require("qxt.lazy")("qxt.source", "source")
return function(prefix, kind)
  return setmetatable({}, {
    __index = function(t, k)
      local name = prefix .. "." .. tostring(k)
      local ok, m = pcall(require, name)
      if not ok then
        if tostring(m):find("module '" .. name .. "' not found", 1, true) then
          error(("%s.%s: no such %s"):format(prefix, tostring(k), kind), 2)
        end
        error(m, 2)
      end
      -- A module that offers open() is called through it: qxt.source.csv(path).
      local v = type(m) == "table" and m.open or m
      rawset(t, k, v)
      return v
    end,
  })
end
