#!/usr/bin/env bash
# Builds Portico, starts two demo backends and Portico in standalone mode on
# examples/demo.yaml, prints a curl line to try, and stops everything on Ctrl-C.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
"$repo/scripts/install-deps.sh"
"$repo/scripts/build.sh" --target portico

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
for n in 1 2; do
  python3 "$repo/e2e/backend.py" --name "backend-$n" --host 127.0.0.1 --port "900$n" >/dev/null 2>&1 &
  pids+=($!)
done
"$repo/build/portico" --config "$repo/examples/demo.yaml" --listen-address 127.0.0.1 \
  --http-port 8080 --https-port 8443 --admin-port 9901 &
pids+=($!)
for _ in $(seq 50); do curl -sf http://127.0.0.1:9901/readyz >/dev/null && break; sleep 0.1; done
cat <<MSG

Portico is serving examples/demo.yaml (edit the file: it reloads). Try:

  curl -s -H 'Host: demo.localhost' http://127.0.0.1:8080/api/orders
  curl -s http://127.0.0.1:9901/routes

Ctrl-C stops it.
MSG
wait "${pids[-1]}"
