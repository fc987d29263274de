-- wrk script for tests/bench/serve_shared.sh: POST /v1/verify to `qxtv serve`.
-- QXTV_BENCH_MODE=hit: one pair, every request after the first a cache hit;
-- miss: a new mobile per request (each a provider query at the simulator).
local mode = os.getenv("QXTV_BENCH_MODE") or "hit"
local thread_id = 0
local counter = 0
local bad = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function init()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local mobile = "13972565391"
  if mode == "miss" then
    counter = counter + 1
    mobile = string.format("13%d%08d", thread_id, counter)
  end
  return wrk.format(nil, "/v1/verify", nil, '{"mobile":"' .. mobile .. '","name":"张三"}')
end

function response(status)
  if status ~= 200 then bad = bad + 1 end
end

function done(summary)
  io.write(string.format("non-200: %d (wrk errors: %d)\n", bad, summary.errors.status))
end
