--- qxt.journal: the run journal. Every answer the provider gave (and was
-- paid for) is committed here, durably, before its row reaches a sink; a
-- resumed run asks the journal first and the provider only for the rest.
--
--   local j = assert(qxt.journal.open("out/journal.sqlite",
--                    { input = "applicants.csv", flow = "what makes this flow this flow" }))
--   qxt.flow{ ..., journal = j }
--
-- The journal is an SQLite database (WAL mode, mode 0600) with no mobile
-- and no name in it: a record is known by its input position (seq) and by
-- an HMAC-SHA256 of its normalised pair under a random per-journal key,
-- which lives in a separate file (PATH.key, mode 0600). Without the key the
-- journal says nothing about who was checked; deleting the key anonymises
-- it for good. One run at a time: open() takes an exclusive lock on
-- PATH.lock (qxt.file.lock), which the kernel drops when the process ends.
-- See docs/durability.md.
local codes = require("qxt.codes")
local freshness = require("qxt.freshness")
local sqlite = require("qxt.sqlite.core")
local crypto = require("qxt.crypto")
local committer = require("qxt.journal.committer")
local file = require("qxt.file")

local _M = {}

_M.FORMAT = 1

-- Answers worth keeping: the provider's definitive replies about the person
-- asked, the classes the code table calls answers (qxt.codes.CLASS: ok,
-- input, no_record). Account codes (halts), -8, transport failures and
-- mismatches (an answer naming someone else) are not; a resumed run asks again.
local CLASS = codes.CLASS

--- Whether a result is an answer the journal keeps (and a resume reuses).
function _M.is_answer(result)
  local class = CLASS[result.class]
  return result.code ~= nil and class ~= nil and class.answer and not result.possibly_charged
end

local SCHEMA = [[
CREATE TABLE header (key TEXT PRIMARY KEY, value NOT NULL);
CREATE TABLE answers (
  seq INTEGER PRIMARY KEY,      -- the record's position in the input
  pair TEXT NOT NULL,           -- HMAC-SHA256(key, mobile \0 name), 128 bits in hex
  code INTEGER, class TEXT NOT NULL, reason TEXT, status TEXT, area TEXT, isp TEXT,
  attempts INTEGER, rule TEXT, sink TEXT,
  at INTEGER NOT NULL);         -- when answered, seconds since 1970 (UTC)
CREATE TABLE inflight (         -- a query sent and not answered yet
  seq INTEGER PRIMARY KEY, attempt INTEGER NOT NULL, at INTEGER NOT NULL);
CREATE TABLE uncertain (        -- attempts possibly charged, by record
  seq INTEGER PRIMARY KEY, times INTEGER NOT NULL);
]]

-- A record's attempts that were possibly charged, over every run: a resumed
-- run re-sends one only as often as the retry policy allows in all.
-- (Its own statement: journals made before it get the table on reopen.)
local UNCERTAIN = [[
CREATE TABLE IF NOT EXISTS uncertain (  -- attempts possibly charged, by record
  seq INTEGER PRIMARY KEY, times INTEGER NOT NULL)]]

-- Built when a journal is resumed, not while it is first written: inserts
-- of random hashes into an index touch a page each, which would multiply
-- the bytes every commit writes.
local PAIR_INDEX = "CREATE INDEX IF NOT EXISTS answers_pair ON answers (pair)"

local Journal = {}
Journal.__index = Journal

local hex = crypto.hex

-- The journal's database: created mode 0600, failures named "journal PATH".
local function open_db(path)
  return sqlite.open(path, { label = "journal" })
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local function read_key(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local k = f:read("a")
  f:close()
  return k
end

-- Writes the key file (mode 0600, synced) before the journal exists.
local function write_key(path, key)
  local ok, err = file.write_private(path, key)
  if not ok then error(("journal key %s"):format(err), 0) end
end

--- The identity of an input file: size and SHA-256 of its bytes.
function _M.identity(path)
  local size, digest = crypto.sha256_file(path)
  if not size then return nil, digest end
  return { size = size, sha256 = digest }
end

--- A fingerprint of whatever defines a flow (its script, its options).
function _M.fingerprint(text)
  return hex(crypto.hmac("qxtv flow fingerprint", text))
end

local function prepare(self)
  local db = self.db
  self.st = {
    by_seq = db:prepare("SELECT * FROM answers WHERE seq = ?"),
    by_pair = db:prepare("SELECT * FROM answers WHERE pair = ? ORDER BY seq LIMIT 1"),
    put = db:prepare("INSERT OR REPLACE INTO answers (seq, pair, code, class, reason, status, area, isp, "
                     .. "attempts, rule, sink, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
    mark = db:prepare("INSERT OR REPLACE INTO inflight (seq, attempt, at) VALUES (?, ?, ?)"),
    unmark = db:prepare("DELETE FROM inflight WHERE seq = ?"),
    uncertain = db:prepare("INSERT INTO uncertain (seq, times) VALUES (?, 1) "
                           .. "ON CONFLICT (seq) DO UPDATE SET times = times + 1"),
    bump = db:prepare("UPDATE header SET value = value + ? WHERE key = ?"),
    header = db:prepare("SELECT value FROM header WHERE key = ?"),
  }
end

local function header(self, key)
  local row = self.st.header:first(key)
  return row and row.value
end

-- Builds the journal under a temporary name and renames it into place:
-- a crash while creating leaves no half-made journal that --resume would
-- have to refuse.
local function create(path, keypath, opts)
  if exists(keypath) then os.remove(keypath) end
  local key = crypto.random(32)
  write_key(keypath, key)
  local tmp = path .. ".new"
  for _, f in ipairs{ tmp, tmp .. "-wal", tmp .. "-shm" } do os.remove(f) end
  local db = open_db(tmp)
  db:exec("PRAGMA journal_mode = WAL")
  db:exec("PRAGMA synchronous = FULL")
  db:exec("BEGIN")
  db:exec(SCHEMA)
  local put = db:prepare("INSERT INTO header (key, value) VALUES (?, ?)")
  local id = opts.input and assert(_M.identity(opts.input))
  local fields = {
    format = _M.FORMAT, created_at = os.time(), qxtv = qxt and qxt.version or "?",
    key_check = hex(crypto.hmac(key, "qxtv journal key check")),
    input_size = id and id.size or "", input_sha256 = id and id.sha256 or "",
    flow = opts.flow and _M.fingerprint(opts.flow) or "",
    runs = 1, charged_twice = 0, possibly_charged = 0,
  }
  for k, v in pairs(fields) do put:run(k, v) end
  db:exec("COMMIT")
  assert(db:close())                 -- checkpoints: the WAL is empty and gone
  assert(os.rename(tmp, path))
  db = open_db(path)
  db:exec("PRAGMA locking_mode = EXCLUSIVE")   -- one run at a time; no shared memory
  db:exec("PRAGMA journal_mode = WAL")
  db:exec("PRAGMA synchronous = FULL")
  return db, key
end

-- Checks an existing journal; returns db, key or nil, message.
local function reopen(path, keypath, opts)
  -- Mode 0600 whatever an earlier hand did to them (open_db sees to the
  -- journal itself; SQLite opens a -wal left by a crash as it finds it).
  for _, f in ipairs{ keypath, path .. "-wal", path .. "-shm" } do
    local okp, perr = file.make_private(f, true)
    if not okp then return nil, ("journal %s: %s"):format(path, perr) end
  end
  local ok, db = pcall(open_db, path)
  if not ok then return nil, db end
  -- Exclusive: a second run on the same journal is refused, not interleaved.
  local okl, lerr = pcall(function()
    db:exec("PRAGMA locking_mode = EXCLUSIVE")
    db:exec("PRAGMA journal_mode = WAL")
  end)
  if not okl then
    db:close()
    if tostring(lerr):find("locked", 1, true) then
      return nil, ("journal %s: in use by another run"):format(path)
    end
    return nil, ("journal %s: damaged or not a journal (%s); it cannot be resumed"):format(path,
      tostring(lerr):gsub("^journal [^:]*: ", ""))
  end
  local function refuse(msg)
    db:close()
    return nil, ("journal %s: %s; it cannot be resumed"):format(path, msg)
  end
  local okc, check = pcall(function()
    local rows = db:prepare("PRAGMA quick_check"):all()
    return rows[1] and rows[1].quick_check
  end)
  if not okc then return refuse("damaged or not a journal (" .. tostring(check):gsub("^journal [^:]*: ", "") .. ")") end
  if check ~= "ok" then return refuse("damaged (" .. tostring(check) .. ")") end
  local okh, fields = pcall(function()
    local t = {}
    for _, row in ipairs(db:prepare("SELECT key, value FROM header"):all()) do t[row.key] = row.value end
    return t
  end)
  if not okh or fields.format == nil then return refuse("not a qxtv journal (no header)") end
  if fields.format ~= _M.FORMAT then
    return refuse(("format %s, this qxtv reads format %d"):format(tostring(fields.format), _M.FORMAT))
  end
  local key = read_key(keypath)
  if not key or #key ~= 32 or hex(crypto.hmac(key, "qxtv journal key check")) ~= fields.key_check then
    return refuse(("its key file %s is missing or is not this journal's"):format(keypath))
  end
  if opts.input then
    local id, err = _M.identity(opts.input)
    if not id then return refuse(err) end
    if id.size ~= fields.input_size or id.sha256 ~= fields.input_sha256 then
      return refuse(("it was written for another input (%s bytes, SHA-256 %s…), and %s is %d bytes, %s…")
        :format(fields.input_size, tostring(fields.input_sha256):sub(1, 12), opts.input, id.size,
                id.sha256:sub(1, 12)))
    end
  end
  if opts.flow and _M.fingerprint(opts.flow) ~= fields.flow then
    return refuse("the flow changed since it was written (script or options)")
  end
  db:exec(PAIR_INDEX)
  db:exec(UNCERTAIN)
  db:exec("PRAGMA synchronous = FULL")
  return db, key
end

-- open(), once the lock is held.
local function open_locked(path, opts)
  local keypath = path .. ".key"
  local present = exists(path)
  if opts.resume == true and not present then
    return nil, ("journal %s: not found; there is nothing to resume"):format(path)
  end
  if opts.resume == false and present then
    return nil, ("journal %s: already there, from an earlier run"):format(path)
  end
  local db, key
  if present then
    db, key = reopen(path, keypath, opts)
    if not db then return nil, key end
  else
    local ok
    ok, db, key = pcall(create, path, keypath, opts)
    if not ok then return nil, db end
  end
  local self = setmetatable({ db = db, key = key, path = path, window = opts.window or 0,
                              charged_twice = 0, resumed = present }, Journal)
  prepare(self)
  self.committer = committer.new(db)
  -- What an earlier run left: its answers, and the queries it had in flight.
  self.answered = db:prepare("SELECT count(*) AS n FROM answers"):first().n
  self.answered_at_open = self.answered
  self.stale = {}
  self.stale_count = 0
  for _, row in ipairs(db:prepare("SELECT seq FROM inflight"):all()) do
    self.stale[row.seq] = true
    self.stale_count = self.stale_count + 1
  end
  self.uncertain = {}
  for _, row in ipairs(db:prepare("SELECT seq, times FROM uncertain"):all()) do
    self.uncertain[row.seq] = row.times
  end
  if present then
    self.st.bump:run(1, "runs")
    -- journals written before qxtv counted possibly charged queries
    db:exec("INSERT OR IGNORE INTO header (key, value) VALUES ('possibly_charged', 0)")
  end
  return self
end

--- Opens the journal at path, creating it if needed.
--   opts.input   the input file: a journal refuses to resume another
--   opts.flow    a text that defines the flow (refused if it changed)
--   opts.resume  true: it must exist; false: it must not; nil: either
--   opts.window  seconds answers wait to share one durable commit (default 0:
--                those that arrive in the same turn of the loop)
-- Returns the journal, or nil and a message (and, when another run holds
-- it, that run's pid). Nothing is read or written before the lock is held.
function _M.open(path, opts)
  opts = opts or {}
  local lock, lerr, holder = file.lock(path .. ".lock")
  if not lock then
    if holder then return nil, ("journal %s: in use by another run (pid %d)"):format(path, holder), holder end
    return nil, ("journal %s: cannot lock it (%s)"):format(path, lerr)
  end
  local j, err = open_locked(path, opts)
  if not j then
    lock:release()
    return nil, err
  end
  j.lock = lock
  return j
end

--- The pair's keyed hash: what the journal knows a record by.
function Journal:pair(mobile, name)
  self.hash = self.hash or crypto.pair_hasher(self.key)
  return self.hash(mobile .. "\0" .. name)
end

local function result_of(row, record)
  local r = { code = row.code, class = row.class, reason = row.reason, status = row.status,
              area = row.area, isp = row.isp, attempts = row.attempts or 0,
              mobile = record.mobile, name = record.name, journaled = true }
  -- the verdict fields by the decoder's own rule (qxt.codes.verdict)
  r.consistent, r.province, r.city = codes.verdict(r.status, r.area)
  return r
end

--- The journaled answer for a cleaned record: by its input position, else
--- by its pair (another row's answer). Returns result, duplicate or nil.
--- An answer from an earlier journal (reuse_from) comes back with
--- `reused = true`: it is not in this journal yet, so commit it as new.
function Journal:lookup(record)
  if self.failed then error(self.failed, 0) end
  if self.answered_at_open > 0 then
    local pair = self:pair(record.mobile, record.name)
    local row = self.st.by_seq:first(record.seq)
    if row then
      if row.pair ~= pair then
        error(("journal %s: input row %d is not the (mobile, name) journaled at that position: "
               .. "the input or the cleaning rules changed; this journal cannot be resumed"):format(
               self.path, record.seq), 0)
      end
      return result_of(row, record), false
    end
    row = self.st.by_pair:first(pair)
    if row then return result_of(row, record), true end
  end
  for _, old in ipairs(self.reuse or {}) do
    local pair = old.hash(record.mobile .. "\0" .. record.name)
    -- The newest answer for the pair, if it is young enough for its outcome:
    -- an older answer that a newer one replaced is not the truth any more.
    local now = os.time()
    local row = old.by_pair:first(pair, old.ages and now - old.oldest or math.mininteger)
    if row then
      local r = result_of(row, record)
      local outcome = old.ages and freshness.outcome(r)
      if not old.ages or (outcome and now - row.at < old.ages[outcome]) then
        r.reused, r.journaled, r.at = true, nil, row.at
        return r, false
      end
    end
  end
  return nil
end

--- Also answer from an earlier journal (its key beside it), for the same
--- normalised pair, whatever the input: the pair's newest answer, when it is
--- younger than its outcome's age (qxt.freshness.ages: max_age is seconds
--- for every outcome, or a table { consistent =, inconsistent =, no_record = },
--- nil for the defaults there; 0 or false for an outcome: never); only those
--- three outcomes are ever reused.
--- max_age = false takes every answer kept, at any age: for an offline
--- replay, which pays for nothing. Off unless asked: the provider promises
--- fresh answers. A reused answer keeps its own time when it is committed
--- here, so reusing it again does not make it younger.
--- Returns true or nil, message.
function Journal:reuse_from(path, max_age)
  local ages
  if max_age ~= false then
    local err
    ages, err = freshness.ages(max_age, "max_age")
    if not ages then return nil, "journal:reuse_from: " .. err end
  end
  local oldest = 0
  for _, v in pairs(ages or {}) do oldest = math.max(oldest, v) end
  local key = read_key(path .. ".key")
  if not key or #key ~= 32 then return nil, ("journal %s: no key file %s.key"):format(path, path) end
  local ok, db = pcall(open_db, path)
  if not ok then return nil, db end
  local okq, res = pcall(function()
    local check = db:prepare("SELECT value FROM header WHERE key = 'key_check'"):first()
    if not check or check.value ~= hex(crypto.hmac(key, "qxtv journal key check")) then
      error(("journal %s: its key file is not its own"):format(path), 0)
    end
    db:exec(PAIR_INDEX)
    db:exec("PRAGMA query_only = ON")
    return db:prepare("SELECT * FROM answers WHERE pair = ? AND at >= ? ORDER BY at DESC LIMIT 1")
  end)
  if not okq then
    db:close()
    return nil, tostring(res)
  end
  self.reuse = self.reuse or {}
  table.insert(self.reuse, { db = db, hash = crypto.pair_hasher(key), by_pair = res, ages = ages,
                             oldest = math.ceil(oldest) })
  return true
end

-- The open batch: what the next commit writes, in order, so that one
-- transaction (and one fsync) serves every answer and every in-flight
-- marker of a turn of the loop. An operation is { statement, args..., n = 1 + #args }.
local function batch_of(self)
  local batch = self.batch
  if not batch then
    -- prev: the batch before, whose commit must end before this one's starts
    batch = { n = 0, answers = 0, release = {}, prev = self.last }
    self.batch = batch
    batch.task = qxt.spawn(self.flush, self, batch)
    self.last = batch.task
  end
  return batch
end

local function add(batch, op, release)
  local n = batch.n + 1
  batch.n = n
  batch[n] = op
  batch.release[n] = release
end

local function wait_for(self, batch)
  if batch.task:status() ~= "done" then qxt.wait(batch.task) end
  if self.failed then error(self.failed, 0) end
end

--- A query for record seq is about to be sent (attempt n): the marker is
--- committed (with the answers of this turn) before this returns, so that
--- a crash after sending leaves it counted. Call it from a task; it waits.
--- Returns true when an earlier run had this record in flight too: the
--- provider may charge it twice.
function Journal:sending(seq, attempt)
  if self.failed then error(self.failed, 0) end
  local again = self.stale[seq]
  local st, batch = self.st, batch_of(self)
  add(batch, { st.mark, seq, attempt, os.time(), n = 4 })
  if again then
    add(batch, { st.bump, 1, "charged_twice", n = 3 })
    self.stale[seq] = nil
    self.charged_twice = self.charged_twice + 1
  end
  wait_for(self, batch)
  return again == true
end

--- How many queries for record seq earlier runs of this journal possibly
--- paid for: those that came back possibly charged, and one left in flight
--- by a crash. Call it before sending() for the record.
function Journal:possibly_charged_before(seq)
  return (self.uncertain[seq] or 0) + (self.stale[seq] and 1 or 0)
end

--- A query came back without an answer worth keeping: no longer in flight
--- (written with the next commit; nothing waits for it). A result that was
--- possibly charged (sent, no answer about the person asked) is counted in
--- the header's `possibly_charged`, over every run of this journal.
function Journal:sent_back(seq, result)
  if self.failed then error(self.failed, 0) end
  local batch = batch_of(self)
  add(batch, { self.st.unmark, seq, n = 2 })
  if result and result.possibly_charged then
    add(batch, { self.st.bump, 1, "possibly_charged", n = 3 })
    add(batch, { self.st.uncertain, seq, n = 2 })
    self.possibly_charged = (self.possibly_charged or 0) + 1
  end
end

-- One transaction, ended by the fsync of the WAL, on the committer's
-- thread: the loop goes on meanwhile; this task waits.
local function write_batch(self, batch)
  if self.failed then error(self.failed, 0) end
  local ok, err = self.committer:commit(batch)
  if not ok then
    self.failed = tostring(err)
    error(self.failed, 0)
  end
  self.answered = self.answered + batch.answers
  self.commits = (self.commits or 0) + 1
  return true
end

-- The task that hands a committed batch's rows to their sinks: after the
-- batch before's rows, and after the tasks resumed by the commit.
local function release_rows(before, batch)
  qxt.sleep(0)
  if before and before:status() ~= "done" then qxt.wait(before) end
  for i = 1, batch.n do
    local release = batch.release[i]
    if release then release() end
  end
end

-- The task that commits a batch: what comes in during this turn of the
-- loop, and while the commit before runs, shares the commit.
function Journal.flush(self, batch)
  qxt.sleep(self.window)
  if batch.prev and batch.prev:status() ~= "done" then qxt.wait(batch.prev) end
  batch.prev = nil
  self.batch = nil
  -- A failure is kept in self.failed (and raised to every later caller).
  if not pcall(write_batch, self, batch) then return false end
  -- Durable now: the rows may go to their sinks, in the order answered,
  -- once the workers waiting for this commit have sent their next queries
  -- (writing rows is not on their way).
  self.releasing = qxt.spawn(release_rows, self.releasing, batch)
  return true
end

--- Commits a record's final answer, with the sink and rule it goes to.
--- Answers that arrive in the same turn of the loop share one commit (and
--- one fsync). With `release`, returns at once the commit's task and
--- calls release() once the answer is durable (never if the commit fails);
--- without, waits for that (from a task). Raises once the journal failed.
function Journal:commit(record, result, sink, rule, release)
  if self.failed then error(self.failed, 0) end
  local st = self.st
  local op = { st.put, record.seq, self:pair(record.mobile, record.name), result.code,
               result.class, result.reason, result.status, result.area, result.isp,
               result.attempts, rule, sink, result.reused and result.at or os.time(), n = 13 }
  local batch = batch_of(self)
  add(batch, op, release)
  add(batch, { st.unmark, record.seq, n = 2 })
  batch.answers = batch.answers + 1
  if release then return batch.task end
  wait_for(self, batch)
end

--- Waits until every answer given to commit() is durable and released.
--- Returns true, or nil and the journal's error.
function Journal:drain()
  while self.last do
    local task = self.last
    local ok, err = qxt.wait(task)
    if not ok then return nil, self.failed or err end
    if self.failed then return nil, self.failed end
    if self.last == task then self.last = nil end
  end
  while self.releasing do
    local task = self.releasing
    if task:status() ~= "done" then qxt.wait(task) end
    if self.releasing == task then self.releasing = nil end
  end
  if self.failed then return nil, self.failed end
  return true
end

--- Header fields (format, created_at, runs, charged_twice, possibly_charged, ...).
function Journal:header(key)
  return header(self, key)
end

function Journal:close()
  if not self.db then return true end
  self:drain()
  local db = self.db
  self.db = nil
  self.committer:close()
  for _, old in ipairs(self.reuse or {}) do old.db:close() end
  local ok, err = db:close()
  if self.lock then self.lock:release() end
  return ok, err
end

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Removes the journals under dir (any depth) not written for `days` days:
--- each PATH that has a PATH.key beside it, with its -wal, -shm, key and
--- lock file; a journal in use by a run (its lock held) is left alone.
--- Returns the list of journals removed (or that would be, with dry_run),
--- or nil and a message.
function _M.purge(dir, days, dry_run)
  if type(days) ~= "number" or days < 0 then error("qxt.journal.purge: days must be a number >= 0", 2) end
  local cmd = ("find %s -type f -name '*.key' -print 2>&1"):format(quote(dir))
  local p = io.popen(cmd)
  local keys = {}
  for line in p:lines() do keys[#keys + 1] = line end
  local ok = p:close()
  if not ok then return nil, ("cannot search %s: %s"):format(dir, keys[1] or "find failed") end
  local removed, now = {}, os.time()
  for _, key in ipairs(keys) do
    local path = key:sub(1, -5)
    -- The journal's last write: its own mtime, or its WAL's if later.
    local q = io.popen(("stat -c %%Y %s %s 2>/dev/null"):format(quote(path), quote(path .. "-wal")))
    local newest
    for t in q:lines() do
      t = tonumber(t)
      if t and (not newest or t > newest) then newest = t end
    end
    q:close()
    local lock = newest and now - newest >= days * 86400 and (dry_run or file.lock(path .. ".lock"))
    if lock then
      removed[#removed + 1] = path
      if not dry_run then
        for _, f in ipairs{ path .. "-wal", path .. "-shm", path, key, path .. ".lock" } do os.remove(f) end
        lock:release()
      end
    end
  end
  return removed
end

return _M
