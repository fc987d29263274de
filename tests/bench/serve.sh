#!/usr/bin/env bash
# tests/bench/serve.sh -- how fast `qxtv serve` decides, against nginx
# serving a static answer in the same run (docs/performance.md, "serve").
#
#   tests/bench/serve.sh [--quick] [--build DIR] [--out FILE.json]
#
#   1. nginx, `return 200` of a decision-sized JSON: wrk -t2 -c64, keep-alive
#   2. qxtv serve, qxt-sim at 0 ms: cache hits (the same person every time)
#      and cache misses (a new mobile every request: one provider query
#      each), same wrk; each as a ratio of nginx's requests/s
#   3. qxt-sim at 100 ms, ~1,000 requests/s (wrk paced: 200 connections,
#      each waiting 100 ms after each answer, so 200 / (0.1 + 0.1) s): the
#      simulator alone, then through qxtv serve with a miss every request;
#      added latency = serve's p50/p99 minus the simulator's, and from the
#      decision log per request (latency_ms - provider_ms, inside qxtv)
# Builds nothing. Not part of scripts/test.sh's verdict: numbers only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
quick=0
out=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --build) build=$(cd "$2" && pwd); shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "serve.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
out=${out:-$build/bench/serve.json}
qxtv=$build/qxtv
sim=$build/qxt-sim
[ -x "$qxtv" ] && [ -x "$sim" ] || { echo "serve.sh: $qxtv or $sim missing; build first" >&2; exit 2; }

# shellcheck source=scripts/lib/setup.sh
QXTV_BUILD=$build source "$root/scripts/lib/setup.sh"
need=(wrk curl)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
install_missing "${need[@]}"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
py=/usr/bin/python3

ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d /tmp/qxt-bench-serve.XXXXXX)
server_pid=
pids=()
cleanup() {
  for p in "${pids[@]}" $server_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

export QXT_APIKEY=0123456789abcdef0123456789abcdef
# nginx's static answer: what serve answers, in size and shape
DOC_JSON='{"decision_id":"5f0c3a9e8b7d6c5b4a392817","decision":"consistent","rule":"match","code":0,"class":"ok","status":"一致","area":"湖北-宜昌","isp":"中国电信","source":"cache","age_s":12,"charged":false,"possibly_charged":false,"revision":"0f3c1d2e4b5a69788796a5b4c3d2e1f00f3c1d2e4b5a69788796a5b4c3d2e1f0"}'
if [ $quick = 1 ]; then D=3s; PACED=5s; else D=10s; PACED=15s; fi
C=64

# The flow: no limit in the way of a benchmark (one caller, hundreds of
# thousands of distinct subjects), the default cache.
cat >"$tmp/flow.lua" <<'LUA'
if qxt.serving then
  return { serve = { limits = { qps = false, daily_budget = false, names_per_mobile = false,
                                pair_interval = false, max_subjects = 10000000 },
                     cache = { max_entries = 10000000 } } }
end
LUA

bench() {                            # bench NAME URL WRK-ARGS... (env: WRK_*)
  local name=$1 target=$2; shift 2
  wrk -t2 "$@" -s "$here/serve_wrk.lua" "$target" >"$tmp/wrk.out" 2>&1 || { cat "$tmp/wrk.out" >&2; exit 1; }
  local line rps
  line=$(grep '^RESULT ' "$tmp/wrk.out") || { cat "$tmp/wrk.out" >&2; exit 1; }
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.out")
  read -r _ p50 p99 n bad <<<"$line"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$p50" "$p99" "$n" "$bad" >>"$tmp/results.tsv"
  printf '  %-28s %10s req/s   p50 %7.2f ms   p99 %7.2f ms   non-200: %s\n' "$name" "$rps" \
    "$(awk "BEGIN { print $p50 / 1000 }")" "$(awk "BEGIN { print $p99 / 1000 }")" "$bad"
}

start_serve() {                      # start_serve SIM_URL: sets serve_url, serve_pid
  rm -f "$tmp/serve.port" "$tmp/decisions.jsonl"
  QXT_ENDPOINT=$1 "$qxtv" serve "$tmp/flow.lua" --listen 127.0.0.1:0 --port-file "$tmp/serve.port" \
    --decision-log "$tmp/decisions.jsonl" 2>"$tmp/serve.err" &
  serve_pid=$!
  pids+=("$serve_pid")
  for _ in $(seq 200); do [ -s "$tmp/serve.port" ] && break; sleep 0.05; done
  [ -s "$tmp/serve.port" ] || { cat "$tmp/serve.err" >&2; exit 1; }
  serve_url="http://127.0.0.1:$(cat "$tmp/serve.port")/v1/verify"
}

stop_serve() {
  kill -TERM "$serve_pid"
  wait "$serve_pid" || { echo "qxtv serve exited with $?" >&2; cat "$tmp/serve.err" >&2; exit 1; }
}

: >"$tmp/results.tsv"
echo "== nginx, a static answer (wrk -t2 -c$C -d$D)"
start_nginx
bench nginx "$url" -c$C -d$D
stop_server

echo "== qxtv serve, qxt-sim at 0 ms (wrk -t2 -c$C -d$D)"
start_simulator 0
sim_url=$url
start_serve "$sim_url"
curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"mobile":"13972565391","name":"张三"}' "$serve_url"
WRK_MODE=hit bench "serve, cache hits" "$serve_url" -c$C -d$D
WRK_MODE=miss bench "serve, cache misses" "$serve_url" -c$C -d$D
stop_serve
stop_server

echo "== qxt-sim at 100 ms, ~1,000 requests/s (wrk -t2 -c200, 100 ms between a connection's requests, $PACED)"
start_simulator 100ms
sim_url=$url
WRK_FORM=1 WRK_MODE=miss WRK_DELAY_MS=100 bench "simulator alone, paced" "$sim_url" -c200 -d$PACED
start_serve "$sim_url"
WRK_MODE=miss WRK_DELAY_MS=100 bench "serve, misses, paced" "$serve_url" -c200 -d$PACED
stop_serve
stop_server

"$py" - "$tmp/results.tsv" "$tmp/decisions.jsonl" "$out" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, p50, p99, n, bad = line.rstrip("\n").split("\t")
    rows[name] = {"rps": float(rps), "p50_ms": int(p50) / 1000, "p99_ms": int(p99) / 1000,
                  "requests": int(n), "non_200": int(bad)}
added = []
for line in open(sys.argv[2]):
    d = json.loads(line)
    if d.get("provider_ms") is not None:
        added.append(d["latency_ms"] - d["provider_ms"])
added.sort()
def pct(xs, p):
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else None
ng = rows["nginx"]["rps"]
sim, srv = rows["simulator alone, paced"], rows["serve, misses, paced"]
res = {
    "requests_per_s": {k: v["rps"] for k, v in rows.items()},
    "hits_over_nginx": rows["serve, cache hits"]["rps"] / ng,
    "misses_over_nginx": rows["serve, cache misses"]["rps"] / ng,
    "paced": {"simulator": sim, "serve": srv,
              "added_p50_ms": srv["p50_ms"] - sim["p50_ms"], "added_p99_ms": srv["p99_ms"] - sim["p99_ms"],
              "inside_qxtv_p50_ms": pct(added, 50), "inside_qxtv_p99_ms": pct(added, 99),
              "decisions_logged": len(added)},
    "rows": rows,
}
json.dump(res, open(sys.argv[3], "w"), indent=2)
def goal(v, want, more=True):
    return "ok" if (v >= want if more else v <= want) else "MISSED"
print()
print("cache hits   / nginx: %.3f  (target >= 0.25: %s)" % (res["hits_over_nginx"], goal(res["hits_over_nginx"], 0.25)))
print("cache misses / nginx: %.3f  (target >= 0.10: %s)" % (res["misses_over_nginx"], goal(res["misses_over_nginx"], 0.10)))
p = res["paced"]
print("paced at %.0f req/s (simulator alone %.0f): added p50 %.2f ms, p99 %.2f ms (target p99 <= 5 ms: %s)"
      % (srv["rps"], sim["rps"], p["added_p50_ms"], p["added_p99_ms"], goal(p["added_p99_ms"], 5, False)))
if added:
    print("inside qxtv (decision log, latency_ms - provider_ms, %d decisions): p50 %.3f ms, p99 %.3f ms"
          % (len(added), p["inside_qxtv_p50_ms"], p["inside_qxtv_p99_ms"]))
non200 = sum(v["non_200"] for v in rows.values())
if non200:
    print("WARNING: %d answers were not 200" % non200)
print("written:", sys.argv[3])
PY
