#!/usr/bin/env bash
# install_test.sh BUILD_DIR: `cmake --install` into a temporary prefix; the
# installed qxtv must find its Lua library under PREFIX/share/qxtv/lua (not
# the source tree) with no environment variable, and `qxtv sim` must find
# the installed simulator beside it.
set -euo pipefail
build=$1
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
out=$(env -u LUA_PATH -u LUA_PATH_5_4 "$prefix/bin/qxtv" -e \
  'local d = package.searchpath("qxt.flow", package.path); print(d); assert(qxt.flow)')
case "$out" in
  "$prefix"/bin/../share/qxtv/lua/qxt/flow.lua) ;;
  *) echo "installed qxtv loads its library from $out, not from $prefix" >&2; exit 1 ;;
esac
"$prefix/bin/qxtv" sim --version | grep -q '^qxt-sim '
echo "installed layout ok: $out"
