# scripts/lib/setup.sh -- shared by demo.sh and test.sh (sourced, not run):
# install what is missing from Debian's packages, then build into build/.

QXTV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QXTV_BUILD=${QXTV_BUILD:-$QXTV_ROOT/build}

# What building, running and testing need; all from Debian 12's archive.
QXTV_PACKAGES=(
  build-essential cmake pkg-config
  liblua5.4-dev lua5.4 lua-cjson lua-cjson-dev
  libcurl4-openssl-dev ca-certificates curl
  libmicrohttpd-dev libjansson-dev libcsv-dev libedit-dev libsqlite3-dev libssl-dev
  lua-busted lua-check
  openssl time
  chromium imagemagick fonts-noto-cjk
  python3-prometheus-client
  libhiredis-dev redis-server
  libzip-dev libexpat1-dev libxlsxwriter-dev python3-openpyxl
)

log() { printf '==> %s\n' "$*" >&2; }

# Installs the packages given that are not installed yet (apt-get, as root
# or through sudo). Does nothing when all are there.
install_missing() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing from Debian's packages: ${missing[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configures (once) and builds the project into $QXTV_BUILD.
build_project() {
  log "building into ${QXTV_BUILD#"$QXTV_ROOT"/}"
  if [ ! -f "$QXTV_BUILD/CMakeCache.txt" ]; then
    cmake -S "$QXTV_ROOT" -B "$QXTV_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${QXTV_CMAKE_ARGS[@]}" >/dev/null
  fi
  cmake --build "$QXTV_BUILD" -j"$(nproc)" -- --no-print-directory
}

# Starts the simulator in the background with the options given; sets
# QXT_ENDPOINT (and QXT_APIKEY, to the simulator's default test key unless
# already set) and QXTV_SIM_PID. The caller stops it with stop_sim.
start_sim() {
  local dir
  dir=$(mktemp -d)
  "$QXTV_BUILD/qxt-sim" --port 0 --port-file "$dir/port" "$@" >"$dir/sim.out" 2>&1 &
  QXTV_SIM_PID=$!
  for _ in $(seq 100); do
    [ -s "$dir/port" ] && break
    kill -0 "$QXTV_SIM_PID" 2>/dev/null || { cat "$dir/sim.out" >&2; return 1; }
    sleep 0.05
  done
  [ -s "$dir/port" ] || { echo "the simulator did not start" >&2; return 1; }
  export QXT_ENDPOINT="http://127.0.0.1:$(cat "$dir/port")/Phone_TwoElements"
  export QXT_APIKEY=${QXT_APIKEY:-0123456789abcdef0123456789abcdef}
  rm -rf "$dir"
}

stop_sim() {
  [ -n "${QXTV_SIM_PID:-}" ] || return 0
  kill "$QXTV_SIM_PID" 2>/dev/null || true
  wait "$QXTV_SIM_PID" 2>/dev/null || true
  QXTV_SIM_PID=
}
