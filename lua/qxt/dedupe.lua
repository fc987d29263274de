-- qxt.dedupe: the answers a run has received, by (mobile, name), so that a
-- duplicate row is never paid for, in bounded memory whatever the input's
-- size.
--
-- The first `limit` answers (default 20,000) live in a Lua table. Beyond
-- that, answers go to a private temporary SQLite database on disk (mode
-- 0600, unlinked as soon as it is open, so it vanishes with the process),
-- keyed by an HMAC-SHA256 of the pair under a random per-run key: no
-- plaintext mobile or name is ever written to disk.
--   local seen = dedupe.new()
--   seen:put(key, answer); seen:get(key) --> answer | nil
local cjson = require("cjson")
local core = require("qxt.journal.core")

local _M = {}

_M.LIMIT = 20000

local Store = {}
Store.__index = Store

function _M.new(opts)
  opts = opts or {}
  return setmetatable({ memory = {}, count = 0, limit = opts.limit or _M.LIMIT }, Store)
end

-- Opens the on-disk part when the memory part is full.
function Store:_spill()
  local path = os.tmpname()          -- created 0600 by mkstemp
  local db = core.open(path)
  -- No rollback journal and no fsync: the file is scratch space; with the
  -- name unlinked, nothing else can open it.
  db:exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE;" ..
          "PRAGMA cache_size = -8000;" ..
          "CREATE TABLE answers (pair TEXT PRIMARY KEY, answer TEXT NOT NULL) WITHOUT ROWID;" ..
          "BEGIN")
  os.remove(path)
  self.db = db
  self.key = core.random(32)
  self.insert = db:prepare("INSERT OR REPLACE INTO answers VALUES (?, ?)")
  self.select = db:prepare("SELECT answer FROM answers WHERE pair = ?")
  self.pending = 0
end

function Store:_hash(key)
  return core.hex(core.hmac(self.key, key):sub(1, 16))
end

--- The answer recorded for key, or nil.
function Store:get(key)
  local v = self.memory[key]
  if v ~= nil or not self.db then return v end
  local row = self.select:first(self:_hash(key))
  return row and cjson.decode(row.answer) or nil
end

--- Records answer (a flat table of strings, numbers and booleans) for key.
function Store:put(key, answer)
  if self.memory[key] ~= nil or self.count < self.limit then
    if self.memory[key] == nil then self.count = self.count + 1 end
    self.memory[key] = answer
    return
  end
  if not self.db then self:_spill() end
  self.insert:run(self:_hash(key), cjson.encode(answer))
  self.pending = self.pending + 1
  if self.pending >= 10000 then        -- bounded transactions keep the page cache small
    self.db:exec("COMMIT; BEGIN")
    self.pending = 0
  end
end

--- Frees the on-disk part (the file is already unlinked).
function Store:close()
  if self.db then
    self.db:close()
    self.db = nil
  end
end

return _M
