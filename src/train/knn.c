/* The kNN monitor (see knn.h). */
#include "train/knn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Unit-length copies of n rows of F (a zero row stays zero). */
static float *normalized(const float *x, uint64_t n, uint32_t F) {
  float *y = malloc(n * F * sizeof *y);
  if (!y) return NULL;
  for (uint64_t i = 0; i < n; i++) {
    double s = 0;
    for (uint32_t f = 0; f < F; f++) s += (double)x[i * F + f] * x[i * F + f];
    float inv = s > 0 ? (float)(1.0 / sqrt(s)) : 0.0f;
    for (uint32_t f = 0; f < F; f++) y[i * F + f] = x[i * F + f] * inv;
  }
  return y;
}

/* Keeps the k largest similarities seen so far in best (descending), with
 * their labels. */
static void keep_best(float *best, uint32_t *lab, uint32_t *count, uint32_t k, float s,
                      uint32_t label) {
  if (*count == k && s <= best[k - 1]) return;
  uint32_t i = *count < k ? (*count)++ : k - 1;
  while (i > 0 && best[i - 1] < s) {
    best[i] = best[i - 1];
    lab[i] = lab[i - 1];
    i--;
  }
  best[i] = s;
  lab[i] = label;
}

static uint32_t vote(const float *best, const uint32_t *lab, uint32_t n, double T, double *w,
                     uint32_t K) {
  memset(w, 0, K * sizeof *w);
  for (uint32_t i = 0; i < n; i++) w[lab[i]] += exp(best[i] / T);
  uint32_t arg = 0;
  for (uint32_t c = 1; c < K; c++)
    if (w[c] > w[arg]) arg = c;
  return arg;
}

vkl_status vkl_knn_top1(const vkl_knn_config *cfg, const float *bank, const uint32_t *bank_labels,
                        uint64_t nb, const float *queries, const uint32_t *query_labels,
                        uint64_t nq, uint32_t F, uint32_t K, double *top1, char *err,
                        size_t errlen) {
  *top1 = 0;
  if (!cfg->k || !nb || !F || !K) {
    snprintf(err, errlen, "kNN: k %u over a bank of %llu features of %u (%u classes)", cfg->k,
             (unsigned long long)nb, F, K);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  uint32_t k = cfg->k < nb ? cfg->k : (uint32_t)nb;
  double T = cfg->temperature > 0 ? cfg->temperature : 0.1;
  float *b = normalized(bank, nb, F), *q = normalized(queries, nq, F);
  float *best = malloc(k * sizeof *best);
  uint32_t *lab = malloc(k * sizeof *lab);
  double *w = malloc(K * sizeof *w);
  if (!b || !q || !best || !lab || !w) {
    free(b), free(q), free(best), free(lab), free(w);
    snprintf(err, errlen, "kNN: out of host memory for %llu features of %u",
             (unsigned long long)(nb + nq), F);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  uint64_t hits = 0;
  for (uint64_t i = 0; i < nq; i++) {
    uint32_t count = 0;
    const float *qi = q + i * F;
    for (uint64_t j = 0; j < nb; j++) {
      const float *bj = b + j * F;
      float s = 0;
      for (uint32_t f = 0; f < F; f++) s += qi[f] * bj[f];
      keep_best(best, lab, &count, k, s, bank_labels[j] < K ? bank_labels[j] : 0);
    }
    hits += vote(best, lab, count, T, w, K) == query_labels[i];
  }
  *top1 = nq ? (double)hits / nq : 0;
  free(b), free(q), free(best), free(lab), free(w);
  return VKL_OK;
}
