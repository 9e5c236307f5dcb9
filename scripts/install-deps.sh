#!/usr/bin/env bash
# Installs everything Portico needs to build and test on Debian bookworm.
# Idempotent: packages already present are not reinstalled; safe to run on every build.
# Needs root (or sudo) the first time only.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# Build and runtime libraries (Debian bookworm; Boost 1.74 because cpprestsdk pins it).
BUILD_PKGS=(build-essential cmake ninja-build pkg-config ccache
  libboost-dev libcpprest-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev
  doctest-dev libssl-dev libre2-dev libhiredis-dev libcrypt-dev)
# Test tooling: real clients and servers used by integration tests and benchmarks.
TEST_PKGS=(curl wrk openssl python3 python3-venv python3-pip procps iproute2 util-linux
  nginx-light libnginx-mod-stream haproxy redis-server golang-go git)
# (libnginx-mod-stream: nginx as a TCP proxy, the layer-4 peer of bench/l4.sh.)

want=("${BUILD_PKGS[@]}")
[[ ${1:-} == "--build-only" ]] || want+=("${TEST_PKGS[@]}")

missing=()
for p in "${want[@]}"; do
  # golang-go is only needed when no Go toolchain is on PATH already.
  if [[ $p == golang-go ]] && command -v go >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # nginx and haproxy are benchmark peers only: never let the packages start system services.
  $SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  $SUDO rm -f /usr/sbin/policy-rc.d
fi

if [[ ${1:-} != "--build-only" ]]; then
  # Python test tooling, pinned, in a venv inside the build folder (ignored by git).
  venv="$here/build/venv"
  if [[ ! -x $venv/bin/python ]] || ! cmp -s "$here/requirements-test.txt" "$venv/.requirements"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements-test.txt"
    cp "$here/requirements-test.txt" "$venv/.requirements"
  fi
fi
