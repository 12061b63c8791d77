/*
 * Softmax cross-entropy reference over logits z (N,K) with class labels (N) in [0,K),
 * with optional label smoothing, plus top-1 and top-5 correct counts.
 *
 * Per sample i, with p = softmax(z_i) and smoothed target t = (1 - eps) onehot(label_i)
 * + eps / K:
 *   loss_i = -sum_k t_k log p_k = logsumexp(z_i) - (1 - eps) z_i[label_i] - eps/K sum_k z_ik
 * loss = sum_i loss_i (VKL_REDUCTION_SUM) or that sum / N (VKL_REDUCTION_MEAN).
 * https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html
 * (label_smoothing=eps; ignore_index and class weights are not supported.)
 *
 * The device ops (shaders/softmax_xent_fwd.comp, softmax_xent_bwd.comp) are one
 * dispatch each. 1 to 8 invocations share a row (shape.lanes); a workgroup holds
 * 64 / lanes rows. Every exp takes a max-subtracted argument. The forward sums the batch
 * in a fixed order (per workgroup, then the last workgroup to finish adds the workgroup
 * partials in order), so its loss is bit-identical run to run; it can add into its
 * outputs, so k micro-batches sum their losses and counts on the device. It can also
 * save each row's max and sum of exponentials, so the backward reads the logits once.
 * Labels outside [0, K) are FLAGGED, not clamped: the device never reads the logit they
 * name; such a sample's loss is NaN (so is the batch loss), it counts as wrong, and its
 * gradient row is NaN. Host-side loaders validate labels; the flag makes a slip visible.
 */
#ifndef VKLARS_OPS_SOFTMAX_XENT_H
#define VKLARS_OPS_SOFTMAX_XENT_H

#include <stdint.h>

#include "vk/vk.h"

typedef enum vkl_reduction {
  VKL_REDUCTION_MEAN = 0, /* PyTorch's default */
  VKL_REDUCTION_SUM = 1,
} vkl_reduction;

/* A label that marks a padding sample (a partial last batch filled up to
 * the micro-batch size): it adds no loss, is not counted in top-1/top-5 and
 * gets a zero gradient, like PyTorch's ignore_index. With MEAN reduction the
 * divisor stays N. Any other label outside [0, K) makes its row NaN. */
#define VKL_XENT_IGNORE 0xffffffffu

typedef struct vkl_softmax_xent_shape {
  uint32_t N, K; /* samples, classes */
  /* Device ops only: invocations per row, 1, 2, 4 or 8; 0 = automatic: 1 on CPU
   * devices (lavapipe: measured fastest), 8 on others when K >= 64. It sets the
   * summation order, so results are reproducible for a given device and setting. */
  uint32_t lanes;
} vkl_softmax_xent_shape;

/* loss as above, computed with the max-shifted logsumexp so large logits cannot overflow.
 * top1 and top5 (each may be NULL) receive how many samples have their label among the
 * 1 and 5 highest logits. Ranking: class j is ahead of the label y when z_j > z_y, or
 * z_j == z_y and j < y (ties go to the lower class index), and the label is in the top k
 * when fewer than k classes are ahead of it. With k > K every label counts (k = K).
 * A row holding a NaN or an infinity is never a hit: NaN compares false with
 * everything, so by the rule above a NaN row would rank its label first.
 * Labels must be < K. */
void vkl_softmax_xent_forward_ref(double *loss /* (1) */, uint32_t *top1 /* (1) or NULL */,
                                  uint32_t *top5 /* (1) or NULL */,
                                  const double *logits /* (N,K) */,
                                  const uint32_t *labels /* (N) */,
                                  const vkl_softmax_xent_shape *sh, vkl_reduction reduction,
                                  double label_smoothing);

/* dlogits = scale * d(loss)/d(logits) = scale * r * (softmax(z_i) - t_i), r = 1/N for
 * MEAN and 1 for SUM. scale stands in for the upstream gradient of the loss: e.g. SUM
 * with scale = 1/B makes the micro-batch gradients of a batch of B samples add up to
 * the gradient of the batch mean. accumulate = 1 adds into dlogits. */
void vkl_softmax_xent_backward_ref(double *dlogits /* (N,K) */, const double *logits /* (N,K) */,
                                   const uint32_t *labels /* (N) */,
                                   const vkl_softmax_xent_shape *sh, vkl_reduction reduction,
                                   double label_smoothing, double scale, int accumulate);

/* ---- device recording (see ops/op_util.h for the conventions) ---- */

/* Scratch of the forward, in 32-bit words: a counter and 3 per workgroup, for the most
 * workgroups the shape's lanes setting can make. The op initialises what it needs. */
uint64_t vkl_softmax_xent_workspace_floats(const vkl_softmax_xent_shape *sh);

/* loss[0] = the loss of the reference (float). correct (may be NULL) receives the top-1
 * and top-5 counts as uint32 [top1, top5]. accumulate = 1 adds into loss and correct
 * instead of writing them: across the k micro-batches of a global batch, write on the
 * first and accumulate on the others (with VKL_REDUCTION_SUM the loss is then the sum
 * over the global batch). row_stats (may be NULL) receives each row's max M_i and
 * S_i = sum_k exp(z_ik - M_i), for the backward of the same logits. labels are uint32.
 * Records one dispatch (plus a 4-byte fill of the counter when the batch spans several
 * workgroups). */
vkl_status vkl_softmax_xent_forward(vkl_cmd *cmd, vkl_buf loss /* (1) */,
                                    const vkl_buf *correct /* (2) uint32, or NULL */,
                                    const vkl_buf *row_stats /* (N,2), or NULL */,
                                    vkl_buf logits /* (N,K) */, vkl_buf labels /* (N) uint32 */,
                                    const vkl_softmax_xent_shape *sh, vkl_reduction reduction,
                                    float label_smoothing, int accumulate, vkl_buf workspace);

/* dlogits = scale * d(loss)/d(logits) as in the reference (accumulate = 1 adds into
 * dlogits). row_stats: the forward's output for these same logits, which saves a pass
 * over them (one read of the logits instead of two), or NULL to compute them here.
 * One dispatch, no workspace. */
vkl_status vkl_softmax_xent_backward(vkl_cmd *cmd, vkl_buf dlogits /* (N,K) */,
                                     vkl_buf logits /* (N,K) */, vkl_buf labels /* (N) uint32 */,
                                     const vkl_buf *row_stats /* (N,2), or NULL */,
                                     const vkl_softmax_xent_shape *sh, vkl_reduction reduction,
                                     float label_smoothing, float scale, int accumulate);

#endif
