#!/usr/bin/env bash
# Renders the Helm chart helm/portico into manifests/portico.yaml: plain YAML for
# `kubectl apply -f manifests/` (a Namespace, the APIRoute CRD, and the chart's objects
# with default values in namespace portico-system).
#
# Usage: scripts/render-manifests.sh            write manifests/portico.yaml
#        scripts/render-manifests.sh --check    exit 1 (with a diff) if it is out of date
# The helm binary is $HELM, else `helm` on PATH.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
namespace=portico-system
release=portico
out="$root/manifests/portico.yaml"

helm=${HELM:-$(command -v helm || true)}
if [[ -z $helm || ! -x $helm ]]; then
  echo "render-manifests: helm not found; set HELM=/path/to/helm or put helm on PATH" >&2
  exit 2
fi

render() {
  cat <<HEADER
# GENERATED FILE, DO NOT EDIT.
# Rendered from the Helm chart helm/portico by scripts/render-manifests.sh:
#   helm template $release helm/portico --namespace $namespace --include-crds
# plus the Namespace below. Edit the chart (or crds/) and re-run the script.
# Install: kubectl apply -f manifests/
---
apiVersion: v1
kind: Namespace
metadata:
  name: $namespace
  labels:
    app.kubernetes.io/name: portico
    app.kubernetes.io/part-of: portico
    # Portico's pods meet the "restricted" Pod Security Standard.
    pod-security.kubernetes.io/enforce: restricted
HEADER
  (cd "$root" && "$helm" template "$release" helm/portico --namespace "$namespace" --include-crds)
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
render >"$tmp"

if [[ ${1:-} == --check ]]; then
  if ! diff -u "$out" "$tmp"; then
    echo "render-manifests: $out is out of date; run scripts/render-manifests.sh" >&2
    exit 1
  fi
  echo "render-manifests: $out is up to date" >&2
  exit 0
fi

mkdir -p "$(dirname "$out")"
cp "$tmp" "$out"
echo "render-manifests: wrote $out" >&2
