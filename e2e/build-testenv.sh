#!/usr/bin/env bash
# Builds the e2e control-plane tools from the pinned Go modules in e2e/testenv:
#   kube-testenv (embedded etcd + upstream kube-apiserver + kube-controller-manager + the
#   process-based kubelet), kubectl, helm, and echo-basic (the Gateway API conformance
#   suite's backend, which the kubelet runs for its image), coredns (the suite's UDP backend,
#   built from its own module in testenv/coredns with the plugins its Corefile names), and
#   the Gateway API conformance
#   suite itself as a test binary (gwconf.test) with its standard-channel CRDs and base
#   manifests next to it (../gateway-api/), for e2e/gateway-conformance.sh.
# Built once per machine into ${PORTICO_CACHE:-$HOME/.cache/portico}/testenv-<key>/bin,
# where <key> hashes go.mod, go.sum, the Go sources, this script and `go version`;
# later runs reuse the binaries. Logs go to stderr; the LAST stdout line is the bin directory.
# Exits non-zero, saying why, if the build cannot be done (a missing tool is built, never skipped).
#
# Environment:
#   PORTICO_CACHE         cache root (default $HOME/.cache/portico)
#   PORTICO_GOMODCACHE    Go module cache (default $PORTICO_CACHE/go/mod)
#   PORTICO_GOCACHE       Go build cache  (default $PORTICO_CACHE/go/build)
#   PORTICO_TESTENV_FORCE=1  rebuild even if the cached binaries exist
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src="$here/testenv"
cache="${PORTICO_CACHE:-$HOME/.cache/portico}"

log() { echo "build-testenv: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null || die "no 'go' on PATH; install Go >= 1.26 (scripts/install-deps.sh)"
export GOTOOLCHAIN=local
gover=$(go env GOVERSION) || die "'go env GOVERSION' failed"
need_minor=$(sed -n 's/^go 1\.\([0-9]*\).*/\1/p' "$src/go.mod")
have_minor=$(echo "$gover" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
[[ -n $have_minor && $have_minor -ge $need_minor ]] ||
  die "$gover is too old: e2e/testenv/go.mod needs go 1.$need_minor or newer"

key=$( {
  cat "$src/go.mod" "$src/go.sum" "$src/coredns/go.mod" "$src/coredns/go.sum" "$0"
  (cd "$src" && find . -name '*.go' -type f | LC_ALL=C sort | xargs sha256sum)
  echo "$gover $(go env GOOS GOARCH)"
} | sha256sum | cut -c1-16)
out="$cache/testenv-$key"
bins=(kube-testenv kubectl helm echo-basic coredns gwconf.test)

have_all() { for b in "${bins[@]}"; do [[ -x $out/bin/$b ]] || return 1; done; }

mkdir -p "$cache"
# One builder at a time per cache (parallel test sessions wait for the first).
exec 9>"$cache/.testenv.lock"
if command -v flock >/dev/null; then flock 9; fi

if [[ ${PORTICO_TESTENV_FORCE:-0} != 1 ]] && have_all; then
  touch "$out"
  log "reusing $out/bin"
  echo "$out/bin"
  exit 0
fi

export GOMODCACHE="${PORTICO_GOMODCACHE:-$cache/go/mod}"
export GOCACHE="${PORTICO_GOCACHE:-$cache/go/build}"
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

cd "$src"
ver() { go list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' "$1"; }
log "downloading modules into $GOMODCACHE"
t0=$(date +%s)
for m in . coredns; do
  (cd "$m" && go mod download) >&2 || die "go mod download in $m failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
done
kver=$(ver k8s.io/kubernetes)       # e.g. v1.37.2
hver=$(ver helm.sh/helm/v4)         # e.g. v4.3.2
kmaj=$(echo "$kver" | sed 's/^v\([0-9]*\)\..*/\1/')
kmin=$(echo "$kver" | sed 's/^v[0-9]*\.\([0-9]*\)\..*/\1/')
t1=$(date +%s)
log "modules ready in $((t1 - t0))s; building kube-testenv, kubectl $kver, helm $hver, echo-basic with $gover (GOCACHE=$GOCACHE)"

ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=$kver -X $p.gitMajor=$kmaj -X $p.gitMinor=$kmin -X $p.gitTreeState=clean"
done
# helm v4 reads the Kubernetes version it assumes (lint, template) from client-go's module
# version in the build info, so only its own version needs stamping.
ld+=" -X helm.sh/helm/v4/internal/version.version=$hver -X helm.sh/helm/v4/internal/version.gitTreeState=clean"

tmp="$cache/.testenv-$key.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/bin"
trap 'rm -rf "$tmp"' EXIT
# One invocation: the programs share most of their packages in the build cache.
if ! nice -n 10 go build -trimpath -ldflags="$ld" -o "$tmp/bin/" \
  ./cmd/kube-testenv k8s.io/kubernetes/cmd/kubectl helm.sh/helm/v4/cmd/helm \
  sigs.k8s.io/gateway-api/conformance/echo-basic >&2; then
  die "go build failed (see the compiler output above)"
fi
# coredns is a module of its own: its dependency graph must not move the pinned Kubernetes one.
(cd coredns && nice -n 10 go build -trimpath -ldflags="-s -w" -o "$tmp/bin/coredns" .) >&2 ||
  die "go build of coredns failed (see the compiler output above)"
t2=$(date +%s)
# The conformance suite is a test binary (its tests are the product); ~2.5 min cold.
gwver=$(ver sigs.k8s.io/gateway-api/conformance)
if ! nice -n 10 go test -c -trimpath -ldflags="-s -w" -o "$tmp/bin/gwconf.test" sigs.k8s.io/gateway-api/conformance >&2; then
  die "go test -c sigs.k8s.io/gateway-api/conformance failed (see the compiler output above)"
fi
gwdir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)
gwconfdir=$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api/conformance)
mkdir -p "$tmp/gateway-api/crd"
cp "$gwdir"/config/crd/standard/*.yaml "$tmp/gateway-api/crd/"
cp "$gwconfdir/base/manifests.yaml" "$tmp/gateway-api/base-manifests.yaml"
chmod -R u+w "$tmp/gateway-api"
t3=$(date +%s)
log "conformance suite $gwver built in $((t3 - t2))s"
for b in "${bins[@]}"; do [[ -x $tmp/bin/$b ]] || die "go build did not produce $b"; done
"$tmp/bin/kubectl" version --client >&2 || die "built kubectl does not run"
"$tmp/bin/helm" version --short >&2 || die "built helm does not run"
printf 'kubernetes=%s\nhelm=%s\netcd=%s\ngateway-api=%s\ncoredns=%s\ngo=%s\n' "$kver" "$hver" "$(ver go.etcd.io/etcd/server/v3)" "$gwver" "$(cd coredns && ver github.com/coredns/coredns)" "$gover" >"$tmp/VERSIONS"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
log "built in $((t3 - t1))s (modules $((t1 - t0))s): $out/bin"
# Drop binaries of other keys unused for a day (a concurrent test run may still use a recent
# one); the module and build caches stay for incremental rebuilds.
touch "$out"
for old in "$cache"/testenv-*; do
  [[ $old != "$out" && -d $old && -n $(find "$old" -maxdepth 0 -mmin +1440) ]] && rm -rf "$old" && log "removed stale $old"
done
echo "$out/bin"
