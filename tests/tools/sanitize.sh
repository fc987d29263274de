#!/usr/bin/env bash
# tests/tools/sanitize.sh [CTEST ARGS...] -- builds the project with
# AddressSanitizer and UndefinedBehaviorSanitizer (-DQXTV_SANITIZE=ON) into
# build-asan/ and runs the whole ctest suite there: every spec then runs in
# the sanitized qxtv against the sanitized qxt-sim. Any report (a memory
# error, undefined behaviour, a leak at exit) fails the test that caused
# it. CC=clang tests/tools/sanitize.sh uses clang (in build-asan-clang). See
# docs/hardening.md.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/setup.sh"

# One build directory per compiler: build-asan (cc), build-asan-clang...
QXTV_BUILD=${QXTV_ASAN_BUILD:-$QXTV_ROOT/build-asan${CC:+-$(basename "$CC")}}
install_missing "${QXTV_PACKAGES[@]}"
QXTV_CMAKE_ARGS=(-DQXTV_SANITIZE=ON)
build_project
# Configured again every time, so specs added since are ctest entries too.
cmake -S "$QXTV_ROOT" -B "$QXTV_BUILD" >/dev/null

# halt_on_error: UBSan reports fail the process, not just print.
# detect_leaks: LeakSanitizer runs at every exit of qxtv and qxt-sim.
# quarantine_size_mb: freed memory ASan holds back to catch use after free;
# its default (256 MB) would count against the specs' peak-RSS limits.
# Suppressions: tests/sanitize/lsan.supp (what is not ours to fix).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=32:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$QXTV_ROOT/tests/sanitize/lsan.supp:print_suppressions=0}

log "ctest under ASan+UBSan (build-asan)"
ctest --test-dir "$QXTV_BUILD" --output-on-failure -j2 --timeout 600 "$@"
