#!/usr/bin/env bash
# Installs what is missing, builds (build/) and runs every test through ctest.
# Exits non-zero on any failure. CI=true makes compiler warnings errors.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
vkl_ensure_packages "${VKL_TEST_PACKAGES[@]}"

start=$(date +%s)
werror=OFF
[ "${CI:-}" = true ] && werror=ON
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKLARS_BUILD_TESTS=ON \
  -DVKLARS_WITH_VALIDATION=ON -DVKLARS_WERROR="$werror"
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"
echo "vklars: all tests passed in $(( $(date +%s) - start )) s"
