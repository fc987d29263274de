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
-- The run itself is an object with one method per phase, the journal
-- plugged in as hooks: see qxt.run.
local exit = require("qxt.exit")
local run = require("qxt.run")

local _M = {}

-- The flow's exit statuses (qxt.exit, src/common/exits.c), as they were first named.
_M.EXIT_HALTED = exit.HALTED            -- a fatal account code stopped the run
_M.EXIT_BUDGET = exit.BUDGET            -- the query budget ran out before every record was sent
_M.EXIT_INTERRUPTED = exit.INTERRUPTED  -- SIGINT/SIGTERM stopped a journaled run (resumable)
_M.EXIT_INPUT = exit.INPUT              -- the input failed or changed while it was read (what was read is done)

local OPTIONS = { source = true, concurrency = true, rate = true, burst = true, budget = true,
                  retry = true, route = true, sinks = true, clean = true, verify = true,
                  progress = true, quiet = true, on_result = true, log = true, transport_halt = true,
                  dedupe_memory = true, journal = true, progress_interval = true, shared = true }

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
  if opts.shared ~= nil and (type(opts.shared) ~= "table" or type(opts.shared.redis) ~= "string") then
    error("qxt.flow: shared must be { redis = URL, ... } (qxt.shared; docs/scale-out.md)", 3)
  end
end

function _M.run(opts)
  check_options(opts)
  return run.new(opts):go()
end

return setmetatable(_M, { __call = function(_, opts) return _M.run(opts) end })
