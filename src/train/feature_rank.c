/* RankMe's effective rank of a feature matrix (see feature_rank.h). */
#include "train/feature_rank.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define JACOBI_MAX_SWEEPS 60

/* The sum of squares of a's strictly upper triangle. */
static double off_diagonal(const double *a, uint32_t F) {
  double s = 0;
  for (uint32_t p = 0; p < F; p++)
    for (uint32_t q = p + 1; q < F; q++) s += a[(size_t)p * F + q] * a[(size_t)p * F + q];
  return s;
}

/* The rotation in the (p, q) plane that zeroes a[p][q] (Golub and Van
 * Loan's symmetric Schur decomposition), applied as a <- J^T a J. */
static void rotate(double *a, uint32_t F, uint32_t p, uint32_t q) {
  double apq = a[(size_t)p * F + q];
  double theta = (a[(size_t)q * F + q] - a[(size_t)p * F + p]) / (2 * apq);
  double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
  double c = 1 / sqrt(t * t + 1), s = t * c;
  for (uint32_t k = 0; k < F; k++) { /* columns p and q */
    double akp = a[(size_t)k * F + p], akq = a[(size_t)k * F + q];
    a[(size_t)k * F + p] = c * akp - s * akq;
    a[(size_t)k * F + q] = s * akp + c * akq;
  }
  for (uint32_t k = 0; k < F; k++) { /* rows p and q */
    double apk = a[(size_t)p * F + k], aqk = a[(size_t)q * F + k];
    a[(size_t)p * F + k] = c * apk - s * aqk;
    a[(size_t)q * F + k] = s * apk + c * aqk;
  }
  a[(size_t)p * F + q] = a[(size_t)q * F + p] = 0; /* what the rotation is for, not rounding */
}

static int descending(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? 1 : a > b ? -1 : 0;
}

vkl_status vkl_sym_eigenvalues(double *a, uint32_t F, double *eigenvalues, char *err,
                               size_t errlen) {
  double scale = 0;
  for (size_t i = 0; i < (size_t)F * F; i++) scale += a[i] * a[i];
  if (!isfinite(scale)) {
    snprintf(err, errlen, "feature rank: the %ux%u matrix is not finite", F, F);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  /* converged when the off-diagonal part is 1e-12 of the whole (the
   * eigenvalues' error is its square over their gaps) */
  const double tol = scale * 1e-24;
  int sweep = 0;
  while (off_diagonal(a, F) > tol) {
    if (++sweep > JACOBI_MAX_SWEEPS) {
      snprintf(err, errlen, "feature rank: Jacobi did not converge in %d sweeps (%ux%u)",
               JACOBI_MAX_SWEEPS, F, F);
      return VKL_ERR_INVALID_ARGUMENT;
    }
    for (uint32_t p = 0; p < F; p++)
      for (uint32_t q = p + 1; q < F; q++)
        if (a[(size_t)p * F + q] != 0) rotate(a, F, p, q);
  }
  for (uint32_t k = 0; k < F; k++) eigenvalues[k] = a[(size_t)k * F + k];
  qsort(eigenvalues, F, sizeof *eigenvalues, descending);
  return VKL_OK;
}

/* The biased covariance of x's columns into cov (F x F, zeroed by the
 * caller); row and mean hold F doubles each. */
static void covariance(const float *x, uint64_t n, uint32_t F, double *mean, double *row,
                       double *cov) {
  for (uint32_t f = 0; f < F; f++) mean[f] = 0;
  for (uint64_t i = 0; i < n; i++)
    for (uint32_t f = 0; f < F; f++) mean[f] += x[i * F + f];
  for (uint32_t f = 0; f < F; f++) mean[f] /= (double)n;
  for (uint64_t i = 0; i < n; i++) {
    for (uint32_t f = 0; f < F; f++) row[f] = x[i * F + f] - mean[f];
    for (uint32_t p = 0; p < F; p++)
      for (uint32_t q = p; q < F; q++) cov[(size_t)p * F + q] += row[p] * row[q];
  }
  for (uint32_t p = 0; p < F; p++)
    for (uint32_t q = p; q < F; q++) cov[(size_t)q * F + p] = cov[(size_t)p * F + q] /= (double)n;
}

/* exp of the entropy of the singular values' shares; 0 for none. */
static double effective_rank(const double *eigenvalues, uint32_t F) {
  double sum = 0, entropy = 0;
  for (uint32_t k = 0; k < F; k++) sum += sqrt(fmax(eigenvalues[k], 0));
  if (!(sum > 0)) return 0;
  for (uint32_t k = 0; k < F; k++) {
    double p = sqrt(fmax(eigenvalues[k], 0)) / sum;
    if (p > 0) entropy -= p * log(p);
  }
  return exp(entropy);
}

vkl_status vkl_feature_rank(const float *x, uint64_t n, uint32_t F, double *rank, char *err,
                            size_t errlen) {
  *rank = 0;
  if (n == 0 || F == 0) {
    snprintf(err, errlen, "feature rank: %llu rows of %u features: need at least one of each",
             (unsigned long long)n, F);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  double *cov = calloc((size_t)F * F, sizeof *cov), *work = malloc(3 * (size_t)F * sizeof *work);
  if (!cov || !work) {
    free(cov);
    free(work);
    snprintf(err, errlen, "feature rank: out of host memory for a %ux%u covariance", F, F);
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  covariance(x, n, F, work, work + F, cov);
  vkl_status st = vkl_sym_eigenvalues(cov, F, work + 2 * (size_t)F, err, errlen);
  if (st == VKL_OK) *rank = effective_rank(work + 2 * (size_t)F, F);
  free(cov);
  free(work);
  return st;
}
