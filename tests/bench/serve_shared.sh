#!/usr/bin/env bash
# tests/bench/serve_shared.sh -- what shared state costs `qxtv serve` per decision.
#
#   tests/bench/serve_shared.sh [BUILD_DIR] [DURATION]    (default build, 5s)
#
# One `qxtv serve` against qxt-sim at 0 ms, embedded (state in memory) and
# then with --redis on a local redis-server (unix socket, no persistence),
# driven by wrk (tests/bench/serve_verify.lua) with 16 connections:
#   hit   one pair: every decision after the first is a cache hit
#   miss  a new mobile per request: names check, cache miss, claim, query, answer
# Prints decisions/s, mean latency and the CPU time per decision of serve
# (and of redis-server), from /proc. Not part of scripts/test.sh's verdict.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
duration=${2:-5s}
qxtv=$build/qxtv
sim=$build/qxt-sim
[ -x "$qxtv" ] && [ -x "$sim" ] || { echo "serve_shared.sh: build first" >&2; exit 2; }
command -v wrk >/dev/null || { echo "serve_shared.sh: wrk not installed (apt-get install wrk)" >&2; exit 2; }

tmp=$(mktemp -d /tmp/qxt-sbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "no $1" >&2; exit 1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }     # user + sys, clock ticks
hz=$(getconf CLK_TCK)

"$sim" --port 0 --port-file "$tmp/sim.port" >"$tmp/sim.out" 2>&1 &
pids+=($!)
wait_file "$tmp/sim.port"
endpoint="http://127.0.0.1:$(cat "$tmp/sim.port")/Phone_TwoElements"

printf 'port 0\nunixsocket %s/redis.sock\nunixsocketperm 700\nsave ""\nappendonly no\ndir %s\n' "$tmp" "$tmp" \
  >"$tmp/redis.conf"
/usr/bin/redis-server "$tmp/redis.conf" >"$tmp/redis.out" 2>&1 &
redis_pid=$!
pids+=($redis_pid)
for _ in $(seq 100); do redis-cli -s "$tmp/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done

cat >"$tmp/flow.lua" <<'LUA'
if qxt.serving then return { serve = { limits = { qps = false, daily_budget = false,
  names_per_mobile = 3, max_subjects = 1000000 } } } end
LUA
head -c 48 /dev/urandom | base64 >"$tmp/hash.key"
chmod 600 "$tmp/hash.key"

ulimit -n 4096 2>/dev/null || true
one() {   # one MODE(embedded|shared) SCENARIO(hit|miss)
  local mode=$1 scenario=$2 extra=()
  [ "$mode" = shared ] && extra=(--redis "unix://$tmp/redis.sock" --hash-key-file "$tmp/hash.key")
  redis-cli -s "$tmp/redis.sock" flushall >/dev/null
  rm -f "$tmp/serve.port"
  QXT_ENDPOINT=$endpoint QXT_APIKEY=0123456789abcdef0123456789abcdef \
    "$qxtv" serve "$tmp/flow.lua" --listen 127.0.0.1:0 --port-file "$tmp/serve.port" "${extra[@]}" \
    >"$tmp/serve.out" 2>&1 &
  local spid=$!
  wait_file "$tmp/serve.port"
  local url="http://127.0.0.1:$(cat "$tmp/serve.port")"
  local s0 r0
  s0=$(ticks $spid); r0=$(ticks $redis_pid)
  QXTV_BENCH_MODE=$scenario wrk -t2 -c16 -d"$duration" -s "$here/serve_verify.lua" "$url" >"$tmp/wrk.out" 2>&1
  local s1 r1
  s1=$(ticks $spid); r1=$(ticks $redis_pid)
  kill $spid; wait $spid 2>/dev/null || true
  local n rps lat bad
  n=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
  rps=$(awk '/Requests\/sec/ { print $2 }' "$tmp/wrk.out")
  lat=$(awk '/Latency/ { print $2; exit }' "$tmp/wrk.out")
  bad=$(awk '/non-200/ { print $2 }' "$tmp/wrk.out")
  printf '%-9s %-5s %9s dec/s  mean %8s  serve %6.1f us/dec  redis %6.1f us/dec  (%s decisions, %s non-200)\n' \
    "$mode" "$scenario" "$rps" "$lat" \
    "$(echo "($s1 - $s0) * 1000000 / $hz / $n" | bc -l)" "$(echo "($r1 - $r0) * 1000000 / $hz / $n" | bc -l)" \
    "$n" "$bad"
}

echo "== qxtv serve, wrk -t2 -c16 -d$duration, qxt-sim at 0 ms, redis on a unix socket"
for scenario in hit miss; do
  one embedded $scenario
  one shared $scenario
done
