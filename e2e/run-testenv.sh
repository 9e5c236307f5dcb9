#!/usr/bin/env bash
# Keeps the e2e control plane (etcd + kube-apiserver) up in the foreground for manual
# kubectl/helm experiments. Ctrl-C (or SIGTERM) stops it cleanly.
#
#   e2e/run-testenv.sh [WORKDIR] [extra kube-testenv flags...]
#
# WORKDIR defaults to build/e2e-testenv; it keeps the certificates, etcd data, logs and
# the kubeconfig (WORKDIR/kubeconfig), so the same kubeconfig works across runs.
# Once ready it prints the lines to paste into another shell:
#   export KUBECONFIG=...; export PATH=<pinned kubectl/helm>:$PATH
# and the control endpoint for the fault hooks (see e2e/README.md). To run the pytest suite
# against this instance instead of a fresh one, start it inside `e2e/netns.sh bash` and use
# PORTICO_E2E_ATTACH=WORKDIR/data from that shell.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
work=${1:-$repo/build/e2e-testenv}
[[ $# -gt 0 ]] && shift
mkdir -p "$work"
work=$(cd "$work" && pwd)
bin=$("$here/build-testenv.sh" | tail -n 1)
[[ -x $bin/kube-testenv ]] || { echo "run-testenv: build failed" >&2; exit 1; }

# Inside e2e/netns.sh the kubelet runs Pods; map our images as the test suite does (k8s.py).
images=(--image="portico.dev/e2e-backend=$(command -v python3) $here/backend.py"
        --image="portico=${PORTICO_BIN:-$repo/build/portico}")
"$bin/kube-testenv" --kubeconfig "$work/kubeconfig" --dir "$work/data" "${images[@]}" "$@" | while IFS= read -r line; do
  echo "$line"
  if [[ $line == READY\ * ]]; then
    control=$(sed -n 's/.* control=\([^ ]*\).*/\1/p' <<<"$line")
    cat <<MSG

Control plane is up (Ctrl-C to stop). In another shell:

  export KUBECONFIG=$work/kubeconfig
  export PATH=$bin:\$PATH
  kubectl get --raw /readyz; kubectl api-resources

Fault hooks:
  curl -XPOST $control/apiserver/restart        # or ?down=5s; also kill -HUP <kube-testenv pid>
  curl -XPOST $control/apiserver/stop           # then: curl -XPOST $control/apiserver/start
  curl -XPOST $control/etcd/compact
MSG
    if [[ -n ${PORTICO_E2E_NETNS:-} ]]; then
      echo "Run the e2e tests against this instance (from this namespace, e.g. the same netns.sh shell):"
      echo "  PORTICO_E2E_ATTACH=$work/data build/venv/bin/python -m pytest e2e"
    else
      echo "(Backends on pod addresses and PORTICO_E2E_ATTACH need the e2e network namespace:"
      echo " start this script from a shell opened with e2e/netns.sh bash.)"
    fi
  fi
done
