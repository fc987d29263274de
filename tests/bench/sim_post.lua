-- wrk script for tests/bench/sim_wrk.sh: one POST query with a form body,
-- as the engine sends it (default account, the document's example person).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "apikey=0123456789abcdef0123456789abcdef&mobile=13972565391&name=%E5%BC%A0%E4%B8%89"

-- Count answers that are not the expected code 0, so a fast but wrong run
-- does not pass for a good one.
local bad = 0
function response(status, headers, body)
  if status ~= 200 or not body:find('"code":0', 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format("non-answers: %d (HTTP errors counted by wrk: %d)\n",
    bad, summary.errors.status))
end
