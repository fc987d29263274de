-- qxt.flow: the runner. Pulls records from a source, cleans them, verifies
-- them with `concurrency` queries in flight (and at most `rate` a second,
-- and at most `budget` in all), retries by policy, routes each record to
-- exactly one sink with a reason, and returns the summary.
--
--   local summary = qxt.flow{
--     source = csv_source,                 -- see qxt.source.*
--     concurrency = 64, rate = 200, budget = 10000,
--     retry = qxt.retry.policy{ on = {-8, "transport"}, attempts = 5 },
--     route = function(record, result) ... end,   -- optional, nil = default
--     sinks = { consistent = s1, inconsistent = s2, invalid = s3, unverified = s4 },
--   }
--
-- Workers: `concurrency` tasks each pull the next record from the shared
-- source until it is empty. Tasks are cooperative, so the source, the
-- dedupe table and the counters need no locks.
--
-- Money: a (mobile, name) pair is queried at most once per run; duplicate
-- rows get the first row's answer. A fatal account code (-1, -5, -9, or a
-- code the provider does not document) halts sending at once; every record
-- not yet answered then goes to "unverified" with "halted: <code> <reason>".
-- A request that went out whole and got no answer about this person
-- (possibly_charged) is re-sent only as the retry policy allows (default
-- once; see qxt.retry), is counted in the summary's `possibly_charged`, and
-- counts against `budget` like every request sent.
--
-- Durability (option `journal`, a qxt.journal or a path; see
-- docs/durability.md): every answer is committed to the journal before its
-- row reaches a sink, and a record the journal already answered is not
-- asked again, so a run started again on the same input and journal
-- rewrites every sink from the start and pays only for what is new.
-- SIGINT/SIGTERM then stop sending and let the answers in flight come back.
-- So does an endpoint that stopped answering: `transport_halt` (default
-- max(100, 2 x concurrency)) transport failures in a row.
local clean = require("qxt.clean")
local dedupe = require("qxt.dedupe")
local mask = require("qxt.mask")
local progress = require("qxt.progress")
local ratelimit = require("qxt.ratelimit")
local retry = require("qxt.retry")
local route = require("qxt.route")
local row = require("qxt.sink.row")
local summary = require("qxt.summary")

local _M = {}

_M.EXIT_HALTED = 3      -- a fatal account code stopped the run
_M.EXIT_BUDGET = 4      -- the query budget ran out before every record was sent
_M.EXIT_INTERRUPTED = 5 -- SIGINT/SIGTERM stopped a journaled run (resumable)
_M.EXIT_INPUT = 6       -- the input failed or changed while it was read (what was read is done)

local OPTIONS = { source = true, concurrency = true, rate = true, burst = true, budget = true,
                  retry = true, route = true, sinks = true, clean = true, verify = true,
                  progress = true, quiet = true, on_result = true, log = true, transport_halt = true,
                  dedupe_memory = true, journal = true, progress_interval = true }

local function check_options(opts)
  if type(opts) ~= "table" then error("qxt.flow wants a table of options", 3) end
  for k in pairs(opts) do
    if not OPTIONS[k] then error(("qxt.flow: unknown option '%s'"):format(tostring(k)), 3) end
  end
  if opts.source == nil then error("qxt.flow: 'source' is required", 3) end
  if type(opts.sinks) ~= "table" then error("qxt.flow: 'sinks' must be a table of named sinks", 3) end
  local c = opts.concurrency or 32
  if math.type(c) ~= "integer" or c < 1 or c > 10000 then
    error("qxt.flow: concurrency must be an integer from 1 to 10000", 3)
  end
  if opts.budget ~= nil and (math.type(opts.budget) ~= "integer" or opts.budget < 0) then
    error("qxt.flow: budget must be a whole number of queries", 3)
  end
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
  error("qxt.flow: source must be a source object, an array of records or an iterator", 3)
end

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

function _M.run(opts)
  check_options(opts)
  local next_record = records_of(opts.source)
  local concurrency = opts.concurrency or 32
  local policy = retry.from(opts.retry == nil and retry.defaults or opts.retry)
  local limiter = opts.rate and ratelimit.new(opts.rate, opts.burst)
  local cleaner = opts.clean == nil and clean or opts.clean
  local verify_opts = opts.verify
  local sinks, router = opts.sinks, opts.route
  local budget = opts.budget
  local log = opts.log or function(msg) io.stderr:write("qxtv: ", msg, "\n") end

  local stats = summary.new()
  local show = progress.new{ total = type(opts.source) == "table" and opts.source.total
                             and opts.source:total() or nil,
                             quiet = opts.quiet or opts.progress == false,
                             interval = opts.progress_interval }
  local seq, inflight, sent = 0, 0, 0
  local halted, budget_hit, broken, first_transport, first_mismatch
  local failing = 0                    -- transport failures in a row, over all workers
  local transport_halt = opts.transport_halt or math.max(100, 2 * concurrency)
  local jnl, journal, signal = opts.journal, nil, nil
  local resumed, reused, interrupted, late_error = 0, 0, nil, nil
  local input_error                    -- why the source stopped before its end
  if jnl then
    journal, signal = require("qxt.journal"), require("qxt.signal")
    if type(jnl) == "string" then jnl = assert(journal.open(jnl)) end
    signal.catch(10)    -- at most 10 s for the answers in flight, then exit
  end
  -- dedupe: final answers (bounded memory, and on disk only under the
  -- journal's key: see qxt.dedupe), rows waiting for one
  local answers, waiting = dedupe.new{ limit = opts.dedupe_memory, key = jnl and jnl.key }, {}

  -- A signal asks for a graceful stop: nothing more is sent or read.
  local function stopped()
    if jnl and not interrupted then
      interrupted = signal.interrupted()
      if interrupted then
        log(("%s: stopping; answers in flight are journaled as they come back "
             .. "(press Ctrl-C again to stop at once)"):format(interrupted))
      end
    end
    return interrupted
  end

  local function sink_for(record, result)
    local name, rule
    if router then name, rule = router(record, result) end
    if name == nil then name, rule = route.outcome(result) end
    local sink = sinks[name]
    if not sink then
      error(("qxt.flow: record %d was routed to '%s', which is not among the sinks"):format(
        record.seq, tostring(name)), 0)
    end
    return sink, name, rule
  end

  local function finish(record, result, duplicate, sink, name, rule)
    if not sink then sink, name, rule = sink_for(record, result) end
    -- Duplicate rows share one answer: what is theirs alone goes in a view.
    local view = row.view(record, result, rule, duplicate)
    local ok, err = sink:write(record, view)
    if ok == nil and err ~= nil then
      -- A row that cannot be written is a lost row: stop, never skip it.
      error(("sink '%s' cannot write: %s"):format(name, tostring(err)), 0)
    end
    stats:record(name, rule, result, duplicate)
    if opts.on_result then opts.on_result(record, view, name) end
    show:update(stats, inflight)
  end

  -- Stops all sending; `why` becomes every unsent record's reason.
  local function halt(why)
    if halted then return end
    halted = why
    log(("halted: %s; nothing more is sent. Unanswered records go to 'unverified'."):format(halted))
  end

  -- Asks the provider, retrying by policy; returns the final result.
  local function query(record)
    local attempt, charged = 0, 0     -- charged: attempts possibly charged so far
    if jnl then
      -- Earlier runs of this journal count: resuming is no licence to pay again.
      charged = jnl:possibly_charged_before(record.seq)
      local cap = retry.resend_cap(policy)
      if charged > cap then
        return unsent(("possibly charged %d time(s) by earlier runs of this journal; not sent again "
                       .. "(re-sends allowed: %d, see --resend-possibly-charged)"):format(charged, cap))
      end
    end
    while true do
      if halted then return unsent("halted: " .. halted) end
      if jnl and stopped() then return unsent("interrupted (" .. interrupted .. ") before it was sent") end
      if budget and sent >= budget then
        budget_hit = true
        return unsent(("budget exhausted: %d queries sent"):format(budget))
      end
      if limiter then
        limiter:take()
        if halted then return unsent("halted: " .. halted) end
      end
      attempt = attempt + 1
      sent = sent + 1                 -- counted when sent: the budget binds in-flight queries too
      inflight = inflight + 1
      if jnl then
        -- Waits until this query's in-flight marker is committed, and with
        -- it (in the same commit or an earlier one) this worker's previous
        -- answer: at most one query per worker is at risk of being paid
        -- twice after a crash.
        jnl:sending(record.seq, attempt)
      end
      local r = verify(record.mobile, record.name, verify_opts)
      inflight = inflight - 1
      r.attempts = attempt
      if r.possibly_charged then charged = charged + 1 end
      if jnl and not journal.is_answer(r) then jnl:sent_back(record.seq, r) end
      stats:query(r)
      if r.class == "mismatch" then first_mismatch = first_mismatch or r.reason end
      if r.class == "transport" then
        first_transport = first_transport or r.reason
        failing = failing + 1
        -- Nothing has come back for a long while: the endpoint is down or
        -- unreachable. Stop (resumably) instead of failing every row.
        if failing >= transport_halt then
          halt(("no answer from the endpoint for %d attempts in a row (%s)"):format(failing, r.reason))
          return r
        end
      else
        failing = 0
      end
      if r.class == "account" then
        halt(("%s %s"):format(tostring(r.code), r.reason))
        return r
      end
      local delay = policy(r, attempt, charged)
      if not delay then return r end
      stats:retry(r)
      qxt.sleep(delay)
    end
  end

  local function process(record)
    if record.error then return finish(record, rejected(record.error)) end
    local ok, reason = cleaner.record(record)
    if not ok then return finish(record, rejected(reason)) end
    local key = record.mobile .. "\0" .. record.name
    local known = answers:get(key)
    if known then return finish(record, known, true) end
    local result
    if jnl then
      local old, dup = jnl:lookup(record)
      if old and old.reused then
        reused = reused + 1
        result = old          -- an earlier run's answer: journaled here as new
      elseif old then
        resumed = resumed + 1
        answers:put(key, old)
        return finish(record, old, dup)
      end
    end
    local queue = waiting[key]
    if queue then
      if queue == NO_DUPLICATES then queue = {}; waiting[key] = queue end
      queue[#queue + 1] = record
      return
    end
    waiting[key] = NO_DUPLICATES
    result = result or query(record)
    -- Routed now, so that a mistake in a rule names this record at once.
    local sink, name, rule = sink_for(record, result)
    local function release()
      -- Only what came back is shared with duplicate rows (a failure or an
      -- answer about someone else as well: both go to 'unverified', and
      -- asking again would pay again); an unsent or halted row is not.
      local reusable = result.code ~= nil or result.class == "transport" or result.class == "mismatch"
      if reusable then answers:put(key, compact(result)) end
      queue = waiting[key]
      waiting[key] = nil
      finish(record, result, nil, sink, name, rule)
      for _, dup in ipairs(queue) do finish(dup, result, reusable) end
    end
    if jnl and journal.is_answer(result) then
      -- Its rows (and those waiting for the same pair) reach the sinks once
      -- the answer is durable; meanwhile this worker goes on.
      jnl:commit(record, result, name, rule, function()
        local fine, err = pcall(release)
        if not fine then
          broken = true
          late_error = late_error or ("record %d (%s %s): %s"):format(record.seq, mask.mobile(record.mobile),
            mask.name(record.name), tostring(err))
        end
      end)
    else
      release()
    end
  end

  local function worker()
    while not broken and not input_error and not (jnl and stopped()) do
      -- The source failing (a read error, a file changed under the run) stops
      -- the reading, not the answers in flight: they are written as usual.
      local got, record = pcall(next_record)
      if not got then
        input_error = input_error or tostring(record)
        return
      end
      if record == nil then return end
      seq = seq + 1
      record.seq = record.seq or seq
      local ok, err = pcall(process, record)
      if not ok then
        broken = true
        if jnl and jnl.failed then return end     -- the disk failed: said once, below
        -- A mistake in a rule or a sink names the record (masked) and stops the run.
        error(("record %d (%s %s): %s"):format(record.seq, mask.mobile(record.mobile),
          mask.name(record.name), tostring(err)), 0)
      end
    end
  end

  local workers = {}
  for i = 1, concurrency do workers[i] = qxt.spawn(worker) end
  local done = qxt.wait(workers)
  if jnl then
    local ok, err = jnl:drain()
    if not ok and not late_error and not jnl.failed then late_error = err end
    signal.release()
    if type(opts.journal) == "string" then jnl:close() end
  end
  show:finish()
  answers:close()
  -- Every sink is closed, even after one fails: a failed close (a full disk
  -- when the last rows are flushed) is a failed run, said with the file.
  local sink_errors = {}
  for name, sink in pairs(sinks) do
    if sink.close then
      local closed, ok, err = pcall(sink.close, sink)
      if not closed then ok, err = nil, ok end
      if ok == nil and err then sink_errors[#sink_errors + 1] = ("sink '%s': %s"):format(name, tostring(err)) end
    end
  end
  table.sort(sink_errors)
  local failed = 0
  for _, err in ipairs(sink_errors) do
    log(err)
    failed = failed + 1
  end
  for i = 1, concurrency do if done[i] == nil and workers[i]:status() == "failed" then failed = failed + 1 end end
  if late_error then
    log(late_error)
    failed = failed + 1
  end
  if jnl and jnl.failed then
    log(("the journal cannot be written (%s): the run stopped; nothing was retried, and no row whose "
         .. "answer is not in the journal was written. Fix the disk, then resume."):format(jnl.failed))
    failed = failed + 1
  end
  if first_transport then
    -- Say what to do, once, rather than leave people to read reasons row by row.
    log(("%d answer(s) never came back, %d of them after the request was sent, so possibly charged "
         .. "(first: %s). Check the endpoint (QXT_ENDPOINT or --endpoint), the network, or --timeout; "
         .. "those rows are in 'unverified'."):format(
         stats.codes.transport or 0, stats.transport_charged, first_transport))
  end
  if first_mismatch then
    log(("%d answer(s) named another person than the one asked (first: %s): not taken as verdicts, "
         .. "counted as possibly charged, never asked again; those rows are in 'unverified'."):format(
         stats.codes.mismatch or 0, first_mismatch))
  end
  if input_error then
    log(input_error)
  end
  local extra = { halted = halted, budget_exhausted = budget_hit or nil, input_error = input_error }
  if failed > 0 then
    extra.failed = ("%d worker(s) or output(s) stopped on an error (see above)"):format(failed)
  end
  local more = ""
  if jnl then
    extra.resumed = resumed
    extra.reused = reused
    extra.possibly_charged_twice = jnl.charged_twice
    extra.interrupted = interrupted
    more = ("\njournal    %d answers reused from the journal, %d queries possibly charged twice "
            .. "(in flight when an earlier run stopped)"):format(resumed, jnl.charged_twice)
    if reused > 0 then more = more .. ("\n           %d answers from an earlier journal"):format(reused) end
    if interrupted then
      more = more .. ("\nINTERRUPTED by %s: the rest was not read or sent; resume to finish"):format(interrupted)
    end
  end
  local result = stats:to_table(extra)
  result.text = function() return stats:to_text(extra) .. more end
  result.json = function() return stats:to_json(extra) end
  local status = 0
  if failed > 0 then status = 1 elseif input_error then status = _M.EXIT_INPUT
  elseif halted then status = _M.EXIT_HALTED
  elseif interrupted then status = _M.EXIT_INTERRUPTED
  elseif budget_hit then status = _M.EXIT_BUDGET end
  result.exit_status = status
  if status ~= 0 then qxt.exit_status(status) end
  return result
end

return setmetatable(_M, { __call = function(_, opts) return _M.run(opts) end })
