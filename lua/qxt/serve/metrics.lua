--- qxt.serve.metrics: what `GET /metrics` says, in Prometheus' text format
-- (version 0.0.4). Labels hold routes, statuses, decisions, rule names,
-- provider codes and limit names: never a mobile, a name or a token.
--
--   local m = require("qxt.serve.metrics").new()
--   m:request("/v1/verify", 200)
--   m:decision("consistent", "match", 0)
--   m:provider(result)                       -- latency, possibly charged
--   m:shadow("disagree", "consistent", "review")  -- --shadow: agree | disagree | error
--   m:reload(true)                           -- SIGHUP: a reload done (true) or refused
--   m:render(policy:counters(), inflight [, modes])  --> the page; modes: guard:modes()
local _M = {}

local Metrics = {}
Metrics.__index = Metrics

-- Provider latency buckets, seconds: the provider answers in ~0.1 s.
local BUCKETS = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 }

function _M.new()
  return setmetatable({ requests = {}, decisions = {}, buckets = {}, latency_sum = 0,
                        latency_count = 0, possibly_charged = 0,
                        shadow_outcomes = {}, disagreements = {}, reloads = {} }, Metrics)
end

-- A label value as the format wants it: \, " and newlines escaped.
local function label(v)
  return (tostring(v):gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

local function bump(t, key) t[key] = (t[key] or 0) + 1 end

--- One HTTP request answered.
function Metrics:request(route, status)
  bump(self.requests, route .. "\0" .. tostring(status))
end

--- One decision given (code nil: no provider code, e.g. a transport failure).
function Metrics:decision(decision, rule, code)
  bump(self.decisions, tostring(decision) .. "\0" .. tostring(rule) .. "\0" .. tostring(code or "none"))
end

--- One provider query this process made.
function Metrics:provider(result)
  local s = (result.latency_ms or 0) / 1000
  self.latency_sum = self.latency_sum + s
  self.latency_count = self.latency_count + 1
  for i, b in ipairs(BUCKETS) do
    if s <= b then self.buckets[i] = (self.buckets[i] or 0) + 1 end
  end
  if result.possibly_charged then self.possibly_charged = self.possibly_charged + 1 end
end

--- The shadow's verdict on one answer: "agree", "disagree" (with the live
-- and the shadow's decision, both route names) or "error" (its rules raised).
function Metrics:shadow(outcome, decision, shadow_decision)
  bump(self.shadow_outcomes, outcome)
  if outcome == "disagree" then
    bump(self.disagreements, tostring(decision) .. "\0" .. tostring(shadow_decision))
  end
end

--- One SIGHUP handled: the new revision serves (true) or the old one stays.
function Metrics:reload(done)
  bump(self.reloads, done and "ok" or "failed")
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

--- The page: counters of this process, the policy's (refusals by limit,
-- cache, coalescing) and the requests in flight.
function Metrics:render(counters, inflight, modes)
  local out = {}
  local function add(...) out[#out + 1] = table.concat({ ... }) end
  local function family(name, kind, help)
    add("# HELP ", name, " ", help)
    add("# TYPE ", name, " ", kind)
  end
  family("qxtv_http_requests_total", "counter", "HTTP requests answered, by route and status.")
  for _, k in ipairs(sorted_keys(self.requests)) do
    local route, status = k:match("^(.-)%z(.*)$")
    add('qxtv_http_requests_total{route="', label(route), '",status="', label(status), '"} ', self.requests[k])
  end
  family("qxtv_decisions_total", "counter", "Decisions given, by decision, rule and provider code.")
  for _, k in ipairs(sorted_keys(self.decisions)) do
    local d, r, c = k:match("^(.-)%z(.-)%z(.*)$")
    add('qxtv_decisions_total{decision="', label(d), '",rule="', label(r), '",code="', label(c), '"} ',
        self.decisions[k])
  end
  family("qxtv_refusals_total", "counter", "Requests refused by a limit, by limit; none reached the provider.")
  for _, limit in ipairs(sorted_keys(counters.refusals or {})) do
    add('qxtv_refusals_total{limit="', label(limit), '"} ', counters.refusals[limit])
  end
  family("qxtv_cache_hits_total", "counter", "Answers from the cache.")
  add("qxtv_cache_hits_total ", counters.cache_hits or 0)
  family("qxtv_cache_misses_total", "counter", "Lookups the cache could not answer.")
  add("qxtv_cache_misses_total ", counters.cache_misses or 0)
  family("qxtv_coalesced_total", "counter", "Requests that waited for an identical query in flight.")
  add("qxtv_coalesced_total ", counters.coalesced or 0)
  family("qxtv_idempotent_total", "counter", "Requests answered by a repeated request_id.")
  add("qxtv_idempotent_total ", counters.idempotent or 0)
  family("qxtv_possibly_charged_total", "counter",
         "Provider queries sent whole without an answer about the person asked.")
  add("qxtv_possibly_charged_total ", self.possibly_charged)
  family("qxtv_requests_in_flight", "gauge", "HTTP requests being handled now.")
  add("qxtv_requests_in_flight ", inflight or 0)
  family("qxtv_reloads_total", "counter", "SIGHUP reloads of the flow, by result (ok, failed: the old rules stay).")
  for _, k in ipairs(sorted_keys(self.reloads)) do
    add('qxtv_reloads_total{result="', label(k), '"} ', self.reloads[k])
  end
  family("qxtv_shadow_total", "counter",
         "Answers the --shadow rules decided too, by outcome (agree, disagree, error).")
  for _, k in ipairs(sorted_keys(self.shadow_outcomes)) do
    add('qxtv_shadow_total{outcome="', label(k), '"} ', self.shadow_outcomes[k])
  end
  family("qxtv_shadow_disagreements_total", "counter",
         "Answers where the --shadow rules chose another decision, by both decisions.")
  for _, k in ipairs(sorted_keys(self.disagreements)) do
    local d, sd = k:match("^(.-)%z(.*)$")
    add('qxtv_shadow_disagreements_total{decision="', label(d), '",shadow_decision="', label(sd), '"} ',
        self.disagreements[k])
  end
  family("qxtv_provider_latency_seconds", "histogram", "Latency of the provider queries this process made.")
  for i, b in ipairs(BUCKETS) do
    add('qxtv_provider_latency_seconds_bucket{le="', b, '"} ', self.buckets[i] or 0)
  end
  add('qxtv_provider_latency_seconds_bucket{le="+Inf"} ', self.latency_count)
  add("qxtv_provider_latency_seconds_sum ", string.format("%.6f", self.latency_sum))
  add("qxtv_provider_latency_seconds_count ", self.latency_count)
  if modes then
    -- One line per part, 1 for the mode it is in (docs/scale-out.md).
    family("qxtv_shared_mode", "gauge",
           "The mode of each part of the state (redis, rate, budget, halt, cache, idempotency, limits, "
           .. "coalescing): 1 for the current one.")
    for _, part in ipairs(sorted_keys(modes)) do
      add('qxtv_shared_mode{part="', label(part), '",mode="', label(modes[part]), '"} 1')
    end
  end
  return table.concat(out, "\n") .. "\n"
end

return _M
