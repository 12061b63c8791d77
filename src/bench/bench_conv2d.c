/* conv2d rows of `vklars bench ops`: forward, backward-data and
 * backward-weight on the ResNet-18 CIFAR layer shapes, FLOPs =
 * 2*N*K*P*Q*C*R*S for each pass (no bias: the layers are followed by batch
 * norm). Backward passes write (accumulate = 0). */
#include <stdio.h>

#include "bench/bench_internal.h"
#include "ops/conv2d.h"

typedef struct conv_bench {
  vkl_conv2d_shape sh;
  vkl_buf x, w, y, dx, dw, ws;
} conv_bench;

static vkl_status record_forward(vkl_cmd *cmd, void *user) {
  conv_bench *c = user;
  return vkl_conv2d_forward(cmd, c->y, c->x, c->w, NULL, &c->sh, c->ws);
}

static vkl_status record_backward_data(vkl_cmd *cmd, void *user) {
  conv_bench *c = user;
  return vkl_conv2d_backward_data(cmd, c->dx, c->y, c->w, &c->sh, 0, c->ws);
}

static vkl_status record_backward_weight(vkl_cmd *cmd, void *user) {
  conv_bench *c = user;
  return vkl_conv2d_backward_weight(cmd, c->dw, NULL, c->y, c->x, &c->sh, 0, c->ws);
}

vkl_status bench_conv2d(bench *b, uint32_t batch) {
  static const struct {
    uint32_t C, H, K, R, stride, pad;
  } layers[] = {
      {3, 32, 64, 3, 1, 1},    /* stem */
      {64, 32, 64, 3, 1, 1},   /* layer1 */
      {64, 32, 128, 3, 2, 1},  /* layer2.0.conv1 */
      {128, 16, 128, 3, 1, 1}, /* layer2 */
      {64, 32, 128, 1, 2, 0},  /* layer2.0.downsample */
      {256, 8, 256, 3, 1, 1},  /* layer3 */
      {512, 4, 512, 3, 1, 1},  /* layer4 */
  };
  static const char *pass_names[3] = {"fwd", "bwd-data", "bwd-weight"};
  static const vkl_bench_record_fn passes[3] = {record_forward, record_backward_data,
                                                record_backward_weight};
  vkl_status st;
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
    conv_bench c = {.sh = {.N = batch,
                           .C = layers[i].C,
                           .H = layers[i].H,
                           .W = layers[i].H,
                           .K = layers[i].K,
                           .R = layers[i].R,
                           .S = layers[i].R,
                           .stride_h = layers[i].stride,
                           .stride_w = layers[i].stride,
                           .pad_h = layers[i].pad,
                           .pad_w = layers[i].pad}};
    if (vkl_conv2d_shape_finish(&c.sh))
      return vkl_set_error(b->ctx, VKL_ERR_INVALID_ARGUMENT, "bench conv2d: bad layer %zu", i);
    const vkl_conv2d_shape *s = &c.sh;
    uint64_t nx = (uint64_t)s->N * s->C * s->H * s->W, nw = (uint64_t)s->K * s->C * s->R * s->S;
    uint64_t ny = (uint64_t)s->N * s->K * s->P * s->Q;
    if ((st = bench_tensor(b, nx, &c.x)) || (st = bench_tensor(b, nw, &c.w)) ||
        (st = bench_tensor(b, ny, &c.y)) ||
        (st = vkl_arena_alloc(b->arena, nx * sizeof(float), &c.dx)) ||
        (st = vkl_arena_alloc(b->arena, nw * sizeof(float), &c.dw)) ||
        (st = vkl_arena_alloc(b->arena, vkl_conv2d_workspace_floats(s) * sizeof(float), &c.ws)))
      return st;
    double flops = 2.0 * s->N * s->K * s->P * s->Q * s->C * s->R * s->S;
    for (int p = 0; p < 3; p++) {
      char name[96];
      snprintf(name, sizeof name, "conv2d %s %u->%u %ux%u s%u %ux%u", pass_names[p], s->C, s->K,
               s->R, s->S, s->stride_h, s->H, s->W);
      if ((st = bench_row(b, name, VKL_BENCH_GFLOPS, flops, passes[p], &c))) return st;
    }
    vkl_arena_reset(b->arena);
  }
  return VKL_OK;
}
