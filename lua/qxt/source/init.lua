-- qxt.source: where records come from. Each is loaded on first use:
--   qxt.source.csv(path, opts)   qxt.source.jsonl(path, opts)
--   qxt.source.table(array_or_generator)   qxt.source.stdin(opts)
-- Every source yields records { seq, line, fields, mobile, name, error }.
return setmetatable({}, {
  __index = function(t, k)
    local name = "qxt.source." .. tostring(k)
    local ok, m = pcall(require, name)
    if not ok then
      if tostring(m):find("module '" .. name .. "' not found", 1, true) then
        error(("qxt.source.%s: no such source"):format(tostring(k)), 2)
      end
      error(m, 2)
    end
    rawset(t, k, m.open or m)
    return rawget(t, k)
  end,
})
