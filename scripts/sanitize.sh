#!/usr/bin/env bash
# Sanitizer lanes (not run in full by CI; see README "Fuzzing and sanitizers").
#
#   scripts/sanitize.sh asan [--unit-only]   ASan+UBSan build (GCC, build-asan/): the unit
#                                            tests and fuzz corpus tests (CTest), then the
#                                            integration suite against build-asan/portico
#   scripts/sanitize.sh tsan                 ThreadSanitizer build (GCC, build-tsan/): the
#                                            unit tests (CTest)
#   scripts/sanitize.sh                      both, asan then tsan
#
# Every sanitizer report of every process (test binaries and each portico the integration
# tests start) is written to build-*/sanitizer-logs/ and fails the run, also when the
# process itself exited 0. UBSan stops at the first report. LSan suppressions:
# scripts/sanitizers/lsan.supp. Environment: SANITIZE_JOBS (build and CTest jobs, default
# 2), SANITIZE_NICE (default 15), TSAN_TESTS (the unit test binaries of the tsan lane,
# default all six), ASAN_TARGETS (build and run only these targets, e.g. "router_tests
# fuzz_jwt_corpus"; implies --unit-only; what scripts/test.sh runs in CI), ASAN_BUILD_DIR.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
lanes=("${1:-asan}")
[[ $# -eq 0 ]] && lanes=(asan tsan)
unit_only=false
[[ ${2:-} == --unit-only ]] && unit_only=true
jobs=${SANITIZE_JOBS:-2}
nice=(nice -n "${SANITIZE_NICE:-15}")
export CCACHE_NOHASHDIR=true
step() { printf '\n=== sanitize: %s (%s)\n' "$1" "$(date +%T)"; }

# Fails if any sanitizer report was written to $1.
check_reports() {
  local dir=$1 reports
  reports=$(find "$dir" -type f -size +0 2>/dev/null | sort)
  if [[ -n $reports ]]; then
    echo "sanitize: sanitizer reports in $dir:" >&2
    for f in $reports; do
      echo "--- $f" >&2
      grep -E 'ERROR|SUMMARY|WARNING: ThreadSanitizer|runtime error' "$f" | head -5 >&2
    done
    return 1
  fi
  echo "sanitize: no sanitizer reports in $dir"
}

run_asan() {
  local dir=${ASAN_BUILD_DIR:-build-asan} logs
  logs=$repo/$dir/sanitizer-logs
  step "asan: configure and build ($dir)"
  if $unit_only; then scripts/install-deps.sh --build-only; else scripts/install-deps.sh; fi
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTICO_SANITIZE=ON \
    -DPORTICO_FUZZ_REGRESSION=ON >/dev/null
  local start=$SECONDS targets=() only=""
  # ASAN_TARGETS: build and run only these (unit test binaries, fuzz_<name>_corpus).
  if [[ -n ${ASAN_TARGETS:-} ]]; then
    read -ra targets <<<"$ASAN_TARGETS"
    local t re=()
    for t in "${targets[@]}"; do
      if [[ $t =~ ^fuzz_(.+)_corpus$ ]]; then re+=("^fuzz_corpus:${BASH_REMATCH[1]}\$"); else re+=("^$t:"); fi
    done
    only=$(IFS='|'; echo "${re[*]}")
    targets=(--target "${targets[@]}")
    unit_only=true  # the integration suite needs the whole build
  fi
  # (set -e does not apply inside a function called with ||: check each step.)
  "${nice[@]}" cmake --build "$dir" -j "$jobs" "${targets[@]}" || { echo "sanitize: asan build failed" >&2; return 1; }
  echo "sanitize: asan build took $((SECONDS - start)) s"
  rm -rf "$logs" && mkdir -p "$logs"
  export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1:log_path=$logs/asan"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
  export LSAN_OPTIONS="suppressions=$repo/scripts/sanitizers/lsan.supp:print_suppressions=0"
  step "asan: unit tests and fuzz corpora (CTest)"
  start=$SECONDS
  local rc=0
  "${nice[@]}" ctest --test-dir "$dir" --output-on-failure -j "$jobs" ${only:+-R "$only"} || rc=1
  echo "sanitize: asan ctest took $((SECONDS - start)) s"
  check_reports "$logs" || rc=1
  if ! $unit_only; then
    step "asan: integration tests against $dir/portico"
    start=$SECONDS
    # test_image_libs checks the release binary's libraries against the runtime image;
    # a sanitized binary links libasan/libubsan by design.
    PORTICO_BIN=$repo/$dir/portico "${nice[@]}" build/venv/bin/python -m pytest test/integration -q \
      --deselect test/integration/test_image_libs.py::test_runtime_stage_installs_every_linked_library || rc=1
    echo "sanitize: asan integration tests took $((SECONDS - start)) s"
    check_reports "$logs" || rc=1
  fi
  return $rc
}

run_tsan() {
  local dir=build-tsan logs
  logs=$repo/$dir/sanitizer-logs
  step "tsan: configure and build the unit tests ($dir)"
  scripts/install-deps.sh --build-only
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTICO_TSAN=ON \
    -DPORTICO_FUZZ_REGRESSION=OFF >/dev/null
  local start=$SECONDS
  local tests=(${TSAN_TESTS:-router_tests http_tests proxy_tests policy_tests upstream_tests controller_tests})
  "${nice[@]}" cmake --build "$dir" -j "$jobs" --target "${tests[@]}" ||
    { echo "sanitize: tsan build failed" >&2; return 1; }
  echo "sanitize: tsan build took $((SECONDS - start)) s"
  rm -rf "$logs" && mkdir -p "$logs"
  export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:history_size=4:log_path=$logs/tsan:suppressions=$repo/scripts/sanitizers/tsan.supp"
  step "tsan: unit tests (CTest)"
  start=$SECONDS
  local rc=0
  local only
  only="^($(IFS='|'; echo "${tests[*]}")):"
  "${nice[@]}" ctest --test-dir "$dir" --output-on-failure -j "$jobs" -R "$only" || rc=1
  echo "sanitize: tsan ctest took $((SECONDS - start)) s"
  check_reports "$logs" || rc=1
  return $rc
}

status=0
for lane in "${lanes[@]}"; do
  case $lane in
    asan) run_asan || status=1 ;;
    tsan) run_tsan || status=1 ;;
    *) echo "usage: scripts/sanitize.sh [asan [--unit-only]|tsan]" >&2; exit 2 ;;
  esac
done
exit $status
