#!/usr/bin/env bash
# Runs a command inside a fresh, private network namespace made for the e2e suite:
#   e2e/netns.sh COMMAND [ARGS...]
#
# Why: Kubernetes rejects loopback addresses (127.0.0.0/8) in EndpointSlices, so e2e backends
# need "pod-like" addresses. In the private namespace, lo is up (127.0.0.1 works as usual) and
# the whole pod range ${PORTICO_E2E_POD_CIDR:-10.244.0.0/16} is a *local* route on lo: any
# 10.244.x.y can be bound by a backend and reached by portico, and no packet can leave the
# namespace (it has no other interface). The namespace disappears when COMMAND exits.
#
# The e2e tools are built (or reused) BEFORE entering the namespace, since it has no network;
# their bin directory is exported as PORTICO_TESTENV_BIN. Inside, PORTICO_E2E_NETNS holds the
# pod CIDR (e2e/conftest.py checks it and re-executes pytest through this script otherwise).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cidr=${PORTICO_E2E_POD_CIDR:-10.244.0.0/16}
[[ $# -gt 0 ]] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

if [[ -n ${PORTICO_E2E_NETNS:-} ]]; then exec "$@"; fi   # already inside

if [[ -z ${PORTICO_TESTENV_BIN:-} || ! -x ${PORTICO_TESTENV_BIN:-}/kube-testenv ]]; then
  PORTICO_TESTENV_BIN=$("$here/build-testenv.sh" | tail -n 1) || { echo "netns: e2e/build-testenv.sh failed" >&2; exit 1; }
fi
export PORTICO_TESTENV_BIN

command -v unshare >/dev/null || { echo "netns: 'unshare' (util-linux) is missing: run scripts/install-deps.sh" >&2; exit 1; }
command -v ip >/dev/null || { echo "netns: 'ip' (iproute2) is missing: run scripts/install-deps.sh" >&2; exit 1; }
flags=(--net)
# Not root: a user namespace maps us to root inside, so we may configure the private namespace.
[[ $(id -u) == 0 ]] || flags+=(--map-root-user)

exec unshare "${flags[@]}" -- bash -c '
  set -e
  cidr=$1; shift
  ip link set lo up
  ip route add local "$cidr" dev lo
  export PORTICO_E2E_NETNS=$cidr
  exec "$@"
' netns "$cidr" "$@"
