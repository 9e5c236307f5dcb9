#!/usr/bin/env bash
# Runs Portico's libFuzzer targets (fuzz/*_fuzz.cc) for a given time each, one at a time.
#
#   scripts/fuzz.sh TARGET|all [SECONDS]      (default 60 s per target)
#   scripts/fuzz.sh list
# Targets: request_head router jwt cidr base64 config.
#
# Installs clang-14 (scripts/install-fuzz-deps.sh), builds build-fuzz/ with clang,
# libFuzzer, ASan and UBSan, then fuzzes each target starting from its seeds in
# fuzz/corpus/TARGET (read only) and its working corpus build-fuzz/corpus/TARGET (kept
# between runs, not in git). Crashes, leaks, timeouts and OOMs land in
# build-fuzz/findings/TARGET/. Prints one line per target: executions, coverage (edges),
# features, corpus size and findings; exits 1 if any target found something.
#
# A finding: reproduce with `build-fuzz/fuzz/fuzz_TARGET FILE`, shrink it with
# `build-fuzz/fuzz/fuzz_TARGET -minimize_crash=1 -runs=10000 FILE`, then add the minimized
# file to fuzz/corpus/TARGET/ as crash-<what> so that CI replays it (fuzz_corpus:TARGET).
#
# Environment: FUZZ_NICE (default 15), FUZZ_JOBS (build jobs, default 2), FUZZ_ARGS (extra
# libFuzzer flags, e.g. "-fork=1 -ignore_crashes=1" to keep going after a crash).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
ALL=(request_head router jwt cidr base64 config)
target=${1:-}
seconds=${2:-60}
if [[ -z $target || $target == -h || $target == --help ]]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
if [[ $target == list ]]; then printf '%s\n' "${ALL[@]}"; exit 0; fi
if [[ $target == all ]]; then
  targets=("${ALL[@]}")
else
  [[ " ${ALL[*]} " == *" $target "* ]] || { echo "fuzz.sh: unknown target $target (try: list)" >&2; exit 2; }
  targets=("$target")
fi
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a number" >&2; exit 2; }

nice=(nice -n "${FUZZ_NICE:-15}")
scripts/install-fuzz-deps.sh
export CCACHE_NOHASHDIR=true
if [[ ! -f build-fuzz/build.ninja ]]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DPORTICO_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
"${nice[@]}" cmake --build build-fuzz -j "${FUZZ_JOBS:-2}" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
printf '%-13s %8s %12s %8s %8s %8s %9s\n' target seconds executions cov ft corpus findings
status=0
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t
  findings=build-fuzz/findings/$t
  log=build-fuzz/logs/$t.log
  mkdir -p "$work" "$findings" "$(dirname "$log")"
  dict=()
  [[ -f fuzz/dict/$t.dict ]] && dict=(-dict="fuzz/dict/$t.dict")
  before=$(find "$findings" -type f | wc -l)
  # -timeout: one input taking over 10 s is a finding; -rss_limit_mb: so is 2 GB of memory.
  # shellcheck disable=SC2086
  "${nice[@]}" "build-fuzz/fuzz/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -max_len=8192 -artifact_prefix="$findings/" "${dict[@]}" \
    ${FUZZ_ARGS:-} "$work" "fuzz/corpus/$t" >"$log" 2>&1 || true
  after=$(find "$findings" -type f | wc -l)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  [[ -n $execs ]] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
  new=$((after - before))
  printf '%-13s %8s %12s %8s %8s %8s %9s\n' "$t" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$new"
  if ((new > 0)) || grep -qE '^==[0-9]+==ERROR|^SUMMARY: (Address|Undefined|Leak)|fuzz property failed|deadly signal' "$log"; then
    status=1
    echo "  findings in $findings/ (log: $log):" >&2
    grep -E 'ERROR:|SUMMARY:|fuzz property failed|runtime error' "$log" | head -5 | sed 's/^/    /' >&2
  fi
done
exit $status
