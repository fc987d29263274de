--- qxt.run: one run of qxt.flow, as an object. qxt.flow checks the options
-- and calls run.new(opts):go(); everything the run knows is a field of the
-- object, and what it does is one method per phase:
--
--   open    new(opts)       the state: counters, dedupe, limiter, hooks
--   read    Run:read()      one worker: pulls records until the source ends
--           Run:process()   one record: clean, dedupe, ask the hooks, wait for a pair
--   verify  Run:verify()    asks the provider, retrying by policy (the money rules)
--   route   Run:route()     the record's sink and rule
--   commit  Run:commit()    makes the answer durable (hooks), then writes its rows
--           Run:finish()    one row, counted, to its sink: in input order
--                           through qxt.reorder (opts.order "input", the
--                           default), or as it comes ("arrival")
--   close   Run:close()     drains the hooks, closes every sink, the summary and exit status
--
-- The journal is plugged in as hooks: a small object the run calls at the
-- phase boundaries (lookup before verify, sending/sent_back around each
-- query, commit before a row is released, drain and close at the end). A
-- run without a journal gets hooks that do nothing, so the phases read the
-- same with or without one. Tasks are cooperative: the workers share the
-- object without locks.
local dedupe = require("qxt.step.dedupe")
local exit = require("qxt.exit")
local mask = require("qxt.mask")
local progress = require("qxt.progress")
local reorder = require("qxt.reorder")
local retry = require("qxt.step.retry")
local route = require("qxt.step.route")
local row = require("qxt.sink.row")
local summary = require("qxt.summary")

local _M = {}

-- What a duplicate row needs of an answer: not the raw body, which would
-- make the dedupe table several times larger, and not the mobile and name,
-- which are the duplicate's own (and must not reach the spill file).
local KEEP = { "code", "reason", "class", "consistent", "status", "area", "province", "city", "isp",
               "attempts", "latency_ms", "http_status", "possibly_charged" }
local function compact(result)
  local c = {}
  for i = 1, #KEEP do
    local k = KEEP[i]
    c[k] = result[k]
  end
  return c
end

-- waiting[key] while the first row of a pair is being asked: NO_DUPLICATES
-- until a second row of that pair turns up and gets a queue of its own.
local NO_DUPLICATES = setmetatable({}, { __newindex = function() error("NO_DUPLICATES is shared") end })

local function rejected(reason)
  return { class = "rejected", reason = reason, attempts = 0 }
end

local function unsent(reason)
  return { class = "unsent", reason = reason, attempts = 0 }
end

--- The record iterator of a source: an object with :records(), an array of
--- records, or an iterator function.
local function records_of(source)
  if type(source) == "function" then return source end
  if type(source) == "table" and type(source.records) == "function" then return source:records() end
  if type(source) == "table" then
    local i = 0
    return function()
      i = i + 1
      local r = source[i]
      if r == nil then return nil end
      if type(r) ~= "table" then error(("qxt.flow: source item %d is not a table"):format(i)) end
      return r
    end
  end
  error("qxt.flow: source must be a source object, an array of records or an iterator", 4)
end

------------------------------------------------------------------------
-- Hooks. Without a journal: nothing is durable, nothing is known before,
-- signals keep their default (they end the process), and every row is
-- written as soon as it is answered.

local NoJournal = {}
NoJournal.__index = NoJournal

function NoJournal.stopped() return nil end
function NoJournal.lookup() return nil end
function NoJournal.charged_before() return 0 end
function NoJournal.sending() end
function NoJournal.sent_back() end
function NoJournal.commit() return false end       -- false: the run writes the rows itself
function NoJournal.failed() return nil end
function NoJournal.drain() return nil end
function NoJournal.close() end
function NoJournal.report() return "" end

_M.no_journal = setmetatable({}, NoJournal)

-- With a journal (docs/durability.md): every answer is committed before its
-- rows reach a sink, a record the journal already answered is not asked
-- again, and SIGINT/SIGTERM stop sending and let the answers in flight come
-- back.
local Journaled = {}
Journaled.__index = Journaled

local function journal_hooks(jnl, log)
  local journal, signal = require("qxt.journal"), require("qxt.signal")
  local owned = type(jnl) == "string"       -- opened here from a path: closed here
  if owned then jnl = assert(journal.open(jnl)) end
  signal.catch(10)    -- at most 10 s for the answers in flight, then exit
  return setmetatable({ jnl = jnl, journal = journal, signal = signal, owned = owned, log = log,
                        key = jnl.key, resumed = 0, reused = 0, interrupted = nil }, Journaled)
end

--- A signal asks for a graceful stop: nothing more is sent or read. Returns
--- the signal's name once one came.
function Journaled:stopped()
  if not self.interrupted then
    self.interrupted = self.signal.interrupted()
    if self.interrupted then
      self.log(("%s: stopping; answers in flight are journaled as they come back "
                .. "(press Ctrl-C again to stop at once)"):format(self.interrupted))
    end
  end
  return self.interrupted
end

--- The journaled answer for a cleaned record (see Journal:lookup), counted:
--- `resumed` (this journal's) or `reused` (an earlier journal's, to be
--- committed here as new).
function Journaled:lookup(record)
  local old, dup = self.jnl:lookup(record)
  if old and old.reused then
    self.reused = self.reused + 1
  elseif old then
    self.resumed = self.resumed + 1
  end
  return old, dup
end

--- Earlier runs of this journal count: resuming is no licence to pay again.
function Journaled:charged_before(seq)
  return self.jnl:possibly_charged_before(seq)
end

--- Waits until this query's in-flight marker is committed, and with it (in
--- the same commit or an earlier one) this worker's previous answer: at most
--- one query per worker is at risk of being paid twice after a crash.
function Journaled:sending(seq, attempt)
  self.jnl:sending(seq, attempt)
end

--- A query came back: no longer in flight (an answer leaves with its commit).
function Journaled:sent_back(seq, result)
  if not self.journal.is_answer(result) then self.jnl:sent_back(seq, result) end
end

--- An answer worth keeping is committed, and its rows (and those waiting for
--- the same pair) reach the sinks once it is durable: release() is called
--- then, and meanwhile the worker goes on. Returns false for what is not an
--- answer: the run writes those rows at once.
function Journaled:commit(record, result, name, rule, release)
  if not self.journal.is_answer(result) then return false end
  self.jnl:commit(record, result, name, rule, release)
  return true
end

--- Why the journal cannot be written, once it cannot.
function Journaled:failed()
  return self.jnl.failed
end

--- Waits until every answer is durable and its rows written; stops catching
--- signals. Returns an error to report, if any (a failed journal is said
--- once, by failed()).
function Journaled:drain()
  local ok, err = self.jnl:drain()
  self.signal.release()
  if not ok and not self.jnl.failed then return err end
end

function Journaled:close()
  if self.owned then self.jnl:close() end
end

--- Adds the journal's counts to the summary's fields; returns the lines the
--- text summary gets.
function Journaled:report(extra)
  extra.resumed = self.resumed
  extra.reused = self.reused
  extra.possibly_charged_twice = self.jnl.charged_twice
  extra.interrupted = self.interrupted
  local more = ("\njournal    %d answers reused from the journal, %d queries possibly charged twice "
                .. "(in flight when an earlier run stopped)"):format(self.resumed, self.jnl.charged_twice)
  if self.reused > 0 then more = more .. ("\n           %d answers from an earlier journal"):format(self.reused) end
  if self.interrupted then
    more = more .. ("\nINTERRUPTED by %s: the rest was not read or sent; resume to finish"):format(self.interrupted)
  end
  return more
end

------------------------------------------------------------------------
-- The run.

local Run = {}
Run.__index = Run

--- open: the run's state, from qxt.flow's (checked) options; checked.judge
--- is the run's qxt.thresholds (nil: none).
function _M.new(opts, checked)
  local log = opts.log or function(msg) io.stderr:write("qxtv: ", msg, "\n") end
  local concurrency = opts.concurrency or 32
  local self = setmetatable({
    opts = opts,
    next_record = records_of(opts.source),
    concurrency = concurrency,
    policy = retry.from(opts.retry == nil and retry.defaults or opts.retry),
    cleaner = opts.clean == nil and require("qxt.step.clean") or opts.clean,
    verify_opts = opts.verify,
    sinks = opts.sinks, router = opts.route,
    log = log,
    stats = summary.new(),
    show = progress.new{ total = type(opts.source) == "table" and opts.source.total
                         and opts.source:total() or nil,
                         quiet = opts.quiet or opts.progress == false,
                         interval = opts.progress_interval },
    seq = 0, inflight = 0,
    failing = 0,                       -- transport failures in a row, over all workers
    transport_halt = opts.transport_halt or math.max(100, 2 * concurrency),
    -- halted, budget_hit, broken, first_transport, first_mismatch, late_error,
    -- input_error (why the source stopped before its end): nil until they happen
    hooks = opts.journal and journal_hooks(opts.journal, log) or _M.no_journal,
    waiting = {},                      -- rows waiting for the answer of their pair
    judge = checked and checked.judge, -- thresholds: threshold_hit once one is crossed
    offline = opts.offline,            -- rows with no stored answer: class 'unverified' in stats
  }, Run)
  -- final answers for duplicates (bounded memory, and on disk only under the
  -- journal's key: see qxt.dedupe)
  self.answers = dedupe.new{ limit = opts.dedupe_memory, key = self.hooks.key }
  -- rows to the sinks in input order: each record's position as read
  if (opts.order or "input") == "input" then
    self.position = {}
    self.reorder = reorder.new{ window = opts.order_window, dir = opts.order_dir, pause = qxt.sleep,
                                write = function(record, view, name) self:write(record, view, name) end }
  end
  -- What the operator must know of the input before anything is sent (how
  -- its encoding was decided, a sheet's hidden rows), said by the run for
  -- every flow rather than by each flow's script.
  local src = opts.source
  if type(src) == "table" then
    for _, note in ipairs{ src.encoding_note and src:encoding_note() or false, src.note and src:note() or false } do
      if note then log(note) end
    end
  end
  -- The guard before every query: the rate limit, the budget and the halt
  -- of this run alone (qxt.shared.embedded), or with `shared` those kept
  -- on Redis for several instances (qxt.shared.open).
  local shared = require("qxt.shared")
  if opts.shared then
    local s = {}
    for k, v in pairs(opts.shared) do s[k] = v end
    s.rate, s.burst, s.budget, s.log = opts.rate, opts.burst, opts.budget, log
    self.guard = assert(shared.open(s))
  else
    self.guard = shared.embedded{ rate = opts.rate, burst = opts.burst, budget = opts.budget }
  end
  return self
end

--- route: the sink a record goes to, its name and the rule that chose it.
function Run:route(record, result)
  local name, rule = route.decide(self.router, record, result)
  local sink = self.sinks[name]
  if not sink then
    error(("qxt.flow: record %d was routed to '%s', which is not among the sinks"):format(
      record.seq, tostring(name)), 0)
  end
  return sink, name, rule
end

--- One row written to its sink, and shown to on_result.
function Run:write(record, view, name)
  local ok, err = self.sinks[name]:write(record, view)
  if ok == nil and err ~= nil then
    -- A row that cannot be written is a lost row: stop, never skip it.
    error(("sink '%s' cannot write: %s"):format(name, tostring(err)), 0)
  end
  if self.opts.on_result then self.opts.on_result(record, view, name) end
end

--- One row done (routed now unless it was), counted and shown; written now,
--- or once every row read before it is (qxt.reorder).
function Run:finish(record, result, duplicate, sink, name, rule)
  if not sink then
    local _
    _, name, rule = self:route(record, result)
  end
  -- Duplicate rows share one answer: what is theirs alone goes in a view.
  local view = row.view(record, result, rule, duplicate)
  local stage = self.reorder
  if stage then
    local n = self.position[record]
    self.position[record] = nil
    stage:put(n, record, view, name)
  else
    self:write(record, view, name)
  end
  self.stats:record(name, rule, result, duplicate)
  -- Judged as answers arrive, not as rows are written: a threshold stops
  -- the sending however long a slow row holds the writing back.
  local judge = self.judge
  if judge and judge.enforce and not judge.crossed and judge:observe(self.stats) then
    self:cross(judge.crossed)
  end
  self.show:update(self.stats, self.inflight)
end

--- Stops all sending; `why` becomes every unsent record's reason.
function Run:halt(why)
  if self.halted then return end
  self.halted = why
  self.log(("halted: %s; nothing more is sent. Unanswered records go to 'unverified'."):format(why))
end

--- A threshold was crossed: stops all sending, as a halt does, but with its
--- own reason and exit status (qxt.thresholds).
function Run:cross(t)
  if self.threshold_hit then return end
  local thresholds = require("qxt.thresholds")
  self.threshold_hit = thresholds.explain(t)
  self.log(("threshold crossed: %s; nothing more is sent. Unanswered records go to 'unverified'.")
    :format(self.threshold_hit))
end

--- verify: asks the provider, retrying by policy; returns the final result.
function Run:verify(record)
  local hooks, policy, stats = self.hooks, self.policy, self.stats
  if self.offline then
    -- Offline, nothing is ever sent: what the journals did not answer stays
    -- unanswered (counted by its class, with the rows that waited for it).
    return { class = "unverified", reason = "no stored answer", attempts = 0 }
  end
  local attempt = 0
  local charged = hooks:charged_before(record.seq)    -- attempts possibly charged so far
  if charged > 0 then
    local cap = retry.resend_cap(policy)
    if charged > cap then
      return unsent(("possibly charged %d time(s) by earlier runs of this journal; not sent again "
                     .. "(re-sends allowed: %d, see --resend-possibly-charged)"):format(charged, cap))
    end
  end
  while true do
    if self.halted then return unsent("halted: " .. self.halted) end
    if self.threshold_hit then return unsent("threshold crossed: " .. self.threshold_hit) end
    local interrupted = hooks:stopped()
    if interrupted then return unsent("interrupted (" .. interrupted .. ") before it was sent") end
    local why, halted = self.guard:before_send()   -- may wait for the rate limit
    if halted then
      self:halt(why)
      return unsent("halted: " .. why)
    elseif why then
      self.budget_hit = true
      return unsent(why)
    end
    -- stopped while it waited
    if self.halted then return unsent("halted: " .. self.halted) end
    if self.threshold_hit then return unsent("threshold crossed: " .. self.threshold_hit) end
    attempt = attempt + 1
    self.inflight = self.inflight + 1
    hooks:sending(record.seq, attempt)
    local r = verify(record.mobile, record.name, self.verify_opts)
    self.inflight = self.inflight - 1
    r.attempts = attempt
    if r.possibly_charged then charged = charged + 1 end
    hooks:sent_back(record.seq, r)
    stats:query(r)
    if r.class == "mismatch" then self.first_mismatch = self.first_mismatch or r.reason end
    if r.class == "transport" then
      self.first_transport = self.first_transport or r.reason
      self.failing = self.failing + 1
      -- Nothing has come back for a long while: the endpoint is down or
      -- unreachable. Stop (resumably) instead of failing every row.
      if self.failing >= self.transport_halt then
        self:halt(("no answer from the endpoint for %d attempts in a row (%s)"):format(self.failing, r.reason))
        return r
      end
    else
      self.failing = 0
    end
    if r.class == "account" then
      self:halt(("%s %s"):format(tostring(r.code), r.reason))
      self.guard:fatal(self.halted)
      return r
    end
    local delay = policy(r, attempt, charged)
    if not delay then return r end
    stats:retry(r)
    qxt.sleep(delay)
  end
end

--- commit: the answer of a pair's first row, routed, made durable by the
--- hooks; then that row and the rows waiting for the same pair are written.
function Run:commit(record, key, result)
  -- Routed now, so that a mistake in a rule names this record at once.
  local sink, name, rule = self:route(record, result)
  local function release()
    -- Only what came back is shared with duplicate rows (a failure or an
    -- answer about someone else as well: both go to 'unverified', and
    -- asking again would pay again); an unsent or halted row is not.
    local reusable = result.code ~= nil or result.class == "transport" or result.class == "mismatch"
    if reusable then self.answers:put(key, compact(result)) end
    local queue = self.waiting[key]
    self.waiting[key] = nil
    self:finish(record, result, nil, sink, name, rule)
    for _, dup in ipairs(queue) do self:finish(dup, result, reusable) end
  end
  local later = self.hooks:commit(record, result, name, rule, function()
    -- Called once the answer is durable, by the journal's task, not this
    -- worker: an error here is said at the end (late_error), and stops the run.
    local fine, err = pcall(release)
    if not fine then
      self.broken = true
      self.late_error = self.late_error or ("record %d (%s %s): %s"):format(record.seq,
        mask.mobile(record.mobile), mask.name(record.name), tostring(err))
    end
  end)
  if not later then release() end
end

--- One record: cleaned, answered from the dedupe table or the journal, or
--- asked (its duplicates arriving meanwhile wait for the same answer).
function Run:process(record)
  if record.error then return self:finish(record, rejected(record.error)) end
  local ok, reason = self.cleaner.record(record)
  if not ok then return self:finish(record, rejected(reason)) end
  local key = record.mobile .. "\0" .. record.name
  local known = self.answers:get(key)
  if known then return self:finish(record, known, true) end
  local old, dup = self.hooks:lookup(record)
  if old and not old.reused then
    self.answers:put(key, old)
    return self:finish(record, old, dup)
  end
  local waiting = self.waiting
  local queue = waiting[key]
  if queue then
    if queue == NO_DUPLICATES then queue = {}; waiting[key] = queue end
    queue[#queue + 1] = record
    return
  end
  waiting[key] = NO_DUPLICATES
  -- An earlier journal's answer (reused) is journaled here as new.
  self:commit(record, key, old or self:verify(record))
end

--- read: one worker, pulling the next record from the shared source until
--- it ends, the run breaks, the input fails or a signal stops it.
function Run:read()
  local hooks = self.hooks
  while not self.broken and not self.input_error and not hooks:stopped() do
    -- The source failing (a read error, a file changed under the run) stops
    -- the reading, not the answers in flight: they are written as usual.
    local got, record = pcall(self.next_record)
    if not got then
      self.input_error = self.input_error or tostring(record)
      return
    end
    if record == nil then return end
    self.seq = self.seq + 1
    record.seq = record.seq or self.seq
    if self.position then self.position[record] = self.seq end
    local ok, err = pcall(self.process, self, record)
    if not ok then
      self.broken = true
      if hooks:failed() then return end     -- the disk failed: said once, in close()
      -- A mistake in a rule or a sink names the record (masked) and stops the run.
      error(("record %d (%s %s): %s"):format(record.seq, mask.mobile(record.mobile),
        mask.name(record.name), tostring(err)), 0)
    end
  end
end

--- Every sink is closed, even after one fails: a failed close (a full disk
--- when the last rows are flushed) is a failed run, said with the file.
--- Returns how many failed.
local function close_sinks(sinks, log)
  local sink_errors = {}
  for name, sink in pairs(sinks) do
    if sink.close then
      local closed, ok, err = pcall(sink.close, sink)
      if not closed then ok, err = nil, ok end
      if ok == nil and err then sink_errors[#sink_errors + 1] = ("sink '%s': %s"):format(name, tostring(err)) end
    end
  end
  table.sort(sink_errors)
  for _, err in ipairs(sink_errors) do log(err) end
  return #sink_errors
end

--- close: waits for the hooks (the journal's last commits and rows), closes
--- the dedupe store and every sink, says what went wrong once, and returns
--- the summary with its exit status (also set as the process's).
function Run:close(done)
  local hooks, log, stats = self.hooks, self.log, self.stats
  local err = hooks:drain()
  if err and not self.late_error then self.late_error = err end
  hooks:close()
  self.guard:close()
  self.show:finish()
  self.answers:close()
  local failed = 0
  if self.reorder then
    -- the rows still held back (none, unless the run stopped on an error)
    local ok, rerr = self.reorder:close()
    if not ok then
      log(rerr)
      failed = failed + 1
    end
  end
  failed = failed + close_sinks(self.sinks, log)
  for i = 1, self.concurrency do
    if done[i] == nil and self.workers[i]:status() == "failed" then failed = failed + 1 end
  end
  if self.late_error then
    log(self.late_error)
    failed = failed + 1
  end
  local disk = hooks:failed()
  if disk then
    log(("the journal cannot be written (%s): the run stopped; nothing was retried, and no row whose "
         .. "answer is not in the journal was written. Fix the disk, then resume."):format(disk))
    failed = failed + 1
  end
  if self.first_transport then
    -- Say what to do, once, rather than leave people to read reasons row by row.
    log(("%d answer(s) never came back, %d of them after the request was sent, so possibly charged "
         .. "(first: %s). Check the endpoint (QXT_ENDPOINT or --endpoint), the network, or --timeout; "
         .. "those rows are in 'unverified'."):format(
         stats.codes.transport or 0, stats.transport_charged, self.first_transport))
  end
  if self.first_mismatch then
    log(("%d answer(s) named another person than the one asked (first: %s): not taken as verdicts, "
         .. "counted as possibly charged, never asked again; those rows are in 'unverified'."):format(
         stats.codes.mismatch or 0, self.first_mismatch))
  end
  if self.input_error then
    log(self.input_error)
  end
  local extra = { halted = self.halted, budget_exhausted = self.budget_hit or nil, input_error = self.input_error,
                  order = self.reorder and self.reorder:report() or { mode = "arrival" } }
  if self.judge then
    extra.thresholds = self.judge:report(stats)
    extra.threshold_crossed = self.threshold_hit
    extra.min_samples = self.judge.min_samples
  end
  if self.offline then extra.offline = { no_stored_answer = stats.classes.unverified or 0 } end
  if failed > 0 then
    extra.failed = ("%d worker(s) or output(s) stopped on an error (see above)"):format(failed)
  end
  local more = hooks:report(extra)
  local result = stats:to_table(extra)
  result.text = function() return stats:to_text(extra) .. more end
  result.json = function() return stats:to_json(extra) end
  -- One status, the most urgent first: a failure, then what stopped the run early.
  local status = exit.OK
  if failed > 0 then status = exit.FAILED
  elseif self.input_error then status = exit.INPUT
  elseif self.halted then status = exit.HALTED
  elseif self.threshold_hit then status = exit.THRESHOLD
  elseif extra.interrupted then status = exit.INTERRUPTED
  elseif self.budget_hit then status = exit.BUDGET end
  result.exit_status = status
  if status ~= exit.OK then qxt.exit_status(status) end
  return result
end

--- The whole run: `concurrency` readers, then close.
function Run:go()
  local workers = {}
  for i = 1, self.concurrency do workers[i] = qxt.spawn(self.read, self) end
  self.workers = workers
  return self:close(qxt.wait(workers))
end

return _M
