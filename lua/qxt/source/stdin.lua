-- qxt.source.stdin: records piped in, as CSV or JSON lines.
--
--   cat applicants.csv | qxtv run flow.lua
--   local src = assert(require("qxt.source.stdin").open{ format = "auto" })
--
-- opts.format: "csv", "jsonl" or "auto" (default: JSON lines when the
-- first non-blank character is '{', else CSV). The other options go to the
-- CSV or JSON lines source, which this returns (same shape as every source).
-- opts.file reads another open file instead of io.stdin (tests, named pipes).

local csv_source = require("qxt.source.csv")
local jsonl_source = require("qxt.source.jsonl")

local _M = {}

local CHUNK_SIZE = 64 * 1024

--- stdin_source.open([opts]) -> source | nil, err
function _M.open(opts)
  opts = opts or {}
  local file = opts.file or io.stdin
  if io.type(file) ~= "file" then
    error("source.stdin: opts.file must be an open file", 2)
  end
  local format = opts.format or "auto"
  if format ~= "auto" and format ~= "csv" and format ~= "jsonl" then
    error(string.format("source.stdin: unknown format %q (use csv, jsonl or auto)", tostring(format)), 2)
  end
  -- Read ahead until the first non-blank byte decides the format; the
  -- bytes read are replayed to the chosen reader.
  local head = {}
  if format == "auto" then
    local seen = ""
    while true do
      local chunk, err = file:read(CHUNK_SIZE)
      if chunk == nil then
        if err then
          return nil, "stdin: " .. tostring(err)
        end
        break
      end
      head[#head + 1] = chunk
      seen = seen .. chunk
      local text = seen:sub(1, 3) == "\239\187\191" and seen:sub(4) or seen
      local first = text:match("^%s*(%S)")
      if first then
        format = first == "{" and "jsonl" or "csv"
        break
      end
    end
    if format == "auto" then
      format = "csv" -- nothing but blanks: the CSV reader reports the empty input
    end
  end
  if head[1] and head[1]:sub(1, 4) == "PK\3\4" then
    return nil, "stdin: this is an Excel workbook (.xlsx), which is read from a file, not a pipe: give its path"
  end
  local i = 0
  local function read(n)
    i = i + 1
    if head[i] then
      local chunk = head[i]
      head[i] = nil
      return chunk
    end
    return file:read(n)
  end
  local src, err
  if opts.name == nil then
    opts = setmetatable({ name = "stdin" }, { __index = opts }) -- for the encoding's messages
  end
  if format == "jsonl" then
    src, err = jsonl_source.open(read, opts)
  else
    src, err = csv_source.open(read, opts)
  end
  if not src then
    return nil, "stdin: " .. err
  end
  return src
end

_M.new = _M.open

return _M
