/* The effective rank of a backbone's features (RankMe, Garrido et al.
 * 2023): a self-supervised backbone can keep its features' variance in a
 * few directions (dimensional collapse), and a linear classifier on them
 * then sees fewer features than it is given. With s_1 >= s_2 >= ... the
 * singular values of the centred (n x F) feature matrix,
 *
 *   p_k = s_k / sum_j s_j,   rank = exp(-sum_k p_k log p_k),
 *
 * which is F when every direction holds the same spread and 1 when one
 * does. s_k = sqrt(n * lambda_k), lambda_k the covariance's eigenvalues,
 * so the rank comes from the F x F covariance (in double) and its
 * eigenvalues (cyclic Jacobi): O(n F^2 + F^3), 0.25 s at n = 60000 and
 * F = 128 and 16 s at F = 512 on the 2-core machine, so callers skip it
 * above VKL_FEATURE_RANK_MAX (resnet50's 2048 would take many minutes).
 * Plain C on the host. */
#ifndef VKLARS_TRAIN_FEATURE_RANK_H
#define VKLARS_TRAIN_FEATURE_RANK_H

#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

#define VKL_FEATURE_RANK_MAX 512 /* features; more cost minutes (above) */

/* The eigenvalues of the symmetric F x F matrix a (row-major; destroyed),
 * in descending order, into eigenvalues (F). */
vkl_status vkl_sym_eigenvalues(double *a, uint32_t F, double *eigenvalues, char *err,
                               size_t errlen);

/* The effective rank of the n rows of x (n x F floats), in *rank: 0 when
 * every feature is constant. */
vkl_status vkl_feature_rank(const float *x, uint64_t n, uint32_t F, double *rank, char *err,
                            size_t errlen);

#endif
