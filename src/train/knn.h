/* The kNN monitor of self-supervised training: each test feature is
 * classified by its k nearest bank (train) features under cosine
 * similarity, each neighbour voting for its label with weight exp(s / T)
 * (T = 0.1), as InstDisc's and SimCLR's monitors do; ties go to the lower
 * class. Plain C on the host: a bank of 10^4 and 10^4 queries of 64
 * features is 6.4 GFLOP. */
#ifndef VKLARS_TRAIN_KNN_H
#define VKLARS_TRAIN_KNN_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

typedef struct vkl_knn_config {
  uint32_t k;         /* neighbours (e.g. 20 or 200); at most the bank's size is used */
  double temperature; /* 0: 0.1 */
} vkl_knn_config;

/* The fraction of queries whose vote is their label, in *top1. Features
 * are L2-normalised here (copies; the inputs are left alone). */
vkl_status vkl_knn_top1(const vkl_knn_config *cfg, const float *bank /* (nb,F) */,
                        const uint32_t *bank_labels /* (nb) */, uint64_t nb,
                        const float *queries /* (nq,F) */, const uint32_t *query_labels /* (nq) */,
                        uint64_t nq, uint32_t F, uint32_t K, double *top1, char *err,
                        size_t errlen);

#endif
