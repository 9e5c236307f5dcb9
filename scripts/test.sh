#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this and nothing else):
# dependencies, build, unit tests (CTest), integration tests against the real portico
# process, and e2e tests against a real kube-apiserver + etcd built from official Go
# modules. Any failing step fails the run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

step "dependencies"
scripts/install-deps.sh
step "build"
scripts/build.sh
step "unit tests"
ctest --test-dir build --output-on-failure -j "$(nproc)"
step "integration tests"
build/venv/bin/python -m pytest test/integration -q
step "e2e control plane (kube-apiserver, etcd, kubectl, helm from Go modules; cached)"
e2e/build-testenv.sh >/dev/null
step "e2e tests"
build/venv/bin/python -m pytest e2e -q
step "Gateway API conformance: the official suite (v1.6.3), GATEWAY-HTTP profile, on a fresh cluster"
# Any failing test fails the step; the suite's report stays in build/gateway-conformance/.
e2e/gateway-conformance.sh >build/gateway-conformance.log 2>&1 ||
  { grep -E -- "--- FAIL|Error:|Messages:" build/gateway-conformance.log | head -60; exit 1; }
grep -E "^    --- (PASS|FAIL)" build/gateway-conformance.log | awk '{print $2}' | sort | uniq -c
sed -n '/^profiles:/,$p' build/gateway-conformance/report.yaml | grep -E "result|Failed|Passed|Skipped|summary"
step "ASan+UBSan: router and policy unit tests, fuzz corpora (build-asan, a second build)"
# The untrusted-input parsers under the sanitizers, cheap enough for every run; the full
# lanes (scripts/sanitize.sh asan|tsan) are a whole extra build each: see README.
ASAN_TARGETS="router_tests policy_tests fuzz_router_corpus fuzz_jwt_corpus fuzz_cidr_corpus fuzz_base64_corpus" \
  SANITIZE_JOBS="$(nproc)" SANITIZE_NICE=0 scripts/sanitize.sh asan
step "done"
