/* Matrix-product rows of `vklars bench ops`: the fc layer of ResNet-18 at the
 * batch (512 -> 10 and 512 -> 100, forward and backward), a 1024^3 product in
 * each transpose mode (to set beside the GEMM baseline), and a Barlow Twins
 * cross-correlation scaled down to 512x512 from a batch of 256 (Z1^T Z2). */
#include <stdio.h>

#include "bench/bench_internal.h"
#include "ops/matmul.h"

typedef struct mm_case {
  vkl_matmul_shape sh;
  vkl_buf a, b, c, bias, da, db, dbias;
  int with_bias;
} mm_case;

static vkl_status record_forward(vkl_cmd *cmd, void *user) {
  mm_case *m = user;
  return vkl_matmul_forward(cmd, m->c, m->a, m->b, m->with_bias ? &m->bias : NULL, &m->sh);
}

static vkl_status record_backward(vkl_cmd *cmd, void *user) {
  mm_case *m = user;
  return vkl_matmul_backward(cmd, &m->da, &m->db, m->with_bias ? &m->dbias : NULL, m->c, m->a, m->b,
                             &m->sh, 1);
}

/* Allocates the case's tensors; gradients only when `backward`. */
static vkl_status mm_alloc(bench *b, mm_case *m, int backward) {
  uint64_t R = m->sh.rows, C = m->sh.cols, I = m->sh.inner;
  vkl_status st;
  if ((st = bench_tensor(b, R * I, &m->a)) || (st = bench_tensor(b, I * C, &m->b)) ||
      (st = bench_tensor(b, R * C, &m->c)) || (st = bench_tensor(b, C, &m->bias)))
    return st;
  if (backward && ((st = bench_tensor(b, R * I, &m->da)) || (st = bench_tensor(b, I * C, &m->db)) ||
                   (st = bench_tensor(b, C, &m->dbias))))
    return st;
  return VKL_OK;
}

static double gemm_flops(const vkl_matmul_shape *sh) {
  return 2.0 * sh->rows * sh->cols * (double)sh->inner;
}

vkl_status bench_matmul(bench *b, uint32_t batch) {
  vkl_status st;
  char name[96];
  /* fc: y (batch,K) = x (batch,512) W^T + bias, W (K,512) */
  const uint32_t fc_out[2] = {10, 100};
  for (int i = 0; i < 2; i++) {
    mm_case m = {.sh = {batch, fc_out[i], 512, 0, 1}, .with_bias = 1};
    if ((st = mm_alloc(b, &m, 1))) return st;
    snprintf(name, sizeof name, "matmul fc %ux512 -> %u", batch, fc_out[i]);
    if ((st = bench_row(b, name, VKL_BENCH_GFLOPS, gemm_flops(&m.sh), record_forward, &m)))
      return st;
    /* dx, dW (2 products) and dbias (one add per element of dy) */
    snprintf(name, sizeof name, "matmul fc backward (+=) %ux512 -> %u", batch, fc_out[i]);
    double work = 2 * gemm_flops(&m.sh) + (double)batch * fc_out[i];
    if ((st = bench_row(b, name, VKL_BENCH_GFLOPS, work, record_backward, &m))) return st;
    vkl_arena_reset(b->arena);
  }
  /* 1024^3 in each transpose mode */
  static const char *const mode[4] = {"NN", "TN", "NT", "TT"}; /* op(A), op(B) */
  for (uint32_t t = 0; t < 4; t++) {
    mm_case m = {.sh = {1024, 1024, 1024, t & 1, t >> 1}};
    if ((st = mm_alloc(b, &m, 0))) return st;
    snprintf(name, sizeof name, "matmul 1024x1024x1024 %s", mode[t]);
    if ((st = bench_row(b, name, VKL_BENCH_GFLOPS, gemm_flops(&m.sh), record_forward, &m)))
      return st;
    vkl_arena_reset(b->arena);
  }
  /* Barlow Twins: C (D,D) = Z1^T Z2 over a batch of n, Z1 and Z2 (n,D); the
   * backward gives dZ1 = Z2 dC^T and dZ2 = Z1 dC */
  mm_case m = {.sh = {512, 512, 256, 1, 0}};
  if ((st = mm_alloc(b, &m, 1))) return st;
  if ((st = bench_row(b, "matmul cross-correlation 512x512, batch 256", VKL_BENCH_GFLOPS,
                      gemm_flops(&m.sh), record_forward, &m)))
    return st;
  if ((st = bench_row(b, "matmul cross-corr. backward (+=) 512x512, 256", VKL_BENCH_GFLOPS,
                      2 * gemm_flops(&m.sh), record_backward, &m)))
    return st;
  vkl_arena_reset(b->arena);
  return VKL_OK;
}
