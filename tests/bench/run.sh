#!/usr/bin/env bash
# tests/bench/run.sh -- qxtv side by side with what a user would pick instead.
#
#   tests/bench/run.sh [--quick] [--rss] [--build DIR] [--out FILE.json]
#
# One run, same machine, same servers, same data: records/s, CPU seconds per
# record (user+sys of the client and its children, from /usr/bin/time) and
# peak RSS of the client, for
#   qxtv verify_csv.lua   the bundled flow end to end (CSV in, four CSVs, journal)
#   qxtv minimal          tests/bench/minimal.lua: verify() only, no sinks
#   node http             node:http with a keep-alive Agent (maxSockets = C)
#   node fetch            Node's global fetch
#   aiohttp               Python asyncio + aiohttp (Debian's python3-aiohttp)
#   curl                  xargs -P C curl (one process per query)
#   wrk                   wrk with a POST script: the ceiling of loopback HTTP
# against nginx (return 200 with the document's JSON, 0 ms), qxt-sim at 0 ms,
# and qxt-sim at 100 ms with C = 256 and 1024 (Little's law: C / 0.1 s).
# Then start-up time of `qxtv run empty.lua` (hyperfine). With --rss, instead
# of the clients: peak RSS of verify_csv.lua from 100k to 2M input rows.
#
# Builds nothing: build first (cmake --build build). Installs its peers from
# Debian's packages only when missing. Not part of scripts/test.sh's verdict:
# it prints numbers and writes them as JSON (default build/bench/results.json).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
quick=0
rss=0
out=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --rss) rss=1 ;;
    --build) build=$(cd "$2" && pwd); shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
out=${out:-$build/bench/results.json}
qxtv=$build/qxtv
sim=$build/qxt-sim
[ -x "$qxtv" ] && [ -x "$sim" ] || { echo "run.sh: $qxtv or $sim missing; build first" >&2; exit 2; }

# shellcheck source=scripts/lib/setup.sh
QXTV_BUILD=$build source "$root/scripts/lib/setup.sh"
need=(wrk curl time python3-aiohttp hyperfine)
command -v node >/dev/null || need+=(nodejs)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
install_missing "${need[@]}"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
py=/usr/bin/python3          # Debian's, where python3-aiohttp lives

ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d /tmp/qxt-bench.XXXXXX)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

export QXT_APIKEY=0123456789abcdef0123456789abcdef
KEY=$QXT_APIKEY
DOC_JSON='{"code":0,"reason":"Succ","result":{"Mobile":"13972565391","Name":"张三","Status":"一致","Area":"湖北-宜昌","Now_isp":"中国电信"}}'

if [ $quick = 1 ]; then
  N_CPU=20000; N_CURL=200; WRK_D=3s; LAT_S=3
else
  N_CPU=100000; N_CURL=600; WRK_D=8s; LAT_S=8
fi
C_CPU=64

# free_port, start_simulator, start_nginx, stop_server (shared with serve.sh)
# shellcheck source=tests/bench/lib.sh
. "$here/lib.sh"

# Inputs, made once by qxtv itself: distinct valid mobiles and names.
gen() { [ -s "$tmp/in$1.csv" ] || "$qxtv" run "$here/gen_input.lua" "$1" "$tmp/in$1.csv"; }
printf 'return 0\n' >"$tmp/empty.lua"
printf '%s\n' "-- wrk POST body of the peers, from tests/bench/sim_post.lua" >"$tmp/wrk.lua"
cat "$here/sim_post.lua" >>"$tmp/wrk.lua"

results=$tmp/results.tsv
: >"$results"

# measure SERVER CONC CLIENT RECORDS CMD... : runs CMD under /usr/bin/time;
# RECORDS is how many queries it made (wrk: read from its output).
measure() {
  local server=$1 conc=$2 client=$3 n=$4; shift 4
  local t0 t1
  t0=$(date +%s.%N)
  if ! /usr/bin/time -f '%U %S %M' -o "$tmp/time" "$@" >"$tmp/client.out" 2>"$tmp/client.err"; then
    echo "  $client failed:" >&2; tail -5 "$tmp/client.err" >&2; tail -3 "$tmp/client.out" >&2
    return 0
  fi
  t1=$(date +%s.%N)
  if [ "$n" = wrk ]; then
    n=$(awk '/requests in/ {print $1}' "$tmp/client.out")
    grep -q '^non-answers: 0 ' "$tmp/client.out" || { echo "  wrk: $(grep non-answers "$tmp/client.out")" >&2; }
  fi
  read -r u s m <"$tmp/time"
  awk -v sv="$server" -v c="$conc" -v cl="$client" -v n="$n" -v t0="$t0" -v t1="$t1" \
      -v u="$u" -v s="$s" -v m="$m" 'BEGIN {
    el = t1 - t0; rps = n / el; cpu = (u + s) / n * 1e6
    printf "%s\t%s\t%s\t%d\t%.2f\t%.0f\t%.1f\t%.1f\n", sv, c, cl, n, el, rps, cpu, m / 1024
  }' | tee -a "$results" | awk -F'\t' '{ printf "  %-12s c=%-5s %-18s %9d rec %7.2f s %8.0f rec/s %7.1f us/rec %7.1f MB\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
}

# One server, one concurrency: every client.
clients() {                          # clients SERVER CONC N N_CURL WRK_DURATION
  local server=$1 c=$2 n=$3 ncurl=$4 d=$5
  gen "$n"
  export QXT_ENDPOINT=$url
  measure "$server" "$c" wrk wrk wrk -t2 -c"$c" -d"$d" -s "$tmp/wrk.lua" "$url"
  measure "$server" "$c" "qxtv minimal" "$n" "$qxtv" run "$here/minimal.lua" "$n" "$c"
  rm -rf "$tmp/out"
  measure "$server" "$c" "qxtv verify_csv" "$n" "$qxtv" run "$root/scripts/verify_csv.lua" "$tmp/in$n.csv" \
    --out "$tmp/out" --concurrency "$c" --quiet --no-thresholds
  measure "$server" "$c" "node http" "$n" node "$here/peer_http.mjs" "$url" "$KEY" "$n" "$c"
  # The slow peers get a quarter of the records (a rate is a rate): keeps the run short.
  local ns=$((n / 4))
  measure "$server" "$c" "node fetch" "$ns" node "$here/peer_fetch.mjs" "$url" "$KEY" "$ns" "$c"
  measure "$server" "$c" "aiohttp" "$ns" "$py" "$here/peer_aiohttp.py" "$url" "$KEY" "$ns" "$c"
  measure "$server" "$c" "curl" "$ncurl" sh -c \
    'seq -f "139%08g" "$1" | xargs -P "$2" -I{} curl -s -o /dev/null -d "apikey=$3&mobile={}&name=%E5%BC%A0%E4%B8%89" "$4"' \
    sh "$ncurl" "$c" "$KEY" "$url"
}

if [ $rss = 0 ]; then
echo "== nginx (return 200, 0 ms), $C_CPU in flight"
start_nginx
clients nginx "$C_CPU" "$N_CPU" "$N_CURL" "$WRK_D"
stop_server

echo "== qxt-sim --latency 0, $C_CPU in flight"
start_simulator 0
clients sim-0ms "$C_CPU" "$N_CPU" "$N_CURL" "$WRK_D"
stop_server

for c in 256 1024; do
  n=$((c * 10 * LAT_S))        # about LAT_S seconds at the Little's-law bound
  echo "== qxt-sim --latency 100ms, $c in flight (bound $((c * 10))/s)"
  start_simulator 100ms
  clients sim-100ms "$c" "$n" "$N_CURL" "${LAT_S}s"   # curl: ~40 ms of exec per query
  stop_server
done
fi

# Start-up: qxtv run of an empty script.
echo "== start-up: qxtv run empty.lua"
hyperfine -N -w 20 -r 200 --export-json "$tmp/hf.json" "$qxtv run $tmp/empty.lua" >"$tmp/hf.out" 2>&1 ||
  hyperfine -w 20 -r 200 --export-json "$tmp/hf.json" "$qxtv run $tmp/empty.lua" >"$tmp/hf.out" 2>&1
startup_ms=$("$py" -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f %.2f" % (r["mean"]*1e3, r["median"]*1e3))' "$tmp/hf.json")
echo "  mean / median: $startup_ms ms"

# RSS from 100k to 2M rows (verify_csv.lua against nginx).
rss_rows=()
if [ $rss = 1 ]; then
  echo "== peak RSS of verify_csv.lua by input rows (nginx, $C_CPU in flight)"
  start_nginx
  export QXT_ENDPOINT=$url
  for n in ${RSS_ROWS:-100000 500000 1000000 2000000}; do
    gen "$n"
    rm -rf "$tmp/out"
    measure "rss" "$C_CPU" "verify_csv $n" "$n" "$qxtv" run "$root/scripts/verify_csv.lua" "$tmp/in$n.csv" \
      --out "$tmp/out" --concurrency "$C_CPU" --quiet --no-thresholds
    rm -f "$tmp/in$n.csv"
  done
  stop_server
fi

# The table, the ratios, the JSON.
"$py" - "$results" "$out" "$startup_ms" "$quick" <<'EOF'
import json, sys
rows = []
for line in open(sys.argv[1], encoding="utf-8"):
    s, c, cl, n, el, rps, cpu, mb = line.rstrip("\n").split("\t")
    rows.append(dict(server=s, concurrency=int(c), client=cl, records=int(n), seconds=float(el),
                     records_per_s=float(rps), cpu_us_per_record=float(cpu), peak_rss_mb=float(mb)))
mean, median = (float(x) for x in sys.argv[3].split())
print()
print("%-10s %5s %-16s %9s %10s %10s %8s" % ("server", "conc", "client", "records", "rec/s", "cpu us/rec", "RSS MB"))
for r in rows:
    print("%-10s %5d %-16s %9d %10.0f %10.1f %8.1f" % (r["server"], r["concurrency"], r["client"], r["records"],
          r["records_per_s"], r["cpu_us_per_record"], r["peak_rss_mb"]))
ratios, targets = [], []
def get(s, c, cl):
    for r in rows:
        if r["server"] == s and r["concurrency"] == c and r["client"] == cl:
            return r["records_per_s"]
groups = sorted({(r["server"], r["concurrency"]) for r in rows if r["server"] != "rss"}, key=lambda g: (g[0] != "nginx", g))
print()
print("ratios (qxtv / peer, records/s)")
for s, c in groups:
    for q in ("qxtv minimal", "qxtv verify_csv"):
        a = get(s, c, q)
        if not a: continue
        parts = []
        for p in ("wrk", "node http", "node fetch", "aiohttp", "curl"):
            b = get(s, c, p)
            if b:
                ratios.append(dict(server=s, concurrency=c, qxtv=q, peer=p, ratio=a / b))
                parts.append("%s %.2f" % (p, a / b))
        print("  %-9s c=%-5d %-16s %s" % (s, c, q, "  ".join(parts)))
def target(name, value, goal):
    if value is None:
        return                      # not measured in this run
    ok = value is not None and value >= goal
    targets.append(dict(target=name, value=value, goal=goal, met=ok))
    print("  %-52s %8s  >= %-6g %s" % (name, "-" if value is None else "%.3f" % value, goal, "met" if ok else "NOT MET"))
print()
print("targets")
for c, goal in ((256, 0.96), (1024, 0.95)):
    v = get("sim-100ms", c, "qxtv verify_csv")
    target("verify_csv at 100 ms, c=%d / Little bound" % c, v and v / (c / 0.1), goal)
w = get("nginx", 64, "wrk")
for q, goal in (("qxtv minimal", 0.35), ("qxtv verify_csv", 0.25)):
    v = get("nginx", 64, q)
    target("nginx: %s / wrk" % q, v and w and v / w, goal)
    for p, g in (("node http", 2), ("node fetch", 8), ("aiohttp", 8)):
        b = get("nginx", 64, p)
        target("nginx: %s / %s" % (q, p), v and b and v / b, g)
target("start-up, 10 ms / mean of qxtv run empty.lua", 10 / mean, 1)
rss = [r for r in rows if r["server"] == "rss"]
if len(rss) >= 2:
    target("RSS flat: smallest / largest run's peak RSS", rss[0]["peak_rss_mb"] / rss[-1]["peak_rss_mb"], 1 / 1.2)
json.dump(dict(quick=sys.argv[4] == "1", rows=rows, ratios=ratios, targets=targets,
               startup_ms=dict(mean=mean, median=median)),
          open(sys.argv[2], "w"), indent=1, ensure_ascii=False)
print("\nwritten:", sys.argv[2])
EOF
