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
 * that scale, plain SGD is not (docs/barlow-twins.md).
 *
 * Across N ranks (data parallelism) each rank merges its own micro-batches;
 * between the passes the ranks add their statistics as raw sums about rank
 * 0's pivots (ops/barlow.h), so every rank finalizes the statistics of the
 * whole global batch, and the loss stays exact over all of B. Each rank's
 * gradient pass then gives its samples' part of the one gradient, which the
 * gradient all-reduce adds up. */
#include <stdlib.h>
#include <string.h>

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

/* Between the passes, N > 1: every rank's statistics into those of the
 * whole batch (see the top of the file). */
static vkl_status sync_ranks(trainer *tr) {
  vkl_dist *dist = tr->cfg->dist;
  uint32_t d = shape(tr).d;
  uint64_t n = vkl_barlow_stats_floats(d), ns = vkl_barlow_sums_count(d);
  vkl_status st = vkl_download(tr->ctx, tr->bt_host_stats, tr->bt_stats, n * 4);
  if (st) return vk_fail(tr, st);
  vkl_barlow_stats_pivots(tr->bt_host_pivots, tr->bt_host_stats, d);
  if (tr->rank) memset(tr->bt_host_pivots, 0, 2ull * d * sizeof *tr->bt_host_pivots);
  /* a sum with rank 0's pivots alone: every rank gets them */
  if ((st = vkl_dist_sum_f64(dist, tr->bt_host_pivots, 2ull * d))) goto dist_fail;
  vkl_barlow_stats_to_sums(tr->bt_host_sums, tr->bt_host_stats, tr->bt_host_pivots, d);
  if ((st = vkl_dist_sum_f64(dist, tr->bt_host_sums, ns))) goto dist_fail;
  vkl_barlow_stats_from_sums(tr->bt_host_stats, tr->bt_host_sums, tr->bt_host_pivots, d);
  if ((st = vkl_upload(tr->ctx, tr->bt_stats, tr->bt_host_stats, n * 4))) return vk_fail(tr, st);
  return VKL_OK;
dist_fail:
  snprintf(tr->err, tr->errlen, "%s", vkl_dist_errmsg(dist));
  return st;
}

static vkl_status make_host_copies(trainer *tr) {
  uint32_t d = shape(tr).d;
  tr->bt_host_stats = malloc(vkl_barlow_stats_floats(d) * sizeof *tr->bt_host_stats);
  tr->bt_host_sums = malloc(vkl_barlow_sums_count(d) * sizeof *tr->bt_host_sums);
  tr->bt_host_pivots = malloc(2ull * d * sizeof *tr->bt_host_pivots);
  if (!tr->bt_host_stats || !tr->bt_host_sums || !tr->bt_host_pivots)
    return vkl_set_error(tr->ctx, VKL_ERR_OUT_OF_HOST_MEMORY,
                         "Barlow Twins: no host memory for the statistics of %u ranks", tr->ranks);
  return VKL_OK;
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
  return tr->ranks > 1 ? make_host_copies(tr) : VKL_OK;
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
  if (tr->ranks > 1) tr->pass[0].sync = sync_ranks;
  return st;
}

void trainer_barlow_teardown(trainer *tr) {
  free(tr->bt_host_stats);
  free(tr->bt_host_sums);
  free(tr->bt_host_pivots);
  vkl_net_destroy(tr->net2);
  vkl_arena_destroy(tr->bt_arena);
}
