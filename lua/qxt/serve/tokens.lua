-- qxt.serve.tokens: who may call `qxtv serve` (--tokens FILE).
--
-- The file names one caller per line, `NAME SHA256HEX`: the SHA-256 of the
-- caller's bearer token in hex, never the token itself, so a copy of the
-- file lets nobody in. `#` starts a comment; blank lines are skipped. A
-- line that is not exactly a name and 64 hex digits, a name or a hash given
-- twice, or a file with no caller, is an error naming the line.
--
-- The file must be private (mode 0600 or 0400): a hash of a weak token
-- can be guessed offline, so a file others may read is refused, not
-- warned about (qxt.file.read_private; ssh treats private keys the same).
--
--   local t, err = tokens.load("/etc/qxtv/tokens")
--   local caller, why = t:check(headers.authorization)   -- "Bearer X"
--
-- A presented token is hashed and looked up among all the hashes in
-- constant time (qxt.crypto.ct_find): every hash is compared whole, with
-- no early exit, and a token's length only changes the hashing, so the
-- time taken tells neither which caller nor how much of a hash matched.
local crypto = require("qxt.crypto")
local file = require("qxt.file")

local _M = {}

local Tokens = {}
Tokens.__index = Tokens

-- Names go into the decision log and metric labels: a conservative set.
local NAME = "^[%w][%w._%-]*$"
local MAX_NAME = 64
-- RFC 6750's b64token, which is also all a token may be made of.
local TOKEN = "^[%w%-._~+/]+=*$"
local MAX_TOKEN = 4096

--- parse(text, where) -> t | nil, "WHERE:LINE: why": the tokens of a file's text.
function _M.parse(text, where)
  where = where or "tokens"
  local names, hashes, seen, n = {}, {}, {}, 0
  local lineno = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    line = line:gsub("\r$", "")
    local body = line:gsub("#.*$", ""):match("^%s*(.-)%s*$")
    if body ~= "" then
      local name, hex = body:match("^(%S+)%s+(%S+)$")
      local function bad(why) return nil, ("%s:%d: %s"):format(where, lineno, why) end
      if not name then return bad("expected NAME SHA256HEX") end
      if #name > MAX_NAME or not name:match(NAME) then
        return bad("a caller's name is letters, digits, '.', '_' and '-' (at most 64)")
      end
      if #hex ~= 64 or not hex:match("^%x+$") then
        return bad("the hash is the token's SHA-256 in 64 hex digits (sha256sum), never the token")
      end
      local raw = hex:lower():gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end)
      if seen[name] then return bad(("caller %s is named twice"):format(name)) end
      if seen[raw] then return bad(("the same hash as caller %s"):format(seen[raw])) end
      seen[name], seen[raw] = true, name
      n = n + 1
      names[n], hashes[n] = name, raw
    end
  end
  if n == 0 then return nil, where .. ": no caller (one `NAME SHA256HEX` a line)" end
  return setmetatable({ names = names, hashes = table.concat(hashes), n = n }, Tokens)
end

--- load(path) -> t | nil, message: the tokens file, which must be private.
function _M.load(path)
  local text, err = file.read_private(path)
  if not text then return nil, err end
  return _M.parse(text, path)
end

--- t:check(authorization) -> caller name | nil, reason: the value of the
--- Authorization header, exactly "Bearer TOKEN" (scheme case-insensitive,
--- one space, a b64token), for one of the known callers.
function Tokens:check(authorization)
  if type(authorization) ~= "string" or authorization == "" then
    return nil, "no bearer token (Authorization: Bearer TOKEN)"
  end
  local scheme, token = authorization:match("^(%a+) (.+)$")
  if not scheme or scheme:lower() ~= "bearer" then
    return nil, "the Authorization header is not \"Bearer TOKEN\""
  end
  if #token > MAX_TOKEN or not token:match(TOKEN) then
    return nil, "the bearer token is malformed"
  end
  local at = crypto.ct_find(crypto.sha256(token), self.hashes)
  if not at then return nil, "unknown bearer token" end
  return self.names[at]
end

--- t:callers() -> the callers' names, in file order.
function Tokens:callers()
  return table.move(self.names, 1, self.n, 1, {})
end

return _M
