/* Benchmarks: timing recorded work with timestamp queries, and the op
 * benchmark behind `vklars bench ops`.
 *
 * Every rate is reported beside two baselines timed in the same run, since
 * the machines we compare on are noisy: a GEMM with M = N = K = 1024 for
 * compute-bound ops (register-blocked, shaders/gemm_baseline.comp, on the CPU
 * geometry; shared-memory tiled, gemm_baseline_tiled.comp, on the GPU one), and
 * a vec4 copy over 128 MiB for memory-bound ones. Bytes count every tensor
 * read plus every tensor written once; FLOPs count a multiply-add as 2. */
#ifndef VKLARS_BENCH_H
#define VKLARS_BENCH_H

#include "vk/vk.h"

/* Records the work to time into cmd (ops record their own barriers). */
typedef vkl_status (*vkl_bench_record_fn)(vkl_cmd *cmd, void *user);

/* Records `warmup + repeats` copies of the work, each in a timestamp region,
 * runs them and returns the median time of the last `repeats`, in ns. */
vkl_status vkl_bench_median_ns(vkl_ctx *ctx, vkl_bench_record_fn record, void *user,
                               uint32_t warmup, uint32_t repeats, double *median_ns);

typedef enum vkl_bench_unit { VKL_BENCH_GFLOPS = 0, VKL_BENCH_GBS } vkl_bench_unit;

typedef struct vkl_bench_row {
  char name[96];
  vkl_bench_unit unit;
  double ms;      /* median time */
  double rate;    /* GFLOP/s or GB/s */
  double vs_base; /* rate over the baseline of the same unit */
} vkl_bench_row;

typedef struct vkl_bench_report {
  vkl_bench_row rows[128];
  uint32_t count;
  double gemm_gflops; /* baseline: GEMM 1024^3 */
  double copy_gbs;    /* baseline: vec4 copy of 128 MiB (read + write) */
} vkl_bench_report;

typedef struct vkl_bench_config {
  uint32_t batch;   /* 0: 64 */
  uint32_t repeats; /* 0: 5, after one warm-up */
  /* Called after each row, e.g. to show progress; may be NULL. */
  void (*on_row)(void *user, const vkl_bench_row *row);
  void *user;
  /* Times only the rows whose names contain this substring (the baselines
   * always run, and the optimizer bench's copies); NULL: every row. */
  const char *only;
} vkl_bench_config;

/* Times each op on ResNet-18 CIFAR layer shapes, beside the baselines. */
vkl_status vkl_bench_ops(vkl_ctx *ctx, const vkl_bench_config *cfg, vkl_bench_report *out);
/* Times the optimizer step over ResNet-18's parameters; each step row
 * follows a copy of the same bytes, and its vs_base is copy time / step
 * time (>= 0.5 means the step takes at most twice the copy). */
vkl_status vkl_bench_optim(vkl_ctx *ctx, const vkl_bench_config *cfg, vkl_bench_report *out);

#endif
