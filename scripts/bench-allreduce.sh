#!/usr/bin/env bash
# Prices data parallelism's gradient all-reduce: what a step waits for it
# beyond its own compute, against the step itself, for ResNet-18 (11.2M
# parameters) on RANKS ranks (default 2; on lavapipe they share the CPU and
# its one device), then projects the reduction onto 4 and 8 GPUs joined at
# 100 Gbit/s from the measured bytes and bucket count.
#
#   scripts/bench-allreduce.sh [BUILD_DIR] [REPEATS]
#
# BUILD_DIR must be built with MPI (default build-mpi; configured and built
# here, Release, when missing). Each repeat is one `mpiexec -n RANKS vklars
# train` of STEPS steps on synthetic 3x32x32 images; vklars prints, at the
# end, the median over its steps of the all-reduce's exposed time (from
# the first bucket's arrival on the host to the merged statistics: the
# downloads, the sums, the uploads' staging, a slower peer) and of the step
# (submission to submission). Each repeat also runs the baseline: one
# bucket, downloaded after the whole backward pass (no overlap with
# compute). Medians of those over the repeats are compared. Knobs: MODEL, BATCH, MICRO, STEPS, RANKS, BUCKET_MIB, and
# MPIEXEC_FLAGS (default --oversubscribe for Open MPI).
#
# The projection, for N GPUs of one node each, a ring all-reduce over the
# network (bandwidth BW, 100 Gbit/s = 12.5 GB/s, latency 5 us a message):
#   net   = 2 (N-1)/N S / BW + 2 (N-1) buckets x 5 us
#   pcie  = S / PCIE (download and upload of the staging, PCIE 25 GB/s, each
#           bucket's download overlapped with the previous bucket's sum, so
#           one bucket's download is exposed, plus the whole upload)
#   total = net + bucket / PCIE + S / PCIE
# with S the gradient's bytes. The goal is total below the last micro-batch's
# compute at B/N >= 2K.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-mpi}
repeats=${2:-3}
model=${MODEL:-resnet18} batch=${BATCH:-32} micro=${MICRO:-8} steps=${STEPS:-5}
ranks=${RANKS:-2}
if [ ! -x "$build/vklars" ]; then
  source scripts/deps.sh
  vkl_ensure_packages "${VKL_BUILD_PACKAGES[@]}" "${VKL_MPI_PACKAGES[@]}"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVKLARS_BUILD_TESTS=OFF \
    -DVKLARS_WITH_MPI=ON >/dev/null
  cmake --build "$build" -j "$(nproc)" >/dev/null
fi
mpiexec=$(command -v mpiexec || command -v mpirun) ||
  { echo "vklars: error: no mpiexec (install openmpi-bin)" >&2; exit 1; }
flags=${MPIEXEC_FLAGS-}
if [ -z "${MPIEXEC_FLAGS+set}" ] && "$mpiexec" --version 2>&1 | grep -q "Open MPI"; then
  flags=--oversubscribe
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ -n "${BUCKET_MIB:-}" ] && export VKLARS_ALLREDUCE_BUCKET_MIB=$BUCKET_MIB
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { # $1: log; the environment picks the buckets
  # shellcheck disable=SC2086
  "$mpiexec" -n "$ranks" $flags "$build/vklars" train --data synthetic \
    --synthetic-images $((batch * steps)) --image-size 3x32x32 --model "$model" \
    --batch "$batch" --micro-batch "$micro" --epochs 1 --max-steps "$steps" --no-augment \
    --threads 1 --eval-every never --opt lars --lr 0.1 --schedule constant \
    >"$1" 2>&1 || { cat "$1" >&2; exit 1; }
  grep "vklars: all-reduce:" "$1"
}
lines=() whole=()
for r in $(seq "$repeats"); do
  line=$(run "$tmp/run$r.log")
  echo "repeat $r, buckets: ${line#vklars: }" >&2
  lines+=("$line")
  # the baseline, in the same repeat: one bucket, downloaded after the whole backward
  line=$(VKLARS_ALLREDUCE_BUCKET_MIB=100000 run "$tmp/whole$r.log")
  echo "repeat $r, one bucket: ${line#vklars: }" >&2
  whole+=("$line")
done
python3 - "$model" "$batch" "$micro" "$ranks" "${#lines[@]}" "${lines[@]}" "${whole[@]}" <<'PY'
import re, statistics, sys
model, batch, micro, ranks, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
pat = re.compile(r"all-reduce: ([0-9.]+) MiB a step in ([0-9]+) buckets?; median ([0-9.]+) ms "
                 r"a step beyond the compute, of a ([0-9.]+) ms step")
def summary(lines):
    runs = [pat.search(l).groups() for l in lines]
    return (float(runs[0][0]), int(runs[0][1]), statistics.median(float(r[2]) for r in runs),
            statistics.median(float(r[3]) for r in runs))
mib, buckets, exposed, step = summary(sys.argv[6:6 + n])
_, _, exposed1, step1 = summary(sys.argv[6 + n:])
print(f"{model}, batch {batch} over {ranks} ranks in micro-batches of {micro}, {mib:.1f} MiB a "
      f"step (medians of {n}):")
print(f"  {buckets} buckets, each summed once the backward finishes it: the all-reduce adds "
      f"{exposed:.1f} ms to a {step:.0f} ms step ({100 * exposed / step:.2f}%)")
print(f"  1 bucket after the whole backward (the baseline): {exposed1:.1f} ms to a {step1:.0f} ms "
      f"step ({100 * exposed1 / step1:.2f}%); buckets / baseline = {exposed / exposed1:.2f}")
S = mib * 1048576  # the gradient and the running statistics (< 0.1% of ResNet-18's bytes)
bw, pcie, lat = 12.5e9, 25e9, 5e-6
bucket = S / buckets
for n in (4, 8):
    net = 2 * (n - 1) / n * S / bw + 2 * (n - 1) * buckets * lat
    total = net + bucket / pcie + S / pcie
    print(f"projection, {n} GPUs at 100 Gbit/s: network {1e3 * net:.1f} ms + staging "
          f"{1e3 * (bucket + S) / pcie:.1f} ms = {1e3 * total:.1f} ms a step")
PY
