#!/usr/bin/env bash
# Builds hymask (installing missing packages) and runs the whole test suite.
# Tests that need ../shared/data skip when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --tests
cd build
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 900
