-- verify_csv.lua: the bundled batch flow. Reads applicants from a CSV,
-- verifies each (mobile, name) pair once, and writes every row to exactly
-- one of four CSVs in the output directory, plus summary.json.
--
--   qxtv run scripts/verify_csv.lua INPUT.csv [--out DIR] [--concurrency N]
--            [--rate QPS] [--budget N] [--mobile-column NAME] [--name-column NAME]
--            [--encoding utf-8|gb18030|auto] [--report FILE.html] [--quiet] [--progress-every S]
--            [--resume] [--journal FILE | --no-journal] [--reuse-from JOURNAL --max-age DAYS]
--            [--resend-possibly-charged N]
--            [--redis URL [--redis-password-file FILE] [--redis-prefix P] [--redis-timeout MS]
--             [--instances N] [--budget-id ID] [--daily-budget N]]
--
-- Every answer is journaled (DIR/journal.sqlite) before its row is written;
-- after a crash, a halt or Ctrl-C, --resume rewrites the outputs from the
-- journal and asks the provider only for what it has not answered yet.
-- --reuse-from takes answers younger than --max-age days from an earlier
-- run's journal instead of asking again (off by default: answers age).
-- A query sent whole that got no answer (a timeout after sending, a reset,
-- an unreadable body) may have been charged: it is sent again at most
-- --resend-possibly-charged times (default 1, 0 for never).
-- One run at a time per DIR (DIR/.qxtv.lock) and per journal: a second
-- one stops at once, before it sends or writes anything (exit status 2).
-- Every file written is mode 0600.
-- With --redis, the rate limit, --daily-budget (and --budget, given a
-- --budget-id) and the halt on a fatal code are shared with every qxtv
-- instance on that Redis (docs/scale-out.md).
local USAGE = "usage: qxtv run scripts/verify_csv.lua INPUT.csv [--out DIR] [--concurrency N] " ..
              "[--rate QPS] [--budget N] [--mobile-column NAME] [--name-column NAME] " ..
              "[--encoding utf-8|gb18030|auto] [--report FILE.html] [--quiet] [--progress-every S] " ..
              "[--resume] [--journal FILE | --no-journal] [--reuse-from JOURNAL --max-age DAYS] " ..
              "[--resend-possibly-charged N] [--redis URL [--redis-password-file FILE] [--redis-prefix P] " ..
              "[--redis-timeout MS] [--instances N] [--budget-id ID] [--daily-budget N]]"

local function usage(msg)
  io.stderr:write("verify_csv: ", msg, "\n", USAGE, "\n")
  os.exit(qxt.exit.USAGE)
end

-- Options, in the order a person reads them.
local opts = { out = "out", concurrency = 32, encoding = "auto", resend_possibly_charged = 1 }
local NUMBERS = { concurrency = "integer", rate = "number", budget = "integer", max_age = "number",
                  progress_every = "number", resend_possibly_charged = "integer" }
local ZERO_OK = { resend_possibly_charged = true }
-- The shared-state options (docs/scale-out.md): their parser is loaded
-- only when one is given (and is not there under --sandbox).
local SHARED = { redis = true, ["redis-password-file"] = true, ["redis-prefix"] = true, ["redis-timeout"] = true,
                 instances = true, ["hash-key-file"] = true, ["budget-id"] = true, ["daily-budget"] = true }
local i, input = 1, nil
while i <= #arg do
  local a = arg[i]
  local key = a:match("^%-%-([%w-]+)$")
  if key == "quiet" or key == "resume" or key == "no-journal" then
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
    elseif not (key == "out" or key == "mobile_column" or key == "name_column" or key == "encoding"
                or key == "report" or key == "journal" or key == "reuse_from") then
      usage("unknown option --" .. key:gsub("_", "-"))
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
local shared
if opts.shared then
  local serr
  shared, serr = qxt.shared.cli.finish(opts)
  if serr then usage(serr) end
end
if not qxt.config().has_apikey then
  usage("no apikey: set QXT_APIKEY or pass --apikey-file FILE to qxtv (nothing was sent)")
end

local columns
if opts.mobile_column or opts.name_column then
  columns = { mobile = opts.mobile_column, name = opts.name_column }
end
local source, err = qxt.source.csv(input, { encoding = opts.encoding, columns = columns })
if not source then
  io.stderr:write("verify_csv: ", err, "\n")
  os.exit(qxt.exit.USAGE)
end
if source:encoding_note() then io.stderr:write("verify_csv: ", source:encoding_note(), "\n") end

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
                              tostring(opts.name_column), opts.encoding }, "\0")
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
if (opts.reuse_from == nil) ~= (opts.max_age == nil) then usage("--reuse-from and --max-age go together") end
if opts.reuse_from then
  if not journal then usage("--reuse-from needs the journal (not --no-journal)") end
  local ok, rerr = journal:reuse_from(opts.reuse_from, opts.max_age * 86400)
  if not ok then
    io.stderr:write("verify_csv: --reuse-from: ", rerr, "\n")
    os.exit(qxt.exit.USAGE)
  end
end
local out_columns = source:columns()
local sinks = {}
for _, outcome in ipairs(qxt.route.OUTCOMES) do
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
  quiet = opts.quiet,
  progress_interval = opts.progress_every,   -- seconds between lines when stderr is not a terminal
  journal = journal,
  shared = shared,
}
if journal then journal:close() end

-- A file not written in full (a full disk, even only when it is closed)
-- is said, with its name, and the run exits 1.
local unwritten = {}
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
io.stderr:write(("outputs in %s/ (consistent, inconsistent, invalid, unverified .csv; summary.json)\n")
  :format(opts.out))
if journal and summary.exit_status == qxt.exit.INPUT then
  -- The journal knows the input by its bytes: it resumes only the same file.
  io.stderr:write("the journal keeps every answer: with the input as it was when the run started, "
                  .. "the same command with --resume finishes it; a new input needs a new --out\n")
elseif journal and summary.exit_status ~= qxt.exit.OK and summary.exit_status ~= qxt.exit.FAILED then
  io.stderr:write("the journal keeps every answer: run the same command with --resume to finish\n")
end
for _, why in ipairs(unwritten) do
  io.stderr:write("verify_csv: cannot write ", why, "\n")
  qxt.exit_status(qxt.exit.FAILED)
end
