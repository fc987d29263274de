--- qxt.serve.app: what `qxtv serve` answers, one HTTP request at a time.
-- app.new{ flow =, policy =, tokens =, apikey =, log =, decisions =, info =,
-- guard = } -> app;
-- flow: a revision from qxt.serve.flow.load (its `shadow` field, when set,
-- a second revision run beside it: --shadow); policy: a qxt.serve.policy
-- (limits, cache, idempotency, coalescing); tokens: a
-- qxt.serve.tokens (nil: every caller is "anonymous"); log(msg): the
-- operator's log; decisions: a qxt.serve.decision_log (nil: none); info():
-- extra fields for /readyz; guard: a qxt.shared guard (the provider's
-- rate limit, budgets and halt, shared by the instances on one Redis), or
-- nil.
-- app:handle(req) -> status, headers, body (a JSON text). Runs inside a task,
-- so verify() waits there like in any flow. The request's personal data go
-- only into the answer asked for, never into a log line unmasked.
-- app:reload(rev): the revision new requests run under. A request keeps the
-- revision it started with to its end (its answer and its log line say
-- which), so a reload never changes the rules under a request.
--
--   GET  /livez       200 while the process runs
--   GET  /readyz      200 when the rules are loaded, an apikey is set and no
--                     fatal provider code halted the service; else 503
--   GET  /metrics     Prometheus' text format (qxt.serve.metrics)
--   POST /v1/verify   the decision for { mobile, name, request_id?, ... }
local cjson = require("cjson.safe")
local codes = require("qxt.codes")
local crypto = require("qxt.crypto")
local flow = require("qxt.serve.flow")
local masked = require("qxt.serve.server").masked

local _M = {}

local App = {}
App.__index = App

local ROUTES = {
  ["/livez"] = "GET", ["/readyz"] = "GET", ["/v1/verify"] = "POST", ["/metrics"] = "GET",
}

local function encode(t) return (cjson.encode(t)) end

local function reply(status, t, headers)
  local h = { ["Content-Type"] = "application/json" }
  for k, v in pairs(headers or {}) do h[k] = v end
  return status, h, encode(t)
end

local function fail(status, why, extra)
  local t = { error = why }
  for k, v in pairs(extra or {}) do t[k] = v end
  return reply(status, t)
end

function _M.new(opts)
  local self = setmetatable({
    rev = opts.flow,
    policy = opts.policy,
    tokens = opts.tokens,
    apikey = opts.apikey,
    log = opts.log or function() end,
    decisions = opts.decisions,
    info = opts.info,
    halted = nil,             -- the reason, once a fatal provider code came (no guard)
    guard = opts.guard,
    verify = verify,
    metrics = require("qxt.serve.metrics").new(),
    inflight = 0,
  }, App)
  return self
end

--- app:reload(rev): new requests run under rev (see the header).
function App:reload(rev)
  self.rev = rev
end

function App:halt_reason()
  return self.halted or (self.guard and self.guard:halted())
end

--- The mode of each part of the state, for /metrics (docs/serve-policy.md):
--- the guard's (redis, rate, budget, halt) and the policy's (cache,
--- idempotency, limits, coalescing): "shared" on Redis, a fallback while it
--- is unreachable, or "embedded" without --redis.
function App:modes()
  local m = self.policy:modes()
  if self.guard then
    for k, v in pairs(self.guard:modes()) do m[k] = v end
  end
  return m
end

function App:readiness()
  local rev = self.rev
  local rules = rev ~= nil and rev.decision ~= nil
  local halted = self:halt_reason()
  local ok = rules and self.apikey and not halted
  local t = {
    ready = ok and true or false, rules = rules, apikey = self.apikey and true or false,
    halted = halted or cjson.null, revision = rev.revision,
    shadow = rev.shadow and rev.shadow.revision or nil,
    shared = self.guard and self.guard:modes() or nil,   -- which mode each shared limit is in
    state = self.policy:modes(),   -- and each part of the per-request state
  }
  for k, v in pairs(self.info and self.info() or {}) do t[k] = v end
  return ok and true or false, t
end

local function decision_id()
  return crypto.hex(crypto.random(12))
end

local function opt(v) if v == nil then return cjson.null end return v end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- The shadow's decision on the same record and answer: never the
-- response's, never an error of the request's (counted and logged).
function App:shadow(rev, record, result, decision, line)
  local ok, sd, sr = pcall(flow.decide, rev.shadow, copy(record), result)
  if not ok then
    self.metrics:shadow("error")
    line.shadow_error = true
    self.log("shadow " .. rev.shadow.path .. ": rules raised: " .. masked(sd))
    return
  end
  if sd == decision then
    self.metrics:shadow("agree")
    return
  end
  self.metrics:shadow("disagree", decision, sd)
  line.shadow_decision, line.shadow_rule = sd, sr
  line.shadow_revision = rev.shadow.revision
end

-- The decision and its answer, under the request's own revision; one line
-- in the decision log.
function App:answer(rev, record, result, source, age_s, coalesced, line)
  local ok, decision, rule = pcall(flow.decide, rev, record, result)
  if not ok then
    line.http_status, line.error = 500, "rules raised"
    self:write(line)
    error(decision, 0)
  end
  -- Charged to this request only when it made the query itself.
  local own = source == "provider" and not coalesced
  local charged = own and result.code ~= nil and codes.charged(result.code) or false
  self.metrics:decision(decision, rule, result.code)
  line.decision, line.rule, line.source, line.charged = decision, rule, source, charged and true or false
  if rev.shadow then self:shadow(rev, record, result, decision, line) end
  local id = line.decision_id
  line.http_status = 200
  self:write(line)
  return reply(200, {
    decision_id = id, decision = decision, rule = rule,
    code = opt(result.code), class = result.class, status = opt(result.status),
    area = opt(result.area), isp = opt(result.isp), source = source, age_s = age_s or 0,
    charged = charged and true or false,
    possibly_charged = own and result.possibly_charged and true or false,
    revision = rev.revision,
  })
end

-- One decision log line, with the time the request took.
function App:write(line)
  if not self.decisions then return end
  line.latency_ms = math.floor((qxt.now() - line.t0) * 1e6 + 0.5) / 1000
  line.t0 = nil
  self.decisions:write(line)
end

local function is_json(ct)
  if type(ct) ~= "string" then return false end
  local mt = ct:match("^%s*([^;%s]+)")
  mt = mt and mt:lower()
  return mt == "application/json" or (mt ~= nil and mt:match("^application/[%w.%-]+%+json$") ~= nil)
end

-- A refusal by the policy: 401, or 429 naming the limit with Retry-After.
local function refusal(status, limit, retry_after)
  local headers = {}
  if status == 401 then headers["WWW-Authenticate"] = "Bearer" end
  if retry_after then headers["Retry-After"] = tostring(math.ceil(retry_after)) end
  return reply(status, { error = limit or "refused", limit = status == 429 and limit or nil }, headers)
end

function App:verify_request(req)
  local t0 = qxt.now()
  -- The revision this request runs under, to its end, whatever a reload does.
  local rev = self.rev
  local policy = self.policy
  local caller, why = "anonymous", nil
  if self.tokens then caller, why = self.tokens:check(req.headers.authorization) end
  local admitted, status, limit, retry_after = policy:admit(caller, req)
  if not admitted then
    if status == 401 and why then limit = why end
    return refusal(status, limit, retry_after)
  end
  if not is_json(req.headers["content-type"]) then
    return fail(415, "the body must be JSON (Content-Type: application/json)")
  end
  local body, err = cjson.decode(req.body)
  if type(body) ~= "table" or body[1] ~= nil then
    return fail(400, body == nil and ("bad JSON: " .. tostring(err)) or "the body must be a JSON object")
  end
  for _, field in ipairs({ "mobile", "name" }) do
    local v = body[field]
    if v == nil or v == cjson.null then return fail(400, "missing field: " .. field, { field = field }) end
    if type(v) ~= "string" then return fail(400, field .. " must be a string", { field = field }) end
  end
  local request_id = body.request_id
  if request_id ~= nil and (type(request_id) ~= "string" or #request_id == 0 or #request_id > 128) then
    return fail(400, "request_id must be a string of 1 to 128 characters", { field = "request_id" })
  end
  -- The record the rules see: the request's fields, cleaned as batch cleans.
  local record = {}
  for k, v in pairs(body) do if v ~= cjson.null then record[k] = v end end
  local ok, reason, field = rev.cleaner.record(record)
  if not ok then return fail(400, reason, { field = field }) end
  local halted = self:halt_reason()
  if halted then return fail(503, "halted: " .. halted) end
  if not self.apikey then return fail(503, "no apikey: set QXT_APIKEY or pass --apikey-file FILE") end
  -- The provider is asked only when neither the idempotency keys nor the
  -- cache answer, identical queries in flight share one, and the limits
  -- that guard the provider allow it.
  local m, n, ask = record.mobile, record.name, self.verify
  local result, source, age_s, coalesced = policy:answer(caller, { mobile = m, name = n, request_id = request_id },
    policy:pair_key(m, n), function()
      if self.guard then
        -- Halted meanwhile, or a budget spent: never sent, so never kept or cached.
        local refused = self.guard:before_send()
        if refused then return { class = "unsent", reason = refused, attempts = 0 } end
      end
      local r = ask(m, n)
      self.metrics:provider(r)          -- once per query, however many waited for it
      return r
    end)
  if not result then return refusal(source, age_s, coalesced) end
  if result.class == "unsent" then return fail(503, result.reason) end
  -- The log line: masked (decision_log masks mobile and name), no token.
  local line = { t0 = t0, decision_id = decision_id(), caller = caller, revision = rev.revision,
                 mobile = m, name = n, code = opt(result.code), class = result.class,
                 status = opt(result.status), source = source,
                 provider_ms = source == "provider" and not coalesced and result.latency_ms or nil,
                 ts = os.date("!%Y-%m-%dT%H:%M:%SZ") }
  if result.class == "account" then
    local fatal = ("%s %s"):format(tostring(result.code), tostring(result.reason))
    if self.guard then
      self.guard:fatal(fatal)
      self.log(("halted: provider code %s; every instance answers 503 until `qxtv admin resume`"):format(
        result.code))
    else
      self.halted = fatal
      self.log(("halted: provider code %s; /v1/verify answers 503 until restarted"):format(result.code))
    end
    line.http_status, line.error = 503, "halted"
    self:write(line)
    return fail(503, "halted: " .. fatal)
  end
  return self:answer(rev, record, result, source, age_s, coalesced, line)
end

--- handle(req) -> status, headers, body, counted in /metrics by route (a
--- known path, else "other": a path may hold anything) and status.
function App:handle(req)
  self.inflight = self.inflight + 1
  local ok, status, headers, body = pcall(self.dispatch, self, req)
  self.inflight = self.inflight - 1
  if not ok then
    self.metrics:request(ROUTES[req.path] and req.path or "other", 500)
    error(status, 0)
  end
  self.metrics:request(ROUTES[req.path] and req.path or "other", status)
  return status, headers, body
end

function App:dispatch(req)
  local method = ROUTES[req.path]
  if not method then return fail(404, "not found") end
  if req.method ~= method then
    return reply(405, { error = "method not allowed" }, { Allow = method })
  end
  if req.path == "/livez" then return reply(200, { status = "ok" }) end
  if req.path == "/metrics" then
    return 200, { ["Content-Type"] = "text/plain; version=0.0.4" },
      self.metrics:render(self.policy:counters(), self.inflight, self:modes())
  end
  if req.path == "/readyz" then
    local ok, t = self:readiness()
    return reply(ok and 200 or 503, t)
  end
  return self:verify_request(req)
end

return _M
