/* Barlow Twins in the trainer: two views per sample, the exact
 * whole-batch loss, in two passes over the global batch (see
 * trainer_internal.h and ops/barlow.h).
 *
 * Pass 1 (statistics), per micro-batch: both views forward through the
 * backbone and projector (batch norm on the micro-batch's statistics,
 * running statistics updated), then their embeddings' statistics merge
 * into the loss's d x d state. Between the passes: C, the loss and
 * G = dL/dC. Pass 2 (gradients), per micro-batch: both views forward
 * again (the same pixels, as the loader derives them from the seed, the
 * epoch and the sample, and the same batch-norm statistics; running
 * statistics left alone), the closed-form per-sample gradient of the
 * embeddings, and both backward passes, which add into one gradient.
 * Nothing grows with B: one micro-batch's activations per view and the
 * d x d statistics.
 *
 * The gradient is that of L itself (the loss of the whole batch, not a
 * mean over samples). The authors' PyTorch runs average the gradient over
 * their GPUs, which scales it by 1/GPUs; LARS's trust ratio is blind to
 * that scale, plain SGD is not (docs/barlow-twins.md). */
#include <stdlib.h>

#include "ops/barlow.h"
#include "train/trainer_internal.h"

static vkl_barlow_shape shape(const trainer *tr) {
  float lambda = tr->cfg->bt_lambda > 0 ? tr->cfg->bt_lambda : VKL_BARLOW_LAMBDA_DEFAULT;
  nn_value z = tr->model->values[tr->model->logits]; /* the embedding */
  return (vkl_barlow_shape){
      .m = tr->m, .d = z.c * z.h * z.w, .lambda = lambda, .eps = VKL_BARLOW_EPS_DEFAULT};
}

/* The arena's buffers: statistics, loss, workspace, labels (m of them). */
static uint64_t arena_bytes(const trainer *tr, uint32_t m, uint64_t *stats, uint64_t *ws) {
  vkl_barlow_shape s = shape(tr);
  *stats = vkl_barlow_stats_floats(s.d) * 4;
  *ws = vkl_barlow_workspace_floats(&s) * 4;
  return *stats + *ws + m * 4ull + 16 + 4 * 256;
}

void trainer_barlow_fit(const trainer *tr, vkl_net_fit *fit) {
  uint64_t stats, ws;
  fit->views = 2;
  /* the labels' 4 bytes a sample are left out: the micro-batch is not known yet */
  fit->extra_bytes = arena_bytes(tr, 0, &stats, &ws);
  fit->extra_largest = stats;
}

vkl_status trainer_barlow_create(trainer *tr) {
  uint64_t stats, ws, labels = tr->m * 4ull;
  uint64_t bytes = arena_bytes(tr, tr->m, &stats, &ws);
  vkl_net_config nc = {.micro_batch = tr->m, .share_state = tr->net};
  vkl_status st;
  if ((st = vkl_net_create(tr->ctx, tr->model, &nc, &tr->net2)) ||
      (st = vkl_arena_create(tr->ctx, VKL_MEM_DEVICE, bytes, "Barlow Twins statistics",
                             &tr->bt_arena)) ||
      (st = vkl_arena_alloc(tr->bt_arena, stats, &tr->bt_stats)) ||
      (st = vkl_arena_alloc(tr->bt_arena, 16, &tr->bt_loss)) ||
      (st = vkl_arena_alloc(tr->bt_arena, ws, &tr->bt_workspace)) ||
      (st = vkl_arena_alloc(tr->bt_arena, labels, &tr->bt_labels)))
    return st;
  return VKL_OK;
}

/* Pass 1's program: both views forward, their statistics merged (first:
 * written). */
static vkl_status record_stats(trainer *tr, vkl_cmd *c, int first) {
  vkl_barlow_shape s = shape(tr);
  vkl_status st;
  if (first) trainer_record_bn_save(tr, c);
  if ((st = vkl_net_record_forward(tr->net, c, VKL_NET_TRAIN)) ||
      (st = vkl_net_record_forward(tr->net2, c, VKL_NET_TRAIN)))
    return st;
  return vkl_barlow_stats_merge(c, tr->bt_stats, vkl_net_output(tr->net), vkl_net_output(tr->net2),
                                &s, first, tr->bt_workspace);
}

/* Pass 2's program: both views forward again, the embeddings' gradients,
 * both backward passes (first: the parameter gradients written). */
static vkl_status record_grads(trainer *tr, vkl_cmd *c, int first) {
  vkl_barlow_shape s = shape(tr);
  vkl_status st;
  if ((st = vkl_net_record_forward(tr->net, c, VKL_NET_TRAIN_KEEP_RUNNING)) ||
      (st = vkl_net_record_forward(tr->net2, c, VKL_NET_TRAIN_KEEP_RUNNING)) ||
      (st = vkl_barlow_backward(c, vkl_net_output_grad(tr->net), vkl_net_output_grad(tr->net2),
                                vkl_net_output(tr->net), vkl_net_output(tr->net2), tr->bt_stats, &s,
                                1.0f, 0)) ||
      (st = vkl_net_record_backward(tr->net, c, first)))
    return st;
  return vkl_net_record_backward(tr->net2, c, 0);
}

typedef vkl_status (*program_fn)(trainer *tr, vkl_cmd *c, int first);

static vkl_status record_program(trainer *tr, vkl_cmd **c, program_fn fn, int first) {
  vkl_status st;
  if ((st = vkl_cmd_create(tr->ctx, c)) || (st = vkl_cmd_begin(*c)) || (st = fn(tr, *c, first)))
    return st;
  return vkl_cmd_end(*c);
}

static vkl_status record_finalize(trainer *tr) {
  vkl_barlow_shape s = shape(tr);
  vkl_status st;
  if ((st = vkl_cmd_create(tr->ctx, &tr->pass[0].after)) ||
      (st = vkl_cmd_begin(tr->pass[0].after)) ||
      (st =
           vkl_barlow_finalize(tr->pass[0].after, tr->bt_loss, tr->bt_stats, &s, tr->bt_workspace)))
    return st;
  return vkl_cmd_end(tr->pass[0].after);
}

vkl_status trainer_barlow_record(trainer *tr) {
  vkl_status st = VKL_OK;
  tr->passes = 2;
  for (int f = 0; f < 2 && !st; f++) {
    if (!(st = record_program(tr, &tr->pass[0].micro[f], record_stats, f == 0)))
      st = record_program(tr, &tr->pass[1].micro[f], record_grads, f == 0);
  }
  if (!st) st = record_finalize(tr);
  return st;
}

void trainer_barlow_teardown(trainer *tr) {
  vkl_net_destroy(tr->net2);
  vkl_arena_destroy(tr->bt_arena);
}
