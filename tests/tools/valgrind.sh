#!/usr/bin/env bash
# tests/tools/valgrind.sh [SPEC...] -- runs the end-to-end specs (tests/e2e by
# default) with every qxtv process under valgrind's memcheck: the engine
# running busted, and each `qxtv` a spec starts (through a wrapper put
# first as QXTV_BIN). Passes when the specs pass and no process had a
# memory error or a definite/indirect leak. Logs: build/valgrind/*.log.
# Big-file cases keep working, only slower; the peak-RSS limits are
# lifted (memcheck's own memory would count) and the drills' time bounds
# stretched. See docs/hardening.md.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/setup.sh"

install_missing "${QXTV_PACKAGES[@]}" valgrind
build_project

specs=("$@")
if [ ${#specs[@]} -eq 0 ]; then
  # durability_spec kills runs at chosen moments and times their signals:
  # under memcheck (20x slower) the moments miss. Name it to run it anyway.
  for s in "$QXTV_ROOT"/tests/e2e/*_spec.lua; do
    [ "$(basename "$s")" = durability_spec.lua ] || specs+=("$s")
  done
fi
logs="$QXTV_BUILD/valgrind"
wrap="$logs/bin"
rm -rf "$logs"
mkdir -p "$wrap/tests"
# The wrapper's directory stands in for the build directory: specs find
# qxt-sim and drill_server next to QXTV_BIN.
ln -s "$QXTV_BUILD/qxt-sim" "$wrap/qxt-sim"
ln -s "$QXTV_BUILD/tests/drill_server" "$wrap/tests/drill_server"
vg=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=no
    --suppressions="$QXTV_ROOT/tests/sanitize/valgrind.supp" --log-file="$logs/qxtv.%p.log")
printf '#!/bin/sh\nexec %s %s "$@"\n' "${vg[*]}" "$QXTV_BUILD/qxtv" >"$wrap/qxtv"
chmod +x "$wrap/qxtv"

export QXTV_BIN="$wrap/qxtv" QXTV_RSS_LIMIT_MB=4000 QXTV_SLOW=1
status=0
for spec in "${specs[@]}"; do
  log "valgrind: ${spec#"$QXTV_ROOT"/}"
  (cd "$QXTV_ROOT" && tests/with-sim.sh "$QXTV_BUILD" -- "$wrap/qxtv" run tests/busted.lua "$spec") || status=1
done

bad=$(grep -lE 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|indirectly lost: [1-9]' "$logs"/qxtv.*.log || true)
n=$(ls "$logs"/qxtv.*.log | wc -l)
if [ -n "$bad" ]; then
  log "memcheck found problems in $(echo "$bad" | wc -l) of $n processes:"
  for f in $bad; do sed -n '1,60p' "$f" >&2; done
  status=1
else
  log "memcheck: $n qxtv processes, no errors, no leaks"
fi
exit $status
