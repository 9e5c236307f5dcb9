#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: a load-independent figure for
# comparing two builds on a busy machine (wall-clock benchmarks are bench/peers.sh).
#   bench/instructions.sh [PORTICO_BIN ...]     (default build/portico)
# Each binary runs under valgrind --tool=callgrind with one worker in front of nginx
# (`return 200 "ok"`); after 200 warm-up requests the counters are zeroed, N keep-alive
# requests (default 2000, env N) go through one connection, and the instructions are read
# from the dump. Prints one line per binary: Ir per request. A benchmark, not a test.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
bins=("$@")
((${#bins[@]})) || bins=("$repo/build/portico")
N=${N:-2000}
dir=$(mktemp -d)
up=$((20000 + RANDOM % 10000))
source "$repo/bench/callgrind_common.sh"
callgrind_backend
for bin in "${bins[@]}"; do
  callgrind_count "$bin" false instructions
  out="$dir/cg.out"
  total=0
  for f in "$out".*; do
    ir=$(awk '/^summary:|^totals:/ {print $2; exit}' "$f")
    [[ -n $ir ]] && total=$((total + ir))
  done
  printf '%-40s %8d Ir/request (%d requests)\n' "$bin" $((total / N)) "$N"
done
