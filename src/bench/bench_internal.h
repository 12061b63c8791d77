/* Shared by the op benchmark's files: one bench_<family>.c per op family,
 * each adding its rows through bench_row, called from vkl_bench_ops. */
#ifndef VKLARS_BENCH_INTERNAL_H
#define VKLARS_BENCH_INTERNAL_H

#include "bench/bench.h"
#include "nn/model.h"
#include "optim/optim_step.h"

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

/* A vec4 copy of x into y (same size, a multiple of 16 bytes), in windows
 * that each fit one binding: the memory baseline. user is a bench_copy. */
typedef struct bench_copy {
  vkl_buf x, y;
} bench_copy;
vkl_status bench_record_copy(vkl_cmd *cmd, void *user);

/* CIFAR ResNet-18's parameter tensors (62, 11.17M floats, 4-aligned), from
 * the model builder; returns the count (0 on failure). */
uint32_t bench_resnet18_params(vkl_param_desc *out, uint32_t max, uint64_t *floats);

/* The op families of `bench ops`, one file each. */
vkl_status bench_elementwise(bench *b, uint32_t batch);
vkl_status bench_pool(bench *b, uint32_t batch);
vkl_status bench_matmul(bench *b, uint32_t batch);
vkl_status bench_batchnorm(bench *b, uint32_t batch);
vkl_status bench_conv2d(bench *b, uint32_t batch);
vkl_status bench_xent(bench *b, uint32_t batch);
/* `bench optim`: the optimizer step over ResNet-18's parameters. */
vkl_status bench_optim(bench *b);

#endif
