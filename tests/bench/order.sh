#!/usr/bin/env bash
# tests/bench/order.sh -- what input order costs: verify_csv.lua on N rows
# (default 200000) against qxt-sim at 0 ms, 64 in flight, with
#   --order arrival   rows written as answered (the old behaviour)
#   --order input     the default: rows held back until the rows before are out
# each against a simulator that answers every query at once, and against
# one where one query in 2,000 takes 3 s (a row stuck long enough for
# thousands of rows to pile up behind it, so they spill). Prints elapsed
# seconds, CPU seconds (user+sys), peak RSS, and the summary's order fields
# (rows held in memory at most, rows spilled to disk).
#   tests/bench/order.sh [N] [--build DIR]
# Builds nothing; not part of scripts/test.sh (numbers, not a verdict).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
n=200000
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$(cd "$2" && pwd); shift ;;
    *) n=$1 ;;
  esac
  shift
done
qxtv=$build/qxtv
tmp=$(mktemp -d /tmp/qxt-order.XXXXXX)
sim_pid=
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
export QXT_APIKEY=0123456789abcdef0123456789abcdef

"$qxtv" run "$here/gen_input.lua" "$n" "$tmp/in.csv"

start_sim() {
  rm -f "$tmp/port"
  "$build/qxt-sim" --port 0 --port-file "$tmp/port" "$@" >"$tmp/sim.out" 2>&1 &
  sim_pid=$!
  for _ in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
  export QXT_ENDPOINT="http://127.0.0.1:$(cat "$tmp/port")/Phone_TwoElements"
}
stop_sim() { kill "$sim_pid"; wait "$sim_pid" 2>/dev/null || true; sim_pid=; }

run() {     # run LABEL ORDER [OPTION...]
  rm -rf "$tmp/out"
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S %M' -o "$tmp/time" "$qxtv" run "$root/scripts/verify_csv.lua" "$tmp/in.csv" \
    --out "$tmp/out" --concurrency 64 --quiet --order "$2" "${@:3}" 2>"$tmp/err" || { tail -5 "$tmp/err"; return 1; }
  t1=$(date +%s.%N)
  read -r u s m <"$tmp/time"
  local order
  order=$(/usr/bin/python3 -c 'import json, sys
o = json.load(open(sys.argv[1]))["order"]
print("held at most %s, spilled %s" % (o.get("held_peak", "-"), o.get("spilled", "-")))' "$tmp/out/summary.json")
  awk -v l="$1" -v o="$2" -v w="${*:3}" -v n="$n" -v t0="$t0" -v t1="$t1" -v u="$u" -v s="$s" -v m="$m" -v x="$order" \
    'BEGIN { printf "  %-10s --order %-8s %s %d rows %6.2f s %6.2f CPU s %7.1f MB peak RSS  %s\n", l, o, w, n, t1 - t0, u + s, m / 1024, x }'
}

echo "== qxt-sim --latency 0"
start_sim --latency 0
run "0ms" arrival
run "0ms" input
stop_sim
echo "== qxt-sim --latency 0, one query in 2000 takes 3 s"
start_sim --latency 0 --slow-rate 0.0005 --slow 3s --seed 1
run "stuck" arrival
run "stuck" input
stop_sim
