#!/usr/bin/env bash
# vklars on a lent GPU machine, beside PyTorch on the same card, in one
# command of under 10 minutes. Two halves, because that machine is bare (no
# package manager reaches out, no glslc, no Criterion) and this one is not:
#
#   scripts/gpu-bench.sh prepare
#       here, on Debian 12: builds a Release tree with the tests (build-gpu/),
#       packs its binaries into .gpu/payload.tar.xz, and downloads into .gl/
#       the .debs the other machine lacks: the Vulkan loader, and for the
#       tests cJSON, inih, Criterion (with its libraries), the validation
#       layers and spirv-val. Both folders are ignored by git.
#   scripts/gpu-bench.sh run [OUTDIR]
#       there (the device tool's `run`, carrying .gl and .gpu): unpacks the
#       loader into /, everything else under /opt/vklars-deps, then
#         1. the test suite on the GPU's Vulkan driver (every suite except the
#            two that read the Fashion-MNIST package, which stays behind: it
#            is half the carry limit, and they test CPU loaders);
#         2. vklars kernels --json for ResNet-18 (batch 256) and the cnn;
#         3. vklars bench ops --json;
#         4. ResNet-18 training throughput at CIFAR shape (synthetic 3x32x32,
#            batch 256, SGD): a 10-step and a 60-step run, each after a
#            warm-up run that fills the pipeline cache, so that
#            50 x 256 / (train time of 60 - train time of 10) excludes
#            start-up, first steps and evaluation;
#         5. the same model and batch in PyTorch (scripts/gpu_bench_torch.py)
#            in fp32 with TF32 off, TF32, and AMP (bf16 autocast);
#       and writes OUTDIR/gpu-bench.json and OUTDIR/gpu-bench.md (default
#       $OUT, else gpu-bench-out/). A part that fails is recorded as failed
#       and the others still run.
#
# On the device tool:
#   run(command="scripts/gpu-bench.sh run", carry=[".gl", ".gpu"], timeout_s=600)
# GPU_BENCH_STEPS (default 60), GPU_BENCH_BATCH (256), GPU_BENCH_TESTS (a glob
# of suites, default test_*) and GPU_BENCH_OPS (bench ops --only TEXT) shrink
# the runs, e.g. for a try of `run` here on lavapipe.
set -uo pipefail
cd "$(dirname "$0")/.."

PAYLOAD=.gpu/payload.tar.xz
DEPS=/opt/vklars-deps
# Loader packages, unpacked into / as the device tool's notes say.
LOADER_DEBS=(libvulkan1)
# Everything else goes under $DEPS: unpacked into /, older Debian libraries
# could replace the image's own.
EXTRA_DEBS=(vulkan-validationlayers spirv-tools)

die() {
  echo "vklars: error: gpu-bench: $*" >&2
  exit 1
}

# The packages holding the shared libraries the binaries need, glibc's aside.
runtime_packages() {
  ldd "$@" 2>/dev/null | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
    dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null
  done | cut -d: -f1 | sort -u | grep -v -E '^(libc6|libgcc-s1|libstdc\+\+6)$'
}

prepare() {
  source scripts/deps.sh
  vkl_ensure_packages "${VKL_TEST_PACKAGES[@]}"
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DVKLARS_BUILD_TESTS=ON \
    -DVKLARS_WITH_VALIDATION=ON -DVKLARS_SANITIZE=OFF || die "configure failed"
  cmake --build build-gpu -j "$jobs" || die "build failed"
  mkdir -p .gpu .gl
  local bins=(build-gpu/vklars build-gpu/tests/test_*)
  # the tests name the binary and the sources by absolute path: the run
  # links this root to wherever the copy lands
  pwd >.gpu/built-root
  # xz with a 64 MiB dictionary: the test binaries share most of their bytes
  # (the library and the embedded SPIR-V), so they pack to a few MiB
  tar -cf - "${bins[@]}" | xz -9e --lzma2=dict=64MiB >"$PAYLOAD" || die "packing failed"
  local pkgs
  mapfile -t pkgs < <(runtime_packages "${bins[@]}" | grep -v -x -F "${LOADER_DEBS[@]/#/-e}")
  pkgs+=("${EXTRA_DEBS[@]}")
  local o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  mkdir -p /tmp/amd64/partial
  apt-get "${o[@]}" update -q >/dev/null || die "apt-get update failed"
  (cd .gl && apt-get "${o[@]}" download "${LOADER_DEBS[@]}" "${pkgs[@]}") ||
    die "apt-get download failed (${pkgs[*]})"
  echo "${LOADER_DEBS[*]}" >.gl/loader-packages
  echo "gpu-bench: payload $(du -h "$PAYLOAD" | cut -f1), debs $(du -ch .gl/*.deb | tail -1 | cut -f1):"
  echo "  ${LOADER_DEBS[*]} ${pkgs[*]}"
  echo "then: the device tool's run(command=\"scripts/gpu-bench.sh run\", carry=[\".gl\", \".gpu\"])"
}

# ---- the run, on the GPU machine -------------------------------------------

unpack() {
  [ -f "$PAYLOAD" ] || die "no $PAYLOAD: run 'scripts/gpu-bench.sh prepare' first, carry .gpu"
  local loader
  loader=$(cat .gl/loader-packages 2>/dev/null)
  mkdir -p "$DEPS"
  for f in .gl/*.deb; do
    [ -e "$f" ] || continue
    local pkg
    pkg=$(basename "$f" | cut -d_ -f1)
    if [[ " $loader " == *" $pkg "* ]] && [ "$(id -u)" = 0 ]; then
      dpkg -x "$f" / # the loader: where the system looks for it
    else
      dpkg -x "$f" "$DEPS"
    fi
  done
  [ "$(id -u)" = 0 ] && ldconfig
  # only vklars' processes see the carried libraries: PyTorch keeps the image's
  VKL_ENV=(env "LD_LIBRARY_PATH=$DEPS/usr/lib/x86_64-linux-gnu:$DEPS/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    "VK_LAYER_PATH=$DEPS/usr/share/vulkan/explicit_layer.d" "PATH=$DEPS/usr/bin:$PATH")
  tar -xJf "$PAYLOAD" || die "unpacking $PAYLOAD failed"
  local root
  root=$(cat .gpu/built-root)
  if [ "$root" != "$PWD" ] && [ ! -e "$root" ]; then
    mkdir -p "$(dirname "$root")" && ln -s "$PWD" "$root"
  fi
  # no ICD found on a machine whose driver folder is a mount: name it
  if ! "${VKL_ENV[@]}" build-gpu/vklars devices 2>/dev/null | grep -q -i nvidia &&
    [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
    VKL_ENV+=("VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json")
  fi
}

# part NAME COMMAND...: runs it with output in $out/NAME.log, notes its exit
# code and seconds in $out/parts.tsv
part() {
  local name=$1
  shift
  local t0=$SECONDS
  echo "gpu-bench: $name ..." >&2
  "$@" >"$out/$name.log" 2>&1
  local rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >>"$out/parts.tsv"
  [ "$rc" = 0 ] || echo "gpu-bench: $name failed (exit $rc): see $name.log" >&2
  return 0
}

run_tests() {
  local failed=0
  # every suite in parallel, each on its own; their names and results in the log
  ls build-gpu/tests/${GPU_BENCH_TESTS:-test_*} | grep -v -E '/test_data(_loader)?$' |
    "${VKL_ENV[@]}" xargs -P 8 -I{} sh -c '{} --jobs 1 >"$0/$(basename {}).txt" 2>&1; echo "$(basename {}) $?"' \
      "$out/tests" >"$out/tests/results.txt"
  cat "$out/tests/results.txt"
  awk '$2 != 0 {bad = 1} END {exit bad}' "$out/tests/results.txt" || failed=1
  return $failed
}

# The images/s a train run's epoch row reports (its training time only).
train_ips() {
  local steps=$1 dir=$2
  local n=$((GPU_BENCH_BATCH * (GPU_BENCH_STEPS + 8)))
  "${VKL_ENV[@]}" build-gpu/vklars train --data synthetic --image-size 3x32x32 --synthetic-images "$n" \
    --model resnet18 --batch "$GPU_BENCH_BATCH" --micro-batch "$GPU_BENCH_BATCH" --opt sgd \
    --lr 0.1 --epochs 1 --max-steps "$steps" --no-augment --out "$dir" --force >&2 || return 1
  awk -F, 'NR == 2 {print $9}' "$dir/epochs.csv"
}

run_train() {
  local short=10 long=$GPU_BENCH_STEPS
  [ "$long" -gt "$short" ] || short=$((long / 2))
  train_ips "$short" "$out/runs/warm" >/dev/null || return 1 # fills the pipeline cache
  local ips_short ips_long
  ips_short=$(train_ips "$short" "$out/runs/short") || return 1
  ips_long=$(train_ips "$long" "$out/runs/long") || return 1
  python3 - "$short" "$long" "$GPU_BENCH_BATCH" "$ips_short" "$ips_long" <<'EOF' >"$out/train.json"
import json, sys
s, l, b, ips_s, ips_l = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
t_s, t_l = s * b / ips_s, l * b / ips_l
json.dump({"steps": l - s, "batch": b, "images_per_s": (l - s) * b / (t_l - t_s),
           "short": {"steps": s, "images_per_s": ips_s}, "long": {"steps": l, "images_per_s": ips_l}},
          sys.stdout, indent=1)
EOF
}

run() {
  out=${1:-${OUT:-gpu-bench-out}}
  GPU_BENCH_STEPS=${GPU_BENCH_STEPS:-60}
  GPU_BENCH_BATCH=${GPU_BENCH_BATCH:-256}
  mkdir -p "$out/tests" "$out/runs"
  : >"$out/parts.tsv"
  unpack
  "${VKL_ENV[@]}" build-gpu/vklars devices >"$out/devices.txt" 2>&1
  cat "$out/devices.txt" >&2
  part tests run_tests
  part kernels_resnet18 "${VKL_ENV[@]}" sh -c "build-gpu/vklars kernels --model resnet18 --batch $GPU_BENCH_BATCH \
    --data synthetic --image-size 3x32x32 --json >'$out/kernels_resnet18.json'"
  part kernels_cnn "${VKL_ENV[@]}" sh -c "build-gpu/vklars kernels --model cnn --batch $GPU_BENCH_BATCH --json \
    >'$out/kernels_cnn.json'"
  part bench_ops "${VKL_ENV[@]}" sh -c "build-gpu/vklars bench ops --json ${GPU_BENCH_OPS:+--only $GPU_BENCH_OPS} >'$out/bench_ops.json'"
  part train run_train
  part torch python3 scripts/gpu_bench_torch.py --batch "$GPU_BENCH_BATCH" \
    --steps $((GPU_BENCH_STEPS - 10 > 0 ? GPU_BENCH_STEPS - 10 : 1)) --json "$out/torch.json"
  python3 scripts/gpu_bench_report.py "$out" || die "the report failed"
  rm -rf "$out/runs" # checkpoints: not results
  echo "gpu-bench: $out/gpu-bench.json and $out/gpu-bench.md" >&2
  cat "$out/gpu-bench.md"
}

case "${1:-}" in
  prepare) prepare ;;
  run)
    shift
    run "$@"
    ;;
  *)
    sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
