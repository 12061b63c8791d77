/*
 * Softmax cross-entropy reference: logits (N,K), labels (N) -> loss, top-1/top-5
 * counts, dlogits (N,K). Each row of the logits is one sample.
 */
#include "ops/softmax_xent.h"

#include <math.h>
#include <stddef.h>

/* log sum_k exp(z_k), shifted by the row maximum so every exp is <= 1. */
static double logsumexp(const double *z, uint32_t K) {
  double m = z[0];
  for (uint32_t k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
  double sum = 0.0;
  for (uint32_t k = 0; k < K; k++) sum += exp(z[k] - m);
  return m + log(sum);
}

/* Number of classes ranked ahead of label y (see the tie rule in softmax_xent.h). */
static uint32_t rank_of(const double *z, uint32_t K, uint32_t y) {
  uint32_t ahead = 0;
  for (uint32_t j = 0; j < K; j++) ahead += z[j] > z[y] || (z[j] == z[y] && j < y);
  return ahead;
}

void vkl_softmax_xent_forward_ref(double *loss, uint32_t *top1, uint32_t *top5,
                                  const double *logits, const uint32_t *labels,
                                  const vkl_softmax_xent_shape *sh, vkl_reduction reduction,
                                  double label_smoothing) {
  double total = 0.0;
  uint32_t hit1 = 0, hit5 = 0;
  for (uint32_t i = 0; i < sh->N; i++) {
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
    for (uint32_t k = 0; k < sh->K; k++) {
      double t = (k == labels[i] ? 1.0 - label_smoothing : 0.0) + label_smoothing / sh->K;
      double g = f * (exp(z[k] - lse) - t);
      dz[k] = accumulate ? dz[k] + g : g;
    }
  }
}
