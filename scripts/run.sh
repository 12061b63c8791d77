#!/usr/bin/env bash
# Installs what is missing, builds vklars (Release, in build-release/) and
# runs the main job. Until training lands, the main job lists the Vulkan
# devices vklars can use and the one it picks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
vkl_ensure_packages "${VKL_BUILD_PACKAGES[@]}"

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DVKLARS_BUILD_TESTS=OFF >/dev/null
cmake --build build-release -j "$jobs" >/dev/null
exec build-release/vklars devices "$@"
