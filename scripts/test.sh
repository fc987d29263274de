#!/usr/bin/env bash
# Sets everything up on a fresh Debian machine, builds, and runs every test:
# the linters, then ctest (C unit tests, Lua specs inside the real engine,
# end-to-end runs against the simulator). Extra arguments go to ctest,
# e.g. scripts/test.sh -R engine.
set -euo pipefail
. "$(dirname "$0")/lib/setup.sh"

install_missing "${QXTV_PACKAGES[@]}"
QXTV_CMAKE_ARGS=(-DCMAKE_C_FLAGS=-Werror)
build_project

log "luacheck"
(cd "$QXTV_ROOT" && luacheck --quiet lua scripts tests)

log "ctest"
ctest --test-dir "$QXTV_BUILD" --output-on-failure -j2 "$@"
