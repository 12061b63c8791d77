/*
 * Softmax cross-entropy reference: logits (N,K), labels (N) -> loss, top-1/top-5
 * counts, dlogits (N,K). Each row of the logits is one sample. The double reference
 * first, then the recording of softmax_xent_fwd.comp and softmax_xent_bwd.comp.
 */
#include "ops/softmax_xent.h"
#include "vk/vk_tuning.h"

#include <math.h>
#include <stddef.h>

#include "ops/op_util.h"
#include "softmax_xent_bwd.h"
#include "softmax_xent_fwd.h"

/* log sum_k exp(z_k), shifted by the row maximum so every exp is <= 1. */
static double logsumexp(const double *z, uint32_t K) {
  double m = z[0];
  for (uint32_t k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
  double sum = 0.0;
  for (uint32_t k = 0; k < K; k++) sum += exp(z[k] - m);
  return m + log(sum);
}

/* Number of classes ranked ahead of label y (see the tie rule in softmax_xent.h);
 * UINT32_MAX when the row holds a NaN or an infinity, so that it is never a hit. */
static uint32_t rank_of(const double *z, uint32_t K, uint32_t y) {
  uint32_t ahead = 0;
  for (uint32_t j = 0; j < K; j++) {
    if (!isfinite(z[j])) return UINT32_MAX;
    ahead += z[j] > z[y] || (z[j] == z[y] && j < y);
  }
  return ahead;
}

void vkl_softmax_xent_forward_ref(double *loss, uint32_t *top1, uint32_t *top5,
                                  const double *logits, const uint32_t *labels,
                                  const vkl_softmax_xent_shape *sh, vkl_reduction reduction,
                                  double label_smoothing) {
  double total = 0.0;
  uint32_t hit1 = 0, hit5 = 0;
  for (uint32_t i = 0; i < sh->N; i++) {
    if (labels[i] == VKL_XENT_IGNORE) continue; /* padding: no loss, not counted */
    const double *z = logits + (size_t)i * sh->K;
    double zsum = 0.0;
    for (uint32_t k = 0; k < sh->K; k++) zsum += z[k];
    total += logsumexp(z, sh->K) - (1.0 - label_smoothing) * z[labels[i]] -
             label_smoothing / sh->K * zsum;
    uint32_t rank = rank_of(z, sh->K, labels[i]);
    hit1 += rank < 1;
    hit5 += rank < 5;
  }
  *loss = reduction == VKL_REDUCTION_MEAN ? total / sh->N : total;
  if (top1) *top1 = hit1;
  if (top5) *top5 = hit5;
}

/* 1. d loss_i / d z_ik = p_ik - t_ik (softmax's Jacobian contracted with -t / p, using
 *    sum_k t_k = 1), t_ik = (1 - eps) [k == label_i] + eps / K
 * 2. the reduction multiplies by 1/N (MEAN) or 1 (SUM), the caller's scale by scale. */
void vkl_softmax_xent_backward_ref(double *dlogits, const double *logits, const uint32_t *labels,
                                   const vkl_softmax_xent_shape *sh, vkl_reduction reduction,
                                   double label_smoothing, double scale, int accumulate) {
  double f = reduction == VKL_REDUCTION_MEAN ? scale / sh->N : scale;
  for (uint32_t i = 0; i < sh->N; i++) {
    const double *z = logits + (size_t)i * sh->K;
    double *dz = dlogits + (size_t)i * sh->K;
    double lse = logsumexp(z, sh->K);
    int ignored = labels[i] == VKL_XENT_IGNORE; /* padding: zero gradient */
    for (uint32_t k = 0; k < sh->K; k++) {
      double t = (k == labels[i] ? 1.0 - label_smoothing : 0.0) + label_smoothing / sh->K;
      double g = ignored ? 0.0 : f * (exp(z[k] - lse) - t);
      dz[k] = accumulate ? dz[k] + g : g;
    }
  }
}

/* ---- device recording ---- */

/* Invocations per workgroup under the CPU geometry (measured on lavapipe); the
 * GPU geometry's is vkl_tuning.reduce_wg, at least 64 so that the workspace's
 * bound (vkl_softmax_xent_workspace_floats) holds. */
#define XENT_WG 64

static uint32_t xent_wg(vkl_cmd *cmd) {
  const vkl_tuning *t = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  return t->geometry == VKL_GEOMETRY_GPU && t->reduce_wg > XENT_WG ? t->reduce_wg : XENT_WG;
}

/* The forward kernel for the context's tuning (shaders/common/reduce_sync.h). */
static vkl_shader_id xent_fwd_shader(vkl_cmd *cmd) {
  const vkl_tuning *t = vkl_ctx_tuning(vkl_cmd_ctx(cmd));
  if (t->memory_model)
    return t->subgroup_reduce ? VKL_SHADER_softmax_xent_fwd_mm_sg : VKL_SHADER_softmax_xent_fwd_mm;
  return t->subgroup_reduce ? VKL_SHADER_softmax_xent_fwd_sg : VKL_SHADER_softmax_xent_fwd;
}

/* Invocations per row (see vkl_softmax_xent_shape.lanes). On lavapipe one invocation
 * a row measured fastest at 4096x1000 (forward 0.60x the copy baseline, against 0.34x
 * with 8: each barrier costs more than the row's split saves). GPUs want more
 * invocations than rows of a small batch, and 8 lanes reading 8 x 16 contiguous bytes. */
static uint32_t xent_tpr(vkl_cmd *cmd, const vkl_softmax_xent_shape *sh) {
  if (sh->lanes) return sh->lanes;
  return sh->K >= 64 ? vkl_ctx_tuning(vkl_cmd_ctx(cmd))->xent_lanes : 1;
}

static uint32_t xent_groups(const vkl_softmax_xent_shape *sh, uint32_t wg, uint32_t tpr) {
  return vkl_div_up(sh->N, wg / tpr);
}

/* Sized for the most workgroups any context can make: the smallest workgroup
 * (XENT_WG) and, for the automatic choice, the most lanes it picks (8, K >= 64). */
uint64_t vkl_softmax_xent_workspace_floats(const vkl_softmax_xent_shape *sh) {
  uint32_t most = sh->K >= 64 ? 8 : 1;
  return 1 + 3ull * xent_groups(sh, XENT_WG, sh->lanes ? sh->lanes : most);
}

static vkl_status check_settings(vkl_cmd *cmd, const char *op, const vkl_softmax_xent_shape *sh,
                                 vkl_reduction reduction, float label_smoothing) {
  vkl_ctx *ctx = vkl_cmd_ctx(cmd);
  if (!sh->N || !sh->K)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "%s: empty shape (N = %u, K = %u)", op,
                         sh->N, sh->K);
  if (reduction != VKL_REDUCTION_MEAN && reduction != VKL_REDUCTION_SUM)
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "%s: unknown reduction %d", op,
                         (int)reduction);
  if (sh->lanes && (sh->lanes > 8 || (sh->lanes & (sh->lanes - 1))))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "%s: lanes = %u, not 0, 1, 2, 4 or 8", op,
                         sh->lanes);
  if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f))
    return vkl_set_error(ctx, VKL_ERR_INVALID_ARGUMENT, "%s: label_smoothing %g is outside [0, 1]",
                         op, (double)label_smoothing);
  return VKL_OK;
}

vkl_status vkl_softmax_xent_forward(vkl_cmd *cmd, vkl_buf loss, const vkl_buf *correct,
                                    const vkl_buf *row_stats, vkl_buf logits, vkl_buf labels,
                                    const vkl_softmax_xent_shape *sh, vkl_reduction reduction,
                                    float label_smoothing, int accumulate, vkl_buf workspace) {
  const char *op = "softmax_xent forward";
  vkl_status st;
  if ((st = check_settings(cmd, op, sh, reduction, label_smoothing))) return st;
  uint64_t ws_words = vkl_softmax_xent_workspace_floats(sh);
  if ((st = vkl_op_check_tensor(cmd, op, "loss", loss, 1)) ||
      (correct && (st = vkl_op_check_tensor(cmd, op, "correct", *correct, 2))) ||
      (row_stats && (st = vkl_op_check_tensor(cmd, op, "row_stats", *row_stats, 2ull * sh->N))) ||
      (st = vkl_op_check_tensor(cmd, op, "logits", logits, (uint64_t)sh->N * sh->K)) ||
      (st = vkl_op_check_tensor(cmd, op, "labels", labels, sh->N)) ||
      (st = vkl_op_check_tensor(cmd, op, "workspace", workspace, ws_words)))
    return st;
  /* checked before anything is recorded: the counter fill comes before the dispatch */
  uint32_t align = vkl_ctx_device(vkl_cmd_ctx(cmd))->min_storage_offset_alignment;
  if (workspace.offset % (align > 4 ? align : 4))
    return vkl_set_error(vkl_cmd_ctx(cmd), VKL_ERR_INVALID_ARGUMENT,
                         "%s: workspace offset %llu is not a multiple of %u", op,
                         (unsigned long long)workspace.offset, align > 4 ? align : 4);
  uint32_t wg = xent_wg(cmd), tpr = xent_tpr(cmd, sh), groups = xent_groups(sh, wg, tpr);
  vkl_softmax_xent_fwd_spec spec = {.wg_size = wg, .tpr = tpr};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, xent_fwd_shader(cmd), &spec, sizeof spec, &p))) return st;
  vkl_softmax_xent_fwd_push push = {
      .N = sh->N,
      .K = sh->K,
      .groups = groups,
      .keep = (float)(1.0 - (double)label_smoothing),
      .smooth_k = (float)((double)label_smoothing / sh->K),
      .divisor = reduction == VKL_REDUCTION_MEAN ? (float)sh->N : 1.0f,
      .accumulate = accumulate ? 1u : 0u,
      .has_correct = correct ? 1u : 0u,
      .has_stats = row_stats ? 1u : 0u,
  };
  /* Absent outputs: loss stands in for their bindings; the shader never touches them. */
  vkl_buf bufs[6] = {
      logits, labels, workspace, loss, correct ? *correct : loss, row_stats ? *row_stats : loss};
  vkl_cmd_barrier(cmd); /* logits, labels written by earlier work; outputs, workspace used by it */
  int mm = vkl_ctx_tuning(vkl_cmd_ctx(cmd))->memory_model != 0;
  if (groups > 1 && mm) {
    vkl_cmd_fill_u32(cmd, vkl_buf_sub(workspace, 0, sizeof(uint32_t)), 0);
    vkl_cmd_barrier(cmd); /* the zeroed counter before the dispatch's atomics (RAW, WAW) */
  }
  if ((st = vkl_cmd_dispatch(cmd, p, bufs, 6, &push, sizeof push, groups, 1, 1))) return st;
  if (groups == 1 || mm) return VKL_OK; /* the result is written */
  spec.finish = 1;
  if ((st = vkl_op_pipeline(cmd, xent_fwd_shader(cmd), &spec, sizeof spec, &p))) return st;
  vkl_cmd_barrier(cmd); /* the groups' partials before the second dispatch adds them (RAW) */
  return vkl_cmd_dispatch(cmd, p, bufs, 6, &push, sizeof push, 1, 1, 1);
}

vkl_status vkl_softmax_xent_backward(vkl_cmd *cmd, vkl_buf dlogits, vkl_buf logits, vkl_buf labels,
                                     const vkl_buf *row_stats, const vkl_softmax_xent_shape *sh,
                                     vkl_reduction reduction, float label_smoothing, float scale,
                                     int accumulate) {
  const char *op = "softmax_xent backward";
  vkl_status st;
  if ((st = check_settings(cmd, op, sh, reduction, label_smoothing))) return st;
  uint64_t nk = (uint64_t)sh->N * sh->K;
  if ((st = vkl_op_check_tensor(cmd, op, "dlogits", dlogits, nk)) ||
      (st = vkl_op_check_tensor(cmd, op, "logits", logits, nk)) ||
      (st = vkl_op_check_tensor(cmd, op, "labels", labels, sh->N)) ||
      (row_stats && (st = vkl_op_check_tensor(cmd, op, "row_stats", *row_stats, 2ull * sh->N))))
    return st;
  uint32_t tpr = xent_tpr(cmd, sh);
  vkl_softmax_xent_bwd_spec spec = {.wg_size = XENT_WG, .tpr = tpr, .saved = row_stats ? 1u : 0u};
  const vkl_pipeline *p;
  if ((st = vkl_op_pipeline(cmd, VKL_SHADER_softmax_xent_bwd, &spec, sizeof spec, &p))) return st;
  double eps = label_smoothing;
  vkl_softmax_xent_bwd_push push = {
      .N = sh->N,
      .K = sh->K,
      .factor = (float)(reduction == VKL_REDUCTION_MEAN ? (double)scale / sh->N : scale),
      .target_label = (float)(1.0 - eps + eps / sh->K),
      .target_other = (float)(eps / sh->K),
      .accumulate = accumulate ? 1u : 0u,
  };
  /* Without row_stats, labels stand in for its binding; the shader never reads it. */
  vkl_buf bufs[4] = {logits, labels, dlogits, row_stats ? *row_stats : labels};
  vkl_cmd_barrier(cmd); /* logits, labels, row_stats written by earlier work; dlogits used by it */
  return vkl_cmd_dispatch(cmd, p, bufs, 4, &push, sizeof push, xent_groups(sh, XENT_WG, tpr), 1, 1);
}
