-- qxt.sink: where records go. Each is loaded on first use:
--   qxt.sink.csv(path, columns)
-- A sink has :write(record, result) and :close().
return setmetatable({}, {
  __index = function(t, k)
    local name = "qxt.sink." .. tostring(k)
    local ok, m = pcall(require, name)
    if not ok then
      if tostring(m):find("module '" .. name .. "' not found", 1, true) then
        error(("qxt.sink.%s: no such sink"):format(tostring(k)), 2)
      end
      error(m, 2)
    end
    rawset(t, k, m.open or m)
    return rawget(t, k)
  end,
})
