#!/usr/bin/env bash
# Configures and builds Portico into build/ (Ninja, ccache when present).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$repo" -B "$repo/build" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$repo/build" -j "$(nproc)" "$@"
