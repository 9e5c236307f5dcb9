#!/usr/bin/env bash
# Runs the Gateway API conformance suite (sigs.k8s.io/gateway-api/conformance v1.6.3, built by
# e2e/build-testenv.sh as gwconf.test) against a fresh kube-testenv cluster:
#
#   e2e/gateway-conformance.sh [--base-only] [gwconf.test flags...]
#
# Steps: enter e2e/netns.sh's namespace (the kubelet runs the suite's echo-basic Pods there),
# start kube-testenv (etcd, kube-apiserver, kube-controller-manager, kubelet) in
# build/gateway-conformance/, apply the standard-channel CRDs (server-side), then
#   --base-only  apply the suite's base manifests and wait (bounded) for their Deployments;
#                this checks the test bed without a Gateway API controller
#   otherwise    start Portico (PORTICO_BIN, default build/portico) as the Gateway API
#                controller: in this namespace, on :80 and :443, each Gateway on an address
#                of its own (--gateway-addresses), with a GatewayClass `portico`; then run
#                gwconf.test -test.run '^TestConformance$' with the given flags (default:
#                -gateway-class portico -conformance-profiles GATEWAY-HTTP
#                -report-output build/gateway-conformance/report.yaml). The supported
#                features come from the GatewayClass status Portico writes.
# kube-testenv stops when the script ends; its logs stay in build/gateway-conformance/
# (PORTICO_GWCONF_DIR to choose another directory).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
if [[ -z ${PORTICO_E2E_NETNS:-} ]]; then exec "$here/netns.sh" "$0" "$@"; fi

bin=${PORTICO_TESTENV_BIN:?set by e2e/netns.sh}
gw="$bin/../gateway-api"
work=${PORTICO_GWCONF_DIR:-$repo/build/gateway-conformance}   # kubeconfig, logs, report
rm -rf "$work/data"
mkdir -p "$work"
log() { echo "gateway-conformance: $*" >&2; }

"$bin/kube-testenv" --kubeconfig "$work/kubeconfig" --dir "$work/data" \
  --image="portico.dev/e2e-backend=$(command -v python3) $here/backend.py" \
  --image="portico=${PORTICO_BIN:-$repo/build/portico}" >"$work/ready" 2>"$work/kube-testenv.log" &
kt=$!
trap 'kill $kt 2>/dev/null; wait $kt 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  grep -q '^READY' "$work/ready" && break
  kill -0 $kt 2>/dev/null || { tail -20 "$work/kube-testenv.log" >&2; exit 1; }
  sleep 0.5
done
grep -q '^READY' "$work/ready" || { log "kube-testenv not READY after 120s"; exit 1; }
export KUBECONFIG="$work/kubeconfig" PATH="$bin:$PATH"
log "cluster up: $(cat "$work/ready")"

kubectl apply --server-side -f "$gw/crd" >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
log "standard-channel CRDs established"

if [[ ${1:-} == --base-only ]]; then
  t0=$(date +%s)
  kubectl apply --server-side -f "$gw/base-manifests.yaml" >/dev/null
  # The suite creates these certificate Secrets itself when it starts; stand-ins here.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=abc.example.com \
    -days 1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
  for s in gateway-conformance-infra/tls-checks-certificate gateway-conformance-infra/tls-passthrough-checks-certificate \
           gateway-conformance-app-backend/tls-passthrough-checks-certificate; do
    kubectl create secret tls "${s#*/}" -n "${s%%/*}" --cert "$work/tls.crt" --key "$work/tls.key" >/dev/null
  done
  for ns in gateway-conformance-infra gateway-conformance-app-backend gateway-conformance-web-backend; do
    for d in $(kubectl get deployments -n "$ns" -o name); do
      kubectl rollout status -n "$ns" "$d" --timeout=180s >&2 || { log "$ns/$d not ready"; exit 1; }
    done
  done
  log "base manifests Ready in $(($(date +%s) - t0))s"
  kubectl get pods -A -o wide | grep gateway-conformance >&2 || true
  exit 0
fi

portico=${PORTICO_BIN:-$repo/build/portico}
# Each Gateway gets its own address from 10.244.100.0/24 (local in this namespace: e2e/netns.sh
# routes 10.244.0.0/16 to lo), so that routes of one Gateway never answer on another's.
"$portico" --kubeconfig "$KUBECONFIG" --http-port 80 --https-port 443 --admin-port 9901 \
  --gateway-addresses 10.244.100.0/24 --publish-address 10.244.0.1 >"$work/portico.log" 2>&1 &
pt=$!
trap 'kill $pt 2>/dev/null; wait $pt 2>/dev/null || true; kill $kt 2>/dev/null; wait $kt 2>/dev/null || true' EXIT
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: portico
spec:
  controllerName: portico.dev/gateway-controller
YAML
kubectl wait --for=condition=Accepted gatewayclass/portico --timeout=60s >/dev/null ||
  { tail -20 "$work/portico.log" >&2; log "GatewayClass portico not Accepted"; exit 1; }
log "portico $("$portico" --version 2>&1 | head -1) accepted GatewayClass portico"
args=("$@")
# Default: the GATEWAY-HTTP profile with a report (which needs the implementation's details).
[[ ${#args[@]} -gt 0 ]] || args=(-gateway-class portico -conformance-profiles GATEWAY-HTTP
                                 -report-output "$work/report.yaml" -organization portico.dev -project portico
                                 -url https://portico.dev -version "$(git -C "$repo" describe --always --dirty 2>/dev/null || echo dev)"
                                 -contact "@portico")
# The suite reads the kubeconfig through controller-runtime (KUBECONFIG).
rc=0
(cd "$work" && "$bin/gwconf.test" -test.run '^TestConformance$' -test.v -test.timeout 30m "${args[@]}") || rc=$?
# What the Gateway API objects said at the end, for reading a failure.
kubectl get gatewayclasses,gateways,httproutes -A -o yaml >"$work/objects-at-end.yaml" 2>&1 || true
exit $rc
