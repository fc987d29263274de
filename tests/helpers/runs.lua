--- tests/helpers/runs.lua: runs of the real qxtv in the background, and
-- what they leave on disk (for specs about outputs, locks and file modes).
--   local h = runs.start(cmd, endpoint, dir)   -- h.pid is qxtv's own pid
--   local status, stderr = runs.finish(h, 30)
local csv = require("qxt.csv")
local sim = require("tests.helpers.sim")

local _M = {}

_M.tmpdir = sim.tmpdir

--- The header table of the journal at path, as { key = value }.
function _M.journal_header(path)
  local db = require("qxt.sqlite.core").open(path)
  local t = {}
  for _, row in ipairs(db:prepare("SELECT key, value FROM header"):all()) do t[row.key] = row.value end
  db:close()
  return t
end

--- Output of a shell command, first line.
function _M.line(cmd)
  local p = io.popen(cmd)
  local l = p:read("l")
  p:close()
  return l
end

--- The permission bits of path in octal ("600"), following a symlink
-- (so /proc/PID/fd/N gives the mode of the open file).
function _M.mode(path)
  return _M.line("stat -L -c %a " .. sim.quote(path))
end

--- The regular files under dir (any depth, dot files included).
function _M.files(dir)
  local list = {}
  local p = io.popen("find " .. sim.quote(dir) .. " -type f")
  for l in p:lines() do list[#list + 1] = l end
  p:close()
  table.sort(list)
  return list
end

--- Starts cmd in the background with QXT_ENDPOINT = endpoint and the test
-- key (qxtv takes QXT_APIKEY out of its own environment, so the spec's
-- children do not inherit it); returns a handle with the pid of qxtv
-- itself (exec'd) and where its exit status will appear. `pre` is shell
-- run first (e.g. "umask 022").
function _M.start(cmd, endpoint, dir, pre)
  local tag = dir .. "/bg" .. math.random(1e9)
  assert(os.execute(("(QXT_ENDPOINT=%s QXT_APIKEY=%s sh -c '%secho $$ > %s.pid; exec %s' >%s.out 2>%s.err; "
    .. "echo $? > %s.status) &"):format(sim.quote(endpoint), sim.quote(sim.apikey()),
    pre and (pre .. "; ") or "", tag, cmd, tag, tag, tag)))
  local pid
  for _ = 1, 500 do
    pid = sim.read_file(tag .. ".pid")
    if pid and pid:match("%d+") then break end
    qxt.sleep(0.01)
  end
  return { pid = assert(pid:match("%d+")), tag = tag }
end

--- Waits (at most `limit` seconds) for the run to end; returns its exit
-- status and stderr, or nil if it is still running.
function _M.finish(h, limit)
  local t0 = qxt.now()
  repeat
    local st = sim.read_file(h.tag .. ".status")
    if st and st:match("%d+") then return tonumber(st:match("%d+")), sim.read_file(h.tag .. ".err") end
    qxt.sleep(0.05)
  until qxt.now() - t0 > limit
  return nil
end

--- Waits until cond() is true (polled every 20 ms, at most `limit` s).
function _M.until_true(cond, limit)
  local t0 = qxt.now()
  while not cond() do
    if qxt.now() - t0 > limit then return false end
    qxt.sleep(0.02)
  end
  return true
end

--- The rows of a CSV file (by header name), or {} if it is not there.
function _M.read_csv(path)
  local reader = csv.open(path, { columns = false })
  if not reader then return {} end
  local rows = {}
  for row in reader:rows() do rows[#rows + 1] = row end
  reader:close()
  return rows
end

_M.OUTCOMES = { "consistent", "inconsistent", "invalid", "unverified" }

--- Asserts every input id is in exactly one of dir's four outputs.
function _M.exactly_once(dir, input)
  local where = {}
  for _, o in ipairs(_M.OUTCOMES) do
    for _, row in ipairs(_M.read_csv(dir .. "/" .. o .. ".csv")) do
      assert(where[row.id] == nil, row.id .. " is in " .. tostring(where[row.id]) .. " and " .. o)
      where[row.id] = o
    end
  end
  local n, m = 0, 0
  for _, row in ipairs(_M.read_csv(input)) do
    assert(where[row.id], row.id .. " was lost")
    n = n + 1
  end
  for _ in pairs(where) do m = m + 1 end
  assert(n == m, ("%d input rows, %d output rows"):format(n, m))
  return n
end

return _M
