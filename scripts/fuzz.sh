#!/usr/bin/env bash
# Runs one libFuzzer harness (fuzz/fuzz_NAME.c) for SECONDS. Builds
# build-fuzz/ first when needed (clang, -DVKLARS_FUZZ=ON: libFuzzer, ASan,
# UBSan), which also writes the seed corpora (build-fuzz/fuzz/seeds/NAME/).
# New inputs go to build-fuzz/corpus/NAME/ (kept between runs), crash, leak,
# timeout and out-of-memory inputs (and slow ones, as slow-unit-*) to
# build-fuzz/crashes/NAME/, the log to
# build-fuzz/logs/NAME.log. Exits non-zero when the harness finds one.
set -euo pipefail
cd "$(dirname "$0")/.."

NAMES=(idx cifar safetensors config image inspect)
declare -A WHAT=(
  [idx]="IDX images and labels, raw and gzip'ed (src/data/read_idx.c)"
  [cifar]="CIFAR-10 and CIFAR-100 binary files (src/data/read_cifar.c)"
  [safetensors]="safetensors checkpoints (src/train/checkpoint.c)"
  [config]="vklars train --config INI files (src/cli/train_command.c)"
  [image]="PNG and JPEG decoding and resizing (src/data/image_codec.c)"
  [inspect]="checkpoint CRC verification and vklars inspect (src/train/checkpoint.c, src/cli/cmd_inspect.c)"
)

usage() {
  cat <<USAGE
usage: scripts/fuzz.sh NAME SECONDS [LIBFUZZER_OPTION...]
       scripts/fuzz.sh --list | --help

Runs the libFuzzer harness fuzz_NAME for SECONDS seconds, building
build-fuzz/ (clang, VKLARS_FUZZ=ON) and its seed corpora when needed.
  corpus   build-fuzz/corpus/NAME/ (grows; seeds in build-fuzz/fuzz/seeds/NAME/)
  crashes  build-fuzz/crashes/NAME/ (reproduce: build-fuzz/fuzz/fuzz_NAME FILE;
           VKLARS_FUZZ_VERBOSE=1 prints what the reader said)
  log      build-fuzz/logs/NAME.log
Extra options go to libFuzzer (e.g. -jobs=2, -max_len=65536). Exits non-zero
when the run finds a crash, leak, timeout or out-of-memory input.
Names: ${NAMES[*]} (--list describes them).
USAGE
}

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  --list)
    for n in "${NAMES[@]}"; do printf '%-12s %s\n' "$n" "${WHAT[$n]}"; done
    exit 0
    ;;
esac
if [ $# -lt 2 ]; then
  usage >&2
  exit 2
fi
name=${1#fuzz_}
secs=$2
shift 2
if [ -z "${WHAT[$name]+set}" ]; then
  echo "vklars: error: unknown fuzzer '$name' (one of: ${NAMES[*]}; scripts/fuzz.sh --list)" >&2
  exit 2
fi
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
  echo "vklars: error: SECONDS must be a positive integer, not '$secs'" >&2
  exit 2
fi

source scripts/deps.sh
vkl_ensure_packages "${VKL_BUILD_PACKAGES[@]}" "${VKL_FUZZ_PACKAGES[@]}"
cc=$(command -v clang-14 || command -v clang || true)
if [ -z "$cc" ]; then
  echo "vklars: error: clang not found (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi

build="build-fuzz"
jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -f "$build/CMakeCache.txt" ]; then
  echo "vklars: configuring $build/ ($cc, VKLARS_FUZZ=ON)" >&2
  cmake -S . -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DVKLARS_FUZZ=ON -DVKLARS_BUILD_TESTS=OFF >/dev/null
fi
echo "vklars: building fuzz_$name and the seed corpora in $build/" >&2
cmake --build "$build" -j "$jobs" --target "fuzz_$name" fuzz_seeds >/dev/null

corpus=$build/corpus/$name
crashes=$build/crashes/$name
seeds=$build/fuzz/seeds/$name
mkdir -p "$corpus" "$crashes" "$build/logs"
start=$build/logs/$name.start
touch "$start"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
echo "vklars: fuzzing $name for $secs s: ${WHAT[$name]}" >&2
set +e
# -timeout: an input taking 30 s is a hang; -rss_limit_mb and
# -malloc_limit_mb: a reader that allocates what a header claims fails
"$build/fuzz/fuzz_$name" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 \
  -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$crashes/" "$@" \
  "$corpus" "$seeds" 2>&1 | tee "$build/logs/$name.log"
rc=${PIPESTATUS[0]}
set -e
# slow-unit-* files are inputs slower than 10 s: reported, not failures
found=$(find "$crashes" -type f -newer "$start" ! -name 'slow-unit-*')
slow=$(find "$crashes" -type f -newer "$start" -name 'slow-unit-*')
rm -f "$start"
if [ -n "$slow" ]; then
  echo "vklars: fuzz_$name: inputs slower than 10 s (not failures):" >&2
  echo "$slow" >&2
fi
if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
  echo "vklars: fuzz_$name found a problem (exit $rc); its inputs:" >&2
  echo "${found:-(none written)}" >&2
  [ "$rc" -ne 0 ] || rc=1
  exit "$rc"
fi
echo "vklars: fuzz_$name: no crash in $secs s (corpus $(find "$corpus" -type f | wc -l) inputs)" >&2
