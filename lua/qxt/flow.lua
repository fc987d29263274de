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
--
-- Thresholds (docs/flows.md, qxt.thresholds): `thresholds = { no_record =
-- "rate < 0.3" }` (what must hold) and `abort_if = { "rate(no_record) >
-- 0.3" }` (when to stop), judged once `min_samples` (default 200) rows have
-- an answer. One crossed stops all sending as a halt does (the rest goes to
-- "unverified" with "threshold crossed: ..."), and the run exits 7
-- (THRESHOLD), resumable. The summary lists each with its value.
--
-- Offline (`offline = true`, with a journal that reuses an earlier one):
-- nothing is ever sent; a record no journal answers gets class
-- "unverified", reason "no stored answer", counted in the summary
-- (offline.no_stored_answer). Thresholds are shown, never enforced.
--
-- Order (option `order`): each sink gets its rows in input order ("input",
-- the default), whatever order the answers come back in; rows held back by
-- a slow one wait in memory (`order_window` rows, default 10,000) and then
-- in a private spill file in `order_dir` (default $TMPDIR or /tmp): see
-- qxt.reorder. "arrival" writes each row as soon as it is answered.
--
-- The run itself is an object with one method per phase, the journal
-- plugged in as hooks: see qxt.run.
local exit = require("qxt.exit")
local run = require("qxt.run")
local thresholds = require("qxt.thresholds")

local _M = {}

-- The flow's exit statuses (qxt.exit, src/common/exits.c), as they were first named.
_M.EXIT_HALTED = exit.HALTED            -- a fatal account code stopped the run
_M.EXIT_BUDGET = exit.BUDGET            -- the query budget ran out before every record was sent
_M.EXIT_INTERRUPTED = exit.INTERRUPTED  -- SIGINT/SIGTERM stopped a journaled run (resumable)
_M.EXIT_INPUT = exit.INPUT              -- the input failed or changed while it was read (what was read is done)
_M.EXIT_THRESHOLD = exit.THRESHOLD      -- a threshold was crossed: sending stopped (resumable)

local OPTIONS = { source = true, concurrency = true, rate = true, burst = true, budget = true,
                  retry = true, route = true, sinks = true, clean = true, verify = true,
                  progress = true, quiet = true, on_result = true, log = true, transport_halt = true,
                  dedupe_memory = true, journal = true, progress_interval = true,
                  thresholds = true, abort_if = true, min_samples = true, offline = true,
                  order = true, order_window = true, order_dir = true, shared = true }

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
  if opts.order ~= nil and opts.order ~= "input" and opts.order ~= "arrival" then
    error("qxt.flow: order must be \"input\" or \"arrival\"", 3)
  end
  local w = opts.order_window
  if w ~= nil and (math.type(w) ~= "integer" or w < 1) then
    error("qxt.flow: order_window must be a whole number of rows, at least 1", 3)
  end
  if opts.order_dir ~= nil and type(opts.order_dir) ~= "string" then
    error("qxt.flow: order_dir must be a directory's path", 3)
  end
  if opts.shared ~= nil and (type(opts.shared) ~= "table" or type(opts.shared.redis) ~= "string") then
    error("qxt.flow: shared must be { redis = URL, ... } (qxt.shared; docs/scale-out.md)", 3)
  end
end

--- check_thresholds{ thresholds =, abort_if =, min_samples =, sinks =, offline = }
--- -> a qxt.thresholds judge | nil, message naming what is wrong (a flow's
--- command line says it before anything is opened or sent: exit 2).
--- sinks: a table of named sinks, or an array of their names.
function _M.check_thresholds(opts)
  local names = {}
  for k, v in pairs(opts.sinks or {}) do names[#names + 1] = type(k) == "string" and k or v end
  return thresholds.new{ thresholds = opts.thresholds, abort_if = opts.abort_if, min_samples = opts.min_samples,
                         sinks = names, enforce = not opts.offline }
end

function _M.run(opts)
  -- Under `qxtv serve` a flow returns its decision; its batch never runs
  -- (it would read, write and pay at every start and SIGHUP).
  if rawget(qxt, "serving") then
    error("qxt.flow: a batch under `qxtv serve`: end the flow's decision with "
      .. "`if qxt.serving then return { rules = ..., clean = ... } end` before its batch (docs/serve.md)", 2)
  end
  check_options(opts)
  local judge
  if opts.thresholds ~= nil or opts.abort_if ~= nil then
    local err
    judge, err = _M.check_thresholds(opts)
    -- A mistake in the flow raises, as every bad option does; a flow's
    -- command line checks first with check_thresholds and exits 2.
    if not judge then error("qxt.flow: " .. err, 2) end
  end
  if opts.offline and not opts.journal then
    error("qxt.flow: offline needs a journal that reuses an earlier run's (journal:reuse_from)", 2)
  end
  return run.new(opts, { judge = judge }):go()
end

return setmetatable(_M, { __call = function(_, opts) return _M.run(opts) end })
