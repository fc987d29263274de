-- verify_csv.lua: the bundled batch flow. Reads applicants from a CSV,
-- verifies each (mobile, name) pair once, and writes every row to exactly
-- one of four CSVs in the output directory, plus summary.json.
--
--   qxtv run scripts/verify_csv.lua INPUT.csv [--out DIR] [--concurrency N]
--            [--rate QPS] [--budget N] [--mobile-column NAME] [--name-column NAME]
--            [--encoding utf-8|gb18030|auto] [--report FILE.html] [--quiet] [--progress-every S]
--            [--resume] [--journal FILE | --no-journal] [--reuse-from JOURNAL [--max-age AGES]]
--            [--offline] [--rules FILE] [--resend-possibly-charged N]
--            [--abort-if 'rate(METRIC) > X']... [--min-samples N] [--no-thresholds]
--            [--sheet NAME] [--format csv|xlsx] [--order input|arrival] [--order-window ROWS]
--            [--redis URL [--redis-password-file FILE] [--redis-prefix P] [--redis-timeout MS]
--             [--instances N] [--budget-id ID] [--daily-budget N]]
--
-- INPUT may be an Excel workbook (.xlsx, told by its content): its first
-- sheet, or --sheet NAME, is read as a CSV would be (qxt.source.xlsx).
-- --format xlsx writes one workbook, DIR/results.xlsx, with a sheet per
-- outcome and a summary sheet, instead of the four CSVs (qxt.sink.xlsx).
--
-- Every answer is journaled (DIR/journal.sqlite) before its row is written;
-- after a crash, a halt or Ctrl-C, --resume rewrites the outputs from the
-- journal and asks the provider only for what it has not answered yet.
-- --reuse-from takes answers from an earlier run's journal instead of asking
-- again, when they are younger than --max-age for their outcome (default
-- consistent=30,inconsistent=7,no_record=1 days, as `qxtv serve`'s cache;
-- off by default: answers age). --offline sends nothing at all: every
-- answer comes from --reuse-from (any age unless --max-age), the rest goes
-- to unverified with "no stored answer" (try new rules without paying).
-- --rules FILE routes with a rule file (qxt.rules.load, sandboxed; its
-- routes among the four outcomes; the rest by the default outcome).
-- Thresholds stop a run that is wasting money (a wrong column, a damaged
-- export): THRESHOLDS below, judged after --min-samples answers (200);
-- --abort-if adds one, --no-thresholds drops the defaults. Crossed: the
-- rest goes to unverified, exit 7, and --resume continues.
-- A query sent whole that got no answer (a timeout after sending, a reset,
-- an unreadable body) may have been charged: it is sent again at most
-- --resend-possibly-charged times (default 1, 0 for never).
-- Each output lists its rows in input order (--order input, the default;
-- rows held back by a slow one wait in memory, --order-window rows, then
-- in a private nameless file in DIR); --order arrival writes them as they
-- are answered.
-- One run at a time per DIR (DIR/.qxtv.lock) and per journal: a second
-- one stops at once, before it sends or writes anything (exit status 2).
-- Every file written is mode 0600.
-- With --redis, the rate limit, --daily-budget (and --budget, given a
-- --budget-id) and the halt on a fatal code are shared with every qxtv
-- instance on that Redis (docs/scale-out.md).
local USAGE = "usage: qxtv run scripts/verify_csv.lua INPUT.csv [--out DIR] [--concurrency N] " ..
              "[--rate QPS] [--budget N] [--mobile-column NAME] [--name-column NAME] " ..
              "[--encoding utf-8|gb18030|auto] [--report FILE.html] [--quiet] [--progress-every S] " ..
              "[--resume] [--journal FILE | --no-journal] [--reuse-from JOURNAL [--max-age AGES]] " ..
              "[--offline] [--rules FILE] [--resend-possibly-charged N] [--abort-if 'rate(METRIC) > X']... " ..
              "[--min-samples N] [--no-thresholds] [--sheet NAME] [--format csv|xlsx] " ..
              "[--order input|arrival] [--order-window ROWS] " ..
              "[--redis URL [--redis-password-file FILE] [--redis-prefix P] " ..
              "[--redis-timeout MS] [--instances N] [--budget-id ID] [--daily-budget N]]"

-- What must hold, or the run stops before it pays for more (docs/flows.md,
-- "Thresholds"): a third of the numbers unknown to the carrier, a fifth
-- invalid, or 50 rows without any answer say the input or the endpoint is
-- wrong, not the applicants.
local THRESHOLDS = { no_record = "rate < 0.3", invalid = "rate < 0.2", transport = "count < 50" }

local function usage(msg)
  io.stderr:write("verify_csv: ", msg, "\n", USAGE, "\n")
  os.exit(qxt.exit.USAGE)
end

-- Options, in the order a person reads them.
local opts = { out = "out", concurrency = 32, encoding = "auto", resend_possibly_charged = 1, order = "input" }
local NUMBERS = { concurrency = "integer", rate = "number", budget = "integer", min_samples = "integer",
                  progress_every = "number", resend_possibly_charged = "integer",
                  order_window = "integer" }
local ZERO_OK = { resend_possibly_charged = true }
-- The shared-state options (docs/scale-out.md): their parser is loaded
-- only when one is given (and is not there under --sandbox).
local SHARED = { redis = true, ["redis-password-file"] = true, ["redis-prefix"] = true, ["redis-timeout"] = true,
                 instances = true, ["hash-key-file"] = true, ["budget-id"] = true, ["daily-budget"] = true }
local i, input = 1, nil
while i <= #arg do
  local a = arg[i]
  local key = a:match("^%-%-([%w-]+)$")
  if key == "quiet" or key == "resume" or key == "no-journal" or key == "offline" or key == "no-thresholds" then
    opts[key:gsub("-", "_")] = true
  elseif key and SHARED[key] then
    local ok, err = qxt.shared.cli.set(opts, key, arg[i + 1])
    if not ok then usage(err) end
    i = i + 1
  elseif key then
    key = key:gsub("-", "_")
    local v = arg[i + 1]
    if v == nil then usage("--" .. key:gsub("_", "-") .. " wants a value") end
    if NUMBERS[key] then
      local n = math.tointeger(tonumber(v)) or (NUMBERS[key] == "number" and tonumber(v))
      if not n or n < 0 or (n == 0 and not ZERO_OK[key]) then
        usage(("--%s wants a %s %s, not '%s'"):format(key, ZERO_OK[key] and "non-negative" or "positive",
                                                        NUMBERS[key], v))
      end
      v = n
    elseif key == "abort_if" then
      opts.abort_if = opts.abort_if or {}
      table.insert(opts.abort_if, v)
      v = opts.abort_if
    elseif not (key == "out" or key == "mobile_column" or key == "name_column" or key == "encoding"
                or key == "report" or key == "journal" or key == "reuse_from" or key == "max_age"
                or key == "rules" or key == "sheet" or key == "format"
                or key == "order") then
      usage("unknown option --" .. key:gsub("_", "-"))
    end
    if key == "order" and v ~= "input" and v ~= "arrival" then
      usage("--order wants input or arrival, not '" .. v .. "'")
    end
    opts[key] = v
    i = i + 1
  elseif input == nil then
    input = a
  else
    usage("one INPUT.csv only, got also '" .. a .. "'")
  end
  i = i + 1
end
if not input then usage("missing INPUT.csv") end
-- Said before anything is read, opened or sent.
local thresholds = not opts.no_thresholds and THRESHOLDS or nil
do
  local _, terr = qxt.flow.check_thresholds{ thresholds = thresholds, abort_if = opts.abort_if,
                                             min_samples = opts.min_samples, sinks = qxt.route.OUTCOMES }
  if terr then usage(terr) end
end
local max_age
if opts.max_age then
  local merr
  max_age, merr = qxt.freshness.parse(opts.max_age)
  if not max_age then usage("--max-age " .. merr) end
  if not opts.reuse_from then usage("--max-age goes with --reuse-from") end
end
-- Rules route; they do not change what is asked, so they are not part of
-- the journal's flow: a resume or a replay may try other rules.
local route
if opts.rules then
  local ok, rules = pcall(qxt.rules.load, opts.rules)
  if not ok then usage("--rules " .. tostring(rules)) end
  route = rules
end
if opts.offline and not opts.reuse_from then
  usage("--offline takes every answer from --reuse-from JOURNAL (an earlier run's journal)")
end
if opts.format and opts.format ~= "csv" and opts.format ~= "xlsx" then
  usage("--format wants csv or xlsx, not '" .. opts.format .. "'")
end
local shared
if opts.shared then
  local serr
  shared, serr = qxt.shared.cli.finish(opts)
  if serr then usage(serr) end
end
if not opts.offline and not qxt.config().has_apikey then
  usage("no apikey: set QXT_APIKEY or pass --apikey-file FILE to qxtv (nothing was sent)")
end

local columns
if opts.mobile_column or opts.name_column then
  columns = { mobile = opts.mobile_column, name = opts.name_column }
end
local source, err = qxt.source.file(input, { encoding = opts.encoding, columns = columns, sheet = opts.sheet })
if not source then
  io.stderr:write("verify_csv: ", err, "\n")
  os.exit(qxt.exit.USAGE)
end
if source.sheet and not opts.quiet then io.stderr:write("verify_csv: reading sheet '", source:sheet(), "'\n") end

assert(qxt.mkdir(opts.out))
local file = qxt.file

-- Taken before anything is sent, emptied or written; held until the process
-- ends (file.lock keeps it; the kernel drops it, even on SIGKILL).
local _, lerr, holder = file.lock(opts.out .. "/.qxtv.lock")
if lerr then
  io.stderr:write("verify_csv: --out ", opts.out, ": ", lerr, "; nothing was sent or written",
                  holder and ". Wait for that run to end, or give another --out" or "", "\n")
  os.exit(qxt.exit.USAGE)
end

-- The journal: answers already paid for. A run that finds one must be told
-- whether to continue it; it is never silently reused or replaced.
local journal
if opts.no_journal then
  if opts.resume or opts.journal then usage("--no-journal leaves nothing to --resume or --journal") end
else
  local path = opts.journal or (opts.out .. "/journal.sqlite")
  local script = assert(io.open(arg[0], "rb"))
  local flow = table.concat({ "verify_csv", qxt.version, script:read("a"), tostring(opts.mobile_column),
                              tostring(opts.name_column), opts.encoding, opts.sheet or "" }, "\0")
  script:close()
  local jerr
  journal, jerr = qxt.journal.open(path, { input = input, flow = flow, resume = opts.resume or false })
  if not journal then
    if not opts.resume and jerr:find("already there", 1, true) then
      jerr = jerr .. ": pass --resume to continue it (its answers were paid for), " ..
             "or remove it and its .key file to start again"
    end
    io.stderr:write("verify_csv: ", jerr, "\n")
    os.exit(qxt.exit.USAGE)
  end
end
if opts.reuse_from then
  if not journal then usage("--reuse-from needs the journal (not --no-journal)") end
  -- offline without --max-age: every stored answer, whatever its age (nothing is paid)
  local ages = max_age
  if ages == nil and opts.offline then ages = false end
  local ok, rerr = journal:reuse_from(opts.reuse_from, ages)
  if not ok then
    io.stderr:write("verify_csv: --reuse-from: ", rerr, "\n")
    os.exit(qxt.exit.USAGE)
  end
end
local out_columns = source:columns()
local sinks, book = {}, nil
if opts.format == "xlsx" then
  book = qxt.sink.xlsx(opts.out .. "/results.xlsx", { columns = out_columns })
  sinks = book:sinks(qxt.route.OUTCOMES)
end
for _, outcome in ipairs(book and {} or qxt.route.OUTCOMES) do
  -- With a BOM, Excel on Chinese Windows opens the UTF-8 file as UTF-8.
  sinks[outcome] = assert(qxt.sink.csv(opts.out .. "/" .. outcome .. ".csv",
                                       { columns = out_columns, bom = true }))
end

local summary = qxt.flow{
  source = source,
  concurrency = opts.concurrency,
  rate = opts.rate,
  budget = opts.budget,
  retry = qxt.retry.policy{ on = { -8, "transport" }, attempts = 5, backoff = 0.2, factor = 2,
                            max_delay = 10, jitter = 0.1,
                            resend_possibly_charged = opts.resend_possibly_charged },
  sinks = sinks,
  route = route,
  quiet = opts.quiet,
  progress_interval = opts.progress_every,   -- seconds between lines when stderr is not a terminal
  journal = journal,
  thresholds = thresholds, abort_if = opts.abort_if, min_samples = opts.min_samples,
  offline = opts.offline,
  order = opts.order,                 -- rows held back wait beside the outputs
  order_window = opts.order_window, order_dir = opts.out,
  shared = shared,
}
if journal then journal:close() end

-- A file not written in full (a full disk, even only when it is closed)
-- is said, with its name, and the run exits 1.
local unwritten = {}
if book then
  local ok, berr = book:close(summary)
  if not ok then unwritten[#unwritten + 1] = berr end
end
local summary_path = opts.out .. "/summary.json"
local f, ferr = file.open_private(summary_path)
if not f then
  unwritten[#unwritten + 1] = ferr
else
  local wrote, werr = f:write(summary.json(), "\n")
  local closed, cerr = f:close()
  if not (wrote and closed) then unwritten[#unwritten + 1] = ("%s: %s"):format(summary_path, werr or cerr) end
end
if opts.report then
  local ok, rerr = qxt.report.write(summary, opts.report)
  if not ok then unwritten[#unwritten + 1] = rerr end
end
io.stderr:write(summary.text(), "\n")
io.stderr:write(("outputs in %s/ (%s; summary.json)\n"):format(opts.out, book
  and "results.xlsx: a sheet for each of consistent, inconsistent, invalid, unverified, and a summary"
  or "consistent, inconsistent, invalid, unverified .csv"))
if journal and summary.exit_status == qxt.exit.INPUT then
  -- The journal knows the input by its bytes: it resumes only the same file.
  io.stderr:write("the journal keeps every answer: with the input as it was when the run started, "
                  .. "the same command with --resume finishes it; a new input needs a new --out\n")
elseif journal and summary.exit_status == qxt.exit.THRESHOLD then
  io.stderr:write("the journal keeps every answer: once the cause is fixed, the same command with --resume "
                  .. "continues. The answers already journaled count again, so a threshold they still cross "
                  .. "stops it again at once, sending nothing; if the data is right after all, resume with "
                  .. "--no-thresholds or another --abort-if\n")
elseif journal and summary.exit_status ~= qxt.exit.OK and summary.exit_status ~= qxt.exit.FAILED then
  io.stderr:write("the journal keeps every answer: run the same command with --resume to finish\n")
end
for _, why in ipairs(unwritten) do
  io.stderr:write("verify_csv: cannot write ", why, "\n")
  qxt.exit_status(qxt.exit.FAILED)
end
