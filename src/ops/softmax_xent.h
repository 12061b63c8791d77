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
 */
#ifndef VKLARS_OPS_SOFTMAX_XENT_H
#define VKLARS_OPS_SOFTMAX_XENT_H

#include <stdint.h>

typedef enum vkl_reduction {
  VKL_REDUCTION_MEAN = 0, /* PyTorch's default */
  VKL_REDUCTION_SUM = 1,
} vkl_reduction;

typedef struct vkl_softmax_xent_shape {
  uint32_t N, K; /* samples, classes */
} vkl_softmax_xent_shape;

/* loss as above, computed with the max-shifted logsumexp so large logits cannot overflow.
 * top1 and top5 (each may be NULL) receive how many samples have their label among the
 * 1 and 5 highest logits. Ranking: class j is ahead of the label y when z_j > z_y, or
 * z_j == z_y and j < y (ties go to the lower class index), and the label is in the top k
 * when fewer than k classes are ahead of it. With k > K every label counts (k = K).
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

#endif
