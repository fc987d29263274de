#!/usr/bin/env bash
# Sets everything up on a fresh Debian machine, builds, starts the local
# simulator and runs the bundled batch flow on the sample applicants.
set -euo pipefail
. "$(dirname "$0")/lib/setup.sh"

install_missing "${QXTV_PACKAGES[@]}"
build_project

log "starting the local QXT simulator"
start_sim --people "$QXTV_ROOT/scripts/data/people.csv" --latency 100ms --jitter 30ms \
  --fail-rate 0.05 --seed 7
trap stop_sim EXIT
log "simulator at $QXT_ENDPOINT"

out=$(mktemp -d)
log "qxtv run scripts/verify_csv.lua scripts/data/applicants.csv --out $out"
status=0
"$QXTV_BUILD/qxtv" run "$QXTV_ROOT/scripts/verify_csv.lua" "$QXTV_ROOT/scripts/data/applicants.csv" \
  --out "$out" || status=$?
for f in consistent inconsistent invalid unverified; do
  printf '\n--- %s.csv (%d rows) ---\n' "$f" $(( $(wc -l <"$out/$f.csv") - 1 ))
  head -n 6 "$out/$f.csv"
done
printf '\nAll outputs are in %s\n' "$out"
exit "$status"
