/*
 * Barlow Twins loss over a whole global batch, exact, with memory that does not grow with
 * the batch: the double reference, and the device ops that merge micro-batch statistics,
 * finalize the loss and write per-sample gradients.
 *
 * The loss (Zbontar et al. 2021, https://arxiv.org/abs/2103.03230, and the official
 * PyTorch code, facebookresearch/barlowtwins): embeddings z1, z2 (B,d) of two views,
 *   zn = BatchNorm1d(affine=False) in training mode of z1 and of z2 separately:
 *        zn_bi = (z_bi - mean_i) / s_i, s_i = sqrt(var_i + eps), var the BIASED batch
 *        variance (divisor B), https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm1d.html
 *   C  = zn1^T zn2 / B (d,d)
 *   L  = sum_i (C_ii - 1)^2 + lambda sum_{i != j} C_ij^2   (lambda = 0.005, eps = 1e-5)
 *
 * Two passes over the global batch B = k micro-batches of m (the last may be smaller):
 *  1. statistics: for each micro-batch, vkl_barlow_stats_merge adds n, mean1, mean2,
 *     M2_1, M2_2 (sums of squared deviations) and the centred cross-product
 *     X = sum_b (z1_b - mean1)(z2_b - mean2)^T into one device buffer, by Chan et al.'s
 *     pairwise merge (delta = mean_b - mean_a, n = n_a + n_b, mean = mean_a + delta n_b / n,
 *     M2 = M2_a + M2_b + delta^2 n_a n_b / n, X = X_a + X_b + (n_a n_b / n) delta1 delta2^T),
 *     which only ever adds centred quantities, on embeddings less a pivot per feature (the
 *     first sample), so fp32 does not cancel even for data with a large common offset.
 * vkl_barlow_finalize then computes C = X / (n s1 s2^T), the loss, G = dL/dC in place of X, and r1,
 * r2 (below).
 *  2. gradients: for each micro-batch again (the backbone recomputes or keeps its
 *     embeddings), vkl_barlow_backward writes dz1, dz2 in closed form.
 * It is exact, not an approximation: the loss depends on the embeddings only through the
 * batch means, variances and X, and the merge computes those of the whole batch (up to
 * fp32 rounding). So is the gradient: its formula below needs only the whole-batch
 * statistics and G. Memory: the statistics buffer is d*d + 10d + 4 floats
 * (vkl_barlow_stats_floats; 64 MiB at d = 4096) and the workspace 4d + 4, whatever B is; X,
 * C and G share the one d*d block.
 * Scope: only this final embedding normalization is exact over B. The backbone's and the
 * projector's own BatchNorm layers normalize over each micro-batch of m, as they would in
 * a data-parallel run without synchronized BN.
 *
 * Gradient, with zn the whole-batch normalized embeddings and
 *   G = dL/dC: G_ii = 2 (C_ii - 1), G_ij = 2 lambda C_ij (i != j),
 *   r1_i = (1/n) sum_j G_ij C_ij, r2_j = (1/n) sum_i G_ij C_ij:
 *   1. dL/dzn1_bi = (1/n) sum_j G_ij zn2_bj = (1/n) (G zn2_b)_i =: dy1_bi, since
 *      C_ij = (1/n) sum_b zn1_bi zn2_bj; likewise dy2_bj = (1/n) (G^T zn1_b)_j.
 *   2. BatchNorm's backward (training mode, biased variance, exact with eps):
 *      dz_b = (1/s) (dy_b - mean_b(dy) - zn_b mean_b(dy zn)); from
 *      d zn_b / d z_a = (1/s) (delta_ab - 1/n - zn_a zn_b / n), using ds/dz_a = zn_a / n.
 *   3. mean_b(dy1) = (1/n) G mean_b(zn2_b) = 0: zn2 is centred over the whole batch.
 *   4. mean_b(dy1_i zn1_bi) = (1/n) sum_j G_ij (1/n) sum_b zn1_bi zn2_bj = r1_i; and
 *      mean_b(dy2_j zn2_bj) = r2_j.
 *   So dL/dz1_b = (1/s1) [(1/n) G zn2_b - zn1_b r1],
 *      dL/dz2_b = (1/s2) [(1/n) G^T zn1_b - zn2_b r2]   (elementwise in the feature).
 */
#ifndef VKLARS_OPS_BARLOW_H
#define VKLARS_OPS_BARLOW_H

#include <stdint.h>

#include "vk/vk.h"

#define VKL_BARLOW_LAMBDA_DEFAULT 0.005f /* the brief's; the official code uses 0.0051 */
#define VKL_BARLOW_EPS_DEFAULT 1e-5f     /* BatchNorm1d's */

/* m: samples of this micro-batch (the last of a batch may be smaller), d: features.
 * lambda and eps are taken as given (zero is a valid lambda; eps must be > 0): start
 * from VKL_BARLOW_LAMBDA_DEFAULT and VKL_BARLOW_EPS_DEFAULT. */
typedef struct vkl_barlow_shape {
  uint32_t m, d;
  float lambda, eps;
} vkl_barlow_shape;

/* loss[0] = L, loss[1] = sum_i (C_ii - 1)^2, loss[2] = sum_{i != j} C_ij^2 (before lambda),
 * from the official formula over the whole batch z1, z2 (B,d) in double: two-pass means
 * and biased variances, C explicitly. dz1, dz2 (B,d) receive dL/dz (each may be NULL).
 * B >= 1, d >= 1. */
void vkl_barlow_loss_ref(double *loss /* (3) */, double *dz1 /* (B,d) or NULL */,
                         double *dz2 /* (B,d) or NULL */, const double *z1 /* (B,d) */,
                         const double *z2 /* (B,d) */, uint32_t B, uint32_t d, double lambda,
                         double eps);

/* The whole-batch statistics the merge computes, in the device buffer's layout
 * (shaders/common/barlow_layout.h; vkl_barlow_stats_floats(d) doubles): n, the pivots
 * (the first sample, as the device picks them), mean1 and mean2 less the pivots, M2_1, M2_2
 * and X; the finalize's fields (r1, r2, 1/s1, 1/s2) are set to 0. Two-pass in double. */
void vkl_barlow_stats_ref(double *stats /* (vkl_barlow_stats_floats(d)) */,
                          const double *z1 /* (B,d) */, const double *z2 /* (B,d) */, uint32_t B,
                          uint32_t d);

/* ---- statistics across processes (data parallelism) ----
 * Each rank merges its own micro-batches into its own statistics, about its own pivots.
 * To merge ranks, each converts its statistics into raw sums about one common pivot P
 * (rank 0's), which simply add across ranks, and the sum converts back:
 *   m' = mean + piv - P,  S1 = n m',  S2 = M2 + n m'^2,  Sx = X + n m1' m2'^T,
 *   and back: mean = S1 / n, M2 = S2 - n mean^2, X = Sx - n mean1 mean2^T.
 * In double, with P a sample of the batch, the subtractions lose nothing fp32 holds.
 * Sums layout (vkl_barlow_sums_count(d) doubles): n, S1_1, S1_2, S2_1, S2_2 (d each),
 * Sx (d,d). */
uint64_t vkl_barlow_sums_count(uint32_t d);
/* The pivots (2d: piv1 then piv2) of a statistics buffer, in double. */
void vkl_barlow_stats_pivots(double *pivots /* (2d) */, const float *stats, uint32_t d);
void vkl_barlow_stats_to_sums(double *sums, const float *stats /* (vkl_barlow_stats_floats) */,
                              const double *pivots /* (2d) P */, uint32_t d);
/* stats (all of it: the finalize's fields 0) from summed sums about P. */
void vkl_barlow_stats_from_sums(float *stats, const double *sums, const double *pivots, uint32_t d);

/* ---- device recording (see ops/op_util.h for the conventions) ---- */

/* Floats of the statistics buffer: d*d + 10d + 4, one binding (so d*d*4 bytes must fit
 * maxStorageBufferRange). Its layout: shaders/common/barlow_layout.h. */
uint64_t vkl_barlow_stats_floats(uint32_t d);

/* Floats of the scratch every op below may use: 4d + 4. */
uint64_t vkl_barlow_workspace_floats(const vkl_barlow_shape *sh);

/* Merges the micro-batch z1, z2 (m,d) into stats (see the top of this file); first = 1
 * writes the statistics of this micro-batch alone and never reads stats (it may hold
 * anything, NaN included). Two dispatches: the means and M2, then X; each sums in a fixed
 * order, so the statistics are bit-identical run to run. */
vkl_status vkl_barlow_stats_merge(vkl_cmd *cmd, vkl_buf stats, vkl_buf z1 /* (m,d) */,
                                  vkl_buf z2 /* (m,d) */, const vkl_barlow_shape *sh, int first,
                                  vkl_buf workspace);

/* After the last merge of a batch: loss[0..2] as vkl_barlow_loss_ref's (float), and in
 * stats G = dL/dC in place of X, r1, r2, 1/s1, 1/s2 for vkl_barlow_backward. sh->m is not
 * used. Two dispatches; the loss is summed in a fixed order (bit-identical run to run). */
vkl_status vkl_barlow_finalize(vkl_cmd *cmd, vkl_buf loss /* (3) */, vkl_buf stats,
                               const vkl_barlow_shape *sh, vkl_buf workspace);

/* dz1, dz2 (m,d) = scale * dL/dz of the micro-batch z1, z2 (m,d) (the same samples that
 * were merged), from finalized stats; accumulate = 1 adds into them. With scale = 1 the
 * micro-batches' gradients together are the gradient of the whole-batch loss. One
 * dispatch; no workspace. */
vkl_status vkl_barlow_backward(vkl_cmd *cmd, vkl_buf dz1 /* (m,d) */, vkl_buf dz2 /* (m,d) */,
                               vkl_buf z1 /* (m,d) */, vkl_buf z2 /* (m,d) */, vkl_buf stats,
                               const vkl_barlow_shape *sh, float scale, int accumulate);

#endif
