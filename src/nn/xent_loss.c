/* The classification loss on a device (see xent_loss.h). */
#include "nn/xent_loss.h"

#include <stdlib.h>

#include "ops/softmax_xent.h"

struct vkl_xent_loss {
  vkl_ctx *ctx;
  vkl_xent_loss_config cfg;
  vkl_arena *arena;
  vkl_buf labels, sum, correct, row_stats, workspace;
};

static vkl_softmax_xent_shape shape(const vkl_xent_loss_config *cfg) {
  return (vkl_softmax_xent_shape){.N = cfg->micro_batch, .K = cfg->classes};
}

/* The buffers' sizes in bytes, in allocation order: labels, sum, correct,
 * row statistics (training only), workspace. */
static void sizes(const vkl_xent_loss_config *cfg, uint64_t b[5]) {
  vkl_softmax_xent_shape s = shape(cfg);
  b[0] = cfg->micro_batch * 4ull;
  b[1] = 4;
  b[2] = 8;
  b[3] = cfg->inference ? 0 : 8ull * cfg->micro_batch;
  b[4] = vkl_softmax_xent_workspace_floats(&s) * 4;
}

uint64_t vkl_xent_loss_bytes(const vkl_xent_loss_config *cfg) {
  uint64_t b[5], total = 0;
  sizes(cfg, b);
  for (int i = 0; i < 5; i++) total += b[i] + 256; /* each with its alignment slack */
  return total;
}

vkl_status vkl_xent_loss_create(vkl_ctx *ctx, const vkl_xent_loss_config *cfg,
                                vkl_xent_loss **out) {
  *out = NULL;
  if (!cfg->micro_batch || !cfg->classes)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT,
                         "cross-entropy loss: micro-batch %u, %u classes (both must be > 0)",
                         cfg->micro_batch, cfg->classes);
  vkl_xent_loss *l = calloc(1, sizeof *l);
  if (!l) return vkl_set_error(ctx, VKL_ERR_OUT_OF_HOST_MEMORY, "cross-entropy loss");
  l->ctx = ctx;
  l->cfg = *cfg;
  uint64_t b[5];
  sizes(cfg, b);
  vkl_buf *dst[5] = {&l->labels, &l->sum, &l->correct, &l->row_stats, &l->workspace};
  vkl_status st =
      vkl_arena_create(ctx, VKL_MEM_DEVICE, vkl_xent_loss_bytes(cfg), "loss", &l->arena);
  for (int i = 0; i < 5 && !st; i++)
    if (b[i]) st = vkl_arena_alloc(l->arena, b[i], dst[i]);
  if (st) {
    vkl_xent_loss_destroy(l);
    return st;
  }
  *out = l;
  return VKL_OK;
}

void vkl_xent_loss_destroy(vkl_xent_loss *l) {
  if (!l) return;
  vkl_arena_destroy(l->arena);
  free(l);
}

uint64_t vkl_xent_loss_device_bytes(const vkl_xent_loss *l) {
  return vkl_arena_capacity(l->arena);
}

vkl_buf vkl_xent_loss_labels(const vkl_xent_loss *l) {
  return l->labels;
}
vkl_buf vkl_xent_loss_sum(const vkl_xent_loss *l) {
  return l->sum;
}
vkl_buf vkl_xent_loss_correct(const vkl_xent_loss *l) {
  return l->correct;
}

vkl_status vkl_xent_loss_record_forward(vkl_xent_loss *l, vkl_cmd *cmd, vkl_buf logits, int first) {
  vkl_softmax_xent_shape s = shape(&l->cfg);
  return vkl_softmax_xent_forward(cmd, l->sum, &l->correct, l->cfg.inference ? NULL : &l->row_stats,
                                  logits, l->labels, &s, VKL_REDUCTION_SUM, l->cfg.label_smoothing,
                                  !first, l->workspace);
}

vkl_status vkl_xent_loss_record_backward(vkl_xent_loss *l, vkl_cmd *cmd, vkl_buf dlogits,
                                         vkl_buf logits, float grad_scale) {
  if (l->cfg.inference)
    return vkl_set_error(l->ctx, VKL_ERR_INVALID_ARGUMENT,
                         "cross-entropy loss: an inference loss records no backward pass");
  vkl_softmax_xent_shape s = shape(&l->cfg);
  return vkl_softmax_xent_backward(cmd, dlogits, logits, l->labels, &l->row_stats, &s,
                                   VKL_REDUCTION_SUM, l->cfg.label_smoothing, grad_scale, 0);
}
