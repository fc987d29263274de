# tests/bench/lib.sh -- the servers of the benchmarks (run.sh, serve.sh), sourced.
# Expects: tmp (a scratch directory), sim (qxt-sim), py (a python3),
# nginx_bin, DOC_JSON (nginx's static answer). Sets server_pid (the one
# server started last; stop_server stops it) and url.

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_simulator() {                 # start_simulator LATENCY
  rm -f "$tmp/port"
  "$sim" --port 0 --port-file "$tmp/port" --latency "$1" >"$tmp/server.out" 2>&1 &
  server_pid=$!
  for _ in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
  [ -s "$tmp/port" ] || { cat "$tmp/server.out" >&2; exit 1; }
  url="http://127.0.0.1:$(cat "$tmp/port")/Phone_TwoElements"
}

start_nginx() {
  local port; port=$(free_port)
  mkdir -p "$tmp/nginx"
  cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log error;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    location / {
      default_type "application/json; charset=utf-8";
      return 200 '$DOC_JSON';
    }
  }
}
EOF
  "$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" >"$tmp/server.out" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
  url="http://127.0.0.1:$port/Phone_TwoElements"
}

stop_server() {
  [ -n "$server_pid" ] || return 0
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

