-- qxt.dedupe: the answers a run has received, by (mobile, name), so that a
-- duplicate row is never paid for, in bounded memory whatever the input's
-- size.
--
-- The first `limit` answers (default 20,000) live in a Lua table. Beyond
-- that, answers go to a private temporary SQLite database on disk (mode
-- 0600, unlinked as soon as it is open, so it vanishes with the process),
-- keyed by an HMAC-SHA256 of the pair under `key` (the run's journal key,
-- or a random one): no plaintext mobile or name is ever written to disk.
-- An answer's own `mobile` and `name` fields are not stored there either:
-- what comes back from disk lacks them, and a duplicate row takes its own.
--   local seen = dedupe.new{ limit = 20000, key = journal.key }
--   seen:put(key, answer); seen:get(key) --> answer | nil
local cjson = require("cjson")
local crypto = require("qxt.crypto")
local sqlite = require("qxt.sqlite.core")

local _M = {}

_M.LIMIT = 20000

local Store = {}
Store.__index = Store

function _M.new(opts)
  opts = opts or {}
  return setmetatable({ memory = {}, count = 0, limit = opts.limit or _M.LIMIT, key = opts.key,
                        missed = {}, nmissed = 0 }, Store)
end

-- Opens the on-disk part when the memory part is full.
function Store:_spill()
  local path = os.tmpname()          -- created 0600 by mkstemp
  local db = sqlite.open(path, { label = "dedupe spill" })
  -- No rollback journal and no fsync: the file is scratch space; with the
  -- name unlinked, nothing else can open it.
  db:exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA locking_mode = EXCLUSIVE;" ..
          "PRAGMA cache_size = -8000;" ..
          "CREATE TABLE answers (pair TEXT PRIMARY KEY, answer TEXT NOT NULL) WITHOUT ROWID;" ..
          "BEGIN")
  os.remove(path)
  self.db = db
  self.hash = crypto.pair_hasher(self.key or crypto.random(32))
  self.key = nil
  self.insert = db:prepare("INSERT OR REPLACE INTO answers VALUES (?, ?)")
  self.select = db:prepare("SELECT answer FROM answers WHERE pair = ?")
  self.pending = 0
end

-- The hash of a key that get() missed, kept for the put() that follows
-- once its answer is in (one HMAC per new pair, not two).
function Store:_hash(key)
  local h = self.missed[key]
  if h then
    self.missed[key] = nil
    self.nmissed = self.nmissed - 1
    return h
  end
  return self.hash(key)
end

--- The answer recorded for key, or nil.
function Store:get(key)
  local v = self.memory[key]
  if v ~= nil or not self.db then return v end
  local h = self.missed[key] or self.hash(key)
  local row = self.select:first(h)
  if row then return cjson.decode(row.answer) end
  -- A miss whose answer never comes (a halted run) must not pile up.
  if self.nmissed >= 4096 then self.missed, self.nmissed = {}, 0 end
  if not self.missed[key] then self.nmissed = self.nmissed + 1 end
  self.missed[key] = h
  return nil
end

-- What of an answer goes to disk: everything but who it is about.
local function at_rest(answer)
  if answer.mobile == nil and answer.name == nil then return answer end
  local t = {}
  for k, v in pairs(answer) do
    if k ~= "mobile" and k ~= "name" then t[k] = v end
  end
  return t
end

--- Records answer (a flat table of strings, numbers and booleans) for key.
function Store:put(key, answer)
  if self.memory[key] ~= nil or self.count < self.limit then
    if self.memory[key] == nil then self.count = self.count + 1 end
    self.memory[key] = answer
    return
  end
  if not self.db then self:_spill() end
  self.insert:run(self:_hash(key), cjson.encode(at_rest(answer)))
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
