--- qxt.thresholds: conditions on a run's own counts that stop it before it
-- wastes money (a wrong mobile column, an export Excel damaged, a provider
-- answering nothing). Two spellings, one meaning:
--
--   in the flow, what must hold:     thresholds = { no_record = "rate < 0.3", transport = "count < 50" }
--                                    (a list of conditions per metric also: { "rate < 0.3", "count < 900" })
--   on the command line, when to stop:   abort_if = { "rate(no_record) > 0.3" }   (--abort-if)
--
-- Grammar (parsed here with patterns; a condition is never run as Lua):
--   condition := ("rate" | "count") OP NUMBER                  in the flow's table
--   abort     := ("rate" | "count") "(" METRIC ")" OP NUMBER   in abort_if
--   OP        := "<" | "<=" | ">" | ">="
-- A rate is a number from 0 to 1, a count a whole number >= 0.
--
-- Metrics, counted over the rows that have an outcome so far (`answers`,
-- the denominator of every rate: every row written to an output except
-- those never sent because the run stopped, class `unsent`, or had no
-- stored answer offline, class `unverified`):
--   an outcome   the flow's sink names (consistent, inconsistent, invalid,
--                unverified for the bundled flow): rows written there
--   a class      ok, input, no_record, account, transient, transport,
--                mismatch (qxt.codes.CLASSES) and rejected (refused before
--                sending): rows whose final result has that class
--   possibly_charged, charged, queries, retries: queries (not rows)
--   duplicates   rows answered by another row's answer
--   answers      the denominator itself
-- rate(m) = count(m) / answers. A metric that is both a sink and a class
-- name is refused as ambiguous.
--
-- A threshold is judged only once `min_samples` answers are in (default
-- 200): a handful of rows says nothing about a file. Judging is pure: the
-- run calls judge:observe(stats) after each row and asks judge.crossed.
local codes = require("qxt.codes")

local _M = {}

_M.MIN_SAMPLES = 200

-- Metrics that are not outcomes or classes: where each is read in qxt.summary.
local SPECIAL = { possibly_charged = "possibly_charged", charged = "charged", queries = "queries",
                  retries = "retries", duplicates = "duplicates", answers = true }
-- Rows that never got an answer because the run stopped (class unsent) or,
-- offline, had none stored (class unverified) are not samples, nor metrics.
local function answers_of(stats)
  local classes = stats.classes
  return stats.records - (classes.unsent or 0) - (classes.unverified or 0)
end

local OPS = {
  ["<"] = function(a, b) return a < b end, ["<="] = function(a, b) return a <= b end,
  [">"] = function(a, b) return a > b end, [">="] = function(a, b) return a >= b end,
}

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- The known metrics for a flow whose sinks are `sink_names`: name ->
-- "outcome" | "class" | "special"; and the set of sink names that are also
-- another metric's.
local function known_metrics(sink_names)
  local known = {}
  for class in pairs(codes.CLASSES) do known[class] = "class" end
  known.rejected = "class"
  for name in pairs(SPECIAL) do known[name] = "special" end
  local clash = {}
  for _, name in ipairs(sink_names or {}) do
    if known[name] and known[name] ~= "outcome" then clash[name] = true end
    known[name] = "outcome"
  end
  return known, clash
end

local function list_of(known)
  local names = {}
  for k in pairs(known) do names[#names + 1] = k end
  table.sort(names)
  return table.concat(names, ", ")
end

-- kind, op, value from "rate < 0.3"; or nil, why.
local function condition(kind, op, num, text)
  if not OPS[op] then return nil, ("'%s': the comparison must be <, <=, > or >="):format(text) end
  local value = num:match("^%d+%.?%d*$") or num:match("^%.%d+$")
  value = value and tonumber(value)
  if not value then return nil, ("'%s': '%s' is not a number"):format(text, num) end
  if kind == "rate" and value > 1 then
    return nil, ("'%s': a rate is a number from 0 to 1 (0.3 for 30%%)"):format(text)
  end
  if kind == "count" and math.type(value) ~= "integer" and value ~= math.floor(value) then
    return nil, ("'%s': a count is a whole number"):format(text)
  end
  return value
end

local function parse(text, metric, abort)
  if type(text) ~= "string" then return nil, "a threshold is a string such as \"rate < 0.3\"" end
  local t = trim(text)
  local kind, m, op, num
  if abort then
    kind, m, op, num = t:match("^(%a+)%s*%(%s*([%w_]+)%s*%)%s*([<>=]+)%s*(%S+)$")
  else
    kind, op, num = t:match("^(%a+)%s*([<>=]+)%s*(%S+)$")
    m = metric
  end
  if not kind then
    return nil, abort and ("'%s': write it as rate(METRIC) > 0.3 or count(METRIC) >= 50"):format(text)
                      or ("'%s': write it as rate < 0.3 or count < 50"):format(text)
  end
  if kind ~= "rate" and kind ~= "count" then
    return nil, ("'%s': '%s' is neither rate nor count"):format(text, kind)
  end
  local value, err = condition(kind, op, num, text)
  if not value then return nil, err end
  return { metric = m, kind = kind, op = op, test = OPS[op], value = value, abort = abort or false, text = t }
end

--- new{ thresholds =, abort_if =, min_samples =, sinks = {names}, enforce = bool }
--- -> judge | nil, message naming the bad metric or expression.
--- enforce = false: judged and shown, never stopping the run (an offline replay).
function _M.new(opts)
  opts = opts or {}
  local known, clash = known_metrics(opts.sinks)
  local list = {}
  local function add(t, err)
    if not t then return err end
    local what = known[t.metric]
    if not what then
      return ("unknown metric '%s' in '%s' (known: %s)"):format(tostring(t.metric), t.text, list_of(known))
    end
    if clash[t.metric] then
      return ("metric '%s' is both a sink and a class of answer: rename the sink"):format(t.metric)
    end
    t.source = what
    list[#list + 1] = t
  end
  if opts.thresholds ~= nil then
    if type(opts.thresholds) ~= "table" then return nil, "thresholds must be a table { metric = \"rate < 0.3\" }" end
    local metrics = {}
    for m in pairs(opts.thresholds) do
      if type(m) ~= "string" then return nil, "thresholds: each key is a metric name" end
      metrics[#metrics + 1] = m
    end
    table.sort(metrics)       -- one order for the summary, whatever the table's
    for _, m in ipairs(metrics) do
      local conds = opts.thresholds[m]
      if type(conds) ~= "table" then conds = { conds } end
      for _, c in ipairs(conds) do
        local err = add(parse(c, m, false))
        if err then return nil, "thresholds." .. m .. ": " .. err end
      end
    end
  end
  if opts.abort_if ~= nil then
    local conds = type(opts.abort_if) == "table" and opts.abort_if or { opts.abort_if }
    for _, c in ipairs(conds) do
      local err = add(parse(c, nil, true))
      if err then return nil, "abort-if: " .. err end
    end
  end
  local min = opts.min_samples or _M.MIN_SAMPLES
  if math.type(min) ~= "integer" or min < 1 then return nil, "min-samples must be a whole number >= 1" end
  return setmetatable({ list = list, min_samples = min, enforce = opts.enforce ~= false, crossed = nil },
                      { __index = _M })
end

-- The value of t now, out of `answers`; true when it is crossed (the run should stop).
local function judge_one(t, stats, answers)
  local count
  if t.source == "outcome" then count = stats.outcomes[t.metric] or 0
  elseif t.source == "class" then count = stats.classes[t.metric] or 0
  elseif t.metric == "answers" then count = answers
  else count = stats[SPECIAL[t.metric]] or 0 end
  local value = count
  if t.kind == "rate" then value = answers > 0 and count / answers or 0 end
  -- a flow's condition says what must hold; abort_if says when to stop
  return value, t.test(value, t.value) == t.abort
end

--- After each row: judges every threshold once min_samples answers are in.
--- Returns the first threshold crossed (also kept in judge.crossed), once.
function _M:observe(stats)
  if self.crossed then return nil end
  local answers = answers_of(stats)
  if answers < self.min_samples then return nil end
  local list = self.list
  for i = 1, #list do
    local t = list[i]
    local value, crossed = judge_one(t, stats, answers)
    if crossed then
      t.crossed_value, t.crossed_answers = value, answers
      self.crossed = t
      return t
    end
  end
end

--- What the condition says, for people: "no_record: rate < 0.3" or
--- "abort if rate(no_record) > 0.3".
function _M.describe(t)
  if t.abort then return "abort if " .. t.text end
  return t.metric .. ": " .. t.text
end

-- A value as people read it: a rate with three decimals, a count whole
-- (also when it was read back from summary.json as a float).
local function shown(kind, v)
  if kind == "rate" then return ("%.3f"):format(tonumber(v) or 0) end
  if v == nil then return nil end
  return tostring(math.tointeger(v) or v)
end

--- One line for a crossed threshold: what, its value, after how many answers.
function _M.explain(t)
  return ("%s(%s) = %s after %d answers (%s)"):format(t.kind, t.metric, shown(t.kind, t.crossed_value),
                                                      t.crossed_answers, _M.describe(t))
end

--- settle(entry) -> state, value_text, value_when_crossed_text: what
--- people read of a report() entry, derived from what was judged, once for
--- the end table and the HTML report. state: "holds", "CROSSED", "not
--- judged" or "crosses (not enforced)". report() gives each entry these
--- three fields; an entry read back from an older summary.json lacks them.
function _M.settle(e)
  local state = e.crossed and "CROSSED" or not e.judged and "not judged"
                or e.crosses_now and "crosses (not enforced)" or "holds"
  return state, shown(e.kind, e.value), e.value_when_crossed ~= nil and shown(e.kind, e.value_when_crossed) or nil
end

--- The summary's view: one entry per threshold, with its value at the end.
function _M:report(stats)
  local out = {}
  local answers = answers_of(stats)
  for _, t in ipairs(self.list) do
    local value, crossed_now = judge_one(t, stats, answers)
    local e = {
      metric = t.metric, kind = t.kind, condition = _M.describe(t), value = value,
      judged = answers >= self.min_samples, crossed = self.crossed == t,
      crosses_now = answers >= self.min_samples and crossed_now,
      value_when_crossed = t.crossed_value, answers_when_crossed = t.crossed_answers,
    }
    e.state, e.value_text, e.value_when_crossed_text = _M.settle(e)
    out[#out + 1] = e
  end
  return out
end

return _M
