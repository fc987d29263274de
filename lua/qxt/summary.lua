-- qxt.summary: what a run did, counted as it goes, in constant memory.
-- Latency percentiles come from a histogram of 1% wide buckets, not from a
-- list of every latency, so a ten-million-row run costs the same as ten.
local cjson = require("cjson")
local codes = require("qxt.codes")
local route = require("qxt.step.route")

local _M = {}

local Summary = {}
Summary.__index = Summary

local log, exp, floor = math.log, math.exp, math.floor
local GROWTH = log(1.01)

local function bump(t, k, n)
  if k == nil then k = "(unknown)" end
  t[k] = (t[k] or 0) + (n or 1)
end

function _M.new()
  return setmetatable({
    started = os.time(), t0 = qxt.now(),
    records = 0, outcomes = {}, codes = {}, classes = {}, carriers = {}, provinces = {},
    rules = {}, queries = 0, retries = 0, retries_by_code = {}, duplicates = 0,
    -- requests that went out whole with no answer about the person asked
    -- (possibly_charged), and of those the transport failures
    possibly_charged = 0, transport_charged = 0, charged = 0,
    latency_buckets = {}, latency_count = 0, latency_max = 0,
    -- per second of the run: records finished, queries answered, failed
    -- attempts (-8 and transport): throughput and error rate over time
    series = {},
  }, Summary)
end

local function second(self)
  local t = floor(qxt.now() - self.t0)
  local p = self.series[t + 1]
  if not p then
    for i = #self.series + 1, t + 1 do self.series[i] = { 0, 0, 0 } end
    p = self.series[t + 1]
  end
  return p
end

--- One query sent and answered (or failed in transport).
function Summary:query(result)
  self.queries = self.queries + 1
  local p = second(self)
  p[2] = p[2] + 1
  if result.class == "transient" or result.class == "transport" then p[3] = p[3] + 1 end
  bump(self.codes, result.code ~= nil and tostring(result.code) or
       (result.class == "mismatch" and "mismatch" or "transport"))
  local code = math.tointeger(result.code)
  if code and codes.charged(code) then self.charged = self.charged + 1 end
  if result.possibly_charged then
    self.possibly_charged = self.possibly_charged + 1
    if result.class == "transport" then self.transport_charged = self.transport_charged + 1 end
  end
  local ms = result.latency_ms
  if ms and ms > 0 then
    local b = floor(log(ms) / GROWTH)
    bump(self.latency_buckets, b)
    self.latency_count = self.latency_count + 1
    if ms > self.latency_max then self.latency_max = ms end
  end
end

function Summary:retry(result)
  self.retries = self.retries + 1
  bump(self.retries_by_code, result.code ~= nil and tostring(result.code) or
       (result.possibly_charged and "transport (possibly charged)" or "transport"))
end

--- One record finished: its outcome (sink), the rule that chose it, its result.
function Summary:record(outcome, rule, result, duplicate)
  self.records = self.records + 1
  local p = second(self)
  p[1] = p[1] + 1
  bump(self.outcomes, outcome)
  bump(self.rules, rule)
  bump(self.classes, result.class)
  if duplicate then self.duplicates = self.duplicates + 1 end
  if result.class == "ok" then
    bump(self.carriers, result.isp)
    bump(self.provinces, result.province)
  end
end

--- The latency (ms) below which a fraction p of the queries fell.
function Summary:percentile(p)
  if self.latency_count == 0 then return nil end
  local keys = {}
  for b in pairs(self.latency_buckets) do keys[#keys + 1] = b end
  table.sort(keys)
  local want, seen = p * self.latency_count, 0
  for _, b in ipairs(keys) do
    seen = seen + self.latency_buckets[b]
    if seen >= want then return math.min(exp((b + 1) * GROWTH), self.latency_max) end
  end
  return self.latency_max
end

local function top(t, n)
  local list = {}
  for k, v in pairs(t) do list[#list + 1] = { k, v } end
  table.sort(list, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
  local out = {}
  for i = 1, math.min(n, #list) do out[i] = list[i] end
  return out
end

--- The latency histogram in at most `n` bins: { {from_ms, to_ms, count}... }
function Summary:histogram(n)
  if self.latency_count == 0 then return {} end
  local lo, hi = math.huge, -math.huge
  for b in pairs(self.latency_buckets) do
    if b < lo then lo = b end
    if b > hi then hi = b end
  end
  local width = math.max(1, math.ceil((hi - lo + 1) / (n or 30)))
  local bins = {}
  for b, count in pairs(self.latency_buckets) do
    local i = (b - lo) // width + 1
    bins[i] = bins[i] or { exp((lo + (i - 1) * width) * GROWTH), exp((lo + i * width) * GROWTH), 0 }
    bins[i][3] = bins[i][3] + count
  end
  local out = {}
  for i = 1, (hi - lo) // width + 1 do
    out[#out + 1] = bins[i] or { exp((lo + (i - 1) * width) * GROWTH), exp((lo + i * width) * GROWTH), 0 }
  end
  return out
end

--- A plain table for summary.json.
function Summary:to_table(extra)
  local wall = qxt.now() - self.t0
  local t = {
    records = self.records, outcomes = self.outcomes, codes = self.codes,
    classes = self.classes, carriers = self.carriers, provinces = self.provinces,
    rules = self.rules, queries_sent = self.queries, retries = self.retries,
    retries_by_code = self.retries_by_code, duplicates = self.duplicates,
    -- charged: answers about the person asked with a code the table bills
    -- (qxt.codes.charged: code 0, we assume);
    -- possibly_charged: sent whole, no such answer (billed or not: unknown).
    -- What the provider billed lies between charged and their sum.
    charged = self.charged,
    possibly_charged = self.possibly_charged,
    latency_ms = { p50 = self:percentile(0.50), p95 = self:percentile(0.95),
                   p99 = self:percentile(0.99), max = self.latency_count > 0 and self.latency_max or nil },
    wall_seconds = wall, records_per_second = wall > 0 and self.records / wall or nil,
    started_at = os.date("!%Y-%m-%dT%H:%M:%SZ", self.started),
    latency_histogram = self:histogram(30),
    -- {records, queries, failed attempts} for each second of the run
    per_second = self.series,
  }
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

function Summary:to_json(extra)
  return cjson.encode(self:to_table(extra))
end

--- The end-of-run table for people.
function Summary:to_text(extra)
  local t = self:to_table(extra)
  local lines = {}
  local function add(fmt, ...) lines[#lines + 1] = fmt:format(...) end
  add("records    %d in %.1f s (%.0f/s)", t.records, t.wall_seconds, t.records_per_second or 0)
  local standard = {}
  for _, o in ipairs(route.OUTCOMES) do
    standard[o] = true
    add("  %-13s %d", o, t.outcomes[o] or 0)
  end
  for o, n in pairs(t.outcomes) do
    if not standard[o] then add("  %-13s %d", o, n) end
  end
  add("queries    %d sent, %d charged, %d possibly charged, %d retries, %d duplicate rows answered from the run",
      t.queries_sent, t.charged, t.possibly_charged, t.retries, t.duplicates)
  for _, kv in ipairs(top(t.codes, 12)) do
    local code = tonumber(kv[1])
    add("  code %-9s %-7d %s", kv[1], kv[2], code and codes.meaning(code)
        or kv[1] == "mismatch" and "an answer about another mobile or name (possibly charged)"
        or "no provider answer")
  end
  if t.possibly_charged > 0 then
    add("money      %d charged for sure, %d possibly charged (sent, no answer about the person asked): "
        .. "the provider billed between %d and %d", t.charged, t.possibly_charged, t.charged,
        t.charged + t.possibly_charged)
  end
  if t.latency_ms.p50 then
    add("latency    p50 %.0f ms, p95 %.0f ms, p99 %.0f ms", t.latency_ms.p50, t.latency_ms.p95, t.latency_ms.p99)
  end
  local carriers = {}
  for _, kv in ipairs(top(t.carriers, 5)) do carriers[#carriers + 1] = kv[1] .. " " .. kv[2] end
  if #carriers > 0 then add("carriers   %s", table.concat(carriers, ", ")) end
  local provinces = {}
  for _, kv in ipairs(top(t.provinces, 5)) do provinces[#provinces + 1] = kv[1] .. " " .. kv[2] end
  if #provinces > 0 then add("provinces  %s", table.concat(provinces, ", ")) end
  for i, th in ipairs(t.thresholds or {}) do
    add("%-10s %-40s now %-8s %s", i == 1 and "thresholds" or "", th.condition, th.value_text,
        th.state == "not judged" and ("not judged (fewer than %d answers)"):format(t.min_samples) or th.state)
  end
  if t.offline then
    add("offline    nothing sent; %d records with no stored answer (in 'unverified')", t.offline.no_stored_answer)
  end
  if t.halted then add("HALTED     %s", t.halted) end
  if t.threshold_crossed then add("THRESHOLD  crossed: %s", t.threshold_crossed) end
  if t.budget_exhausted then add("BUDGET     used up after %d queries", t.queries_sent) end
  if t.input_error then add("INPUT      stopped early (see the message above); the rows after were not read") end
  return table.concat(lines, "\n")
end

return _M
