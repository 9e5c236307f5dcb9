#!/usr/bin/env bash
# Installs what the fuzzing and sanitizer lanes need on top of scripts/install-deps.sh:
# clang-14 with its compiler-rt (libFuzzer, ASan, UBSan, TSan runtimes and
# FuzzedDataProvider.h), and llvm-14 for llvm-symbolizer (readable sanitizer stacks).
# Debian bookworm packages only. Idempotent; needs root (or sudo) the first time only.
# Used by scripts/fuzz.sh and scripts/sanitize.sh; the GCC regression run of the fuzz
# corpora in scripts/test.sh needs none of this.
set -euo pipefail

PKGS=(clang-14 libclang-rt-14-dev llvm-14)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-fuzz-deps: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
