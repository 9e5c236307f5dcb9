#!/usr/bin/env bash
# Throughput of Portico with each balancing policy and each gateway policy, relative to a
# plain route (RoundRobin, no policy), on loopback: one Portico worker pinned to one core,
# wrk and an nginx upstream (10 listen addresses 127.0.0.1-10) on the other. Prints req/s,
# Portico's CPU time per request (us/req) and the ratio to the baseline per row, as the
# median of ROUNDS runs. A benchmark, not a test: it asserts nothing.
#   bench/policies.sh [-d SECS] [-r ROUNDS] [-c CONNECTIONS]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
duration=3 rounds=3 conns=50
while getopts "d:r:c:" o; do
  case $o in d) duration=$OPTARG ;; r) rounds=$OPTARG ;; c) conns=$OPTARG ;; *) exit 2 ;; esac
done
[[ -x $repo/build/portico ]] || "$repo/scripts/build.sh" --target portico
py=$repo/build/venv/bin/python
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
cpus=$(nproc)
proxy_cpu=$((cpus - 1))
harness_cpu=0

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up_port=$(free_port) http_port=$(free_port) admin_port=$(free_port)

# Upstream: nginx, one worker, answers "ok" on 127.0.0.1-10.
listens=""
for i in $(seq 1 10); do listens+="listen 127.0.0.$i:$up_port; "; done
cat > "$dir/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $dir/nginx.pid; error_log $dir/nginx.err;
events { worker_connections 4096; }
http { access_log off; server { $listens keepalive_requests 100000; location / { return 200 "ok\n"; } } }
EOF
taskset -c $harness_cpu nginx -c "$dir/nginx.conf" -p "$dir" &
sleep 0.5

# Credentials for the auth rows, made with standard tools (PyJWT, openssl passwd).
"$py" - "$dir" <<'PY'
import base64, json, sys, time, jwt
from cryptography.hazmat.primitives.asymmetric import rsa
d = sys.argv[1]
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pub = key.public_key().public_numbers()
b64 = lambda n: base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()
open(f"{d}/jwks.json", "w").write(json.dumps({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "n": b64(pub.n), "e": b64(pub.e)}]}))
token = jwt.encode({"sub": "bench", "iss": "bench", "exp": int(time.time()) + 3600}, key, algorithm="RS256", headers={"kid": "k1"})
open(f"{d}/token", "w").write(token)
PY
echo "bench:$(openssl passwd -6 -salt benchsalt secret)" > "$dir/htpasswd"

backends() {  # N url backends on the upstream's addresses
  local out="" i
  for i in $(seq 1 "$1"); do out+="{url: \"http://127.0.0.$i:$up_port\"}, "; done
  echo "[${out%, }]"
}
write_config() {  # rule fields (YAML flow mapping entries)
  cat > "$dir/portico.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata: {name: keys, namespace: default}
stringData: {bench: "k-1234567890abcdef"}
---
apiVersion: v1
kind: Secret
metadata: {name: users, namespace: default}
stringData: {htpasswd: "$(cat "$dir/htpasswd")"}
---
apiVersion: v1
kind: Secret
metadata: {name: jwks, namespace: default}
stringData: {jwks: '$(cat "$dir/jwks.json")'}
---
apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: bench, namespace: default}
spec:
  rules:
    - {name: r, match: {path: {type: Prefix, value: /}}, backends: $(backends 10)$1}
EOF
}

run_once() {  # rule fields, extra wrk header -> "status req/s us/req"
  local fields=$1 header=${2:-}
  write_config "$fields"
  taskset -c $proxy_cpu "$repo/build/portico" --config "$dir/portico.yaml" --listen-address 127.0.0.1 \
    --http-port "$http_port" --https-port 0 --admin-port "$admin_port" --workers 1 --access-log false \
    2> "$dir/portico.err" &
  local pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$admin_port/readyz" >/dev/null && break; sleep 0.1; done
  local args=(-t1 -c"$conns" -d"${duration}s")
  [[ -n $header ]] && args+=(-H "$header")
  local status t0 t1 rps
  status=$(curl -s -o /dev/null -w "%{http_code}" ${header:+-H "$header"} "http://127.0.0.1:$http_port/")
  t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  rps=$(taskset -c $harness_cpu wrk "${args[@]}" "http://127.0.0.1:$http_port/" | awk '/Requests\/sec/ {print $2}')
  t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$status $rps $(awk -v a="$t0" -v b="$t1" -v r="$rps" -v d="$duration" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.2f", (b - a) / hz * 1e6 / (r * d)}')"
}

rows=(
  "RoundRobin|"
  "LeastRequest|, loadBalancing: {policy: LeastRequest}"
  "Random|, loadBalancing: {policy: Random}"
  "ConsistentHash(ClientIP)|, loadBalancing: {policy: ConsistentHash}"
  "CookieAffinity|, loadBalancing: {policy: RoundRobin, sessionAffinity: {cookieName: pin}}"
  "ipRules|, ipRules: {allow: [127.0.0.0/8]}"
  "cors|, cors: {allowOrigins: ['https://app.example']}"
  "apiKey|, auth: {apiKey: {header: X-API-Key, secretName: keys}}|X-API-Key: k-1234567890abcdef"
  "rateLimit(local)|, rateLimit: {requests: 1000000000, period: 1s, key: ClientIP}"
  "apiKey+rateLimit|, auth: {apiKey: {header: X-API-Key, secretName: keys}}, rateLimit: {requests: 1000000000, period: 1s, key: Consumer}|X-API-Key: k-1234567890abcdef"
  "basic(SHA-512-crypt)|, auth: {basic: {secretName: users}}|Authorization: Basic $(printf 'bench:secret' | base64)"
  "jwt(RS256)|, auth: {jwt: {issuer: bench, secretName: jwks}}|Authorization: Bearer $(cat "$dir/token")"
)
# Rounds outside, rows inside: a slow spell of the machine hits every row alike.
declare -A samples statuses
for _ in $(seq "$rounds"); do
  for row in "${rows[@]}"; do
    IFS='|' read -r label fields header <<< "$row"
    read -r status rps us <<< "$(run_once "$fields" "$header")"
    statuses[$label]=$status
    samples[$label]+="$rps $us"$'\n'
  done
done
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
echo "# ${duration}s x ${rounds} rounds (interleaved), wrk -t1 -c$conns, one Portico worker on cpu $proxy_cpu; 10 url backends"
echo "# us/req: Portico's CPU time per request (lower is better); ratios to the RoundRobin row"
printf "%-24s %6s %10s %8s %9s %9s\n" "row" "status" "req/s" "us/req" "req/s/RR" "cpu/RR"
base_rps="" base_us=""
for row in "${rows[@]}"; do
  IFS='|' read -r label _ <<< "$row"
  rps=$(printf "%s" "${samples[$label]}" | awk 'NF {print $1}' | median)
  us=$(printf "%s" "${samples[$label]}" | awk 'NF {print $2}' | median)
  [[ -z $base_rps ]] && base_rps=$rps base_us=$us
  printf "%-24s %6s %10s %8s %9s %9s\n" "$label" "${statuses[$label]}" "$rps" "$us" \
    "$(awk -v a="$rps" -v b="$base_rps" 'BEGIN {printf "%.3f", a / b}')" \
    "$(awk -v a="$us" -v b="$base_us" 'BEGIN {printf "%.3f", a / b}')"
done
