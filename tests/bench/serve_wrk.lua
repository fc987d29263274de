-- wrk script for tests/bench/serve.sh: POST /v1/verify bodies, and the
-- same person as a form body for the simulator itself.
--   WRK_MODE=hit     the same person every time (the cache's, after the first)
--   WRK_MODE=miss    a new mobile every request (a provider query each)
--   WRK_FORM=1       the provider's form body (to measure the simulator alone)
--   WRK_DELAY_MS=N   each connection waits 0 to 2N ms (uniform; N on average)
--                    before each request: with C connections and a latency L,
--                    about C / (L + N) requests/s. Random, so the connections
--                    do not fall into step and arrive as one burst.
-- done() prints one line: "RESULT p50_us p99_us requests non_200".
-- luacheck: globals delay bad id
-- (delay: wrk's hook; bad: read by done() through thread:get; id: set by setup())
local mode = os.getenv("WRK_MODE") or "hit"
local form = os.getenv("WRK_FORM") == "1"
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  threads[#threads + 1] = thread
end

local n = 0
bad = 0

local function body(mobile)
  if form then
    return "apikey=0123456789abcdef0123456789abcdef&mobile=" .. mobile .. "&name=%E5%BC%A0%E4%B8%89"
  end
  return '{"mobile":"' .. mobile .. '","name":"张三"}'
end

function init()
  math.randomseed(id * 7919 + 1)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = form and "application/x-www-form-urlencoded" or "application/json"
  wrk.body = body("13972565391")
end

function request()
  if mode == "miss" then
    n = n + 1
    -- 1 5 (id) then 9 digits: distinct per thread and request, a valid mobile
    return wrk.format(nil, nil, nil, body(string.format("15%d%08d", id % 10, n % 100000000)))
  end
  return wrk.format()
end

if pause > 0 then
  function delay() return math.random(0, 2 * pause) end
end

function response(status)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary, latency)
  local non200 = 0
  for _, t in ipairs(threads) do non200 = non200 + (t:get("bad") or 0) end
  io.write(string.format("RESULT %d %d %d %d\n", latency:percentile(50), latency:percentile(99),
    summary.requests, non200 + summary.errors.status))
end
