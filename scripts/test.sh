#!/usr/bin/env bash
# Installs what is missing, then runs each test stage: a build and every test
# through ctest. Exits non-zero on any failure and names the stage that failed.
# CI=true makes compiler warnings errors.
#
#   scripts/test.sh              all stages, in order
#   scripts/test.sh plain asan   the named ones
#
# Stages (a stage is a function stage_NAME, listed in STAGES):
#   plain  build/       RelWithDebInfo, the validation layer on
#   asan   build-asan/  the same under AddressSanitizer (with LeakSanitizer)
#                       and UndefinedBehaviorSanitizer (VKLARS_SANITIZE=ON);
#                       the sanitizers' options and tests/lsan.supp are in the
#                       tests' ctest environment, so no variable is needed
#   fuzz   build-fuzz/  the libFuzzer harnesses (clang-14, ASan, UBSan); each
#                       replays its generated seed corpus once (scripts/fuzz.sh
#                       NAME SECONDS fuzzes one for longer)
#   mpi    build-mpi/   installs Open MPI, builds with it (VKLARS_WITH_MPI=ON)
#                       and runs the tests labelled mpi: the collectives under
#                       mpiexec -n 3, training under mpiexec -n 2
# The stages before mpi build without MPI (VKLARS_WITH_MPI=OFF), installed or
# not: vklars needs no MPI to build, test and run on one device.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
vkl_ensure_packages "${VKL_TEST_PACKAGES[@]}"

STAGES=(plain asan fuzz mpi)
werror=OFF
[ "${CI:-}" = true ] && werror=ON
jobs=$(nproc 2>/dev/null || echo 2)

# configure, build and run the whole suite in build directory $1, with more
# CMake options after it
build_and_test() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKLARS_BUILD_TESTS=ON \
    -DVKLARS_WITH_VALIDATION=ON -DVKLARS_WERROR="$werror" "$@"
  cmake --build "$dir" -j "$jobs"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs"
}

stage_plain() { build_and_test build -DVKLARS_SANITIZE=OFF -DVKLARS_WITH_MPI=OFF; }
stage_asan() { build_and_test build-asan -DVKLARS_SANITIZE=ON -DVKLARS_WITH_MPI=OFF; }
stage_fuzz() {
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVKLARS_FUZZ=ON -DVKLARS_BUILD_TESTS=OFF -DVKLARS_WERROR="$werror" -DVKLARS_WITH_MPI=OFF
  cmake --build build-fuzz -j "$jobs"
  ctest --test-dir build-fuzz --output-on-failure -j "$jobs"
}

stage_mpi() {
  vkl_ensure_packages "${VKL_MPI_PACKAGES[@]}"
  cmake -S . -B build-mpi -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKLARS_BUILD_TESTS=ON \
    -DVKLARS_WITH_VALIDATION=ON -DVKLARS_WERROR="$werror" -DVKLARS_WITH_MPI=ON
  cmake --build build-mpi -j "$jobs"
  ctest --test-dir build-mpi --output-on-failure -L mpi
}

current=
on_exit() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -n "$current" ]; then
    echo "vklars: error: stage $current failed (exit $rc)" >&2
  fi
}
trap on_exit EXIT

[ $# -gt 0 ] && STAGES=("$@")
for s in "${STAGES[@]}"; do
  if [ "$(type -t "stage_$s")" != function ]; then
    echo "vklars: error: no test stage '$s' (stages: $(declare -F | sed -n 's/^declare -f stage_//p' | paste -sd ' '))" >&2
    exit 2
  fi
done
start=$SECONDS
for s in "${STAGES[@]}"; do
  echo "vklars: stage $s" >&2
  current=$s
  t0=$SECONDS
  "stage_$s"
  current=
  echo "vklars: stage $s passed in $((SECONDS - t0)) s" >&2
done
echo "vklars: all tests passed (${STAGES[*]}) in $((SECONDS - start)) s"
