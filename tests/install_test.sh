#!/usr/bin/env bash
# install_test.sh BUILD_DIR: `cmake --install` into a temporary prefix; the
# installed qxtv must find its Lua library under PREFIX/share/qxtv/lua (not
# the source tree) with no environment variable, and `qxtv sim` must find
# the installed simulator beside it, and its modules under PREFIX/lib.../qxtv.
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
# Its own modules (libcurl's, SQLite's) come from PREFIX/lib*/qxtv too.
mods=$(QXT_APIKEY=0123456789abcdef0123456789abcdef "$prefix/bin/qxtv" -e 'require("qxt.sqlite.core") require("qxt.crypto")
  pcall(verify, "13972565391", "张三", { endpoint = "http://127.0.0.1:9/", timeout = 0.2 })
  for l in io.lines("/proc/self/maps") do local p = l:match("%s(/%S+/qxtv%-%a+%.so)$"); if p then print(p) end end' | sort -u)
for m in http sqlite crypto; do
  case "$mods" in
    *"$prefix"/lib*/qxtv/qxtv-$m.so*) ;;
    *) echo "installed qxtv loads qxtv-$m.so from elsewhere: $mods" >&2; exit 1 ;;
  esac
done
echo "installed layout ok: $out"
