-- qxt.sink.stdout: records on standard output, for pipes and quick looks:
-- the row of qxt.sink.row, unmasked (it is an output, not a log).
--   qxt.sink.stdout()                               -- JSON lines
--   qxt.sink.stdout{ format = "csv", columns = src:columns() }
local _M = {}

function _M.open(opts)
  opts = opts or {}
  local format = opts.format or "jsonl"
  if format == "jsonl" then return require("qxt.sink.jsonl").open(io.stdout, { columns = opts.columns }) end
  if format == "csv" then
    return require("qxt.sink.csv").open(io.stdout, { columns = opts.columns })
  end
  error("qxt.sink.stdout: format must be \"jsonl\" or \"csv\"", 2)
end

return _M
