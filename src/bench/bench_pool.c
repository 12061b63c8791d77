/* Rows of `vklars bench ops` for ReLU and pooling, on ResNet-18 layer
 * shapes at the configured batch: ReLU on layer1 activations (batch x 64 x
 * 32 x 32), the ImageNet-stem max-pool (3x3 stride 2 pad 1) and a 2x2
 * stride-2 average-pool on the same activations, and the global average
 * pool before the classifier (batch x 512 x 4 x 4). All are memory-bound:
 * bytes count each tensor read once and each written once (a gradient
 * accumulated into is read and written). */
#include <stdio.h>

#include "bench/bench_internal.h"
#include "ops/activation.h"
#include "ops/pool.h"

typedef struct relu_case {
  vkl_buf x, y, dy, dx;
  uint64_t n;
  int accumulate;
} relu_case;

static vkl_status record_relu_forward(vkl_cmd *cmd, void *user) {
  relu_case *c = user;
  return vkl_relu_forward(cmd, c->y, c->x, c->n);
}

static vkl_status record_relu_backward(vkl_cmd *cmd, void *user) {
  relu_case *c = user;
  return vkl_relu_backward(cmd, c->dx, c->dy, c->y, c->n, c->accumulate);
}

static vkl_status bench_relu(bench *b, uint32_t batch) {
  vkl_status st;
  relu_case c = {.n = (uint64_t)batch * 64 * 32 * 32};
  if ((st = bench_tensor(b, c.n, &c.x)) || (st = bench_tensor(b, c.n, &c.y)) ||
      (st = bench_tensor(b, c.n, &c.dy)) || (st = bench_tensor(b, c.n, &c.dx)))
    return st;
  double f = (double)c.n * sizeof(float);
  char name[96];
  snprintf(name, sizeof name, "relu forward %ux64x32x32", batch);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 2 * f, record_relu_forward, &c))) return st;
  snprintf(name, sizeof name, "relu backward %ux64x32x32", batch);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 3 * f, record_relu_backward, &c))) return st;
  c.accumulate = 1;
  snprintf(name, sizeof name, "relu backward (+=) %ux64x32x32", batch);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, 4 * f, record_relu_backward, &c))) return st;
  vkl_arena_reset(b->arena);
  return VKL_OK;
}

typedef struct pool_case {
  vkl_pool2d_shape sh;
  vkl_buf x, y, argmax, dy, dx;
  int accumulate;
} pool_case;

static vkl_status record_maxpool_forward(vkl_cmd *cmd, void *user) {
  pool_case *c = user;
  return vkl_maxpool2d_forward(cmd, c->y, &c->argmax, c->x, &c->sh);
}

static vkl_status record_maxpool_backward(vkl_cmd *cmd, void *user) {
  pool_case *c = user;
  return vkl_maxpool2d_backward(cmd, c->dx, c->dy, c->argmax, &c->sh, c->accumulate);
}

static vkl_status record_avgpool_forward(vkl_cmd *cmd, void *user) {
  pool_case *c = user;
  return vkl_avgpool2d_forward(cmd, c->y, c->x, &c->sh);
}

static vkl_status record_avgpool_backward(vkl_cmd *cmd, void *user) {
  pool_case *c = user;
  return vkl_avgpool2d_backward(cmd, c->dx, c->dy, &c->sh, c->accumulate);
}

static vkl_status record_global_forward(vkl_cmd *cmd, void *user) {
  pool_case *c = user;
  return vkl_global_avgpool_forward(cmd, c->y, c->x, &c->sh);
}

static vkl_status record_global_backward(vkl_cmd *cmd, void *user) {
  pool_case *c = user;
  return vkl_global_avgpool_backward(cmd, c->dx, c->dy, &c->sh, c->accumulate);
}

/* Tensors for one pooling shape. argmax is written by the forward rows,
 * which run before the backward rows read it. */
static vkl_status pool_tensors(bench *b, pool_case *c, int global) {
  vkl_status st;
  uint64_t nx = (uint64_t)c->sh.N * c->sh.C * c->sh.H * c->sh.W;
  uint64_t ny =
      global ? (uint64_t)c->sh.N * c->sh.C : (uint64_t)c->sh.N * c->sh.C * c->sh.P * c->sh.Q;
  if ((st = bench_tensor(b, nx, &c->x)) || (st = bench_tensor(b, ny, &c->y)) ||
      (st = bench_tensor(b, ny, &c->dy)) || (st = bench_tensor(b, nx, &c->dx)) ||
      (st = vkl_arena_alloc(b->arena, ny * sizeof(float), &c->argmax)))
    return st;
  return VKL_OK;
}

static vkl_status pool_rows(bench *b, pool_case *c, const char *what, double fwd_bytes,
                            double bwd_bytes, double acc_extra, vkl_bench_record_fn fwd,
                            vkl_bench_record_fn bwd) {
  vkl_status st;
  char name[96];
  snprintf(name, sizeof name, "%s forward", what);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, fwd_bytes, fwd, c))) return st;
  c->accumulate = 0;
  snprintf(name, sizeof name, "%s backward", what);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, bwd_bytes, bwd, c))) return st;
  c->accumulate = 1;
  snprintf(name, sizeof name, "%s backward (+=)", what);
  if ((st = bench_row(b, name, VKL_BENCH_GBS, bwd_bytes + acc_extra, bwd, c))) return st;
  return VKL_OK;
}

vkl_status bench_pool(bench *b, uint32_t batch) {
  vkl_status st;
  if ((st = bench_relu(b, batch))) return st;
  char what[96];

  /* max-pool 3x3 s2 p1 and avg-pool 2x2 s2 on layer1 activations */
  pool_case c = {.sh = {batch, 64, 32, 32, 3, 3, 2, 2, 1, 1, 0, 0}};
  if (vkl_pool2d_shape_finish(&c.sh))
    return vkl_set_error(b->ctx, VKL_ERR_INVALID_ARGUMENT, "bench: pool shape");
  if ((st = pool_tensors(b, &c, 0))) return st;
  double fx = (double)c.sh.N * c.sh.C * c.sh.H * c.sh.W * sizeof(float);
  double fy = (double)c.sh.N * c.sh.C * c.sh.P * c.sh.Q * sizeof(float);
  snprintf(what, sizeof what, "maxpool 3x3 s2 p1 %ux64x32x32", batch);
  /* forward: x, y, argmax; backward: dy, argmax, dx (the backward's argmax
     comes from the forward rows' runs) */
  if ((st = pool_rows(b, &c, what, fx + 2 * fy, 2 * fy + fx, fx, record_maxpool_forward,
                      record_maxpool_backward)))
    return st;
  vkl_arena_reset(b->arena);

  c = (pool_case){.sh = {batch, 64, 32, 32, 2, 2, 2, 2, 0, 0, 0, 0}};
  if (vkl_pool2d_shape_finish(&c.sh))
    return vkl_set_error(b->ctx, VKL_ERR_INVALID_ARGUMENT, "bench: pool shape");
  if ((st = pool_tensors(b, &c, 0))) return st;
  fy = (double)c.sh.N * c.sh.C * c.sh.P * c.sh.Q * sizeof(float);
  snprintf(what, sizeof what, "avgpool 2x2 s2 %ux64x32x32", batch);
  if ((st = pool_rows(b, &c, what, fx + fy, fy + fx, fx, record_avgpool_forward,
                      record_avgpool_backward)))
    return st;
  vkl_arena_reset(b->arena);

  /* global average pool before the classifier */
  c = (pool_case){.sh = {.N = batch, .C = 512, .H = 4, .W = 4}};
  if ((st = pool_tensors(b, &c, 1))) return st;
  fx = (double)batch * 512 * 16 * sizeof(float);
  fy = (double)batch * 512 * sizeof(float);
  snprintf(what, sizeof what, "global avgpool %ux512x4x4", batch);
  if ((st = pool_rows(b, &c, what, fx + fy, fy + fx, fx, record_global_forward,
                      record_global_backward)))
    return st;
  vkl_arena_reset(b->arena);
  return VKL_OK;
}
