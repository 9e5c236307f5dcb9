#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: a load-independent figure for
# comparing two builds on a busy machine (wall-clock benchmarks are bench/peers.sh).
#   bench/instructions.sh [PORTICO_BIN ...]     (default build/portico)
# Each binary runs under valgrind --tool=callgrind with one worker in front of nginx
# (`return 200 "ok"`); after 200 warm-up requests the counters are zeroed, N keep-alive
# requests (default 2000, env N) go through one connection, and the instructions are read
# from the dump. Prints one line per binary: Ir per request. A benchmark, not a test.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bins=("$@")
((${#bins[@]})) || bins=("$repo/build/portico")
N=${N:-2000}
dir=$(mktemp -d)
up=$((20000 + RANDOM % 10000))
cleanup() { [[ -f $dir/nginx.pid ]] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null; kill %1 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
cat > "$dir/nginx.conf" <<NGINX
daemon on; worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$up; location / { return 200 "ok\n"; } } }
NGINX
nginx -c "$dir/nginx.conf" -p "$dir"
cat > "$dir/portico.yaml" <<YAML
apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: bench, namespace: default}
spec:
  rules:
    - name: all
      match: {path: {type: Prefix, value: /}}
      backends: [{url: "http://127.0.0.1:$up"}]
YAML
client() {  # requests on one keep-alive connection; waits for each answer
  python3 - "$1" "$2" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
req = b"GET /x HTTP/1.1\r\nHost: bench\r\nUser-Agent: instructions\r\nAccept: */*\r\n\r\n"
buf = b""
for _ in range(n):
    s.sendall(req)
    while b"ok\n" not in buf:
        buf += s.recv(65536)
    buf = buf[buf.index(b"ok\n") + 3:]
PY
}
for bin in "${bins[@]}"; do
  port=$((30000 + RANDOM % 10000))
  out="$dir/cg.out"
  rm -f "$out"*
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" --config "$dir/portico.yaml" \
    --listen-address 127.0.0.1 --http-port "$port" --https-port 0 --admin-port $((port + 1)) \
    --workers 1 --access-log false --log-level warn >/dev/null 2>"$dir/vg.log" &
  pid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$((port + 1))/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  client "$port" 200
  callgrind_control -z "$pid" >/dev/null 2>&1
  client "$port" "$N"
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  total=0
  for f in "$out".*; do
    ir=$(awk '/^summary:|^totals:/ {print $2; exit}' "$f")
    [[ -n $ir ]] && total=$((total + ir))
  done
  printf '%-40s %8d Ir/request (%d requests)\n' "$bin" $((total / N)) "$N"
done
