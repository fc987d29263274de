#!/usr/bin/env bash
# tests/tools/fuzz-coverage.sh -- how much of the C code under fuzzing the
# corpora reach: builds the harnesses with clang's source-based coverage
# into build-fuzzcov/, replays each corpus (the seeds in tests/fuzz/corpus
# and what tests/tools/fuzz.sh added in build-fuzz/), and prints llvm-cov's
# report for the files the harnesses target. See docs/hardening.md.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/setup.sh"

COV_BUILD=$QXTV_ROOT/build-fuzzcov
HARNESSES=(fuzz_result fuzz_csv fuzz_clean fuzz_xlsx fuzz_sim_api fuzz_sim_http)
install_missing "${QXTV_PACKAGES[@]}" clang libclang-rt-14-dev llvm
if [ ! -f "$COV_BUILD/CMakeCache.txt" ]; then
  CC=clang cmake -S "$QXTV_ROOT" -B "$COV_BUILD" -DCMAKE_BUILD_TYPE=Debug -DQXTV_FUZZ=ON \
    -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link -fprofile-instr-generate -fcoverage-mapping" \
    -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" >/dev/null
fi
cmake -S "$QXTV_ROOT" -B "$COV_BUILD" >/dev/null
cmake --build "$COV_BUILD" -j"$(nproc)" --target "${HARNESSES[@]}" -- --no-print-directory >/dev/null

rm -rf "$COV_BUILD/profiles"
mkdir -p "$COV_BUILD/profiles"
objects=()
for h in "${HARNESSES[@]}"; do
  name=${h#fuzz_}
  dirs=("$QXTV_ROOT/tests/fuzz/corpus/$name")
  [ -d "$QXTV_ROOT/build-fuzz/fuzz/$h.work/corpus" ] && dirs+=("$QXTV_ROOT/build-fuzz/fuzz/$h.work/corpus")
  LLVM_PROFILE_FILE="$COV_BUILD/profiles/$h.profraw" "$COV_BUILD/fuzz/$h" -runs=0 "${dirs[@]}" \
    >"$COV_BUILD/profiles/$h.log" 2>&1 || { tail -20 "$COV_BUILD/profiles/$h.log" >&2; exit 1; }
  if [ ${#objects[@]} -eq 0 ]; then objects=("$COV_BUILD/fuzz/$h"); else objects+=(-object "$COV_BUILD/fuzz/$h"); fi
done
llvm-profdata merge -sparse "$COV_BUILD"/profiles/*.profraw -o "$COV_BUILD/profiles/all.profdata"
cd "$QXTV_ROOT"
llvm-cov report "${objects[@]}" -instr-profile="$COV_BUILD/profiles/all.profdata" \
  src/engine/lresult.c src/engine/qxt.c src/lib/liconv.c src/sim/api.c src/sim/server.c src/sim/text.c src/sim/faults.c \
  src/sim/accounts.c src/sim/reqlog.c src/lib/xlsxread.c src/lib/xlsxpart.c
