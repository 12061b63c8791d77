/* Shared by the op benchmark's files: one bench_<family>.c per op family,
 * each adding its rows through bench_row, called from vkl_bench_ops. */
#ifndef VKLARS_BENCH_INTERNAL_H
#define VKLARS_BENCH_INTERNAL_H

#include "bench/bench.h"

typedef struct bench {
  vkl_ctx *ctx;
  vkl_arena *arena; /* reset by vkl_bench_ops after each family */
  const vkl_bench_config *cfg;
  vkl_bench_report *report;
  uint64_t rng;
} bench;

/* A device tensor of n floats from the arena, with pseudo-random values in
 * [-1, 1): timing on zeros can flatter data-dependent kernels. */
vkl_status bench_tensor(bench *b, uint64_t n, vkl_buf *out);

/* Times `record` (median of the configured repeats after one warm-up) and
 * appends a row; `work` is FLOPs (2 per multiply-add) or bytes (each
 * tensor read and written once) per run. */
vkl_status bench_row(bench *b, const char *name, vkl_bench_unit unit, double work,
                     vkl_bench_record_fn record, void *user);

/* The families, in the order they are shown. */
vkl_status bench_elementwise(bench *b, uint32_t batch);
vkl_status bench_conv2d(bench *b, uint32_t batch);

#endif
