#!/bin/sh
# Benchmark qxt-sim with wrk (Debian package wrk): 256 connections, POST
# form bodies, once with --latency 100ms and once with no latency.
# Builds nothing. Usage: tests/bench/sim_wrk.sh [BUILD_DIR] [DURATION]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
duration=${2:-10s}
sim="$build/qxt-sim"
[ -x "$sim" ] || { echo "sim_wrk.sh: $sim not found; build first" >&2; exit 2; }
command -v wrk >/dev/null || { echo "sim_wrk.sh: wrk not installed (apt-get install wrk)" >&2; exit 2; }

tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

run() {
  latency=$1
  rm -f "$tmp/port"
  "$sim" --port 0 --port-file "$tmp/port" --latency "$latency" >"$tmp/sim.out" 2>&1 &
  pid=$!
  i=0
  while [ ! -s "$tmp/port" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "qxt-sim did not start" >&2; cat "$tmp/sim.out" >&2; exit 1; }
    sleep 0.05
  done
  port=$(cat "$tmp/port")
  echo "== qxt-sim --latency $latency, wrk -t2 -c256 -d$duration (POST form body)"
  ulimit -n 4096 2>/dev/null || true
  wrk -t2 -c256 -d"$duration" --latency -s "$here/sim_post.lua" \
      "http://127.0.0.1:$port/Phone_TwoElements"
  kill "$pid"
  wait "$pid" || { echo "qxt-sim exited with status $?" >&2; exit 1; }
  pid=
  echo
}

run 100ms
run 0
