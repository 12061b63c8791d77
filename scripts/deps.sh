# Sourced by scripts/test.sh and scripts/run.sh: the Debian packages vklars
# needs, and their installation when missing.
#   vkl_ensure_packages PKG...   installs what is missing with apt-get when
#                                running as root on Debian; otherwise prints
#                                the exact list and exits 2.

# Build and run: compiler, CMake, GLSL compiler, Vulkan loader and headers,
# Mesa's drivers (lavapipe runs Vulkan on the CPU where there is no GPU),
# zlib and stb for the data readers, the default data set (Fashion-MNIST),
# and gnuplot (without X) that `vklars report` and `schedule --plot` run to
# draw their PNGs.
VKL_BUILD_PACKAGES=(gcc libc6-dev make cmake pkg-config glslc libvulkan-dev
  mesa-vulkan-drivers libcjson-dev libinih-dev zlib1g-dev libstb-dev dataset-fashion-mnist
  gnuplot-nox)
# Fuzzing (scripts/fuzz.sh, VKLARS_FUZZ=ON): clang and its runtime libraries
# (libFuzzer, ASan, UBSan), which clang-14 only recommends.
VKL_FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)
# Tests add Criterion, spirv-val, the Khronos validation layer and the
# fuzzing packages (CI replays the fuzzers' seed corpora); gnuplot-nox again
# by name, as test_report draws and decodes real plots with it.
VKL_TEST_PACKAGES=("${VKL_BUILD_PACKAGES[@]}" libcriterion-dev spirv-tools
  vulkan-validationlayers "${VKL_FUZZ_PACKAGES[@]}" gnuplot-nox)

# Data parallelism (VKLARS_WITH_MPI, the mpi test stage): Open MPI's headers,
# library and launcher. MPICH (libmpich-dev, mpich) works as well.
VKL_MPI_PACKAGES=(libopenmpi-dev openmpi-bin)

vkl_missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

vkl_ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "vklars: not a Debian system; make sure the equivalents of these Debian packages are installed:" >&2
    echo "  $*" >&2
    command -v cmake >/dev/null && command -v glslc >/dev/null && return 0
    exit 2
  fi
  local missing
  missing=$(vkl_missing_packages "$@" | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "vklars: installing $missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing >/dev/null
    missing=$(vkl_missing_packages "$@" | tr '\n' ' ')
    [ -z "${missing// /}" ] && return 0
    echo "vklars: error: apt-get did not install: $missing" >&2
    exit 1
  fi
  echo "vklars: error: missing Debian packages. Install them with:" >&2
  echo "  sudo apt-get install $missing" >&2
  exit 2
}
