#!/usr/bin/env bash
# Portico side by side with nginx and HAProxy (and Caddy if installed) as a reverse proxy
# in front of one upstream on loopback, each with ONE worker pinned to the same core.
# Uses the workplace harness (PEERS_HARNESS, default ../shared/bench/peers.sh) and adds
# Portico as its extra column; all arguments go to the harness (-d secs, -r rounds,
# -s "ka50 ka200 big close rate", -t targets). Prints req/s, p50/p99, the proxy core's
# us/req and the ratio to nginx. A benchmark, not a test: it asserts nothing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
harness=${PEERS_HARNESS:-$repo/../shared/bench/peers.sh}
[[ -x $harness || -f $harness ]] || { echo "bench: harness not found at $harness (set PEERS_HARNESS)" >&2; exit 1; }
[[ -x $repo/build/portico ]] || "$repo/scripts/build.sh" --target portico

export NEW_PROXY_NAME=portico
# Same shape as the peers: one worker, no access log, keep-alive to the upstream.
export NEW_PROXY_SETUP='cat > {dir}/portico.yaml <<YAML
apiVersion: portico.dev/v1alpha1
kind: APIRoute
metadata: {name: bench, namespace: default}
spec:
  rules:
    - name: all
      match: {path: {type: Prefix, value: /}}
      backends: [{url: "http://{upstream}"}]
YAML'
export NEW_PROXY_CMD="$repo/build/portico --config {dir}/portico.yaml --listen-address 127.0.0.1 --http-port {port} --https-port 0 --admin-port \$(( {port} + 1000 )) --workers 1 --access-log false"
exec bash "$harness" "$@"
