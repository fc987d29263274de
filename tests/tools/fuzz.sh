#!/usr/bin/env bash
# tests/tools/fuzz.sh [SECONDS] [HARNESS...] -- builds the libFuzzer harnesses
# (tests/fuzz, clang with ASan+UBSan) into build-fuzz/ and runs each for
# SECONDS (default 60) on a copy of its seed corpus (tests/fuzz/corpus/NAME).
# A crash leaves its input in build-fuzz/fuzz/NAME/ and the script exits 1;
# replay it with build-fuzz/fuzz/NAME FILE. New inputs that found coverage
# stay in build-fuzz/fuzz/NAME/corpus (merge them into the seeds by hand
# when they are worth keeping). At the end, the share of the Lua library's
# lines the CSV and cleaner corpora reach. See docs/hardening.md.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/setup.sh"

SECONDS_EACH=${1:-60}
shift || true
HARNESSES=("$@")
[ ${#HARNESSES[@]} -gt 0 ] || HARNESSES=(fuzz_result fuzz_csv fuzz_clean fuzz_xlsx fuzz_sim_api fuzz_sim_http)
FUZZ_BUILD=${QXTV_FUZZ_BUILD:-$QXTV_ROOT/build-fuzz}

install_missing "${QXTV_PACKAGES[@]}" clang libclang-rt-14-dev
log "building the harnesses into ${FUZZ_BUILD#"$QXTV_ROOT"/}"
if [ ! -f "$FUZZ_BUILD/CMakeCache.txt" ]; then
  CC=clang cmake -S "$QXTV_ROOT" -B "$FUZZ_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DQXTV_FUZZ=ON -DQXTV_SANITIZE=ON \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" >/dev/null
fi
cmake -S "$QXTV_ROOT" -B "$FUZZ_BUILD" >/dev/null     # picks up new harnesses
cmake --build "$FUZZ_BUILD" -j"$(nproc)" --target "${HARNESSES[@]}" -- --no-print-directory >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for h in "${HARNESSES[@]}"; do
  name=${h#fuzz_}
  work="$FUZZ_BUILD/fuzz/$h.work"
  mkdir -p "$work/corpus"
  cp -n "$QXTV_ROOT/tests/fuzz/corpus/$name/"* "$work/corpus/" 2>/dev/null || true
  # The Lua harnesses keep one Lua state across runs by design: leak
  # checks there cost 90% of the speed and can only find that state.
  extra=() max_len=4096
  case $h in fuzz_csv|fuzz_clean) extra=(-detect_leaks=0) ;; esac
  case $h in fuzz_xlsx) max_len=65536 ;; esac     # a whole (small) workbook
  log "$h for ${SECONDS_EACH}s"
  if (cd "$work" && "$FUZZ_BUILD/fuzz/$h" -max_total_time="$SECONDS_EACH" -max_len="$max_len" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${extra[@]}" \
        corpus "$QXTV_ROOT/tests/fuzz/corpus/$name" >"$work/log" 2>&1); then
    grep -E '^#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss' \
      "$work/log" | sed "s/^/  $h: /" >&2 || true
  else
    failed+=("$h")
    tail -n 40 "$work/log" >&2
    log "$h FAILED: crash input(s): $(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null | tr '\n' ' ')"
  fi
done
# Line coverage of the Lua library reached by the Lua harnesses' corpora.
lua_cov=()
for h in "${HARNESSES[@]}"; do
  case $h in
    fuzz_csv) lua_cov+=("csv_driver.lua qxt.csv") ;;
    fuzz_clean) lua_cov+=("clean_driver.lua qxt.clean,qxt.mask") ;;
  esac
done
if [ ${#lua_cov[@]} -gt 0 ]; then
  cmake --build "$FUZZ_BUILD" -j"$(nproc)" --target qxtv -- --no-print-directory >/dev/null
  for c in "${lua_cov[@]}"; do
    set -- $c
    name=${1%_driver.lua}
    (cd "$QXTV_ROOT" && ASAN_OPTIONS=detect_leaks=0 "$FUZZ_BUILD/qxtv" run tests/fuzz/lua_coverage.lua \
      "tests/fuzz/$1" "$2" "$FUZZ_BUILD/fuzz/fuzz_$name.work/corpus" "tests/fuzz/corpus/$name") |
      sed "s/^/  coverage: /" >&2
  done
fi
[ ${#failed[@]} -eq 0 ] || { log "failed: ${failed[*]}"; exit 1; }
log "every harness ran clean for ${SECONDS_EACH}s"
