/* Batch-normalisation rows of `vklars bench ops`: training forward,
 * evaluation forward and backward on the ResNet-18 CIFAR activations at the
 * given batch (layer1..layer4: 64x32x32, 128x16x16, 256x8x8, 512x4x4).
 *
 * Bytes are the minimum a memory-bound pass must move, as bench.h defines
 * them: each tensor read once and written once, the per-channel tensors
 * included. The kernels move more: training forward reads x twice
 * (statistics, then normalisation), backward reads dy and x twice (sums,
 * then dx). So 0.67x copy (training forward) or 0.6x copy (backward) means
 * that each of their passes runs at the copy's speed; evaluation's one pass
 * can reach 1x. The backward row writes (accumulate = 0) dx, dgamma, dbeta. */
#include <stdio.h>
#include <stdlib.h>

#include "bench/bench_internal.h"
#include "ops/batchnorm.h"

typedef struct bn_case {
  vkl_batchnorm_shape sh;
  vkl_buf x, y, dy, dx, mean, invstd, rm, rv, gamma, beta, dgamma, dbeta, ws;
} bn_case;

static vkl_status record_train(vkl_cmd *cmd, void *user) {
  bn_case *c = user;
  return vkl_batchnorm_forward_train(cmd, c->y, c->mean, c->invstd, &c->rm, &c->rv, c->x, &c->gamma,
                                     &c->beta, &c->sh, 1e-5f, 0.1f, c->ws);
}

static vkl_status record_eval(vkl_cmd *cmd, void *user) {
  bn_case *c = user;
  return vkl_batchnorm_forward_eval(cmd, c->y, c->x, c->rm, c->rv, &c->gamma, &c->beta, &c->sh,
                                    1e-5f);
}

static vkl_status record_backward(vkl_cmd *cmd, void *user) {
  bn_case *c = user;
  return vkl_batchnorm_backward(cmd, &c->dx, &c->dgamma, &c->dbeta, c->dy, c->x, c->mean, c->invstd,
                                &c->gamma, &c->sh, 0, c->ws);
}

static vkl_status bench_shape(bench *b, vkl_batchnorm_shape sh) {
  vkl_status st;
  bn_case c = {.sh = sh};
  uint64_t n = (uint64_t)sh.N * sh.C * sh.H * sh.W, C = sh.C;
  if ((st = bench_tensor(b, n, &c.x)) || (st = bench_tensor(b, n, &c.y)) ||
      (st = bench_tensor(b, n, &c.dy)) || (st = bench_tensor(b, n, &c.dx)) ||
      (st = bench_tensor(b, C, &c.mean)) || (st = bench_tensor(b, C, &c.invstd)) ||
      (st = bench_tensor(b, C, &c.rm)) || (st = bench_tensor(b, C, &c.rv)) ||
      (st = bench_tensor(b, C, &c.gamma)) || (st = bench_tensor(b, C, &c.beta)) ||
      (st = bench_tensor(b, C, &c.dgamma)) || (st = bench_tensor(b, C, &c.dbeta)) ||
      (st = bench_tensor(b, vkl_batchnorm_workspace_floats(&sh), &c.ws)))
    return st;
  /* a positive running variance, so evaluation computes no NaN */
  float *ones = malloc(C * sizeof *ones);
  if (!ones)
    return vkl_set_error(b->ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "bench: %llu floats",
                         (unsigned long long)C);
  for (uint64_t i = 0; i < C; i++) ones[i] = 1.0f;
  st = vkl_upload(b->ctx, c.rv, ones, C * sizeof *ones);
  free(ones);
  if (st) return st;
  double f = sizeof(float), tn = (double)n * f, tc = (double)C * f;
  char name[96];
  snprintf(name, sizeof name, "batchnorm train fwd %ux%ux%ux%u", sh.N, sh.C, sh.H, sh.W);
  /* x read, y written; gamma, beta read; mean, invstd written; running stats read and written */
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 2 * tn + 8 * tc, record_train, &c))) return st;
  snprintf(name, sizeof name, "batchnorm eval fwd %ux%ux%ux%u", sh.N, sh.C, sh.H, sh.W);
  /* x read, y written; running stats, gamma, beta read */
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 2 * tn + 4 * tc, record_eval, &c))) return st;
  snprintf(name, sizeof name, "batchnorm backward %ux%ux%ux%u", sh.N, sh.C, sh.H, sh.W);
  /* dy, x read, dx written; mean, invstd, gamma read; dgamma, dbeta written */
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 3 * tn + 5 * tc, record_backward, &c))) return st;
  vkl_arena_reset(b->arena);
  return VKL_OK;
}

vkl_status bench_batchnorm(bench *b, uint32_t batch) {
  const vkl_batchnorm_shape shapes[] = {
      {batch, 64, 32, 32}, {batch, 128, 16, 16}, {batch, 256, 8, 8}, {batch, 512, 4, 4}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    vkl_status st = bench_shape(b, shapes[i]);
    if (st) return st;
  }
  return VKL_OK;
}
