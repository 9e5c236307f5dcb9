# Sourced by bench/instructions.sh and bench/stages.sh: the shared callgrind setup. Needs
# $dir (a scratch directory), $up (nginx's port) and $N (requests counted).
#   callgrind_backend           nginx (`return 200 "ok"`, one worker) and portico.yaml for it
#   callgrind_count BIN LOG UA  BIN under callgrind, one worker, access log LOG: 200 warm-up
#                               GETs, counters zeroed, $N GETs on one keep-alive connection
#                               (User-Agent UA), one dump; its files are "$dir/cg.out".*
# Sets an EXIT trap that stops nginx and valgrind and removes $dir (kept with KEEP=1).
pid=
cleanup() {
  [[ -f $dir/nginx.pid ]] && kill "$(cat "$dir/nginx.pid")" 2>/dev/null
  [[ -n $pid ]] && kill "$pid" 2>/dev/null
  [[ -n ${KEEP:-} ]] || rm -rf "$dir"
}
trap cleanup EXIT

callgrind_backend() {
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
}

callgrind_client() {  # PORT COUNT UA: requests on one keep-alive connection, each answer awaited
  python3 - "$1" "$2" "$3" <<'PY'
import socket, sys
port, n, ua = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
req = f"GET /x HTTP/1.1\r\nHost: bench\r\nUser-Agent: {ua}\r\nAccept: */*\r\n\r\n".encode()
buf = b""
for _ in range(n):
    s.sendall(req)
    while b"ok\n" not in buf:
        buf += s.recv(65536)
    buf = buf[buf.index(b"ok\n") + 3:]
PY
}

callgrind_count() {
  local bin=$1 log=$2 ua=$3 port=$((30000 + RANDOM % 10000))
  rm -f "$dir/cg.out"*
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$bin" --config "$dir/portico.yaml" \
    --listen-address 127.0.0.1 --http-port "$port" --https-port 0 --admin-port $((port + 1)) \
    --workers 1 --access-log "$log" --log-level warn >/dev/null 2>"$dir/vg.log" &
  pid=$!
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$((port + 1))/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  callgrind_client "$port" 200 "$ua"
  callgrind_control -z "$pid" >/dev/null 2>&1
  callgrind_client "$port" "$N" "$ua"
  sleep 0.2  # the access-log writer writes within ~50 ms
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=
}
