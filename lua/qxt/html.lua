--- qxt.html: what qxtv's self-contained pages share (the run report,
-- qxt.report; the comparison of two runs, qxt.diff): escaping, the page's
-- head and the start of its style, and writing it as a private file.
--
--   local page = html.head("qxtv diff", CSS) .. "\n" .. body
--   assert(html.write(path, page))
local private = require("qxt.file").open_private

local _M = {}

local ENTITIES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

--- esc(v) -> v as text safe in an element or a quoted attribute. A count
--- read back from summary.json is a float (1000.0): shown as 1000.
function _M.esc(s)
  if math.type(s) == "float" and math.tointeger(s) then s = math.tointeger(s) end
  return (tostring(s):gsub("[&<>\"']", ENTITIES))
end

-- The style every page starts with; a page's own rules follow it.
local CSS = 'body{font:14px/1.4 system-ui,"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:24px;color:#222}\n'
            .. "h1{font-size:20px}"

--- head(title, css) -> the page up to its open <body>: the title, and the
--- shared style followed by css (the page's own rules).
function _M.head(title, css)
  return table.concat({ "<!DOCTYPE html>", '<html lang="zh-CN"><head><meta charset="utf-8">',
                        "<title>" .. _M.esc(title) .. "</title>", "<style>", CSS .. css,
                        "</style></head><body>" }, "\n")
end

--- write(path, text) -> true | nil, message: text in a new file, mode 0600,
--- like every output (qxt.file.open_private: no fsync, so /dev/stdout does);
--- a write or the close failing, as on a full disk, names the file.
function _M.write(path, text)
  local f, err = private(path)
  if not f then return nil, err end
  local wrote, werr = f:write(text)
  local closed, cerr = f:close()
  if not (wrote and closed) then return nil, ("%s: %s"):format(path, tostring(werr or cerr)) end
  return true
end

return _M
