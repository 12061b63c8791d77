/* The effective rank of features (src/train/feature_rank.c): Jacobi's
 * eigenvalues of matrices built from known ones, and RankMe's rank of
 * features whose spread over each direction is known, in directions that
 * are not the axes. */
#include <math.h>

#include "test_util.h"
#include "train/feature_rank.h"

/* A random F x F orthogonal matrix: Gram-Schmidt on random rows. */
static void orthogonal(double *q, uint32_t F, uint64_t seed) {
  test_rng rng = {seed};
  for (uint32_t i = 0; i < F; i++) {
    double *r = q + (size_t)i * F;
    for (uint32_t k = 0; k < F; k++) r[k] = test_rng_float(&rng) - 0.5;
    for (int pass = 0; pass < 2; pass++) /* twice: orthogonal to rounding */
      for (uint32_t j = 0; j < i; j++) {
        double d = 0;
        for (uint32_t k = 0; k < F; k++) d += r[k] * q[(size_t)j * F + k];
        for (uint32_t k = 0; k < F; k++) r[k] -= d * q[(size_t)j * F + k];
      }
    double n = 0;
    for (uint32_t k = 0; k < F; k++) n += r[k] * r[k];
    for (uint32_t k = 0; k < F; k++) r[k] /= sqrt(n);
  }
}

Test(feature_rank, jacobi_finds_the_eigenvalues_it_was_built_from) {
  enum { F = 11 };
  /* descending, with a repeat, a zero and negatives */
  const double want[F] = {40, 7.5, 3, 3, 1, 0.25, 1e-3, 0, -0.5, -2, -9};
  static double q[F * F], a[F * F];
  double got[F];
  char err[256];
  orthogonal(q, F, 5);
  for (uint32_t i = 0; i < F; i++) /* a = Q^T diag(want) Q */
    for (uint32_t j = 0; j < F; j++) {
      double s = 0;
      for (uint32_t k = 0; k < F; k++) s += q[k * F + i] * want[k] * q[k * F + j];
      a[i * F + j] = s;
    }
  cr_assert(fabs(a[1]) > 0.01, "the matrix is not diagonal already");
  cr_assert_eq(vkl_sym_eigenvalues(a, F, got, err, sizeof err), VKL_OK, "%s", err);
  for (uint32_t k = 0; k < F; k++)
    cr_assert(fabs(got[k] - want[k]) <= 1e-10 * 40, "eigenvalue %u: %.15g, want %g", k, got[k],
              want[k]);
}

/* 2 rows per direction k, +-spread[k] along row k of a rotation Q, so the
 * features' covariance has eigenvalues 2 spread[k]^2 / n in those
 * directions and 0 in the others. */
static float *features(const double *spread, uint32_t K, uint32_t F, uint64_t seed, uint64_t *n) {
  double *q = malloc((size_t)F * F * sizeof *q);
  float *x = malloc(2 * (size_t)K * F * sizeof *x);
  cr_assert(q && x);
  orthogonal(q, F, seed);
  for (uint32_t k = 0; k < K; k++)
    for (uint32_t f = 0; f < F; f++) {
      x[(2 * k) * F + f] = (float)(spread[k] * q[k * F + f] + 3.0); /* offset: it is centred */
      x[(2 * k + 1) * F + f] = (float)(-spread[k] * q[k * F + f] + 3.0);
    }
  free(q);
  *n = 2 * (uint64_t)K;
  return x;
}

static double rank_of(const double *spread, uint32_t K, uint32_t F) {
  uint64_t n;
  float *x = features(spread, K, F, 9 + K, &n);
  double rank;
  char err[256];
  cr_assert_eq(vkl_feature_rank(x, n, F, &rank, err, sizeof err), VKL_OK, "%s", err);
  free(x);
  return rank;
}

Test(feature_rank, equal_spread_over_k_of_f_directions_is_rank_k) {
  const double ones[13] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  for (uint32_t k = 1; k <= 13; k += 4) {
    double r = rank_of(ones, k, 13);
    cr_assert(fabs(r - k) <= 1e-3 * k, "%u equal directions of 13: rank %.6f", k, r);
  }
}

/* One direction with 4 times the spread of each of 6 others: shares
 * p = 4/10 and 1/10, rank exp(-(0.4 log 0.4 + 6 * 0.1 log 0.1)). */
Test(feature_rank, rank_is_the_exponent_of_the_singular_values_entropy) {
  const double spread[7] = {4, 1, 1, 1, 1, 1, 1};
  double want = exp(-(0.4 * log(0.4) + 6 * 0.1 * log(0.1)));
  double r = rank_of(spread, 7, 9);
  cr_assert(fabs(r - want) <= 1e-3 * want, "rank %.6f, want %.6f", r, want);
  cr_assert(r > 5 && r < 7, "%.6f", r);
}

Test(feature_rank, constant_features_have_rank_0_and_bad_input_an_error) {
  float x[3 * 4] = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4};
  double rank = -1;
  char err[256] = "";
  cr_assert_eq(vkl_feature_rank(x, 3, 4, &rank, err, sizeof err), VKL_OK, "%s", err);
  cr_assert_eq(rank, 0);
  cr_assert_eq(vkl_feature_rank(x, 0, 4, &rank, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "feature rank: 0 rows of 4 features"), "%s", err);
  x[5] = INFINITY;
  cr_assert_eq(vkl_feature_rank(x, 3, 4, &rank, err, sizeof err), VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err, "not finite"), "%s", err);
}
